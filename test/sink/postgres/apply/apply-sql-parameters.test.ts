/**
 * buildApplySql with `parameters`: multi-row statements carry text arrays (`unnest($1::type[], ...)`)
 * whose text is the same for every flush of one table and shape, and values arrive exactly as the
 * literal form would deliver them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { UNCHANGED_TOAST, type Change, type Datum, type Relation } from '../../../../src/core/change.ts';
import {
  buildApplySql,
  textArrayLiteral,
  type ApplyStatement,
} from '../../../../src/sink/postgres/apply/apply-sql.ts';
import { DestinationTables } from '../../../../src/sink/postgres/apply/destination-tables.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';
import { destinationClient, relation } from './apply-fixtures.ts';

const s = testServer(15);
let db: string;
let client: pg.Client;
const tables = new DestinationTables();

before(async () => {
  db = await freshDatabase(s, 'apply_sql_params');
  client = await destinationClient(s, db);
  await sql(
    s,
    db,
    `CREATE TYPE pair AS (a int, b text);
     CREATE DOMAIN jdom AS json;
     CREATE TABLE k (id int PRIMARY KEY, v text, w text);
     CREATE TABLE kinds (id int PRIMARY KEY, j json, p point, vc varchar(9), x xml, c pair, jd jdom, ia int[], bc char(3), tz timestamptz);
     CREATE TABLE lit (LIKE kinds);`,
  );
});
after(async () => {
  await client.end();
});

async function build(changes: readonly Change[], parameters = true): Promise<ApplyStatement[]> {
  const rels = changes.flatMap((c) => (c.kind === 'truncate' ? c.relations : [c.relation]));
  for (const r of rels) tables.observe(r);
  await tables.load(client, rels);
  return buildApplySql(changes, (q) => tables.get(q), { parameters });
}

/** Runs the statements in a transaction as the applier does; returns the row counts. */
async function run(statements: readonly ApplyStatement[]): Promise<number[]> {
  const counts: number[] = [];
  await client.query('BEGIN');
  for (const st of statements) {
    const r = await client.query(st.params === undefined ? st.sql : { text: st.sql, values: [...st.params] });
    counts.push(r.rowCount ?? 0);
  }
  await client.query('COMMIT');
  return counts;
}

const kRel: Relation = relation('public', 'k', ['id', 'v', 'w'], ['id']);
/** Text that array input would misread without quoting and escaping. */
const NASTY = ['NULL', '', ' padded ', 'a,b', '{x}', 'quote " and \\ backslash', "it's", 'ünïcødé ✓', '\n\t'];

test('textArrayLiteral quotes every element and escapes " and \\; NULL stays NULL', async () => {
  assert.equal(textArrayLiteral(['a', null, 'NULL', 'x"y\\z']), '{"a",NULL,"NULL","x\\"y\\\\z"}');
  const values: (string | null)[] = [...NASTY, null];
  const r = await client.query<{ v: (string | null)[] }>('SELECT $1::text[] AS v', [
    textArrayLiteral(values),
  ]);
  assert.deepEqual(r.rows[0]?.v, values);
});

test('inserts, updates and deletes of a run become one parameterized statement each; the text does not depend on the values', async () => {
  const ins = (id: number, v: string | null, w: string | null): Change => ({
    kind: 'insert',
    relation: kRel,
    newTuple: [String(id), v, w],
  });
  const inserts = await build(NASTY.map((v, i) => ins(i, v, i % 2 ? null : v)));
  assert.equal(inserts.length, 1);
  assert.match(
    inserts[0]?.sql ?? '',
    /^INSERT INTO "public"\."k" \("id", "v", "w"\) SELECT v\.c0::integer, v\.c1::text, v\.c2::text FROM unnest\(\$1::text\[\], \$2::text\[\], \$3::text\[\]\) AS v\(c0, c1, c2\)$/,
  );
  assert.equal((await build([ins(100, 'other', 'values')]))[0]?.sql, inserts[0]?.sql, 'same text');
  await run(inserts);
  const got = await sql<{ id: number; v: string | null; w: string | null }>(
    s,
    db,
    'SELECT * FROM k ORDER BY id',
  );
  assert.deepEqual(
    got,
    NASTY.map((v, i) => ({ id: i, v, w: i % 2 ? null : v })),
  );

  const up = (id: number, v: Datum, w: Datum): Change => ({
    kind: 'update',
    relation: kRel,
    newTuple: [String(id), v, w],
  });
  const updates = await build([up(0, 'u0', null), up(1, "u'1", '{}'), up(2, null, 'NULL')]);
  assert.equal(updates.length, 1);
  assert.match(updates[0]?.sql ?? '', /^UPDATE "public"\."k" AS d SET .* FROM unnest\(/);
  assert.equal(updates[0]?.expect?.rows.length, 3);
  assert.deepEqual(await run(updates), [3]);
  assert.deepEqual(await sql(s, db, 'SELECT id, v, w FROM k WHERE id < 3 ORDER BY id'), [
    { id: 0, v: 'u0', w: null },
    { id: 1, v: "u'1", w: '{}' },
    { id: 2, v: null, w: 'NULL' },
  ]);
  // Unchanged TOAST leaves the column out: another shape, another statement text.
  const toast = await build([up(3, 'a', UNCHANGED_TOAST), up(4, 'b', UNCHANGED_TOAST)]);
  assert.equal(toast.length, 1);
  assert.doesNotMatch(toast[0]?.sql ?? '', /"w"/);
  assert.deepEqual(await run(toast), [2]);
  assert.deepEqual(await sql(s, db, 'SELECT w FROM k WHERE id IN (3, 4) ORDER BY id'), [
    { w: null },
    { w: NASTY[4] },
  ]);

  const del = (id: number): Change => ({
    kind: 'delete',
    relation: kRel,
    oldKind: 'key',
    oldTuple: [String(id), null, null],
  });
  const deletes = await build([del(5), del(6), del(999)]);
  assert.equal(deletes.length, 1);
  assert.match(
    deletes[0]?.sql ?? '',
    /^DELETE FROM "public"\."k" AS d USING unnest\(\$1::text\[\]\) AS v\(k0\) WHERE d\."id" = v\.k0::integer$/,
  );
  // [P3] The row count tells a missing row: 2 of the 3 rows.
  assert.deepEqual(await run(deletes), [2]);
});

test('values of every kind (json, point, varchar, xml, composite, domain, int[], char(n), timestamptz) arrive as through literals', async () => {
  const cols = ['id', 'j', 'p', 'vc', 'x', 'c', 'jd', 'ia', 'bc', 'tz'];
  const row = (id: number): Datum[] => [
    String(id),
    '{"a": [1, "x\\"y"]}',
    '(1,2)',
    'v,"w"',
    '<x a="1"/>',
    '(1,"b c")',
    '[1]',
    '{1,NULL,3}',
    'ab',
    '2024-01-01 02:00:00+02',
  ];
  const rows = (r: Relation): Change[] =>
    [0, 1].map((id) => ({ kind: 'insert', relation: r, newTuple: row(id) }));
  const st = await build(rows(relation('public', 'kinds', cols, ['id'])));
  assert.ok(st[0]?.params, 'parameters');
  // An int[] stays one value per row (a `int[][]` array would have been flattened by unnest), a
  // composite one column (unnest of `pair[]` would expand its fields).
  await run(st);
  await run(await build(rows(relation('public', 'lit', cols, ['id'])), false));
  const text = (t: string) =>
    sql<{ r: string }>(s, db, `SELECT string_agg(t::text, '|' ORDER BY id) AS r FROM ${t} AS t`);
  assert.deepEqual(await text('kinds'), await text('lit'));
  assert.deepEqual(await sql(s, db, 'SELECT ia, c::text FROM kinds WHERE id = 0'), [
    { ia: [1, null, 3], c: '(1,"b c")' },
  ]);
});
