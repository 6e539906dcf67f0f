/**
 * The test broker (test/support/kafka-broker.ts) is a real Kafka: a transactional producer's
 * committed records are read back by a read_committed consumer, an aborted transaction's are not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import { kafkaBootstrap } from '../../support/kafka-broker.ts';

test('the test broker runs transactions: read_committed sees the committed records only', async () => {
  const bootstrapBrokers = [kafkaBootstrap()];
  const topic = `broker-smoke-${Date.now()}`;
  const admin = new Admin({ clientId: 'smoke', bootstrapBrokers });
  const producer = new Producer({
    clientId: 'smoke',
    bootstrapBrokers,
    serializers: stringSerializers,
    idempotent: true,
    transactionalId: `smoke-${topic}`,
    retryDelay: 50,
  });
  const consumer = new Consumer({
    clientId: 'smoke',
    groupId: `smoke-${topic}`,
    bootstrapBrokers,
    deserializers: stringDeserializers,
  });
  try {
    await admin.createTopics({ topics: [topic], partitions: 2, replicas: 1 });
    const committed = await producer.beginTransaction();
    await committed.send({ messages: [{ topic, key: 'a', value: 'kept' }] });
    await committed.commit();
    const aborted = await producer.beginTransaction();
    await aborted.send({ messages: [{ topic, key: 'b', value: 'dropped' }] });
    await aborted.abort();
    const last = await producer.beginTransaction();
    await last.send({ messages: [{ topic, key: 'c', value: 'kept too' }] });
    await last.commit();
    const stream = await consumer.consume({
      topics: [topic],
      mode: 'earliest',
      isolationLevel: 1,
      autocommit: false,
      maxWaitTime: 200,
    });
    const seen: string[] = [];
    for await (const m of stream) {
      seen.push(`${m.key}=${m.value}`);
      if (m.key === 'c') break;
    }
    assert.deepEqual(seen.sort(), ['a=kept', 'c=kept too']);
  } finally {
    await consumer.close();
    await producer.close();
    await admin.close();
  }
});
