/**
 * `POST /api/v1/data-sources/{id}/validate-filter` of a real `pgdts serve` against a real source: a
 * condition the server accepts is valid; an unknown column, a syntax error and an unknown table are
 * not, with the server's message; a quoted mixed-case table name is quoted right; `;` and an unclosed
 * comment are refused under `where` before the source is asked; nothing the condition calls runs
 * (EXPLAIN only, READ ONLY); 404 for an unknown data source, 401 without the token, the route in the
 * OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startServe, type Serve } from '../support/control-serve.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const source = testServer(15);
const store = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;
let serve: Serve;
let db: string;

before(async () => {
  db = await freshDatabase(source, 'ctl_filter_src');
  await sql(
    source,
    db,
    `CREATE SCHEMA app;
     CREATE TABLE app.orders (id bigint PRIMARY KEY, region text);
     CREATE TABLE app.touched (n int);
     CREATE FUNCTION app.touch() RETURNS boolean LANGUAGE sql VOLATILE AS 'INSERT INTO app.touched VALUES (1) RETURNING true';
     CREATE TABLE public."Mixed Case" ("Id" int);`,
  );
  serve = await startServe(['--store', urlOf(store, await freshDatabase(store, 'ctl_filter_store'))], {
    PGDTS_API_TOKEN: TOKEN,
  });
  const r = await serve.call('POST', '/api/v1/data-sources', {
    body: {
      id: 'src',
      type: 'postgresql',
      host: source.host,
      port: source.port,
      username: source.user,
      password: source.password,
      database: db,
    },
  });
  assert.equal(r.status, 201, r.text);
});

after(async () => {
  await serve?.stop();
});

async function check(
  body: unknown,
  id = 'src',
): Promise<{ status: number; body: { valid?: boolean; message?: string | null }; text: string }> {
  const r = await serve.call('POST', `/api/v1/data-sources/${id}/validate-filter`, { body });
  return r as { status: number; body: { valid?: boolean; message?: string | null }; text: string };
}

test('a condition the server plans is valid; its refusals are not, with the reason', async () => {
  const ok = await check({ schema: 'app', table: 'orders', where: "region = 'eu' AND id % 3 = 0" });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.body, { valid: true, message: null });
  // A trailing line comment does not swallow the closing parenthesis.
  const comment = await check({ schema: 'app', table: 'orders', where: 'id > 10 -- big ones' });
  assert.deepEqual(comment.body, { valid: true, message: null });

  const column = await check({ schema: 'app', table: 'orders', where: 'amount > 10' });
  assert.equal(column.status, 200, column.text);
  assert.equal(column.body.valid, false);
  assert.match(column.body.message ?? '', /column "amount" does not exist/);
  const syntax = await check({ schema: 'app', table: 'orders', where: 'id >' });
  assert.equal(syntax.body.valid, false);
  assert.match(syntax.body.message ?? '', /syntax error/);
  const table = await check({ schema: 'app', table: 'nosuch', where: 'true' });
  assert.equal(table.body.valid, false);
  assert.match(table.body.message ?? '', /relation "app.nosuch" does not exist/);
  // The names are the catalog's, quoted by the server side: case and spaces kept.
  const mixed = await check({ schema: 'public', table: 'Mixed Case', where: '"Id" > 0' });
  assert.deepEqual(mixed.body, { valid: true, message: null });
});

test('the condition is planned, never run, and cannot write', async () => {
  const r = await check({ schema: 'app', table: 'orders', where: 'app.touch()' });
  assert.deepEqual(r.body, { valid: true, message: null });
  // A constant subquery the planner could fold: still no row written (READ ONLY, rolled back).
  const sub = await check({ schema: 'app', table: 'orders', where: '(SELECT app.touch())' });
  assert.equal(sub.status, 200, sub.text);
  const rows = await sql<{ n: string }>(source, db, 'SELECT count(*)::text AS n FROM app.touched');
  assert.equal(rows[0]?.n, '0');
});

test('; and unbalanced comments are refused under where; bad names, unknown source, no token', async () => {
  for (const [where, rule] of [
    ['true; DROP TABLE app.orders', /must not contain ;/],
    ['true /* open', /must close every \/\* comment/],
    ['true */ x', /must close every \/\* comment/],
  ] as const) {
    const r = await check({ schema: 'app', table: 'orders', where });
    assert.equal(r.status, 400, r.text);
    const b = r.body as unknown as { code: string; details: { issues: { field: string; rule: string }[] } };
    assert.equal(b.code, 'CONFIG_INVALID');
    assert.equal(b.details.issues[0]?.field, 'where');
    assert.match(b.details.issues[0]?.rule ?? '', rule);
  }
  const exists = await sql(
    source,
    db,
    "SELECT 1 FROM pg_tables WHERE schemaname = 'app' AND tablename = 'orders'",
  );
  assert.equal(exists.length, 1);
  const empty = await check({ schema: '', table: 'orders', where: 'true' });
  assert.equal(empty.status, 400, empty.text);
  assert.match(empty.text, /"field":"schema"/);
  const missing = await check({ schema: 'app', table: 'orders', where: 'true' }, 'nosuch');
  assert.equal(missing.status, 404, missing.text);
  const r = await serve.call('POST', '/api/v1/data-sources/src/validate-filter', {
    body: { schema: 'app', table: 'orders', where: 'true' },
    token: null,
  });
  assert.equal(r.status, 401);
  const doc = (await serve.call('GET', '/openapi.json')).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  assert.ok(doc.paths['/api/v1/data-sources/{id}/validate-filter']?.post);
});
