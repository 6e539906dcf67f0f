/**
 * Data sources through the real HTTP API of a real `pgdts serve` process (store in a fresh test
 * database): create, list, show, patch, delete; bad input refused naming the field with nothing
 * stored; duplicate ids; the bearer token; secrets never answered or logged, and stored encrypted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startServe, type Serve } from '../support/control-serve.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(15);
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const KEY_BODY = randomBytes(48).toString('base64');
const CLIENT_KEY = `-----BEGIN PRIVATE KEY-----\n${KEY_BODY}\n-----END PRIVATE KEY-----\n`;
const KEY_PASSWORD = `kp-${randomBytes(8).toString('hex')}`;
const CERT = `-----BEGIN CERTIFICATE-----\n${randomBytes(48).toString('base64')}\n-----END CERTIFICATE-----\n`;
const TOKEN = `token-${randomBytes(12).toString('hex')}`;
const SECRETS = [PASSWORD, KEY_BODY, KEY_PASSWORD, TOKEN];

let serve: Serve;
let db: string;
/** Every response body seen, scanned for secrets at the end. */
const bodies: string[] = [];

async function call(method: string, route: string, o: Parameters<Serve['call']>[2] = {}) {
  const r = await serve.call(method, route, o);
  bodies.push(r.text);
  return r;
}

async function storedIds(): Promise<string[]> {
  const rows = await sql<{ id: string }>(server, db, 'SELECT id FROM pgdts_control.data_source ORDER BY id');
  return rows.map((r) => r.id);
}

function good(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    type: 'postgresql',
    host: '127.0.0.1',
    port: server.port,
    username: 'postgres',
    password: PASSWORD,
    database: 'postgres',
    ...extra,
  };
}

/** Asserts a 4xx `{code, message, details}` naming `field`. */
function assertRefused(
  r: { status: number; body: unknown },
  status: number,
  code: string,
  field?: string,
  rule?: RegExp,
): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const b = r.body as {
    code: string;
    message: string;
    details: { issues?: { field: string; rule: string }[] } | null;
  };
  assert.equal(b.code, code);
  assert.equal(typeof b.message, 'string');
  assert.ok('details' in b);
  if (field !== undefined) {
    const issue = b.details?.issues?.find((i) => i.field === field);
    assert.ok(issue, `no issue for ${field}: ${JSON.stringify(b)}`);
    if (rule !== undefined) assert.match(issue.rule, rule);
    assert.match(b.message, new RegExp(`${field.replace('.', '\\.')}: `));
  }
}

before(async () => {
  db = await freshDatabase(server, 'ctl_api');
  serve = await startServe(['--store', urlOf(server, db)], { PGDTS_API_TOKEN: TOKEN });
});

after(async () => {
  await serve.stop();
  // Nothing secret in any response body nor in serve's stdout or stderr.
  const logs = serve.run.output();
  for (const s of SECRETS) {
    assert.ok(!logs.includes(s), `serve's output contains a secret: ${logs}`);
    for (const b of bodies) assert.ok(!b.includes(s), `a response body contains a secret: ${b}`);
  }
});

test('healthz needs no token; every other route answers 401 without the token or with a wrong one', async () => {
  const h = await call('GET', '/healthz', { token: null });
  assert.equal(h.status, 200);
  assert.deepEqual(h.body, { status: 'ok' });
  const routes: [string, string][] = [
    ['GET', '/api/v1/data-sources'],
    ['POST', '/api/v1/data-sources'],
    ['GET', '/api/v1/data-sources/a1'],
    ['PATCH', '/api/v1/data-sources/a1'],
    ['DELETE', '/api/v1/data-sources/a1'],
    ['POST', '/api/v1/data-sources/a1/test'],
    ['GET', '/openapi.json'],
  ];
  for (const [method, route] of routes) {
    for (const token of [null, 'wrong-token']) {
      const body = method === 'POST' || method === 'PATCH' ? good('a1') : undefined;
      const r = await call(method, route, { token, ...(body !== undefined ? { body } : {}) });
      assertRefused(r, 401, 'UNAUTHORIZED');
    }
  }
  assert.deepEqual(await storedIds(), [], 'a request without the token stored nothing');
  assertRefused(await call('GET', '/api/v1/no-such-route'), 404, 'NOT_FOUND');
});

test('create, list, show, patch and delete a data source; secrets are write-only', async () => {
  const created = await call('POST', '/api/v1/data-sources', {
    body: good('orders01', {
      region: 'eu-west',
      remarks: 'orders primary',
      heartbeat: true,
      clientCertificate: CERT,
      clientKey: CLIENT_KEY,
      clientKeyPassword: KEY_PASSWORD,
    }),
  });
  assert.equal(created.status, 201, created.text);
  const v = created.body as Record<string, unknown>;
  assert.equal(v.id, 'orders01');
  assert.equal(v.attributes, 'primary');
  assert.equal(v.sslmode, 'prefer');
  assert.equal(v.passwordSet, true);
  assert.equal(v.clientKeySet, true);
  assert.equal(v.clientKeyPasswordSet, true);
  for (const k of ['password', 'clientKey', 'clientKeyPassword']) assert.ok(!(k in v), `${k} answered`);

  const list = await call('GET', '/api/v1/data-sources');
  assert.equal(list.status, 200);
  assert.deepEqual(
    (list.body as { items: { id: string }[] }).items.map((d) => d.id),
    ['orders01'],
  );
  const shown = await call('GET', '/api/v1/data-sources/orders01');
  assert.equal(shown.status, 200);
  assert.equal((shown.body as { region: string }).region, 'eu-west');

  const patched = await call('PATCH', '/api/v1/data-sources/orders01', {
    body: {
      remarks: 'changed',
      port: 6543,
      attributes: 'primary+standby',
      standby: { host: '10.0.0.2', port: 5432 },
    },
  });
  assert.equal(patched.status, 200, patched.text);
  const p = patched.body as Record<string, unknown>;
  assert.equal(p.remarks, 'changed');
  assert.equal(p.port, 6543);
  assert.deepEqual(p.standby, { host: '10.0.0.2', port: 5432 });
  assert.equal(p.passwordSet, true, 'a PATCH without the password keeps it');
  // null clears an optional field, a secret included.
  const cleared = await call('PATCH', '/api/v1/data-sources/orders01', {
    body: { password: null, region: null },
  });
  assert.equal(cleared.status, 200, cleared.text);
  assert.equal((cleared.body as { passwordSet: boolean }).passwordSet, false);
  assert.equal((cleared.body as { region: unknown }).region, null);

  const del = await call('DELETE', '/api/v1/data-sources/orders01');
  assert.equal(del.status, 204);
  assertRefused(await call('GET', '/api/v1/data-sources/orders01'), 404, 'NOT_FOUND');
  assertRefused(await call('DELETE', '/api/v1/data-sources/orders01'), 404, 'NOT_FOUND');
  assertRefused(
    await call('PATCH', '/api/v1/data-sources/orders01', { body: { remarks: 'x' } }),
    404,
    'NOT_FOUND',
  );
  assertRefused(await call('POST', '/api/v1/data-sources/orders01/test'), 404, 'NOT_FOUND');
  assert.deepEqual(await storedIds(), []);
});

test('a duplicate id is refused with 409 CONFLICT and the first one is kept', async () => {
  assert.equal(
    (await call('POST', '/api/v1/data-sources', { body: good('dup1', { remarks: 'first' }) })).status,
    201,
  );
  const again = await call('POST', '/api/v1/data-sources', { body: good('dup1', { remarks: 'second' }) });
  assertRefused(again, 409, 'CONFLICT');
  assert.match((again.body as { message: string }).message, /data source dup1 exists already/);
  const rows = await sql<{ remarks: string }>(
    server,
    db,
    "SELECT remarks FROM pgdts_control.data_source WHERE id = 'dup1'",
  );
  assert.deepEqual(rows, [{ remarks: 'first' }]);
  assert.equal((await call('DELETE', '/api/v1/data-sources/dup1')).status, 204);
});

test('bad input on every route is refused naming the field and the rule, and nothing is stored', async () => {
  const bad: [Record<string, unknown>, string, RegExp][] = [
    [good('has space'), 'id', /letters and digits/],
    [good('a'.repeat(33)), 'id', /1-32/],
    [good(''), 'id', /1-32/],
    [good('x1', { type: 'mysql' }), 'type', /postgresql/],
    [good('x1', { port: 0 }), 'port', /between 1 and 65535/],
    [good('x1', { port: 65536 }), 'port', /between 1 and 65535/],
    [good('x1', { port: '5432' }), 'port', /integer|number/],
    [good('x1', { host: undefined }), 'host', /required/],
    [good('x1', { host: 'db host' }), 'host', /host name/],
    [good('x1', { username: undefined }), 'username', /required/],
    [good('x1', { database: '' }), 'database', /database/],
    [good('x1', { attributes: 'replica' }), 'attributes', /primary, primary\+standby, standby/],
    [good('x1', { attributes: 'primary+standby' }), 'standby', /required with attributes primary\+standby/],
    [
      good('x1', { standby: { host: 'h', port: 1 } }),
      'standby',
      /only allowed with attributes primary\+standby/,
    ],
    [
      good('x1', { attributes: 'primary+standby', standby: { host: 'h', port: 99999 } }),
      'standby.port',
      /65535/,
    ],
    [good('x1', { heartbeat: 'yes' }), 'heartbeat', /true or false/],
    [good('x1', { heartbeat: true, attributes: 'standby' }), 'heartbeat', /needs a primary/],
    [good('x1', { sslmode: 'on' }), 'sslmode', /verify-full/],
    [good('x1', { sslmode: 'verify-full' }), 'caCertificate', /required with sslmode verify-full/],
    [good('x1', { caCertificate: 'not a pem' }), 'caCertificate', /PEM/],
    [good('x1', { clientKey: CLIENT_KEY }), 'clientCertificate', /go together/],
    [good('x1', { clientKeyPassword: KEY_PASSWORD }), 'clientKeyPassword', /only allowed with a clientKey/],
    [good('x1', { password: '' }), 'password', /empty/],
    [good('x1', { remarks: 'r'.repeat(1025) }), 'remarks', /1024/],
    [good('x1', { colour: 'blue' }), 'colour', /not a known field/],
  ];
  for (const [body, field, rule] of bad) {
    assertRefused(await call('POST', '/api/v1/data-sources', { body }), 400, 'CONFIG_INVALID', field, rule);
  }
  assertRefused(
    await call('POST', '/api/v1/data-sources', { rawBody: '{"id": "x1",' }),
    400,
    'CONFIG_INVALID',
  );
  assert.deepEqual(await storedIds(), [], 'no refused data source was stored');

  // Path ids, PATCH bodies and the test query are validated the same way.
  assertRefused(
    await call('GET', '/api/v1/data-sources/bad-id'),
    400,
    'CONFIG_INVALID',
    'params.id',
    /letters and digits/,
  );
  assertRefused(await call('DELETE', '/api/v1/data-sources/bad-id'), 400, 'CONFIG_INVALID', 'params.id');
  assertRefused(await call('POST', '/api/v1/data-sources/bad-id/test'), 400, 'CONFIG_INVALID', 'params.id');
  assert.equal((await call('POST', '/api/v1/data-sources', { body: good('patch1') })).status, 201);
  const before = await sql(server, db, "SELECT * FROM pgdts_control.data_source WHERE id = 'patch1'");
  const badPatches: [Record<string, unknown>, string, RegExp][] = [
    [{ port: -1 }, 'port', /between 1 and 65535/],
    [{ id: 'other' }, 'id', /not a known field/],
    [{ type: 'postgresql' }, 'type', /not a known field/],
    [{ attributes: 'primary+standby' }, 'standby', /required with attributes primary\+standby/],
    [{ sslmode: 'verify-ca' }, 'caCertificate', /required with sslmode verify-ca/],
    [{ host: '' }, 'host', /empty/],
  ];
  for (const [body, field, rule] of badPatches) {
    assertRefused(
      await call('PATCH', '/api/v1/data-sources/patch1', { body }),
      400,
      'CONFIG_INVALID',
      field,
      rule,
    );
  }
  assertRefused(
    await call('PATCH', '/api/v1/data-sources/bad-id', { body: {} }),
    400,
    'CONFIG_INVALID',
    'params.id',
  );
  assertRefused(
    await call('POST', '/api/v1/data-sources/patch1/test?role=sink'),
    400,
    'CONFIG_INVALID',
    'querystring.role',
    /source or destination/,
  );
  const after = await sql(server, db, "SELECT * FROM pgdts_control.data_source WHERE id = 'patch1'");
  assert.deepEqual(after, before, 'a refused PATCH changed nothing');
  assert.equal((await call('DELETE', '/api/v1/data-sources/patch1')).status, 204);
});

test('the store holds the secrets as AES-256-GCM ciphertext, IV and tag, never in plain text', async () => {
  const r = await call('POST', '/api/v1/data-sources', {
    body: good('enc1', { clientCertificate: CERT, clientKey: CLIENT_KEY, clientKeyPassword: KEY_PASSWORD }),
  });
  assert.equal(r.status, 201, r.text);
  const rows = await sql<Record<string, unknown>>(
    server,
    db,
    "SELECT * FROM pgdts_control.data_source WHERE id = 'enc1'",
  );
  const row = rows[0];
  assert.ok(row);
  for (const col of ['password', 'client_key', 'client_key_password']) {
    const c = row[`${col}_ciphertext`];
    assert.ok(Buffer.isBuffer(c) && c.length > 0, `${col}_ciphertext`);
    assert.equal((row[`${col}_iv`] as Buffer).length, 12, `${col}_iv`);
    assert.equal((row[`${col}_tag`] as Buffer).length, 16, `${col}_tag`);
  }
  assert.notEqual((row.password_ciphertext as Buffer).toString('utf8'), PASSWORD);
  const dump = JSON.stringify(rows, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer'
      ? Buffer.from((v as { data: number[] }).data).toString('latin1')
      : v,
  );
  for (const s of [PASSWORD, KEY_BODY, KEY_PASSWORD])
    assert.ok(!dump.includes(s), 'a secret is stored in plain text');
  assert.equal((await call('DELETE', '/api/v1/data-sources/enc1')).status, 204);
});

test('GET /openapi.json is an OpenAPI 3.1 document of the routes, generated from the zod schemas', async () => {
  const r = await call('GET', '/openapi.json');
  assert.equal(r.status, 200);
  const doc = r.body as {
    openapi: string;
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
  };
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(Object.keys(doc.paths['/api/v1/data-sources'] ?? {}).sort(), ['get', 'post']);
  assert.deepEqual(Object.keys(doc.paths['/api/v1/data-sources/{id}'] ?? {}).sort(), [
    'delete',
    'get',
    'patch',
  ]);
  assert.deepEqual(Object.keys(doc.paths['/api/v1/data-sources/{id}/test'] ?? {}), ['post']);
  const text = JSON.stringify(doc);
  assert.match(text, /\^\[A-Za-z0-9\]\{1,32\}\$/, 'the id rule is in the document');
  assert.match(text, /"writeOnly":true/, 'secrets are write-only in the document');
});
