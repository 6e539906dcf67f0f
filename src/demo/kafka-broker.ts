/**
 * A real Apache Kafka 4.3.0 broker on loopback, for the tests (test/run.ts starts one per test run
 * when a Kafka test is selected) and `npm run demo -- --kafka`: one JVM in KRaft combined mode
 * (broker and controller in one process, a static quorum of one voter). Its jars come from Maven
 * Central through test/kafka/pom.xml ({@link KAFKA_JARS_COMMAND}, which .ci/run runs) into
 * test/kafka/lib.
 *
 * Storage is formatted with `kafka.tools.StorageTool format -t <cluster id> -c <properties>`
 * (Kafka docs, "KRaft: Provisioning Nodes"); the broker then runs as `kafka.Kafka <properties>`.
 * Every internal topic (consumer offsets, transaction state log, share state) has replication
 * factor 1 and min.insync.replicas 1, so transactions (KIP-98) work on one broker.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folder of the broker's jars (git-ignored). */
export const KAFKA_LIB_DIR = fileURLToPath(new URL('../../test/kafka/lib', import.meta.url));

/** The command that fetches the broker's jars into {@link KAFKA_LIB_DIR}, run in the project root. */
export const KAFKA_JARS_COMMAND = 'mvn -q -B -f test/kafka/pom.xml dependency:copy-dependencies';

/** Whether the broker's jars are in {@link KAFKA_LIB_DIR}. */
export function kafkaJarsPresent(): boolean {
  return existsSync(KAFKA_LIB_DIR) && readdirSync(KAFKA_LIB_DIR).some((f) => f.startsWith('kafka_2.13-'));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * A secured broker's settings: SCRAM-SHA-512 users and a TLS server certificate, with Kafka's
 * StandardAuthorizer (KIP-801) on. The PLAINTEXT listener stays (inter-broker, and the tests' own
 * reading as the super user `User:ANONYMOUS`); the CONTROLLER listener is PLAINTEXT too.
 */
export interface KafkaSecurity {
  /** SCRAM-SHA-512 credentials created at format time (`--add-scram`); passwords without `,`, `]` or `"`. */
  readonly scramUsers: readonly { readonly name: string; readonly password: string }[];
  /** Principals with every permission besides `User:ANONYMOUS`, e.g. `User:admin`. */
  readonly superUsers: readonly string[];
  /** PEM file of the SASL_SSL listener: its PKCS#8 private key (unencrypted) and certificate chain. */
  readonly keystorePem: string;
  /** PEM file of the authorities the broker trusts (no client certificates are asked for). */
  readonly truststorePem: string;
}

/** The listeners of a secured broker, `127.0.0.1:<port>` each. */
export interface KafkaSecuredListeners {
  readonly saslPlaintext: string;
  readonly saslSsl: string;
}

/** A running broker. */
export class KafkaBroker {
  private constructor(
    private readonly child: ChildProcess,
    /** `127.0.0.1:<port>` of the PLAINTEXT listener. */
    readonly bootstrap: string,
    /** The broker's log file (log4j2), for a failing test to look at. */
    readonly logFile: string,
    /** With `security`: its SASL listeners. */
    readonly secured: KafkaSecuredListeners | undefined,
  ) {}

  /**
   * Formats `dataDir` and starts the broker on free loopback ports; resolves once it accepts
   * connections and has logged that it started.
   * @throws {Error} with what to do when Java or the jars are missing, or the broker does not start
   *   within 60 s (its log tail included).
   * @param o.detached run the JVM in a session of its own, so that a terminal's Ctrl-C reaches only
   *   the caller, which stops the broker once done (the demo).
   * @param o.security also a SASL_PLAINTEXT and a SASL_SSL listener (SCRAM-SHA-512) and the
   *   StandardAuthorizer ({@link KafkaSecurity}).
   */
  static async start(
    dataDir: string,
    o: { readonly detached?: boolean; readonly security?: KafkaSecurity } = {},
  ): Promise<KafkaBroker> {
    const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
    if (java.error !== undefined || java.status !== 0) {
      throw new Error(
        'the Kafka broker needs Java 17 or later on PATH (apt-get install openjdk-17-jre-headless); `java -version` failed',
      );
    }
    if (!kafkaJarsPresent()) {
      throw new Error(
        `the Kafka broker's jars are missing in ${KAFKA_LIB_DIR}: run \`${KAFKA_JARS_COMMAND}\` (Maven, apt-get install maven)`,
      );
    }
    mkdirSync(dataDir, { recursive: true });
    const port = await freePort();
    const used = new Set([port]);
    const another = async () => {
      let p = await freePort();
      while (used.has(p)) p = await freePort();
      used.add(p);
      return p;
    };
    const controllerPort = await another();
    const sec = o.security;
    const saslPort = sec !== undefined ? await another() : 0;
    const sslPort = sec !== undefined ? await another() : 0;
    const jaas = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
    const listeners = [
      `PLAINTEXT://127.0.0.1:${port}`,
      ...(sec !== undefined
        ? [`SASL_PLAINTEXT://127.0.0.1:${saslPort}`, `SASL_SSL://127.0.0.1:${sslPort}`]
        : []),
    ];
    const security =
      sec === undefined
        ? ['listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT']
        : [
            'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL',
            'sasl.enabled.mechanisms=SCRAM-SHA-512',
            `listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=${jaas}`,
            `listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=${jaas}`,
            'ssl.keystore.type=PEM',
            `ssl.keystore.location=${sec.keystorePem}`,
            'ssl.truststore.type=PEM',
            `ssl.truststore.location=${sec.truststorePem}`,
            'ssl.client.auth=none',
            'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
            `super.users=${['User:ANONYMOUS', ...sec.superUsers].join(';')}`,
            'allow.everyone.if.no.acl.found=false',
          ];
    const logDir = path.join(dataDir, 'logs');
    const props = path.join(dataDir, 'server.properties');
    const log4j = path.join(dataDir, 'log4j2.properties');
    const logFile = path.join(dataDir, 'broker.log');
    writeFileSync(
      props,
      [
        'process.roles=broker,controller',
        'node.id=1',
        `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
        `listeners=${listeners.join(',')},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=${listeners.join(',')}`,
        'controller.listener.names=CONTROLLER',
        'inter.broker.listener.name=PLAINTEXT',
        ...security,
        `log.dirs=${logDir}`,
        'num.partitions=1',
        'default.replication.factor=1',
        'min.insync.replicas=1',
        'offsets.topic.replication.factor=1',
        'offsets.topic.num.partitions=3',
        'transaction.state.log.replication.factor=1',
        'transaction.state.log.min.isr=1',
        'transaction.state.log.num.partitions=3',
        'share.coordinator.state.topic.replication.factor=1',
        'share.coordinator.state.topic.min.isr=1',
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        'log.flush.interval.messages=9223372036854775807',
        '',
      ].join('\n'),
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
        'logger.kafka.name = kafka',
        'logger.kafka.level = WARN',
        'logger.apache.name = org.apache.kafka',
        'logger.apache.level = WARN',
        'logger.started.name = kafka.server.KafkaRaftServer',
        'logger.started.level = INFO',
        '',
      ].join('\n'),
    );
    const classpath = path.join(KAFKA_LIB_DIR, '*');
    const jvm = ['-Xmx512m', '-Xms128m', `-Dlog4j2.configurationFile=${log4j}`, '-cp', classpath];
    const clusterId = randomBytes(16).toString('base64url');
    const format = spawnSync(
      'java',
      [
        ...jvm,
        'kafka.tools.StorageTool',
        'format',
        `--cluster-id=${clusterId}`,
        '-c',
        props,
        '--ignore-formatted',
        ...(sec?.scramUsers ?? []).flatMap((u) => [
          '--add-scram',
          `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`,
        ]),
      ],
      { encoding: 'utf8' },
    );
    if (format.status !== 0) {
      throw new Error(`formatting the Kafka storage failed: ${format.stderr || format.stdout}`);
    }
    const child = spawn('java', [...jvm, 'kafka.Kafka', props], {
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: o.detached ?? false,
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`the Kafka broker exited with code ${child.exitCode}: ${stderr} (log ${logFile})`);
      }
      if ((await canConnect(port)) && (sec === undefined || (await canConnect(sslPort)))) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the Kafka broker did not start within 60 s: ${stderr} (log ${logFile})`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return new KafkaBroker(
      child,
      `127.0.0.1:${port}`,
      logFile,
      sec === undefined
        ? undefined
        : { saslPlaintext: `127.0.0.1:${saslPort}`, saslSsl: `127.0.0.1:${sslPort}` },
    );
  }

  /** The JVM's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stops the broker (SIGTERM, then SIGKILL after 10 s). Never throws. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}
