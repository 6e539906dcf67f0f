import assert from 'node:assert/strict';
import { PgdtsError } from '../../../../src/core/errors.ts';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { UNCHANGED_TOAST, type Change } from '../../../../src/core/change.ts';
import { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';
import { destinationClient, relation, sourceTransaction } from './apply-fixtures.ts';

const s = testServer(15);
let db: string;
let client: pg.Client;
let xid = 1;
let at = 1000;

before(async () => {
  db = await freshDatabase(s, 'apply_sem');
  client = await destinationClient(s, db);
});
after(async () => {
  await client.end();
});

/** Applies changes as one source transaction and commits the batch. */
async function apply(changes: readonly Change[], flushRows = 1000): Promise<void> {
  const a = new PostgresChangeApplier({ client, taskName: 'sem', flushRows });
  try {
    await sourceTransaction(a, xid++, (at += 10), changes);
    await a.commitBatch();
  } catch (e) {
    await a.rollback();
    throw e;
  }
}

test('UPDATE leaves unchanged-TOAST columns untouched; NULL, empty string and unchanged TOAST stay distinct', async () => {
  await sql(s, db, 'CREATE TABLE doc (id int PRIMARY KEY, title text, body text, note text)');
  const big = 'x'.repeat(100_000);
  await sql(s, db, 'INSERT INTO doc VALUES (1, $1, $2, $3), (2, $1, $2, $3)', ['t', big, 'n']);
  const doc = relation('public', 'doc', ['id', 'title', 'body', 'note'], ['id']);
  await apply([
    { kind: 'update', relation: doc, newTuple: ['1', 'T1', UNCHANGED_TOAST, ''] },
    { kind: 'update', relation: doc, newTuple: ['2', null, UNCHANGED_TOAST, UNCHANGED_TOAST] },
  ]);
  const rows = await sql<{ id: number; title: string | null; len: number; note: string | null }>(
    s,
    db,
    'SELECT id, title, length(body) AS len, note FROM doc ORDER BY id',
  );
  assert.deepEqual(rows, [
    { id: 1, title: 'T1', len: 100_000, note: '' },
    { id: 2, title: null, len: 100_000, note: 'n' },
  ]);
});

test('primary-key change uses the old key; keys with several columns', async () => {
  await sql(s, db, 'CREATE TABLE pk2 (a int, b text, v text, PRIMARY KEY (a, b))');
  await sql(s, db, "INSERT INTO pk2 VALUES (1, 'x', 'one'), (2, 'y', 'two')");
  const r = relation('public', 'pk2', ['a', 'b', 'v'], ['a', 'b']);
  await apply([
    { kind: 'update', relation: r, oldKind: 'key', oldTuple: ['1', 'x', null], newTuple: ['10', 'x', 'ten'] },
    // Chain: the freed key is reused by the next change.
    {
      kind: 'update',
      relation: r,
      oldKind: 'key',
      oldTuple: ['2', 'y', null],
      newTuple: ['1', 'x', 'one again'],
    },
    { kind: 'delete', relation: r, oldKind: 'key', oldTuple: ['10', 'x', null] },
  ]);
  assert.deepEqual(await sql(s, db, 'SELECT a, b, v FROM pk2 ORDER BY a'), [
    { a: 1, b: 'x', v: 'one again' },
  ]);
});

test('REPLICA IDENTITY FULL on a keyless table with duplicates touches exactly one row per change (json, point, NULL columns)', async () => {
  await sql(s, db, 'CREATE TABLE dup (n int, j json, p point, t text)');
  await sql(s, db, `INSERT INTO dup SELECT 1, '{"a": [1, 2]}', '(1,2)', NULL FROM generate_series(1, 3)`);
  await sql(s, db, `INSERT INTO dup VALUES (2, '{"b": 1}', '(3,4)', 'other')`);
  const cols = ['n', 'j', 'p', 't'];
  const r = relation('public', 'dup', cols, cols, 'full');
  const old = ['1', '{"a": [1, 2]}', '(1,2)', null];
  await apply([
    { kind: 'delete', relation: r, oldKind: 'full', oldTuple: old },
    {
      kind: 'update',
      relation: r,
      oldKind: 'full',
      oldTuple: old,
      newTuple: ['1', '{"a": [1, 2]}', '(1,2)', 'changed'],
    },
  ]);
  assert.deepEqual(
    await sql(s, db, 'SELECT n, j::text AS j, p::text AS p, t FROM dup ORDER BY n, t NULLS FIRST'),
    [
      { n: 1, j: '{"a": [1, 2]}', p: '(1,2)', t: null },
      { n: 1, j: '{"a": [1, 2]}', p: '(1,2)', t: 'changed' },
      { n: 2, j: '{"b": 1}', p: '(3,4)', t: 'other' },
    ],
  );
  // Several identical deletes in a row each remove one row (never batched into IN (...)): two
  // identical rows, two identical deletes. (A third would find no row: APPLY_CONFLICT.)
  await sql(s, db, `INSERT INTO dup VALUES (1, '{"a": [1, 2]}', '(1,2)', NULL)`);
  await apply([
    { kind: 'delete', relation: r, oldKind: 'full', oldTuple: ['1', '{"a": [1, 2]}', '(1,2)', 'changed'] },
    { kind: 'delete', relation: r, oldKind: 'full', oldTuple: old },
    { kind: 'delete', relation: r, oldKind: 'full', oldTuple: old },
  ]);
  assert.deepEqual(await sql(s, db, 'SELECT n FROM dup'), [{ n: 2 }]);
});

test('REPLICA IDENTITY USING INDEX: key columns come from the relation flags', async () => {
  await sql(s, db, 'CREATE TABLE byidx (id serial, code text NOT NULL, v int, UNIQUE (code))');
  await sql(s, db, "INSERT INTO byidx (code, v) VALUES ('a', 1), ('b', 2), ('c', 3)");
  const r = relation('public', 'byidx', ['id', 'code', 'v'], ['code'], 'index');
  await apply([
    { kind: 'update', relation: r, newTuple: ['1', 'a', '10'] },
    { kind: 'update', relation: r, newTuple: ['2', 'b', '20'] },
    { kind: 'delete', relation: r, oldKind: 'key', oldTuple: [null, 'c', null] },
  ]);
  assert.deepEqual(await sql(s, db, 'SELECT code, v FROM byidx ORDER BY code'), [
    { code: 'a', v: 10 },
    { code: 'b', v: 20 },
  ]);
});

test('TRUNCATE applies to exactly the listed tables, with RESTART IDENTITY, never CASCADE into others [P7]', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE tp (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);
     CREATE TABLE tc (id int PRIMARY KEY, p int REFERENCES tp);
     CREATE TABLE tq (id bigserial PRIMARY KEY, v text);
     CREATE TABLE tkeep (id int);
     INSERT INTO tp DEFAULT VALUES; INSERT INTO tp DEFAULT VALUES; INSERT INTO tc VALUES (1, 1);
     INSERT INTO tq (v) VALUES ('a'), ('b'); INSERT INTO tkeep VALUES (1)`,
  );
  const tp = relation('public', 'tp', ['id'], ['id']);
  const tc = relation('public', 'tc', ['id', 'p'], ['id']);
  const tq = relation('public', 'tq', ['id', 'v'], ['id']);
  // A source TRUNCATE ... CASCADE lists every table it reached: tc comes with tp.
  await apply([{ kind: 'truncate', relations: [tp, tc, tq], cascade: true, restartIdentity: true }]);
  assert.deepEqual(
    await sql(
      s,
      db,
      'SELECT (SELECT count(*) FROM tp)::int AS p, (SELECT count(*) FROM tc)::int AS c, (SELECT count(*) FROM tkeep)::int AS k',
    ),
    [{ p: 0, c: 0, k: 1 }],
  );
  assert.deepEqual(await sql(s, db, "INSERT INTO tq (v) VALUES ('c') RETURNING id::int AS id"), [{ id: 1 }]);
  // A destination table outside the message that references a listed one is never emptied by
  // CASCADE: PostgreSQL refuses the TRUNCATE (0A000) and names it, and its rows stay.
  await sql(s, db, 'INSERT INTO tp VALUES (5); INSERT INTO tc VALUES (1, 5)');
  await assert.rejects(
    apply([{ kind: 'truncate', relations: [tp], cascade: true, restartIdentity: false }]),
    (e: unknown) => {
      assert.ok(e instanceof PgdtsError, String(e));
      assert.equal(e.code, 'APPLY_FAILED');
      assert.equal(e.sqlState, '0A000');
      assert.match(e.message, /"tc"/);
      return true;
    },
  );
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM tc'), [{ n: 1 }]);
});

test('rows moving between partitions arrive as delete + insert on the partition root', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE parted (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
     CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu');
     CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us');
     INSERT INTO parted VALUES (1, 'eu', 'a'), (2, 'eu', 'b')`,
  );
  const r = relation('public', 'parted', ['id', 'region', 'v'], ['id', 'region']);
  await apply([
    { kind: 'delete', relation: r, oldKind: 'key', oldTuple: ['1', 'eu', null] },
    { kind: 'insert', relation: r, newTuple: ['1', 'us', 'a'] },
    { kind: 'update', relation: r, newTuple: ['2', 'eu', 'B'] },
  ]);
  assert.deepEqual(
    await sql(s, db, 'SELECT tableoid::regclass::text AS part, id, v FROM parted ORDER BY id'),
    [
      { part: 'parted_us', id: 1, v: 'a' },
      { part: 'parted_eu', id: 2, v: 'B' },
    ],
  );
  // FULL identity on a partitioned root: ctid alone is not unique across partitions.
  await sql(s, db, "INSERT INTO parted VALUES (3, 'us', 'dup')");
  const full = relation('public', 'parted', ['id', 'region', 'v'], ['id', 'region', 'v'], 'full');
  await apply([{ kind: 'delete', relation: full, oldKind: 'full', oldTuple: ['2', 'eu', 'B'] }]);
  assert.deepEqual(await sql(s, db, 'SELECT id FROM parted ORDER BY id'), [{ id: 1 }, { id: 3 }]);
});

test('destination columns in another order, extra columns with defaults, generated and identity ALWAYS columns', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE shaped (
       extra text DEFAULT 'dflt',
       total numeric GENERATED ALWAYS AS (price * qty) STORED,
       qty int,
       id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       price numeric)`,
  );
  // The source has no "extra" column; its "total" is a plain column (or generated there as well).
  const r = relation('public', 'shaped', ['id', 'price', 'qty', 'total'], ['id']);
  await apply([
    { kind: 'insert', relation: r, newTuple: ['7', '2.5', '4', '10.0'] },
    { kind: 'insert', relation: r, newTuple: ['8', '1', '1', '1'] },
    { kind: 'update', relation: r, newTuple: ['7', '3', '4', '12'] },
  ]);
  assert.deepEqual(
    await sql(
      s,
      db,
      'SELECT id, price::text AS price, qty, total::text AS total, extra FROM shaped ORDER BY id',
    ),
    [
      { id: 7, price: '3', qty: 4, total: '12', extra: 'dflt' },
      { id: 8, price: '1', qty: 1, total: '1', extra: 'dflt' },
    ],
  );
});

test('identifiers with spaces, quotes and upper case; text with quotes and backslashes', async () => {
  await sql(
    s,
    db,
    `CREATE SCHEMA "My ""Schema"""; CREATE TABLE "My ""Schema"""."Order Items" ("Id" int PRIMARY KEY, "Unit Price" text, "sel""ect" text)`,
  );
  const r = relation('My "Schema"', 'Order Items', ['Id', 'Unit Price', 'sel"ect'], ['Id']);
  const nasty = `it's a \\ back\\slash, ''quoted'', E'\\n' and $$dollar$$ ; DROP TABLE x; --`;
  await apply([
    { kind: 'insert', relation: r, newTuple: ['1', nasty, '"'] },
    { kind: 'insert', relation: r, newTuple: ['2', '\\', "'"] },
    { kind: 'update', relation: r, newTuple: ['2', '\\\\', "''"] },
    { kind: 'insert', relation: r, newTuple: ['3', 'x', null] },
    { kind: 'delete', relation: r, oldKind: 'key', oldTuple: ['3', null, null] },
  ]);
  assert.deepEqual(
    await sql(
      s,
      db,
      `SELECT "Id" AS id, "Unit Price" AS p, "sel""ect" AS q FROM "My ""Schema"""."Order Items" ORDER BY 1`,
    ),
    [
      { id: 1, p: nasty, q: '"' },
      { id: 2, p: '\\\\', q: "''" },
    ],
  );
});

test('a destination column list change is picked up when a new Relation arrives', async () => {
  await sql(s, db, 'CREATE TABLE evolve (id int PRIMARY KEY, a text)');
  const v1 = relation('public', 'evolve', ['id', 'a'], ['id']);
  const a = new PostgresChangeApplier({ client, taskName: 'evolve' });
  await sourceTransaction(a, xid++, (at += 10), [{ kind: 'insert', relation: v1, newTuple: ['1', 'x'] }]);
  await a.commitBatch();
  await sql(s, db, 'ALTER TABLE evolve ADD COLUMN b int');
  const v2 = { ...relation('public', 'evolve', ['id', 'a', 'b'], ['id']), id: v1.id };
  await sourceTransaction(a, xid++, (at += 10), [
    { kind: 'insert', relation: v2, newTuple: ['2', 'y', '5'] },
  ]);
  await a.commitBatch();
  assert.deepEqual(await sql(s, db, 'SELECT id, a, b FROM evolve ORDER BY id'), [
    { id: 1, a: 'x', b: null },
    { id: 2, a: 'y', b: 5 },
  ]);
});

test('batched runs keep source order: repeated keys, delete then re-insert, updates of the same row twice', async () => {
  await sql(s, db, 'CREATE TABLE seq (id int PRIMARY KEY, v int)');
  const r = relation('public', 'seq', ['id', 'v'], ['id']);
  const changes: Change[] = [];
  for (let i = 1; i <= 20; i++) changes.push({ kind: 'insert', relation: r, newTuple: [String(i), '0'] });
  for (let i = 1; i <= 20; i++) changes.push({ kind: 'update', relation: r, newTuple: [String(i), '1'] });
  changes.push(
    { kind: 'update', relation: r, newTuple: ['1', '2'] },
    { kind: 'update', relation: r, newTuple: ['1', '3'] },
  );
  for (let i = 1; i <= 5; i++)
    changes.push({ kind: 'delete', relation: r, oldKind: 'key', oldTuple: [String(i), null] });
  changes.push({ kind: 'insert', relation: r, newTuple: ['1', '100'] });
  changes.push({ kind: 'delete', relation: r, oldKind: 'key', oldTuple: ['1', null] });
  changes.push({ kind: 'insert', relation: r, newTuple: ['1', '200'] });
  await apply(changes, 7); // flushes in the middle of runs too
  const rows = await sql<{ id: number; v: number }>(s, db, 'SELECT id, v FROM seq ORDER BY id');
  assert.equal(rows.length, 16);
  assert.deepEqual(rows[0], { id: 1, v: 200 });
  assert.ok(rows.slice(1).every((x) => x.v === 1 && x.id >= 6));
});
