/**
 * Reads what a Kafka task produced, as a consumer of the topics would: @platformatic/kafka's
 * consumer stream from the earliest offset (read_committed or read_uncommitted), until every
 * partition is read up to the end offset listed when reading started and nothing more arrived for
 * a while. Independent of the sink's own offsets reader (src/sink/kafka/read-topic.ts).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Admin, Consumer } from '@platformatic/kafka';
import { KAFKA_LIB_DIR, kafkaBootstrap } from './kafka-broker.ts';

/** One record as read. */
export interface ReadEvent {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Parsed JSON key; null for a keyless record. */
  readonly key: unknown;
  /** Raw key bytes (for partition checks). */
  readonly keyBytes: Buffer | undefined;
  /** Parsed JSON value; null for a tombstone. */
  readonly value: unknown;
}

/** Topics of the broker (default: the test run's; or the PLAINTEXT listener `bootstrap`) whose name starts with `prefix`. */
export async function topicsStartingWith(prefix: string, bootstrap?: string): Promise<string[]> {
  const admin = new Admin({ clientId: 'test', bootstrapBrokers: [bootstrap ?? kafkaBootstrap()] });
  try {
    return (await admin.listTopics()).filter((t) => t.startsWith(prefix)).sort();
  } finally {
    await admin.close();
  }
}

/** Every record of `topics` (see the module comment). */
export async function readEvents(
  topics: readonly string[],
  o: {
    readonly readCommitted: boolean;
    readonly idleMs?: number;
    /** `host:port` of a PLAINTEXT listener; default: the test run's broker. */
    readonly bootstrap?: string;
  },
): Promise<ReadEvent[]> {
  if (topics.length === 0) return [];
  const consumer = new Consumer({
    clientId: 'test-reader',
    groupId: `test-reader-${randomBytes(4).toString('hex')}`,
    bootstrapBrokers: [o.bootstrap ?? kafkaBootstrap()],
  });
  const out: ReadEvent[] = [];
  try {
    const isolationLevel = o.readCommitted ? 1 : 0;
    const ends = await consumer.listOffsets({ topics: [...topics], isolationLevel });
    const stream = await consumer.consume({
      topics: [...topics],
      mode: 'earliest',
      isolationLevel,
      autocommit: false,
      maxWaitTime: 100,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
    });
    const seen = new Map<string, bigint>();
    const complete = () =>
      [...ends].every(([t, offs]) =>
        offs.every((end, p) => end === 0n || (seen.get(`${t}/${p}`) ?? -1n) >= end - 1n),
      );
    const idleMs = o.idleMs ?? 2_000;
    await new Promise<void>((resolve, reject) => {
      let idle = setTimeout(finish, idleMs);
      function finish() {
        stream.removeAllListeners('data');
        resolve();
      }
      stream.on('error', reject);
      stream.on(
        'data',
        (m: {
          topic: string;
          partition: number;
          offset: bigint;
          key: Buffer | undefined;
          value: Buffer | undefined;
        }) => {
          const text = (b: Buffer | undefined) =>
            b === undefined || b.length === 0 ? null : (JSON.parse(b.toString()) as unknown);
          out.push({
            topic: m.topic,
            partition: m.partition,
            offset: m.offset,
            key: text(m.key),
            keyBytes: m.key === undefined || m.key.length === 0 ? undefined : m.key,
            value: m.value === undefined || m.value === null || m.value.length === 0 ? null : text(m.value),
          });
          seen.set(`${m.topic}/${m.partition}`, m.offset);
          clearTimeout(idle);
          if (!o.readCommitted && complete()) finish();
          else idle = setTimeout(finish, idleMs);
        },
      );
    });
    await new Promise<void>((res) => {
      stream.close(() => res());
    });
  } finally {
    await new Promise<void>((res) => {
      consumer.close(true, () => res());
    });
  }
  return out.sort((a, b) =>
    a.topic === b.topic
      ? a.partition === b.partition
        ? Number(a.offset - b.offset)
        : a.partition - b.partition
      : a.topic < b.topic
        ? -1
        : 1,
  );
}

/**
 * Every committed record of `topic`, read by Kafka's own Java consumer (kafka-console-consumer,
 * `isolation.level=read_committed`): the reference for exactly-once checks. Partition and offset
 * are not printed by it: records come per partition in offset order (what {@link finalRows} needs),
 * with `partition` and `offset` set to -1.
 */
export function readCommittedWithJava(topic: string): ReadEvent[] {
  const r = spawnSync(
    'java',
    [
      '-Xmx256m',
      '-cp',
      path.join(KAFKA_LIB_DIR, '*'),
      'org.apache.kafka.tools.consumer.ConsoleConsumer',
      '--bootstrap-server',
      kafkaBootstrap(),
      '--topic',
      topic,
      '--from-beginning',
      '--isolation-level',
      'read_committed',
      '--timeout-ms',
      '5000',
      '--property',
      'print.key=true',
      '--property',
      'key.separator=\t',
      '--property',
      'print.partition=true',
    ],
    { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 },
  );
  const out: ReadEvent[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^Partition:(\d+)\t(.*)\t(.*)$/.exec(line);
    if (!m) continue;
    const key = m[2] === 'null' ? null : (JSON.parse(m[2] ?? '') as unknown);
    out.push({
      topic,
      partition: Number(m[1]),
      offset: -1n,
      key,
      keyBytes: m[2] === 'null' ? undefined : Buffer.from(m[2] ?? ''),
      value: m[3] === 'null' ? null : (JSON.parse(m[3] ?? '') as unknown),
    });
  }
  if (out.length === 0) throw new Error(`kafka-console-consumer read nothing from ${topic}: ${r.stderr}`);
  // Stable sort by partition: the console consumer interleaves partitions, keeping each one's order.
  return out
    .map((e, i) => ({ e, i }))
    .sort((a, b) => a.e.partition - b.e.partition || a.i - b.i)
    .map((x) => x.e);
}

/** A Debezium envelope as the tests look at it. */
export interface Envelope {
  readonly op: 'r' | 'c' | 'u' | 'd' | 't';
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
  readonly source: Record<string, unknown>;
}

/**
 * The final state per key of the events of one topic, read in partition-offset order (events of
 * one key share a partition, so their order is the source's): r/c/u set the row, d removes it.
 * Also checks that each delete is followed by its tombstone when `tombstones`.
 */
export function finalRows(
  events: readonly ReadEvent[],
  tombstones: boolean,
): Map<string, Record<string, unknown>> {
  const rows = new Map<string, Record<string, unknown>>();
  let expectTombstone: string | undefined;
  for (const e of events) {
    const k = JSON.stringify(e.key);
    if (e.value === null) {
      if (expectTombstone !== k) throw new Error(`a tombstone for ${k} that follows no delete of it`);
      expectTombstone = undefined;
      continue;
    }
    if (expectTombstone !== undefined && tombstones)
      throw new Error(`the delete of ${expectTombstone} has no tombstone`);
    const v = e.value as Envelope;
    if (v.op === 'd') {
      rows.delete(k);
      expectTombstone = tombstones ? k : undefined;
    } else if (v.op !== 't' && v.after !== null) {
      rows.set(k, v.after);
    }
  }
  return rows;
}
