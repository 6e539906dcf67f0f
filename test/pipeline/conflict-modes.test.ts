/**
 * Destinations that already hold rows, and several source tables meeting in one destination table,
 * against real servers:
 * - `conflictingTables: ignore`: the full sync keeps the destination's rows (a source row whose key
 *   exists there is not copied), incremental sync then overwrites them (`onConflict: overwrite`): an
 *   INSERT of an existing key replaces the row, an UPDATE of a missing row inserts it, a DELETE of a
 *   missing row is counted in `missing_deletes`.
 * - `mergeInto`: two source tables copied into one destination table, also when the run is killed
 *   (`kill -9`) after one of them finished: the restart copies both again, since it empties the
 *   destination table they share (task invariant T3), then streams both.
 * The destination is compared with source queries (count + ordered hash), independent of pgdts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { rowsHash } from '../support/rows-hash.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

test(
  'PostgreSQL 13 -> 17: conflictingTables ignore keeps destination rows in the full sync; incremental sync overwrites, inserts missing rows and counts missing deletes',
  { timeout: 240_000 },
  async () => {
    const s = testServer(13);
    const d = testServer(17);
    const src = await freshDatabase(s, 'conf_src');
    const dst = await freshDatabase(d, 'conf_dst');
    await sql(
      s,
      src,
      `CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);
       INSERT INTO items SELECT g, 'src' || g FROM generate_series(1, 100) g;`,
    );
    // The destination already has 90..120: 90..100 collide with the source, 101..120 are its own.
    await sql(
      d,
      dst,
      `CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);
       INSERT INTO items SELECT g, 'dst' || g FROM generate_series(90, 120) g;`,
    );
    const name = 'conf-13-17';
    const slot = 'pgdts_conf_13_17';
    const file = writeTaskFile({
      name,
      source: { server: s, db: src },
      destination: { server: d, db: dst },
      syncTypes: ['full', 'incremental'],
      objects: [{ table: 'public.items' }],
      extra: { conflictingTables: 'ignore', incremental: { statusIntervalMs: 200 } },
    });
    // The same destination is refused under the default (precheck-error): it holds rows.
    const strict = writeTaskFile({
      name,
      source: { server: s, db: src },
      destination: { server: d, db: dst },
      syncTypes: ['full', 'incremental'],
      objects: [{ table: 'public.items' }],
    });
    const refused = await runCli(['precheck', strict]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /public\.items/);
    const pre = await runCli(['precheck', file]);
    assert.equal(pre.code, 0, pre.stdout + pre.stderr);

    const r = startCli(['run', file]);
    try {
      await r.waitFor(/streaming from/);
      // Full sync: 1..89 copied, 90..120 untouched.
      assert.equal(
        await rowsHash(d, dst, 'SELECT id, v FROM items'),
        await rowsHash(
          s,
          src,
          `SELECT id, v FROM items WHERE id < 90
           UNION ALL SELECT g, 'dst' || g FROM generate_series(90, 120) g`,
        ),
      );
      // Rows the destination lacks (changed there behind the task's back).
      await sql(d, dst, 'DELETE FROM items WHERE id IN (50, 60)');
      await sql(
        s,
        src,
        `INSERT INTO items VALUES (101, 'src101'), (130, 'src130'); -- 101 exists on the destination
         UPDATE items SET v = 'upd95' WHERE id = 95;                 -- a kept destination row
         UPDATE items SET v = 'upd50' WHERE id = 50;                 -- missing there: inserted
         UPDATE items SET id = 140 WHERE id = 97;                    -- key moves: old row replaced
         DELETE FROM items WHERE id = 60;                            -- missing there: counted
         DELETE FROM items WHERE id = 10;`,
      );
      await waitForCatchUp(s, src, slot, 120_000, () => r.output());
      await r.waitFor(/missing deletes: 1/, 30_000);
    } finally {
      await stopCli(r);
    }
    // Every source row is on the destination as on the source; the destination's own rows that
    // no change touched (90..100 except 95 and 97, 102..120) stay as they were.
    assert.equal(
      await rowsHash(d, dst, 'SELECT id, v FROM items'),
      await rowsHash(
        s,
        src,
        `SELECT id, v FROM items WHERE id < 90 OR id IN (95, 101, 130, 140)
         UNION ALL SELECT g, 'dst' || g FROM generate_series(90, 120) g
           WHERE g NOT IN (95, 97, 101)`,
      ),
    );
    const [tally] = await sql<{ md: string }>(
      d,
      dst,
      'SELECT missing_deletes::text AS md FROM pgdts.applied_position WHERE task_name = $1',
      [name],
    );
    assert.deepEqual(tally, { md: '1' });
    await runCli(['release', file]);
  },
);

test(
  'PostgreSQL 15 -> 13: two tables mergeInto one destination table, killed after one was copied: the restart copies both again, then streams both',
  { timeout: 240_000 },
  async () => {
    const s = testServer(15);
    const d = testServer(13);
    const src = await freshDatabase(s, 'merge_src');
    const dst = await freshDatabase(d, 'merge_dst');
    await sql(
      s,
      src,
      `CREATE SCHEMA eu; CREATE SCHEMA us;
       CREATE TABLE eu.orders (id int PRIMARY KEY, v text);
       CREATE TABLE us.orders (id int PRIMARY KEY, v text);
       INSERT INTO eu.orders SELECT g, 'eu' || g || repeat('.', 250) FROM generate_series(1, 6000) g;
       INSERT INTO us.orders SELECT g, 'us' || g || repeat('.', 250) FROM generate_series(100001, 106000) g;`,
    );
    // Above BATCH_TABLE_MAX_BYTES (about 1.7 MB each): smaller tables would be copied in one batch,
    // both committed at once, and the kill could not fall between them.
    await sql(d, dst, 'CREATE SCHEMA "all"; CREATE TABLE "all".orders (id int PRIMARY KEY, v text);');
    const union = 'SELECT id, v FROM eu.orders UNION ALL SELECT id, v FROM us.orders';
    const name = 'merge-15-13';
    const slot = 'pgdts_merge_15_13';
    const file = writeTaskFile({
      name,
      source: { server: s, db: src },
      destination: { server: d, db: dst },
      syncTypes: ['full', 'incremental'],
      objects: [
        { table: 'eu.orders', as: 'all.orders', mergeInto: true },
        { table: 'us.orders', as: 'all.orders', mergeInto: true },
      ],
      // One job, slowly: one table is done while the other is still being copied.
      extra: { full: { jobs: 1, throttle: { rowsPerSecond: 4000 } }, incremental: { statusIntervalMs: 200 } },
    });
    const first = startCli(['run', file]);
    await first.waitFor(/table (eu|us)\.orders copied/);
    first.child.kill('SIGKILL');
    await first.done;
    const [copied] = await sql<{ n: number }>(d, dst, 'SELECT count(*)::int AS n FROM "all".orders');
    assert.ok((copied?.n ?? 0) >= 6000 && (copied?.n ?? 0) < 12000, `killed mid-copy: ${copied?.n}`);

    const r = startCli(['run', file]);
    try {
      await r.waitFor(/streaming from/);
      assert.equal(await rowsHash(d, dst, 'SELECT id, v FROM "all".orders'), await rowsHash(s, src, union));
      await sql(
        s,
        src,
        `INSERT INTO eu.orders VALUES (7000, 'eu new'); INSERT INTO us.orders VALUES (107000, 'us new');
         UPDATE eu.orders SET v = 'eu upd' WHERE id <= 10; DELETE FROM us.orders WHERE id <= 100010;`,
      );
      await waitForCatchUp(s, src, slot, 120_000, () => r.output());
    } finally {
      await stopCli(r);
    }
    assert.equal(await rowsHash(d, dst, 'SELECT id, v FROM "all".orders'), await rowsHash(s, src, union));
    const v = await runCli(['verify', file]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /identical: 1 table\(s\), 11992 row\(s\)/);
    await runCli(['release', file]);
  },
);
