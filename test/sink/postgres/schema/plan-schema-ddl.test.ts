import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SchemaModel } from '../../../../src/core/schema-model.ts';
import { connect, resolveEndpoint } from '../../../../src/pg/connection.ts';
import { applySchemaDdl } from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { planSchemaDdl, type DdlStatement } from '../../../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { introspectSchema } from '../../../../src/source/postgres/schema/introspect-schema.ts';
import { createSchemaZoo, ZOO_SCHEMAS } from '../../../support/schema-fixtures.ts';
import { freshDatabase, sql, testServer, urlOf } from '../../../support/servers.ts';

const EMPTY: SchemaModel = {
  schemas: [],
  extensions: [],
  types: [],
  sequences: [],
  tables: [],
  indexes: [],
  views: [],
  routines: [],
  triggers: [],
};

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
