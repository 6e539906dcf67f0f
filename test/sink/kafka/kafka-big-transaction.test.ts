/**
 * Exactly-once with one source transaction bigger than a batch holds (kafka-sink.md K3): its events
 * are streamed into the batch's open Kafka transaction while the source transaction is still being
 * received, rather than held in memory until its commit. Seen from outside: the topic's high
 * watermark (read_uncommitted end) runs ahead of its last stable offset (read_committed end) by
 * thousands of records while the throttled stream cannot have delivered the whole transaction yet.
 * A SIGKILL at that moment leaves the Kafka transaction open; the restart aborts it (InitProducerId
 * fences it) and sends the source transaction again: Kafka's Java consumer in read_committed sees
 * each of its events exactly once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admin } from '@platformatic/kafka';
import { waitForCatchUp } from '../../support/catch-up.ts';
import { kafkaBootstrap } from '../../support/kafka-broker.ts';
import { finalRows, readCommittedWithJava, type Envelope } from '../../support/kafka-events.ts';
import { writeKafkaTaskFile } from '../../support/kafka-task.ts';
import { runCli, startCli, stopCli } from '../../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';

const ROWS = 20_000;
/** incremental.throttle.rowsPerSecond: the source transaction takes ≥ 5 s to pass. */
const RATE = 4_000;

/** End offset of partition 0 of `topic`: isolation 0 = high watermark, 1 = last stable offset. */
async function endOffset(admin: Admin, topic: string, isolationLevel: 0 | 1): Promise<bigint> {
  const ends = await admin.listOffsets({
    isolationLevel,
    topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }],
  });
  const offset = ends[0]?.partitions[0]?.offset;
  assert.ok(offset !== undefined, `end offset of ${topic}`);
  return offset;
}

test('exactly-once: a source transaction of 20,000 changes streams into an open Kafka transaction; SIGKILL mid-way, the restart delivers it exactly once', async (t) => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_big_txn');
  await sql(
    s,
    db,
    `CREATE TABLE public.big (id int PRIMARY KEY, v text NOT NULL);
     INSERT INTO public.big SELECT g, 'row ' || g FROM generate_series(1, ${ROWS}) g;`,
  );
  const task = writeKafkaTaskFile({
    name: 'big_txn',
    server: s,
    db,
    syncTypes: ['incremental'],
    objects: [{ table: 'public.big' }],
    destination: { deliveryGuarantee: 'exactly-once', newTopicPartitions: 1 },
    extra: { incremental: { throttle: { rowsPerSecond: RATE } } },
  });
  const topic = `${task.topicPrefix}.public.big`;
  const admin = new Admin({ clientId: 'test-offsets', bootstrapBrokers: [kafkaBootstrap()] });
  try {
    const first = startCli(['run', task.file]);
    await first.waitFor(/streaming from/, 60_000);
    const updated = Date.now();
    await sql(s, db, `UPDATE public.big SET v = v || ' updated'`);
    // Wait until the open transaction holds 2,000+ records nobody read_committed can see yet.
    let open = 0n;
    for (;;) {
      const [hw, lso] = [await endOffset(admin, topic, 0), await endOffset(admin, topic, 1)];
      open = hw - lso;
      if (open >= 2_000n) break;
      assert.ok(
        Date.now() - updated < (ROWS / RATE) * 1000,
        `the source transaction's events were streamed into an open transaction (high watermark ${hw}, last stable offset ${lso})\n${first.output()}`,
      );
      assert.equal(first.child.exitCode, null, first.output());
      await new Promise((r) => setTimeout(r, 100));
    }
    t.diagnostic(
      `${open} records in the open transaction ${Date.now() - updated} ms after the source commit`,
    );
    assert.equal(await endOffset(admin, topic, 1), 0n, 'nothing of it is committed yet');
    first.child.kill('SIGKILL');
    await first.done;

    const last = startCli(['run', task.file]);
    await last.waitFor(/streaming from/, 60_000);
    await waitForCatchUp(s, db, task.slot, 60_000, () => last.output());
    await stopCli(last);
  } finally {
    await admin.close();
  }

  const events = readCommittedWithJava(topic);
  const updates = events.filter((e) => e.value !== null && (e.value as Envelope).op === 'u');
  assert.equal(updates.length, ROWS, `${ROWS} update events, each once (read ${events.length} records)`);
  assert.equal(new Set(updates.map((e) => JSON.stringify(e.key))).size, ROWS, 'one per key');
  const rows = finalRows(events, true);
  for (const id of [1, ROWS / 2, ROWS]) {
    assert.deepEqual(rows.get(JSON.stringify({ id })), { id, v: `row ${id} updated` }, `row ${id}`);
  }
  const rel = await runCli(['release', task.file]);
  assert.equal(rel.code, 0, rel.stdout + rel.stderr);
});
