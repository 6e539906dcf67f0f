/**
 * The Kafka destination keys of the task file (README "Kafka destination"): defaults, and
 * refusals naming the key and the rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { checkKafkaDestination, kafkaClientProperties } from '../../src/core/kafka-destination-config.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { configRefusal } from '../support/config-refusal.ts';

const task = (destination: Record<string, unknown>) => ({
  name: 'to-kafka',
  source: { type: 'postgresql', url: 'postgresql://u:secret@127.0.0.1:5432/app' },
  destination: { type: 'kafka', bootstrapServers: ['127.0.0.1:9092'], ...destination },
  syncTypes: ['full', 'incremental'],
  objects: [{ schema: 'public' }],
});

test('a Kafka destination parses with the documented defaults', () => {
  const t = parseTaskConfig(task({}));
  assert.equal(t.destination.type, 'kafka');
  if (t.destination.type !== 'kafka') return;
  const d = t.destination;
  assert.equal(d.topic, 'pgdts.#{source_schema_name}.#{source_table_name}');
  assert.equal(d.partitionPolicy, 'key-hash');
  assert.equal(d.newTopicPartitions, 1);
  assert.equal(d.replicationFactor, undefined);
  assert.equal(d.deliveryGuarantee, 'at-least-once');
  assert.equal(d.schemas, false);
  assert.equal(d.tombstones, true);
  assert.equal(d.transactionTopic, null);
  assert.equal(d.offsetsTopic, 'pgdts.offsets');
  assert.equal(d.unavailableValuePlaceholder, '__debezium_unavailable_value');
  assert.equal(d.compression, 'none');
});

test('the keys of the issue parse as written, properties.* included', () => {
  const t = parseTaskConfig(
    task({
      topic: 'pgdts.#{source_db_name}.#{source_schema_name}.#{source_table_name}',
      partitionPolicy: 'table-hash',
      newTopicPartitions: 3,
      replicationFactor: 1,
      deliveryGuarantee: 'exactly-once',
      schemas: true,
      tombstones: false,
      transactionTopic: 'pgdts.tx',
      sasl: { mechanism: 'scram-sha-512', username: 'u', passwordEnv: 'KAFKA_PASSWORD' },
      tls: { ca: '/path/ca.pem' },
      'properties.linger.ms': 5,
      'properties.transactional.id': 'my-tx',
    }),
  );
  if (t.destination.type !== 'kafka') throw new Error('expected kafka');
  const p = kafkaClientProperties(t.destination);
  assert.equal(p.lingerMs, 5);
  assert.equal(p.transactionalId, 'my-tx');
  assert.equal(t.destination.sasl?.mechanism, 'scram-sha-512');
});

test('bad Kafka destinations are refused naming the key and the rule', () => {
  const refusal = (d: Record<string, unknown>) => configRefusal(() => parseTaskConfig(task(d))).message;
  assert.match(refusal({ bootstrapServers: [] }), /^destination\.bootstrapServers: must list at least one/);
  assert.match(
    refusal({ bootstrapServers: ['nohost'] }),
    /^destination\.bootstrapServers\[0\]: must be host:port/,
  );
  assert.match(
    refusal({ bootstrapServers: ['h:70000'] }),
    /destination\.bootstrapServers\[0\]: the port must be 1-65535/,
  );
  assert.match(refusal({ topic: 'x.#{table}' }), /^destination\.topic: may use only #\{source_db_name\}/);
  assert.match(refusal({ topic: 'bad topic' }), /^destination\.topic: outside its #\{...\} placeholders/);
  assert.match(
    refusal({ partitionPolicy: 'random' }),
    /^destination\.partitionPolicy: must be one of partition-0, table-hash, key-hash/,
  );
  assert.match(refusal({ newTopicPartitions: 0 }), /^destination\.newTopicPartitions/);
  assert.match(
    refusal({ deliveryGuarantee: 'at-most-once' }),
    /^destination\.deliveryGuarantee: must be at-least-once or exactly-once/,
  );
  assert.match(refusal({ schemas: 'yes' }), /^destination\.schemas: must be true or false/);
  assert.match(refusal({ topics: 'x' }), /^destination\.topics: unknown key/);
  assert.match(
    refusal({ 'properties.bogus.key': 1 }),
    /^destination\.properties\.bogus\.key: not a client property pgdts passes on/,
  );
  assert.match(
    refusal({ 'properties.linger.ms': 'soon' }),
    /^destination\.properties\.linger\.ms: must be an integer >= 0/,
  );
  assert.match(
    refusal({ sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } }),
    /^destination\.sasl\.mechanism: must be plain, scram-sha-256 or scram-sha-512/,
  );
  assert.match(
    refusal({ sasl: { mechanism: 'plain', username: 'u' } }),
    /^destination\.sasl: give exactly one of password and passwordEnv/,
  );
  assert.match(
    refusal({ 'properties.transactional.id': 'x' }),
    /^destination\.properties\.transactional\.id: only with deliveryGuarantee: exactly-once/,
  );
  assert.match(refusal({ transactionTopic: 'a b' }), /^destination\.transactionTopic: must be 1-249 letters/);
  const wrongType = configRefusal(() =>
    parseTaskConfig({ ...task({}), destination: { type: 'mysql' } }),
  ).message;
  assert.match(wrongType, /^destination\.type/);
});

test('zstd is refused on a Node.js without it, naming the key; accepted where zlib has it', () => {
  const d = parseTaskConfig(task({ compression: 'lz4' })).destination;
  if (d.type !== 'kafka') throw new Error('expected kafka');
  const withZstd = { ...d, compression: 'zstd' as const };
  assert.match(
    configRefusal(() => checkKafkaDestination(withZstd, false)).message,
    /^destination\.compression: zstd needs Node\.js 22\.15 or later/,
  );
  checkKafkaDestination(withZstd, true);
  const viaProperty = { ...d, compression: 'none' as const, 'properties.compression.type': 'zstd' };
  assert.match(
    configRefusal(() => checkKafkaDestination(viaProperty, false)).message,
    /^destination\.properties\.compression\.type: zstd needs Node\.js/,
  );
  // On this Node.js (20 or 24 in CI): the task file is refused exactly when node:zlib lacks zstd.
  const zstd = task({ compression: 'zstd' });
  if (typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function') parseTaskConfig(zstd);
  else
    assert.match(configRefusal(() => parseTaskConfig(zstd)).message, /^destination\.compression: zstd needs/);
});
