/**
 * The benchmark workloads W1–W4. Each measures pgdts and its baseline in the same run, on the same
 * servers, one after the other, and prints a table with the ratio against the target. Sizes and
 * durations come from {@link BenchSizes} (`BENCH_QUICK=1` shrinks them for a smoke run).
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import {
  TOOLS,
  cloneDatabase,
  copySchema,
  dropNativeReplication,
  exitReason,
  failure,
  insertLsn,
  lastCommitEndLsn,
  one,
  pgEnv,
  pgbenchInit,
  pgbenchRun,
  pgdtsSlotName,
  probeCommit,
  shqConn,
  startNativeReplication,
  startPgdts,
  startPgdtsCommand,
  tableStats,
  waitFor,
  waitSlotReaches,
  walBytes,
  writeTaskFile,
  type BenchContext,
} from './harness.ts';
import { mustRun, runShell, type Running } from './proc.ts';
import {
  backendPids,
  CPU_CATEGORIES,
  cpuMsOf,
  processCpuMs,
  summarizeCpuProfiles,
  walsenderPid,
  type CpuCategory,
} from './cpu-profile.ts';
import { fmt, mb, measure, printTable, status, verdict, type Measurement } from './report.ts';

/** Sizes and durations of the workloads. */
export interface BenchSizes {
  /** pgbench scale of W1 (100,000 rows per unit). */
  readonly w1Scale: number;
  /** pgbench scale of W2–W4. */
  readonly scale: number;
  /** Duration of the W2 backlog writes, seconds. */
  readonly w2Seconds: number;
  /** Duration and rate (transactions/s) of the W3 steady load. */
  readonly w3Seconds: number;
  readonly w3Rate: number;
  /** Table counts of W1-M (one database each, 50 rows per table). */
  readonly w1mTables: readonly number[];
}

/** Sizes from the brief, or small ones when BENCH_QUICK=1. */
export function benchSizes(env: NodeJS.ProcessEnv = process.env): BenchSizes {
  const quick = env.BENCH_QUICK === '1';
  return {
    w1Scale: Number(env.BENCH_W1_SCALE ?? (quick ? 2 : 20)),
    scale: Number(env.BENCH_SCALE ?? (quick ? 1 : 10)),
    w2Seconds: Number(env.BENCH_W2_SECONDS ?? (quick ? 5 : 30)),
    w3Seconds: Number(env.BENCH_W3_SECONDS ?? (quick ? 5 : 60)),
    w3Rate: Number(env.BENCH_W3_RATE ?? 1000),
    w1mTables: (env.BENCH_W1M_TABLES ?? (quick ? '200' : '2000,10000')).split(',').map(Number),
  };
}

const RSS_TARGET = 300e6;

/** The pgbench template database of W2–W4, made once per run. */
async function template(ctx: BenchContext, sizes: BenchSizes): Promise<string> {
  const name = `pgbench_tpl_s${sizes.scale}`;
  const r = await ctx.source.query<{ n: string }>(
    'postgres',
    'SELECT count(*) AS n FROM pg_database WHERE datname = $1',
    [name],
  );
  if (Number(r[0]?.n) === 0) {
    ctx.log(`pgbench -i -s ${sizes.scale} into template ${name}`);
    await pgbenchInit(ctx.source, name, sizes.scale);
  }
  return name;
}

/** Do the pgbench tables hold the same balances on both sides? (`ok` or a description of the difference) */
async function compareBalances(ctx: BenchContext, srcDb: string, dstDb: string): Promise<string> {
  const q = `SELECT (SELECT sum(abalance) FROM pgbench_accounts)::text || '/' || (SELECT count(*) FROM pgbench_history)::text AS v`;
  const a = (await one<{ v: string }>(ctx.source, srcDb, q)).v;
  const b = (await one<{ v: string }>(ctx.destination, dstDb, q)).v;
  return a === b ? 'ok' : `DATA MISMATCH (sum(abalance)/history rows: source ${a}, destination ${b})`;
}

// --- W1 ---------------------------------------------------------------------------------------------

/**
 * The full-copy baseline: `pg_dump -Fd -j2` of `src`, then `pg_restore -j2` into a new destination
 * database `dst`; seconds are the sum of both wall times, RSS the larger peak (workers included).
 */
async function dumpAndRestore(ctx: BenchContext, src: string, dst: string): Promise<Measurement> {
  await ctx.destination.createDatabase(dst);
  const dir = path.join(ctx.workDir, `${dst}-dir`);
  rmSync(dir, { recursive: true, force: true });
  const d = await mustRun('pg_dump', TOOLS.pgDump, ['-Fd', '-j2', '-f', dir, src], {
    env: pgEnv(ctx.source),
  });
  const r = await mustRun('pg_restore', TOOLS.pgRestore, ['-j2', '-d', dst, dir], {
    env: pgEnv(ctx.destination),
  });
  rmSync(dir, { recursive: true, force: true });
  return {
    ok: true,
    label: 'pg_dump -Fd -j2 + pg_restore -j2',
    seconds: d.seconds + r.seconds,
    peakRssBytes: Math.max(d.peakRssBytes, r.peakRssBytes),
    note: `dump ${fmt(d.seconds)} s + restore ${fmt(r.seconds)} s`,
  };
}

/**
 * W1, full copy: `pgbench -i -s w1Scale` on the source, copied into empty destination databases by
 * (a) `pgdts run` with syncTypes [schema, full] and full.jobs 2 — timed from spawn to exit, so node
 * start-up, schema sync, data and index build are all in;
 * (b) `pg_dump -Fd -j2` then `pg_restore -j2` — the sum of both wall times;
 * (c) one `psql COPY ... TO STDOUT (FORMAT binary) | psql COPY ... FROM STDIN` pipe per table, two at a
 * time, after the tables were created untimed from `pg_dump --section=pre-data`; timed: the pipes plus
 * `pg_dump --section=post-data | psql` (primary keys / indexes).
 * Peak RSS: of the pgdts process; of pg_dump or pg_restore (the larger, workers included); of the
 * largest pipe (both psql).
 */
export async function w1(ctx: BenchContext, sizes: BenchSizes): Promise<void> {
  const src = 'w1_src';
  ctx.log(`W1: pgbench -i -s ${sizes.w1Scale}`);
  await pgbenchInit(ctx.source, src, sizes.w1Scale);
  const tables = await tableStats(ctx.source, src);
  const rows = tables.reduce((a, t) => a + t.rows, 0);
  const bytes = tables.reduce((a, t) => a + t.bytes, 0);

  const pgdts = await measure('pgdts [schema, full] jobs 2', async () => {
    ctx.log('W1: pgdts run');
    await ctx.destination.createDatabase('w1_pgdts');
    const task = writeTaskFile(ctx, 'bench_w1', src, 'w1_pgdts', ['schema', 'full']);
    const r = await startPgdts(ctx, task).done;
    if (r.code !== 0) throw new Error(failure('pgdts run', r));
    const st = await tableStats(ctx.destination, 'w1_pgdts');
    const got = st.reduce((a, t) => a + t.rows, 0);
    return {
      ok: true,
      label: 'pgdts [schema, full] jobs 2',
      seconds: r.seconds,
      peakRssBytes: r.peakRssBytes,
      ...(got !== rows ? { note: `ROW COUNT MISMATCH ${got} != ${rows}` } : {}),
    };
  });

  const dump = await measure('pg_dump -Fd -j2 + pg_restore -j2', async () => {
    ctx.log('W1: pg_dump + pg_restore');
    return dumpAndRestore(ctx, src, 'w1_dump');
  });

  const pipe = await measure('psql COPY binary pipes (2 at a time)', async () => {
    ctx.log('W1: psql COPY pipes');
    await ctx.destination.createDatabase('w1_pipe');
    await copySchema(ctx.source, src, ctx.destination, 'w1_pipe', 'pre-data');
    const t0 = performance.now();
    let peak = 0;
    const queue = [...tables];
    const worker = async () => {
      for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
        const r = await runShell(
          `${TOOLS.psql} -X -q -v ON_ERROR_STOP=1 -d ${shqConn(ctx.source, src)} -c 'COPY public.${t.name} TO STDOUT (FORMAT binary)' | ` +
            `${TOOLS.psql} -X -q -v ON_ERROR_STOP=1 -d ${shqConn(ctx.destination, 'w1_pipe')} -c 'COPY public.${t.name} FROM STDIN (FORMAT binary)'`,
        );
        if (r.code !== 0) throw new Error(failure(`COPY pipe of ${t.name}`, r));
        peak = Math.max(peak, r.peakRssBytes);
      }
    };
    await Promise.all([worker(), worker()]);
    const post = await copySchema(ctx.source, src, ctx.destination, 'w1_pipe', 'post-data');
    return {
      ok: true,
      label: 'psql COPY binary pipes (2 at a time)',
      seconds: (performance.now() - t0) / 1000,
      peakRssBytes: Math.max(peak, post.peakRssBytes),
      note: `indexes ${fmt(post.seconds)} s`,
    };
  });

  const row = (m: Measurement) =>
    m.ok
      ? [
          m.label,
          fmt(m.seconds, 2),
          fmt(rows / m.seconds, 0),
          fmt(bytes / 1e6 / m.seconds, 1),
          mb(m.peakRssBytes),
          status(m),
        ]
      : [m.label, '-', '-', '-', '-', status(m)];
  const ratio = pgdts.ok && dump.ok ? pgdts.seconds / dump.seconds : undefined;
  const rss = pgdts.ok ? pgdts.peakRssBytes : undefined;
  printTable(
    `W1 full copy: pgbench -i -s ${sizes.w1Scale} (${rows} rows, ${mb(bytes)} MB in ${tables.length} tables)`,
    ['method', 'seconds', 'rows/s', 'MB/s', 'peak RSS MB', 'status'],
    [pgdts, dump, pipe].map(row),
    [
      `time ratio pgdts / (pg_dump+pg_restore) = ${fmt(ratio, 2)}  (target <= 1.0: ${verdict(ratio === undefined ? undefined : ratio <= 1)})`,
      `pgdts peak RSS = ${mb(rss)} MB  (target < 300 MB: ${verdict(rss === undefined ? undefined : rss < RSS_TARGET)})`,
      ...(pipe.ok && pgdts.ok
        ? [`time ratio pgdts / COPY pipes = ${fmt(pgdts.seconds / pipe.seconds, 2)}`]
        : []),
    ],
  );
}

// --- W1-M --------------------------------------------------------------------------------------------

/** Partitions of the one partitioned table W1-M adds to its many tables. */
const W1M_PARTITIONS = 200;

/**
 * The W1-M source: `tables` tables `public.t_00001...` of 50 rows each with a primary key and one
 * secondary index, plus one table hash-partitioned into {@link W1M_PARTITIONS} partitions (50 rows
 * each too). Made in batches of 200 tables per transaction (each holds its tables' locks until it
 * commits).
 */
async function manyTablesSource(ctx: BenchContext, db: string, tables: number): Promise<void> {
  await ctx.source.createDatabase(db);
  for (let from = 1; from <= tables; from += 200) {
    const to = Math.min(tables, from + 199);
    await ctx.source.query(
      db,
      `DO $$ BEGIN
         FOR i IN ${from}..${to} LOOP
           EXECUTE format('CREATE TABLE public.%I (id int PRIMARY KEY, n int NOT NULL, v text)', 't_' || lpad(i::text, 5, '0'));
           EXECUTE format('CREATE INDEX ON public.%I (n)', 't_' || lpad(i::text, 5, '0'));
           EXECUTE format('INSERT INTO public.%I SELECT g, g %% 7, md5(g::text) FROM generate_series(1, 50) g', 't_' || lpad(i::text, 5, '0'));
         END LOOP;
       END $$`,
    );
  }
  await ctx.source.query(
    db,
    `CREATE TABLE public.parted (id int PRIMARY KEY, n int NOT NULL, v text) PARTITION BY HASH (id);
     DO $$ BEGIN
       FOR i IN 0..${W1M_PARTITIONS - 1} LOOP
         EXECUTE format('CREATE TABLE public.%I PARTITION OF public.parted FOR VALUES WITH (MODULUS ${W1M_PARTITIONS}, REMAINDER %s)', 'parted_' || lpad(i::text, 3, '0'), i);
       END LOOP;
     END $$;
     CREATE INDEX ON public.parted (n);
     INSERT INTO public.parted SELECT g, g % 7, md5(g::text) FROM generate_series(1, ${50 * W1M_PARTITIONS}) g;`,
  );
  // On its own: outside a transaction block ANALYZE takes one table per transaction, not a lock on
  // every table at once.
  await ctx.source.query(db, 'ANALYZE');
}

/**
 * Tables and total rows of the `public` schema of `db`: counted 200 tables per query, since one
 * query over 10,000 tables would lock each with its indexes at once (out of shared memory).
 */
async function manyTablesCount(server: BenchContext['source'], db: string): Promise<string> {
  const tables = await server.query<{ relname: string }>(
    db,
    `SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname`,
  );
  let rows = 0;
  for (let i = 0; i < tables.length; i += 200) {
    const part = tables.slice(i, i + 200).map((t) => `SELECT count(*) AS n FROM ONLY public."${t.relname}"`);
    const r = await one<{ n: string }>(
      server,
      db,
      `SELECT sum(n)::text AS n FROM (${part.join(' UNION ALL ')}) c`,
    );
    rows += Number(r.n);
  }
  return `${tables.length} tables, ${rows} rows`;
}

/**
 * Seconds per phase from a `--log-format json` log: a phase lasts from its first line to the first
 * line of the next one (the last until `endMs`). Returns `schema 1.2 s, full 3.4 s, ...`.
 */
function phaseSeconds(logFile: string, endMs: number): string {
  const starts: { phase: string; at: number }[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const j = JSON.parse(line) as { phase?: unknown; time?: unknown };
      const at = typeof j.time === 'string' ? Date.parse(j.time) : Number(j.time);
      if (typeof j.phase !== 'string' || !Number.isFinite(at)) continue;
      if (starts.at(-1)?.phase !== j.phase) starts.push({ phase: j.phase, at });
    } catch {
      /* a line that is not pgdts's JSON */
    }
  }
  return starts
    .map((p, i) => `${p.phase} ${fmt(((starts[i + 1]?.at ?? endMs) - p.at) / 1000, 1)} s`)
    .join(', ');
}

/**
 * W1-M, many small tables (for each count of `sizes.w1mTables`): the source of
 * {@link manyTablesSource}, copied into empty destination databases by (a) `pgdts run` with
 * syncTypes [schema, full] and full.jobs 2, timed from spawn to exit, with seconds per phase from its
 * JSON log; (b) `pg_dump -Fd -j2` then `pg_restore -j2`, the sum of both wall times. Peak RSS of the
 * pgdts process; of pg_dump or pg_restore.
 */
export async function w1m(ctx: BenchContext, sizes: BenchSizes): Promise<void> {
  for (const n of sizes.w1mTables) {
    const src = `w1m_src_${n}`;
    ctx.log(`W1-M: ${n} tables + ${W1M_PARTITIONS} partitions`);
    await manyTablesSource(ctx, src, n);
    const expected = await manyTablesCount(ctx.source, src);

    const pgdts = await measure('pgdts [schema, full] jobs 2', async () => {
      ctx.log(`W1-M ${n}: pgdts run`);
      const dst = `w1m_pgdts_${n}`;
      await ctx.destination.createDatabase(dst);
      const task = writeTaskFile(ctx, `bench_w1m_${n}`, src, dst, ['schema', 'full']);
      const r = await startPgdts(ctx, task, ['--log-format', 'json']).done;
      // The last phase ends when pgdts exits, not after the row count below.
      const exitedAt = Date.now();
      if (r.code !== 0) throw new Error(failure('pgdts run', r));
      const got = await manyTablesCount(ctx.destination, dst);
      return {
        ok: true,
        label: 'pgdts [schema, full] jobs 2',
        seconds: r.seconds,
        peakRssBytes: r.peakRssBytes,
        note: got === expected ? phaseSeconds(`${task}.log`, exitedAt) : `MISMATCH: ${got} != ${expected}`,
      };
    });

    const dump = await measure('pg_dump -Fd -j2 + pg_restore -j2', async () => {
      ctx.log(`W1-M ${n}: pg_dump + pg_restore`);
      return dumpAndRestore(ctx, src, `w1m_dump_${n}`);
    });

    const ratio = pgdts.ok && dump.ok ? pgdts.seconds / dump.seconds : undefined;
    const rss = pgdts.ok ? pgdts.peakRssBytes : undefined;
    printTable(
      `W1-M many tables: ${expected} (${n} tables of 50 rows with a PK and an index, ${W1M_PARTITIONS} partitions of one table)`,
      ['method', 'seconds', 'peak RSS MB', 'status'],
      [pgdts, dump].map((m) =>
        m.ok ? [m.label, fmt(m.seconds, 2), mb(m.peakRssBytes), status(m)] : [m.label, '-', '-', status(m)],
      ),
      [
        `time ratio pgdts / (pg_dump+pg_restore) = ${fmt(ratio, 2)}  (target <= 1.0: ${verdict(ratio === undefined ? undefined : ratio <= 1)})`,
        `pgdts peak RSS = ${mb(rss)} MB  (target < 300 MB: ${verdict(rss === undefined ? undefined : rss < RSS_TARGET)})`,
      ],
    );
    if (pgdts.ok) await manyTablesCommands(ctx, n, src, `w1m_pgdts_${n}`);
  }
}

/**
 * The other work that grows with the table count, on W1-M's source and the copy pgdts made of it,
 * each timed from spawn to exit (node start-up included, ~1 s through tsx): `pgdts verify` of the
 * [schema, full] task (count + hash of every table); for a task streaming the same tables
 * (`[incremental]`): `pgdts precheck`, `pgdts run` until it logs `streaming from` (publication and
 * slot creation, DDL capture, relation set-up), `pgdts release` (slot, publication, bookkeeping).
 * Prints seconds and ms per table, to compare across table counts: linear growth keeps ms per table
 * flat.
 */
async function manyTablesCommands(ctx: BenchContext, n: number, src: string, dst: string): Promise<void> {
  const tables = n + W1M_PARTITIONS;
  const full = path.join(ctx.workDir, `bench_w1m_${n}.yaml`);
  const inc = writeTaskFile(ctx, `bench_w1m_inc_${n}`, src, dst, ['incremental']);
  const rows: string[][] = [];
  const timed = async (label: string, args: readonly string[], okCodes: readonly number[] = [0]) => {
    ctx.log(`W1-M ${n}: pgdts ${args[0] ?? ''}`);
    const r = await startPgdtsCommand(ctx, args, `${inc}.${args[0] ?? 'cmd'}.log`).done;
    const ok = r.code !== null && okCodes.includes(r.code);
    rows.push([
      label,
      ok ? fmt(r.seconds, 2) : '-',
      ok ? fmt((r.seconds * 1000) / tables, 2) : '-',
      ok ? 'ok' : failure(`pgdts ${args[0] ?? ''}`, r),
    ]);
  };
  await timed('pgdts verify ([schema, full] task)', ['verify', full]);
  await timed('pgdts precheck ([incremental] task)', ['precheck', inc]);
  ctx.log(`W1-M ${n}: pgdts run [incremental] until streaming`);
  const t0 = performance.now();
  const p = startPgdts(ctx, inc);
  try {
    const log = `${inc}.log`;
    await waitFor(
      'pgdts streaming',
      () => Promise.resolve(existsSync(log) && readFileSync(log, 'utf8').includes('streaming from')),
      600_000,
      () => exitReason('pgdts', p),
    );
    const seconds = (performance.now() - t0) / 1000;
    rows.push([
      'pgdts run [incremental]: spawn to streaming',
      fmt(seconds, 2),
      fmt((seconds * 1000) / tables, 2),
      'ok',
    ]);
  } catch (e) {
    rows.push(['pgdts run [incremental]: spawn to streaming', '-', '-', `FAILED: ${(e as Error).message}`]);
  } finally {
    await p.stop('SIGTERM');
  }
  await timed('pgdts release ([incremental] task)', ['release', inc]);
  printTable(
    `W1-M ${n}: other commands over ${tables} tables`,
    ['command', 'seconds', 'ms per table', 'status'],
    rows,
    ['node start-up included in each; flat ms per table across table counts = linear growth'],
  );
}

// --- streaming helpers --------------------------------------------------------------------------------

/** A replication consumer under test: pgdts (a subprocess) or a native subscription. */
interface Streamer {
  readonly slot: string;
  readonly srcDb: string;
  readonly dstDb: string;
  /** The pgdts process (for RSS); undefined for native replication. */
  readonly proc: Running | undefined;
  /** Undefined while healthy, else why it died. */
  alive(): string | undefined;
  stop(): Promise<void>;
}

/** Waits until pgdts finished its full copy and streams: a probe transaction's commit is confirmed. */
async function waitStreaming(ctx: BenchContext, s: Streamer): Promise<void> {
  const want = await one<{ n: string }>(ctx.source, s.srcDb, 'SELECT count(*) AS n FROM pgbench_accounts');
  await waitFor(
    'the full copy to finish',
    async () => {
      try {
        const got = await one<{ n: string }>(
          ctx.destination,
          s.dstDb,
          'SELECT count(*) AS n FROM pgbench_accounts',
        );
        return got.n === want.n;
      } catch {
        return false;
      }
    },
    1_800_000,
    () => s.alive(),
  );
  await waitSlotReaches(ctx.source, s.slot, await probeCommit(ctx.source, s.srcDb), {
    alive: () => s.alive(),
  });
}

/** Drops a stopped task's slot so that it stops retaining WAL for the next workloads. */
async function dropSlot(ctx: BenchContext, slot: string): Promise<void> {
  await ctx.source
    .query(
      'postgres',
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )
    .catch(() => undefined);
}

/** Starts pgdts [schema, full, incremental] from a fresh copy of the template; resolves once streaming. */
async function startPgdtsStreamer(ctx: BenchContext, tpl: string, tag: string): Promise<Streamer> {
  const srcDb = `${tag}_pgdts_src`;
  const dstDb = `${tag}_pgdts`;
  await cloneDatabase(ctx.source, tpl, srcDb);
  await ctx.destination.createDatabase(dstDb);
  const name = `bench_${tag}`;
  const task = writeTaskFile(ctx, name, srcDb, dstDb, ['schema', 'full', 'incremental']);
  const proc = startPgdts(ctx, task);
  const s: Streamer = {
    slot: pgdtsSlotName(name),
    srcDb,
    dstDb,
    proc,
    alive: () => exitReason(`pgdts (log ${task}.log)`, proc),
    async stop() {
      await proc.stop('SIGTERM');
      await dropSlot(ctx, pgdtsSlotName(name));
    },
  };
  try {
    await waitStreaming(ctx, s);
  } catch (e) {
    // exitReason already quotes pgdts' last error line when it died.
    await proc.stop('SIGTERM', 10_000);
    await dropSlot(ctx, pgdtsSlotName(name));
    throw e;
  }
  return s;
}

/** Starts native logical replication from a fresh copy of the template; resolves once streaming. */
async function startNativeStreamer(ctx: BenchContext, tpl: string, tag: string): Promise<Streamer> {
  const srcDb = `${tag}_native_src`;
  const dstDb = `${tag}_native`;
  const name = `bench_${tag}_sub`;
  await cloneDatabase(ctx.source, tpl, srcDb);
  await startNativeReplication(ctx, srcDb, dstDb, name);
  return {
    slot: name,
    srcDb,
    dstDb,
    proc: undefined,
    alive: () => undefined,
    stop: () => dropNativeReplication(ctx, dstDb, name),
  };
}

// --- W2 ---------------------------------------------------------------------------------------------

interface CatchUp {
  readonly seconds: number;
  readonly walBytes: number;
  readonly transactions: number;
  readonly peakRssBytes: number | undefined;
  readonly check: string;
}

/** CPU time of one consumer's catch-up, ms, read at the end of it (`--profile`). */
interface CatchUpCpu {
  readonly label: string;
  readonly rowChanges: number;
  readonly wallMs: number;
  /** Spawn to streaming (the `streaming from` log line), ms; undefined for native replication. */
  readonly startupMs: number | undefined;
  /** The pgdts process (user + sys), undefined for native replication (it runs in the servers). */
  readonly consumerMs: number | undefined;
  /** Self time by category from `node --cpu-prof` (pgdts only). */
  readonly categories: Record<CpuCategory, number> | undefined;
  /** Destination backends of the consumer's database (pgdts connections, or the apply worker). */
  readonly destinationMs: number;
  readonly walsenderMs: number;
  readonly loadAverage: string;
}

/** pgbench TPC-B: 3 UPDATEs and 1 INSERT per transaction. */
const TPCB_CHANGES_PER_TX = 4;

/** CPU of the destination backends of `dstDb` and the walsender of `slot`, read now. */
async function serverCpu(
  ctx: BenchContext,
  dstDb: string,
  slot: string,
): Promise<{ destinationMs: number; walsenderMs: number }> {
  const dst = await backendPids(ctx.destination, dstDb);
  const ws = await walsenderPid(ctx.source, slot);
  return { destinationMs: cpuMsOf(dst), walsenderMs: ws === undefined ? 0 : cpuMsOf([ws]) };
}

function printProfile(rows: readonly CatchUpCpu[]): void {
  const per = (ms: number | undefined, r: CatchUpCpu) =>
    ms === undefined ? '-' : fmt((ms * 1000) / r.rowChanges, 1);
  printTable(
    'W2 profile: ms per 1,000 row changes (CPU = user + sys from /proc; categories: self time of node --cpu-prof)',
    [
      'method',
      'row changes',
      'wall',
      'start-up s',
      'wall after start-up',
      'consumer CPU',
      ...CPU_CATEGORIES,
      'destination backends CPU',
      'walsender CPU',
      'load avg 1/5/15',
    ],
    rows.map((r) => [
      r.label,
      String(r.rowChanges),
      per(r.wallMs, r),
      r.startupMs === undefined ? '-' : fmt(r.startupMs / 1000, 2),
      per(r.wallMs - (r.startupMs ?? 0), r),
      per(r.consumerMs, r),
      ...CPU_CATEGORIES.map((c) => per(r.categories?.[c], r)),
      per(r.destinationMs, r),
      per(r.walsenderMs, r),
      r.loadAverage,
    ]),
    [
      'consumer CPU includes the node start-up and the profiler; categories sum to wall time of the main thread (idle included)',
    ],
  );
}

/** Categories of the profiles in `dir`; BENCH_PROFILE_TOP=N also logs the N top functions by self time. */
function profileCategories(ctx: BenchContext, dir: string): Record<CpuCategory, number> {
  const r = summarizeCpuProfiles(dir, Number(process.env.BENCH_PROFILE_TOP ?? 0));
  for (const line of r.top) ctx.log(`profile: ${line}`);
  return r.categories;
}

/**
 * ms from `spawnedAt` (epoch ms) to the last `streaming from` line of a pgdts log (its timestamps are
 * `[ISO time]`), or undefined when there is none.
 */
function startupMs(logFile: string, spawnedAt: number): number | undefined {
  const lines = readFileSync(logFile, 'utf8').split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^\[([^\]]+)\].*\] streaming from /.exec(lines[i] ?? '');
    if (m?.[1] !== undefined) return Date.parse(m[1]) - spawnedAt;
  }
  return undefined;
}

function loadAverageText(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/**
 * W2, backlog catch-up. pgdts: stream until caught up, SIGTERM, `pgbench -n -c 4 -j 2 -T w2Seconds`,
 * then start pgdts again and time from its spawn until the slot's confirmed_flush_lsn ≥ the end LSN of
 * the last pgbench commit (so its start-up and reconnection are included). Native: same with a
 * subscription (copy_data) that is DISABLEd during the writes; timed from ENABLE. Backlog WAL bytes =
 * end LSN − insert LSN before pgbench. Each on its own copy of the template, one after the other.
 */
export async function w2(
  ctx: BenchContext,
  sizes: BenchSizes,
  opts: { readonly profile?: boolean } = {},
): Promise<void> {
  const tpl = await template(ctx, sizes);
  const cpu: CatchUpCpu[] = [];
  const profileDir = path.join(ctx.workDir, `w2-cpuprof-${Date.now()}`);
  if (opts.profile === true) mkdirSync(profileDir, { recursive: true });
  const bench = ['-c', '4', '-j', '2', '-T', String(sizes.w2Seconds)];

  const pgdts = await measure('pgdts (restart on backlog)', async () => {
    ctx.log('W2: pgdts initial copy');
    const s = await startPgdtsStreamer(ctx, tpl, 'w2');
    const first = await s.proc!.stop('SIGTERM');
    const stopNote = first.code === 0 ? '' : ` (first run exit ${first.code ?? first.signal})`;
    ctx.log('W2: pgbench backlog for pgdts');
    const from = await insertLsn(ctx.source);
    const pb = await pgbenchRun(ctx.source, s.srcDb, bench);
    const end = await lastCommitEndLsn(ctx.source, from);
    const bytes = await walBytes(ctx.source, from, end);
    ctx.log('W2: pgdts catch-up');
    const task = path.join(ctx.workDir, 'bench_w2.yaml');
    const p2 = startPgdts(
      ctx,
      task,
      [],
      opts.profile === true
        ? {
            PGDTS_NODE_OPTIONS: `--max-semi-space-size=16 --heap-growing-percent=50 --cpu-prof --cpu-prof-dir=${profileDir}`,
          }
        : {},
    );
    const t0 = performance.now();
    const spawnedAt = Date.now();
    try {
      await waitSlotReaches(ctx.source, s.slot, end, {
        alive: () => exitReason(`pgdts (log ${task}.log)`, p2),
      });
    } catch (e) {
      await p2.stop('SIGTERM', 10_000);
      await dropSlot(ctx, s.slot);
      throw e;
    }
    const seconds = (performance.now() - t0) / 1000;
    const peak = p2.rss.peakBytes();
    const consumerMs = opts.profile === true ? processCpuMs(p2.child.pid ?? 0) : undefined;
    const servers = opts.profile === true ? await serverCpu(ctx, s.dstDb, s.slot) : undefined;
    const load = loadAverageText();
    await p2.stop('SIGTERM');
    await dropSlot(ctx, s.slot);
    if (servers !== undefined)
      cpu.push({
        label: 'pgdts',
        rowChanges: pb.transactions * TPCB_CHANGES_PER_TX,
        wallMs: seconds * 1000,
        startupMs: startupMs(`${task}.log`, spawnedAt),
        consumerMs,
        // The profile is written when the process exits.
        categories: profileCategories(ctx, profileDir),
        ...servers,
        loadAverage: load,
      });
    const r: CatchUp = {
      seconds,
      walBytes: bytes,
      transactions: pb.transactions,
      peakRssBytes: peak,
      check: '',
    };
    return catchUpMeasurement(
      'pgdts (restart on backlog)',
      r,
      `${await compareBalances(ctx, s.srcDb, s.dstDb)}${stopNote}`,
    );
  });

  const native = await measure('native subscription (DISABLE/ENABLE)', async () => {
    ctx.log('W2: native subscription initial sync');
    const s = await startNativeStreamer(ctx, tpl, 'w2');
    try {
      const sub = s.slot;
      await ctx.destination.query(s.dstDb, `ALTER SUBSCRIPTION ${sub} DISABLE`);
      await waitFor('the subscription slot to be released', async () => {
        const r = await ctx.source.query<{ active: boolean }>(
          'postgres',
          'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
          [sub],
        );
        return r[0]?.active === false;
      });
      ctx.log('W2: pgbench backlog for native');
      const from = await insertLsn(ctx.source);
      const pb = await pgbenchRun(ctx.source, s.srcDb, bench);
      const end = await lastCommitEndLsn(ctx.source, from);
      const bytes = await walBytes(ctx.source, from, end);
      ctx.log('W2: native catch-up');
      const t0 = performance.now();
      await ctx.destination.query(s.dstDb, `ALTER SUBSCRIPTION ${sub} ENABLE`);
      await waitSlotReaches(ctx.source, sub, end);
      const seconds = (performance.now() - t0) / 1000;
      if (opts.profile === true)
        cpu.push({
          label: 'native',
          rowChanges: pb.transactions * TPCB_CHANGES_PER_TX,
          wallMs: seconds * 1000,
          startupMs: undefined,
          consumerMs: undefined,
          categories: undefined,
          ...(await serverCpu(ctx, s.dstDb, sub)),
          loadAverage: loadAverageText(),
        });
      const r: CatchUp = {
        seconds,
        walBytes: bytes,
        transactions: pb.transactions,
        peakRssBytes: undefined,
        check: '',
      };
      return catchUpMeasurement(
        'native subscription (DISABLE/ENABLE)',
        r,
        await compareBalances(ctx, s.srcDb, s.dstDb),
      );
    } finally {
      await s.stop();
    }
  });

  const tput = (m: Measurement) => (m.ok ? Number(m.extra?.['WAL MB']) / m.seconds : undefined);
  const a = tput(pgdts);
  const b = tput(native);
  const ratio = a !== undefined && b !== undefined ? a / b : undefined;
  printTable(
    `W2 backlog catch-up: pgbench -s ${sizes.scale}, TPC-B -c 4 -T ${sizes.w2Seconds} while the consumer is stopped`,
    ['method', 'backlog WAL MB', 'transactions', 'catch-up s', 'WAL MB/s', 'tx/s', 'peak RSS MB', 'status'],
    [pgdts, native].map((m) =>
      m.ok
        ? [
            m.label,
            m.extra?.['WAL MB'] ?? '-',
            m.extra?.tx ?? '-',
            fmt(m.seconds, 2),
            fmt(Number(m.extra?.['WAL MB']) / m.seconds, 2),
            fmt(Number(m.extra?.tx) / m.seconds, 0),
            mb(m.peakRssBytes),
            status(m),
          ]
        : [m.label, '-', '-', '-', '-', '-', '-', status(m)],
    ),
    [
      `throughput ratio pgdts / native (WAL MB/s) = ${fmt(ratio, 2)}  (target >= 1.5: ${verdict(ratio === undefined ? undefined : ratio >= 1.5)})`,
    ],
  );
  if (cpu.length > 0) printProfile(cpu);
}

function catchUpMeasurement(label: string, r: CatchUp, note: string): Measurement {
  return {
    ok: true,
    label,
    seconds: r.seconds,
    peakRssBytes: r.peakRssBytes,
    extra: { 'WAL MB': fmt(r.walBytes / 1e6, 1), tx: String(r.transactions) },
    note,
  };
}

// --- W3 ---------------------------------------------------------------------------------------------

/**
 * W3, steady latency: while the consumer streams, `pgbench -n -c 4 -j 2 -R w3Rate -T w3Seconds`. On the
 * destination, pgbench_history gets a column `applied_at` set by an `ENABLE ALWAYS` trigger to
 * clock_timestamp() (ALWAYS triggers fire under session_replication_role = replica too); latency of a
 * transaction = applied_at − mtime, where mtime is CURRENT_TIMESTAMP of the source transaction (its
 * start: includes the source transaction's own few ms). Percentiles over every history row.
 */
export async function w3(ctx: BenchContext, sizes: BenchSizes): Promise<void> {
  const tpl = await template(ctx, sizes);
  const run = async (label: string, startStreamer: () => Promise<Streamer>): Promise<Measurement> =>
    measure(label, async () => {
      ctx.log(`W3: ${label}: initial copy`);
      const s = await startStreamer();
      try {
        await ctx.destination.query(
          s.dstDb,
          `ALTER TABLE pgbench_history ADD COLUMN applied_at timestamptz;
           CREATE FUNCTION bench_applied_at() RETURNS trigger LANGUAGE plpgsql AS
             $$BEGIN NEW.applied_at := clock_timestamp(); RETURN NEW; END$$;
           CREATE TRIGGER bench_applied_at BEFORE INSERT ON pgbench_history
             FOR EACH ROW EXECUTE FUNCTION bench_applied_at();
           ALTER TABLE pgbench_history ENABLE ALWAYS TRIGGER bench_applied_at;`,
        );
        s.proc?.rss.resetPhase();
        ctx.log(`W3: ${label}: pgbench -R ${sizes.w3Rate} -T ${sizes.w3Seconds}`);
        const from = await insertLsn(ctx.source);
        const pb = await pgbenchRun(ctx.source, s.srcDb, [
          '-c',
          '4',
          '-j',
          '2',
          '-R',
          String(sizes.w3Rate),
          '-T',
          String(sizes.w3Seconds),
        ]);
        const end = await lastCommitEndLsn(ctx.source, from);
        await waitSlotReaches(ctx.source, s.slot, end, { timeoutMs: 300_000, alive: () => s.alive() });
        // mtime is a timestamp without time zone in the source session's TimeZone (the server default).
        const tz = (
          await one<{ tz: string }>(ctx.source, 'postgres', "SELECT current_setting('TimeZone') AS tz")
        ).tz;
        const r = await one<{ n: string; p50: number; p95: number; p99: number; max: number }>(
          ctx.destination,
          s.dstDb,
          `SELECT n, p[1] AS p50, p[2] AS p95, p[3] AS p99, mx AS max FROM (
             SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY ms) AS p, max(ms) AS mx,
                    count(*) AS n
             FROM (SELECT 1000 * extract(epoch FROM applied_at - (mtime AT TIME ZONE $1))::float8 AS ms
                   FROM pgbench_history WHERE applied_at IS NOT NULL) x) y`,
          [tz],
        );
        const check = await compareBalances(ctx, s.srcDb, s.dstDb);
        return {
          ok: true,
          label,
          seconds: sizes.w3Seconds,
          peakRssBytes: s.proc?.rss.phasePeakBytes(),
          extra: {
            tps: fmt(pb.tps, 0),
            n: r.n,
            p50: fmt(r.p50, 1),
            p95: fmt(r.p95, 1),
            p99: fmt(r.p99, 1),
            max: fmt(r.max, 1),
          },
          note: check,
        };
      } finally {
        await s.stop();
      }
    });
  const pgdts = await run('pgdts', () => startPgdtsStreamer(ctx, tpl, 'w3'));
  const native = await run('native subscription', () => startNativeStreamer(ctx, tpl, 'w3'));
  const p99 = pgdts.ok ? Number(pgdts.extra?.p99) : undefined;
  printTable(
    `W3 steady latency: pgbench -s ${sizes.scale}, TPC-B -c 4 -R ${sizes.w3Rate} -T ${sizes.w3Seconds}, commit-to-applied (ms)`,
    ['method', 'source tps', 'rows', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'peak RSS MB', 'status'],
    [pgdts, native].map((m) =>
      m.ok
        ? [
            m.label,
            m.extra?.tps ?? '-',
            m.extra?.n ?? '-',
            m.extra?.p50 ?? '-',
            m.extra?.p95 ?? '-',
            m.extra?.p99 ?? '-',
            m.extra?.max ?? '-',
            mb(m.peakRssBytes),
            status(m),
          ]
        : [m.label, '-', '-', '-', '-', '-', '-', '-', status(m)],
    ),
    [
      `pgdts p99 = ${fmt(p99, 1)} ms  (target < 200 ms: ${verdict(p99 === undefined ? undefined : p99 < 200)})`,
    ],
  );
}

// --- W4 ---------------------------------------------------------------------------------------------

/**
 * W4, one big transaction: while the consumer streams, one `UPDATE pgbench_accounts SET abalance =
 * abalance + 1` (all scale × 100,000 rows); timed from the client's COMMIT returning until the slot's
 * confirmed_flush_lsn ≥ the commit's end LSN. Peak RSS of pgdts during that phase.
 */
export async function w4(ctx: BenchContext, sizes: BenchSizes): Promise<void> {
  const tpl = await template(ctx, sizes);
  const run = async (label: string, startStreamer: () => Promise<Streamer>): Promise<Measurement> =>
    measure(label, async () => {
      ctx.log(`W4: ${label}: initial copy`);
      const s = await startStreamer();
      try {
        s.proc?.rss.resetPhase();
        const from = await insertLsn(ctx.source);
        ctx.log(`W4: ${label}: big UPDATE`);
        await ctx.source.query(s.srcDb, 'UPDATE pgbench_accounts SET abalance = abalance + 1');
        const t0 = performance.now();
        const end = await lastCommitEndLsn(ctx.source, from);
        await waitSlotReaches(ctx.source, s.slot, end, { timeoutMs: 900_000, alive: () => s.alive() });
        const seconds = (performance.now() - t0) / 1000;
        const bytes = await walBytes(ctx.source, from, end);
        return {
          ok: true,
          label,
          seconds,
          peakRssBytes: s.proc?.rss.phasePeakBytes(),
          extra: { wal: fmt(bytes / 1e6, 1) },
          note: await compareBalances(ctx, s.srcDb, s.dstDb),
        };
      } finally {
        await s.stop();
      }
    });
  const pgdts = await run('pgdts', () => startPgdtsStreamer(ctx, tpl, 'w4'));
  const native = await run('native subscription', () => startNativeStreamer(ctx, tpl, 'w4'));
  const rows = sizes.scale * 100_000;
  const rss = pgdts.ok ? pgdts.peakRssBytes : undefined;
  printTable(
    `W4 big transaction: one UPDATE of ${rows} pgbench_accounts rows, commit to applied`,
    ['method', 'WAL MB', 'seconds', 'rows/s', 'peak RSS MB', 'status'],
    [pgdts, native].map((m) =>
      m.ok
        ? [
            m.label,
            m.extra?.wal ?? '-',
            fmt(m.seconds, 2),
            fmt(rows / m.seconds, 0),
            mb(m.peakRssBytes),
            status(m),
          ]
        : [m.label, '-', '-', '-', '-', status(m)],
    ),
    [
      ...(pgdts.ok && native.ok
        ? [`time ratio pgdts / native = ${fmt(pgdts.seconds / native.seconds, 2)}`]
        : []),
      `pgdts peak RSS = ${mb(rss)} MB  (target < 300 MB: ${verdict(rss === undefined ? undefined : rss < RSS_TARGET)})`,
    ],
  );
}
