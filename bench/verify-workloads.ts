/**
 * V1, row-level verification: `pgdts verify --mode rows` on a copy of `pgbench -i -s <scale>` with 100
 * planted differences, beside a full text comparison of both sides (every table read whole by one
 * psql per side, `sort | comm -3` in the C locale). Both must find exactly the planted differences.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import {
  TOOLS,
  failure,
  pgbenchInit,
  shqConn,
  startPgdts,
  startPgdtsCommand,
  tableStats,
  writeTaskFile,
  type BenchContext,
} from './harness.ts';
import { runShell, shq } from './proc.ts';
import { fmt, mb, measure, printTable, status, verdict, type Measurement } from './report.ts';

/** Size and repetitions of V1. */
export interface VerifyBenchSizes {
  /** pgbench scale (100,000 pgbench_accounts rows per unit; at least 2, for the 2 changed branches). */
  readonly scale: number;
  /** Times pgdts and the baseline are each measured, alternately, on the same data. */
  readonly runs: number;
}

/** `BENCH_V1_SCALE` (default 20, 2 with BENCH_QUICK=1) and `BENCH_V1_RUNS` (default 1). */
export function verifyBenchSizes(env: NodeJS.ProcessEnv = process.env): VerifyBenchSizes {
  const quick = env.BENCH_QUICK === '1';
  const scale = Number(env.BENCH_V1_SCALE ?? (quick ? 2 : 20));
  if (!Number.isInteger(scale) || scale < 2)
    throw new Error(`BENCH_V1_SCALE=${scale}: needs an integer >= 2`);
  const runs = Number(env.BENCH_V1_RUNS ?? 1);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_V1_RUNS=${runs}: needs an integer >= 1`);
  return { scale, runs };
}

type Kind = 'missing' | 'extra' | 'different';

/** One planted difference: the table, its kind, and the key (undefined in keyless pgbench_history). */
interface Planted {
  readonly table: string;
  readonly kind: Kind;
  readonly key: string | undefined;
}

/** The identity both the planted list and pgdts's report are reduced to, to compare them as sets. */
function identity(p: Planted): string {
  return `${p.table} ${p.kind} ${p.key ?? '(keyless)'}`;
}

const SRC = 'v1_src';
const DST = 'v1_dst';

/**
 * Makes the source (`pgbench -i`, then 30 pgbench_accounts rows deleted so the destination can hold
 * extra rows inside the key range, not only past its end), copies it with `pgdts run` [schema, full]
 * and plants in the destination: 30 of those keys inserted (extra), 30 other rows deleted (missing),
 * 30 with abalance changed, 5 tellers with tbalance changed, 2 branches with filler set (NULL ->
 * text), 3 rows inserted into the keyless pgbench_history (extra): 100 in all, spread over the key
 * range by md5 order. Ends with VACUUM ANALYZE on both sides, so neither measurement pays for setting
 * hint bits on rows just written.
 */
async function setUp(
  ctx: BenchContext,
  scale: number,
): Promise<{ planted: Planted[]; task: string; tables: string[] }> {
  ctx.log(`V1: pgbench -i -s ${scale}`);
  await pgbenchInit(ctx.source, SRC, scale);
  const gaps = (
    await ctx.source.query<{ aid: number }>(
      SRC,
      `DELETE FROM pgbench_accounts WHERE aid IN
         (SELECT aid FROM pgbench_accounts ORDER BY md5('gap' || aid) LIMIT 30) RETURNING aid`,
    )
  ).map((r) => r.aid);

  ctx.log('V1: pgdts run [schema, full] (untimed copy)');
  await ctx.destination.createDatabase(DST);
  const task = writeTaskFile(ctx, 'bench_v1', SRC, DST, ['schema', 'full']);
  const copy = await startPgdts(ctx, task).done;
  if (copy.code !== 0) throw new Error(failure('pgdts run (the copy)', copy));
  const [a, b] = [await tableStats(ctx.source, SRC), await tableStats(ctx.destination, DST)];
  const counts = (s: typeof a) => s.map((t) => `${t.name} ${t.rows}`).join(', ');
  if (counts(a) !== counts(b))
    throw new Error(`the copy differs: source ${counts(a)}; destination ${counts(b)}`);

  ctx.log('V1: planting 100 differences in the destination');
  const keys = async (sql: string, params: unknown[] = []) =>
    (await ctx.destination.query<{ k: number }>(DST, sql, params)).map((r) => String(r.k));
  const extra = await keys(
    `INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
     SELECT a, (a - 1) / 100000 + 1, 0, 'planted' FROM unnest($1::int[]) a RETURNING aid AS k`,
    [gaps],
  );
  const missing = await keys(
    `DELETE FROM pgbench_accounts WHERE aid IN
       (SELECT aid FROM pgbench_accounts WHERE aid <> ALL($1::int[]) ORDER BY md5('del' || aid) LIMIT 30)
     RETURNING aid AS k`,
    [gaps],
  );
  const changed = await keys(
    `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid IN
       (SELECT aid FROM pgbench_accounts WHERE aid <> ALL($1::int[]) ORDER BY md5('chg' || aid) LIMIT 30)
     RETURNING aid AS k`,
    [gaps],
  );
  const tellers = await keys(
    `UPDATE pgbench_tellers SET tbalance = tbalance + 5 WHERE tid IN
       (SELECT tid FROM pgbench_tellers ORDER BY md5('chg' || tid) LIMIT 5) RETURNING tid AS k`,
  );
  const branches = await keys(
    `UPDATE pgbench_branches SET filler = 'planted' WHERE bid IN
       (SELECT bid FROM pgbench_branches ORDER BY md5('chg' || bid) LIMIT 2) RETURNING bid AS k`,
  );
  await ctx.destination.query(
    DST,
    `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
     SELECT g, 1, g, g, '2026-12-01 00:00:00'::timestamp FROM generate_series(1, 3) g`,
  );
  const planted: Planted[] = [
    ...extra.map((key) => ({ table: 'pgbench_accounts', kind: 'extra' as const, key })),
    ...missing.map((key) => ({ table: 'pgbench_accounts', kind: 'missing' as const, key })),
    ...changed.map((key) => ({ table: 'pgbench_accounts', kind: 'different' as const, key })),
    ...tellers.map((key) => ({ table: 'pgbench_tellers', kind: 'different' as const, key })),
    ...branches.map((key) => ({ table: 'pgbench_branches', kind: 'different' as const, key })),
    ...[1, 2, 3].map(() => ({ table: 'pgbench_history', kind: 'extra' as const, key: undefined })),
  ];
  if (planted.length !== 100) throw new Error(`planted ${planted.length} differences, not 100`);
  await ctx.source.query(SRC, 'VACUUM ANALYZE');
  await ctx.destination.query(DST, 'VACUUM ANALYZE');
  return { planted, task, tables: a.map((t) => t.name) };
}

function loadText(): string {
  return loadavg()[0]?.toFixed(1) ?? '-';
}

/** The differences of a `pgdts verify --json` report, reduced to {@link identity} strings. */
function reportedDifferences(json: string): string[] {
  const report = JSON.parse(json) as {
    tables: {
      destinationTable: { name: string };
      error?: string;
      rows?: { differences: { kind: Kind; key?: string[] }[]; truncated: boolean };
    }[];
  };
  const out: string[] = [];
  for (const t of report.tables) {
    if (t.error !== undefined) throw new Error(`pgdts: ${t.destinationTable.name}: ${t.error}`);
    for (const d of t.rows?.differences ?? []) {
      out.push(identity({ table: t.destinationTable.name, kind: d.kind, key: d.key?.join(',') }));
    }
  }
  return out.sort();
}

/**
 * `pgdts verify TASK --mode rows --json`, spawn to exit; checks its differences are the planted ones.
 * With `mode` `hash` (a reference: the chunk digests alone, the first pass of `rows`), checks that
 * exactly the 4 tables with planted differences differ.
 */
async function measurePgdts(
  ctx: BenchContext,
  task: string,
  planted: readonly Planted[],
  run: number,
  mode: 'rows' | 'hash',
): Promise<Measurement> {
  const label = `pgdts verify --mode ${mode}`;
  return measure(label, async () => {
    ctx.log(`V1 run ${run}: ${label}`);
    const load = loadText();
    const jsonFile = path.join(ctx.workDir, `v1-report-${mode}-${run}.json`);
    const r = await startPgdtsCommand(
      ctx,
      ['verify', task, '--mode', mode, '--json'],
      `${task}.verify-${mode}-${run}.log`,
      jsonFile,
    ).done;
    // Exit 1: differences found (0 would mean it saw none, 2 an error).
    if (r.code !== 1) throw new Error(failure('pgdts verify', r));
    const json = readFileSync(jsonFile, 'utf8');
    if (mode === 'hash') {
      const differing = differingTables(json);
      const want = [...new Set(planted.map((p) => p.table))].sort().join(', ');
      return {
        ok: true,
        label,
        seconds: r.seconds,
        peakRssBytes: r.peakRssBytes,
        extra: { found: `${differing.length} tables`, load },
        note: differing.join(', ') === want ? 'ok: the 4 tables' : `WRONG TABLES: ${differing.join(', ')}`,
      };
    }
    const found = reportedDifferences(json);
    const expected = planted.map(identity).sort();
    const same = found.length === expected.length && found.every((f, i) => f === expected[i]);
    return {
      ok: true,
      label,
      seconds: r.seconds,
      peakRssBytes: r.peakRssBytes,
      extra: { found: String(found.length), load },
      note: same
        ? 'ok: the 100 planted'
        : `WRONG DIFFERENCES: ${found
            .filter((f) => !expected.includes(f))
            .slice(0, 3)
            .join('; ')} ...`,
    };
  });
}

/** The destination tables a `pgdts verify --json` report says differ, sorted. */
function differingTables(json: string): string[] {
  const report = JSON.parse(json) as { tables: { destinationTable: { name: string }; match: boolean }[] };
  return report.tables
    .filter((t) => !t.match)
    .map((t) => t.destinationTable.name)
    .sort();
}

/**
 * The baseline: one psql per side reads every table whole (`COPY (SELECT 'table', * FROM table) TO
 * STDOUT`, one `-c` per table, the table name prefixed so lines of different tables never match),
 * piped into `sort` (LC_ALL=C); both sides at once; then `comm -3` of the two sorted files. No ORDER
 * BY: `sort` orders the lines anyway, so ordering in the server would only slow the baseline down.
 * A changed row shows as 2 lines (its source line and its destination line): checks that the lines
 * per table and side are exactly those of the planted differences.
 */
async function measureBaseline(
  ctx: BenchContext,
  tables: readonly string[],
  planted: readonly Planted[],
  run: number,
): Promise<Measurement> {
  const label = 'psql COPY | sort, comm -3';
  return measure(label, async () => {
    ctx.log(`V1 run ${run}: ${label}`);
    const load = loadText();
    const dir = ctx.workDir;
    const side = (conn: string) =>
      `${TOOLS.psql} -X -q -v ON_ERROR_STOP=1 -d ${conn} ${tables
        .map((t) => `-c ${shq(`COPY (SELECT '${t}', * FROM public.${t}) TO STDOUT`)}`)
        .join(' ')} | sort -T ${shq(dir)}`;
    const a = path.join(dir, 'v1-source.sorted');
    const b = path.join(dir, 'v1-destination.sorted');
    const out = path.join(dir, `v1-comm-${run}.txt`);
    const r = await runShell(
      [
        'export LC_ALL=C',
        `(${side(shqConn(ctx.source, SRC))} > ${shq(a)}) & s=$!`,
        `(${side(shqConn(ctx.destination, DST))} > ${shq(b)}) & d=$!`,
        'wait $s',
        'wait $d',
        `comm -3 ${shq(a)} ${shq(b)} > ${shq(out)}`,
        `rm -f ${shq(a)} ${shq(b)}`,
      ].join('\n'),
    );
    if (r.code !== 0) throw new Error(failure('baseline', r));
    const lines = readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
    // comm -3: lines only in the first file (source) as they are, only in the second with a tab first.
    const got = new Map<string, number>();
    for (const l of lines) {
      const side = l.startsWith('\t') ? 'destination' : 'source';
      const k = `${l.replace(/^\t/, '').split('\t')[0] ?? ''} ${side}`;
      got.set(k, (got.get(k) ?? 0) + 1);
    }
    const want = new Map<string, number>();
    const add = (k: string) => want.set(k, (want.get(k) ?? 0) + 1);
    for (const p of planted) {
      if (p.kind !== 'extra') add(`${p.table} source`);
      if (p.kind !== 'missing') add(`${p.table} destination`);
    }
    const text = (m: Map<string, number>) =>
      [...m]
        .sort()
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
    return {
      ok: true,
      label,
      seconds: r.seconds,
      peakRssBytes: r.peakRssBytes,
      extra: { found: `${lines.length} lines`, load },
      note:
        text(got) === text(want)
          ? 'ok: the 100 planted'
          : `WRONG LINES: ${text(got)} (expected ${text(want)})`,
    };
  });
}

/**
 * V1: sets the data up once ({@link setUp}), then `runs` times: pgdts verify --mode rows, the
 * baseline, and pgdts verify --mode hash (a reference: what the chunk digests alone cost), each timed
 * from spawn to exit (pgdts: node start-up included). Prints each measurement, the ratio pgdts rows /
 * baseline per run and the median ratio against the target (≤ 0.5).
 */
export async function v1(ctx: BenchContext, sizes: VerifyBenchSizes): Promise<void> {
  const { planted, task, tables } = await setUp(ctx, sizes.scale);
  const rows: string[][] = [];
  const ratios: number[] = [];
  const hashRatios: number[] = [];
  for (let run = 1; run <= sizes.runs; run++) {
    const p = await measurePgdts(ctx, task, planted, run, 'rows');
    const b = await measureBaseline(ctx, tables, planted, run);
    const h = await measurePgdts(ctx, task, planted, run, 'hash');
    for (const m of [p, b, h]) {
      rows.push(
        m.ok
          ? [
              m.label,
              String(run),
              fmt(m.seconds, 2),
              mb(m.peakRssBytes),
              m.extra?.found ?? '-',
              m.extra?.load ?? '-',
              status(m),
            ]
          : [m.label, String(run), '-', '-', '-', '-', status(m)],
      );
    }
    if (p.ok && b.ok) ratios.push(p.seconds / b.seconds);
    if (h.ok && b.ok) hashRatios.push(h.seconds / b.seconds);
  }
  const sorted = [...ratios].sort((x, y) => x - y);
  const median = sorted.length > 0 ? sorted[Math.floor((sorted.length - 1) / 2)] : undefined;
  printTable(
    `V1 verify rows: pgbench -s ${sizes.scale} copy with 100 planted differences (30 missing, 33 extra, 37 different)`,
    ['method', 'run', 'seconds', 'peak RSS MB', 'found', 'load 1 min', 'status'],
    rows,
    [
      `time ratio pgdts rows / baseline per run = ${ratios.map((x) => fmt(x, 2)).join(', ') || '-'}`,
      `median ratio = ${fmt(median, 2)}  (target <= 0.5: ${verdict(median === undefined ? undefined : median <= 0.5)})`,
      `time ratio pgdts hash / baseline per run (reference: the digests alone, no rows) = ${hashRatios.map((x) => fmt(x, 2)).join(', ') || '-'}`,
    ],
  );
}
