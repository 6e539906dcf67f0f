/**
 * `npm run demo -- --kafka`: the demo with a Kafka destination. It starts an embedded PostgreSQL 17
 * source and a real Apache Kafka 4.3.0 broker (kafka-broker.ts, the tests' broker; its jars from
 * {@link KAFKA_JARS_COMMAND}), fills the sample shop database, and runs a task (full and incremental
 * sync into topics `demo.<schema>.<table>` as Debezium change events) in-process while the write
 * workload changes the source. Every 5 s it prints how many events each topic holds; on Ctrl-C
 * (SIGINT, SIGTERM, SIGHUP) or after `DEMO_SECONDS` it stops the workload, waits until the slot
 * confirms the last change, reads the busiest topic back and prints its events per operation and
 * the last few events, checks every keyed topic against its table ({@link checkTopics}), then
 * releases the task and stops both servers.
 *
 * Under `.pgdts/demo/`: the source's data directory and password (shared with the PostgreSQL demo),
 * and `kafka/` (formatted anew each run). `DEMO_ROWS` defaults to 100,000 here.
 * Exit codes: 0 events flowed, the destination caught up and every keyed topic matches its table, 1
 * stopped before incremental sync, not caught up or a topic differs, 2 an error (the jars or Java
 * missing included).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Admin, Consumer } from '@platformatic/kafka';
import pg from 'pg';
import { ProgressRenderer } from '../cli/progress-renderer.ts';
import { withConnectors } from '../connectors/open-connectors.ts';
import { CancelledError, ConfigError, PgdtsError } from '../core/errors.ts';
import type { ProgressEvent } from '../core/progress.ts';
import { parseTaskConfig, slotNameOf, type TaskConfig } from '../core/task-config.ts';
import { EmbeddedServer } from '../embedded/embedded-server.ts';
import { connect, redact, resolveEndpoint } from '../pg/connection.ts';
import { releaseTask } from '../pipeline/release-task.ts';
import { runTask } from '../pipeline/task-runner.ts';
import { readTopic } from '../sink/kafka/read-topic.ts';
import { KAFKA_JARS_COMMAND, KafkaBroker, kafkaJarsPresent } from './kafka-broker.ts';
import { createSampleDatabase, SAMPLE_SCHEMAS } from './sample-database.ts';
import { startWriteWorkload, type WriteWorkload } from './write-workload.ts';

const DB = 'shop';
const TASK_NAME = 'demo_kafka';
const TOPIC_PREFIX = 'demo';
const OFFSETS_TOPIC = `${TOPIC_PREFIX}.offsets`;
const DEMO_DIR = path.resolve('.pgdts', 'demo');
/** How long to wait for the slot to confirm the last change after the workload stopped, ms. */
const CATCH_UP_TIMEOUT_MS = 120_000;
/** How often the topics' event counts are printed while the task runs, ms. */
const COUNTS_EVERY_MS = 5_000;

const count = (n: number | bigint) => n.toLocaleString('en-US');
let activeRenderer: ProgressRenderer | undefined;

function say(line: string): void {
  if (activeRenderer) activeRenderer.handle({ kind: 'log', level: 'info', message: line });
  else process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

/**
 * `DEMO_ROWS` (default 100,000) and `DEMO_SECONDS` (default: until a signal).
 * @throws {ConfigError} when a value is not a number in range.
 */
function readSettings(env: NodeJS.ProcessEnv): { rows: number; seconds: number | undefined } {
  const rows = env.DEMO_ROWS ? Number(env.DEMO_ROWS) : 100_000;
  if (!Number.isInteger(rows) || rows < 100)
    throw new ConfigError('DEMO_ROWS', 'must be an integer of at least 100');
  if (!env.DEMO_SECONDS) return { rows, seconds: undefined };
  const seconds = Number(env.DEMO_SECONDS);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new ConfigError('DEMO_SECONDS', 'must be a positive number of seconds');
  return { rows, seconds };
}

/** The broker's process id while the demo runs: a SIGKILLed demo leaves its detached JVM running. */
const BROKER_PID_FILE = path.join(DEMO_DIR, 'kafka.pid');

/**
 * Kills the broker a SIGKILLed earlier run left running (its pid file), if that process is still a
 * Kafka JVM (Linux /proc; the demo runs on Linux x64 only), so that its ports and data go.
 */
function stopLeftoverBroker(): void {
  if (!existsSync(BROKER_PID_FILE)) return;
  const pid = Number(readFileSync(BROKER_PID_FILE, 'utf8').trim());
  rmSync(BROKER_PID_FILE, { force: true });
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // gone already
  }
  if (!cmdline.includes('kafka.Kafka')) return; // the pid was reused by another program
  process.kill(pid, 'SIGKILL');
  say(`stopped the Kafka broker (PID ${pid}) that a killed demo run had left running`);
}

/** The source's superuser password, shared with the PostgreSQL demo (kept mode 0600). */
function demoPassword(): string {
  const file = path.join(DEMO_DIR, 'password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  rmSync(path.join(DEMO_DIR, 'source'), { recursive: true, force: true });
  const password = randomBytes(15).toString('base64url');
  writeFileSync(file, password, { mode: 0o600 });
  return password;
}

/** Events per topic of the demo (end offsets summed over partitions; tombstones included). */
async function topicCounts(bootstrap: string): Promise<Map<string, bigint>> {
  const admin = new Admin({ clientId: 'pgdts-demo', bootstrapBrokers: [bootstrap] });
  const consumer = new Consumer({
    clientId: 'pgdts-demo',
    groupId: 'pgdts-demo-counts',
    bootstrapBrokers: [bootstrap],
  });
  try {
    const topics = (await admin.listTopics())
      .filter((t) => t.startsWith(`${TOPIC_PREFIX}.`) && t !== OFFSETS_TOPIC)
      .sort();
    const out = new Map<string, bigint>();
    if (topics.length === 0) return out;
    const ends = await consumer.listOffsets({ topics });
    for (const t of topics)
      out.set(
        t,
        (ends.get(t) ?? []).reduce((a, b) => a + b, 0n),
      );
    return out;
  } finally {
    await Promise.all([admin.close().catch(() => undefined), consumer.close().catch(() => undefined)]);
  }
}

/** Prints the events of `counts` as one line: total, then the three busiest topics. */
function printCounts(counts: Map<string, bigint>): void {
  const total = [...counts.values()].reduce((a, b) => a + b, 0n);
  const busiest = [...counts].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : 0)).slice(0, 3);
  say(
    `kafka: ${count(total)} events in ${counts.size} topics (${busiest.map(([t, n]) => `${t} ${count(n)}`).join(', ')})`,
  );
}

/** Polls until the slot confirmed `target`; false on timeout or when the task ended. */
async function waitForCatchUp(
  source: EmbeddedServer,
  slot: string,
  target: string,
  gaveUp: () => boolean,
): Promise<boolean> {
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  while (Date.now() < deadline && !gaveUp()) {
    const [r] = await source.query<{ ok: boolean | null }>(
      DB,
      'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
      [slot, target],
    );
    if (r?.ok === true) return true;
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

/**
 * Reads `topic` back (committed events, as the sink's own reader does) and prints its events per
 * operation and the last `n` change events, each cut to 400 characters.
 */
async function printEventsOf(bootstrap: string, topic: string, n: number): Promise<void> {
  const records = await readTopic({ clientId: 'pgdts-demo', bootstrapBrokers: [bootstrap] }, topic);
  const ops = new Map<string, number>();
  let tombstones = 0;
  const changes: string[] = [];
  for (const r of records) {
    if (r.value === null) {
      tombstones++;
      continue;
    }
    const e = JSON.parse(r.value.toString('utf8')) as {
      op?: string;
      before?: unknown;
      after?: unknown;
      source?: { txId?: unknown; lsn?: unknown };
    };
    const op = e.op ?? '?';
    ops.set(op, (ops.get(op) ?? 0) + 1);
    // The envelope's op, before and after, and where in the source it comes from (Debezium's source block).
    const line = JSON.stringify({
      op,
      before: e.before,
      after: e.after,
      source: { txId: e.source?.txId, lsn: e.source?.lsn },
    });
    if (op !== 'r' || changes.length < n) changes.push(line);
  }
  const names: Record<string, string> = {
    r: 'read (full sync)',
    c: 'create',
    u: 'update',
    d: 'delete',
    t: 'truncate',
  };
  say(
    `read back ${topic}: ${count(records.length)} records: ${[...ops].map(([op, k]) => `${count(k)} ${names[op] ?? op}`).join(', ')}, ${count(tombstones)} tombstones`,
  );
  say(
    `the last ${Math.min(n, changes.length)} change events of ${topic} (op, before, after, source txId and lsn):`,
  );
  for (const e of changes.slice(-n)) {
    process.stdout.write(`  ${e.length > 400 ? `${e.slice(0, 400)}...` : e}\n`);
  }
}

/** What {@link checkTopics} found for one topic. */
interface TopicCheck {
  readonly topic: string;
  /** Keys whose last event is not a delete (nor a tombstone). */
  readonly liveKeys: number;
  readonly sourceRows: number;
}

/**
 * Reads every topic of the demo back and checks it as a consumer replaying it would: per key, the
 * last event decides whether the row exists (a delete or a tombstone: it does not), so the live keys
 * of a table's topic must be as many as the table's rows, and, for `shop.orders` (a bigint key, the
 * same in JSON on both sides), the very same keys. Keyless topics (audit.page_views) are left out:
 * their events cannot be matched to rows.
 */
async function checkTopics(
  source: EmbeddedServer,
  bootstrap: string,
  topics: readonly string[],
): Promise<{ checked: TopicCheck[]; differing: string[] }> {
  const checked: TopicCheck[] = [];
  const differing: string[] = [];
  for (const topic of topics) {
    const [, schema, table] = topic.split('.');
    if (schema === undefined || table === undefined) continue;
    const records = await readTopic({ clientId: 'pgdts-demo', bootstrapBrokers: [bootstrap] }, topic);
    if (records.every((r) => r.key === null)) continue;
    const live = new Set<string>();
    for (const r of records) {
      if (r.key === null) continue;
      const key = r.key.toString('utf8');
      const op =
        r.value === null ? 'tombstone' : (JSON.parse(r.value.toString('utf8')) as { op?: string }).op;
      if (op === 'd' || op === 'tombstone') live.delete(key);
      else live.add(key);
    }
    const name = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
    const [c] = await source.query<{ n: string }>(DB, `SELECT count(*)::text AS n FROM ${name}`);
    const sourceRows = Number(c?.n ?? -1);
    checked.push({ topic, liveKeys: live.size, sourceRows });
    if (live.size !== sourceRows) {
      differing.push(
        `${topic}: ${count(live.size)} live keys, ${schema}.${table} has ${count(sourceRows)} rows`,
      );
    } else if (topic === `${TOPIC_PREFIX}.shop.orders`) {
      // The event key is the JSON of the primary key (schemas: false): {"id":N}.
      const ids = await source.query<{ id: string }>(DB, 'SELECT id::text AS id FROM shop.orders');
      const missing = ids.filter((r) => !live.has(JSON.stringify({ id: Number(r.id) }))).length;
      if (missing > 0) differing.push(`${topic}: ${count(missing)} order ids of the source have no live key`);
    }
  }
  return { checked, differing };
}

type TaskOutcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/**
 * Runs the task with the workload until a stop request, then stops the workload and waits for the
 * slot. @returns whether incremental sync ran and caught up.
 */
async function runWithWorkload(
  task: TaskConfig,
  source: EmbeddedServer,
  bootstrap: string,
  settings: { rows: number; seconds: number | undefined },
  stopped: Promise<string>,
  stopNow: (reason: string) => void,
): Promise<boolean> {
  const controller = new AbortController();
  const renderer = new ProgressRenderer();
  activeRenderer = renderer;
  let workload: WriteWorkload | undefined;
  let timer: NodeJS.Timeout | undefined;
  const params = resolveEndpoint(task.source, process.env, 'source');
  const onProgress = (e: ProgressEvent) => {
    renderer.handle(e);
    if (e.kind !== 'phase' || e.phase !== 'incremental' || workload !== undefined) return;
    workload = startWriteWorkload(
      () => connect(params, { role: 'source', applicationName: 'pgdts-demo-workload' }),
      {
        bigTransactionEveryMs: 5_000,
        bigTransactionRows: Math.min(20_000, Math.max(500, Math.round(settings.rows / 20))),
        onError: (err) => stopNow(`the write workload failed: ${(err as Error).message}`),
      },
    );
    say(
      `full sync done; write workload started on the source; ${settings.seconds === undefined ? 'press Ctrl-C to stop' : `stopping in ${settings.seconds} s`}`,
    );
    if (settings.seconds !== undefined)
      timer = setTimeout(() => stopNow(`DEMO_SECONDS=${settings.seconds} elapsed`), settings.seconds * 1000);
  };
  const ticker = setInterval(() => {
    topicCounts(bootstrap).then(printCounts, () => undefined);
  }, COUNTS_EVERY_MS);
  let ended: TaskOutcome | undefined;
  const taskEnded: Promise<TaskOutcome> = withConnectors(task, (c) =>
    runTask(task, { ...c, signal: controller.signal, onProgress }),
  ).then(
    () => (ended = { ok: true }),
    (error: unknown) => (ended = { ok: false, error }),
  );
  const settle = (o: TaskOutcome) => {
    if (!o.ok && !(o.error instanceof CancelledError)) throw o.error;
  };
  try {
    const first = await Promise.race([
      stopped.then((reason) => ({ kind: 'stop' as const, reason })),
      taskEnded.then((outcome) => ({ kind: 'ended' as const, outcome })),
    ]);
    if (first.kind === 'ended') {
      settle(first.outcome);
      throw new PgdtsError('INTERNAL', 'the task ended although incremental sync runs until stopped');
    }
    say(`stopping: ${first.reason}`);
    if (workload === undefined) return false;
    const stats = await workload.stop();
    const [wal] = await source.query<{ lsn: string }>(DB, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    say(
      `write workload stopped: ${count(stats.transactions)} transactions, ${count(stats.rows)} rows; waiting for the slot to confirm ${wal?.lsn ?? '?'}`,
    );
    const caughtUp = await waitForCatchUp(
      source,
      slotNameOf(task),
      wal?.lsn ?? '0/0',
      () => ended !== undefined,
    );
    if (ended !== undefined) settle(ended);
    say(
      caughtUp
        ? 'every change is in Kafka (the slot confirmed the last one)'
        : 'the task did NOT catch up in time',
    );
    return caughtUp;
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    controller.abort();
    const last = await taskEnded;
    if (workload) await workload.stop().catch(() => undefined);
    renderer.close();
    activeRenderer = undefined;
    if (!last.ok && !(last.error instanceof CancelledError)) say(`the task ended with ${String(last.error)}`);
  }
}

/** Runs the Kafka demo (see the file comment); resolves to the exit code. */
export async function runKafkaDemo(): Promise<number> {
  let stopNow: (reason: string) => void = () => undefined;
  let requested = false;
  const stopped = new Promise<string>((r) => (stopNow = (reason) => ((requested = true), r(reason))));
  let signals = 0;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (++signals > 1) process.exit(130);
      stopNow(`${sig} received`);
    });
  }
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  if (!kafkaJarsPresent()) {
    process.stderr.write(
      `demo: the Kafka broker's jars are missing: run \`${KAFKA_JARS_COMMAND}\` in ${path.resolve(import.meta.dirname, '../..')} first (Maven and Java 17)\n`,
    );
    return 2;
  }
  let password: string | undefined;
  let source: EmbeddedServer | undefined;
  let broker: KafkaBroker | undefined;
  let task: TaskConfig | undefined;
  try {
    const settings = readSettings(process.env);
    mkdirSync(DEMO_DIR, { recursive: true });
    password = demoPassword();
    const kafkaDir = path.join(DEMO_DIR, 'kafka');
    stopLeftoverBroker();
    rmSync(kafkaDir, { recursive: true, force: true });
    say('starting a PostgreSQL 17 source and an Apache Kafka 4.3.0 broker (KRaft, one JVM)');
    const [s, b] = await Promise.allSettled([
      EmbeddedServer.start({ version: 17, dataDir: path.join(DEMO_DIR, 'source'), password, detached: true }),
      KafkaBroker.start(kafkaDir, { detached: true }),
    ]);
    if (s.status === 'fulfilled') source = s.value;
    if (b.status === 'fulfilled') broker = b.value;
    if (s.status === 'rejected') throw s.reason;
    if (b.status === 'rejected') throw b.reason;
    if (source === undefined || broker === undefined)
      throw new PgdtsError('INTERNAL', 'servers did not start');
    if (broker.pid !== undefined) writeFileSync(BROKER_PID_FILE, String(broker.pid));
    say(
      `source on 127.0.0.1:${source.port}, Kafka on ${broker.bootstrap} (log ${path.relative(process.cwd(), broker.logFile)})`,
    );
    const doc = {
      name: TASK_NAME,
      source: { type: 'postgresql', url: source.url(DB) },
      destination: {
        type: 'kafka',
        bootstrapServers: [broker.bootstrap],
        topic: `${TOPIC_PREFIX}.#{source_schema_name}.#{source_table_name}`,
        offsetsTopic: OFFSETS_TOPIC,
        partitionPolicy: 'key-hash',
        newTopicPartitions: 3,
        deliveryGuarantee: 'at-least-once',
      },
      syncTypes: ['full', 'incremental'],
      objects: SAMPLE_SCHEMAS.map((schema) => ({ schema })),
      retry: { connectionMinutes: 10, otherMinutes: 1 },
    };
    const parsed = parseTaskConfig(doc);
    // A slot of a killed earlier run would keep DROP DATABASE from succeeding.
    await source
      .query(
        'postgres',
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
        [DB],
      )
      .catch(() => undefined);
    await source.createDatabase(DB);
    say(`creating the sample database "${DB}" on the source (~${count(settings.rows)} rows)`);
    const client = new pg.Client(source.clientConfig(DB));
    await client.connect();
    try {
      const sample = await createSampleDatabase(client, { rows: settings.rows, onProgress: () => undefined });
      await client.query('ALTER TABLE audit.page_views REPLICA IDENTITY FULL');
      say(`sample ready: ${count(sample.totalRows)} rows`);
    } finally {
      await client.end().catch(() => undefined);
    }
    if (requested) return 1;
    task = parsed;
    say(
      `running task ${TASK_NAME}: full and incremental sync of ${SAMPLE_SCHEMAS.join(', ')} into topics ${TOPIC_PREFIX}.<schema>.<table> (Debezium change events, key-hash over 3 partitions)`,
    );
    const caughtUp = await runWithWorkload(task, source, broker.bootstrap, settings, stopped, stopNow);
    const counts = await topicCounts(broker.bootstrap);
    printCounts(counts);
    const busiest = [...counts].sort((x, y) => (y[1] > x[1] ? 1 : y[1] < x[1] ? -1 : 0))[0]?.[0];
    const events = [...counts].find(([t]) => t === `${TOPIC_PREFIX}.shop.orders`)?.[0] ?? busiest;
    if (events !== undefined) await printEventsOf(broker.bootstrap, events, 3);
    if (!caughtUp) return 1;
    const check = await checkTopics(source, broker.bootstrap, [...counts.keys()]);
    if (check.differing.length > 0) {
      say(`topics DIFFER from the source: ${check.differing.join('; ')}`);
      return 1;
    }
    say(
      `topics match the source: ${check.checked.length} keyed topics, the live keys of each (last event per key not a delete) are as many as its table's rows (${count(check.checked.reduce((a, t) => a + t.sourceRows, 0))} rows), demo.shop.orders key for key`,
    );
    return 0;
  } catch (e) {
    const text =
      e instanceof PgdtsError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`demo: ${redact(text, password)}\n`);
    return 2;
  } finally {
    if (task !== undefined) {
      const t = task;
      await withConnectors(t, (c) => releaseTask(t, c)).then(
        (r) =>
          say(
            `released the task: replication slot ${r.slotName} ${r.slotDropped ? 'dropped' : 'not present'}`,
          ),
        (e: unknown) => say(`release failed: ${String(e)}`),
      );
    }
    await Promise.all([source?.stop().catch(() => undefined), broker?.stop()]);
    rmSync(BROKER_PID_FILE, { force: true });
    if (source !== undefined || broker !== undefined) say('servers stopped');
  }
}
