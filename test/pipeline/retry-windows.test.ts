/**
 * The retry windows end to end against real servers: a deadlock the destination raises on every
 * attempt reaches the retry helper as a retryable error of the other window, is retried for
 * `retry.otherMinutes` (10 minutes on a fake clock, so the test takes seconds) and then ends the run
 * with that error, the checkpoint kept: with the cause fixed, the next run resumes and applies it.
 */
import assert from 'node:assert/strict';
import { setImmediate as yieldToIo } from 'node:timers/promises';
import { test } from 'node:test';
import { withConnectors } from '../../src/connectors/open-connectors.ts';
import { CancelledError, PgdtsError } from '../../src/core/errors.ts';
import { loadTaskFile } from '../../src/cli/load-task-file.ts';
import type { RetryClock } from '../../src/pipeline/retry.ts';
import { runTask } from '../../src/pipeline/task-runner.ts';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';

/** A clock whose sleeps pass at once (after letting pending I/O run), advancing its time. */
class FakeClock implements RetryClock {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new CancelledError();
    this.t += ms;
    await yieldToIo();
  }
}

test(
  'a deadlock raised on every attempt is retried for retry.otherMinutes, then ends the run with that error; the checkpoint is kept and the next run resumes',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'win_src');
    const dst = await freshDatabase(s, 'win_dst');
    await sql(
      s,
      src,
      `CREATE TABLE public.t (id int PRIMARY KEY, v text); INSERT INTO public.t VALUES (1, 'a')`,
    );
    const file = writeTaskFile({
      name: 'windows',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
      // The defaults: 720 and 10 minutes, backoff from 500 ms to 30 s.
      extra: { retry: {} },
    });
    const first = startCli(['run', file]);
    await first.waitFor(/streaming from/);
    await stopCli(first);
    // The apply session runs with session_replication_role = replica: only an ALWAYS trigger fires.
    await sql(
      s,
      dst,
      `CREATE FUNCTION public.deadlock() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END $$;
       CREATE TRIGGER deadlock BEFORE INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION public.deadlock();
       ALTER TABLE public.t ENABLE ALWAYS TRIGGER deadlock;`,
    );
    await sql(s, src, `INSERT INTO public.t VALUES (2, 'b')`);
    // Past the commit record: the insert position. With synchronous_commit = off (the test servers)
    // pg_current_wal_lsn(), the write position, can still be before it, and the slot may rightly
    // confirm up to the commit record's start (a keepalive while it is decoded), which made this test
    // fail now and then although nothing was skipped.
    const [{ end } = { end: '' }] = await sql<{ end: string }>(
      s,
      src,
      'SELECT pg_current_wal_insert_lsn()::text AS end',
    );

    const task = loadTaskFile(file);
    const clock = new FakeClock();
    const logs: string[] = [];
    const outcome: unknown = await withConnectors(task, (c) =>
      runTask(task, {
        ...c,
        signal: new AbortController().signal,
        onProgress: (e) => {
          if (e.kind === 'log') logs.push(e.message);
        },
        retryClock: clock,
      }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(outcome instanceof PgdtsError, String(outcome));
    assert.deepEqual(
      [outcome.code, outcome.sqlState, outcome.retryable, outcome.retryWindow],
      ['APPLY_FAILED', '40P01', true, 'other'],
    );
    assert.match(outcome.message, /injected deadlock \[SQLSTATE 40P01, transaction-rollback\]/);
    const retries = logs.filter((l) => /retrying in/.test(l));
    assert.ok(retries.length > 20, logs.join('\n'));
    for (const l of retries) {
      assert.match(
        l,
        /^incremental sync: APPLY_FAILED: .*injected deadlock.*; retrying in \d+ ms \(not a connection failure: retried for up to 10 min, retry\.otherMinutes\)$/,
      );
    }
    assert.match(
      logs.at(-1) ?? '',
      /^incremental sync: retryable errors for (9\.\d|10\.0) min, retry\.otherMinutes = 10 min has run out: giving up/,
    );
    // 10 minutes of retrying on the fake clock, not 720.
    assert.ok(clock.t > 9 * 60_000 && clock.t <= 10 * 60_000, `${clock.t} ms`);

    // The checkpoint is kept: nothing applied, the slot still holds the change, the error recorded.
    assert.deepEqual(await sql(s, dst, 'SELECT id FROM public.t ORDER BY id'), [{ id: 1 }]);
    const [slot] = await sql<{ kept: boolean }>(
      s,
      src,
      `SELECT confirmed_flush_lsn < $1::pg_lsn AS kept FROM pg_replication_slots WHERE slot_name = 'pgdts_windows'`,
      [end],
    );
    assert.deepEqual(
      slot,
      { kept: true },
      `the slot confirmed the unapplied change (end ${end}); the run's log:\n${logs.join('\n')}`,
    );
    const [row] = await sql<{ last_error: string }>(
      s,
      dst,
      `SELECT last_error FROM pgdts.task WHERE name = 'windows'`,
    );
    assert.match(row?.last_error ?? '', /injected deadlock/);

    // Fixed, the next run resumes from the kept position.
    await sql(s, dst, 'DROP TRIGGER deadlock ON public.t');
    const again = startCli(['run', file]);
    try {
      await again.waitFor(/streaming from/);
      await waitForCatchUp(s, src, 'pgdts_windows', 60_000, () => again.output());
    } finally {
      await stopCli(again);
    }
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', file]);
  },
);
