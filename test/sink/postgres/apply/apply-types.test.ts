import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change, Relation } from '../../../../src/core/change.ts';
import { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../../../support/servers.ts';
import { destinationClient, relation, rowsAsText, sourceTransaction, tableHash } from './apply-fixtures.ts';

const SCHEMA = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'hap''py');
  CREATE DOMAIN posint AS int CHECK (VALUE > 0);
  CREATE TYPE addr AS (street text, no int);
  CREATE TABLE typed (
    id int PRIMARY KEY, n numeric, f float8, r real, ts timestamp, tstz timestamptz, d date, iv interval,
    ia int[], ta text[], j json, jb jsonb, ir int4range, tr tstzrange, b bytea, m mood, pi posint,
    ad addr, pt point, u uuid, bo bool, bv varbit, vc varchar(5), ch char(3), x xml, tsv tsvector,
    ma mood[], n2 numeric(6, 2), bt bit(3), cc char(4)[]);
  CREATE TABLE typed_full (LIKE typed);
  ALTER TABLE typed_full REPLICA IDENTITY FULL;`;

const COLUMNS = [
  'id',
  'n',
  'f',
  'r',
  'ts',
  'tstz',
  'd',
  'iv',
  'ia',
  'ta',
  'j',
  'jb',
  'ir',
  'tr',
  'b',
  'm',
  'pi',
  'ad',
  'pt',
  'u',
  'bo',
  'bv',
  'vc',
  'ch',
  'x',
  'tsv',
  'ma',
  'n2',
  'bt',
  'cc',
];

const ROWS = `
  INSERT INTO typed VALUES
   (1, 'NaN', 'NaN', '-Infinity', 'infinity', '-infinity', 'infinity', '1 year 2 mons -3 days 04:05:06.789',
    '{1,NULL,3}', ARRAY['a"b', 'c\\d', NULL, '', 'NULL', 'it''s', '{x}'], '{ "a" : [1, 2.50] , "a": "dup"}',
    '{"b": "\\u00e9\\\\", "a": null}', '[1,5)', '[2024-01-01 00:00:00+00,infinity)', '\\x00ff27', 'hap''py', 7,
    ROW('Main "St" \\ 5', 5), '(1.5,-2)', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, B'10101', 'abc', 'x',
    '<a b="1">t&amp;</a>', 'fat:1 cat:2', '{sad,hap''py}', 1234.5, B'101', '{ab,NULL,abcd}'),
   (2, 'Infinity', '-0', '1.17549435e-38', '2024-02-29 12:34:56.789012', '2024-01-01 00:00:00.123456+05:30',
    '0044-03-15 BC', '-178000000 years', '{}', '{}', '[]', '[]', 'empty', '(,)', '\\x', 'ok', 1,
    ROW(NULL, NULL), '(0,0)', '00000000-0000-0000-0000-000000000000', false, B'', '', '   ', '', '', '{}', -0.01, B'000', '{}'),
   (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
   (4, '-Infinity', '1e308', 'Infinity', '1970-01-01 00:00:00', '2038-01-19 03:14:08+00', '2000-01-01',
    '0', '{{1,2},{3,4}}', '{"multi word","with,comma"}', 'null', '"str"', '(,10]', '[2024-01-01,2024-01-02]',
    '\\x5c27', 'sad', 2147483647, ROW('', 0), '(1e-300,1e300)', 'ffffffff-ffff-ffff-ffff-ffffffffffff', true,
    B'1', 'abcde', 'xyz', '<?xml version="1.0"?><r/>', '''quoted'':1A', '{}', 9999.99, B'111', '{"a b"}');
  INSERT INTO typed_full SELECT * FROM typed;
  INSERT INTO typed_full SELECT * FROM typed WHERE id IN (1, 2);`;

async function replicate(
  s: TestServer,
  src: string,
  dst: string,
  taskName: string,
  changes: readonly Change[],
  at: number,
): Promise<void> {
  const c = await destinationClient(s, dst);
  try {
    const a = new PostgresChangeApplier({ client: c, taskName, flushRows: 3 });
    await sourceTransaction(a, at, at, changes);
    await a.commitBatch();
  } finally {
    await c.end();
  }
  for (const t of ['typed', 'typed_full']) {
    const rowsOf = (db: string): Promise<{ r: string }[]> =>
      sql(s, db, `SELECT t::text AS r FROM ${t} AS t ORDER BY 1`);
    assert.deepEqual(await rowsOf(dst), await rowsOf(src), `${t} on ${s.version}`);
    assert.equal(await tableHash(s, dst, 'public', t), await tableHash(s, src, 'public', t));
  }
}

async function readAll(s: TestServer, db: string, table: string): Promise<(string | null)[][]> {
  return (await rowsAsText(s, db, 'public', table, COLUMNS, 'ctid')) as (string | null)[][];
}

for (const version of [15, 17] as const) {
  test(`PostgreSQL ${version}: every type round-trips through insert, update and FULL-identity update/delete`, async () => {
    const s = testServer(version);
    const src = await freshDatabase(s, 'apply_types_src');
    const dst = await freshDatabase(s, 'apply_types_dst');
    await sql(s, src, SCHEMA);
    await sql(s, dst, SCHEMA);
    await sql(s, src, ROWS);
    const typed: Relation = relation('public', 'typed', COLUMNS, ['id']);
    const full: Relation = relation('public', 'typed_full', COLUMNS, COLUMNS, 'full');

    // Inserts: the text the source prints is what pgoutput sends.
    const inserts: Change[] = [
      ...(await readAll(s, src, 'typed')).map((t): Change => ({
        kind: 'insert',
        relation: typed,
        newTuple: t,
      })),
      ...(await readAll(s, src, 'typed_full')).map((t): Change => ({
        kind: 'insert',
        relation: full,
        newTuple: t,
      })),
    ];
    await replicate(s, src, dst, 'types', inserts, 100);

    // Updates by key, and by full old row on the keyless copy (which holds duplicates of rows 1 and 2).
    const beforeFull = await readAll(s, src, 'typed_full');
    await sql(
      s,
      src,
      `UPDATE typed SET ta = ta || ARRAY['new \\ "x"'], jb = jsonb_build_object('k', id), n = n + 1, b = b || '\\x27'::bytea WHERE id IN (1, 2, 4);
       UPDATE typed_full SET pt = '(9,9)', j = '{"changed": true}' WHERE ctid = (SELECT min(ctid) FROM typed_full WHERE id = 1);
       DELETE FROM typed_full WHERE ctid = (SELECT min(ctid) FROM typed_full WHERE id = 2);
       DELETE FROM typed_full WHERE id = 3;`,
    );
    const afterTyped = await readAll(s, src, 'typed');
    const changed1 = (await readAll(s, src, 'typed_full')).find(
      (t) => t[0] === '1' && t[10] === '{"changed": true}',
    );
    const old1 = beforeFull.find((t) => t[0] === '1');
    const old2 = beforeFull.find((t) => t[0] === '2');
    const old3 = beforeFull.find((t) => t[0] === '3');
    assert.ok(changed1 && old1 && old2 && old3);
    const updates: Change[] = [
      ...afterTyped
        .filter((t) => t[0] !== '3')
        .map((t): Change => ({ kind: 'update', relation: typed, newTuple: t })),
      { kind: 'update', relation: full, oldKind: 'full', oldTuple: old1, newTuple: changed1 },
      { kind: 'delete', relation: full, oldKind: 'full', oldTuple: old2 },
      { kind: 'delete', relation: full, oldKind: 'full', oldTuple: old3 },
    ];
    await replicate(s, src, dst, 'types', updates, 200);

    // Deletes by key of every row, including the all-NULL one.
    await sql(s, src, 'DELETE FROM typed WHERE id <> 4');
    await replicate(
      s,
      src,
      dst,
      'types',
      ['1', '2', '3'].map((id): Change => ({
        kind: 'delete',
        relation: typed,
        oldKind: 'key',
        oldTuple: COLUMNS.map((c) => (c === 'id' ? id : null)),
      })),
      300,
    );
    assert.deepEqual(await sql(s, dst, 'SELECT count(*)::int AS n FROM typed'), [{ n: 1 }]);
  });
}
