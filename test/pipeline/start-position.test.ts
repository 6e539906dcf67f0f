/**
 * Where an incremental-only task starts, end to end on real servers: an existing pgoutput slot is
 * streamed from its confirmed position, with the transactions committed before incremental.startTime
 * skipped, and kept by release; the existing-slot precheck fails each unusable slot with its fix, and
 * a run refuses one. Invariants cited: src/source/postgres/slot-lifecycle.md S8,
 * src/source/postgres/transaction-assembler.ts A4.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { PrecheckResult } from '../../src/core/precheck.ts';
import { parseTaskConfig, type TaskConfig } from '../../src/core/task-config.ts';
import { openSink, openSource } from '../../src/connectors/open-connectors.ts';
import { formatPrecheckReport } from '../../src/pipeline/precheck/format-precheck-report.ts';
import { runPrechecks } from '../../src/pipeline/precheck/run-prechecks.ts';
import { waitForCatchUp } from '../support/catch-up.ts';
import { until } from '../support/own-server.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer, testServers, urlOf, type TestServer } from '../support/servers.ts';

const PG_RECVLOGICAL = '/usr/lib/postgresql/15/bin/pg_recvlogical';

/** The server's clock now, as ISO 8601 in UTC with µs. */
async function serverNow(s: TestServer, db: string): Promise<string> {
  const r = await sql<{ t: string }>(
    s,
    db,
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  return r[0]?.t ?? '';
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Drops a slot of the test, waiting for a walsender that still holds it to go. */
async function dropSlot(s: TestServer, db: string, name: string): Promise<void> {
  await until(`slot ${name} to be free`, async () => {
    const r = await sql<{ active: boolean }>(
      s,
      db,
      `SELECT active FROM pg_replication_slots WHERE slot_name = $1`,
      [name],
    );
    return r[0]?.active !== true;
  });
  await sql(
    s,
    db,
    `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`,
    [name],
  );
}

for (const server of testServers()) {
  test(`PostgreSQL ${server.version}: an existing slot streams from its confirmed position, skipping what committed before startTime, and release keeps it [S8][A4]`, async () => {
    const s = server;
    const src = await freshDatabase(s, 'sp_src');
    const dst = await freshDatabase(s, 'sp_dst');
    const slot = `legacy_${randomBytes(3).toString('hex')}`;
    // Someone else's setup: a publication, then a slot, holding changes nobody consumed yet.
    await sql(
      s,
      src,
      `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text);
       INSERT INTO app.t VALUES (1, 'before');
       CREATE PUBLICATION legacy_pub FOR TABLE app.t`,
    );
    const created = (
      await sql<{ lsn: string }>(
        s,
        src,
        `SELECT lsn::text FROM pg_create_logical_replication_slot('${slot}', 'pgoutput')`,
      )
    )[0]?.lsn;
    // The destination already holds the data as of the start time (restored by other means).
    await sql(
      s,
      dst,
      `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); INSERT INTO app.t VALUES (1, 'before')`,
    );
    await sql(s, src, `INSERT INTO app.t VALUES (3, 'committed before the start time')`);
    await pause(30);
    const startTime = await serverNow(s, src);
    await pause(30);
    await sql(s, src, `INSERT INTO app.t VALUES (2, 'after'); UPDATE app.t SET v = 'changed' WHERE id = 1`);

    const name = `sp-${s.version}`;
    const file = writeTaskFile({
      name,
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['incremental'],
      objects: [{ schema: 'app' }],
      extra: { incremental: { existingSlot: slot, publicationName: 'legacy_pub', startTime } },
    });
    const pre = await runCli(['precheck', file]);
    assert.match(
      pre.stdout,
      new RegExp(`^PASS {2}Source existing replication slot: slot ${slot} is a pgoutput slot`, 'm'),
    );
    assert.doesNotMatch(pre.stdout, /Source replication slots/, 'no new slot is needed');

    let r = startCli(['run', file]);
    try {
      await r.waitFor(/skipping transactions committed before/);
      await waitForCatchUp(s, src, slot, 60_000, () => r.output());
    } finally {
      await stopCli(r);
    }
    assert.deepEqual(await sql(s, dst, 'SELECT id, v FROM app.t ORDER BY id'), [
      { id: 1, v: 'changed' },
      { id: 2, v: 'after' },
    ]);
    assert.deepEqual(
      await sql(
        s,
        dst,
        `SELECT slot_name, slot_created, publication_created FROM pgdts.task WHERE name = $1`,
        [name],
      ),
      [{ slot_name: slot, slot_created: false, publication_created: false }],
    );
    assert.equal(
      (
        await sql(
          s,
          src,
          `SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE 'pgdts%' AND database = current_database()`,
        )
      ).length,
      0,
      'pgdts made no slot of its own',
    );

    // A second run resumes from the applied position.
    await sql(s, src, `INSERT INTO app.t VALUES (4, 'later')`);
    r = startCli(['run', file]);
    try {
      await waitForCatchUp(s, src, slot, 60_000, () => r.output());
    } finally {
      await stopCli(r);
    }
    assert.deepEqual(await sql(s, dst, 'SELECT id FROM app.t ORDER BY id'), [
      { id: 1 },
      { id: 2 },
      { id: 4 },
    ]);

    const rel = await runCli(['release', file]);
    assert.equal(rel.code, 0, rel.stdout + rel.stderr);
    assert.match(rel.stdout, new RegExp(`replication slot ${slot}: kept \\(not created by pgdts\\)`));
    assert.match(rel.stdout, /publication legacy_pub: kept/);
    const left = await sql<{ moved: boolean }>(
      s,
      src,
      `SELECT confirmed_flush_lsn > $2::pg_lsn AS moved FROM pg_replication_slots WHERE slot_name = $1`,
      [slot, created],
    );
    assert.deepEqual(left, [{ moved: true }], 'the slot stays, confirmed where pgdts left it');
    await dropSlot(s, src, slot);
  });
}

/** The existing-slot and publication results of the prechecks of an incremental task streaming `slot`. */
async function precheck(
  s: TestServer,
  src: string,
  dst: string,
  slot: string,
  publicationName = 'legacy_pub',
): Promise<{ slot: PrecheckResult | undefined; publication: PrecheckResult | undefined; all: string }> {
  const t: TaskConfig = parseTaskConfig({
    name: 'sp-pre',
    source: { type: 'postgresql', url: urlOf(s, src) },
    destination: { type: 'postgresql', url: urlOf(s, dst) },
    syncTypes: ['incremental'],
    objects: [{ schema: 'app' }],
    incremental: { existingSlot: slot, publicationName },
  });
  const results = await runPrechecks(t, { openSource: () => openSource(t), openSink: () => openSink(t) });
  return {
    slot: results.find((x) => x.id === 'existing-slot'),
    publication: results.find((x) => x.id === 'publication'),
    all: formatPrecheckReport(results),
  };
}

test('the existing-slot precheck fails a missing, physical, foreign-plugin, other-database, in-use slot and an unusable publication, each with its fix; a run refuses them [S8]', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'spp_src');
  const other = await freshDatabase(s, 'spp_other');
  const dst = await freshDatabase(s, 'spp_dst');
  await sql(
    s,
    src,
    `CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY); CREATE TABLE app.u (id int PRIMARY KEY)`,
  );
  const tag = randomBytes(3).toString('hex');
  const slots = {
    good: `good_${tag}`,
    physical: `phys_${tag}`,
    plugin: `td_${tag}`,
    otherDb: `otherdb_${tag}`,
  };
  await sql(
    s,
    src,
    `CREATE PUBLICATION legacy_pub FOR TABLE app.t, app.u; CREATE PUBLICATION half_pub FOR TABLE app.t`,
  );
  await sql(s, src, `SELECT pg_create_logical_replication_slot('${slots.good}', 'pgoutput')`);
  await sql(s, src, `SELECT pg_create_physical_replication_slot('${slots.physical}')`);
  await sql(s, src, `SELECT pg_create_logical_replication_slot('${slots.plugin}', 'test_decoding')`);
  await sql(s, other, `SELECT pg_create_logical_replication_slot('${slots.otherDb}', 'pgoutput')`);
  try {
    const good = await precheck(s, src, dst, slots.good);
    assert.equal(good.slot?.status, 'pass', good.all);
    assert.equal(good.publication?.status, 'pass', good.all);

    const cases: [string, RegExp, RegExp][] = [
      [`missing_${tag}`, /does not exist/, /pg_create_logical_replication_slot\('missing_\w+', 'pgoutput'\)/],
      [slots.physical, /is a physical slot, not a logical one/, /name a logical pgoutput slot/],
      [slots.plugin, /decodes with plugin test_decoding, not pgoutput/, /name a logical pgoutput slot/],
      [
        slots.otherDb,
        new RegExp(`decodes database ${other}, not ${src}`),
        new RegExp(`connect the task's source to database ${other}`),
      ],
    ];
    for (const [slot, message, fix] of cases) {
      const r = await precheck(s, src, dst, slot);
      assert.equal(r.slot?.status, 'fail', r.all);
      assert.match(r.slot.message, message);
      assert.match(r.slot.fix ?? '', fix);
    }

    // Another consumer streams the slot.
    const consumer = spawn(
      PG_RECVLOGICAL,
      [
        '-h',
        s.host,
        '-p',
        String(s.port),
        '-U',
        s.user,
        '-d',
        src,
        '-S',
        slots.good,
        '--start',
        '-f',
        '/dev/null',
        '-o',
        'proto_version=1',
        '-o',
        'publication_names=legacy_pub',
      ],
      { env: { ...process.env, PGPASSWORD: s.password }, stdio: 'ignore' },
    );
    try {
      await until(
        'pg_recvlogical to hold the slot',
        async () =>
          (
            await sql<{ a: boolean }>(
              s,
              src,
              `SELECT active AS a FROM pg_replication_slots WHERE slot_name = $1`,
              [slots.good],
            )
          )[0]?.a === true,
      );
      const busy = await precheck(s, src, dst, slots.good);
      assert.equal(busy.slot?.status, 'fail', busy.all);
      assert.match(busy.slot.message, /is in use by process \d+ \(application_name pg_recvlogical\)/);
      assert.match(busy.slot.fix ?? '', /stop that consumer first \(or SELECT pg_terminate_backend\(\d+\)\)/);
      // A run refuses to take it over, before it streams anything.
      const file = writeTaskFile({
        name: `spp-busy`,
        source: { server: s, db: src },
        destination: { server: s, db: dst },
        syncTypes: ['incremental'],
        objects: [{ schema: 'app' }],
        extra: { incremental: { existingSlot: slots.good, publicationName: 'legacy_pub' } },
      });
      const run = await runCli(['run', file]);
      assert.equal(run.code, 2, run.stdout + run.stderr);
      assert.match(
        run.stderr,
        /SOURCE_UNSUPPORTED: incremental\.existingSlot: replication slot good_\w+ is in use by process/,
      );
      assert.match(run.stderr, /hint: stop that consumer first/);
    } finally {
      consumer.kill('SIGTERM');
    }

    // The publication must exist and list every selected table already.
    const none = await precheck(s, src, dst, slots.good, 'no_such_pub');
    assert.equal(none.publication?.status, 'fail', none.all);
    assert.match(
      none.publication.message,
      /publication no_such_pub does not exist: .* one created now cannot decode them/,
    );
    assert.match(
      none.publication.fix ?? '',
      /set incremental\.publicationName to the publication slot good_\w+ was streamed with/,
    );
    const half = await precheck(s, src, dst, slots.good, 'half_pub');
    assert.equal(half.publication?.status, 'fail', half.all);
    assert.match(
      half.publication.message,
      /publication half_pub does not publish app\.u: .* adding it now would lose its earlier changes|would lose their earlier changes/,
    );
    const file = writeTaskFile({
      name: `spp-nopub`,
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['incremental'],
      objects: [{ schema: 'app' }],
      extra: { incremental: { existingSlot: slots.good, publicationName: 'no_such_pub' } },
    });
    const run = await runCli(['run', file]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(
      run.stderr,
      /SOURCE_UNSUPPORTED: incremental\.existingSlot: publication no_such_pub does not exist/,
    );
    assert.equal(
      (await sql(s, src, `SELECT 1 FROM pg_publication WHERE pubname = 'no_such_pub'`)).length,
      0,
      'pgdts did not create it',
    );
  } finally {
    for (const name of [slots.good, slots.physical, slots.plugin]) await dropSlot(s, src, name);
    await dropSlot(s, other, slots.otherDb);
  }
});
