/**
 * Which topic and partition each event goes to (`destination.topic`, `destination.partitionPolicy`).
 *
 * - topic: the template with `#{source_db_name}`, `#{source_schema_name}`, `#{source_table_name}`
 *   replaced; a character a topic name cannot hold becomes `_` (as Debezium's topic naming does),
 *   and a name longer than 249 characters is refused.
 * - partition: `partition-0` every record to partition 0; `table-hash` murmur2 of
 *   `<database>.<schema>.<table>`; `key-hash` murmur2 of the record's key bytes, the choice of Kafka's
 *   Java producer for a keyed record (`Utils.toPositive(Utils.murmur2(key)) % partitions`), so
 *   Debezium's records of the same key land on the same partition; keyless records go to 0.
 */
import { murmur2 } from '@platformatic/kafka';
import { PgdtsError } from '../../core/errors.ts';
import type { KafkaDestinationConfig } from '../../core/kafka-destination-config.ts';

/** A table's names as the topic template sees them. */
export interface TopicNames {
  readonly db: string;
  readonly schema: string;
  readonly table: string;
}

/**
 * The topic of a table.
 * @throws {PgdtsError} CONFIG_INVALID when the name comes out longer than 249 characters.
 */
export function topicOf(template: string, n: TopicNames): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  const t = template
    .replaceAll('#{source_db_name}', clean(n.db))
    .replaceAll('#{source_schema_name}', clean(n.schema))
    .replaceAll('#{source_table_name}', clean(n.table));
  if (t.length > 249) {
    throw new PgdtsError(
      'CONFIG_INVALID',
      `destination.topic: the topic of ${n.schema}.${n.table}, ${t.slice(0, 40)}..., is longer than Kafka's 249 characters`,
    );
  }
  return t;
}

/** Kafka's `Utils.toPositive(Utils.murmur2(bytes))`. */
function positiveMurmur2(bytes: Buffer): number {
  return murmur2(bytes, false) & 0x7fffffff;
}

/**
 * The partition of a record among `partitions`.
 * @param key the record's key bytes (undefined for a keyless record).
 */
export function partitionOf(
  policy: KafkaDestinationConfig['partitionPolicy'],
  partitions: number,
  n: TopicNames,
  key: Buffer | undefined,
): number {
  if (partitions <= 1) return 0;
  switch (policy) {
    case 'partition-0':
      return 0;
    case 'table-hash':
      return positiveMurmur2(Buffer.from(`${n.db}.${n.schema}.${n.table}`)) % partitions;
    case 'key-hash':
      return key === undefined ? 0 : positiveMurmur2(key) % partitions;
  }
}
