/**
 * Schema sync of object kinds beyond tables, views and routines (issue 8): user-defined aggregates of
 * every form, operators, operator families and classes, casts, collations, with the views, indexes,
 * columns and domains using them. Compared by pg_dump on one version and by introspected models
 * across versions; a second run skips every object as existing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SchemaModel } from '../../../../src/core/schema-model.ts';
import type { ObjectSelector } from '../../../../src/core/task-config.ts';
import { type DdlEvent } from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { createObjectKinds, KINDS_SCHEMA, TEMPLATE_SCHEMA } from '../../../support/object-kinds-fixtures.ts';
import { introspectDb, syncModel } from '../../../support/schema-sync-steps.ts';
import { pgDumpSchema } from '../../../support/pg-dump.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../../../support/servers.ts';

const KINDS: ObjectSelector[] = [{ kind: 'schema', schema: KINDS_SCHEMA }];

const introspect = (
  s: TestServer,
  db: string,
  objects: readonly ObjectSelector[] = KINDS,
): Promise<SchemaModel> => introspectDb(s, db, objects);
const sync = (model: SchemaModel, s: TestServer, db: string): Promise<DdlEvent[]> => syncModel(model, s, db);

async function source(s: TestServer): Promise<string> {
  const db = await freshDatabase(s, 'kinds_src');
  await createObjectKinds(s, db);
  return db;
}

/** A second run finds every object: nothing but comments and CREATE OR REPLACE runs again. */
function assertAllExist(events: readonly DdlEvent[]): void {
  const created = events.filter(
    (e) => e.outcome !== 'exists' && !['comment', 'routine'].includes(e.statement.kind),
  );
  assert.deepEqual(
    created.map((e) => e.statement.object),
    [],
  );
  assert.ok(events.some((e) => e.statement.kind === 'aggregate' && e.outcome === 'exists'));
}

const STATS = `SELECT total::text, label, "second price"::text AS second, "rank of 5"::text AS rank, least_qty::text AS least, n::text
                 FROM "Obj Kinds"."Item Stats"`;
const EXPECTED_STATS = [{ total: '14', label: 'total 14', second: '1.5', rank: '3', least: '3', n: '3' }];

test('PostgreSQL 15: aggregates, operators, operator classes and families, casts, collations, conversions, text search and what uses them dump identically to the source', async () => {
  const s = testServer(15);
  const src = await source(s);
  const dst = await freshDatabase(s, 'kinds_dst');
  const model = await introspect(s, src);
  assert.deepEqual(
    model.aggregates.map((a) => `${a.signature} ${a.aggregateKind}`),
    [
      'Count Star() normal',
      'Hypo Rank(integer, integer) hypothetical-set',
      'Least Of(integer) normal',
      'My Sum(integer) normal',
      'Nth Value(integer, double precision) ordered-set',
      'Total Text(integer) normal',
    ],
  );
  assert.deepEqual(
    model.operators.map((o) => o.signature),
    ['<~>(double precision,double precision)', '=~=(double precision,double precision)', '~~~(NONE,integer)'],
  );
  assert.deepEqual(
    model.operatorClasses.map((c) => `${c.name} ${c.method} ${c.operators.length}+${c.functions.length}`),
    ['Approx Hash hash 1+1', 'Reverse Int Ops btree 5+1'],
  );
  assert.deepEqual(
    model.operatorFamilies.map((f) => `${f.name} ${f.method} ${f.operators.length}+${f.functions.length}`),
    ['Approx Hash hash 0+0', 'Rev Fam btree 1+1'],
  );
  assert.deepEqual(
    model.collations.map((c) => `${c.name} ${c.provider} ${c.locale ?? c.lcCollate} ${c.deterministic}`),
    ['Case Blind icu und-u-ks-level2 false', 'Plain C libc C true'],
  );
  // Aggregates are not listed as functions.
  assert.ok(!model.routines.some((r) => r.name === 'My Sum'));
  const events = await sync(model, s, dst);
  assert.ok(events.every((e) => e.outcome === 'applied'));
  const expected = await pgDumpSchema(s, src, [KINDS_SCHEMA]);
  for (const piece of [
    'CREATE AGGREGATE "Obj Kinds"."My Sum"(integer)',
    'MINVFUNC = "Obj Kinds"."Sub It"',
    'COMBINEFUNC = "Obj Kinds"."Sum Both"',
    'CREATE AGGREGATE "Obj Kinds"."Nth Value"(n integer ORDER BY v double precision)',
    'HYPOTHETICAL',
    'SORTOP = OPERATOR(pg_catalog.<)',
    'CREATE AGGREGATE "Obj Kinds"."Count Star"(*)',
    'FINALFUNC_MODIFY = SHAREABLE',
    'CREATE VIEW "Obj Kinds"."Item Stats"',
    'CREATE OPERATOR "Obj Kinds".=~= (',
    'NEGATOR = OPERATOR("Obj Kinds".<~>)',
    'CREATE OPERATOR "Obj Kinds".~~~ (',
    'CREATE OPERATOR FAMILY "Obj Kinds"."Rev Fam" USING btree',
    'ALTER OPERATOR FAMILY "Obj Kinds"."Rev Fam" USING btree ADD',
    'CREATE OPERATOR CLASS "Obj Kinds"."Reverse Int Ops"',
    'CREATE OPERATOR CLASS "Obj Kinds"."Approx Hash"',
    'USING btree (qty "Obj Kinds"."Reverse Int Ops")',
    'CREATE VIEW "Obj Kinds"."Near One"',
    'CREATE COLLATION "Obj Kinds"."Case Blind" (provider = icu, deterministic = false',
    'CREATE CONVERSION "Obj Kinds"."Utf8 To Latin1" FOR ',
    'CREATE TEXT SEARCH DICTIONARY "Obj Kinds"."Simple Stop"',
    'CREATE TEXT SEARCH CONFIGURATION "Obj Kinds"."My Search"',
    'ADD MAPPING FOR asciiword WITH "Obj Kinds"."Simple Stop", "Obj Kinds"."Eng Stem"',
    'CREATE VIEW "Obj Kinds"."Search Words"',
    'name text COLLATE "Obj Kinds"."Case Blind"',
    'CREATE DOMAIN "Obj Kinds"."Label" AS text COLLATE "Obj Kinds"."Plain C"',
  ]) {
    assert.ok(expected.includes(piece), `the source dump shows ${piece}`);
  }
  assert.equal(await pgDumpSchema(s, dst, [KINDS_SCHEMA]), expected);
  // pg_dump --schema leaves casts out: the model holds them.
  assert.deepEqual(
    model.casts.map((c) => `${c.source} -> ${c.target} ${c.method} ${c.context}`),
    [
      '"Obj Kinds"."Size Class" -> text inout implicit',
      'integer -> "Obj Kinds"."Size Class" function assignment',
    ],
  );
  assert.deepEqual(await introspect(s, dst), model);
  // The aggregates compute on the destination as on the source.
  await sql(s, dst, `INSERT INTO "Obj Kinds"."Mixed Items" VALUES (1, 3, 1.5), (2, 7, 0.5), (3, 4, 2.5)`);
  assert.deepEqual(await sql(s, dst, STATS), EXPECTED_STATS);
  assert.deepEqual(await sql(s, src, STATS), EXPECTED_STATS);
  assert.deepEqual(await sql(s, dst, `SELECT moving::text FROM "Obj Kinds"."Running Sum" ORDER BY id`), [
    { moving: '3' },
    { moving: '10' },
    { moving: '11' },
  ]);
  // The nondeterministic collation compares on the destination as on the source.
  await sql(s, dst, `INSERT INTO "Obj Kinds"."Named Things" VALUES (1, 'Apple', 'b'), (2, 'apple', 'B')`);
  const byName = `SELECT count(DISTINCT name)::int AS names, min(label) AS low FROM "Obj Kinds"."Named Things"`;
  assert.deepEqual(await sql(s, dst, byName), [{ names: 1, low: 'B' }]);
  assert.deepEqual(await sql(s, src, byName), [{ names: 1, low: 'B' }]);
  // The text search configuration works with its dictionaries.
  const words = `SELECT words::text AS w FROM "Obj Kinds"."Search Words"`;
  assert.deepEqual(await sql(s, dst, words), await sql(s, src, words));
  assert.deepEqual(await sql(s, dst, words), [{ w: "'dog':2 'run':4 'time':5" }]);
  // The operators and the cast work; the indexes use the operator classes.
  assert.deepEqual(await sql(s, dst, `SELECT id, size::text, class::text FROM "Obj Kinds"."Near One"`), [
    { id: 1, size: 'small', class: 'small' },
  ]);
  assert.deepEqual(
    await sql(
      s,
      dst,
      `SELECT indexrelid::regclass::text AS i FROM pg_index WHERE indrelid = '"Obj Kinds"."Mixed Items"'::regclass AND NOT indisprimary ORDER BY 1`,
    ),
    [{ i: '"Obj Kinds"."price approx"' }, { i: '"Obj Kinds"."qty reversed"' }],
  );

  const again = await sync(model, s, dst);
  assertAllExist(again);
  assert.equal(await pgDumpSchema(s, dst, [KINDS_SCHEMA]), expected);
});

/** Syncs across versions; the destination is compared with the fixture created natively there. */
async function roundTrip(from: TestServer, to: TestServer): Promise<void> {
  const model = await introspect(from, await source(from));
  const dst = await freshDatabase(to, 'kinds_dst');
  const expected = await introspect(to, await source(to));
  await sync(model, to, dst);
  assert.deepEqual(await introspect(to, dst), expected);
  assertAllExist(await sync(model, to, dst));
  assert.deepEqual(await introspect(to, dst), expected);
}

test('PostgreSQL 13 → 17 and 17 → 15: the object kinds introspect equal to the source', async () => {
  await roundTrip(testServer(13), testServer(17));
  await roundTrip(testServer(17), testServer(15));
});

test('a text search template over built-in functions is created, with nothing refused, and the rest of its schema syncs', async () => {
  const s = testServer(17);
  const src = await source(s);
  const model = await introspect(s, src, [{ kind: 'schema', schema: TEMPLATE_SCHEMA }]);
  assert.deepEqual(model.refused, []);
  assert.deepEqual(
    model.textSearchTemplates.map((t) => [t.kind, t.schema, t.name, t.init, t.lexize]),
    [
      [
        'text-search-template',
        TEMPLATE_SCHEMA,
        'My Template',
        'pg_catalog.dsimple_init',
        'pg_catalog.dsimple_lexize',
      ],
    ],
  );
  // Another selection does not list it.
  assert.deepEqual((await introspect(s, src)).textSearchTemplates, []);
  const dst = await freshDatabase(s, 'kinds_dst');
  const events = await sync(model, s, dst);
  assert.ok(events.length > 0 && events.every((e) => e.outcome === 'applied'));
  assert.deepEqual(
    await sql(
      s,
      dst,
      `SELECT tmplinit::text AS init, tmpllexize::text AS lexize FROM pg_ts_template WHERE tmplname = 'My Template'`,
    ),
    [{ init: 'dsimple_init', lexize: 'dsimple_lexize' }],
  );
  assert.deepEqual(await introspect(s, dst, [{ kind: 'schema', schema: TEMPLATE_SCHEMA }]), model);
  assert.ok((await sync(model, s, dst)).every((e) => e.outcome === 'exists'));
});

test('a view calling an aggregate of an unselected schema brings the aggregate and its functions along', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'kinds_src');
  await sql(
    s,
    src,
    `CREATE SCHEMA "Agg Lib";
     CREATE FUNCTION "Agg Lib"."longer of"(a text, b text) RETURNS text
       LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT CASE WHEN length(b) > length(a) THEN b ELSE a END $$;
     CREATE AGGREGATE "Agg Lib"."Longest"(text) (SFUNC = "Agg Lib"."longer of", STYPE = text);
     CREATE FUNCTION "Agg Lib"."unused"() RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$;
     CREATE SCHEMA "Agg User";
     CREATE TABLE "Agg User".words (w text);
     INSERT INTO "Agg User".words VALUES ('a'), ('abc'), ('ab');
     CREATE VIEW "Agg User"."Longest Word" AS SELECT "Agg Lib"."Longest"(w) AS w FROM "Agg User".words;`,
  );
  const selected: ObjectSelector[] = [{ kind: 'schema', schema: 'Agg User' }];
  const model = await introspect(s, src, selected);
  assert.deepEqual(
    model.aggregates.map((a) => `${a.schema}.${a.signature}`),
    ['Agg Lib.Longest(text)'],
  );
  assert.deepEqual(
    model.routines.map((r) => `${r.schema}.${r.signature}`),
    ['Agg Lib.longer of(text, text)'],
  );
  const dst = await freshDatabase(s, 'kinds_dst');
  const events = await sync(model, s, dst);
  assert.ok(events.every((e) => e.outcome === 'applied'));
  await sql(s, dst, `INSERT INTO "Agg User".words VALUES ('a'), ('abc'), ('ab')`);
  assert.deepEqual(await sql(s, dst, `SELECT w FROM "Agg User"."Longest Word"`), [{ w: 'abc' }]);
  assert.deepEqual(await introspect(s, dst, selected), model);
});
