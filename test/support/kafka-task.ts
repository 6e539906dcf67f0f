/** Task files whose destination is the test run's Kafka broker. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { kafkaBootstrap } from './kafka-broker.ts';
import { urlOf, type TestServer } from './servers.ts';

/** A Kafka task file and the names it uses. */
export interface KafkaTaskFile {
  readonly file: string;
  readonly name: string;
  /** Every topic of the task starts with this (`<prefix>.<schema>.<table>`). */
  readonly topicPrefix: string;
  readonly offsetsTopic: string;
  /** The task's replication slot on the source. */
  readonly slot: string;
}

/** Writes a task from `db` on `s` to the broker, topics `<unique prefix>.#{schema}.#{table}`. */
export function writeKafkaTaskFile(o: {
  readonly name: string;
  readonly server: TestServer;
  readonly db: string;
  readonly syncTypes: readonly string[];
  readonly objects: readonly Record<string, unknown>[];
  /** Keys of `destination` besides type, bootstrapServers, topic and offsetsTopic. */
  readonly destination?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
}): KafkaTaskFile {
  const tag = randomBytes(3).toString('hex');
  const topicPrefix = `t${tag}`;
  const offsetsTopic = `pgdts.offsets.${tag}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-kafka-task-'));
  const file = path.join(dir, `${o.name}.yaml`);
  writeFileSync(
    file,
    stringify({
      name: o.name,
      source: { type: 'postgresql', url: urlOf(o.server, o.db) },
      destination: {
        type: 'kafka',
        bootstrapServers: [kafkaBootstrap()],
        topic: `${topicPrefix}.#{source_schema_name}.#{source_table_name}`,
        offsetsTopic,
        ...o.destination,
      },
      syncTypes: o.syncTypes,
      objects: o.objects,
      retry: { initialDelayMs: 200, maxDelayMs: 2_000 },
      ...o.extra,
    }),
  );
  return {
    file,
    name: o.name,
    topicPrefix,
    offsetsTopic,
    slot: `pgdts_${o.name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`,
  };
}
