/**
 * Topic names and partitions of the Kafka sink (`destination.topic`, `destination.partitionPolicy`),
 * sans-I/O: key-hash must pick the partition Kafka's Java producer picks for the same key bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgdtsError } from '../../../src/core/errors.ts';
import { partitionOf, topicOf } from '../../../src/sink/kafka/topic-router.ts';

const names = { db: 'app', schema: 'Sales Dept', table: 'orders$2024' };

test('topic templates: placeholders replaced, characters Kafka refuses become _, too long is refused', () => {
  assert.equal(
    topicOf('pgdts.#{source_schema_name}.#{source_table_name}', names),
    'pgdts.Sales_Dept.orders_2024',
  );
  assert.equal(topicOf('#{source_db_name}-all', names), 'app-all');
  assert.equal(topicOf('fixed', names), 'fixed');
  assert.throws(
    () => topicOf('#{source_table_name}', { ...names, table: 'x'.repeat(250) }),
    (e: unknown) =>
      e instanceof PgdtsError && e.code === 'CONFIG_INVALID' && /longer than Kafka's 249/.test(e.message),
  );
});

test('partition policies: partition-0, table-hash stable per table, key-hash = Java murmur2 of the key bytes', () => {
  const key = Buffer.from('{"id":1}');
  assert.equal(partitionOf('partition-0', 6, names, key), 0);
  assert.equal(partitionOf('key-hash', 6, names, undefined), 0, 'a keyless record goes to partition 0');
  assert.equal(partitionOf('key-hash', 1, names, key), 0);
  // Kafka's Utils.murmur2 of "{"id":1}" ... checked against the Java client's
  // toPositive(murmur2(bytes)) % n for these inputs (known vectors of the client's own tests):
  // murmur2("21") = -973932308, murmur2("foobar") = -790332482 (org.apache.kafka.common.utils.UtilsTest).
  assert.equal(partitionOf('key-hash', 1000, names, Buffer.from('21')), (-973932308 & 0x7fffffff) % 1000);
  assert.equal(partitionOf('key-hash', 1000, names, Buffer.from('foobar')), (-790332482 & 0x7fffffff) % 1000);
  const t = partitionOf('table-hash', 6, names, key);
  assert.equal(partitionOf('table-hash', 6, names, Buffer.from('{"id":2}')), t, 'one partition per table');
  const spread = new Set(
    Array.from({ length: 50 }, (_, i) =>
      partitionOf('table-hash', 6, { ...names, table: `t${i}` }, undefined),
    ),
  );
  assert.ok(spread.size > 3, 'tables spread over the partitions');
});
