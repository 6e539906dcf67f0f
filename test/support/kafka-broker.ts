/**
 * A real Apache Kafka 4.3.0 broker for the tests: one JVM in KRaft combined mode (broker and
 * controller in one process, a static quorum of one voter) on loopback, started once per test run by
 * test/run.ts when a Kafka test is selected, stopped at the end. Its jars come from Maven Central
 * through test/kafka/pom.xml (`mvn -q -f test/kafka/pom.xml dependency:copy-dependencies`, which
 * .ci/run runs) into test/kafka/lib.
 *
 * The broker itself is src/demo/kafka-broker.ts (the Kafka demo starts it too).
 * Storage is formatted with `kafka.tools.StorageTool format -t <cluster id> -c <properties>`
 * (Kafka docs, "KRaft: Provisioning Nodes"); the broker then runs as `kafka.Kafka <properties>`.
 * Every internal topic (consumer offsets, transaction state log, share state) has replication
 * factor 1 and min.insync.replicas 1, so transactions (KIP-98) work on one broker.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KAFKA_LIB_DIR, KafkaBroker } from '../../src/demo/kafka-broker.ts';

export { KAFKA_LIB_DIR, KafkaBroker } from '../../src/demo/kafka-broker.ts';

/** Environment variable through which test/run.ts hands the broker's address to the test files. */
export const KAFKA_ENV = 'PGDTS_TEST_KAFKA';

/** Whether a test file needs the broker: every file whose path says `kafka`. */
export function needsKafka(testFile: string): boolean {
  return testFile.includes('kafka');
}

/** The broker of this test run, as `host:port`. */
export function kafkaBootstrap(): string {
  const v = process.env[KAFKA_ENV];
  if (!v) throw new Error(`${KAFKA_ENV} is not set: run the Kafka tests through test/run.ts`);
  return v;
}

/** A second, secured broker of one test file (see {@link startSecuredKafka}). */
export interface SecuredKafka {
  readonly broker: KafkaBroker;
  /** `127.0.0.1:<port>` of the SASL_SSL listener (SCRAM-SHA-512 over TLS). */
  readonly saslSsl: string;
  /** `127.0.0.1:<port>` of the SASL_PLAINTEXT listener (SCRAM-SHA-512). */
  readonly saslPlaintext: string;
  /** `127.0.0.1:<port>` of the PLAINTEXT listener: its principal `User:ANONYMOUS` is a super user. */
  readonly plaintext: string;
  /** The CA file (PEM) that signed the broker's certificate (CN and IP SAN 127.0.0.1). */
  readonly caFile: string;
  /** The super user `admin`'s SCRAM password. */
  readonly adminPassword: string;
  /** Java client properties logging in as `admin` over SASL_SSL (`--command-config` of Kafka's tools). */
  readonly adminConfigFile: string;
}

/**
 * Starts a secured broker (src/demo/kafka-broker.ts, `security`): its TLS certificate made here by
 * the openssl CLI (EC P-256 CA and server key, PEM keystore and truststore), SCRAM-SHA-512 users
 * `admin` (a super user) and `users`, StandardAuthorizer. A test file starts it itself (test/run.ts
 * starts the plain broker only) and stops it with `broker.stop()`.
 * @throws {Error} when openssl fails or the broker does not start (see KafkaBroker.start).
 */
export async function startSecuredKafka(
  users: readonly { readonly name: string; readonly password: string }[],
): Promise<SecuredKafka> {
  const root = mkdtempSync(path.join(process.env.PGDTS_TEST_ROOT ?? tmpdir(), 'kafka-secured-'));
  const certs = path.join(root, 'certs');
  mkdirSync(certs);
  const openssl = (args: string) =>
    execFileSync('/usr/bin/openssl', args.split(' '), { cwd: certs, stdio: 'pipe' });
  const newKey = '-nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1';
  openssl(`req -x509 -new ${newKey} -keyout ca.key -out ca.crt -days 2 -subj /CN=pgdts-test-kafka-ca`);
  openssl(`req -new ${newKey} -keyout server.key -out server.csr -subj /CN=127.0.0.1`);
  writeFileSync(
    path.join(certs, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    `x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial ${Date.now()} -out server.crt -days 2 -extfile server.ext`,
  );
  const keystore = path.join(certs, 'server.pem');
  writeFileSync(
    keystore,
    readFileSync(path.join(certs, 'server.key'), 'utf8') +
      readFileSync(path.join(certs, 'server.crt'), 'utf8'),
  );
  const adminPassword = 'admin-Secret-pw';
  const broker = await KafkaBroker.start(path.join(root, 'kafka'), {
    security: {
      scramUsers: [{ name: 'admin', password: adminPassword }, ...users],
      superUsers: ['User:admin'],
      keystorePem: keystore,
      truststorePem: path.join(certs, 'ca.crt'),
    },
  });
  const sec = broker.secured;
  if (sec === undefined) throw new Error('the secured broker has no SASL listeners');
  const adminConfigFile = path.join(certs, 'admin.properties');
  writeFileSync(
    adminConfigFile,
    [
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${adminPassword}";`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${path.join(certs, 'ca.crt')}`,
      '',
    ].join('\n'),
  );
  return {
    broker,
    saslSsl: sec.saslSsl,
    saslPlaintext: sec.saslPlaintext,
    plaintext: broker.bootstrap,
    caFile: path.join(certs, 'ca.crt'),
    adminPassword,
    adminConfigFile,
  };
}

/**
 * Runs one `kafka-acls.sh ...` command line (as pgdts prints them: words split on spaces, none
 * holding one, an optional trailing `;`) with Kafka's own tool class from the jars,
 * `org.apache.kafka.tools.AclCommand`, logged in as `k`'s admin.
 * @throws {Error} with the tool's output when it fails or the line is not a kafka-acls.sh command.
 */
export function runKafkaAcls(k: SecuredKafka, commandLine: string): void {
  const words = commandLine.trim().replace(/;$/, '').split(/\s+/);
  if (words[0] !== 'kafka-acls.sh') throw new Error(`not a kafka-acls.sh command: ${commandLine}`);
  execFileSync(
    'java',
    [
      '-Xmx256m',
      '-cp',
      path.join(KAFKA_LIB_DIR, '*'),
      'org.apache.kafka.tools.AclCommand',
      ...words.slice(1),
      '--command-config',
      k.adminConfigFile,
    ],
    { stdio: 'pipe', encoding: 'utf8' },
  );
}
