/**
 * Table-level schema features through schema sync, on real servers: replica identity (FULL, USING
 * INDEX, NOTHING), unlogged tables, storage parameters (also of the TOAST table), per-column storage,
 * compression (14+) and statistics targets, row-level security (policies, ENABLE / FORCE) and rules
 * with their enabled state, extended statistics, table inheritance and typed tables. 15 → 15 is
 * compared by pg_dump --schema-only, 13 → 17 and 17 → 15 by the introspected models; a second run
 * skips what exists.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { SchemaModel } from '../../../../src/core/schema-model.ts';
import type { ObjectSelector } from '../../../../src/core/task-config.ts';
import { type DdlEvent } from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { introspectDb, syncModel } from '../../../support/schema-sync-steps.ts';
import { pgDumpSchema } from '../../../support/pg-dump.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../../../support/servers.ts';

const SCHEMA = 'Attr Schema';
const OBJECTS: ObjectSelector[] = [{ kind: 'schema', schema: SCHEMA }];
/** A role every server has (roles are cluster-wide): policies may name it. */
const READER = 'pgdts Attr Reader';

async function ensureReader(s: TestServer): Promise<void> {
  await sql(
    s,
    'postgres',
    `DO $$ BEGIN CREATE ROLE "${READER}"; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
  );
}

/** The fixture: every table attribute schema sync carries, with awkward identifiers. */
function fixture(version: number): string {
  return `
  CREATE SCHEMA "${SCHEMA}";
  CREATE TABLE "${SCHEMA}"."Mixed Case" (
    id int PRIMARY KEY,
    "Owner Name" text NOT NULL,
    "Pay Load" text,
    blob bytea,
    n int
  ) WITH (fillfactor = 70, autovacuum_enabled = false, toast.autovacuum_enabled = false);
  ALTER TABLE "${SCHEMA}"."Mixed Case" ALTER COLUMN "Pay Load" SET STORAGE EXTERNAL;
  ALTER TABLE "${SCHEMA}"."Mixed Case" ALTER COLUMN blob SET STORAGE MAIN;
  ALTER TABLE "${SCHEMA}"."Mixed Case" ALTER COLUMN n SET STATISTICS 500;
  ${version >= 14 ? `ALTER TABLE "${SCHEMA}"."Mixed Case" ALTER COLUMN blob SET COMPRESSION pglz;` : ''}
  CREATE UNIQUE INDEX "Mixed Case by owner" ON "${SCHEMA}"."Mixed Case" ("Owner Name", id);
  ALTER TABLE "${SCHEMA}"."Mixed Case" REPLICA IDENTITY USING INDEX "Mixed Case by owner";
  ALTER TABLE "${SCHEMA}"."Mixed Case" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
  CREATE POLICY "Owner Reads" ON "${SCHEMA}"."Mixed Case" AS PERMISSIVE FOR SELECT TO "${READER}"
    USING ("Owner Name" = CURRENT_USER);
  CREATE POLICY "no negatives" ON "${SCHEMA}"."Mixed Case" AS RESTRICTIVE FOR ALL
    USING (n >= 0) WITH CHECK (n >= 0 AND "Pay Load" IS NOT NULL);
  CREATE POLICY "Insert Own" ON "${SCHEMA}"."Mixed Case" FOR INSERT WITH CHECK ("Owner Name" = CURRENT_USER);
  COMMENT ON POLICY "no negatives" ON "${SCHEMA}"."Mixed Case" IS 'keeps n >= 0';

  CREATE UNLOGGED TABLE "${SCHEMA}"."unlogged Ones" (id int PRIMARY KEY, v text) WITH (autovacuum_vacuum_scale_factor = 0.05);
  ALTER TABLE "${SCHEMA}"."unlogged Ones" REPLICA IDENTITY FULL;
  ALTER TABLE "${SCHEMA}"."unlogged Ones" ENABLE ROW LEVEL SECURITY;

  CREATE TABLE "${SCHEMA}"."No Ident" (id int, what text);
  ALTER TABLE "${SCHEMA}"."No Ident" REPLICA IDENTITY NOTHING;
  ALTER TABLE "${SCHEMA}"."No Ident" FORCE ROW LEVEL SECURITY;

  CREATE TABLE "${SCHEMA}"."Audit Trail" (id int, what text);
  CREATE RULE "Log Deletes" AS ON DELETE TO "${SCHEMA}"."Mixed Case"
    DO ALSO INSERT INTO "${SCHEMA}"."Audit Trail" VALUES (old.id, 'deleted ' || old."Owner Name");
  CREATE RULE "Ignore Updates" AS ON UPDATE TO "${SCHEMA}"."No Ident" DO INSTEAD NOTHING;
  ALTER TABLE "${SCHEMA}"."No Ident" DISABLE RULE "Ignore Updates";
  CREATE RULE "Always Log" AS ON INSERT TO "${SCHEMA}"."No Ident" WHERE new.what = 'x'
    DO ALSO INSERT INTO "${SCHEMA}"."Audit Trail" VALUES (new.id, 'x');
  ALTER TABLE "${SCHEMA}"."No Ident" ENABLE ALWAYS RULE "Always Log";
  COMMENT ON RULE "Log Deletes" ON "${SCHEMA}"."Mixed Case" IS 'audit';

  CREATE STATISTICS "${SCHEMA}"."Owner N Stats" (ndistinct, dependencies) ON "Owner Name", n FROM "${SCHEMA}"."Mixed Case";
  ALTER STATISTICS "${SCHEMA}"."Owner N Stats" SET STATISTICS 300;
  COMMENT ON STATISTICS "${SCHEMA}"."Owner N Stats" IS 'correlated';
  CREATE STATISTICS "${SCHEMA}".all_kinds ON id, n FROM "${SCHEMA}"."Mixed Case";
  CREATE STATISTICS "${SCHEMA}"."MCV only" (mcv) ON id, v FROM "${SCHEMA}"."unlogged Ones";
  CREATE TABLE "${SCHEMA}"."Base Things" (id int, "Made At" timestamptz DEFAULT '2000-01-01 00:00:00+00',
    label text NOT NULL, CONSTRAINT "label not empty" CHECK (label <> ''));
  CREATE TABLE "${SCHEMA}"."Other Parent" (weight int DEFAULT 1);
  CREATE TABLE "${SCHEMA}"."Child Thing" ("Own Col" text, label text NOT NULL)
    INHERITS ("${SCHEMA}"."Base Things", "${SCHEMA}"."Other Parent");
  ALTER TABLE "${SCHEMA}"."Child Thing" ALTER COLUMN "Made At" SET DEFAULT '2020-01-01 00:00:00+00';
  ALTER TABLE ONLY "${SCHEMA}"."Child Thing" ALTER COLUMN weight DROP DEFAULT;
  ALTER TABLE "${SCHEMA}"."Child Thing" ALTER COLUMN id SET NOT NULL;
  ALTER TABLE "${SCHEMA}"."Child Thing" ADD CONSTRAINT "positive weight" CHECK (weight > 0);
  CREATE TABLE "${SCHEMA}"."Grand Child" () INHERITS ("${SCHEMA}"."Child Thing");
  CREATE TYPE "${SCHEMA}"."Point Type" AS (x int, "Y Val" text);
  CREATE TABLE "${SCHEMA}"."Typed Points" OF "${SCHEMA}"."Point Type" (
    x WITH OPTIONS NOT NULL DEFAULT 0, CONSTRAINT "x positive" CHECK (x >= 0), PRIMARY KEY (x));
  ${version >= 14 ? `CREATE STATISTICS "${SCHEMA}"."Expr Stats" ON (lower("Owner Name")), (n * 2) FROM "${SCHEMA}"."Mixed Case";` : ''}
  `;
}

const introspect = (s: TestServer, db: string): Promise<SchemaModel> => introspectDb(s, db, OBJECTS);
const sync = (model: SchemaModel, s: TestServer, db: string): Promise<DdlEvent[]> => syncModel(model, s, db);

async function source(s: TestServer): Promise<string> {
  await ensureReader(s);
  const db = await freshDatabase(s, 'attr_src');
  await sql(s, db, fixture(s.version));
  return db;
}

/** What a second run must find in place (statements that would fail as duplicates). */
const CREATES = new Set(['table', 'index', 'primary-key', 'policy', 'rule']);

/** Extended statistics on expressions do not exist before 14: a model from 13 has none. */
function withoutExpressionStatistics(m: SchemaModel): SchemaModel {
  return { ...m, statistics: (m.statistics ?? []).filter((x) => x.name !== 'Expr Stats') };
}

test('PostgreSQL 15: table attributes dump identically to the source (pg_dump 15), a re-run skips them', async () => {
  const s = testServer(15);
  const src = await source(s);
  const dst = await freshDatabase(s, 'attr_dst');
  const model = await introspect(s, src);
  const events = await sync(model, s, dst);
  assert.ok(
    events.every((e) => e.outcome === 'applied'),
    events
      .filter((e) => e.outcome !== 'applied')
      .map((e) => e.message)
      .join('\n'),
  );
  const expected = await pgDumpSchema(s, src, [SCHEMA]);
  for (const piece of [
    'CREATE UNLOGGED TABLE "Attr Schema"."unlogged Ones"',
    'REPLICA IDENTITY USING INDEX "Mixed Case by owner"',
    'REPLICA IDENTITY FULL',
    'REPLICA IDENTITY NOTHING',
    "fillfactor='70'",
    "toast.autovacuum_enabled='false'",
    'SET STORAGE EXTERNAL',
    'SET STORAGE MAIN',
    'SET STATISTICS 500',
    'SET COMPRESSION pglz',
    'ENABLE ROW LEVEL SECURITY',
    'FORCE ROW LEVEL SECURITY',
    'AS RESTRICTIVE',
    'TO "pgdts Attr Reader"',
    'WITH CHECK',
    'CREATE RULE "Log Deletes"',
    'DISABLE RULE "Ignore Updates"',
    'ENABLE ALWAYS RULE "Always Log"',
    'CREATE STATISTICS "Attr Schema"."Owner N Stats" (ndistinct, dependencies)',
    'ALTER STATISTICS "Attr Schema"."Owner N Stats" SET STATISTICS 300',
    'CREATE STATISTICS "Attr Schema".all_kinds ON',
    'CREATE STATISTICS "Attr Schema"."MCV only" (mcv)',
    'CREATE STATISTICS "Attr Schema"."Expr Stats" ON',
    'INHERITS ("Attr Schema"."Base Things", "Attr Schema"."Other Parent")',
    'INHERITS ("Attr Schema"."Child Thing")',
    'CREATE TABLE "Attr Schema"."Typed Points" OF "Attr Schema"."Point Type"',
  ]) {
    assert.ok(expected.includes(piece), `the source dump shows ${piece}:\n${expected}`);
  }
  assert.equal(await pgDumpSchema(s, dst, [SCHEMA]), expected);

  const again = await sync(model, s, dst);
  const notSkipped = again.filter((e) => CREATES.has(e.statement.kind) && e.outcome !== 'exists');
  assert.deepEqual(
    notSkipped.map((e) => e.message),
    [],
  );
  assert.ok(again.some((e) => e.statement.kind === 'policy' && e.outcome === 'exists'));
  assert.ok(again.some((e) => e.statement.kind === 'rule' && e.outcome === 'exists'));
  assert.ok(again.some((e) => e.statement.kind === 'statistics' && e.outcome === 'exists'));
  assert.equal(await pgDumpSchema(s, dst, [SCHEMA]), expected);
});

/** Column compression does not exist before 14: a model from 13 has none. */
function withoutCompression(m: SchemaModel): SchemaModel {
  return {
    ...m,
    tables: m.tables.map((t) => ({
      ...t,
      columns: t.columns.map((c) => ({ ...c, compression: undefined })),
    })),
  };
}

async function roundTrip(from: TestServer, to: TestServer): Promise<void> {
  const src = await source(from);
  const dst = await freshDatabase(to, 'attr_dst');
  const model = await introspect(from, src);
  const native = await introspect(to, await source(to));
  const expected = from.version < 14 ? withoutExpressionStatistics(withoutCompression(native)) : native;
  await sync(model, to, dst);
  const got = await introspect(to, dst);
  assert.deepEqual(got, expected);
  assert.ok((got.policies ?? []).length === 3 && (got.rules ?? []).length === 3);
  assert.equal((got.statistics ?? []).length, from.version < 14 ? 3 : 4);
  const again = await sync(model, to, dst);
  assert.deepEqual(
    again.filter((e) => CREATES.has(e.statement.kind) && e.outcome !== 'exists').map((e) => e.message),
    [],
  );
  assert.deepEqual(await introspect(to, dst), expected);
}

test('PostgreSQL 13 → 17 and 17 → 15: table attributes introspect equal to the destination native ones', async () => {
  await roundTrip(testServer(13), testServer(17));
  await roundTrip(testServer(17), testServer(15));
});

test('a policy naming a role the destination lacks is refused with the reason, the rest is synced', async () => {
  const s = testServer(15);
  const src = await source(s);
  const gone = `pgdts gone ${randomBytes(3).toString('hex')}`;
  await sql(s, src, `CREATE ROLE "${gone}"`);
  await sql(s, src, `CREATE POLICY "For Gone" ON "${SCHEMA}"."Mixed Case" TO "${gone}" USING (true)`);
  const model = await introspect(s, src);
  assert.deepEqual(model.policies?.find((p) => p.name === 'For Gone')?.roles, [gone]);
  // The role is gone by the time the destination is built.
  await sql(s, src, `DROP POLICY "For Gone" ON "${SCHEMA}"."Mixed Case"; DROP ROLE "${gone}"`);
  const dst = await freshDatabase(s, 'attr_dst');
  const events = await sync(model, s, dst);
  const refused = events.filter((e) => e.outcome === 'unavailable');
  assert.deepEqual(
    refused.map((e) => e.statement.object),
    ['policy "For Gone" on "Attr Schema"."Mixed Case"'],
  );
  assert.match(refused[0]!.message, new RegExp(`refused: role "${gone}" does not exist on the destination`));
  assert.equal(await pgDumpSchema(s, dst, [SCHEMA]), await pgDumpSchema(s, src, [SCHEMA]));
});
