/**
 * The real Debezium PostgreSQL connector (3.6.1.Final) in Kafka Connect standalone (4.3.0), for the
 * golden-file capture (test/sink/kafka/fixtures/capture-debezium.ts) and the K1-K3 benchmark
 * (bench/kafka-workloads.ts). Never used by CI tests: they read the committed fixtures.
 *
 * Jars (git-ignored), fetched by Maven:
 *   mvn -q -B -f test/kafka/debezium/pom.xml dependency:copy-dependencies          (Connect → lib)
 *   mvn -q -B -f test/kafka/debezium/plugin/pom.xml dependency:copy-dependencies   (connector → plugins)
 *
 * The worker runs as `org.apache.kafka.connect.cli.ConnectStandalone worker.properties
 * connector.properties` (Kafka docs, "Kafka Connect › Running Kafka Connect"), offsets in a file of
 * `workDir`. Connector options follow Debezium's documentation, `connectors/postgresql.adoc`,
 * "Connector properties": `plugin.name=pgoutput`, its own `slot.name` / `publication.name`
 * (`publication.autocreate.mode=filtered`: a publication of the included tables only),
 * `snapshot.mode=initial`, `topic.prefix`, and `max.batch.size` / `max.queue.size` raised from their
 * defaults 2048 / 8192 (the page advises a queue larger than the batch; the "Performance" notes
 * advise raising both for throughput).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Kafka Connect's jars (test/kafka/debezium/lib). */
export const CONNECT_LIB_DIR = fileURLToPath(new URL('../kafka/debezium/lib', import.meta.url));
/** Connect's `plugin.path`: holds `debezium-postgres/`. */
export const CONNECT_PLUGIN_DIR = fileURLToPath(new URL('../kafka/debezium/plugins', import.meta.url));
/** The Debezium release the harness runs (the plugin pom's version). */
export const DEBEZIUM_VERSION = '3.6.1.Final';

/** Where the connector reads from. */
export interface DebeziumSource {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** Options of {@link startDebezium}. */
export interface DebeziumOptions {
  readonly bootstrap: string;
  readonly source: DebeziumSource;
  /** Folder for the properties files, the offsets file and the log. */
  readonly workDir: string;
  /** `topic.prefix`: topics are `<prefix>.<schema>.<table>`; also `source.name`. */
  readonly topicPrefix: string;
  readonly slot: string;
  readonly publication: string;
  /** JsonConverter `schemas.enable` for key and value. */
  readonly schemas: boolean;
  /** `table.include.list` (regular expressions of `schema.table`); all tables when undefined. */
  readonly tables?: readonly string[];
  /** More connector properties (override the defaults above). */
  readonly connector?: Readonly<Record<string, string | number>>;
}

/** A running Connect standalone worker with one Debezium connector. */
export interface DebeziumWorker {
  readonly child: ChildProcess;
  /** The JVM's pid (for RSS sampling). */
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the connector's log says it started streaming (after the snapshot, if any). */
  streaming(timeoutMs?: number): Promise<void>;
  /** SIGTERM (Connect stops the task and flushes offsets), SIGKILL after 20 s. Never throws. */
  stop(): Promise<void>;
}

function properties(p: Readonly<Record<string, string | number | boolean>>): string {
  return `${Object.entries(p)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('\n')}\n`;
}

/**
 * Starts the worker and its connector; resolves once the JVM runs (not yet streaming: see
 * {@link DebeziumWorker.streaming}).
 * @throws {Error} naming the Maven commands when the jars are missing.
 */
export function startDebezium(o: DebeziumOptions): DebeziumWorker {
  const missing =
    !existsSync(CONNECT_LIB_DIR) ||
    !readdirSync(CONNECT_LIB_DIR).some((f) => f.startsWith('connect-runtime-')) ||
    !existsSync(path.join(CONNECT_PLUGIN_DIR, 'debezium-postgres'));
  if (missing) {
    throw new Error(
      'Debezium is not fetched: run `mvn -q -B -f test/kafka/debezium/pom.xml dependency:copy-dependencies` and `mvn -q -B -f test/kafka/debezium/plugin/pom.xml dependency:copy-dependencies`',
    );
  }
  mkdirSync(o.workDir, { recursive: true });
  const worker = path.join(o.workDir, 'worker.properties');
  const connector = path.join(o.workDir, 'connector.properties');
  const log4j = path.join(o.workDir, 'log4j2.properties');
  const logFile = path.join(o.workDir, 'connect.log');
  writeFileSync(
    worker,
    properties({
      'bootstrap.servers': o.bootstrap,
      'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'key.converter.schemas.enable': o.schemas,
      'value.converter.schemas.enable': o.schemas,
      'offset.storage.file.filename': path.join(o.workDir, 'connect.offsets'),
      'offset.flush.interval.ms': 1000,
      'plugin.path': CONNECT_PLUGIN_DIR,
      // The REST API on an ephemeral port: several workers may run on one machine.
      listeners: 'http://127.0.0.1:0',
      // Topics Debezium creates by auto-creation through the worker (our broker refuses
      // auto.create.topics.enable): one partition, replication factor 1.
      'topic.creation.enable': true,
    }),
  );
  writeFileSync(
    connector,
    properties({
      name: `dbz-${o.topicPrefix}`,
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'tasks.max': 1,
      'plugin.name': 'pgoutput',
      'database.hostname': o.source.host,
      'database.port': o.source.port,
      'database.user': o.source.user,
      'database.password': o.source.password,
      'database.dbname': o.source.database,
      'topic.prefix': o.topicPrefix,
      'slot.name': o.slot,
      'publication.name': o.publication,
      'publication.autocreate.mode': 'filtered',
      'snapshot.mode': 'initial',
      ...(o.tables !== undefined ? { 'table.include.list': o.tables.join(',') } : {}),
      'max.batch.size': 8192,
      'max.queue.size': 32768,
      'topic.creation.default.replication.factor': 1,
      'topic.creation.default.partitions': 1,
      ...o.connector,
    }),
  );
  writeFileSync(
    log4j,
    [
      'appender.file.type = File',
      'appender.file.name = file',
      `appender.file.fileName = ${logFile}`,
      'appender.file.layout.type = PatternLayout',
      'appender.file.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.file.ref = file',
      'logger.kafka.name = org.apache.kafka',
      'logger.kafka.level = WARN',
      'logger.reflections.name = org.reflections',
      'logger.reflections.level = ERROR',
      '',
    ].join('\n'),
  );
  const child = spawn(
    'java',
    [
      '-Xmx512m',
      '-Xms128m',
      `-Dlog4j2.configurationFile=${log4j}`,
      '-cp',
      path.join(CONNECT_LIB_DIR, '*'),
      'org.apache.kafka.connect.cli.ConnectStandalone',
      worker,
      connector,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('java did not start');
  const logText = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  return {
    child,
    pid,
    logFile,
    async streaming(timeoutMs = 600_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = logText();
        // Debezium's streaming source logs this once it consumes the slot (after the snapshot).
        if (/Starting streaming|Processing messages/.test(text)) return;
        if (child.exitCode !== null) {
          throw new Error(`Connect exited (${child.exitCode}): ${stderr} (log ${logFile})`);
        }
        const fail = /ERROR (.*Task threw an uncaught.*|.*Failed to start.*)/.exec(text);
        if (fail) throw new Error(`Debezium failed: ${fail[1] ?? ''} (log ${logFile})`);
        if (Date.now() > deadline) throw new Error(`Debezium did not start streaming (log ${logFile})`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}
