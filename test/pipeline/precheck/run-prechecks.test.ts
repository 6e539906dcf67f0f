import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseTaskConfig, type TaskConfig } from '../../../src/core/task-config.ts';
import { EmbeddedServer, freePort } from '../../../src/embedded/embedded-server.ts';
import { formatPrecheckReport } from '../../../src/pipeline/precheck/format-precheck-report.ts';
import type { PrecheckResult } from '../../../src/core/precheck.ts';
import { openSink, openSource } from '../../../src/connectors/open-connectors.ts';
import { prechecksPassed, runPrechecks } from '../../../src/pipeline/precheck/run-prechecks.ts';
import { freshDatabase, sql, testServer, urlOf, type TestServer } from '../../support/servers.ts';

const src = testServer(15);
const dst = testServer(17);

function task(
  source: string,
  destination: string,
  over: {
    syncTypes?: string[];
    objects?: object[];
    name?: string;
    slotName?: string;
    conflictingTables?: string;
  } = {},
): TaskConfig {
  return parseTaskConfig({
    name: over.name ?? 'precheck',
    source: { type: 'postgresql', url: source },
    destination: { type: 'postgresql', url: destination },
    syncTypes: over.syncTypes ?? ['schema', 'full', 'incremental'],
    objects: over.objects ?? [{ schema: 'app' }],
    ...(over.slotName !== undefined ? { incremental: { slotName: over.slotName } } : {}),
    ...(over.conflictingTables !== undefined ? { conflictingTables: over.conflictingTables } : {}),
  });
}

/** Runs the prechecks of `t` with its real connectors, as `pgdts precheck` does. */
function precheck(t: TaskConfig): Promise<PrecheckResult[]> {
  return runPrechecks(t, { openSource: () => openSource(t), openSink: () => openSink(t) });
}

function byId(results: readonly PrecheckResult[], id: string): PrecheckResult {
  const r = results.find((x) => x.id === id);
  assert.ok(r, `no result ${id} in\n${formatPrecheckReport(results)}`);
  return r;
}

async function sourceDb(s: TestServer = src): Promise<string> {
  const db = await freshDatabase(s, 'pre_src');
  await sql(
    s,
    db,
    `CREATE SCHEMA app;
     CREATE TABLE app.orders (id int PRIMARY KEY, note text);
     CREATE TABLE app.events (at timestamptz, what text);
     ALTER TABLE app.events REPLICA IDENTITY FULL;
     CREATE TABLE app.parts (id int, k int, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
     CREATE TABLE app.parts_1 PARTITION OF app.parts FOR VALUES FROM (0) TO (10);`,
  );
  return db;
}

test('a well-prepared task passes every check (15 → 17), keyless FULL table warns', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  const results = await precheck(task(urlOf(src, s), urlOf(dst, d)));
  const ids = results.map((r) => r.id);
  for (const id of [
    'source-connection',
    'destination-connection',
    'selected-objects',
    'source-version',
    'destination-version',
    'wal-level',
    'replication-slots',
    'wal-senders',
    'replication-role',
    'pgoutput-streaming',
    'source-privileges',
    'publication',
    'destination-privileges',
    'destination-tables',
    'schema-extensions',
  ]) {
    assert.equal(byId(results, id).status, 'pass', formatPrecheckReport(results));
  }
  assert.ok(ids.includes('replica-identity'));
  const ri = byId(results, 'replica-identity');
  assert.equal(ri.status, 'warn');
  assert.match(ri.message, /app\.events/);
  assert.doesNotMatch(ri.message, /orders|parts/);
  assert.match(byId(results, 'pgoutput-streaming').message, /streams in-progress/);
  assert.match(byId(results, 'selected-objects').message, /4 table\(s\) selected \(3 with storage\)/);
  assert.ok(prechecksPassed(results));
  const text = formatPrecheckReport(results);
  assert.match(text, /^PASS {2}Source reachable and authenticated: connected to postgres@127\.0\.0\.1:/m);
  assert.match(text, /^WARN {2}Replica identity of selected tables: .*\n {6}fix: add a primary key/m);
  assert.match(text, /passed, 1 warning\(s\), 0 failed$/);
});

test('without incremental the replication checks are not run', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  const results = await precheck(task(urlOf(src, s), urlOf(dst, d), { syncTypes: ['schema', 'full'] }));
  const ids = results.map((r) => r.id);
  for (const id of [
    'wal-level',
    'replication-slots',
    'wal-senders',
    'replication-role',
    'replica-identity',
    'publication',
  ]) {
    assert.ok(!ids.includes(id), id);
  }
  assert.ok(
    results.every((r) => r.status === 'pass'),
    formatPrecheckReport(results),
  );
});

test('refused port and wrong password give distinct messages naming host and port, without the password', async () => {
  const d = await freshDatabase(dst, 'pre_dst');
  const port = await freePort();
  const refused = await precheck(task(`postgresql://postgres:whatever@127.0.0.1:${port}/x`, urlOf(dst, d)));
  const r1 = byId(refused, 'source-connection');
  assert.equal(r1.status, 'fail');
  assert.match(r1.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.match(r1.message, /ECONNREFUSED/);
  assert.match(r1.fix ?? '', /listening/);
  assert.equal(byId(refused, 'destination-connection').status, 'pass');
  // Nothing depending on the source is reported once it is unreachable.
  assert.ok(!refused.some((r) => r.id === 'selected-objects' || r.id === 'wal-level'));
  assert.ok(!prechecksPassed(refused));

  const secret = 'Wr0ng-Secret-pw-42';
  const wrong = await precheck(
    task(urlOf(src, 'postgres'), `postgresql://postgres:${secret}@127.0.0.1:${dst.port}/${d}`),
  );
  const r2 = byId(wrong, 'destination-connection');
  assert.equal(r2.status, 'fail');
  assert.match(r2.message, new RegExp(`127\\.0\\.0\\.1:${dst.port}`));
  assert.match(r2.message, /password authentication failed/);
  assert.match(r2.fix ?? '', /check the password/);
  assert.notEqual(r1.message.replace(/\d+/g, ''), r2.message.replace(/\d+/g, ''));
  const text = formatPrecheckReport(wrong);
  assert.ok(!text.includes(secret));
  assert.ok(!JSON.stringify(wrong).includes(secret));
});

test('a missing selected table fails selected-objects naming it', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  const results = await precheck(
    task(urlOf(src, s), urlOf(dst, d), { objects: [{ table: 'app.orders' }, { table: 'app.nope' }] }),
  );
  const r = byId(results, 'selected-objects');
  assert.equal(r.status, 'fail');
  assert.match(r.message, /app\.nope/);
  assert.doesNotMatch(r.message, /app\.orders/);
  assert.ok(!results.some((x) => x.id === 'replica-identity'));
});

test('a keyless table without replica identity fails with a REPLICA IDENTITY FULL hint', async () => {
  const s = await sourceDb();
  await sql(
    src,
    s,
    'CREATE TABLE app."Log Lines" (line text); CREATE TABLE app.nothing (id int PRIMARY KEY); ALTER TABLE app.nothing REPLICA IDENTITY NOTHING',
  );
  const d = await freshDatabase(dst, 'pre_dst');
  const results = await precheck(task(urlOf(src, s), urlOf(dst, d)));
  const r = byId(results, 'replica-identity');
  assert.equal(r.status, 'fail');
  assert.match(r.message, /app\.Log Lines, app\.nothing/);
  assert.match(r.fix ?? '', /ALTER TABLE "app"\."Log Lines" REPLICA IDENTITY FULL;/);
  // Without incremental the same tables are fine.
  const full = await precheck(task(urlOf(src, s), urlOf(dst, d), { syncTypes: ['schema', 'full'] }));
  assert.ok(prechecksPassed(full), formatPrecheckReport(full));
});

test('destination tables (conflictingTables): existing fails with schema sync, non-empty fails for full, ignore uses them, missing fails without schema sync', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  await sql(dst, d, 'CREATE SCHEMA app; CREATE TABLE app.orders (id int PRIMARY KEY, note text)');
  let r = byId(await precheck(task(urlOf(src, s), urlOf(dst, d))), 'destination-tables');
  assert.equal(r.status, 'fail');
  assert.match(r.message, /already exist in the destination: app\.orders/);
  assert.match(r.fix ?? '', /conflictingTables: ignore/);
  // Mapped away from the existing table, the same selection passes.
  r = byId(
    await precheck(task(urlOf(src, s), urlOf(dst, d), { objects: [{ schema: 'app', as: 'app_copy' }] })),
    'destination-tables',
  );
  assert.equal(r.status, 'pass', r.message);

  await sql(dst, d, "INSERT INTO app.orders VALUES (1, 'x')");
  r = byId(
    await precheck(
      task(urlOf(src, s), urlOf(dst, d), {
        syncTypes: ['full', 'incremental'],
        objects: [{ table: 'app.orders' }],
      }),
    ),
    'destination-tables',
  );
  assert.equal(r.status, 'fail');
  assert.match(r.message, /already hold rows.*app\.orders/);
  assert.match(r.fix ?? '', /TRUNCATE "app"\."orders"/);
  r = byId(
    await precheck(task(urlOf(src, s), urlOf(dst, d), { conflictingTables: 'ignore' })),
    'destination-tables',
  );
  assert.equal(r.status, 'pass', r.message);
  assert.match(r.message, /1 holding rows/);

  // Incremental alone expects loaded tables, but all of them.
  r = byId(
    await precheck(task(urlOf(src, s), urlOf(dst, d), { syncTypes: ['incremental'] })),
    'destination-tables',
  );
  assert.equal(r.status, 'fail');
  assert.match(r.message, /missing.*app\.events/);
  assert.doesNotMatch(r.message, /app\.orders/);
  r = byId(
    await precheck(
      task(urlOf(src, s), urlOf(dst, d), { syncTypes: ['incremental'], objects: [{ table: 'app.orders' }] }),
    ),
    'destination-tables',
  );
  assert.equal(r.status, 'pass');
});

test('privileges: an unprivileged user fails source and destination privilege and replication checks', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  const role = `pre_user_${Math.random().toString(16).slice(2, 8)}`;
  const pw = 'Plain-Pw-9';
  for (const [srv, db] of [
    [src, s],
    [dst, d],
  ] as const) {
    await sql(srv, db, `CREATE ROLE ${role} LOGIN PASSWORD '${pw}'`);
    await sql(
      srv,
      db,
      `REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE ${db} FROM PUBLIC`,
    );
  }
  await sql(src, s, `GRANT USAGE ON SCHEMA app TO ${role}; GRANT SELECT ON app.orders TO ${role}`);
  await sql(
    dst,
    d,
    `CREATE SCHEMA app; CREATE TABLE app.orders (id int PRIMARY KEY, note text); GRANT USAGE ON SCHEMA app TO ${role}`,
  );
  try {
    const results = await precheck(
      task(
        `postgresql://${role}:${pw}@127.0.0.1:${src.port}/${s}`,
        `postgresql://${role}:${pw}@127.0.0.1:${dst.port}/${d}`,
      ),
    );
    const sp = byId(results, 'source-privileges');
    assert.equal(sp.status, 'fail');
    assert.match(sp.message, /no SELECT on app\.events, app\.parts, app\.parts_1/);
    assert.match(sp.fix ?? '', /GRANT SELECT ON "app"\."events"/);
    const pub = byId(results, 'publication');
    assert.equal(pub.status, 'fail');
    assert.match(
      pub.message,
      /does not exist and .* cannot create it: it lacks CREATE on database .* and ownership of app\.events/,
    );
    assert.match(
      pub.fix ?? '',
      /CREATE PUBLICATION "pgdts_precheck" FOR TABLE "app"\."events", "app"\."orders", "app"\."parts"/,
    );
    const rr = byId(results, 'replication-role');
    assert.equal(rr.status, 'fail');
    assert.match(rr.fix ?? '', new RegExp(`ALTER ROLE "${role}" REPLICATION|ALTER ROLE ${role} REPLICATION`));
    const dp = byId(results, 'destination-privileges');
    assert.equal(dp.status, 'fail');
    assert.match(dp.message, /no CREATE on database .* to create schema pgdts;/);
    assert.match(dp.message, /no USAGE and CREATE on schema app/);
    assert.match(dp.message, /missing SELECT, INSERT, TRUNCATE, UPDATE, DELETE on app\.orders/);
    assert.match(dp.fix ?? '', /GRANT SELECT, INSERT, TRUNCATE, UPDATE, DELETE ON "app"\."orders" TO/);
    assert.ok(!formatPrecheckReport(results).includes(pw));

    // Granting what the hints say makes the privilege checks pass.
    await sql(src, s, `ALTER ROLE ${role} REPLICATION; GRANT CREATE ON DATABASE ${s} TO ${role}`);
    for (const t of ['events', 'parts', 'parts_1', 'orders'])
      await sql(src, s, `ALTER TABLE app.${t} OWNER TO ${role}`);
    await sql(dst, d, `GRANT CREATE ON DATABASE ${d} TO ${role}; GRANT CREATE ON SCHEMA app TO ${role}`);
    await sql(dst, d, `GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON app.orders TO ${role}`);
    const again = await precheck(
      task(
        `postgresql://${role}:${pw}@127.0.0.1:${src.port}/${s}`,
        `postgresql://${role}:${pw}@127.0.0.1:${dst.port}/${d}`,
      ),
    );
    for (const id of ['source-privileges', 'publication', 'replication-role', 'destination-privileges']) {
      assert.equal(byId(again, id).status, 'pass', formatPrecheckReport(again));
    }
  } finally {
    for (const [srv, db] of [
      [src, s],
      [dst, d],
    ] as const) {
      await sql(srv, 'postgres', `DROP DATABASE ${db} WITH (FORCE)`);
      await sql(srv, 'postgres', `DROP ROLE ${role}`);
    }
  }
});

test('an existing pgoutput slot of the task is reused; a foreign slot type fails', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  const slot = `pre_slot_${Math.random().toString(16).slice(2, 8)}`;
  await sql(src, s, `SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
  try {
    const r = byId(
      await precheck(task(urlOf(src, s), urlOf(dst, d), { slotName: slot })),
      'replication-slots',
    );
    assert.equal(r.status, 'pass');
    assert.match(r.message, /will be reused/);
  } finally {
    await sql(src, s, `SELECT pg_drop_replication_slot('${slot}')`);
  }
  await sql(src, s, `SELECT pg_create_logical_replication_slot('${slot}', 'test_decoding')`);
  try {
    const r = byId(
      await precheck(task(urlOf(src, s), urlOf(dst, d), { slotName: slot })),
      'replication-slots',
    );
    assert.equal(r.status, 'fail');
    assert.match(r.message, /plugin test_decoding/);
  } finally {
    await sql(src, s, `SELECT pg_drop_replication_slot('${slot}')`);
  }
});

let own: EmbeddedServer | undefined;
let ownDir: string | undefined;
before(async () => {
  ownDir = mkdtempSync(path.join(tmpdir(), 'pgdts-precheck-'));
  own = await EmbeddedServer.start({
    version: 13,
    dataDir: path.join(ownDir, 'data'),
    password: 'own-Secret-pw',
    settings: { wal_level: 'replica', max_replication_slots: 1, max_wal_senders: 0 },
  });
});
after(async () => {
  await own?.stop();
  if (ownDir) rmSync(ownDir, { recursive: true, force: true });
});

test('a source with wal_level=replica, no free slot and no WAL sender fails those checks (PostgreSQL 13)', async () => {
  assert.ok(own);
  await own.query('postgres', 'CREATE DATABASE app_src');
  await own.query('app_src', 'CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY)');
  await own.query('postgres', "SELECT pg_create_physical_replication_slot('standby_1')");
  const d = await freshDatabase(dst, 'pre_dst');
  const results = await precheck(task(own.url('app_src'), urlOf(dst, d)));
  const wl = byId(results, 'wal-level');
  assert.equal(wl.status, 'fail');
  assert.match(wl.message, /wal_level = replica/);
  assert.match(wl.fix ?? '', /ALTER SYSTEM SET wal_level = logical/);
  const rs = byId(results, 'replication-slots');
  assert.equal(rs.status, 'fail');
  assert.match(rs.message, /1 of max_replication_slots = 1 in use/);
  const ws = byId(results, 'wal-senders');
  assert.equal(ws.status, 'fail');
  assert.match(ws.message, /max_wal_senders = 0/);
  assert.match(byId(results, 'pgoutput-streaming').message, /PostgreSQL 13 has no in-progress streaming/);
  assert.equal(byId(results, 'source-version').status, 'pass');
  assert.equal(byId(results, 'destination-version').status, 'pass');
  assert.equal(byId(results, 'replica-identity').status, 'pass');
  // A destination older than the source only warns.
  const back = await precheck(
    task(urlOf(dst, d), own.url('app_src'), {
      syncTypes: ['schema', 'full'],
      objects: [{ schema: 'public' }],
    }),
  );
  const dv = byId(back, 'destination-version');
  assert.equal(dv.status, 'warn');
  assert.match(dv.message, /older than source PostgreSQL 17/);
});

test('unresolvable endpoints fail their connection check without throwing', async () => {
  const results = await precheck(
    parseTaskConfig({
      name: 'precheck',
      source: { type: 'postgresql', host: '127.0.0.1', port: 1, passwordEnv: 'PGDTS_SURELY_UNSET_VAR' },
      destination: { type: 'postgresql', host: 'no-such-host.invalid', port: 5432, password: 'Hidden-pw-7' },
      syncTypes: ['full'],
      objects: [{ schema: 'app' }],
    }),
  );
  assert.deepEqual(
    results.map((r) => [r.id, r.status]),
    [
      ['source-connection', 'fail'],
      ['destination-connection', 'fail'],
    ],
  );
  assert.match(results[0]?.message ?? '', /PGDTS_SURELY_UNSET_VAR is not set/);
  assert.match(results[1]?.message ?? '', /no-such-host\.invalid:5432.*ENOTFOUND/);
  assert.match(results[1]?.fix ?? '', /does not resolve/);
  assert.ok(!formatPrecheckReport(results).includes('Hidden-pw-7'));
});

test('an existing publication lacking an operation fails; one publishing via the partition root warns', async () => {
  const s = await sourceDb();
  const d = await freshDatabase(dst, 'pre_dst');
  await sql(
    src,
    s,
    `CREATE PUBLICATION pgdts_precheck FOR TABLE app.orders, app.events, app.parts WITH (publish = 'insert, update')`,
  );
  let r = byId(await precheck(task(urlOf(src, s), urlOf(dst, d))), 'publication');
  assert.equal(r.status, 'fail');
  assert.match(
    r.message,
    /does not publish delete, truncate: those changes would never reach the destination/,
  );
  assert.equal(
    r.fix,
    `ALTER PUBLICATION "pgdts_precheck" SET (publish = 'insert, update, delete, truncate');`,
  );
  await sql(
    src,
    s,
    `ALTER PUBLICATION pgdts_precheck SET (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
  );
  r = byId(await precheck(task(urlOf(src, s), urlOf(dst, d))), 'publication');
  assert.equal(r.status, 'warn');
  assert.match(r.message, /a TRUNCATE of a single partition is not replicated/);
  assert.match(r.fix ?? '', /publish_via_partition_root = false/);
});

test('task options: bad row filters, a filter outside the replica identity, one a publication refuses (15), two tables meeting without mergeInto, an excluded key column', async () => {
  const s = await sourceDb();
  await sql(
    src,
    s,
    `CREATE FUNCTION app.even(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT $1 % 2 = 0';
     CREATE SCHEMA app2; CREATE TABLE app2.orders (id int PRIMARY KEY, note text);`,
  );
  const d = await freshDatabase(dst, 'pre_dst');
  const check = async (objects: object[], id: string) =>
    byId(await precheck(task(urlOf(src, s), urlOf(dst, d), { objects })), id);

  let r = await check([{ table: 'app.orders', where: 'nope > 1' }], 'row-filters');
  assert.equal(r.status, 'fail');
  assert.match(
    r.message,
    /objects\[0\]\.where: not a valid condition on app\.orders: column "nope" does not exist/,
  );
  // A second statement smuggled into the condition is refused by the server, never run.
  r = await check([{ table: 'app.orders', where: 'true); DROP TABLE app.orders; --' }], 'row-filters');
  assert.equal(r.status, 'fail');
  assert.deepEqual(await sql(src, s, "SELECT to_regclass('app.orders')::text AS t"), [{ t: 'app.orders' }]);
  r = await check([{ table: 'app.orders', where: "note <> 'x'" }], 'row-filters');
  assert.equal(r.status, 'fail');
  assert.match(r.message, /references note of app\.orders, outside its replica identity \(id\)/);
  assert.match(r.fix ?? '', /ALTER TABLE "app"\."orders" REPLICA IDENTITY FULL;/);
  r = await check([{ table: 'app.orders', where: 'app.even(id)' }], 'row-filters');
  assert.equal(r.status, 'fail');
  assert.match(r.message, /not accepted as a publication row filter/);
  r = await check([{ table: 'app.orders', where: 'id % 2 = 0' }], 'row-filters');
  assert.equal(r.status, 'pass', r.message);
  // Without incremental only the condition itself matters.
  const full = byId(
    await precheck(
      task(urlOf(src, s), urlOf(dst, d), {
        syncTypes: ['schema', 'full'],
        objects: [{ table: 'app.orders', where: "note <> 'x'" }],
      }),
    ),
    'row-filters',
  );
  assert.equal(full.status, 'pass', full.message);

  r = await check(
    [
      { table: 'app.orders', as: 'all.orders' },
      { table: 'app2.orders', as: 'all.orders' },
    ],
    'selected-objects',
  );
  assert.equal(r.status, 'fail');
  assert.match(r.message, /app\.orders, app2\.orders all map to all\.orders: declare mergeInto/);
  r = await check([{ table: 'app.orders', excludeColumns: ['id'] }], 'selected-objects');
  assert.equal(r.status, 'fail');
  assert.match(r.message, /objects\[0\]\.excludeColumns.*id/);
});

test('schema-extensions: an extension the destination server lacks fails naming the objects using it; one its user may not create fails with the statement; another version warns', async () => {
  // pg_walinspect ships with 15 and 17, not 13.
  const s = await sourceDb();
  await sql(
    src,
    s,
    `CREATE EXTENSION pg_walinspect;
     CREATE VIEW app."WAL view" AS SELECT count(*) AS n FROM pg_get_wal_records_info('0/0', '0/0');
     CREATE EXTENSION citext VERSION '1.4';
     CREATE TABLE app.names (id int PRIMARY KEY, n citext)`,
  );
  const old = testServer(13);
  const d13 = await freshDatabase(old, 'pre_dst');
  let results = await precheck(task(urlOf(src, s), urlOf(old, d13), { syncTypes: ['schema', 'full'] }));
  let r = byId(results, 'schema-extensions');
  assert.equal(r.status, 'fail', formatPrecheckReport(results));
  assert.match(
    r.message,
    /not available on the destination server: "pg_walinspect" \(used by view app\.WAL view\)/,
  );
  assert.doesNotMatch(r.message, /citext/);
  assert.match(r.fix ?? '', /install the extension files on the destination server/);
  assert.ok(!prechecksPassed(results));

  // Without schema sync the check does not apply.
  results = await precheck(task(urlOf(src, s), urlOf(old, d13), { syncTypes: ['full'] }));
  assert.ok(!results.some((x) => x.id === 'schema-extensions'));

  // On 17 both exist; citext would be created at 1.6 where the source has 1.4.
  const s2 = await sourceDb();
  await sql(
    src,
    s2,
    `CREATE EXTENSION citext VERSION '1.4'; CREATE TABLE app.names (id int PRIMARY KEY, n citext)`,
  );
  const d17 = await freshDatabase(dst, 'pre_dst');
  results = await precheck(task(urlOf(src, s2), urlOf(dst, d17), { syncTypes: ['schema', 'full'] }));
  r = byId(results, 'schema-extensions');
  assert.equal(r.status, 'warn', formatPrecheckReport(results));
  assert.match(r.message, /"citext" 1\.4 on the source, 1\.6 to be created on the destination/);

  // An untrusted extension (pageinspect) in a selected schema, for a user with CREATE on the
  // database but not superuser: it may create citext (trusted), not pageinspect.
  await sql(src, s2, 'CREATE EXTENSION pageinspect SCHEMA app');
  const role = `pre_ext_${Math.random().toString(16).slice(2, 8)}`;
  const pw = 'Plain-Pw-9';
  await sql(
    dst,
    d17,
    `CREATE ROLE ${role} LOGIN PASSWORD '${pw}'; GRANT CREATE ON DATABASE ${d17} TO ${role}`,
  );
  try {
    results = await precheck(
      task(urlOf(src, s2), `postgresql://${role}:${pw}@127.0.0.1:${dst.port}/${d17}`, {
        syncTypes: ['schema', 'full'],
      }),
    );
    r = byId(results, 'schema-extensions');
    assert.equal(r.status, 'fail', formatPrecheckReport(results));
    assert.match(
      r.message,
      new RegExp(`${role} may not create .*: "pageinspect" \\(in selected schema app\\)`),
    );
    assert.doesNotMatch(r.message, /citext/);
    assert.match(r.fix ?? '', /as a superuser on the destination database: CREATE EXTENSION "pageinspect"/);
  } finally {
    await sql(dst, d17, `REVOKE CREATE ON DATABASE ${d17} FROM ${role}`);
    await sql(dst, 'postgres', `DROP OWNED BY ${role}`).catch(() => undefined);
  }
});
