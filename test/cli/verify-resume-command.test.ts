/**
 * [V12] `pgdts verify --resume` from the command line on real servers: a paced `--mode rows` verify
 * is stopped with SIGINT while in flight (exit 130, progress kept in the destination's
 * pgdts.verify_progress, a message naming --resume); `--resume` with another mode is a usage error
 * naming the flags (exit 2); `--resume` with the same flags goes on from the saved chunk and prints
 * the same JSON report as an uninterrupted run, then clears the progress; `--resume` with nothing
 * saved verifies from the start and says so; `pgdts release` deletes saved progress.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../support/own-server.ts';
import { runCli, startCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

/** The JSON report without its timings. */
function timeless(stdout: string): unknown {
  const r = JSON.parse(stdout) as { elapsedMs: number; tables: { elapsedMs: number }[] };
  return { ...r, elapsedMs: 0, tables: r.tables.map((t) => ({ ...t, elapsedMs: 0 })) };
}

test('[V12] verify stopped by SIGINT keeps its progress; --resume refuses other flags, then finishes with the uninterrupted report', async () => {
  const s = testServer(17);
  const src = await freshDatabase(s, 'vrc_src');
  const dst = await freshDatabase(s, 'vrc_dst');
  for (const db of [src, dst]) {
    await sql(
      s,
      db,
      `CREATE TABLE public.big (id int PRIMARY KEY, v text);
       INSERT INTO public.big SELECT g, 'v' || g FROM generate_series(1, 4000) g;
       CREATE TABLE public.small (id int PRIMARY KEY);
       INSERT INTO public.small SELECT generate_series(1, 10);`,
    );
  }
  await sql(
    s,
    dst,
    `DELETE FROM public.big WHERE id IN (40, 3900); UPDATE public.big SET v = 'x' WHERE id = 2222`,
  );
  const file = writeTaskFile({
    name: 'vrc',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['full'],
    objects: [{ schema: 'public' }],
    // 8 000 rows read at 2 000 rows/s: about 4 s, so SIGINT lands in flight.
    extra: { verify: { rowsPerSecond: 2000 } },
  });
  const flags = ['--mode', 'rows', '--chunk-rows', '100', '--json'];
  const whole = await runCli(['verify', file, ...flags]);
  assert.equal(whole.code, 1, whole.stderr);
  const progressRows = () =>
    sql<{ n: number; chunks: number | null }>(
      s,
      dst,
      `SELECT count(*)::int AS n, max((partial->>'chunks')::int) AS chunks FROM pgdts.verify_progress WHERE task_name = 'vrc'`,
    );
  assert.equal((await progressRows())[0]?.n, 0, 'a finished run clears its progress');

  const run = startCli(['verify', file, ...flags]);
  await until(
    'verify saved a few chunks of public.big',
    async () => ((await progressRows().catch(() => [])).at(0)?.chunks ?? 0) >= 5,
    60_000,
    () => run.output(),
  );
  run.child.kill('SIGINT');
  const stopped = await run.done;
  assert.equal(stopped.code, 130, stopped.stdout + stopped.stderr);
  assert.equal(stopped.stdout, '', 'no report of a stopped run');
  assert.match(stopped.stderr, /verify stopped by SIGINT; .*pgdts\.verify_progress.*--resume/);
  const saved = (await progressRows())[0];
  assert.ok(saved !== undefined && saved.n === 1 && (saved.chunks ?? 0) >= 5, JSON.stringify(saved));
  assert.ok((saved.chunks ?? 0) < 41, 'stopped before the end of public.big (41 chunks)');
  // The destination is not left with open sessions of the stopped run.
  const sessions = await sql<{ n: number }>(
    s,
    dst,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'pgdts%' AND pid <> pg_backend_pid()",
  );
  assert.equal(sessions[0]?.n, 0);

  const other = await runCli(['verify', file, '--mode', 'hash', '--chunk-rows', '100', '--resume']);
  assert.equal(other.code, 2, other.stdout + other.stderr);
  assert.match(
    other.stderr,
    /--resume: the stopped verify of task vrc .* ran with --mode rows, this one with --mode hash/,
  );
  assert.equal((await progressRows())[0]?.n, 1, 'a refused --resume keeps the progress');

  const resumed = await runCli(['verify', file, ...flags, '--resume']);
  assert.equal(resumed.code, 1, resumed.stderr);
  assert.match(
    resumed.stderr,
    new RegExp(
      `resuming the verify of task vrc .*: 0 table\\(s\\) done, public\\.big after ${saved.chunks} chunk\\(s\\)`,
    ),
  );
  assert.deepEqual(timeless(resumed.stdout), timeless(whole.stdout));
  assert.equal((await progressRows())[0]?.n, 0, 'the finished resumed run cleared its progress');

  const nothing = await runCli(['verify', file, '--resume']);
  assert.match(nothing.stderr, /nothing to resume: no stopped verify of task vrc; verifying from the start/);
  assert.equal(nothing.code, 1, nothing.stderr);
  assert.ok(!(stopped.stderr + resumed.stderr + other.stderr).includes(s.password));

  // `pgdts release` deletes the task's bookkeeping, saved verify progress included.
  const again = startCli(['verify', file, ...flags]);
  await until(
    'progress saved',
    async () => (await progressRows())[0]?.n === 1,
    60_000,
    () => again.output(),
  );
  again.child.kill('SIGINT');
  assert.equal((await again.done).code, 130);
  const released = await runCli(['release', file]);
  assert.equal(released.code, 0, released.stdout + released.stderr);
  assert.equal((await progressRows())[0]?.n, 0, 'release deleted the saved progress');
});
