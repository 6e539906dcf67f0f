/**
 * The lease of a Kafka task (kafka-sink.md K1): a second run of the same task takes the lease
 * (its transactional id fences the first run's producer); the first run stops with
 * CHECKPOINT_CONFLICT at its next write instead of going on, and the second streams every change
 * (a 5000-row source transaction too: several produce requests in one Kafka transaction).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForCatchUp } from '../../support/catch-up.ts';
import { finalRows, readCommittedWithJava } from '../../support/kafka-events.ts';
import { writeKafkaTaskFile } from '../../support/kafka-task.ts';
import { runCli, startCli, stopCli } from '../../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';

test('a second run of a Kafka task takes it over: the first stops with CHECKPOINT_CONFLICT, nothing is lost', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_lease');
  await sql(
    s,
    db,
    `CREATE TABLE public.l (id int PRIMARY KEY, v text); INSERT INTO public.l VALUES (1, 'one')`,
  );
  const task = writeKafkaTaskFile({
    name: 'kafka_lease',
    server: s,
    db,
    syncTypes: ['full', 'incremental'],
    objects: [{ table: 'public.l' }],
    destination: { deliveryGuarantee: 'exactly-once' },
  });
  const first = startCli(['run', task.file]);
  await first.waitFor(/streaming from/, 60_000);
  await sql(s, db, `INSERT INTO public.l VALUES (2, 'two')`);
  const second = startCli(['run', task.file]);
  const firstEnd = await first.done;
  assert.notEqual(firstEnd.code, 0, 'the first run stops');
  assert.match(
    firstEnd.stderr + firstEnd.stdout,
    /CHECKPOINT_CONFLICT: .*another run of the task holds its lease now/,
  );
  await second.waitFor(/streaming from/, 60_000);
  // One source transaction of 5000 rows (about 3 MB of events): more than one produce request
  // (message.max.bytes is 1 MB) inside one Kafka transaction.
  await sql(
    s,
    db,
    `INSERT INTO public.l VALUES (3, 'three'); UPDATE public.l SET v = 'uno' WHERE id = 1;
     INSERT INTO public.l SELECT g, repeat('x', 200) FROM generate_series(4, 5003) g`,
  );
  await waitForCatchUp(s, db, task.slot, 60_000, () => second.output());
  await stopCli(second);
  const rows = finalRows(readCommittedWithJava(`${task.topicPrefix}.public.l`), true);
  assert.equal(rows.size, 5003);
  assert.deepEqual(
    [1, 2, 3, 5003].map((id) => rows.get(JSON.stringify({ id }))),
    [
      { id: 1, v: 'uno' },
      { id: 2, v: 'two' },
      { id: 3, v: 'three' },
      { id: 5003, v: 'x'.repeat(200) },
    ],
  );
  const rel = await runCli(['release', task.file]);
  assert.equal(rel.code, 0, rel.stdout + rel.stderr);
});
