/**
 * Reads a topic from its first offset to its last stable offset, committed records only
 * (`read_committed`, KIP-98): how the Kafka sink reads its offsets topic back on start. Uses Fetch
 * requests directly (no consumer group), and drops records of aborted transactions the way Kafka's
 * Java consumer does: an aborted transaction listed in the Fetch response (producer id, first
 * offset) covers that producer's transactional batches from its first offset until its ABORT
 * control record.
 */
import { Consumer, IS_CONTROL, IS_TRANSACTIONAL } from '@platformatic/kafka';
import type { KafkaBaseOptions } from './kafka-client.ts';
import { kafkaError } from './kafka-client.ts';

/** One record read. */
export interface ReadRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
}

/** Kafka protocol isolation level `read_committed`. */
const READ_COMMITTED = 1;

/**
 * Every committed record of `topic` up to its last stable offset at the time of the call, per
 * partition in offset order.
 * @throws {PgdtsError} CONNECTION_FAILED, or APPLY_FAILED (retryable) when the topic cannot be read.
 */
export async function readTopic(base: KafkaBaseOptions, topic: string): Promise<ReadRecord[]> {
  const consumer = new Consumer({ ...base, groupId: `pgdts-reader-${process.pid}`, autocommit: false });
  try {
    const metadata = await consumer.metadata({ topics: [topic], forceUpdate: true });
    const t = metadata.topics.get(topic);
    if (t === undefined) return [];
    const out: ReadRecord[] = [];
    for (let partition = 0; partition < t.partitionsCount; partition++) {
      const leader = t.partitions[partition]?.leader ?? -1;
      const end = (await consumer.listOffsets({ topics: [topic], isolationLevel: READ_COMMITTED })).get(
        topic,
      )?.[partition];
      if (end === undefined || end === 0n) continue;
      let offset = 0n;
      /** Producers whose transaction, aborted, is open at the current offset. */
      const aborting = new Set<bigint>();
      let pendingAborts: { producerId: bigint; firstOffset: bigint }[] = [];
      for (let round = 0; offset < end && round < 100_000; round++) {
        const r = await consumer.fetch({
          node: leader,
          isolationLevel: READ_COMMITTED,
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes: 32 * 1024 * 1024,
          topics: [
            {
              topicId: t.id,
              partitions: [
                {
                  partition,
                  currentLeaderEpoch: -1,
                  fetchOffset: offset,
                  lastFetchedEpoch: -1,
                  partitionMaxBytes: 32 * 1024 * 1024,
                },
              ],
            },
          ],
        });
        const p = r.responses[0]?.partitions[0];
        if (p === undefined) break;
        if (p.logStartOffset > offset) offset = p.logStartOffset;
        pendingAborts = [...pendingAborts, ...p.abortedTransactions].sort((a, b) =>
          a.firstOffset < b.firstOffset ? -1 : 1,
        );
        const batches = p.records ?? [];
        if (batches.length === 0) break;
        for (const b of batches) {
          const last = b.firstOffset + BigInt(b.lastOffsetDelta);
          if (last < offset) continue;
          while (pendingAborts[0] !== undefined && pendingAborts[0].firstOffset <= last) {
            aborting.add(pendingAborts[0].producerId);
            pendingAborts = pendingAborts.slice(1);
          }
          if (b.attributes & IS_CONTROL) {
            // Control record key: version int16, type int16 (0 ABORT, 1 COMMIT).
            if (b.records[0]?.key?.readInt16BE(2) === 0) aborting.delete(b.producerId);
          } else if (!(b.attributes & IS_TRANSACTIONAL && aborting.has(b.producerId))) {
            for (const rec of b.records) {
              const o = b.firstOffset + BigInt(rec.offsetDelta);
              if (o < offset || o >= end) continue;
              out.push({ partition, offset: o, key: rec.key, value: rec.value });
            }
          }
          offset = last + 1n;
        }
      }
    }
    return out;
  } catch (e) {
    throw kafkaError('APPLY_FAILED', `read topic ${topic}`, e);
  } finally {
    await consumer.close().catch(() => undefined);
  }
}
