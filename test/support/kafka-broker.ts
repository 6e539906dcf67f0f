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
