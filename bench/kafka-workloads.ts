/**
 * K1–K3: pgdts's Kafka destination beside Debezium 3.6.1.Final's PostgreSQL connector in Kafka
 * Connect standalone 4.3.0 (test/support/debezium-connect.ts, JsonConverter without schemas,
 * `plugin.name=pgoutput`, `max.batch.size=8192`, `max.queue.size=32768`, `-Xmx512m`), same source
 * server, same broker (the tests' Kafka 4.3.0, test/support/kafka-broker.ts, started on first use).
 * Each side reads its own copy of one pgbench template, so both see identical rows.
 *
 * Completion is counted in the broker: the sum of the end offsets of the run's four pgbench topics
 * (one partition each on both sides). Peak RSS: bench/proc.ts RssSampler over the process tree
 * (the whole JVM for Debezium, node for pgdts).
 *
 * - K1: snapshot of `pgbench -i -s <scale>` (default 20: 2M accounts rows), rows/s from spawn until
 *   every row is in the topics (pgdts: `syncTypes: [full]`; Debezium: `snapshot.mode=initial`).
 * - K2: both streaming (`snapshot.mode=no_data` / `syncTypes: [incremental]`), stopped (SIGTERM),
 *   `pgbench -n -c 4 -j 2 -T <s>` builds a backlog in the slot, restarted: events/s from the
 *   restart until the topics hold 4 events per pgbench transaction more.
 * - K3: streaming; `pgbench -n -c 4 -j 2 -R <rate> -T <s>`; a consumer reads the pgbench_history
 *   topic while the load runs: latency = receive time − `source.ts_ms` (the source commit time in
 *   both formats), p50/p99 over every history event (one per pgbench transaction).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Admin, Consumer } from '@platformatic/kafka';
import { startDebezium, type DebeziumWorker } from '../test/support/debezium-connect.ts';
import { KafkaBroker } from '../test/support/kafka-broker.ts';
import {
  cloneDatabase,
  pgbenchInit,
  pgbenchRun,
  sleep,
  startPgdts,
  waitFor,
  type BenchContext,
} from './harness.ts';
import { RssSampler, type Running } from './proc.ts';
import { fmt, mb, measure, printTable, status, verdict, type Measurement } from './report.ts';

/** Sizes of K1–K3 (`--scale N` / BENCH_K_SCALE, BENCH_K2_SECONDS, BENCH_K3_SECONDS, BENCH_K3_RATE). */
export interface KafkaBenchSizes {
  readonly k1Scale: number;
  /** Scale of the K2/K3 template. */
  readonly kScale: number;
  readonly k2Seconds: number;
  readonly k3Seconds: number;
  readonly k3Rate: number;
}

export function kafkaBenchSizes(
  scaleArg: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): KafkaBenchSizes {
  const quick = env.BENCH_QUICK === '1';
  const k1 = scaleArg ?? Number(env.BENCH_K_SCALE ?? (quick ? 1 : 20));
  return {
    k1Scale: k1,
    kScale: Math.max(1, Math.min(k1, 10)),
    k2Seconds: Number(env.BENCH_K2_SECONDS ?? (quick ? 5 : 30)),
    k3Seconds: Number(env.BENCH_K3_SECONDS ?? (quick ? 5 : 30)),
    k3Rate: Number(env.BENCH_K3_RATE ?? 1000),
  };
}

const TABLES = ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history'] as const;

let broker: KafkaBroker | undefined;
let runSeq = 0;

async function theBroker(ctx: BenchContext): Promise<KafkaBroker> {
  if (broker === undefined) {
    ctx.log('starting the Kafka broker');
    broker = await KafkaBroker.start(path.join(ctx.workDir, 'kafka'));
  }
  return broker;
}

/** Stops the broker if a K workload started it. */
export async function stopKafka(): Promise<void> {
  await broker?.stop();
  broker = undefined;
}

/**
 * Sum of the end offsets of `<prefix>.public.<pgbench table>`; a topic not created yet counts 0.
 * Topics are listed first: asking the offsets of a missing topic waits for metadata retries
 * (seconds), which would add a fixed delay to every poll.
 */
async function recordCount(bootstrap: string, prefix: string): Promise<number> {
  const admin = new Admin({ clientId: 'bench-count', bootstrapBrokers: [bootstrap] });
  try {
    const wanted = new Set(TABLES.map((t) => `${prefix}.public.${t}`));
    const topics = (await admin.listTopics()).filter((t) => wanted.has(t));
    if (topics.length === 0) return 0;
    const listed = await admin.listOffsets({
      topics: topics.map((name) => ({ name, partitions: [{ partitionIndex: 0, timestamp: -1n }] })),
    });
    let n = 0;
    for (const t of listed) for (const p of t.partitions) n += Number(p.offset);
    return n;
  } finally {
    await admin.close();
  }
}

async function waitCount(
  bootstrap: string,
  prefix: string,
  target: number,
  alive: () => string | undefined,
): Promise<void> {
  await waitFor(
    `${target} records in ${prefix}.*`,
    async () => (await recordCount(bootstrap, prefix)) >= target,
    3_600_000,
    alive,
  );
}

/** One side of a K workload: how to start it streaming or snapshotting, and its process. */
interface Side {
  readonly label: string;
  readonly prefix: string;
  /** Starts the side; `snapshot`: copy the rows first. Resolves when running (not yet streaming). */
  start(
    snapshot: boolean,
  ): Promise<{ pid: number; alive: () => string | undefined; stop: () => Promise<void> }>;
  /** Resolves once the side streams from its slot. */
  streaming(): Promise<void>;
}

function debeziumSide(ctx: BenchContext, bootstrap: string, db: string, tag: string): Side {
  const prefix = `dbz${tag}`;
  let w: DebeziumWorker | undefined;
  const workDir = path.join(ctx.workDir, prefix);
  return {
    label: 'Debezium 3.6.1 (Connect standalone)',
    prefix,
    start(snapshot) {
      w = startDebezium({
        bootstrap,
        source: {
          host: ctx.source.host,
          port: ctx.source.port,
          user: ctx.source.user,
          password: ctx.source.password,
          database: db,
        },
        workDir,
        topicPrefix: prefix,
        slot: `dbz_${tag}`,
        publication: `dbz_${tag}`,
        schemas: false,
        tables: TABLES.map((t) => `public\\.${t}`),
        connector: { 'snapshot.mode': snapshot ? 'initial' : 'no_data' },
      });
      const worker = w;
      return Promise.resolve({
        pid: worker.pid,
        alive: () =>
          worker.child.exitCode === null && worker.child.signalCode === null
            ? undefined
            : `Connect exited (${worker.child.exitCode ?? worker.child.signalCode}); log ${worker.logFile}`,
        stop: () => worker.stop(),
      });
    },
    async streaming() {
      await w?.streaming();
    },
  };
}

function pgdtsSide(ctx: BenchContext, bootstrap: string, db: string, tag: string, full: boolean): Side {
  const prefix = `pgdts${tag}`;
  const name = `kbench_${tag}`;
  const file = path.join(ctx.workDir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      `source: { type: postgresql, url: ${ctx.source.url(db)} }`,
      'destination:',
      '  type: kafka',
      `  bootstrapServers: [${bootstrap}]`,
      `  topic: '${prefix}.#{source_schema_name}.#{source_table_name}'`,
      `  offsetsTopic: pgdts.offsets.${tag}`,
      '  newTopicPartitions: 1',
      '  deliveryGuarantee: at-least-once',
      `syncTypes: [${full ? 'full' : 'incremental'}]`,
      'objects: [ { schema: public } ]',
      '',
    ].join('\n'),
  );
  let p: Running | undefined;
  return {
    label: 'pgdts (kafka, at-least-once)',
    prefix,
    start() {
      p = startPgdts(ctx, file);
      const r = p;
      return Promise.resolve({
        pid: r.child.pid ?? 0,
        alive: () =>
          full || (r.child.exitCode === null && r.child.signalCode === null)
            ? undefined
            : `pgdts exited (${r.child.exitCode ?? r.child.signalCode}): ${r.stderr().slice(-300)}`,
        stop: async () => {
          await r.stop('SIGTERM');
        },
      });
    },
    async streaming() {
      const log = `${file}.log`;
      await waitFor(
        'pgdts streaming',
        () => Promise.resolve(existsSync(log) && readFileSync(log, 'utf8').includes('streaming from')),
        600_000,
      );
    },
  };
}

function ratioLine(
  what: string,
  ours: Measurement,
  theirs: Measurement,
  rate: (m: Measurement) => number | undefined,
  target: number,
): string[] {
  const a = rate(ours);
  const b = rate(theirs);
  const ratio = a !== undefined && b !== undefined ? a / b : undefined;
  const rss =
    ours.ok && theirs.ok && ours.peakRssBytes !== undefined && theirs.peakRssBytes !== undefined
      ? ours.peakRssBytes / theirs.peakRssBytes
      : undefined;
  return [
    `${what} pgdts / Debezium = ${fmt(ratio, 2)} (target ≥ ${target}): ${verdict(ratio === undefined ? undefined : ratio >= target)}`,
    `peak RSS pgdts / Debezium = ${fmt(rss, 2)} (target < 0.5): ${verdict(rss === undefined ? undefined : rss < 0.5)}`,
  ];
}

function rateOf(m: Measurement, key: string): number | undefined {
  if (!m.ok) return undefined;
  const v = Number(m.extra?.[key]);
  return Number.isFinite(v) ? v : undefined;
}

/** K1: snapshot rows/s. */
export async function k1(ctx: BenchContext, sizes: KafkaBenchSizes): Promise<void> {
  const b = await theBroker(ctx);
  const tpl = `kbench_tpl_s${sizes.k1Scale}`;
  ctx.log(`K1: pgbench -i -s ${sizes.k1Scale}`);
  await pgbenchInit(ctx.source, tpl, sizes.k1Scale);
  const rows = sizes.k1Scale * (100_000 + 10 + 1);
  const one = async (side: (db: string, tag: string) => Side): Promise<Measurement> => {
    const tag = `k1_${++runSeq}`;
    const db = `kbench_${tag}`;
    await cloneDatabase(ctx.source, tpl, db);
    const s = side(db, tag);
    ctx.log(`K1: ${s.label}`);
    return measure(s.label, async () => {
      const t0 = performance.now();
      const h = await s.start(true);
      const rss = new RssSampler(h.pid);
      try {
        await waitCount(b.bootstrap, s.prefix, rows, h.alive);
        const seconds = (performance.now() - t0) / 1000;
        return {
          ok: true,
          label: s.label,
          seconds,
          peakRssBytes: rss.peakBytes(),
          extra: { 'rows/s': fmt(rows / seconds, 0) },
        };
      } finally {
        rss.stop();
        await h.stop();
      }
    });
  };
  const ours = await one((db, tag) => pgdtsSide(ctx, b.bootstrap, db, tag, true));
  const theirs = await debeziumOrSkip(() => one((db, tag) => debeziumSide(ctx, b.bootstrap, db, tag)));
  printTable(
    `K1 snapshot of pgbench scale ${sizes.k1Scale} (${rows} rows) into Kafka`,
    ['method', 'seconds', 'rows/s', 'peak RSS MB', 'status'],
    [ours, theirs].map((m) => [
      m.label,
      m.ok ? fmt(m.seconds) : '-',
      m.ok ? (m.extra?.['rows/s'] ?? '-') : '-',
      m.ok ? mb(m.peakRssBytes) : '-',
      status(m),
    ]),
    ratioLine('rows/s', ours, theirs, (m) => rateOf(m, 'rows/s'), 2),
  );
}

/** Template of K2/K3 (pgbench -i -s kScale), made once. */
async function streamTemplate(ctx: BenchContext, sizes: KafkaBenchSizes): Promise<string> {
  const tpl = `kbench_stream_tpl_s${sizes.kScale}`;
  const r = await ctx.source.query<{ n: string }>(
    'postgres',
    'SELECT count(*) AS n FROM pg_database WHERE datname = $1',
    [tpl],
  );
  if (Number(r[0]?.n) === 0) {
    ctx.log(`pgbench -i -s ${sizes.kScale} into ${tpl}`);
    await pgbenchInit(ctx.source, tpl, sizes.kScale);
  }
  return tpl;
}

/** Starts a side streaming and waits until a probe change reached its topics; returns its handle. */
async function streamingSide(ctx: BenchContext, bootstrap: string, s: Side, db: string) {
  const h = await s.start(false);
  await s.streaming();
  const before = await recordCount(bootstrap, s.prefix);
  await ctx.source.query(db, 'UPDATE pgbench_branches SET bbalance = bbalance WHERE bid = 1');
  await waitCount(bootstrap, s.prefix, before + 1, h.alive);
  return h;
}

/** K2: drain of a pgbench backlog, events/s. */
export async function k2(ctx: BenchContext, sizes: KafkaBenchSizes): Promise<void> {
  const b = await theBroker(ctx);
  const tpl = await streamTemplate(ctx, sizes);
  const one = async (side: (db: string, tag: string) => Side): Promise<Measurement> => {
    const tag = `k2_${++runSeq}`;
    const db = `kbench_${tag}`;
    await cloneDatabase(ctx.source, tpl, db);
    const s = side(db, tag);
    ctx.log(`K2: ${s.label}`);
    return measure(s.label, async () => {
      const first = await streamingSide(ctx, b.bootstrap, s, db);
      // Offsets flushed (Connect: offset.flush.interval.ms=1000) before the stop.
      await sleep(2_000);
      await first.stop();
      const base = await recordCount(b.bootstrap, s.prefix);
      ctx.log(`K2: pgbench -T ${sizes.k2Seconds} while ${s.label} is stopped`);
      const load = await pgbenchRun(ctx.source, db, ['-c', '4', '-j', '2', '-T', String(sizes.k2Seconds)]);
      const events = load.transactions * 4;
      const t0 = performance.now();
      const h = await s.start(false);
      const rss = new RssSampler(h.pid);
      try {
        await waitCount(b.bootstrap, s.prefix, base + events, h.alive);
        const seconds = (performance.now() - t0) / 1000;
        return {
          ok: true,
          label: s.label,
          seconds,
          peakRssBytes: rss.peakBytes(),
          extra: { events: String(events), 'events/s': fmt(events / seconds, 0) },
        };
      } finally {
        rss.stop();
        await h.stop();
      }
    });
  };
  // Only the first start waits for `streaming from` in the (appended) log: the restart is timed by
  // the records alone.
  const ours = await one((db, tag) => pgdtsSide(ctx, b.bootstrap, db, tag, false));
  const theirs = await debeziumOrSkip(() => one((db, tag) => debeziumSide(ctx, b.bootstrap, db, tag)));
  printTable(
    `K2 drain of a ${sizes.k2Seconds} s pgbench TPC-B backlog (scale ${sizes.kScale}) into Kafka`,
    ['method', 'events', 'seconds', 'events/s', 'peak RSS MB', 'status'],
    [ours, theirs].map((m) => [
      m.label,
      m.ok ? (m.extra?.events ?? '-') : '-',
      m.ok ? fmt(m.seconds) : '-',
      m.ok ? (m.extra?.['events/s'] ?? '-') : '-',
      m.ok ? mb(m.peakRssBytes) : '-',
      status(m),
    ]),
    [
      ...ratioLine('events/s', ours, theirs, (m) => rateOf(m, 'events/s'), 2),
      'seconds: from the restart (JVM / node start-up included) until the topics hold every event',
    ],
  );
}

/**
 * Latencies (ms) of the history events committed at or after `sinceMs`, read while they arrive.
 * `ready` resolves once the consumer received its first record (the probe row, committed before
 * `sinceMs`): it has joined its group and fetches, so its start-up is not counted as latency.
 */
async function historyLatencies(
  bootstrap: string,
  topic: string,
  sinceMs: number,
  expected: () => number | undefined,
): Promise<{ ready: Promise<void>; stop: () => Promise<number[]> }> {
  const c = new Consumer({
    clientId: 'bench-latency',
    groupId: `bench-latency-${topic}`,
    bootstrapBrokers: [bootstrap],
  });
  const stream = await c.consume({
    topics: [topic],
    mode: 'earliest',
    autocommit: false,
    maxWaitTime: 20,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
  });
  const out: number[] = [];
  let received: () => void = () => undefined;
  const ready = new Promise<void>((r) => (received = r));
  stream.on('data', (m: { value: Buffer | undefined; timestamp: bigint }) => {
    const now = Date.now();
    received();
    if (m.value === undefined || m.value.length === 0) return;
    const ts = (JSON.parse(m.value.toString()) as { source?: { ts_ms?: number } }).source?.ts_ms;
    if (ts !== undefined && ts >= sinceMs) {
      out.push(now - ts);
      if (process.env.BENCH_K3_TRACE !== undefined)
        // The record timestamp is the producer's create time: it splits the latency into the part
        // before the send (source, decode, batching) and the part after (broker, consumer fetch).
        appendFileSync(process.env.BENCH_K3_TRACE, `${ts} ${now - ts} ${Number(m.timestamp) - ts}\n`);
    }
  });
  return {
    ready,
    async stop() {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && out.length < (expected() ?? 0)) await sleep(200);
      await new Promise<void>((r) => {
        stream.close(() => r());
      });
      await new Promise<void>((r) => {
        c.close(true, () => r());
      });
      return out;
    },
  };
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Debezium's measurement, or a failed one saying it was skipped when `BENCH_K_SKIP_DEBEZIUM=1` (a
 * quicker loop while working on pgdts' side; figures to compare need both sides of one run).
 */
async function debeziumOrSkip(run: () => Promise<Measurement>): Promise<Measurement> {
  if (process.env.BENCH_K_SKIP_DEBEZIUM !== '1') return run();
  return {
    ok: false,
    label: 'Debezium 3.6.1 (Connect standalone)',
    error: 'skipped (BENCH_K_SKIP_DEBEZIUM=1)',
  };
}

/** K3: commit-to-consumer latency at a fixed rate. */
export async function k3(ctx: BenchContext, sizes: KafkaBenchSizes): Promise<void> {
  const b = await theBroker(ctx);
  const tpl = await streamTemplate(ctx, sizes);
  const one = async (side: (db: string, tag: string) => Side): Promise<Measurement> => {
    const tag = `k3_${++runSeq}`;
    const db = `kbench_${tag}`;
    await cloneDatabase(ctx.source, tpl, db);
    const s = side(db, tag);
    ctx.log(`K3: ${s.label}`);
    return measure(s.label, async () => {
      const h = await streamingSide(ctx, b.bootstrap, s, db);
      const rss = new RssSampler(h.pid);
      try {
        // The history topic exists once one history row went through (counted before the insert:
        // pgdts creates the topics up front and may deliver the row before a count after it).
        const before = await recordCount(b.bootstrap, s.prefix);
        await ctx.source.query(
          db,
          'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 0, now())',
        );
        await waitCount(b.bootstrap, s.prefix, before + 1, h.alive);
        const since = Date.now() + 1;
        const load: { transactions: number | undefined } = { transactions: undefined };
        const reader = await historyLatencies(
          b.bootstrap,
          `${s.prefix}.public.pgbench_history`,
          since,
          () => load.transactions,
        );
        await Promise.race([
          reader.ready,
          sleep(30_000).then(() => {
            throw new Error('the latency consumer received nothing in 30 s');
          }),
        ]);
        const r = await pgbenchRun(ctx.source, db, [
          '-c',
          '4',
          '-j',
          '2',
          '-R',
          String(sizes.k3Rate),
          '-T',
          String(sizes.k3Seconds),
        ]);
        load.transactions = r.transactions;
        const lat = (await reader.stop()).sort((x, y) => x - y);
        return {
          ok: true,
          label: s.label,
          seconds: sizes.k3Seconds,
          peakRssBytes: rss.peakBytes(),
          extra: {
            events: `${lat.length}/${r.transactions}`,
            p50: fmt(percentile(lat, 50), 0),
            p99: fmt(percentile(lat, 99), 0),
            max: fmt(lat[lat.length - 1], 0),
          },
        };
      } finally {
        rss.stop();
        await h.stop();
      }
    });
  };
  const ours = await one((db, tag) => pgdtsSide(ctx, b.bootstrap, db, tag, false));
  const theirs = await debeziumOrSkip(() => one((db, tag) => debeziumSide(ctx, b.bootstrap, db, tag)));
  const p99 = rateOf(ours, 'p99');
  printTable(
    `K3 commit-to-consumer latency at pgbench -R ${sizes.k3Rate} for ${sizes.k3Seconds} s (scale ${sizes.kScale})`,
    ['method', 'history events', 'p50 ms', 'p99 ms', 'max ms', 'peak RSS MB', 'status'],
    [ours, theirs].map((m) => [
      m.label,
      m.ok ? (m.extra?.events ?? '-') : '-',
      m.ok ? (m.extra?.p50 ?? '-') : '-',
      m.ok ? (m.extra?.p99 ?? '-') : '-',
      m.ok ? (m.extra?.max ?? '-') : '-',
      m.ok ? mb(m.peakRssBytes) : '-',
      status(m),
    ]),
    [
      `pgdts p99 = ${fmt(p99, 0)} ms (target < 100): ${verdict(p99 === undefined ? undefined : p99 < 100)}`,
      `p99 pgdts / Debezium = ${fmt(p99 !== undefined ? p99 / (rateOf(theirs, 'p99') ?? NaN) : undefined, 2)}`,
      'latency = consumer receive time − source.ts_ms (commit time); Debezium keeps its default poll.interval.ms=500',
    ],
  );
}
