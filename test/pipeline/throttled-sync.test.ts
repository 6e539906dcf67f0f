/**
 * `full.throttle` and `incremental.throttle` end to end, measured on the destination server once a
 * second: every 10 s window within 10% of the limit (rows copied by two jobs, MB copied, a backlog of
 * changes applied), queries per second including range planning, and a new rate taken on SIGHUP
 * within moments while a changed non-throttle key and an invalid file are refused in the log.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { pause } from '../support/own-server.ts';
import { runCli, startCli, stopCli, writeTaskFile, type CliRun } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';
import { waitForCatchUp } from '../support/catch-up.ts';

interface Sample {
  /** performance.now(), ms. */
  readonly t: number;
  readonly n: number;
}

/** Calls `probe` once a second (on a fixed schedule) until `done(samples)`; returns the samples. */
async function sampleEverySecond(
  probe: () => Promise<number>,
  done: (samples: readonly Sample[]) => boolean,
): Promise<Sample[]> {
  const out: Sample[] = [];
  const t0 = performance.now();
  for (let k = 1; !done(out); k++) {
    out.push({ t: performance.now(), n: await probe() });
    await pause(Math.max(0, t0 + k * 1000 - performance.now()));
  }
  return out;
}

/**
 * Rates (per second) of every window of about `windowMs` between two samples, for windows inside
 * the active part: begun (`n` > first value) and not yet finished (`n` < `total`).
 */
function windowRates(samples: readonly Sample[], total: number, windowMs = 10_000): number[] {
  const first = samples[0]?.n ?? 0;
  const out: number[] = [];
  for (const [i, a] of samples.entries()) {
    if (a.n <= first) continue;
    const b = samples.slice(i + 1).find((x) => x.t - a.t >= windowMs - 50);
    if (b === undefined || b.n >= total) break;
    out.push(((b.n - a.n) * 1000) / (b.t - a.t));
  }
  return out;
}

function assertRates(
  rates: readonly number[],
  want: number,
  minWindows: number,
  what: string,
  windowSec = 10,
): void {
  const shown = rates.map((r) => r.toFixed(0)).join(', ');
  assert.ok(rates.length >= minWindows, `${what}: only ${rates.length} windows (${shown})`);
  for (const r of rates) {
    assert.ok(
      Math.abs(r - want) <= 0.1 * want,
      `${what}: a window at ${r.toFixed(0)}/s, want ${want}/s ±10% (${shown})`,
    );
  }
  // Shown in the test output: the measured numbers.
  console.log(`${what}: ${rates.length} windows of ${windowSec} s at ${shown} (limit ${want})`);
}

/** Rows (or COPY bytes) loaded so far: committed ranges plus the COPYs in progress (PostgreSQL 14+). */
async function loaded(s: TestServer, db: string, task: string, what: 'rows' | 'bytes'): Promise<number> {
  const col = what === 'rows' ? 'tuples_processed' : 'bytes_processed';
  const r = await sql<{ n: number }>(
    s,
    db,
    `SELECT (coalesce((SELECT sum(${what}) FROM pgdts.range_sync WHERE task_name = $1), 0)
           + coalesce((SELECT sum(${col}) FROM pg_stat_progress_copy WHERE datname = current_database()), 0))::float8 AS n`,
    [task],
  );
  return r[0]?.n ?? 0;
}

test(
  'full.throttle: 300k rows copied by 2 jobs at 20000 rows/s, then at 0.75 MB/s, within 10% over every 10 s window',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'thr_src');
    await sql(
      s,
      src,
      `CREATE TABLE public.t (id int PRIMARY KEY, v text);
       INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 300000) g; ANALYZE public.t`,
    );
    const rows = 300_000;
    for (const [throttle, what, want] of [
      [{ rowsPerSecond: 20_000 }, 'rows', 20_000],
      [{ megabytesPerSecond: 0.75 }, 'bytes', 0.75 * 1024 * 1024],
    ] as const) {
      const dst = await freshDatabase(s, 'thr_dst');
      const file = writeTaskFile({
        name: 'thr-full',
        source: { server: s, db: src },
        destination: { server: s, db: dst },
        syncTypes: ['schema', 'full'],
        objects: [{ table: 'public.t' }],
        // Two ranges of about 10 MB, one per job, each a COPY for the whole run.
        extra: {
          full: { jobs: 2, splitTablesLargerThanBytes: 1048576, rangeSizeBytes: 1073741824, throttle },
        },
      });
      const run = startCli(['run', file]);
      await run.waitFor(/phase full/);
      let ended = false;
      void run.done.then(() => (ended = true));
      const samples = await sampleEverySecond(
        () => loaded(s, dst, 'thr-full', what),
        () => ended,
      );
      const r = await run.done;
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /table public\.t copied: 300000 rows, .* \(2 ranges\)/);
      const total =
        what === 'rows'
          ? rows
          : ((await sql<{ b: number }>(s, dst, `SELECT sum(bytes)::float8 AS b FROM pgdts.range_sync`))[0]
              ?.b ?? 0);
      assertRates(windowRates(samples, total), want, 3, `full sync, ${what}/s`);
      await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    }
  },
);

test(
  'full.throttle.queriesPerSecond counts the COPY statements and the planning query',
  { timeout: 120_000 },
  async () => {
    const s = testServer(17);
    const src = await freshDatabase(s, 'thr_src');
    const dst = await freshDatabase(s, 'thr_dst');
    for (let i = 0; i < 12; i++) {
      await sql(
        s,
        src,
        `CREATE TABLE public.t${i} (id int PRIMARY KEY); INSERT INTO public.t${i} SELECT generate_series(1, 10)`,
      );
    }
    const file = writeTaskFile({
      name: 'thr-queries',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['full'],
      objects: [{ schema: 'public' }],
      extra: { full: { jobs: 4, throttle: { queriesPerSecond: 4 } } },
    });
    await sql(
      s,
      dst,
      'CREATE TABLE ' +
        Array.from({ length: 12 }, (_, i) => `public.t${i} (id int PRIMARY KEY)`).join('; CREATE TABLE '),
    );
    const r = await runCli(['--log-format', 'json', 'run', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; time: string });
    const at = (m: RegExp) => Date.parse(lines.find((l) => m.test(l.msg))?.time ?? '');
    // One planning query (the COPY format of every table) and 12 COPYs at 4 per second: 12 waits of
    // 250 ms after the first. Unthrottled it takes well under a second.
    const sec = (at(/^phase sequences/) - at(/^phase full/)) / 1000;
    assert.ok(sec > 2.9 && sec < 5, `the copy took ${sec} s`);
    console.log(`full sync of 12 tables at 4 queries/s: ${sec.toFixed(2)} s (13 statements)`);
  },
);

test(
  'full.throttle on SIGHUP: a copy at 5000 rows/s goes on at 30000 rows/s within 2 s, in the middle of its COPY statements',
  { timeout: 300_000 },
  async () => {
    const s = testServer(17);
    const src = await freshDatabase(s, 'thr_src');
    const dst = await freshDatabase(s, 'thr_dst');
    await sql(
      s,
      src,
      `CREATE TABLE public.t (id int PRIMARY KEY, v text);
       INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(1, 300000) g; ANALYZE public.t`,
    );
    const file = writeTaskFile({
      name: 'thr-hup',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full'],
      objects: [{ table: 'public.t' }],
      extra: {
        full: {
          jobs: 2,
          splitTablesLargerThanBytes: 1048576,
          rangeSizeBytes: 1073741824,
          throttle: { rowsPerSecond: 5_000 },
        },
      },
    });
    const run = startCli(['run', file]);
    await run.waitFor(/phase full/);
    const probe = () => loaded(s, dst, 'thr-hup', 'rows');
    const slow = await sampleEverySecond(probe, (x) => x.length >= 6);
    const slowRate =
      ((slow.at(-1)?.n ?? 0) - (slow[1]?.n ?? 0)) / (((slow.at(-1)?.t ?? 0) - (slow[1]?.t ?? 0)) / 1000);
    assert.ok(Math.abs(slowRate - 5_000) < 500, `${slowRate} rows/s before the signal`);
    editTaskFile(file, (d) => ((d.full ??= {}).throttle = { rowsPerSecond: 30_000 }));
    const sent = performance.now();
    run.child.kill('SIGHUP');
    await run.waitFor(/SIGHUP: throttle changed: full\.throttle\.rowsPerSecond 5000 → 30000/);
    let ended = false;
    void run.done.then(() => (ended = true));
    const fast = await sampleEverySecond(probe, () => ended);
    const r = await run.done;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rates = windowRates(
      fast.filter((x) => x.t - sent >= 2_000),
      300_000,
      3_000,
    );
    assertRates(rates, 30_000, 2, 'full sync after SIGHUP at 30000 rows/s', 3);
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
  },
);

/** Rewrites the task file at `file` with `change` applied to its parsed document. */
function editTaskFile(file: string, change: (doc: Record<string, Record<string, unknown>>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  change(doc);
  writeFileSync(file, stringify(doc));
}

async function destinationRows(s: TestServer, db: string): Promise<number> {
  return (await sql<{ n: number }>(s, db, 'SELECT count(*)::float8 AS n FROM public.t'))[0]?.n ?? 0;
}

test(
  'incremental.throttle: a backlog applied at 2000 rows/s; SIGHUP raises it to 10000 rows/s within 2 s, refusing a changed batchMaxRows and an invalid file',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'thr_src');
    const dst = await freshDatabase(s, 'thr_dst');
    await sql(s, src, 'CREATE TABLE public.t (id int PRIMARY KEY, v text)');
    const file = writeTaskFile({
      name: 'thr-inc',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
      extra: { incremental: { throttle: { rowsPerSecond: 2_000 } } },
    });
    const first = startCli(['run', file]);
    await first.waitFor(/streaming from/);
    await stopCli(first);
    // The backlog: 1500 transactions of 100 rows, waiting in the slot.
    const total = 150_000;
    await sql(
      s,
      src,
      `DO $$ BEGIN FOR i IN 0..1499 LOOP
         INSERT INTO public.t SELECT g, md5(g::text) FROM generate_series(i * 100 + 1, i * 100 + 100) g;
         COMMIT;
       END LOOP; END $$`,
    );
    let run: CliRun | undefined = startCli(['run', file]);
    try {
      await run.waitFor(/streaming from/);
      const r = run;
      const probe = () => destinationRows(s, dst);
      // An invalid file on SIGHUP changes nothing.
      const slow = await sampleEverySecond(probe, (samples) => {
        if (samples.length === 3) {
          editTaskFile(file, (d) => ((d.incremental ??= {}).throttle = { rowsPerSecond: -5 }));
          r.child.kill('SIGHUP');
        }
        return samples.length >= 14;
      });
      await r.waitFor(
        /SIGHUP: task file not applied, the running values stay: CONFIG_INVALID: incremental\.throttle\.rowsPerSecond: must be more than 0 rows per second/,
      );
      assertRates(windowRates(slow, total), 2_000, 3, 'incremental at 2000 rows/s');

      // A higher rate, and a key that cannot change while running.
      editTaskFile(file, (d) => {
        (d.incremental ??= {}).throttle = { rowsPerSecond: 10_000 };
        d.incremental.batchMaxRows = 500;
      });
      const sent = performance.now();
      r.child.kill('SIGHUP');
      await r.waitFor(/SIGHUP: throttle changed: incremental\.throttle\.rowsPerSecond 2000 → 10000/);
      await r.waitFor(
        /incremental\.batchMaxRows changed: only full\.throttle and incremental\.throttle can change while running; restart to apply/,
      );
      const fast = await sampleEverySecond(probe, () => performance.now() - sent > 10_000);
      // From 2 s after the signal: 4-second windows at the new rate.
      const after = fast.filter((x) => x.t - sent >= 2_000);
      const rates = windowRates(after, total, 4_000);
      assertRates(rates, 10_000, 3, 'incremental after SIGHUP at 10000 rows/s', 4);
      await waitForCatchUp(s, src, 'pgdts_thr_inc', 120_000, () => r.output());
      await stopCli(r);
      run = undefined;
    } finally {
      if (run) await stopCli(run).catch(() => undefined);
    }
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', file]);
  },
);
