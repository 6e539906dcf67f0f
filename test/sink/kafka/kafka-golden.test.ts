/**
 * pgdts's change events against the real Debezium's on the same rows: the golden files
 * fixtures/debezium-schemas-{false,true}.json were captured once from Debezium 3.6.1.Final
 * (fixtures/README.md; no Debezium at test time). pgdts runs the same SETUP_SQL and CHANGES_SQL
 * (fixtures/golden-rows.ts) into the test broker, and every record is compared field by field
 * (golden-compare.ts). The differences left are the documented ones (KNOWN_DIFFERENCES, also in
 * src/sink/kafka/kafka-sink.md "Differences from Debezium"): a new one fails the test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { waitForCatchUp } from '../../support/catch-up.ts';
import { readEvents } from '../../support/kafka-events.ts';
import { writeKafkaTaskFile } from '../../support/kafka-task.ts';
import { startCli, stopCli } from '../../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';
import { CHANGES_SQL, GOLDEN_TABLES, SETUP_SQL } from './fixtures/golden-rows.ts';
import { compareRecords, withoutPrefix, type GoldenRecord } from './golden-compare.ts';

interface Fixture {
  readonly debezium: string;
  readonly topicPrefix: string;
  readonly events: readonly GoldenRecord[];
}

function fixture(schemas: boolean): Fixture {
  return JSON.parse(
    readFileSync(new URL(`./fixtures/debezium-schemas-${String(schemas)}.json`, import.meta.url), 'utf8'),
  ) as Fixture;
}

/**
 * The differences that remain, each documented in src/sink/kafka/kafka-sink.md "Differences from
 * Debezium" (patterns over compareRecords' lines `<topic> #<n> <op> <key|value>.<path>: …`).
 */
const SNAPSHOT_MARKS =
  /^public\.\w+ #\d+ r value\.(payload\.)?source\.snapshot: debezium="(first|last|first_in_data_collection|last_in_data_collection)" pgdts="true"$/;
/** Debezium drops columns of types it does not map (box); pgdts writes their text. */
const BOX_COLUMN =
  /^public\.types #\d+ [rcud] value\.(payload\.|schema\.fields\.(before|after)\.fields\.)?(before\.|after\.)?c_box: only in pgdts/;
/** Enum columns: Debezium's schema names io.debezium.data.Enum with the labels (`allowed`). */
const ENUM_SCHEMA =
  /^public\.types #\d+ [rcud] value\.schema\.fields\.(before|after)\.fields\.c_mood\.(name|version|parameters): missing in pgdts/;
const KNOWN_DIFFERENCES: Readonly<Record<'false' | 'true', readonly RegExp[]>> = {
  false: [SNAPSHOT_MARKS, BOX_COLUMN],
  true: [SNAPSHOT_MARKS, BOX_COLUMN, ENUM_SCHEMA],
};

async function pgdtsRecords(schemas: boolean): Promise<GoldenRecord[]> {
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_golden');
  await sql(s, db, SETUP_SQL);
  const task = writeKafkaTaskFile({
    name: `golden_${String(schemas)}`,
    server: s,
    db,
    syncTypes: ['full', 'incremental'],
    objects: GOLDEN_TABLES.map((table) => ({ table })),
    destination: { partitionPolicy: 'partition-0', newTopicPartitions: 1, tombstones: true, schemas },
  });
  const r = startCli(['run', task.file]);
  try {
    await r.waitFor(/streaming from/, 120_000);
    for (const statement of CHANGES_SQL) await sql(s, db, statement);
    await waitForCatchUp(s, db, task.slot, 60_000, () => r.output());
  } finally {
    await stopCli(r);
  }
  const topics = GOLDEN_TABLES.map((t) => `${task.topicPrefix}.${t}`);
  const events = await readEvents(topics, { readCommitted: false });
  return events.map((e) => ({
    topic: e.topic.slice(task.topicPrefix.length + 1),
    key: withoutPrefix(e.key, task.name),
    value: withoutPrefix(e.value, task.name),
  }));
}

for (const schemas of [false, true]) {
  test(`events match Debezium 3.6.1.Final's golden files field by field (schemas: ${String(schemas)})`, async () => {
    const f = fixture(schemas);
    assert.equal(f.debezium, '3.6.1.Final');
    const golden = f.events.map((e) => ({
      topic: e.topic,
      key: withoutPrefix(e.key, f.topicPrefix),
      value: withoutPrefix(e.value, f.topicPrefix),
    }));
    const ours = await pgdtsRecords(schemas);
    const diffs = compareRecords(golden, ours);
    const known = KNOWN_DIFFERENCES[String(schemas) as 'false' | 'true'];
    const unexpected = diffs.filter((d) => !known.some((k) => k.test(d)));
    const unseen = known.filter((k) => !diffs.some((d) => k.test(d))).map(String);
    assert.deepEqual(
      { unexpected, unseen },
      { unexpected: [], unseen: [] },
      `differences from Debezium:\n${diffs.join('\n')}`,
    );
  });
}
