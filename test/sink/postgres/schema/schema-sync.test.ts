import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SchemaModel } from '../../../../src/core/schema-model.ts';
import type { ObjectSelector } from '../../../../src/core/task-config.ts';
import { applySchemaDdl, type DdlEvent } from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { planSchemaDdl } from '../../../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { introspectDb, schemaClient, syncModel } from '../../../support/schema-sync-steps.ts';
import { pgDumpSchema } from '../../../support/pg-dump.ts';
import { createSchemaZoo, ZOO_SCHEMAS } from '../../../support/schema-fixtures.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../../../support/servers.ts';

const ZOO: ObjectSelector[] = ZOO_SCHEMAS.map((schema) => ({ kind: 'schema', schema }));

const client = schemaClient;

const introspect = (s: TestServer, db: string, objects: readonly ObjectSelector[]): Promise<SchemaModel> =>
  introspectDb(s, db, objects);
/** Applies preData on one connection and postData on three, as a full sync would around the load. */
const sync = (model: SchemaModel, s: TestServer, db: string): Promise<DdlEvent[]> =>
  syncModel(model, s, db, 3);

async function zooSource(s: TestServer): Promise<string> {
  const db = await freshDatabase(s, 'schema_src');
  await createSchemaZoo(s, db);
  return db;
}

for (const version of [13, 15] as const) {
  test(`PostgreSQL ${version}: synced schema dumps identically to the source (pg_dump 15)`, async () => {
    const s = testServer(version);
    const src = await zooSource(s);
    const dst = await freshDatabase(s, 'schema_dst');
    const model = await introspect(s, src, ZOO);
    const events = await sync(model, s, dst);
    assert.ok(
      events.every((e) => e.outcome === 'applied'),
      'first run applies every statement',
    );
    const expected = await pgDumpSchema(s, src, ZOO_SCHEMAS);
    for (const piece of [
      'CREATE TABLE "Sales Dept"."Order Items"',
      'ATTACH PARTITION "Sales Dept".regions_us_2024',
      'ALTER INDEX "Sales Dept".measurements_pkey ATTACH PARTITION',
      'DISABLE TRIGGER touch_disabled',
      'ENABLE REPLICA TRIGGER touch_replica',
      'CLUSTER ON customers_lower_name',
      'REPLICA IDENTITY FULL',
      'REPLICA IDENTITY USING INDEX "weird""name_uq"',
      'CREATE MATERIALIZED VIEW "Sales Dept".order_totals',
      'GENERATED ALWAYS AS IDENTITY',
      ') STORED',
      'NOT VALID',
      'CREATE PROCEDURE "Sales Dept"."Archive Orders"',
      'CREATE UNLOGGED TABLE',
      'COLLATE pg_catalog."C"',
    ]) {
      assert.ok(expected.includes(piece), `the source dump shows ${piece}`);
    }
    assert.equal(await pgDumpSchema(s, dst, ZOO_SCHEMAS), expected);

    // The unselected schema and what lives in it stay behind.
    const other = await sql(s, dst, "SELECT 1 FROM pg_namespace WHERE nspname = 'other'");
    assert.equal(other.length, 0);

    // A re-run (after a crash, say) succeeds, skips what exists and changes nothing.
    const again = await sync(model, s, dst);
    assert.ok(again.some((e) => e.outcome === 'exists'));
    assert.ok(
      again.every(
        (e) => e.outcome === 'exists' || !['table', 'view', 'index', 'type'].includes(e.statement.kind),
      ),
    );
    assert.equal(await pgDumpSchema(s, dst, ZOO_SCHEMAS), expected);
  });
}

/**
 * Syncs the zoo from one server to another and compares models. Across versions, deparsed texts
 * differ (PostgreSQL 14+ prints `IN` argument modes of procedures, for one), so the destination is
 * compared with the zoo created natively on the destination's version.
 */
async function modelRoundTrip(from: TestServer, to: TestServer): Promise<void> {
  const src = await zooSource(from);
  const dst = await freshDatabase(to, 'schema_dst');
  const model = await introspect(from, src, ZOO);
  const expected = from.version === to.version ? model : await introspect(to, await zooSource(to), ZOO);
  await sync(model, to, dst);
  assert.deepEqual(await introspect(to, dst, ZOO), expected);
  const again = await sync(model, to, dst);
  assert.ok(again.some((e) => e.outcome === 'exists'));
  assert.deepEqual(await introspect(to, dst, ZOO), expected);
}

test('PostgreSQL 17: synced schema introspects equal to the source, also after a re-run', async () => {
  await modelRoundTrip(testServer(17), testServer(17));
});

test('PostgreSQL 13 → 17 and 17 → 15: synced schema introspects equal to the source', async () => {
  await modelRoundTrip(testServer(13), testServer(17));
  await modelRoundTrip(testServer(17), testServer(15));
});

test('a run interrupted half-way through pre-data or post-data is completed by a re-run', async () => {
  const s = testServer(15);
  const src = await zooSource(s);
  const dst = await freshDatabase(s, 'schema_dst');
  const model = await introspect(s, src, ZOO);
  const plan = planSchemaDdl(model);
  const c = await client(s, dst);
  try {
    // As if the process died half-way through pre-data, then again half-way through post-data.
    await applySchemaDdl(c, plan.preData.slice(0, Math.floor(plan.preData.length / 2)));
    const events = await applySchemaDdl(c, plan.preData);
    assert.ok(events.some((e) => e.outcome === 'exists' && e.message.includes('already exists, skipped')));
    assert.ok(events.some((e) => e.outcome === 'applied' && e.statement.kind === 'view'));
    await applySchemaDdl(c, plan.postData.slice(0, Math.floor(plan.postData.length / 2)));
    await applySchemaDdl(c, plan.postData);
  } finally {
    await c.end();
  }
  assert.equal(await pgDumpSchema(s, dst, ZOO_SCHEMAS), await pgDumpSchema(s, src, ZOO_SCHEMAS));
});

test('a table selector brings the table and what it needs, nothing else', async () => {
  const s = testServer(15);
  const src = await zooSource(s);
  const model = await introspect(s, src, [
    { kind: 'table', table: { schema: 'Sales Dept', name: 'orders' } },
  ]);
  assert.deepEqual(
    model.tables.map((t) => t.name),
    ['orders'],
  );
  assert.deepEqual(
    model.types.map((t) => t.name),
    ['Order Status', 'code', 'money_pair'],
  );
  assert.deepEqual(
    model.sequences.map((t) => t.name),
    ['Invoice Numbers'],
  );
  assert.deepEqual(
    model.routines.map((r) => r.signature),
    ['Is Valid(integer)', 'touch()'],
  );
  assert.deepEqual(model.views, []);
  assert.deepEqual(
    model.indexes.map((i) => i.name),
    ['orders by status'],
  );
  // The foreign key to customers (not selected) is left out.
  assert.deepEqual(model.tables[0]!.foreignKeys, []);

  const dst = await freshDatabase(s, 'schema_dst');
  await sync(model, s, dst);
  const rels = await sql<{ n: string }>(
    s,
    dst,
    `SELECT c.relname AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'Sales Dept' AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1`,
  );
  assert.deepEqual(
    rels.map((r) => r.n),
    ['orders'],
  );
  // Inserting through the synced defaults, identity, sequence and trigger works on the destination.
  await sql(s, dst, `INSERT INTO "Sales Dept".orders (customer_id) VALUES (1)`);
  const row = await sql<{ invoice: number; updated: string }>(
    s,
    dst,
    `SELECT invoice, "updated at"::text AS updated FROM "Sales Dept".orders`,
  );
  assert.deepEqual(row, [{ invoice: 1000, updated: '2000-01-01 00:00:00+00' }]);
});

test('a schema selector brings the types its tables use from other schemas', async () => {
  const s = testServer(17);
  const src = await zooSource(s);
  const model = await introspect(s, src, [{ kind: 'schema', schema: 'other' }]);
  assert.deepEqual(
    model.schemas.map((x) => x.name),
    ['Sales Dept', 'other'],
  );
  assert.deepEqual(
    model.types.map((t) => t.name),
    ['Order Status'],
  );
  assert.deepEqual(
    model.tables.map((t) => t.name),
    ['unselected'],
  );
  assert.deepEqual(
    model.views.map((t) => t.name),
    ['v'],
  );
  // other.v reads "Sales Dept".keyless, which is not selected: the sync stops at that view.
  const dst = await freshDatabase(s, 'schema_dst');
  await assert.rejects(sync(model, s, dst), (e: unknown) => {
    const err = e as { code?: string; message?: string };
    return err.code === 'SCHEMA_SYNC_FAILED' && (err.message ?? '').includes('view "other"."v"');
  });
});

test('a partition-crossing table selector and a cross-schema type', async () => {
  const s = testServer(13);
  const src = await zooSource(s);
  const model = await introspect(s, src, [
    { kind: 'table', table: { schema: 'Ünïcödé', name: 'Ünïcödé Täble' } },
    { kind: 'table', table: { schema: 'Sales Dept', name: 'regions' } },
  ]);
  assert.deepEqual(
    model.tables.map((t) => t.name),
    ['regions', 'regions_eu', 'regions_us', 'regions_us_2024', 'regions_us_other', 'Ünïcödé Täble'],
  );
  assert.deepEqual(
    model.extensions.map((e) => e.name),
    ['citext'],
  );
  assert.deepEqual(
    model.schemas.map((x) => x.name),
    ['Sales Dept', 'Ünïcödé'],
  );
  const dst = await freshDatabase(s, 'schema_dst');
  await sync(model, s, dst);
  assert.deepEqual(
    await introspect(s, dst, [
      { kind: 'table', table: { schema: 'Ünïcödé', name: 'Ünïcödé Täble' } },
      { kind: 'table', table: { schema: 'Sales Dept', name: 'regions' } },
    ]),
    model,
  );
});

test('a failing statement raises SCHEMA_SYNC_FAILED naming the object', async () => {
  const s = testServer(15);
  const dst = await freshDatabase(s, 'schema_dst');
  const c = await client(s, dst);
  try {
    await assert.rejects(
      applySchemaDdl(c, [
        {
          id: 'table:x',
          kind: 'table',
          object: 'table "nope"."t"',
          sql: 'CREATE TABLE "nope"."t" (a int)',
          dependsOn: [],
        },
      ]),
      (e: unknown) => {
        const err = e as { code?: string; message?: string };
        return err.code === 'SCHEMA_SYNC_FAILED' && (err.message ?? '').includes('table "nope"."t"');
      },
    );
  } finally {
    await c.end();
  }
});
