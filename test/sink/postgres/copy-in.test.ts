/**
 * allTablesEmpty, which lets the full sync leave a chunk of empty destination tables untruncated:
 * it must never call a table with rows empty, also when a row-level security policy hides the rows
 * from the destination user, and must leave the caller's transaction usable when it cannot look.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { allTablesEmpty } from '../../../src/sink/postgres/copy-in.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';

test('allTablesEmpty: true only when no table holds a row; a policy hiding rows or a missing table answers false, the transaction goes on', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'empty_check');
  const role = `empty_check_${db.slice(-8)}`;
  await sql(
    s,
    db,
    `CREATE TABLE public.a (id int); CREATE TABLE public.b (id int); CREATE TABLE public.c (id int);
     INSERT INTO public.c VALUES (1);
     CREATE ROLE ${role} LOGIN PASSWORD 'pw-Empty-1';
     CREATE TABLE public.hidden (id int); INSERT INTO public.hidden VALUES (1);
     ALTER TABLE public.hidden OWNER TO ${role};
     ALTER TABLE public.hidden ENABLE ROW LEVEL SECURITY; ALTER TABLE public.hidden FORCE ROW LEVEL SECURITY;
     CREATE POLICY nothing ON public.hidden USING (false)`,
  );
  const t = (name: string) => ({ schema: 'public', name });
  const su = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
  const owner = new pg.Client({
    host: s.host,
    port: s.port,
    user: role,
    password: 'pw-Empty-1',
    database: db,
  });
  await su.connect();
  await owner.connect();
  try {
    await su.query('BEGIN');
    assert.equal(await allTablesEmpty(su, []), true);
    assert.equal(await allTablesEmpty(su, [t('a'), t('b')]), true);
    assert.equal(await allTablesEmpty(su, [t('a'), t('c')]), false);
    assert.equal(await allTablesEmpty(su, [t('a'), t('no_such_table')]), false);
    // The error was rolled back to the savepoint: the transaction still runs statements.
    assert.deepEqual((await su.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await su.query('COMMIT');

    // Under FORCE ROW LEVEL SECURITY its owner sees no row of public.hidden; with row_security off
    // the query fails instead of answering "empty".
    assert.deepEqual((await owner.query('SELECT count(*)::int AS n FROM public.hidden')).rows, [{ n: 0 }]);
    await owner.query('BEGIN');
    assert.equal(await allTablesEmpty(owner, [t('hidden')]), false);
    await owner.query('COMMIT');
  } finally {
    await su.end();
    await owner.end();
    await sql(s, 'postgres', `DROP DATABASE "${db}"`).catch(() => undefined);
    await sql(s, 'postgres', `DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  }
});
