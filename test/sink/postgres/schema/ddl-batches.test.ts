/**
 * DDL batches: consecutive plain statements go in one multi-statement round trip; a batch that fails
 * leaves nothing and its statements run again one at a time, so each gets the outcome it would have
 * had alone (an existing object skipped, the others applied) and a real error names its statement.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { PgdtsError } from '../../../../src/core/errors.ts';
import {
  applySchemaDdl,
  applySchemaDdlParallel,
  DDL_BATCH_MAX_STATEMENTS,
} from '../../../../src/sink/postgres/schema/apply-schema-ddl.ts';
import type { DdlStatement } from '../../../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';

const table = (n: number): DdlStatement => ({
  id: `table:public.b_${n}`,
  kind: 'table',
  object: `table "public"."b_${n}"`,
  sql: `CREATE TABLE public.b_${n} (id int, v text) -- a comment ending the statement`,
  dependsOn: [],
});
const index = (n: number): DdlStatement => ({
  id: `index:public.b_${n}_v`,
  kind: 'index',
  object: `index "public"."b_${n}_v"`,
  sql: `CREATE INDEX b_${n}_v ON public.b_${n} (v)`,
  dependsOn: [`table:public.b_${n}`],
});

test('DDL batches: a batch meeting an existing object runs again one statement at a time; parallel batches respect dependencies; an error names its statement', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'ddl_batches');
  await sql(s, db, 'CREATE TABLE public.b_3 (id int, v text)');
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
  await c.connect();
  try {
    const n = DDL_BATCH_MAX_STATEMENTS + 10;
    const tables = Array.from({ length: n }, (_, i) => table(i + 1));
    const events = await applySchemaDdl(c, tables);
    assert.equal(events.length, n);
    assert.deepEqual(
      events.filter((e) => e.outcome !== 'applied').map((e) => [e.object, e.outcome]),
      [['table "public"."b_3"', 'exists']],
    );
    const [count] = await sql<{ n: number }>(
      s,
      db,
      "SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
    );
    assert.equal(count?.n, n);
    // The second batch (no existing object) ran as one transaction: its tables share one xmin; the
    // first one, run again statement by statement, has one per table.
    const xmins = await sql<{ batch: string; n: number }>(
      s,
      db,
      `SELECT CASE WHEN substr(relname, 3)::int > ${DDL_BATCH_MAX_STATEMENTS} THEN 'second' ELSE 'first' END AS batch,
              count(DISTINCT xmin::text)::int AS n
         FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'b_3'
        GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(xmins, [
      { batch: 'first', n: DDL_BATCH_MAX_STATEMENTS - 1 },
      { batch: 'second', n: 1 },
    ]);

    // Every index after its table, on two connections: all applied, each once.
    const d = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
    await d.connect();
    try {
      const post = await applySchemaDdlParallel(
        [c, d],
        Array.from({ length: n }, (_, i) => index(i + 1)),
      );
      assert.equal(post.length, n);
      assert.ok(post.every((e) => e.outcome === 'applied'));
    } finally {
      await d.end();
    }

    // A failing statement in a batch: the others of the batch are applied, the error names it.
    const bad: DdlStatement = { ...table(1000), sql: 'CREATE TABLE public.b_1000 (id no_such_type)' };
    await assert.rejects(
      applySchemaDdl(c, [table(999), bad, table(1001)]),
      (e: unknown) =>
        e instanceof PgdtsError && e.code === 'SCHEMA_SYNC_FAILED' && e.message.includes('b_1000'),
    );
    const left = await sql<{ relname: string }>(
      s,
      db,
      "SELECT relname FROM pg_class WHERE relname IN ('b_999', 'b_1000', 'b_1001') ORDER BY relname",
    );
    // b_999 ran alone before the failing one; b_1001 after it never ran.
    assert.deepEqual(
      left.map((r) => r.relname),
      ['b_999'],
    );
  } finally {
    await c.end();
  }
});
