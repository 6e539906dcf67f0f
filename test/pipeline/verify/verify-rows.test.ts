/**
 * `pgdts verify --mode rows` and `--repair` against real servers (src/pipeline/verify/verify.md):
 * differences planted in the destination are each found with the right kind and columns [V1] [V2],
 * the dry-run prints the repair SQL, apply repairs it under the guard [V3], and verify then passes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { withConnectors } from '../../../src/connectors/open-connectors.ts';
import { formatRepairScript } from '../../../src/core/repair-sql.ts';
import type { RowDifference } from '../../../src/core/row-difference.ts';
import { parseTaskConfig, type TaskConfig } from '../../../src/core/task-config.ts';
import { formatVerifyReport } from '../../../src/pipeline/verify/format-verify-report.ts';
import { rowDifferencesCsv } from '../../../src/pipeline/verify/format-row-differences.ts';
import { applyRepairs, planRepairs } from '../../../src/pipeline/verify/repair-task.ts';
import type { TableVerifyResult, VerifyReport } from '../../../src/pipeline/verify/verify-report.ts';
import { verifyTask, type VerifyOptions } from '../../../src/pipeline/verify/verify-task.ts';
import { freshDatabase, sql, testServer, urlOf, type TestServer } from '../../support/servers.ts';

function verify(t: TaskConfig, opts: VerifyOptions = {}): Promise<VerifyReport> {
  return withConnectors(t, (c) => verifyTask(t, c, opts));
}

function task(s: TestServer, sdb: string, d: TestServer, ddb: string, extra: object = {}): TaskConfig {
  return parseTaskConfig({
    name: 'verify-rows',
    source: { type: 'postgresql', url: urlOf(s, sdb) },
    destination: { type: 'postgresql', url: urlOf(d, ddb) },
    syncTypes: ['schema', 'full'],
    objects: [{ schema: 'app' }],
    ...extra,
  });
}

function table(r: VerifyReport, name: string): TableVerifyResult {
  const t = r.tables.find((x) => `${x.destinationTable.schema}.${x.destinationTable.name}` === name);
  assert.ok(t, `no ${name} in ${JSON.stringify(r.tables.map((x) => x.destinationTable))}`);
  return t;
}

function diffs(r: VerifyReport, name: string): readonly RowDifference[] {
  return table(r, name).rows?.differences ?? [];
}

function byKey(ds: readonly RowDifference[], key: string): RowDifference {
  const d = ds.find((x) => x.key?.join(',') === key);
  assert.ok(d, `no difference with key ${key} in ${JSON.stringify(ds)}`);
  return d;
}

const DDL = `
  CREATE SCHEMA app;
  CREATE TABLE app.items (id int PRIMARY KEY, n numeric, t text, at timestamptz, big text,
    twice int GENERATED ALWAYS AS (id * 2) STORED);
  CREATE TABLE app.bag (v text, x int);`;

const DATA = `
  INSERT INTO app.items (id, n, t, at, big)
  SELECT i, round(i / 4.0, 2), 'row ' || i, '2024-03-01 10:00:00+00'::timestamptz + i * interval '1 minute',
         CASE WHEN i = 700 THEN repeat('L', 70000) END
    FROM generate_series(1, 1000) i;
  INSERT INTO app.bag SELECT 'dup', 1 FROM generate_series(1, 3);
  INSERT INTO app.bag SELECT 'v' || i, i FROM generate_series(1, 300) i;`;

/** Differences planted in the destination, one of each kind the issue names. */
const PLANT = `
  DELETE FROM app.items WHERE id IN (17, 950);
  INSERT INTO app.items (id, n, t) VALUES (1001, 1, 'extra');
  UPDATE app.items SET t = '' WHERE id = 5;          -- source NULL
  UPDATE app.items SET n = 10.00 WHERE id = 40;      -- source 10.0: numeric scale
  UPDATE app.items SET at = at + interval '2 hours' WHERE id = 300;  -- same wall time, +02 elsewhere
  UPDATE app.items SET big = repeat('L', 69999) || 'M' WHERE id = 700;  -- one changed char in a TOASTed value
  UPDATE app.items SET t = NULL WHERE id = 6;        -- source ''
  DELETE FROM app.bag WHERE ctid = (SELECT ctid FROM app.bag WHERE v = 'dup' LIMIT 1);
  INSERT INTO app.bag VALUES ('v7', 7), ('v7', 7), ('new', NULL);`;

test('[V1] [V2] rows mode lists each planted difference with its kind and columns; repair dry-run, apply, verify passes', async () => {
  const s = testServer(15);
  const d = testServer(17);
  const sdb = await freshDatabase(s, 'vr_src');
  const ddb = await freshDatabase(d, 'vr_dst');
  for (const [srv, db] of [
    [s, sdb],
    [d, ddb],
  ] as const) {
    await sql(srv, db, DDL);
    await sql(srv, db, DATA);
  }
  await sql(s, sdb, "UPDATE app.items SET t = NULL WHERE id = 5; UPDATE app.items SET t = '' WHERE id = 6");
  await sql(s, sdb, 'UPDATE app.items SET n = 10.0 WHERE id = 40');
  await sql(d, ddb, PLANT);
  const t = task(s, sdb, d, ddb);

  // Hash mode (default) sees the tables differ but lists no rows.
  const hashed = await verify(t, { chunkRows: 300 });
  assert.equal(hashed.identical, false);
  assert.equal(table(hashed, 'app.items').rows, undefined);

  const r = await verify(t, { chunkRows: 300, mode: 'rows', leafRows: 8 });
  const text = formatVerifyReport(r);
  const items = diffs(r, 'app.items');
  assert.equal(items.length, 8, text);
  const cols = table(r, 'app.items').rows?.shape.columns ?? [];
  const changed = (key: string) => {
    const x = byKey(items, key);
    assert.equal(x.kind, 'different', JSON.stringify(x));
    return x.kind === 'different' ? x.columns.map((i) => cols[i]) : [];
  };
  assert.equal(byKey(items, '17').kind, 'missing');
  assert.equal(byKey(items, '950').kind, 'missing');
  assert.equal(byKey(items, '1001').kind, 'extra');
  assert.deepEqual(changed('5'), ['t']); // NULL on the source, '' on the destination
  assert.deepEqual(changed('6'), ['t']); // '' on the source, NULL on the destination
  assert.deepEqual(changed('40'), ['n']); // 10.0 vs 10.00
  assert.deepEqual(changed('300'), ['at']);
  assert.deepEqual(changed('700'), ['big']);
  const n40 = byKey(items, '40');
  assert.ok(n40.kind === 'different' && n40.source[1] === '10.0' && n40.destination[1] === '10.00');
  assert.match(text, /different \(id\)=\(5\): t: NULL -> ""/);
  assert.match(text, /different \(id\)=\(300\): at: "2024-03-01 15:00:00\+00" -> "2024-03-01 17:00:00\+00"/);
  // A 70 000-character value is abbreviated with its size, around its first difference.
  assert.match(
    text,
    /big: …"L{31}" \(70000 chars, differs from char 70000\) -> …"L{30}M" \(70000 chars, differs from char 70000\)/,
  );
  assert.match(text, /missing in destination \(id\)=\(17\): id="17" n="4.25" t="row 17"/);

  // On a terminal: an aligned table, one line per differing column.
  const tty = formatVerifyReport(r, { rowsAs: 'table' });
  assert.match(tty, /^ {6}KIND +KEY +COLUMN +SOURCE +DESTINATION$/m);
  assert.match(tty, /^ {6}different +\(5\) +t +NULL +""$/m);
  assert.match(tty, /^ {6}missing in destination +\(17\) +id="17" n="4\.25"/m);
  assert.match(tty, /^ {6}extra in destination {20,}v="new" x=NULL \(copies 0 \/ 1\)$/m);
  const itemLines = tty.split('\n').slice(tty.split('\n').findIndex((l) => l.startsWith('DIFF  app.items')));
  const header = itemLines.find((l) => l.includes('COLUMN'));
  const at = itemLines.find((l) => l.trimStart().startsWith('different') && l.includes('(300)'));
  assert.equal(at?.indexOf('at '), header?.indexOf('COLUMN'), 'columns aligned');

  // Keyless: compared as multisets, each distinct row with its copies.
  const bag = diffs(r, 'app.bag');
  const bagText = bag.map((x) =>
    x.kind === 'different'
      ? 'different'
      : `${x.kind} ${JSON.stringify(x.kind === 'missing' ? x.source : x.destination)} ${x.copies.source}/${x.copies.destination}`,
  );
  assert.deepEqual(bagText.sort(), [
    'extra ["new",null] 0/1',
    'extra ["v7","7"] 1/3',
    'missing ["dup","1"] 3/2',
  ]);

  // CSV lists every differing row with full values.
  const csv = rowDifferencesCsv(r).split('\r\n');
  assert.equal(csv[0], 'table,kind,key,columns,source,destination,source_copies,destination_copies');
  assert.equal(csv.filter((l) => l.startsWith('app.items,')).length, 8);
  assert.ok(csv.some((l) => l.includes('L'.repeat(69999) + 'M')));

  // [V3] Dry-run: the exact statements, by key, with quoted literals; nothing changes.
  const plan = planRepairs(r);
  const script = formatRepairScript(plan);
  assert.match(script, /^BEGIN;\nSET LOCAL session_replication_role = replica;/m);
  assert.match(
    script,
    /^INSERT INTO "app"\."items" \("id", "n", "t", "at", "big"\) OVERRIDING SYSTEM VALUE VALUES \('17', '4.25', 'row 17', '2024-03-01 10:17:00\+00', NULL\);$/m,
  );
  assert.match(script, /^DELETE FROM "app"\."items" WHERE "id" = '1001';$/m);
  assert.match(script, /^UPDATE "app"\."items" SET "t" = NULL WHERE "id" = '5';$/m);
  assert.match(script, /^UPDATE "app"\."items" SET "n" = '10\.0' WHERE "id" = '40';$/m);
  assert.match(
    script,
    /^DELETE FROM "app"\."bag" WHERE ctid IN \(SELECT ctid FROM "app"\."bag" WHERE "v"::text = 'v7' AND "x"::text = '7' LIMIT 2\);$/m,
  );
  assert.match(
    script,
    /^INSERT INTO "app"\."bag" \("v", "x"\) OVERRIDING SYSTEM VALUE VALUES \('dup', '1'\);$/m,
  );
  assert.doesNotMatch(script, /twice/); // generated: computed by the destination
  assert.equal((await verify(t, { mode: 'rows' })).identical, false);

  // [V3] A row changed on the destination after verification is not overwritten.
  await sql(d, ddb, "UPDATE app.items SET t = 'newer' WHERE id = 6");
  const res = await withConnectors(t, (c) => applyRepairs(t, c, plan, { chunkRows: 300 }));
  assert.equal(res.skipped, 1);
  assert.equal(res.failed, 0);
  assert.equal(res.applied, 10);
  // Re-verified by key: only the 8 repaired rows were read (7 exist on the source), not the table.
  assert.equal(table(res.reverify, 'app.items').sourceRows, 7);
  assert.equal(table(res.reverify, 'app.items').chunks, 0);
  const after = diffs(res.reverify, 'app.items');
  assert.equal(after.length, 1);
  assert.equal(byKey(after, '6').kind, 'different');
  assert.equal((await sql<{ t: string }>(d, ddb, 'SELECT t FROM app.items WHERE id = 6'))[0]?.t, 'newer');

  // Repairing the rest makes both sides equal.
  const second = await withConnectors(t, (c) => applyRepairs(t, c, planRepairs(res.reverify)));
  assert.equal(second.applied, 1);
  assert.ok(second.reverify.identical, formatVerifyReport(second.reverify));
  const final = await verify(t, { mode: 'rows', chunkRows: 300 });
  assert.ok(final.identical, formatVerifyReport(final));
  assert.equal((await verify(t)).identical, true);
});

test('[V3] a repair racing a live update waits for it and then leaves the newer row alone', async () => {
  const s = testServer(17);
  const sdb = await freshDatabase(s, 'vr_race_src');
  const ddb = await freshDatabase(s, 'vr_race_dst');
  for (const db of [sdb, ddb]) {
    await sql(
      s,
      db,
      "CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY, v text); INSERT INTO app.t SELECT i, 'v' || i FROM generate_series(1, 50) i",
    );
  }
  await sql(s, ddb, "UPDATE app.t SET v = 'stale' WHERE id IN (10, 20)");
  const t = task(s, sdb, s, ddb);
  const r = await verify(t, { mode: 'rows' });
  assert.equal(diffs(r, 'app.t').length, 2);
  // A live writer updates row 10 in a transaction that is still open when the repair starts.
  const writer = new pg.Client({
    host: s.host,
    port: s.port,
    user: s.user,
    password: s.password,
    database: ddb,
  });
  await writer.connect();
  try {
    await writer.query("BEGIN; UPDATE app.t SET v = 'live' WHERE id = 10");
    const repairing = withConnectors(t, (c) => applyRepairs(t, c, planRepairs(r)));
    // The repair's guard waits on the writer's row lock; then the writer commits.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await writer.query('COMMIT');
    const res = await repairing;
    assert.equal(res.applied, 1);
    assert.equal(res.skipped, 1);
  } finally {
    await writer.end();
  }
  const rows = await sql<{ id: number; v: string }>(
    s,
    ddb,
    'SELECT id, v FROM app.t WHERE id IN (10, 20) ORDER BY id',
  );
  assert.deepEqual(
    rows.map((x) => x.v),
    ['live', 'v20'],
  );
});

test('[V1] [V3] composite keys and leaf partitions narrow and repair; a destination in another time zone shows no false difference', async () => {
  const s = testServer(13);
  const d = testServer(17);
  const sdb = await freshDatabase(s, 'vr_comp_src');
  const ddb = await freshDatabase(d, 'vr_comp_dst');
  await sql(d, 'postgres', `ALTER DATABASE ${ddb} SET timezone = 'Asia/Kolkata'`);
  const ddl = `CREATE SCHEMA app;
    CREATE TABLE app.c (region text, seq int, at timestamptz, PRIMARY KEY (region, seq));
    CREATE TABLE app.ident (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
    CREATE TABLE app.m (id int, day date NOT NULL, v float8, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
    CREATE TABLE app.m_1 PARTITION OF app.m FOR VALUES FROM ('2024-01-01') TO ('2024-07-01');
    CREATE TABLE app.m_2 PARTITION OF app.m FOR VALUES FROM ('2024-07-01') TO ('2025-01-01');`;
  const data = `INSERT INTO app.c SELECT r, i, '2024-05-05 05:05:05.123456+00'::timestamptz + i * interval '1 s'
      FROM unnest(ARRAY['eu', 'us', 'Z z', 'é']) r, generate_series(1, 200) i;
    INSERT INTO app.m SELECT i, '2024-01-01'::date + i % 360, i / 3.0 FROM generate_series(1, 700) i;
    INSERT INTO app.ident (v) SELECT 'i' || i FROM generate_series(1, 20) i;`;
  for (const [srv, db] of [
    [s, sdb],
    [d, ddb],
  ] as const) {
    await sql(srv, db, ddl);
    await sql(srv, db, data);
  }
  const t = task(s, sdb, d, ddb);
  assert.ok((await verify(t, { mode: 'rows', chunkRows: 100 })).identical);
  await sql(
    d,
    ddb,
    `DELETE FROM app.c WHERE region = 'Z z' AND seq = 150; UPDATE app.c SET at = at + interval '1 microsecond' WHERE region = 'é' AND seq = 3;
     UPDATE app.m SET v = v + 1e-12 WHERE id = 444; INSERT INTO app.m VALUES (701, '2024-08-08', 1);
     DELETE FROM app.ident WHERE id = 7`,
  );
  const r = await verify(t, { mode: 'rows', chunkRows: 100, leafRows: 4 });
  assert.deepEqual(
    diffs(r, 'app.c')
      .map((x) => `${x.kind} ${x.key?.join('/')}`)
      .sort(),
    ['different é/3', 'missing Z z/150'],
  );
  const m = [...diffs(r, 'app.m_1'), ...diffs(r, 'app.m_2')].map((x) => [x.kind, x.key?.[0]]);
  assert.deepEqual(m.sort(), [
    ['different', '444'],
    ['extra', '701'],
  ]);
  // An identity key (GENERATED ALWAYS) is inserted with the source's value.
  assert.deepEqual(
    diffs(r, 'app.ident').map((x) => [x.kind, x.key]),
    [['missing', ['7']]],
  );
  const res = await withConnectors(t, (c) => applyRepairs(t, c, planRepairs(r)));
  assert.equal(res.failed, 0, JSON.stringify(res.tables));
  assert.equal(res.applied, 5);
  assert.ok(res.reverify.identical, formatVerifyReport(res.reverify));
  assert.ok((await verify(t, { mode: 'rows', chunkRows: 100 })).identical);
});
