import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_SCHEMA_MODEL, type SchemaModel } from '../../../../src/core/schema-model.ts';
import { connect, resolveEndpoint } from '../../../../src/pg/connection.ts';
import { applySchemaDdl } from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { quoteIdent } from '../../../../src/core/identifier.ts';
import { planSchemaDdl, type DdlStatement } from '../../../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { introspectSchema } from '../../../../src/source/postgres/schema/introspect-schema.ts';
import { createSchemaZoo, ZOO_SCHEMAS } from '../../../support/schema-fixtures.ts';
import { freshDatabase, sql, testServer, urlOf } from '../../../support/servers.ts';

const EMPTY: SchemaModel = EMPTY_SCHEMA_MODEL;

function at(list: readonly DdlStatement[], pattern: string): number {
  const i = list.findIndex((s) => s.sql.startsWith(pattern));
  assert.ok(i >= 0, `a statement starting with ${pattern}`);
  return i;
}

test('the plan orders pre-data by dependencies and keeps load-sensitive DDL for post-data', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'plan_src');
  await createSchemaZoo(s, db);
  const c = await connect(resolveEndpoint({ type: 'postgresql', url: urlOf(s, db) }), { role: 'source' });
  const model = await introspectSchema(
    c,
    ZOO_SCHEMAS.map((schema) => ({ kind: 'schema', schema })),
  ).finally(() => c.end());
  const { preData, postData } = planSchemaDdl(model);

  // A function a default calls comes before the table; a domain over a domain after its base.
  assert.ok(
    at(preData, 'CREATE OR REPLACE FUNCTION "Sales Dept".default_region()') <
      at(preData, 'CREATE TABLE "Sales Dept"."customers"'),
  );
  assert.ok(
    at(preData, 'CREATE DOMAIN "Sales Dept"."positive_int"') <
      at(preData, 'CREATE DOMAIN "Sales Dept"."small_qty"'),
  );
  assert.ok(
    at(preData, 'CREATE DOMAIN "Sales Dept"."code"') < at(preData, 'CREATE TYPE "Sales Dept"."money_pair"'),
  );
  // Views on views; partitions after their parent; keys after tables.
  assert.ok(
    at(preData, 'CREATE VIEW "Sales Dept"."Open Orders"') <
      at(preData, 'CREATE VIEW "Sales Dept"."open_order_count"'),
  );
  assert.ok(
    at(preData, 'CREATE TABLE "Sales Dept"."regions_us" ') <
      at(preData, 'CREATE TABLE "Sales Dept"."regions_us_2024" '),
  );
  assert.ok(
    at(preData, 'CREATE TABLE "Sales Dept"."orders" ') <
      at(preData, 'ALTER TABLE ONLY "Sales Dept"."orders" ADD CONSTRAINT "orders_pkey"'),
  );
  assert.ok(preData.some((x) => x.sql.endsWith('WITH NO DATA')));

  // No index build, foreign key or trigger before the load.
  for (const x of preData) assert.ok(!['index', 'foreign-key', 'trigger', 'refresh'].includes(x.kind), x.sql);
  assert.ok(postData.some((x) => x.sql === 'REFRESH MATERIALIZED VIEW "Sales Dept"."order_totals"'));
  // Each foreign key waits for the unique indexes of the table it references (none here are secondary).
  const fk = postData.find((x) => x.kind === 'foreign-key' && x.sql.includes('"Order Items_order_fkey"'));
  assert.ok(fk);
  // Partition index attached after both indexes exist.
  const attach = postData.find((x) =>
    x.sql.includes('ATTACH PARTITION "Sales Dept"."measurements_2024_value_idx"'),
  );
  assert.equal(attach?.dependsOn.length, 2);
  // Ids are unique, and post-data dependencies point at planned statements.
  const ids = new Set([...preData, ...postData].map((x) => x.id));
  assert.equal(ids.size, preData.length + postData.length);
  for (const x of postData) for (const d of x.dependsOn) assert.ok(ids.has(d), `${x.id} depends on ${d}`);

  // Apply, and the refreshed materialized view is populated on the destination.
  const dst = await freshDatabase(s, 'plan_dst');
  const d = await connect(resolveEndpoint({ type: 'postgresql', url: urlOf(s, dst) }), {
    role: 'destination',
  });
  try {
    await d.query('SET search_path = public');
    await applySchemaDdl(d, preData);
    await applySchemaDdl(d, postData);
    const r = await d.query<{ p: string }>("SELECT current_setting('search_path') AS p");
    assert.equal(r.rows[0]?.p, 'public', 'the session settings are restored');
  } finally {
    await d.end();
  }
  const mv = await sql<{ relispopulated: boolean }>(
    s,
    dst,
    "SELECT relispopulated FROM pg_class WHERE relname = 'order_totals'",
  );
  assert.deepEqual(mv, [{ relispopulated: true }]);
});

test('an extension the destination lacks is skipped with a warning', async () => {
  const s = testServer(17);
  const dst = await freshDatabase(s, 'plan_ext');
  const plan = planSchemaDdl({
    ...EMPTY,
    schemas: [{ kind: 'schema', name: 'Ext "Home"', comment: 'for extensions' }],
    extensions: [
      { kind: 'extension', name: 'no_such_extension', schema: 'Ext "Home"', version: '1.0' },
      { kind: 'extension', name: 'citext', schema: 'Ext "Home"', version: '1.6' },
    ],
  });
  const c = await connect(resolveEndpoint({ type: 'postgresql', url: urlOf(s, dst) }), {
    role: 'destination',
  });
  const messages: string[] = [];
  try {
    const events = await applySchemaDdl(c, plan.preData, { onStatement: (e) => messages.push(e.message) });
    assert.deepEqual(
      events.map((e) => [e.statement.kind, e.outcome]),
      [
        ['schema', 'applied'],
        ['comment', 'applied'],
        ['extension', 'unavailable'],
        ['extension', 'applied'],
      ],
    );
    assert.ok(messages.some((m) => m.startsWith('WARNING') && m.includes('no_such_extension')));
  } finally {
    await c.end();
  }
  const ext = await sql<{ nspname: string }>(
    s,
    dst,
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'citext'",
  );
  assert.deepEqual(ext, [{ nspname: 'Ext "Home"' }]);
});

test('an aggregate comes after its support functions (and what they need) and before views calling it', () => {
  const S = 'Agg Home';
  const stepSig = `step(${quoteIdent(S)}."Row T", ${quoteIdent(S)}."Row T")`;
  const aggSig = `Pick Row(${quoteIdent(S)}."Row T")`;
  const plan = planSchemaDdl({
    ...EMPTY,
    schemas: [{ kind: 'schema', name: S, comment: undefined }],
    // The state function's signature uses a table's row type: it comes after the table.
    routines: [
      {
        kind: 'function',
        schema: S,
        name: 'step',
        signature: stepSig,
        definition: `CREATE OR REPLACE FUNCTION "Agg Home".step(a "Agg Home"."Row T", b "Agg Home"."Row T") RETURNS "Agg Home"."Row T" LANGUAGE sql AS $$ SELECT b $$`,
        comment: undefined,
        dependsOn: [{ kind: 'table', schema: S, name: 'Row T' }],
      },
    ],
    tables: [
      {
        kind: 'table',
        schema: S,
        name: 'Row T',
        unlogged: false,
        columns: [],
        constraints: [],
        foreignKeys: [],
        partitionBy: undefined,
        partitionOf: undefined,
        replicaIdentity: 'default',
        options: [],
        comment: undefined,
        dependsOn: [],
      },
    ],
    views: [
      {
        kind: 'view',
        schema: S,
        name: 'picked',
        query: `SELECT "Agg Home"."Pick Row"(t.*) AS p FROM "Agg Home"."Row T" t`,
        columns: [{ name: 'p', comment: undefined }],
        options: [],
        populated: false,
        comment: undefined,
        dependsOn: [
          { kind: 'table', schema: S, name: 'Row T' },
          { kind: 'routine', schema: S, name: aggSig },
        ],
      },
    ],
    aggregates: [
      {
        kind: 'aggregate',
        schema: S,
        name: 'Pick Row',
        signature: aggSig,
        arguments: `"Agg Home"."Row T"`,
        aggregateKind: 'normal',
        stateFunction: `"Agg Home".step`,
        stateType: `"Agg Home"."Row T"`,
        stateSpace: 64,
        finalFunction: undefined,
        finalExtra: false,
        finalModify: 'read-only',
        combineFunction: undefined,
        serialFunction: undefined,
        deserialFunction: undefined,
        initialCondition: "it's",
        moving: undefined,
        sortOperator: { schema: 'pg_catalog', name: '<' },
        parallel: 'restricted',
        comment: 'picks a row',
        dependsOn: [
          { kind: 'routine', schema: S, name: stepSig },
          { kind: 'table', schema: S, name: 'Row T' },
        ],
      },
    ],
  });
  const pre = plan.preData;
  assert.ok(
    at(pre, 'CREATE TABLE "Agg Home"."Row T"') < at(pre, 'CREATE OR REPLACE FUNCTION "Agg Home".step'),
  );
  assert.ok(at(pre, 'CREATE OR REPLACE FUNCTION "Agg Home".step') < at(pre, 'CREATE AGGREGATE'));
  assert.ok(at(pre, 'CREATE AGGREGATE') < at(pre, 'CREATE VIEW "Agg Home"."picked"'));
  const agg = pre[at(pre, 'CREATE AGGREGATE')]!;
  assert.equal(agg.kind, 'aggregate');
  assert.equal(agg.object, 'aggregate "Agg Home"."Pick Row"("Agg Home"."Row T")');
  assert.equal(
    agg.sql,
    `CREATE AGGREGATE "Agg Home"."Pick Row" ("Agg Home"."Row T") (\n    SFUNC = "Agg Home".step,\n    STYPE = "Agg Home"."Row T",\n    SSPACE = 64,\n    INITCOND = 'it''s',\n    SORTOP = OPERATOR("pg_catalog".<),\n    PARALLEL = RESTRICTED\n)`,
  );
  assert.equal(
    pre[at(pre, 'COMMENT ON AGGREGATE')]!.sql,
    `COMMENT ON AGGREGATE "Agg Home"."Pick Row"("Agg Home"."Row T") IS 'picks a row'`,
  );
  assert.equal(plan.postData.length, 0);
});

test('operators, operator families and classes, casts: after what they reference, before views using them', () => {
  const S = 'Op Home';
  const fnRef = { kind: 'routine', schema: S, name: 'eq it(integer, integer)' } as const;
  const opRef = { kind: 'operator', schema: S, name: '===(integer,integer)' } as const;
  const famRef = { kind: 'operator-family', schema: S, name: 'Int Fam USING hash' } as const;
  const fn = (name: string, signature: string): SchemaModel['routines'][number] => ({
    kind: 'function',
    schema: S,
    name,
    signature,
    definition: `CREATE OR REPLACE FUNCTION "Op Home"."${name}"() RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$`,
    comment: undefined,
    dependsOn: [],
  });
  const plan = planSchemaDdl({
    ...EMPTY,
    schemas: [{ kind: 'schema', name: S, comment: undefined }],
    views: [
      {
        kind: 'view',
        schema: S,
        name: 'uses op',
        query: 'SELECT (1 OPERATOR("Op Home".===) 1) AS x',
        columns: [{ name: 'x', comment: undefined }],
        options: [],
        populated: false,
        comment: undefined,
        dependsOn: [opRef],
      },
    ],
    // Listed before the functions they need: the plan reorders.
    casts: [
      {
        kind: 'cast',
        source: 'integer',
        target: '"Op Home".code',
        method: 'function',
        function: '"Op Home"."to code"(integer)',
        context: 'implicit',
        comment: 'int to code',
        dependsOn: [{ kind: 'routine', schema: S, name: 'to code(integer)' }],
      },
      {
        kind: 'cast',
        source: '"Op Home".code',
        target: 'text',
        method: 'inout',
        function: undefined,
        context: 'assignment',
        comment: undefined,
        dependsOn: [],
      },
    ],
    operatorClasses: [
      {
        kind: 'operator-class',
        schema: S,
        name: 'Int Ops',
        method: 'hash',
        type: 'integer',
        default: false,
        family: { schema: S, name: 'Int Fam' },
        storage: undefined,
        operators: [
          {
            strategy: 1,
            operator: { schema: S, name: '===' },
            left: 'integer',
            right: 'integer',
            orderBy: undefined,
          },
        ],
        functions: [{ number: 1, left: 'integer', right: 'integer', function: 'hashint4(integer)' }],
        comment: undefined,
        dependsOn: [famRef, opRef],
      },
    ],
    operatorFamilies: [
      {
        kind: 'operator-family',
        schema: S,
        name: 'Int Fam',
        method: 'hash',
        operators: [],
        functions: [{ number: 1, left: 'bigint', right: 'bigint', function: 'hashint8(bigint)' }],
        comment: 'ints',
        dependsOn: [opRef],
      },
    ],
    operators: [
      {
        kind: 'operator',
        schema: S,
        name: '===',
        signature: '===(integer,integer)',
        left: 'integer',
        right: 'integer',
        function: '"Op Home"."eq it"',
        commutator: { schema: S, name: '===' },
        negator: { schema: S, name: '!==' },
        restrict: 'pg_catalog.eqsel',
        join: 'pg_catalog.eqjoinsel',
        hashes: true,
        merges: false,
        comment: 'equal',
        dependsOn: [fnRef],
      },
    ],
    routines: [fn('to code', 'to code(integer)'), fn('eq it', 'eq it(integer, integer)')],
  });
  const pre = plan.preData;
  const i = (p: string): number => at(pre, p);
  assert.ok(i('CREATE OR REPLACE FUNCTION "Op Home"."eq it"') < i('CREATE OPERATOR "Op Home".==='));
  assert.ok(i('CREATE OPERATOR "Op Home".===') < i('CREATE OPERATOR FAMILY'));
  assert.ok(i('CREATE OPERATOR FAMILY') < i('ALTER OPERATOR FAMILY'));
  assert.ok(i('ALTER OPERATOR FAMILY') < i('CREATE OPERATOR CLASS'));
  assert.ok(i('CREATE OPERATOR "Op Home".===') < i('CREATE VIEW "Op Home"."uses op"'));
  assert.ok(i('CREATE OR REPLACE FUNCTION "Op Home"."to code"') < i('CREATE CAST (integer'));
  assert.equal(
    pre[i('CREATE OPERATOR "Op Home".===')]!.sql,
    'CREATE OPERATOR "Op Home".=== (FUNCTION = "Op Home"."eq it", LEFTARG = integer, RIGHTARG = integer, COMMUTATOR = OPERATOR("Op Home".===), NEGATOR = OPERATOR("Op Home".!==), RESTRICT = pg_catalog.eqsel, JOIN = pg_catalog.eqjoinsel, HASHES)',
  );
  assert.equal(
    pre[i('COMMENT ON OPERATOR')]!.sql,
    `COMMENT ON OPERATOR "Op Home".=== (integer, integer) IS 'equal'`,
  );
  assert.equal(
    pre[i('ALTER OPERATOR FAMILY')]!.sql,
    'ALTER OPERATOR FAMILY "Op Home"."Int Fam" USING "hash" ADD FUNCTION 1 (bigint, bigint) hashint8(bigint)',
  );
  assert.equal(
    pre[i('CREATE OPERATOR CLASS')]!.sql,
    'CREATE OPERATOR CLASS "Op Home"."Int Ops" FOR TYPE integer USING "hash" FAMILY "Op Home"."Int Fam" AS\n    OPERATOR 1 "Op Home".===(integer, integer),\n    FUNCTION 1 (integer, integer) hashint4(integer)',
  );
  assert.deepEqual(
    pre.filter((x) => x.kind === 'cast').map((x) => x.sql),
    [
      'CREATE CAST (integer AS "Op Home".code) WITH FUNCTION "Op Home"."to code"(integer) AS IMPLICIT',
      'CREATE CAST ("Op Home".code AS text) WITH INOUT AS ASSIGNMENT',
    ].sort((a, b) => i(a) - i(b)),
  );
  assert.equal(
    pre[i('COMMENT ON CAST')]!.sql,
    `COMMENT ON CAST (integer AS "Op Home".code) IS 'int to code'`,
  );
});

test('a collation comes before the domains and tables using it', () => {
  const S = 'Coll Home';
  const collRef = { kind: 'collation', schema: S, name: 'Case Blind' } as const;
  const plan = planSchemaDdl({
    ...EMPTY,
    schemas: [{ kind: 'schema', name: S, comment: undefined }],
    tables: [
      {
        kind: 'table',
        schema: S,
        name: 'names',
        unlogged: false,
        columns: [
          {
            name: 'n',
            type: 'text',
            collation: { schema: S, name: 'Case Blind' },
            default: undefined,
            notNull: false,
            identity: undefined,
            generated: undefined,
            comment: undefined,
          },
        ],
        constraints: [],
        foreignKeys: [],
        partitionBy: undefined,
        partitionOf: undefined,
        replicaIdentity: 'default',
        options: [],
        comment: undefined,
        dependsOn: [collRef, { kind: 'type', schema: S, name: 'label' }],
      },
    ],
    types: [
      {
        kind: 'domain',
        schema: S,
        name: 'label',
        baseType: 'text',
        collation: { schema: S, name: 'Plain C' },
        default: undefined,
        notNull: false,
        constraints: [],
        comment: undefined,
        dependsOn: [{ kind: 'collation', schema: S, name: 'Plain C' }],
      },
    ],
    collations: [
      {
        kind: 'collation',
        schema: S,
        name: 'Case Blind',
        provider: 'icu',
        lcCollate: undefined,
        lcCtype: undefined,
        locale: 'und-u-ks-level2',
        deterministic: false,
        rules: '&a < b',
        comment: "it's blind",
      },
      {
        kind: 'collation',
        schema: S,
        name: 'Plain C',
        provider: 'libc',
        lcCollate: 'C',
        lcCtype: 'POSIX',
        locale: undefined,
        deterministic: true,
        rules: undefined,
        comment: undefined,
      },
    ],
  });
  const pre = plan.preData;
  assert.ok(at(pre, 'CREATE COLLATION "Coll Home"."Plain C"') < at(pre, 'CREATE DOMAIN "Coll Home"."label"'));
  assert.ok(
    at(pre, 'CREATE COLLATION "Coll Home"."Case Blind"') < at(pre, 'CREATE TABLE "Coll Home"."names"'),
  );
  assert.deepEqual(
    pre.filter((x) => x.kind === 'collation' || x.sql.startsWith('COMMENT ON COLLATION')).map((x) => x.sql),
    [
      `CREATE COLLATION "Coll Home"."Case Blind" (provider = icu, locale = 'und-u-ks-level2', deterministic = false, rules = '&a < b')`,
      `COMMENT ON COLLATION "Coll Home"."Case Blind" IS 'it''s blind'`,
      `CREATE COLLATION "Coll Home"."Plain C" (provider = libc, lc_collate = 'C', lc_ctype = 'POSIX')`,
    ],
  );
});

test('conversions and text search: dictionaries before the configuration mapping to them, re-runs skip', () => {
  const S = 'TS Home';
  const plan = planSchemaDdl({
    ...EMPTY,
    schemas: [{ kind: 'schema', name: S, comment: undefined }],
    textSearchConfigurations: [
      {
        kind: 'text-search-configuration',
        schema: S,
        name: 'My Search',
        parser: { schema: 'pg_catalog', name: 'default' },
        mappings: [{ token: 'asciiword', dictionaries: [{ schema: S, name: 'Stop It' }] }],
        comment: undefined,
      },
    ],
    textSearchDictionaries: [
      {
        kind: 'text-search-dictionary',
        schema: S,
        name: 'Stop It',
        template: { schema: 'pg_catalog', name: 'simple' },
        options: "stopwords = 'english'",
        comment: undefined,
      },
    ],
    conversions: [
      {
        kind: 'conversion',
        schema: S,
        name: 'To Latin',
        source: 'UTF8',
        target: 'LATIN1',
        function: '"TS Home".conv',
        default: true,
        comment: 'conv',
        dependsOn: [
          { kind: 'routine', schema: S, name: 'conv(integer, integer, cstring, internal, integer, boolean)' },
        ],
      },
    ],
    routines: [
      {
        kind: 'function',
        schema: S,
        name: 'conv',
        signature: 'conv(integer, integer, cstring, internal, integer, boolean)',
        definition: 'CREATE OR REPLACE FUNCTION "TS Home".conv(...)',
        comment: undefined,
        dependsOn: [],
      },
    ],
    refused: [{ kind: 'text-search-parser', schema: S, name: 'p', reason: 'C functions' }],
  });
  const pre = plan.preData;
  assert.ok(at(pre, 'CREATE TEXT SEARCH DICTIONARY') < at(pre, 'ALTER TEXT SEARCH CONFIGURATION'));
  assert.ok(at(pre, 'CREATE OR REPLACE FUNCTION "TS Home".conv') < at(pre, 'CREATE DEFAULT CONVERSION'));
  assert.equal(
    pre[at(pre, 'CREATE DEFAULT CONVERSION')]!.sql,
    `CREATE DEFAULT CONVERSION "TS Home"."To Latin" FOR 'UTF8' TO 'LATIN1' FROM "TS Home".conv`,
  );
  assert.equal(
    pre[at(pre, 'CREATE TEXT SEARCH DICTIONARY')]!.sql,
    `CREATE TEXT SEARCH DICTIONARY "TS Home"."Stop It" (TEMPLATE = "pg_catalog"."simple", stopwords = 'english')`,
  );
  const map = pre[at(pre, 'ALTER TEXT SEARCH CONFIGURATION')]!;
  assert.equal(
    map.sql,
    'ALTER TEXT SEARCH CONFIGURATION "TS Home"."My Search" ADD MAPPING FOR "asciiword" WITH "TS Home"."Stop It"',
  );
  // Text search DDL fails with unique_violation on a re-run: each statement checks first.
  for (const x of pre.filter((y) => y.kind === 'text-search')) assert.ok(x.skipIf?.includes('pg_ts_'), x.sql);
  // Nothing is planned for the refused parser.
  assert.ok(!pre.some((x) => x.sql.includes('PARSER "TS Home"')));
});
test('policies, row-level security and rules go to post-data, ENABLE after the policies; column attributes to pre-data', () => {
  const t = { schema: 'S p', name: 'T"x' };
  const { preData, postData } = planSchemaDdl({
    ...EMPTY,
    tables: [
      {
        kind: 'table',
        ...t,
        unlogged: true,
        columns: [
          {
            name: 'Big Col',
            type: 'text',
            collation: undefined,
            default: undefined,
            notNull: false,
            identity: undefined,
            generated: undefined,
            comment: undefined,
            storage: 'external',
            compression: 'lz4',
            statistics: 250,
          },
        ],
        constraints: [],
        foreignKeys: [],
        partitionBy: undefined,
        partitionOf: undefined,
        replicaIdentity: 'full',
        options: ['fillfactor=50'],
        toastOptions: ['autovacuum_enabled=false'],
        rowSecurity: { enabled: true, forced: true },
        comment: undefined,
        dependsOn: [],
      },
    ],
    policies: [
      {
        kind: 'policy',
        name: 'Mine',
        table: t,
        command: 'delete',
        permissive: false,
        roles: ['Role A', 'b'],
        using: '(true)',
        withCheck: undefined,
        comment: undefined,
      },
    ],
    rules: [
      {
        kind: 'rule',
        name: 'R 1',
        table: t,
        definition: 'CREATE RULE "R 1" AS ON DELETE TO "S p"."T""x" DO INSTEAD NOTHING',
        enabled: 'replica',
        comment: 'why',
      },
    ],
  });
  assert.deepEqual(
    preData.map((s) => s.sql),
    [
      'CREATE UNLOGGED TABLE "S p"."T""x" (\n    "Big Col" text\n) WITH (fillfactor=50, toast.autovacuum_enabled=false)',
      'ALTER TABLE ONLY "S p"."T""x" REPLICA IDENTITY FULL',
      'ALTER TABLE ONLY "S p"."T""x" ALTER COLUMN "Big Col" SET STORAGE EXTERNAL',
      'ALTER TABLE ONLY "S p"."T""x" ALTER COLUMN "Big Col" SET COMPRESSION lz4',
      'ALTER TABLE ONLY "S p"."T""x" ALTER COLUMN "Big Col" SET STATISTICS 250',
    ],
  );
  assert.ok(preData[3]?.skipIf?.includes('140000'), 'no SET COMPRESSION before PostgreSQL 14');
  assert.deepEqual(
    postData.map((s) => s.sql),
    [
      'CREATE POLICY "Mine" ON "S p"."T""x" AS RESTRICTIVE FOR DELETE TO "Role A", "b" USING ((true))',
      'ALTER TABLE ONLY "S p"."T""x" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY',
      'CREATE RULE "R 1" AS ON DELETE TO "S p"."T""x" DO INSTEAD NOTHING',
      'ALTER TABLE "S p"."T""x" ENABLE REPLICA RULE "R 1"',
      'COMMENT ON RULE "R 1" ON "S p"."T""x" IS \'why\'',
    ],
  );
  assert.deepEqual(postData[0]?.requiresRoles, ['Role A', 'b']);
  assert.deepEqual(postData[1]?.dependsOn, [postData[0]?.id]);
});

test('a base type: shell type, then its C / internal functions (on the shell), then CREATE TYPE with the options that differ from the defaults; a canonical range and a text search parser and template likewise', () => {
  const S = 'Base Home';
  const fn = (name: string, args: string, symbol: string) => ({
    kind: 'function' as const,
    schema: S,
    name,
    signature: `${name}(${args})`,
    definition: `CREATE OR REPLACE FUNCTION "Base Home"."${name}"(${args}) LANGUAGE internal AS $function$${symbol}$function$`,
    comment: undefined,
    dependsOn: [{ kind: 'type' as const, schema: S, name: args === 'cstring' ? 'num' : 'span' }],
    native: { language: 'internal' as const, symbol },
  });
  const plan = planSchemaDdl({
    ...EMPTY,
    schemas: [{ kind: 'schema', name: S, comment: undefined }],
    types: [
      {
        kind: 'base',
        schema: S,
        name: 'num',
        input: '"Base Home"."num in"',
        output: '"Base Home"."num out"',
        receive: undefined,
        send: undefined,
        typmodIn: undefined,
        typmodOut: undefined,
        analyze: undefined,
        subscript: undefined,
        internalLength: -1,
        passedByValue: false,
        alignment: 'double',
        storage: 'main',
        category: 'N',
        preferred: true,
        default: "it's",
        element: undefined,
        delimiter: '|',
        collatable: true,
        comment: undefined,
        dependsOn: [
          { kind: 'routine', schema: S, name: 'num in(cstring)' },
          { kind: 'routine', schema: S, name: 'num out("Base Home".num)' },
        ],
      },
      {
        kind: 'range',
        schema: S,
        name: 'span',
        subtype: 'integer',
        subtypeOpclass: undefined,
        collation: undefined,
        canonical: '"Base Home".canon',
        subtypeDiff: undefined,
        multirangeName: undefined,
        comment: undefined,
        dependsOn: [{ kind: 'routine', schema: S, name: 'canon("Base Home".span)' }],
      },
    ],
    routines: [
      fn('num in', 'cstring', 'int4in'),
      {
        ...fn('num out', '"Base Home".num', 'int4out'),
        dependsOn: [{ kind: 'type', schema: S, name: 'num' }],
      },
      fn('canon', '"Base Home".span', 'int4range_canonical'),
    ],
    textSearchParsers: [
      {
        kind: 'text-search-parser',
        schema: S,
        name: 'Pars',
        start: 'pg_catalog.prsd_start',
        getToken: 'pg_catalog.prsd_nexttoken',
        end: 'pg_catalog.prsd_end',
        lexTypes: 'pg_catalog.prsd_lextype',
        headline: undefined,
        comment: 'parses',
        dependsOn: [],
      },
    ],
    textSearchTemplates: [
      {
        kind: 'text-search-template',
        schema: S,
        name: 'Tmpl',
        init: undefined,
        lexize: 'pg_catalog.dsimple_lexize',
        comment: undefined,
        dependsOn: [],
      },
    ],
    textSearchDictionaries: [
      {
        kind: 'text-search-dictionary',
        schema: S,
        name: 'Dict',
        template: { schema: S, name: 'Tmpl' },
        options: undefined,
        comment: undefined,
      },
    ],
  });
  const pre = plan.preData;
  const shell = pre.findIndex((x) => x.sql === 'CREATE TYPE "Base Home"."num"');
  const full = at(pre, 'CREATE TYPE "Base Home"."num" (');
  assert.ok(shell >= 0 && shell < at(pre, 'CREATE OR REPLACE FUNCTION "Base Home"."num in"'));
  assert.ok(at(pre, 'CREATE OR REPLACE FUNCTION "Base Home"."num out"') < full);
  assert.equal(
    pre[full]!.sql,
    `CREATE TYPE "Base Home"."num" (
    INTERNALLENGTH = variable,
    INPUT = "Base Home"."num in",
    OUTPUT = "Base Home"."num out",
    COLLATABLE = true,
    DEFAULT = 'it''s',
    CATEGORY = 'N',
    PREFERRED = true,
    DELIMITER = '|',
    ALIGNMENT = double,
    STORAGE = main
)`,
  );
  assert.equal(pre[shell]!.superuserOnly, true);
  assert.deepEqual(pre[full]!.needsNative, [
    'routine:Base Home\u0000num in(cstring)',
    'routine:Base Home\u0000num out("Base Home".num)',
    `shell:type:Base Home\u0000num`,
  ]);
  const canon = at(pre, 'CREATE OR REPLACE FUNCTION "Base Home"."canon"');
  assert.deepEqual(pre[canon]!.native, { language: 'internal', symbol: 'int4range_canonical' });
  assert.ok(pre.findIndex((x) => x.sql === 'CREATE TYPE "Base Home"."span"') < canon);
  assert.equal(
    pre[at(pre, 'CREATE TYPE "Base Home"."span" AS RANGE')]!.sql,
    'CREATE TYPE "Base Home"."span" AS RANGE (SUBTYPE = integer, CANONICAL = "Base Home".canon)',
  );
  assert.ok(canon < at(pre, 'CREATE TYPE "Base Home"."span" AS RANGE'));
  assert.equal(
    pre[at(pre, 'CREATE TEXT SEARCH PARSER')]!.sql,
    'CREATE TEXT SEARCH PARSER "Base Home"."Pars" (START = pg_catalog.prsd_start, GETTOKEN = pg_catalog.prsd_nexttoken, END = pg_catalog.prsd_end, LEXTYPES = pg_catalog.prsd_lextype)',
  );
  assert.equal(
    pre[at(pre, 'CREATE TEXT SEARCH TEMPLATE')]!.sql,
    'CREATE TEXT SEARCH TEMPLATE "Base Home"."Tmpl" (LEXIZE = pg_catalog.dsimple_lexize)',
  );
  assert.ok(at(pre, 'CREATE TEXT SEARCH TEMPLATE') < at(pre, 'CREATE TEXT SEARCH DICTIONARY'));
  assert.ok(
    at(pre, 'COMMENT ON TEXT SEARCH PARSER "Base Home"."Pars"') > at(pre, 'CREATE TEXT SEARCH PARSER'),
  );
});
