/**
 * PostgreSQL → Kafka end to end, on the real test broker and a real embedded PostgreSQL, through the
 * `pgdts` CLI: full sync as read events, then inserts, updates, deletes and a key change as change
 * events; a consumer reads every topic and checks the events against the source rows (count and
 * final state per key), the Debezium envelope, topic names, partitions (key-hash) and tombstones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { murmur2 } from '@platformatic/kafka';
import { waitForCatchUp } from '../../support/catch-up.ts';
import { finalRows, readEvents, topicsStartingWith, type Envelope } from '../../support/kafka-events.ts';
import { writeKafkaTaskFile } from '../../support/kafka-task.ts';
import { runCli, startCli, stopCli } from '../../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';

/** Decodes a Connect Decimal (base64 two's complement, big-endian) at `scale` into decimal text. */
function decimalText(b64: string, scale: number): string {
  const bytes = Buffer.from(b64, 'base64');
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  if (bytes.length > 0 && ((bytes[0] ?? 0) & 0x80) !== 0) v -= 1n << BigInt(bytes.length * 8);
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString().padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
}

interface SourceRow {
  id: number;
  name: string | null;
  price: string | null;
  qty: string | null;
  at_us: string | null;
  day: number | null;
  tags: string[] | null;
  doc: string | null;
  flag: boolean | null;
}

const SOURCE_ROWS = `SELECT id, name, price::text AS price, qty::text AS qty,
    (extract(epoch FROM at) * 1000000)::int8::text AS at_us, (day - date '1970-01-01') AS day, tags, doc::text AS doc, flag
  FROM public.items ORDER BY id`;

/** What the `after` of a row's last event must be, from the source row. */
function expectedAfter(r: SourceRow): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    price: r.price,
    qty: r.qty,
    at: r.at_us,
    day: r.day,
    tags: r.tags,
    doc: r.doc === null ? null : JSON.parse(r.doc),
    flag: r.flag,
  };
}

/** An event's `after` in the shape of {@link expectedAfter} (decimal decoded, json parsed). */
function decodedAfter(a: Record<string, unknown>): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    price: typeof a.price === 'string' ? decimalText(a.price, 2) : a.price,
    qty: typeof a.qty === 'number' ? String(a.qty) : a.qty,
    at: typeof a.at === 'number' ? String(a.at) : a.at,
    day: a.day,
    tags: a.tags,
    doc: typeof a.doc === 'string' ? JSON.parse(a.doc) : a.doc,
    flag: a.flag,
  };
}

test('full and incremental sync into Kafka: Debezium events per key match the source, key-hash partitions, tombstones, transaction metadata', async () => {
  const s = testServer(15);
  const txTopicTag = `tx${Date.now()}`;
  const db = await freshDatabase(s, 'kafka_src');
  await sql(
    s,
    db,
    `CREATE TABLE public.items (id int PRIMARY KEY, name text, price numeric(10,2), qty bigint,
       at timestamp, day date, tags text[], doc jsonb, flag boolean);
     CREATE TABLE public.logs (msg text);
     INSERT INTO public.items
       SELECT g, 'item ' || g, (g * 1.25)::numeric(10,2), g::int8 * 10000000000, timestamp '2024-02-29 12:34:56.789012' + g * interval '1 hour',
              date '2024-01-01' + g, ARRAY['a' || g, 'b "q"'], jsonb_build_object('g', g, 'tab', E'x\\ty'), g % 2 = 0
         FROM generate_series(1, 300) g;
     INSERT INTO public.logs SELECT 'line ' || g FROM generate_series(1, 20) g;`,
  );
  const task = writeKafkaTaskFile({
    name: 'kafka_e2e',
    server: s,
    db,
    syncTypes: ['full', 'incremental'],
    objects: [{ schema: 'public' }],
    destination: {
      partitionPolicy: 'key-hash',
      newTopicPartitions: 3,
      tombstones: true,
      transactionTopic: `${txTopicTag}.transactions`,
    },
  });
  const pre = await runCli(['precheck', task.file]);
  // Exit 1 only for the keyless table (insert-only here: its updates and deletes would fail on the source).
  assert.equal(pre.code, 1, pre.stdout + pre.stderr);
  assert.match(
    pre.stdout,
    /PASS {2}Destination reachable and authenticated: connected to kafka .* \(Kafka cluster /,
  );
  // The offsets topic may exist already (other tests' tasks share it): counted apart when missing.
  assert.match(
    pre.stdout,
    /WARN {2}Destination Kafka topics: \d+ topic\(s\) will be created with 3 partition\(s\) \(/,
  );
  assert.match(
    pre.stdout,
    /PASS {2}Destination Kafka ACLs: no authorizer is configured on the cluster \(DescribeAcls: SECURITY_DISABLED\)/,
  );
  assert.deepEqual(
    pre.stdout.split('\n').filter((l) => l.startsWith('FAIL')),
    ['FAIL  Replica identity of selected tables: no primary key and no usable replica identity: public.logs'],
  );
  const r = startCli(['run', task.file]);
  try {
    await r.waitFor(/streaming from/, 120_000);
    await sql(
      s,
      db,
      `INSERT INTO public.items (id, name, price, qty, flag) VALUES (1001, 'new', -3.5, -1, NULL);
       UPDATE public.items SET name = 'renamed', price = price + 0.01 WHERE id % 10 = 0;
       DELETE FROM public.items WHERE id % 7 = 0;
       UPDATE public.items SET id = 5000 WHERE id = 1;
       INSERT INTO public.logs VALUES ('after');`,
    );
    await waitForCatchUp(s, db, task.slot, 60_000, () => r.output());
  } finally {
    await stopCli(r);
  }
  const topics = await topicsStartingWith(`${task.topicPrefix}.`);
  assert.deepEqual(topics, [`${task.topicPrefix}.public.items`, `${task.topicPrefix}.public.logs`]);
  const items = await readEvents([`${task.topicPrefix}.public.items`], { readCommitted: false });
  const logs = await readEvents([`${task.topicPrefix}.public.logs`], { readCommitted: false });

  // Final state per key equals the source.
  const source = await sql<SourceRow>(s, db, SOURCE_ROWS);
  const rows = finalRows(items, true);
  assert.equal(rows.size, source.length);
  for (const row of source) {
    const got = rows.get(JSON.stringify({ id: row.id }));
    assert.ok(got !== undefined, `no event left row ${row.id}`);
    assert.deepEqual(decodedAfter(got), expectedAfter(row), `row ${row.id}`);
  }

  // Every event: the envelope, the source block, key = primary key, partition = murmur2(key) % 3.
  const ops = new Map<string, number>();
  const partitions = new Set<number>();
  for (const e of items) {
    assert.ok(e.keyBytes !== undefined, 'items has a primary key: every record is keyed');
    assert.equal(e.partition, (murmur2(e.keyBytes, false) & 0x7fffffff) % 3, 'key-hash partition');
    partitions.add(e.partition);
    if (e.value === null) continue;
    const v = e.value as Envelope & { ts_ms: number; ts_us: number; ts_ns: number };
    ops.set(v.op, (ops.get(v.op) ?? 0) + 1);
    assert.equal(v.source.connector, 'postgresql');
    assert.equal(v.source.name, 'kafka_e2e');
    assert.equal(v.source.db, db);
    assert.equal(v.source.schema, 'public');
    assert.equal(v.source.table, 'items');
    assert.equal(v.source.snapshot, v.op === 'r' ? 'true' : 'false');
    assert.equal(typeof v.ts_ms, 'number');
    assert.deepEqual(Object.keys(e.key as object), ['id']);
    if (v.op !== 'r') {
      assert.equal(typeof v.source.txId, 'number');
      assert.equal(typeof v.source.lsn, 'number');
    }
    if (v.op === 'd') {
      assert.equal(v.after, null);
      assert.equal((v.before as { id: number }).id, (e.key as { id: number }).id);
      assert.equal(
        (v.before as { name: unknown }).name,
        null,
        'replica identity default: only the key is known',
      );
    }
    if (v.op === 'u') assert.equal(v.before, null, 'replica identity default: no before for an update');
  }
  assert.equal(partitions.size, 3, 'keys spread over the 3 partitions');
  const deleted =
    (
      await sql<{ n: number }>(
        s,
        db,
        `SELECT count(*)::int AS n FROM generate_series(1, 300) g WHERE g % 7 = 0`,
      )
    )[0]?.n ?? 0;
  assert.equal(ops.get('r'), 300, 'one read event per copied row');
  // Ids 7, 14, ... 294 and the new 1001 were deleted; the key change deleted id 1.
  assert.equal(ops.get('d'), deleted + 1 + 1, 'the deletes and the delete half of the key change');
  assert.equal(ops.get('c'), 2, 'the insert and the create half of the key change');
  assert.equal(ops.get('u'), 30, 'every updated row (some deleted later)');
  assert.equal(items.filter((e) => e.value === null).length, ops.get('d'), 'a tombstone per delete');

  // Transaction metadata: one BEGIN and one END per source transaction of the incremental phase
  // (the statements above are one transaction), END counting its events per table; each change
  // event carries its transaction block.
  const tx = await readEvents([`${txTopicTag}.transactions`], { readCommitted: false });
  const statuses = tx.map((e) => (e.value as { status: string }).status);
  assert.deepEqual(statuses, ['BEGIN', 'END']);
  const end = tx[1]?.value as {
    id: string;
    event_count: number;
    data_collections: { data_collection: string; event_count: number }[];
  };
  const streamed = items.filter((e) => e.value !== null && (e.value as Envelope).op !== 'r');
  assert.equal(end.event_count, streamed.length + 1, 'every change event of items and the one of logs');
  assert.deepEqual(
    end.data_collections.sort((a, b) => a.data_collection.localeCompare(b.data_collection)),
    [
      { data_collection: 'public.items', event_count: streamed.length },
      { data_collection: 'public.logs', event_count: 1 },
    ],
  );
  assert.deepEqual(tx[0]?.key, { id: end.id });
  const blocks = streamed.map(
    (e) => (e.value as { transaction: { id: string; total_order: number } }).transaction,
  );
  assert.ok(blocks.every((b) => b.id === end.id));
  // total_order numbers the transaction's events 1..n (items' and the logs' one), each once.
  const orders = blocks.map((b) => b.total_order);
  assert.equal(new Set(orders).size, orders.length);
  assert.ok(orders.every((n) => n >= 1 && n <= end.event_count));

  // The keyless table: no key, partition 0, every row once.
  assert.equal(logs.length, 21);
  assert.ok(logs.every((e) => e.keyBytes === undefined && e.partition === 0));
  assert.deepEqual(
    logs.map((e) => ((e.value as Envelope).after as { msg: string }).msg).sort(),
    [...Array.from({ length: 20 }, (_, i) => `line ${i + 1}`), 'after'].sort(),
  );
  const rel = await runCli(['release', task.file]);
  assert.equal(rel.code, 0, rel.stdout + rel.stderr);
});

test('full sync copies ranges of one table in parallel into a one-partition topic: every row once, no sequence error', async () => {
  // Four ranges of ~1 MB copied by four jobs send read events through the one idempotent producer
  // at once. @platformatic/kafka gives requests in flight for one partition the same base sequence
  // (src/sink/kafka/idempotent-sender.ts), so without one request at a time the broker refused them
  // with OUT_OF_ORDER_SEQUENCE_NUMBER until retry.otherMinutes ran out (seen in bench K1, scale 20).
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_ranges');
  await sql(
    s,
    db,
    `CREATE TABLE public.wide (id int PRIMARY KEY, pad text);
     INSERT INTO public.wide SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g;
     ANALYZE public.wide;`,
  );
  const task = writeKafkaTaskFile({
    name: 'kafka_ranges',
    server: s,
    db,
    syncTypes: ['full'],
    objects: [{ schema: 'public' }],
    destination: { newTopicPartitions: 1 },
    extra: {
      full: { jobs: 4, splitTablesLargerThanBytes: 1024 * 1024, rangeSizeBytes: 1024 * 1024 },
      retry: { initialDelayMs: 200, maxDelayMs: 2_000, otherMinutes: 1 },
    },
  });
  const run = await runCli(['run', task.file]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout + run.stderr, /table public\.wide copied: 20000 rows, .*\([2-9] ranges\)/);
  assert.doesNotMatch(run.stdout + run.stderr, /sequence number/);
  const events = await readEvents([`${task.topicPrefix}.public.wide`], { readCommitted: false });
  assert.equal(events.length, 20_000, 'one read event per row (no retry wrote a range twice)');
  assert.equal(finalRows(events, true).size, 20_000);
});
