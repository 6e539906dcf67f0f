import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { UNCHANGED_TOAST, type Change, type Relation } from '../../../../src/core/change.ts';
import { buildApplySql } from '../../../../src/sink/postgres/apply/apply-sql.ts';
import { DestinationTables } from '../../../../src/sink/postgres/apply/destination-tables.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';
import { destinationClient, relation } from './apply-fixtures.ts';

const s = testServer(15);
let db: string;
let client: pg.Client;
const tables = new DestinationTables();

before(async () => {
  db = await freshDatabase(s, 'apply_sql');
  client = await destinationClient(s, db);
  await sql(
    s,
    db,
    `CREATE TYPE pair AS (a int, b text);
     CREATE DOMAIN jdom AS json;
     CREATE TABLE k (id int PRIMARY KEY, v text, w text);
     CREATE TABLE other (id int PRIMARY KEY);
     CREATE TABLE kinds (j json, jb jsonb, p point, vc varchar(9), x xml, c pair, r int4range, jd jdom, pa point[], ia int[], n numeric, tz timestamptz);`,
  );
});
after(async () => {
  await client.end();
});

async function build(changes: readonly Change[]): Promise<string[]> {
  const rels = changes.flatMap((c) => (c.kind === 'truncate' ? c.relations : [c.relation]));
  for (const r of rels) tables.observe(r);
  await tables.load(client, rels);
  return buildApplySql(changes, (q) => tables.get(q)).map((s) => s.sql);
}

/** Runs the statements as the applier does: one simple query, inside a transaction. */
async function run(statements: readonly string[]): Promise<void> {
  await client.query(['BEGIN', ...statements, 'COMMIT'].join(';\n'));
}

const kRel: Relation = relation('public', 'k', ['id', 'v', 'w'], ['id']);
const otherRel: Relation = relation('public', 'other', ['id'], ['id']);

test('consecutive inserts into one table become one multi-row INSERT; another table in between splits the run', async () => {
  const many: Change[] = Array.from({ length: 100 }, (_, i) => ({
    kind: 'insert',
    relation: kRel,
    newTuple: [String(i), `v${i}`, i % 2 ? null : ''],
  }));
  const st = await build(many);
  assert.equal(st.length, 1);
  assert.match(st[0] ?? '', /^INSERT INTO "public"\."k" \("id", "v", "w"\) VALUES \(/);
  await run(st);
  assert.deepEqual(
    await sql(s, db, "SELECT count(*)::int AS n, count(*) FILTER (WHERE w = '')::int AS e FROM k"),
    [{ n: 100, e: 50 }],
  );
  const split = await build([
    { kind: 'insert', relation: kRel, newTuple: ['1000', 'a', 'b'] },
    { kind: 'insert', relation: otherRel, newTuple: ['1'] },
    { kind: 'insert', relation: kRel, newTuple: ['1001', 'a', 'b'] },
  ]);
  assert.equal(split.length, 3);
});

test('updates by distinct keys of one shape merge into UPDATE ... FROM (VALUES ...); repeated keys and other shapes do not', async () => {
  const up = (id: number, v: string | null, w: string | null | typeof UNCHANGED_TOAST): Change => ({
    kind: 'update',
    relation: kRel,
    newTuple: [String(id), v, w],
  });
  const merged = await build([up(1, null, 'x'), up(2, 'two', 'y'), up(3, "th'ree", null)]);
  assert.equal(merged.length, 1);
  assert.match(merged[0] ?? '', /^UPDATE "public"\."k" AS d SET .* FROM \(VALUES /);
  await run(merged);
  assert.deepEqual(await sql(s, db, 'SELECT id, v, w FROM k WHERE id IN (1, 2, 3) ORDER BY id'), [
    { id: 1, v: null, w: 'x' },
    { id: 2, v: 'two', w: 'y' },
    { id: 3, v: "th'ree", w: null },
  ]);
  assert.equal((await build([up(1, 'a', 'b'), up(1, 'c', 'd')])).length, 2, 'same key twice');
  assert.equal(
    (await build([up(1, 'a', 'b'), up(2, 'c', UNCHANGED_TOAST)])).length,
    2,
    'different SET lists',
  );
  const keyChange: Change = {
    kind: 'update',
    relation: kRel,
    oldKind: 'key',
    oldTuple: ['5', null, null],
    newTuple: ['500', 'a', 'b'],
  };
  assert.equal((await build([up(1, 'a', 'b'), keyChange, up(2, 'a', 'b')])).length, 3, 'key change alone');
});

test('deletes by distinct keys merge into DELETE ... IN (VALUES ...); FULL-identity deletes never merge', async () => {
  const del = (id: number): Change => ({
    kind: 'delete',
    relation: kRel,
    oldKind: 'key',
    oldTuple: [String(id), null, null],
  });
  const merged = await build([del(10), del(11), del(12)]);
  assert.equal(merged.length, 1);
  assert.match(merged[0] ?? '', /^DELETE FROM "public"\."k" AS d WHERE \(d\."id"\) IN \(VALUES /);
  await run(merged);
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM k WHERE id IN (10, 11, 12)'), [{ n: 0 }]);
  assert.equal((await build([del(1), del(1)])).length, 2);
  const full = relation('public', 'k', ['id', 'v', 'w'], ['id', 'v', 'w'], 'full');
  const fd = (id: number): Change => ({
    kind: 'delete',
    relation: full,
    oldKind: 'full',
    oldTuple: [String(id), 'a', null],
  });
  const st = await build([fd(1), fd(2)]);
  assert.equal(st.length, 2);
  assert.match(st[0] ?? '', /ctid = \(SELECT s\.ctid FROM "public"\."k" AS s WHERE .* LIMIT 1\)/);
});

test('types without equality (json, point, xml, composite, domain over json, point[]) are compared as text', async () => {
  const cols = ['j', 'jb', 'p', 'vc', 'x', 'c', 'r', 'jd', 'pa', 'ia', 'n', 'tz'];
  const r = relation('public', 'kinds', cols, cols, 'full');
  tables.observe(r);
  await tables.load(client, [r]);
  const t = tables.get(r);
  assert.ok(t);
  const asText = Object.fromEntries([...t.columns.values()].map((c) => [c.name, c.compareAsText]));
  assert.deepEqual(asText, {
    j: true,
    jb: false,
    p: true,
    vc: false,
    x: true,
    c: true,
    r: false,
    jd: true,
    pa: true,
    ia: false,
    n: false,
    tz: false,
  });
  assert.equal(t.columns.get('vc')?.castType, 'character varying');
  // A FULL-identity delete over all of them is valid SQL and finds its row.
  const row = [
    '{"a":1}',
    '{"a": 1}',
    '(1,2)',
    'v',
    '<x/>',
    '(1,"b c")',
    '[1,3)',
    '[1]',
    '{"(1,2)"}',
    '{1,2}',
    '1.50',
    '2024-01-01 02:00:00+02',
  ];
  await sql(s, db, `INSERT INTO kinds VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, row);
  await run(await build([{ kind: 'delete', relation: r, oldKind: 'full', oldTuple: row }]));
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM kinds'), [{ n: 0 }]);
});
