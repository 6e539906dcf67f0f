/**
 * Benchmark harness: `npm run bench [W1 W1-M W2 W3 W4 K1 K2 K3 V1] [--scale N] [--profile]` (default: the W ones; K1–K3,
 * pgdts's Kafka destination beside Debezium, are run when named: kafka-workloads.ts; so is V1, `pgdts verify --mode
 * rows` beside a psql | sort | comm comparison: verify-workloads.ts). Starts two embedded PostgreSQL 15
 * servers (source and destination, data in a temporary directory removed at the end), runs the named
 * workloads one after the other and prints, for each, pgdts and its baseline measured in the same run,
 * with the ratio against the target. Ratios matter, not absolute times: the machine may be shared.
 *
 * Progress goes to stderr, the tables to stdout. `BENCH_QUICK=1` shrinks sizes for a smoke run; see
 * `benchSizes` in workloads.ts for the other BENCH_* overrides. `BENCH_KEEP=1` keeps the temporary
 * directory (task files and pgdts logs) for inspection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedServer } from '../src/embedded/embedded-server.ts';
import type { BenchContext } from './harness.ts';
import { benchSizes, w1, w1m, w2, w3, w4, type BenchSizes } from './workloads.ts';
import { k1, k2, k3, kafkaBenchSizes, stopKafka } from './kafka-workloads.ts';
import { v1, verifyBenchSizes } from './verify-workloads.ts';

// `--scale N`: the K workloads' pgbench scale (K1; K2/K3 use min(N, 10)).
const argv = process.argv.slice(2);
const scaleAt = argv.indexOf('--scale');
const scaleArg = scaleAt >= 0 ? Number(argv[scaleAt + 1]) : undefined;
if (scaleAt >= 0) argv.splice(scaleAt, 2);
// `--profile`: W2 also prints CPU ms per 1,000 row changes (pgdts under node --cpu-prof, servers' /proc).
const profileAt = argv.indexOf('--profile');
const profile = profileAt >= 0;
if (profile) argv.splice(profileAt, 1);
const kSizes = kafkaBenchSizes(scaleArg);

const WORKLOADS = {
  W1: w1,
  'W1-M': w1m,
  W2: (ctx: BenchContext, sizes: BenchSizes) => w2(ctx, sizes, { profile }),
  W3: w3,
  W4: w4,
  K1: (ctx: BenchContext) => k1(ctx, kSizes),
  K2: (ctx: BenchContext) => k2(ctx, kSizes),
  K3: (ctx: BenchContext) => k3(ctx, kSizes),
  V1: (ctx: BenchContext) => v1(ctx, verifyBenchSizes()),
} as const;
type WorkloadName = keyof typeof WORKLOADS;

function isWorkload(s: string): s is WorkloadName {
  return Object.hasOwn(WORKLOADS, s);
}

const args = argv.map((a) => a.toUpperCase());
const bad = args.filter((a) => !isWorkload(a));
if (bad.length > 0) {
  process.stderr.write(`unknown workload(s) ${bad.join(', ')}; known: ${Object.keys(WORKLOADS).join(' ')}\n`);
  process.exit(2);
}
const selected: WorkloadName[] = args.length > 0 ? args.filter(isWorkload) : ['W1', 'W1-M', 'W2', 'W3', 'W4'];
const sizes = benchSizes();
const root = mkdtempSync(path.join(tmpdir(), 'pgdts-bench-'));
const t0 = performance.now();
const log = (msg: string) =>
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);

let source: EmbeddedServer | undefined;
let destination: EmbeddedServer | undefined;
let failed = false;
// A Ctrl-C still stops the servers and removes the data.
const interrupt = () => {
  log('interrupted: stopping the servers');
  void Promise.allSettled([source?.stop(), destination?.stop(), stopKafka()]).then(() => {
    rmSync(root, { recursive: true, force: true });
    process.exit(130);
  });
};
process.once('SIGINT', interrupt);
process.once('SIGTERM', interrupt);
try {
  log(`sizes ${JSON.stringify(sizes)}; data in ${root}`);
  // Autovacuum off on the source: its ANALYZE transactions would commit in the measured databases
  // and move the "last commit" the slots are compared against (see lastCommitEndLsn).
  source = await EmbeddedServer.start({
    version: 15,
    dataDir: path.join(root, 'source'),
    password: 'bench-pw',
    // synchronous_commit on (the embedded default is off): a logical walsender only sends flushed
    // WAL, so with it off every change waits up to wal_writer_delay (200 ms) before being decoded.
    // fsync stays off, so commits remain cheap.
    settings: { autovacuum: 'off', max_wal_size: "'4GB'", synchronous_commit: 'on' },
  });
  // Installed up front: creating it later would commit a transaction in the middle of a measurement.
  await source.query('postgres', 'CREATE EXTENSION IF NOT EXISTS pg_walinspect');
  destination = await EmbeddedServer.start({
    version: 15,
    dataDir: path.join(root, 'destination'),
    password: 'bench-pw',
    // BENCH_DESTINATION_SYNC_COMMIT=off measures durable acknowledgement on a destination whose
    // returned COMMITs are not yet flushed (pgdts then confirms only what its WAL flush covers).
    settings: {
      max_wal_size: "'4GB'",
      synchronous_commit: process.env.BENCH_DESTINATION_SYNC_COMMIT ?? 'on',
    },
  });
  const ctx: BenchContext = {
    source,
    destination,
    workDir: root,
    repoDir: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'),
    log,
  };
  for (const name of selected) {
    try {
      await WORKLOADS[name](ctx, sizes);
    } catch (e) {
      // Setup failures (pgbench -i, a baseline's own setup) end this workload, not the run.
      failed = true;
      process.stdout.write(`\n== ${name} could not run: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
} finally {
  await Promise.allSettled([source?.stop(), destination?.stop(), stopKafka()]);
  if (process.env.BENCH_KEEP === '1') log(`kept ${root}`);
  else rmSync(root, { recursive: true, force: true });
  log('done');
}
process.exit(failed ? 1 : 0);
