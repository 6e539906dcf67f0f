/**
 * The source heartbeat end to end on real servers (src/source/postgres/heartbeat.ts): an idle task
 * keeps its slot confirmed and its retained WAL bounded while another database of the same server
 * writes WAL; the heartbeat table is published but never created or filled on the destination (nor
 * verified); the message kind works on 15 and 17 and is refused on 13 by the precheck and the run;
 * the status shows the heartbeat lag; `pgdts grants` gives a non-superuser what the heartbeat needs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { until } from '../support/own-server.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';
import { tableHashes } from '../support/table-hashes.ts';

const MB = 1024 * 1024;

/** The slot's confirmed position and the WAL it retains, bytes. */
async function slotState(
  s: TestServer,
  db: string,
  slot: string,
): Promise<{ confirmedPast: (lsn: string) => Promise<boolean>; retained: number }> {
  const r = await sql<{ retained: string }>(
    s,
    db,
    `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  return {
    retained: Number(r[0]?.retained ?? NaN),
    confirmedPast: async (lsn) =>
      (
        await sql<{ ok: boolean }>(
          s,
          db,
          `SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`,
          [slot, lsn],
        )
      )[0]?.ok === true,
  };
}

for (const [version, kind] of [
  [13, 'table'],
  [15, 'table'],
  [15, 'message'],
  [17, 'message'],
] as const) {
  test(
    `PostgreSQL ${version}, heartbeat ${kind === 'table' ? 'into a table' : 'as logical messages'}: an idle task's slot keeps up while another database writes WAL; nothing reaches the destination; the status shows the lag`,
    { timeout: 180_000 },
    async () => {
      const s = testServer(version);
      const src = await freshDatabase(s, 'hb_src');
      const dst = await freshDatabase(s, 'hb_dst');
      const busy = await freshDatabase(s, 'hb_busy');
      await sql(
        s,
        src,
        `CREATE TABLE public.orders (id int PRIMARY KEY, v text); INSERT INTO public.orders VALUES (1, 'a')`,
      );
      await sql(s, busy, `CREATE TABLE noise (id int, pad text)`);
      const name = `hb-${version}-${kind}`;
      const slot = `pgdts_hb_${version}_${kind}`;
      const file = writeTaskFile({
        name,
        source: { server: s, db: src },
        destination: { server: s, db: dst },
        syncTypes: ['schema', 'full', 'incremental'],
        // The default heartbeat table lives in the selected schema: it must still stay out.
        objects: [{ schema: 'public' }],
        extra: {
          source: {
            type: 'postgresql',
            url: `postgresql://${s.user}:${encodeURIComponent(s.password)}@${s.host}:${s.port}/${src}`,
            heartbeat: { intervalMs: 1000, ...(kind === 'table' ? { table: 'public.pgdts_heartbeat' } : {}) },
          },
        },
      });
      const pre = await runCli(['precheck', file]);
      assert.equal(pre.code, 0, pre.stdout + pre.stderr);
      assert.match(pre.stdout, /^PASS {2}Source heartbeat: /m);
      assert.match(pre.stdout, /Selected objects exist on the source: 1 table\(s\) selected/);

      const r = startCli(['run', file]);
      try {
        await r.waitFor(/streaming from .*heartbeat after 1000 ms idle/);
        // Another database writes WAL; this task's database stays idle.
        for (let i = 0; i < 3; i++) {
          await sql(
            s,
            busy,
            `INSERT INTO noise SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g`,
          );
        }
        // A checkpoint logs the running transactions, from which the slot's restart point can move.
        await sql(s, busy, 'CHECKPOINT');
        const written =
          (await sql<{ l: string }>(s, busy, 'SELECT pg_current_wal_lsn()::text AS l'))[0]?.l ?? '';
        let last = { retained: NaN };
        await until(
          `slot ${slot} to confirm ${written} and retain under 16 MB`,
          async () => {
            const st = await slotState(s, src, slot);
            last = st;
            return (await st.confirmedPast(written)) && st.retained < 16 * MB;
          },
          60_000,
          () => `retained ${last.retained} bytes\n${r.output()}`,
        );
        // What moved it: heartbeat transactions, applied (empty) like any other, so the applied
        // position itself follows the WAL the other database wrote.
        await until(
          "a heartbeat transaction past the other database's WAL to be applied",
          async () =>
            (
              await sql<{ ok: boolean }>(
                s,
                dst,
                `SELECT applied_lsn >= $2::pg_lsn AS ok FROM pgdts.applied_position WHERE task_name = $1`,
                [name, written],
              )
            )[0]?.ok === true,
          30_000,
          () => r.output(),
        );
        await until(
          'the status to show the heartbeat lag',
          async () => {
            const st = await sql<{ lag: string | null }>(
              s,
              dst,
              `SELECT heartbeat_lag_ms::text AS lag FROM pgdts.status WHERE task_name = $1`,
              [name],
            );
            return st[0]?.lag != null && /heartbeat lag \d+ ms/.test(r.output());
          },
          30_000,
          () => r.output(),
        );
        const lag = await sql<{ lag: number }>(
          s,
          dst,
          `SELECT heartbeat_lag_ms::int AS lag FROM pgdts.status WHERE task_name = $1`,
          [name],
        );
        assert.ok((lag[0]?.lag ?? Infinity) < 5000, `heartbeat lag ${lag[0]?.lag} ms`);
        // Real changes still flow around the heartbeats.
        await sql(
          s,
          src,
          `INSERT INTO public.orders VALUES (2, 'b'); UPDATE public.orders SET v = 'c' WHERE id = 1`,
        );
        await waitForCatchUp(s, src, slot, 60_000, () => r.output());
      } finally {
        await stopCli(r);
      }
      // Every table but the heartbeat's, which the destination never gets.
      const [a, b] = await Promise.all([tableHashes(s, src, ['public']), tableHashes(s, dst, ['public'])]);
      a.delete('public.pgdts_heartbeat');
      assert.deepEqual(Object.fromEntries(b), Object.fromEntries(a));
      assert.equal(a.size, 1);
      const heartbeatTable = async (db: string) =>
        (await sql<{ t: string | null }>(s, db, `SELECT to_regclass('public.pgdts_heartbeat')::text AS t`))[0]
          ?.t ?? null;
      assert.equal(
        await heartbeatTable(dst),
        null,
        'the heartbeat table is never created on the destination',
      );
      if (kind === 'table') {
        const rows = await sql<{ task_name: string; fresh: boolean }>(
          s,
          src,
          `SELECT task_name, beat_at > now() - interval '1 minute' AS fresh FROM public.pgdts_heartbeat`,
        );
        assert.deepEqual(rows, [{ task_name: name, fresh: true }]);
        const published = await sql(
          s,
          src,
          `SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = 'pgdts_heartbeat'`,
          [slot],
        );
        assert.equal(published.length, 1, 'the heartbeat table is in the task publication');
      } else {
        assert.equal(await heartbeatTable(src), null, 'messages need no table');
      }
      const v = await runCli(['verify', file]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.doesNotMatch(v.stdout, /pgdts_heartbeat/);
      await runCli(['release', file]);
    },
  );
}

test('PostgreSQL 13: a heartbeat without table is refused by the precheck and by the run, before anything is touched', async () => {
  const s = testServer(13);
  const src = await freshDatabase(s, 'hb13_src');
  const dst = await freshDatabase(s, 'hb13_dst');
  await sql(s, src, `CREATE TABLE public.orders (id int PRIMARY KEY)`);
  const file = writeTaskFile({
    name: 'hb-13-message',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'public' }],
    extra: {
      source: {
        type: 'postgresql',
        url: `postgresql://${s.user}:${encodeURIComponent(s.password)}@${s.host}:${s.port}/${src}`,
        heartbeat: {},
      },
    },
  });
  const pre = await runCli(['precheck', file]);
  assert.equal(pre.code, 1, pre.stdout);
  assert.match(
    pre.stdout,
    /^FAIL {2}Source heartbeat: a heartbeat without table is a logical decoding message, which pgoutput sends from PostgreSQL 14 \(option messages\); the source runs 13\.\d+\n {6}fix: set source\.heartbeat\.table/m,
  );
  const run = await runCli(['run', file]);
  assert.equal(run.code, 2, run.stdout + run.stderr);
  assert.match(
    run.stderr,
    /SOURCE_UNSUPPORTED: source\.heartbeat: a heartbeat without table is a logical decoding message/,
  );
  assert.match(run.stderr, /hint: set source\.heartbeat\.table/);
  assert.equal(
    (await sql(s, src, `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgdts_hb_13_message'`)).length,
    0,
  );
  assert.equal((await sql(s, src, `SELECT 1 FROM pg_publication`)).length, 0);
  assert.deepEqual(
    await sql(s, dst, `SELECT to_regnamespace('pgdts')::text AS n`),
    [{ n: null }],
    'no bookkeeping either',
  );
});

test(
  'PostgreSQL 15: pgdts grants gives a non-superuser the heartbeat table; the precheck names a missing grant',
  { timeout: 120_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'hblp_src');
    const dst = await freshDatabase(s, 'hblp_dst');
    await sql(
      s,
      src,
      `CREATE SCHEMA app; CREATE TABLE app.orders (id int PRIMARY KEY, v text); INSERT INTO app.orders VALUES (1, 'a')`,
    );
    const user = `hb_${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    await sql(s, 'postgres', `CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    const file = writeTaskFile({
      name: 'hb-lp',
      source: { server: { ...s, user, password }, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'app' }],
      extra: {
        source: {
          type: 'postgresql',
          url: `postgresql://${user}:${password}@${s.host}:${s.port}/${src}`,
          heartbeat: { intervalMs: 1000, table: 'ops.heartbeat' },
        },
      },
    });
    const before = await runCli(['precheck', file]);
    assert.match(
      before.stdout,
      /^FAIL {2}Source heartbeat: schema ops of the heartbeat table does not exist/m,
    );
    const g = await runCli(['grants', '--side', 'source', file]);
    assert.equal(g.code, 0, g.stdout + g.stderr);
    for (const line of [
      `CREATE SCHEMA IF NOT EXISTS "ops";`,
      `CREATE TABLE IF NOT EXISTS "ops"."heartbeat" (task_name text PRIMARY KEY, beat_at timestamptz NOT NULL);`,
      `GRANT USAGE ON SCHEMA "ops" TO "${user}";`,
      `GRANT SELECT, INSERT, UPDATE ON TABLE "ops"."heartbeat" TO "${user}";`,
      `CREATE PUBLICATION "pgdts_hb_lp" FOR TABLE "app"."orders", "ops"."heartbeat";`,
    ]) {
      assert.ok(g.stdout.includes(line), `${line}\nnot in\n${g.stdout}`);
    }
    assert.ok(
      g.stdout.indexOf('CREATE TABLE') < g.stdout.indexOf('CREATE PUBLICATION'),
      'the table comes first',
    );
    await sql(s, src, g.stdout);
    const all = await runCli(['grants', file]);
    assert.match(
      all.stdout,
      /^-- heartbeat: pgdts upserts its row into ops\.heartbeat after 1000 ms without changes/m,
    );

    const ok = await runCli(['precheck', file]);
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(
      ok.stdout,
      new RegExp(
        `^PASS {2}Source heartbeat: ${user} upserts its row into ops\\.heartbeat after 1000 ms`,
        'm',
      ),
    );
    const r = startCli(['run', file]);
    try {
      await r.waitFor(/heartbeat lag \d+ ms/, 60_000);
    } finally {
      await stopCli(r);
    }
    assert.deepEqual(await sql(s, src, `SELECT task_name FROM ops.heartbeat`), [{ task_name: 'hb-lp' }]);
    assert.deepEqual(await sql(s, dst, `SELECT to_regnamespace('ops')::text AS n`), [{ n: null }]);

    await sql(s, src, `REVOKE UPDATE ON ops.heartbeat FROM ${user}`);
    const revoked = await runCli(['precheck', file]);
    assert.equal(revoked.code, 1, revoked.stdout);
    assert.match(
      revoked.stdout,
      new RegExp(
        `cannot upsert the heartbeat row into ops\\.heartbeat .*\\n {6}fix: .*GRANT SELECT, INSERT, UPDATE ON TABLE "ops"\\."heartbeat" TO "${user}";`,
      ),
    );
    await runCli(['release', file]);
  },
);
