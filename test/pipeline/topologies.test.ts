/**
 * Topologies, against real servers, each under writes and ending in an exact comparison (count +
 * ordered hash of every table, independent of pgdts, then `pgdts verify`):
 * - one-to-many: two tasks on one source database, each with its own slot and publication, into two
 *   destinations, one of them filtered;
 * - many-to-one: two source servers into one destination database, mapped into two schemas, the two
 *   tasks sharing the destination's bookkeeping (`pgdts` schema) while they run side by side;
 * - cascade: A → B → C, B being the destination of one task and the source of the next; the changes
 *   pgdts applies on B are decoded there like any others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile, type CliRun } from '../support/pgdts-cli.ts';
import { rowsHash } from '../support/rows-hash.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';

const SCHEMA = `
  CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance bigint NOT NULL);
  CREATE TABLE moves (id bigserial PRIMARY KEY, account int NOT NULL REFERENCES accounts, amount bigint NOT NULL);
`;

/** Creates the tables and `n` accounts, ids from `first`. */
async function seed(s: TestServer, db: string, first: number, n: number): Promise<void> {
  await sql(
    s,
    db,
    `${SCHEMA}
     INSERT INTO accounts SELECT g, 'owner' || g, 1000 FROM generate_series(${first}, ${first + n - 1}) g;
     INSERT INTO moves (account, amount) SELECT g, 1 FROM generate_series(${first}, ${first + n - 1}) g;`,
  );
}

/**
 * `rounds` transactions of inserts, updates and deletes on accounts `first`..`first + n - 1`; new
 * accounts get ids from `newFrom` (default `first + n`).
 */
async function workload(
  s: TestServer,
  db: string,
  first: number,
  n: number,
  rounds: number,
  newFrom = first + n,
): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const a = first + (i % n);
    await sql(
      s,
      db,
      `BEGIN;
       UPDATE accounts SET balance = balance - 7 WHERE id = ${a};
       INSERT INTO moves (account, amount) VALUES (${a}, -7);
       INSERT INTO accounts VALUES (${newFrom + i}, 'new${i}', ${i});
       DELETE FROM moves WHERE id = (SELECT min(id) FROM moves WHERE account = ${a});
       COMMIT;`,
    );
  }
}

async function assertSame(
  s: TestServer,
  sdb: string,
  d: TestServer,
  ddb: string,
  o: { schema?: string; where?: { accounts: string; moves: string } } = {},
): Promise<void> {
  const schema = o.schema ?? 'public';
  for (const [table, columns] of [
    ['accounts', 'id, owner, balance'],
    ['moves', 'id, account, amount'],
  ] as const) {
    const filter = o.where !== undefined ? ` WHERE ${o.where[table]}` : '';
    assert.equal(
      await rowsHash(d, ddb, `SELECT ${columns} FROM ${schema}.${table}`),
      await rowsHash(s, sdb, `SELECT ${columns} FROM public.${table}${filter}`),
      `${schema}.${table}`,
    );
  }
}

async function streaming(file: string): Promise<CliRun> {
  const r = startCli(['run', file]);
  await r.waitFor(/streaming from/);
  return r;
}

test(
  'one-to-many: two tasks on one PostgreSQL 15 source, each with its own slot, into 13 and 17 (one filtered)',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'o2m_src');
    await seed(s, src, 1, 200);
    const d1 = testServer(13);
    const d2 = testServer(17);
    const dst1 = await freshDatabase(d1, 'o2m_a');
    const dst2 = await freshDatabase(d2, 'o2m_b');
    const a = writeTaskFile({
      name: 'o2m-a',
      source: { server: s, db: src },
      destination: { server: d1, db: dst1 },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    // The second one only moves accounts of ids below 150, and their moves (the foreign key from
    // moves to accounts holds in the destination too).
    const b = writeTaskFile({
      name: 'o2m-b',
      source: { server: s, db: src },
      destination: { server: d2, db: dst2 },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [
        { table: 'public.accounts', where: 'id < 150' },
        { table: 'public.moves', where: 'account < 150' },
      ],
    });
    // A filter on moves.account, outside its replica identity (the key), is refused before anything
    // is published: PostgreSQL 15 would then refuse the application's DELETEs on moves (42P10).
    const refused = await runCli(['run', b]);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /objects\[1\]\.where: references account of public\.moves, outside its replica identity \(id\)/,
    );
    assert.deepEqual(
      await sql(s, src, "SELECT pubname FROM pg_publication WHERE pubname = 'pgdts_o2m_b'"),
      [],
    );
    await sql(s, src, 'ALTER TABLE moves REPLICA IDENTITY FULL');
    const runs: CliRun[] = [];
    try {
      runs.push(await streaming(a), await streaming(b));
      await workload(s, src, 1, 200, 120);
      for (const [i, slot] of ['pgdts_o2m_a', 'pgdts_o2m_b'].entries()) {
        await waitForCatchUp(s, src, slot, 120_000, () => runs[i]?.output() ?? '');
      }
    } finally {
      for (const r of runs) await stopCli(r);
    }
    // Schema sync kept the foreign key: the filtered copy cannot hold moves of accounts it lacks.
    const fk = await sql(d2, dst2, "SELECT 1 FROM pg_constraint WHERE conname = 'moves_account_fkey'");
    assert.equal(fk.length, 1);
    await assertSame(s, src, d1, dst1);
    await assertSame(s, src, d2, dst2, { where: { accounts: 'id < 150', moves: 'account < 150' } });
    const slots = await sql<{ slot_name: string }>(
      s,
      src,
      "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'pgdts_o2m_%' ORDER BY 1",
    );
    assert.deepEqual(
      slots.map((x) => x.slot_name),
      ['pgdts_o2m_a', 'pgdts_o2m_b'],
    );
    for (const f of [a, b]) {
      const v = await runCli(['verify', f]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      await runCli(['release', f]);
    }
  },
);

test(
  'many-to-one: PostgreSQL 13 and 17 sources into one 15 destination, mapped into two schemas, two tasks side by side',
  { timeout: 300_000 },
  async () => {
    const s1 = testServer(13);
    const s2 = testServer(17);
    const d = testServer(15);
    const src1 = await freshDatabase(s1, 'm2o_1');
    const src2 = await freshDatabase(s2, 'm2o_2');
    const dst = await freshDatabase(d, 'm2o_dst');
    await seed(s1, src1, 1, 100);
    await seed(s2, src2, 100_001, 100);
    const files = [
      { s: s1, db: src1, first: 1, as: 'east', name: 'm2o-east' },
      { s: s2, db: src2, first: 100_001, as: 'west', name: 'm2o-west' },
    ].map((x) => ({
      ...x,
      file: writeTaskFile({
        name: x.name,
        source: { server: x.s, db: x.db },
        destination: { server: d, db: dst },
        syncTypes: ['schema', 'full', 'incremental'],
        objects: [{ schema: 'public', as: x.as }],
      }),
    }));
    const runs: CliRun[] = [];
    try {
      for (const f of files) runs.push(await streaming(f.file));
      await Promise.all(files.map((f) => workload(f.s, f.db, f.first, 100, 80)));
      for (const [i, f] of files.entries()) {
        await waitForCatchUp(
          f.s,
          f.db,
          `pgdts_${f.name.replace('-', '_')}`,
          120_000,
          () => runs[i]?.output() ?? '',
        );
      }
    } finally {
      for (const r of runs) await stopCli(r);
    }
    for (const f of files) await assertSame(f.s, f.db, d, dst, { schema: f.as });
    // One bookkeeping schema, a row per task.
    const tasks = await sql<{ name: string }>(d, dst, 'SELECT name FROM pgdts.task ORDER BY 1');
    assert.deepEqual(
      tasks.map((t) => t.name),
      ['m2o-east', 'm2o-west'],
    );
    for (const f of files) {
      const v = await runCli(['verify', f.file]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      await runCli(['release', f.file]);
    }
  },
);

test(
  'cascade: PostgreSQL 13 -> 15 -> 17, the middle server both a destination and a source',
  { timeout: 300_000 },
  async () => {
    const a = testServer(13);
    const b = testServer(15);
    const c = testServer(17);
    const dbA = await freshDatabase(a, 'cas_a');
    const dbB = await freshDatabase(b, 'cas_b');
    const dbC = await freshDatabase(c, 'cas_c');
    await seed(a, dbA, 1, 150);
    const first = writeTaskFile({
      name: 'cas-ab',
      source: { server: a, db: dbA },
      destination: { server: b, db: dbB },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    // The second task selects the application's schema only: B's pgdts bookkeeping stays behind.
    const second = writeTaskFile({
      name: 'cas-bc',
      source: { server: b, db: dbB },
      destination: { server: c, db: dbC },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    const runs: CliRun[] = [];
    try {
      runs.push(await streaming(first));
      await workload(a, dbA, 1, 150, 40);
      // The second task starts while the first one is applying on B.
      const [phase1, bc] = await Promise.all([workload(a, dbA, 1, 150, 40, 1000), streaming(second)]);
      void phase1;
      runs.push(bc);
      await workload(a, dbA, 1, 150, 80, 2000);
      await waitForCatchUp(a, dbA, 'pgdts_cas_ab', 120_000, () => runs[0]?.output() ?? '');
      await waitForCatchUp(b, dbB, 'pgdts_cas_bc', 120_000, () => runs[1]?.output() ?? '');
    } finally {
      for (const r of runs) await stopCli(r);
    }
    await assertSame(a, dbA, b, dbB);
    await assertSame(a, dbA, c, dbC);
    // B's bookkeeping of the first task did not travel: C holds only the second task's.
    const tasks = await sql<{ name: string }>(c, dbC, 'SELECT name FROM pgdts.task ORDER BY 1');
    assert.deepEqual(
      tasks.map((t) => t.name),
      ['cas-bc'],
    );
    for (const f of [second, first]) {
      const v = await runCli(['verify', f]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      await runCli(['release', f]);
    }
  },
);
