/**
 * `POST /api/v1/data-sources/{id}/test` against real servers: every check passes with good
 * credentials; a wrong password fails authentication; a refused port fails the network step naming
 * host and port; a user without REPLICATION fails the replication check of a source, with the fix.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { freePort } from '../../src/embedded/embedded-server.ts';
import { startServe, type Serve } from '../support/control-serve.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;
const ROLE = `ctl_plain_${randomBytes(4).toString('hex')}`;
const ROLE_PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

interface Check {
  id: string;
  title: string;
  status: 'pass' | 'warn' | 'fail';
  message: string;
  fix?: string;
}
interface Report {
  id: string;
  role: string;
  status: 'pass' | 'warn' | 'fail';
  checks: Check[];
}

let serve: Serve;

async function addAndTest(
  id: string,
  fields: Record<string, unknown>,
  role: 'source' | 'destination' = 'source',
): Promise<Report> {
  const body = {
    id,
    type: 'postgresql',
    host: '127.0.0.1',
    port: server.port,
    username: 'postgres',
    password: server.password,
    database: 'postgres',
    ...fields,
  };
  const created = await serve.call('POST', '/api/v1/data-sources', { body });
  assert.equal(created.status, 201, created.text);
  const r = await serve.call('POST', `/api/v1/data-sources/${id}/test?role=${role}`);
  assert.equal(r.status, 200, r.text);
  const report = r.body as Report;
  assert.equal(report.id, id);
  assert.equal(report.role, role);
  for (const c of report.checks) {
    assert.ok(['pass', 'warn', 'fail'].includes(c.status));
    assert.ok(c.message.length > 0, `${c.id} has no message`);
    if (c.status === 'fail')
      assert.ok(c.fix !== undefined && c.fix.length > 0, `${c.id} fails without a fix`);
  }
  return report;
}

function check(r: Report, id: string): Check {
  const c = r.checks.find((x) => x.id === id);
  assert.ok(c, `no check ${id} in ${JSON.stringify(r)}`);
  return c;
}

before(async () => {
  const db = await freshDatabase(server, 'ctl_test');
  await sql(server, 'postgres', `CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  serve = await startServe(['--store', urlOf(server, db)], { PGDTS_API_TOKEN: TOKEN });
});

after(async () => {
  await serve.stop();
  await sql(server, 'postgres', `DROP ROLE IF EXISTS ${ROLE}`);
  const logs = serve.run.output();
  for (const s of [ROLE_PASSWORD, server.password, 'wrong-password-123']) {
    assert.ok(!logs.includes(s), `serve's output contains a password:\n${logs}`);
  }
});

test('good credentials: network, TLS, authentication, version and the replication prerequisites pass', async () => {
  const r = await addAndTest('good1', {});
  assert.notEqual(r.status, 'fail', JSON.stringify(r, null, 2));
  for (const id of ['network', 'tls', 'authentication', 'source-version', 'wal-level', 'replication-role']) {
    assert.equal(check(r, id).status, 'pass', JSON.stringify(check(r, id)));
  }
  assert.match(check(r, 'source-version').message, /PostgreSQL 17/);
  assert.match(check(r, 'authentication').message, /superuser/);
  const dest = await serve.call('POST', '/api/v1/data-sources/good1/test?role=destination');
  const d = dest.body as Report;
  assert.equal(d.role, 'destination');
  assert.equal(check(d, 'destination-version').status, 'pass');
  assert.ok(!d.checks.some((c) => c.id === 'replication-role'), 'a destination is not asked to replicate');
});

test('a wrong password fails the authentication check, naming the user and the fix', async () => {
  const r = await addAndTest('badpw1', { password: 'wrong-password-123' });
  assert.equal(r.status, 'fail');
  assert.equal(check(r, 'network').status, 'pass');
  const auth = check(r, 'authentication');
  assert.equal(auth.status, 'fail');
  assert.match(auth.message, /password authentication failed for user "postgres"/);
  assert.match(auth.fix ?? '', /check the password of user postgres/);
  assert.ok(!JSON.stringify(r).includes('wrong-password-123'), 'the password is in the report');
  assert.ok(!r.checks.some((c) => c.id === 'source-version'), 'no server check after a failed login');
});

test('a refused port fails the network check, naming host, port and cause', async () => {
  const port = await freePort();
  const r = await addAndTest('refused1', { port });
  assert.equal(r.status, 'fail');
  const net = check(r, 'network');
  assert.equal(net.status, 'fail');
  assert.match(net.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.match(net.message, /ECONNREFUSED/);
  assert.match(net.fix ?? '', new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
  assert.deepEqual(
    r.checks.map((c) => c.id),
    ['network'],
  );
});

test('a user without REPLICATION as a source fails the replication check, with the ALTER ROLE fix', async () => {
  const r = await addAndTest('plain1', { username: ROLE, password: ROLE_PASSWORD });
  assert.equal(r.status, 'fail');
  assert.equal(check(r, 'authentication').status, 'pass');
  const rep = check(r, 'replication-role');
  assert.equal(rep.status, 'fail');
  assert.match(rep.message, new RegExp(`${ROLE} has neither REPLICATION nor superuser`));
  assert.equal(rep.fix, `ALTER ROLE "${ROLE}" REPLICATION;`);
  // The same user is fine as a destination as far as a data source test can tell.
  const d = (await serve.call('POST', '/api/v1/data-sources/plain1/test?role=destination')).body as Report;
  assert.equal(d.status, 'pass', JSON.stringify(d));
});

test('with primary+standby the standby is tested too: a refused standby port fails its network step', async () => {
  const port = await freePort();
  const r = await addAndTest('pair1', {
    attributes: 'primary+standby',
    standby: { host: '127.0.0.1', port },
  });
  assert.equal(r.status, 'fail');
  assert.equal(check(r, 'authentication').status, 'pass');
  const net = check(r, 'standby-network');
  assert.equal(net.status, 'fail');
  assert.match(net.title, new RegExp(`^Standby: TCP connection to 127\\.0\\.0\\.1:${port}$`));
  assert.match(net.message, new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
  // A standby that is the same server passes all three steps.
  const same = await addAndTest('pair2', {
    attributes: 'primary+standby',
    standby: { host: '127.0.0.1', port: server.port },
  });
  for (const id of ['standby-network', 'standby-tls', 'standby-authentication']) {
    assert.equal(check(same, id).status, 'pass', JSON.stringify(same));
  }
});
