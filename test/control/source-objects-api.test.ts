/**
 * `GET /api/v1/data-sources/{id}/tables` of a real `pgdts serve`: the schemas and tables a source
 * offers (partitions and system schemas left out, primary key and replica identity given), only the
 * data source's `schema` when it has one, 404 for an unknown data source, the connection error for a
 * wrong password, 401 without the token, and the route in the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startServe, type Serve } from '../support/control-serve.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const source = testServer(13);
const store = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;
let serve: Serve;
let db: string;

before(async () => {
  db = await freshDatabase(source, 'ctl_objects_src');
  await sql(
    source,
    db,
    `CREATE SCHEMA app;
     CREATE TABLE app.orders (id bigint PRIMARY KEY, v text);
     INSERT INTO app.orders SELECT g, 'o' FROM generate_series(1, 100) g;
     CREATE TABLE app.events (id bigint, v text);
     ALTER TABLE app.events REPLICA IDENTITY FULL;
     CREATE TABLE app.measures (id bigint, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
     CREATE TABLE app.measures_2026 PARTITION OF app.measures FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
     CREATE TABLE public."Mixed Case" (id int);
     ANALYZE;`,
  );
  serve = await startServe(['--store', urlOf(store, await freshDatabase(store, 'ctl_objects_store'))], {
    PGDTS_API_TOKEN: TOKEN,
  });
  const base = {
    type: 'postgresql',
    host: source.host,
    port: source.port,
    username: source.user,
    database: db,
  };
  for (const body of [
    { ...base, id: 'all', password: source.password },
    { ...base, id: 'apponly', password: source.password, schema: 'app' },
    { ...base, id: 'badpw', password: 'wrong-password' },
  ]) {
    const r = await serve.call('POST', '/api/v1/data-sources', { body });
    assert.equal(r.status, 201, r.text);
  }
});

after(async () => {
  await serve?.stop();
});

interface Objects {
  dataSource: string;
  schemas: string[];
  tables: {
    schema: string;
    table: string;
    kind: string;
    estimatedRows: number | null;
    hasPrimaryKey: boolean;
    replicaIdentity: string;
  }[];
}

test('lists the schemas and tables a task can select, without partitions or system schemas', async () => {
  const r = await serve.call('GET', '/api/v1/data-sources/all/tables');
  assert.equal(r.status, 200, r.text);
  const b = r.body as Objects;
  assert.equal(b.dataSource, 'all');
  assert.deepEqual(b.schemas, ['app', 'public']);
  assert.deepEqual(
    b.tables.map((t) => [t.schema, t.table, t.kind, t.hasPrimaryKey, t.replicaIdentity]),
    [
      ['app', 'events', 'table', false, 'full'],
      ['app', 'measures', 'partitioned', true, 'default'],
      ['app', 'orders', 'table', true, 'default'],
      ['public', 'Mixed Case', 'table', false, 'default'],
    ],
  );
  assert.equal(b.tables.find((t) => t.table === 'orders')?.estimatedRows, 100);
});

test('a data source with a schema lists only that schema', async () => {
  const b = (await serve.call('GET', '/api/v1/data-sources/apponly/tables')).body as Objects;
  assert.deepEqual(b.schemas, ['app']);
  assert.ok(b.tables.every((t) => t.schema === 'app'));
});

test('unknown data source, bad id, wrong password, no token', async () => {
  const missing = await serve.call('GET', '/api/v1/data-sources/nosuch/tables');
  assert.equal(missing.status, 404, missing.text);
  assert.equal((missing.body as { code: string }).code, 'NOT_FOUND');
  const bad = await serve.call('GET', '/api/v1/data-sources/bad-id/tables');
  assert.equal(bad.status, 400, bad.text);
  assert.match(bad.text, /params\.id/);
  const pw = await serve.call('GET', '/api/v1/data-sources/badpw/tables');
  assert.equal((pw.body as { code: string }).code, 'CONNECTION_FAILED', pw.text);
  assert.match((pw.body as { message: string }).message, /password authentication failed/);
  assert.ok(!pw.text.includes('wrong-password'));
  assert.equal((await serve.call('GET', '/api/v1/data-sources/all/tables', { token: null })).status, 401);
});

test('the route is in the OpenAPI document', async () => {
  const doc = (await serve.call('GET', '/openapi.json')).body as {
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, unknown> };
  };
  assert.ok(doc.paths['/api/v1/data-sources/{id}/tables']?.get);
  assert.ok(doc.components.schemas.SourceObjects);
  assert.ok(!Object.keys(doc.paths).includes('/*'), 'the console fallback is hidden');
});
