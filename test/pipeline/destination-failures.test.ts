/**
 * Failures of the destination while incremental sync is applying, injected while work is in flight,
 * each ending in destination = source: crashes with `synchronous_commit = off` (durable
 * acknowledgement), deadlocks, serialization failures and killed connections during a pipelined
 * flush (retried with their own SQLSTATE), and rows missing on the destination (stopped, named).
 * Invariants cited: task-lifecycle.md T6–T8, sink/postgres/apply/apply.md P3, P4, P6.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { waitForCatchUp } from '../support/catch-up.ts';
import { pause, startOwnServer, until, type OwnServer } from '../support/own-server.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';

const run = promisify(execFile);
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';

const owned: OwnServer[] = [];
after(async () => {
  for (const o of owned) await o.server.stop().catch(() => undefined);
});

async function pgbench(s: TestServer, db: string, args: string[]): Promise<void> {
  await run(PGBENCH, [...args, '-h', s.host, '-p', String(s.port), '-U', s.user, db], {
    env: { ...process.env, PGPASSWORD: s.password },
  });
}

test(
  'the destination crashes (immediate stop) three times under load with synchronous_commit = off and fsync = on: nothing is lost [T7][P6]',
  { timeout: 400_000 },
  async () => {
    const s = testServer(15);
    // Commits stay in WAL buffers for seconds (a long WAL writer delay, large buffers): an
    // acknowledgement of a returned COMMIT would be lost with them.
    const own = await startOwnServer('durable', {
      settings: {
        fsync: 'on',
        synchronous_commit: 'off',
        wal_writer_delay: "'10s'",
        wal_writer_flush_after: "'16MB'",
        wal_buffers: "'32MB'",
      },
    });
    owned.push(own);
    const d = own.test;
    const src = await freshDatabase(s, 'dur_src');
    await own.server.createDatabase('dur_dst');
    await pgbench(s, src, ['-i', '-s', '1', '-q']);
    await sql(s, src, 'ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
    const file = writeTaskFile({
      name: 'durable',
      source: { server: s, db: src },
      destination: { server: d, db: 'dur_dst' },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
      extra: { retry: { initialDelayMs: 200, maxDelayMs: 1_000 } },
    });
    const r = startCli(['run', file]);
    try {
      await r.waitFor(/streaming from/);
      const load = pgbench(s, src, ['-n', '-c', '2', '-R', '300', '-T', '24']);
      for (let i = 0; i < 3; i++) {
        await pause(5_000);
        // Mid-stream: the apply session has committed batches the WAL writer has not flushed.
        const applied = await sql<{ n: string }>(
          d,
          'dur_dst',
          'SELECT count(*)::text AS n FROM pgbench_history',
        );
        assert.ok(Number(applied[0]?.n) > 0, 'changes were being applied when the destination crashed');
        await own.server.stopImmediate();
        await pause(500);
        await own.server.startAgain();
        assert.equal(r.child.exitCode, null, `pgdts keeps running through the crash:\n${r.output()}`);
      }
      await load;
      await waitForCatchUp(s, src, 'pgdts_durable', 120_000, () => r.output());
      assert.match(r.output(), /retrying in/);
    } finally {
      await stopCli(r);
    }
    await assertSameData({ server: s, db: src }, { server: d, db: 'dur_dst' }, ['public']);
    await runCli(['release', file]);
  },
);

test(
  'a deadlock, a serialization failure and a killed connection during an in-flight flush are retried with their own SQLSTATE [P4]',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'inj_src');
    const dst = await freshDatabase(s, 'inj_dst');
    await sql(s, src, 'CREATE TABLE public.t (id int PRIMARY KEY, v text)');
    const file = writeTaskFile({
      name: 'inject',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    const r = startCli(['run', file]);
    try {
      await r.waitFor(/streaming from/);
      // The destination fails the statements of a flush while they execute: a real server error
      // (the sequence is not transactional, so each failure happens once).
      await sql(
        s,
        dst,
        `CREATE SEQUENCE public.inject_seq;
         CREATE FUNCTION public.inject() RETURNS trigger LANGUAGE plpgsql AS $$
         DECLARE n bigint := nextval('public.inject_seq');
         BEGIN
           IF n = 300 THEN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END IF;
           IF n = 20000 THEN RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001'; END IF;
           IF n = 40000 THEN PERFORM pg_sleep(30); END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER inject BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.inject();
         ALTER TABLE public.t ENABLE ALWAYS TRIGGER inject;`,
      );
      // Transactions larger than a flush (1000 changes): a failing flush is still in flight while the
      // stream delivers the rest of its transaction.
      const writes = (async () => {
        for (let i = 0; i < 12; i++) {
          await sql(
            s,
            src,
            `INSERT INTO public.t SELECT g, 'v' FROM generate_series(${i * 5000 + 1}, ${i * 5000 + 5000}) g`,
          );
        }
      })();
      // The flush holding row 40000 sleeps in the destination: kill its backend while it is in flight.
      let killed = false;
      await until(
        'the apply backend to sleep in a flush',
        async () => {
          const k = await sql<{ k: boolean }>(
            s,
            dst,
            `SELECT pg_terminate_backend(pid) AS k FROM pg_stat_activity
              WHERE application_name = 'pgdts-apply' AND wait_event = 'PgSleep'`,
          );
          killed = k.some((x) => x.k);
          return killed;
        },
        120_000,
        () => r.output(),
      );
      await writes;
      await waitForCatchUp(s, src, 'pgdts_inject', 120_000, () => r.output());
      const out = r.output();
      assert.match(out, /injected deadlock \[SQLSTATE 40P01, transaction-rollback\].*retrying in/);
      assert.match(
        out,
        /injected serialization failure \[SQLSTATE 40001, transaction-rollback\].*retrying in/,
      );
      assert.match(
        out,
        /(SQLSTATE 57P01, operator\]|Connection terminated).*retrying in/,
        'the killed connection',
      );
      assert.doesNotMatch(out, /INTERNAL/);
      assert.equal(r.child.exitCode, null);
    } finally {
      await stopCli(r);
    }
    await sql(s, dst, 'ALTER TABLE public.t DISABLE TRIGGER inject');
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', file]);
  },
);

test(
  'an UPDATE of a row missing on the destination is retried naming table, key and LSN, nothing of it applied; restored meanwhile, the run continues [P3]',
  { timeout: 300_000 },
  async () => {
    const s = testServer(17);
    const src = await freshDatabase(s, 'miss_src');
    const dst = await freshDatabase(s, 'miss_dst');
    await sql(
      s,
      src,
      'CREATE TABLE public.acct (id int PRIMARY KEY, bal int); INSERT INTO public.acct SELECT g, 100 FROM generate_series(1, 100) g',
    );
    const file = writeTaskFile({
      name: 'missing',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    const r = startCli(['run', file]);
    try {
      await r.waitFor(/streaming from/);
      // Someone deletes a row on the destination only; the source then updates it with its
      // neighbours in one transaction (one multi-row UPDATE on the destination).
      await sql(s, dst, 'DELETE FROM public.acct WHERE id = 42');
      await sql(s, src, 'UPDATE public.acct SET bal = bal + 1 WHERE id BETWEEN 40 AND 45');
      // Replayed row by row to name the row, then retried: the task keeps its position.
      await r.waitFor(
        /APPLY_CONFLICT: UPDATE of public\.acct found no row with \(id\)=\(42\) in the destination \(change at LSN [0-9A-F]+\/[0-9A-F]+\).*retrying in/,
        60_000,
      );
      assert.equal(r.child.exitCode, null, 'still running');
      // Nothing of that transaction was applied.
      assert.deepEqual(await sql(s, dst, 'SELECT count(*)::int AS n FROM public.acct WHERE bal = 101'), [
        { n: 0 },
      ]);
      // The operator restores the row; the next retry applies the transaction.
      await sql(s, dst, 'INSERT INTO public.acct VALUES (42, 100)');
      await waitForCatchUp(s, src, 'pgdts_missing', 120_000, () => r.output());
    } finally {
      await stopCli(r);
    }
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', file]);
  },
);
