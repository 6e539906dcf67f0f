/**
 * Schema sync of what is made of C or `LANGUAGE internal` functions: user-defined base types (shell
 * type, support functions, CREATE TYPE), binary-coercible casts, operators and domains over them, a
 * range type's CANONICAL function, text search parsers and templates. Compared by pg_dump on one
 * version and by introspected models across versions; a second run skips every object as existing,
 * and one after an interruption between a shell type and its CREATE TYPE completes it;
 * a destination user that is not superuser gets each of these objects refused with the reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BaseTypeDef, RangeTypeDef, SchemaModel } from '../../../../src/core/schema-model.ts';
import type { ObjectSelector } from '../../../../src/core/task-config.ts';
import { applySchemaDdl, type DdlEvent } from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { planSchemaDdl } from '../../../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { connect, resolveEndpoint } from '../../../../src/pg/connection.ts';
import { BASE_SCHEMA, BASE_TABLE, createBaseTypes, S } from '../../../support/base-types-fixtures.ts';
import { pgDumpSchema } from '../../../support/pg-dump.ts';
import { introspectDb, syncModel } from '../../../support/schema-sync-steps.ts';
import { freshDatabase, sql, testServer, urlOf, type TestServer } from '../../../support/servers.ts';

const OBJECTS: ObjectSelector[] = [{ kind: 'schema', schema: BASE_SCHEMA }];

const introspect = (s: TestServer, db: string): Promise<SchemaModel> => introspectDb(s, db, OBJECTS);

async function source(s: TestServer): Promise<string> {
  const db = await freshDatabase(s, 'base_src');
  await createBaseTypes(s, db);
  return db;
}

/** A second run finds every object: nothing but comments and CREATE OR REPLACE runs again. */
function assertAllExist(events: readonly DdlEvent[]): void {
  assert.deepEqual(
    events
      .filter((e) => e.outcome !== 'exists' && !['comment', 'routine'].includes(e.statement.kind))
      .map((e) => e.statement.object),
    [],
  );
}

const VIEW = `SELECT id, twice::text, nine, label, span_upper, words::text FROM ${S}."Base View" ORDER BY id LIMIT 3`;

test('PostgreSQL 15: base types, binary-coercible casts, a canonical range, a text search parser and template dump identically to the source', async () => {
  const s = testServer(15);
  const src = await source(s);
  const dst = await freshDatabase(s, 'base_dst');
  const model = await introspect(s, src);
  const myInt = model.types.find((t): t is BaseTypeDef => t.kind === 'base' && t.name === 'My Int');
  assert.deepEqual(
    myInt && {
      input: myInt.input,
      receive: myInt.receive,
      length: myInt.internalLength,
      byValue: myInt.passedByValue,
      category: myInt.category,
      default: myInt.default,
      delimiter: myInt.delimiter,
    },
    {
      input: `${S}."My Int In"`,
      receive: `${S}."My Int Recv"`,
      length: 4,
      byValue: true,
      category: 'N',
      default: '0',
      delimiter: ';',
    },
  );
  const span = model.types.find((t): t is RangeTypeDef => t.kind === 'range');
  assert.equal(span?.canonical, `${S}."Int Span Canon"`);
  assert.deepEqual(
    model.routines.filter((r) => r.native !== undefined).map((r) => `${r.signature} ${r.native?.symbol}`),
    [
      'C Handler() plpgsql_call_handler',
      'Int Span Canon("Base ""Ty pes"""."Int Span") int4range_canonical',
      'My Int Eq("Base ""Ty pes"""."My Int", "Base ""Ty pes"""."My Int") int4eq',
      'My Int In(cstring) int4in',
      'My Int Out("Base ""Ty pes"""."My Int") int4out',
      'My Int Recv(internal) int4recv',
      'My Int Send("Base ""Ty pes"""."My Int") int4send',
      'Pair In(cstring) point_in',
      'Pair Out("Base ""Ty pes"""."Pair") point_out',
      'my_text_in(cstring) textin',
      'my_text_out("Base ""Ty pes""".my_text) textout',
      'simple init(internal) dsimple_init',
      'simple lexize(internal, internal, internal, internal) dsimple_lexize',
    ],
  );
  assert.deepEqual(
    model.casts.map((c) => `${c.source} -> ${c.target} ${c.method} ${c.context}`),
    [
      `${S}."My Int" -> integer binary implicit`,
      `${S}.my_text -> text binary implicit`,
      `integer -> ${S}."My Int" binary assignment`,
    ],
  );
  assert.deepEqual(
    [...model.textSearchParsers, ...model.textSearchTemplates].map((x) => `${x.kind} ${x.name}`),
    ['text-search-parser My "Parser"', 'text-search-template My Template'],
  );
  assert.deepEqual(model.refused, []);

  // The shell types come before the functions made of them, the types after those functions.
  const plan = planSchemaDdl(model);
  const at = (sqlStart: string): number => plan.preData.findIndex((x) => x.sql.startsWith(sqlStart));
  const shell = at(`CREATE TYPE ${S}."My Int"`);
  assert.equal(plan.preData[shell]?.sql, `CREATE TYPE ${S}."My Int"`);
  assert.ok(shell < at(`CREATE OR REPLACE FUNCTION ${S}."My Int In"`));
  assert.ok(at(`CREATE OR REPLACE FUNCTION ${S}."My Int Out"`) < at(`CREATE TYPE ${S}."My Int" (`));
  assert.ok(at(`CREATE TYPE ${S}."Int Span"`) < at(`CREATE OR REPLACE FUNCTION ${S}."Int Span Canon"`));
  assert.ok(
    at(`CREATE OR REPLACE FUNCTION ${S}."Int Span Canon"`) < at(`CREATE TYPE ${S}."Int Span" AS RANGE`),
  );
  assert.ok(at(`CREATE TEXT SEARCH TEMPLATE`) < at(`CREATE TEXT SEARCH DICTIONARY`));
  assert.ok(at(`CREATE TEXT SEARCH PARSER`) < at(`CREATE TEXT SEARCH CONFIGURATION`));

  const events = await syncModel(model, s, dst);
  assert.deepEqual(
    events.filter((e) => e.outcome !== 'applied').map((e) => e.message),
    [],
  );
  const expected = await pgDumpSchema(s, src, [BASE_SCHEMA]);
  for (const piece of [
    `CREATE TYPE ${S}."My Int";`,
    `CREATE TYPE ${S}."My Int" (`,
    'INTERNALLENGTH = 4',
    `RECEIVE = ${S}."My Int Recv"`,
    "CATEGORY = 'N'",
    "DEFAULT = '0'",
    "DELIMITER = ';'",
    'PASSEDBYVALUE',
    'COLLATABLE = true',
    'ELEMENT = double precision',
    'SUBSCRIPT = raw_array_subscript_handler',
    `CREATE TYPE ${S}."Int Span" AS RANGE (`,
    `canonical = ${S}."Int Span Canon"`,
    'LANGUAGE internal IMMUTABLE STRICT',
    `AS '$libdir/plpgsql', 'plpgsql_call_handler'`,
    `CREATE TEXT SEARCH PARSER ${S}."My ""Parser""" (`,
    `CREATE TEXT SEARCH TEMPLATE ${S}."My Template" (`,
    `CREATE DOMAIN ${S}."Positive My Int" AS ${S}."My Int"`,
    `CREATE OPERATOR ${S}.= (`,
    `"Small ""N""" ${S}."My Int" DEFAULT '7'::${S}."My Int" NOT NULL`,
  ]) {
    assert.ok(expected.includes(piece), `the source dump shows ${piece}`);
  }
  assert.equal(await pgDumpSchema(s, dst, [BASE_SCHEMA]), expected);
  assert.deepEqual(await introspect(s, dst), model);

  // The types, casts, operator and text search objects work on the destination as on the source.
  await sql(
    s,
    dst,
    `INSERT INTO ${BASE_TABLE} SELECT * FROM (VALUES
       (1, '3'::${S}."My Int", 'label 1'::${S}.my_text, ${S}."Int Span"(1, 11, '(]'), 1::${S}."Positive My Int", 1::${S}."Small My Int", '{1;2}'::${S}."My Int"[], '(1,2)'::${S}."Pair"),
       (2, '6', 'label 2', '(2,12]', 2, 2, '{2;3}', '(2,3)'),
       (3, '9', 'label 3', '(3,13]', 3, 3, '{3;4}', '(3,4)')) v`,
  );
  assert.deepEqual(await sql(s, dst, VIEW), await sql(s, src, VIEW));
  assert.deepEqual((await sql(s, dst, VIEW))[2], {
    id: 3,
    twice: '18',
    nine: true,
    label: 'label 3',
    span_upper: 14,
    words: "'dogs':2 'running':4",
  });
  assert.deepEqual(
    await sql(
      s,
      dst,
      `SELECT many::text AS m, span::text AS sp, pair[1]::text AS y FROM ${BASE_TABLE} WHERE id = 1`,
    ),
    [{ m: '{1;2}', sp: '[2,12)', y: '2' }],
  );

  assertAllExist(await syncModel(model, s, dst));
  assert.equal(await pgDumpSchema(s, dst, [BASE_SCHEMA]), expected);
});

/** Syncs across versions; the destination is compared with the fixture created natively there. */
async function roundTrip(from: TestServer, to: TestServer): Promise<void> {
  const model = await introspect(from, await source(from));
  const dst = await freshDatabase(to, 'base_dst');
  const expected = await introspect(to, await source(to));
  await syncModel(model, to, dst);
  assert.deepEqual(await introspect(to, dst), expected);
  assertAllExist(await syncModel(model, to, dst));
  assert.deepEqual(await introspect(to, dst), expected);
}

test('PostgreSQL 13 → 17 and 17 → 15: base types, canonical ranges, text search parsers and templates introspect equal to the source', async () => {
  await roundTrip(testServer(13), testServer(17));
  await roundTrip(testServer(17), testServer(15));
});

test('a destination user that is not superuser: each C / internal function, what needs it, and the parser and template are refused with the reason', async () => {
  const s = testServer(17);
  const src = await source(s);
  const dst = await freshDatabase(s, 'base_dst');
  const role = `pgdts_base_${dst.slice(-8)}`;
  await sql(s, 'postgres', `CREATE ROLE ${role} LOGIN PASSWORD 'pw'`);
  await sql(s, 'postgres', `GRANT CREATE ON DATABASE ${dst} TO ${role}`);
  const model = await introspect(s, src);
  const url = new URL(urlOf(s, dst));
  url.username = role;
  url.password = 'pw';
  const c = await connect(resolveEndpoint({ type: 'postgresql', url: url.toString() }), {
    role: 'destination',
  });
  let events: DdlEvent[];
  try {
    events = await applySchemaDdl(c, planSchemaDdl(model).preData);
  } finally {
    await c.end();
  }
  const refused = (object: string): string | undefined =>
    events.find((e) => e.object === object && e.outcome === 'unavailable')?.message;
  assert.match(
    refused(`function ${S}."simple init"(internal)`) ?? '',
    /refused: it is a LANGUAGE internal function \("dsimple_init"\): creating it needs a superuser on the destination.*permission denied for language internal/,
  );
  assert.match(
    refused(`function ${S}."C Handler"()`) ?? '',
    /refused: it is written in C \(library "\$libdir\/plpgsql", symbol "plpgsql_call_handler"\): creating it needs a superuser on the destination and that library installed there.*permission denied for language c/,
  );
  assert.match(
    refused(`function ${S}."My Int In"(cstring)`) ?? '',
    /refused: it needs shell type .*"My Int", which was refused \(shell type .* needs a superuser/,
  );
  assert.match(
    refused(`type ${S}."My Int"`) ?? '',
    /refused: it needs shell type .*"My Int", which was refused/,
  );
  assert.match(refused(`table ${BASE_TABLE}`) ?? '', /refused: it needs shell type/);
  assert.match(refused(`type ${S}."Int Span"`) ?? '', /needs shell type .*"Int Span"/);
  assert.match(
    refused(`function ${S}."Int Span Canon"(${S}."Int Span")`) ?? '',
    /needs shell type .*"Int Span"/,
  );
  assert.match(refused(`text search parser ${S}."My ""Parser"""`) ?? '', /needs a superuser/);
  assert.match(refused(`text search template ${S}."My Template"`) ?? '', /needs function .*"simple init"/);
  assert.match(
    refused(`text search dictionary ${S}."My Dict"`) ?? '',
    /refused: it needs function .*"simple init"/,
  );
  assert.match(refused(`text search configuration ${S}."My Config"`) ?? '', /refused: it needs/);
  assert.match(refused(`view ${S}."Base View"`) ?? '', /refused: it needs/);
  // Shell types are a superuser's too; SQL functions over a refused type are refused.
  assert.match(refused(`shell type ${S}."My Int"`) ?? '', /must be superuser to create a base type/);
  assert.ok(refused(`function ${S}."Twice"(${S}."My Int")`) !== undefined);
  // Nothing of the schema was created.
  assert.deepEqual(
    await sql(
      s,
      dst,
      `SELECT (SELECT count(*)::int FROM pg_proc WHERE pronamespace = n.oid) AS functions,
              (SELECT string_agg(typname || ':' || typtype::text, ',' ORDER BY typname) FROM pg_type WHERE typnamespace = n.oid) AS types
         FROM pg_namespace n WHERE nspname = $1`,
      [BASE_SCHEMA],
    ),
    [{ functions: 0, types: null }],
  );
  await sql(s, 'postgres', `DROP DATABASE ${dst}`);
  await sql(s, 'postgres', `DROP ROLE ${role}`);
});

test('a run interrupted between a shell type and its CREATE TYPE is completed by a re-run: the shell and the equal functions are skipped', async () => {
  const s = testServer(15);
  const src = await source(s);
  const dst = await freshDatabase(s, 'base_dst');
  const model = await introspect(s, src);
  const pre = planSchemaDdl(model).preData;
  const full = pre.findIndex((x) => x.sql.startsWith(`CREATE TYPE ${S}."My Int" (`));
  const c = await connect(resolveEndpoint({ type: 'postgresql', url: urlOf(s, dst) }), {
    role: 'destination',
  });
  try {
    await applySchemaDdl(c, pre.slice(0, full));
  } finally {
    await c.end();
  }
  assert.deepEqual(await sql(s, dst, `SELECT typtype::text AS t FROM pg_type WHERE typname = 'My Int'`), [
    { t: 'p' },
  ]);
  const events = await syncModel(model, s, dst);
  const outcome = (object: string, kind: string): string | undefined =>
    events.find((e) => e.object === object && e.kind === kind)?.outcome;
  assert.equal(outcome(`shell type ${S}."My Int"`, 'type'), 'exists');
  assert.equal(outcome(`function ${S}."My Int In"(cstring)`, 'routine'), 'exists');
  assert.equal(outcome(`type ${S}."My Int"`, 'type'), 'applied');
  assert.equal(await pgDumpSchema(s, dst, [BASE_SCHEMA]), await pgDumpSchema(s, src, [BASE_SCHEMA]));
});

test('a table selector brings the base types, canonical range and domains of its columns, with their functions and shell types', async () => {
  const s = testServer(17);
  const src = await source(s);
  const dst = await freshDatabase(s, 'base_dst');
  const selected: ObjectSelector[] = [{ kind: 'table', table: { schema: BASE_SCHEMA, name: 'Base Rows' } }];
  const model = await introspectDb(s, src, selected);
  assert.deepEqual(
    model.types.map((t) => `${t.kind} ${t.name}`),
    [
      'range Int Span',
      'base My Int',
      'base Pair',
      'domain Positive My Int',
      'domain Small My Int',
      'base my_text',
    ],
  );
  assert.deepEqual(
    model.routines.map((r) => r.name),
    [
      'Int Span Canon',
      'My Int Eq',
      'My Int In',
      'My Int Out',
      'My Int Recv',
      'My Int Send',
      'Pair In',
      'Pair Out',
      'my_text_in',
      'my_text_out',
    ],
  );
  // The casts of those types come along: a domain's CHECK applies one (no pg_depend row says so).
  assert.deepEqual(
    model.casts.map((c) => `${c.source} -> ${c.target} ${c.method}`),
    [`${S}."My Int" -> integer binary`, `${S}.my_text -> text binary`, `integer -> ${S}."My Int" binary`],
  );
  const events = await syncModel(model, s, dst);
  assert.deepEqual(
    events.filter((e) => e.outcome !== 'applied').map((e) => e.message),
    [],
  );
  await sql(s, dst, `INSERT INTO ${BASE_TABLE} (id, span, small, pos) VALUES (1, '[1,2]', '5', '3')`);
  assert.deepEqual(
    await sql(s, dst, `SELECT "Small ""N"""::text AS n, span::text AS sp FROM ${BASE_TABLE}`),
    [{ n: '7', sp: '[1,3)' }],
  );
});
