/**
 * Delivery guarantees of the Kafka sink under SIGKILL (kafka-sink.md K2, K3): a write load runs on
 * the source while `pgdts run` is killed five times mid-stream; a last run catches up. Then a
 * consumer reads the topic: at-least-once loses nothing (final state per key equals the source,
 * every insert is there); exactly-once, read_committed, also duplicates nothing (every change event,
 * identified by transaction, LSN, operation and key, is there exactly once).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForCatchUp } from '../../support/catch-up.ts';
import { finalRows, readCommittedWithJava, readEvents, type Envelope } from '../../support/kafka-events.ts';
import { writeKafkaTaskFile } from '../../support/kafka-task.ts';
import { runCli, startCli, stopCli } from '../../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';
import { startWriteLoad } from '../../support/write-load.ts';

const KILLS = 5;

for (const guarantee of ['at-least-once', 'exactly-once'] as const) {
  test(`${guarantee}: ${KILLS} SIGKILLs under write load lose nothing${guarantee === 'exactly-once' ? ' and duplicate nothing (read_committed)' : ''}`, async (t) => {
    const s = testServer(15);
    const db = await freshDatabase(s, 'kafka_kill');
    await sql(
      s,
      db,
      `CREATE TABLE public.k (id bigserial PRIMARY KEY, v text);
       INSERT INTO public.k (v) SELECT 'seed ' || g FROM generate_series(1, 200) g;`,
    );
    const task = writeKafkaTaskFile({
      name: `kill_${guarantee.replaceAll('-', '_')}`,
      server: s,
      db,
      syncTypes: ['full', 'incremental'],
      objects: [{ table: 'public.k' }],
      destination: { deliveryGuarantee: guarantee, newTopicPartitions: 2 },
      extra: { incremental: { batchMaxMs: 20 } },
    });
    // The load starts once the first run streams: rows 1..200 are copied (read events), every later
    // row is streamed (create events).
    let load: ReturnType<typeof startWriteLoad> | undefined;
    try {
      for (let i = 0; i < KILLS; i++) {
        const r = startCli(['run', task.file]);
        const started = Date.now();
        await r.waitFor(/streaming from/, 60_000);
        t.diagnostic(`run ${i + 1} streaming after ${Date.now() - started} ms`);
        load ??= startWriteLoad(s, db, ['public.k'], { updateModulo: 50, deletes: 1, pauseMs: 20 });
        // Kill while batches are in flight: the load commits a transaction every few ms.
        await new Promise((res) => setTimeout(res, 300 + Math.floor(Math.random() * 700)));
        assert.equal(r.child.exitCode, null, `still running when killed:\n${r.output()}`);
        r.child.kill('SIGKILL');
        await r.done;
      }
    } finally {
      await load?.stop();
    }
    const commits = load?.commits() ?? 0;
    assert.ok(commits > 20, `the load ran (${commits} transactions)`);
    const last = startCli(['run', task.file]);
    await last.waitFor(/streaming from/, 60_000);
    await waitForCatchUp(s, db, task.slot, 60_000, () => last.output());
    await stopCli(last);

    const topic = `${task.topicPrefix}.public.k`;
    // Exactly-once is judged by Kafka's own Java consumer in read_committed (the JavaScript client's
    // filter of aborted transactions keeps one aborted range per producer id per fetch, and the task's
    // producer id stays the same across restarts: it would show records of aborted transactions).
    const events =
      guarantee === 'exactly-once'
        ? readCommittedWithJava(topic)
        : await readEvents([topic], { readCommitted: false });
    // Nothing lost: the final state of every key is the source's.
    const source = await sql<{ id: string; v: string }>(
      s,
      db,
      `SELECT id::text AS id, v FROM public.k ORDER BY id`,
    );
    const rows = finalRows(events, true);
    const sourceIds = new Set(source.map((r) => Number(r.id)));
    const extra = [...rows.keys()]
      .filter((k) => !sourceIds.has((JSON.parse(k) as { id: number }).id))
      .slice(0, 3);
    const history = (k: string) =>
      events
        .filter((e) => JSON.stringify(e.key) === k)
        .map(
          (e) =>
            `${e.partition}@${e.offset}:${e.value === null ? 'tombstone' : `${(e.value as Envelope).op} tx${String((e.value as Envelope).source.txId)} lsn${String((e.value as Envelope).source.lsn)}`}`,
        )
        .join(' ');
    assert.equal(
      rows.size,
      source.length,
      `as many keys left as source rows; keys the source no longer has: ${extra.map((k) => `${k}: ${history(k)}`).join('; ')}`,
    );
    for (const row of source) {
      assert.deepEqual(
        rows.get(JSON.stringify({ id: Number(row.id) })),
        { id: Number(row.id), v: row.v },
        `row ${row.id}`,
      );
    }
    // Every row ever inserted (ids 1..200 + 5 per load transaction: bigserial, nothing rolled back)
    // has a read or create event; under exactly-once exactly one, and no change event twice.
    const ever = 200 + commits * 5;
    const created = events.filter((e) => e.value !== null && ['r', 'c'].includes((e.value as Envelope).op));
    const createdIds = created.map((e) => (e.key as { id: number }).id);
    assert.deepEqual(
      [...new Set(createdIds)].sort((a, b) => a - b),
      Array.from({ length: ever }, (_, i) => i + 1),
      'every inserted row has its read or create event',
    );
    const changes = events.filter((e) => e.value !== null && (e.value as Envelope).op !== 'r');
    const idOf = (e: (typeof changes)[number]) => {
      const v = e.value as Envelope;
      return `${String(v.source.txId)}/${String(v.source.lsn)}/${v.op}/${JSON.stringify(e.key)}`;
    };
    const unique = new Set(changes.map(idOf)).size;
    t.diagnostic(
      `${commits} source transactions, ${events.length} records read, ${changes.length} change events (${changes.length - unique} repeated)`,
    );
    if (guarantee === 'exactly-once') {
      assert.equal(createdIds.length, ever, 'each row created once');
      assert.equal(changes.length, unique, 'no change event twice');
    }
    const rel = await runCli(['release', task.file]);
    assert.equal(rel.code, 0, rel.stdout + rel.stderr);
  });
}
