/**
 * sslmode against a real PostgreSQL 15 with TLS: a CA, server and client certificates made here with the
 * openssl CLI; pg_hba.conf with a database that takes TLS only, one that takes no TLS only (so the
 * prefer and allow fallbacks really happen), certificate authentication of a dedicated role, and a
 * Unix-domain socket. pg_stat_ssl tells what each connection used.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { PgdtsError } from '../../src/core/errors.ts';
import type { EndpointConfig } from '../../src/core/task-config.ts';
import { EmbeddedServer } from '../../src/embedded/embedded-server.ts';
import { connect, resolveEndpoint, type ConnectionParams } from '../../src/pg/connection.ts';
import { refusedTlsBefore, tlsAttempts } from '../../src/pg/tls-negotiation.ts';
import { testServer } from '../support/servers.ts';

const PASSWORD = 'tls-Secret-pw';
const root = mkdtempSync(path.join(tmpdir(), 'pgdts-tls-'));
const certs = path.join(root, 'certs');
/** Socket directory: the server runs as the postgres OS user when the tests run as root. */
const socketDir = path.join(root, 'sock');
/** A home without ~/.pgpass or ~/.postgresql. */
const home = path.join(root, 'home');
let server: EmbeddedServer;

/** Runs the openssl CLI in the certificate directory; `args` is split on spaces (no value holds one). */
function openssl(args: string): void {
  execFileSync('/usr/bin/openssl', args.split(' '), { cwd: certs, stdio: 'pipe' });
}

/** EC P-256 keys: quick to make. */
const NEW_KEY = '-nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1';

/** A self-signed CA `<name>.crt` / `<name>.key`. */
function makeCa(name: string): void {
  openssl(`req -x509 -new ${NEW_KEY} -keyout ${name}.key -out ${name}.crt -days 2 -subj /CN=${name}`);
}

/** A certificate `<name>.crt` / `<name>.key` for `cn` signed by `ca`, with the X.509 extensions `ext`. */
function makeCert(name: string, cn: string, ca: string, ext: string): void {
  openssl(`req -new ${NEW_KEY} -keyout ${name}.key -out ${name}.csr -subj /CN=${cn}`);
  writeFileSync(path.join(certs, `${name}.ext`), ext);
  openssl(
    `x509 -req -in ${name}.csr -CA ${ca}.crt -CAkey ${ca}.key -set_serial ${Date.now()} -out ${name}.crt -days 2 -extfile ${name}.ext`,
  );
  chmodSync(path.join(certs, `${name}.key`), 0o600);
}

const cert = (name: string) => path.join(certs, name);
const pem = (name: string) => readFileSync(cert(name), 'utf8');

before(async () => {
  mkdirSync(certs);
  mkdirSync(home);
  mkdirSync(socketDir);
  chmodSync(socketDir, 0o777);
  makeCa('ca');
  makeCa('other-ca');
  makeCert(
    'server',
    'localhost',
    'ca',
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  makeCert('client', 'certuser', 'ca', 'extendedKeyUsage=clientAuth\n');
  server = await EmbeddedServer.start({
    version: 15,
    dataDir: path.join(root, 'data'),
    password: PASSWORD,
    settings: {
      ssl: 'on',
      ssl_cert_file: "'server.crt'",
      ssl_key_file: "'server.key'",
      ssl_ca_file: "'ca.crt'",
      // 127.0.0.2 reaches the same server under an address the certificate does not name.
      listen_addresses: "'127.0.0.1,127.0.0.2'",
      unix_socket_directories: `'${socketDir}'`,
    },
    hba: [
      'local all all scram-sha-256',
      'hostssl tls_only all 127.0.0.0/8 scram-sha-256',
      'host tls_only all 127.0.0.0/8 reject',
      'hostnossl plain_only all 127.0.0.0/8 scram-sha-256',
      'host plain_only all 127.0.0.0/8 reject',
      'hostssl all certuser 127.0.0.0/8 cert',
      'host all certuser 127.0.0.0/8 reject',
      'host all all 127.0.0.2/32 scram-sha-256',
    ],
    files: { 'server.crt': pem('server.crt'), 'server.key': pem('server.key'), 'ca.crt': pem('ca.crt') },
  });
  await server.query('postgres', 'CREATE DATABASE tls_only');
  await server.query('postgres', 'CREATE DATABASE plain_only');
  await server.query('postgres', 'CREATE ROLE certuser LOGIN');
});

after(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

function params(e: Partial<EndpointConfig>, env: NodeJS.ProcessEnv = {}): ConnectionParams {
  return resolveEndpoint(
    {
      type: 'postgresql',
      host: '127.0.0.1',
      port: server.port,
      user: 'postgres',
      password: PASSWORD,
      database: 'postgres',
      ...e,
    },
    { HOME: home, ...env },
    'source',
  );
}

interface Session {
  readonly ssl: boolean;
  readonly user: string;
  readonly clientDn: string | null;
  readonly clientAddr: string | null;
  readonly applicationName: string;
}

/** Connects, reports what pg_stat_ssl says about the session, disconnects. */
async function session(p: ConnectionParams, applicationName?: string): Promise<Session> {
  const c = await connect(p, { role: 'source', ...(applicationName ? { applicationName } : {}) });
  try {
    const r = await c.query<{ ssl: boolean; u: string; dn: string | null; addr: string | null; app: string }>(
      `SELECT s.ssl, current_user AS u, s.client_dn AS dn, host(inet_client_addr()) AS addr,
              current_setting('application_name') AS app
         FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`,
    );
    const row = r.rows[0];
    assert.ok(row);
    return { ssl: row.ssl, user: row.u, clientDn: row.dn, clientAddr: row.addr, applicationName: row.app };
  } finally {
    await c.end();
  }
}

async function ssl(e: Partial<EndpointConfig>, env: NodeJS.ProcessEnv = {}): Promise<boolean> {
  return (await session(params(e, env))).ssl;
}

/** The CONNECTION_FAILED error of a connect that must fail. */
async function failure(p: ConnectionParams): Promise<PgdtsError> {
  try {
    const c = await connect(p, { role: 'source' });
    await c.end();
  } catch (e) {
    assert.ok(e instanceof PgdtsError, String(e));
    assert.equal(e.code, 'CONNECTION_FAILED');
    assert.ok(!e.message.includes(PASSWORD), e.message);
    return e;
  }
  assert.fail('expected the connection to fail');
}

test('attempt order per sslmode; a socket never uses TLS', () => {
  const at = (sslMode: ConnectionParams['sslMode'], host = '127.0.0.1') =>
    tlsAttempts({ host, port: server.port, ssl: {}, ...(sslMode ? { sslMode } : {}) });
  assert.deepEqual(at('disable'), ['plain']);
  assert.deepEqual(at('allow'), ['plain', 'tls']);
  assert.deepEqual(at('prefer'), ['tls', 'plain']);
  for (const m of ['require', 'verify-ca', 'verify-full'] as const) assert.deepEqual(at(m), ['tls']);
  assert.deepEqual(at('verify-full', socketDir), ['plain']);
  // Hand-built parameters without sslMode: ssl decides, as before sslMode existed.
  assert.deepEqual(at(undefined), ['tls']);
  assert.deepEqual(tlsAttempts({ host: 'h', port: 1, ssl: false }), ['plain']);
});

test('disable: never TLS (a TLS-only database refuses it, not retryable)', async () => {
  assert.equal(await ssl({ sslmode: 'disable', database: 'plain_only' }), false);
  assert.equal(await ssl({ sslmode: 'disable' }), false);
  const e = await failure(params({ sslmode: 'disable', database: 'tls_only' }));
  assert.equal(e.sqlState, '28000');
  assert.equal(e.retryable, false);
  assert.match(
    e.message,
    new RegExp(`cannot connect to source 127\\.0\\.0\\.1:${server.port} \\(database tls_only`),
  );
});

test('allow: without TLS first, with TLS when the server refuses the session without it', async () => {
  assert.equal(await ssl({ sslmode: 'allow' }), false);
  assert.equal(await ssl({ sslmode: 'allow', database: 'plain_only' }), false);
  assert.equal(await ssl({ sslmode: 'allow', database: 'tls_only' }), true);
});

test('prefer (the default): TLS first, without TLS when the server refuses the session over TLS', async () => {
  assert.equal(params({}).sslMode, 'prefer');
  assert.equal(await ssl({}), true);
  assert.equal(await ssl({ database: 'tls_only' }), true);
  assert.equal(await ssl({ database: 'plain_only' }), false);
  // A wrong password fails both attempts; the message says so, and the SQLSTATE classifies it.
  const e = await failure(params({ password: 'wrong-pw', database: 'postgres' }));
  assert.equal(e.sqlState, '28P01');
  assert.equal(e.retryable, false);
  assert.match(
    e.message,
    /password authentication failed.*; the attempt with TLS failed: password authentication failed/,
  );
});

test('require: TLS without verification; a root certificate makes it verify the chain (as verify-ca)', async () => {
  assert.equal(await ssl({ sslmode: 'require', database: 'tls_only' }), true);
  // No verification: a certificate for another name is fine.
  assert.equal(await ssl({ sslmode: 'require', host: '127.0.0.2' }), true);
  const plain = await failure(params({ sslmode: 'require', database: 'plain_only' }));
  assert.equal(plain.sqlState, '28000');
  assert.equal(plain.retryable, false);
  assert.equal(await ssl({ sslmode: 'require', sslrootcert: cert('ca.crt'), host: '127.0.0.2' }), true);
  const wrongCa = await failure(params({ sslmode: 'require', sslrootcert: cert('other-ca.crt') }));
  assert.equal(wrongCa.retryable, false);
  assert.match(wrongCa.message, /server certificate rejected \(sslmode require\): self-signed certificate/);
});

test('verify-ca: checks the chain, not the host name; a wrong CA fails clearly and is not retried', async () => {
  assert.equal(await ssl({ sslmode: 'verify-ca', sslrootcert: cert('ca.crt') }), true);
  assert.equal(await ssl({ sslmode: 'verify-ca', sslrootcert: cert('ca.crt'), host: '127.0.0.2' }), true);
  assert.equal(await ssl({ sslmode: 'verify-ca' }, { PGSSLROOTCERT: cert('ca.crt') }), true);
  const e = await failure(params({ sslmode: 'verify-ca', sslrootcert: cert('other-ca.crt') }));
  assert.equal(e.retryable, false);
  assert.match(
    e.message,
    new RegExp(
      `^cannot connect to source 127\\.0\\.0\\.1:${server.port} .*: server certificate rejected \\(sslmode verify-ca\\): self-signed`,
    ),
  );
  assert.doesNotMatch(e.message, /attempt without TLS/);
});

test('verify-full: checks the chain and the host name', async () => {
  assert.equal(await ssl({ sslmode: 'verify-full', sslrootcert: cert('ca.crt'), host: 'localhost' }), true);
  assert.equal(await ssl({ sslmode: 'verify-full', sslrootcert: cert('ca.crt'), host: '127.0.0.1' }), true);
  const e = await failure(params({ sslmode: 'verify-full', sslrootcert: cert('ca.crt'), host: '127.0.0.2' }));
  assert.equal(e.retryable, false);
  assert.match(
    e.message,
    new RegExp(
      `^cannot connect to source 127\\.0\\.0\\.2:${server.port} .*rejected \\(sslmode verify-full\\): Hostname/IP does not match`,
    ),
  );
  const wrongCa = await failure(
    params({ sslmode: 'verify-full', sslrootcert: cert('other-ca.crt'), host: 'localhost' }),
  );
  assert.equal(wrongCa.retryable, false);
});

test('prefer with a root certificate: a chain that fails verification falls back to no TLS', async () => {
  assert.equal(await ssl({ sslrootcert: cert('ca.crt') }), true);
  assert.equal(await ssl({ sslrootcert: cert('other-ca.crt') }), false);
  const e = await failure(params({ sslrootcert: cert('other-ca.crt'), database: 'tls_only' }));
  assert.equal(e.sqlState, '28000');
  assert.match(e.message, /; the attempt with TLS failed: .*certificate/);
});

test('client certificate authentication (hostssl ... cert)', async () => {
  const s = await session(
    params({
      user: 'certuser',
      password: '',
      host: 'localhost',
      sslmode: 'verify-full',
      sslrootcert: cert('ca.crt'),
      sslcert: cert('client.crt'),
      sslkey: cert('client.key'),
    }),
  );
  assert.equal(s.ssl, true);
  assert.equal(s.user, 'certuser');
  assert.match(s.clientDn ?? '', /CN=certuser/);
  // Through the URL and the environment too.
  const url = `postgresql://certuser@localhost:${server.port}/postgres?sslmode=verify-ca&sslrootcert=${encodeURIComponent(cert('ca.crt'))}`;
  const viaEnv = await session(
    resolveEndpoint(
      { type: 'postgresql', url },
      { HOME: home, PGSSLCERT: cert('client.crt'), PGSSLKEY: cert('client.key') },
    ),
  );
  assert.equal(viaEnv.user, 'certuser');
  const none = await failure(params({ user: 'certuser', password: '', sslmode: 'require' }));
  assert.equal(none.sqlState, '28000');
});

test('a server without TLS: prefer remembers its refusal, require fails without retry', async () => {
  const shared = testServer(15);
  const p = resolveEndpoint(
    {
      type: 'postgresql',
      host: shared.host,
      port: shared.port,
      user: shared.user,
      password: shared.password,
    },
    { HOME: home },
    'destination',
  );
  assert.equal(p.sslMode, 'prefer');
  assert.equal(refusedTlsBefore(shared.host, shared.port), false);
  // The first attempt gets 'N'; where TLS is optional that is no failure worth reporting.
  const wrong = await failure({ ...p, password: 'wrong-pw' });
  assert.equal(wrong.sqlState, '28P01');
  assert.doesNotMatch(wrong.message, /TLS|SSL/);
  assert.equal(refusedTlsBefore(shared.host, shared.port), true);
  assert.equal((await session(p)).ssl, false);
  // The next connections go straight to the attempt without TLS.
  assert.deepEqual(tlsAttempts(p), ['plain']);
  assert.deepEqual(tlsAttempts({ ...p, sslMode: 'allow' }), ['plain']);
  assert.equal((await session(p)).ssl, false);
  const e = await failure({ ...p, sslMode: 'require' });
  assert.equal(e.retryable, false);
  assert.match(e.message, /the server does not support SSL, but sslmode require requires it/);
});

test('a Unix-domain socket directory: host key, URL ?host=, PGHOST; sslmode does not apply', async () => {
  const viaKey = await session(params({ host: socketDir, sslmode: 'require' }));
  assert.deepEqual([viaKey.ssl, viaKey.clientAddr], [false, null]);
  const url = `postgresql://postgres:${encodeURIComponent(PASSWORD)}@/postgres?host=${encodeURIComponent(socketDir)}&port=${server.port}`;
  assert.equal(
    (await session(resolveEndpoint({ type: 'postgresql', url }, { HOME: home }))).clientAddr,
    null,
  );
  const viaEnv = resolveEndpoint(
    { type: 'postgresql', url: 'postgresql:///postgres' },
    { HOME: home, PGHOST: socketDir, PGPORT: String(server.port), PGUSER: 'postgres', PGPASSWORD: PASSWORD },
  );
  assert.equal((await session(viaEnv)).clientAddr, null);
});

test('the password file, end to end: used when no password is given, hinted when it is wrong', async () => {
  const file = path.join(root, 'pgpass');
  writeFileSync(
    file,
    `${socketDir}:${server.port}:*:postgres:${PASSWORD}\n*:*:*:postgres:wrong-from-file\n`,
    {
      mode: 0o600,
    },
  );
  const p = params({ host: socketDir, password: '' }, { PGPASSFILE: file });
  assert.equal(p.passwordFile, file);
  assert.equal((await session(p)).user, 'postgres');
  const wrong = await failure(params({ password: '', sslmode: 'disable' }, { PGPASSFILE: file }));
  assert.equal(wrong.sqlState, '28P01');
  assert.match(wrong.message, /password retrieved from file ".*pgpass"/);
  assert.ok(!wrong.message.includes('wrong-from-file'));
  const missing = await failure(params({ password: '', sslmode: 'disable' }));
  assert.match(missing.message, /the server asked for a password and none was given/);
});

test('application_name: the user value wins over pgdts own name', async () => {
  assert.equal((await session(params({}), 'pgdts-apply')).applicationName, 'pgdts-apply');
  assert.equal(
    (await session(params({ applicationName: 'ops-tool' }), 'pgdts-apply')).applicationName,
    'ops-tool',
  );
  assert.equal(
    (await session(params({}, { PGAPPNAME: 'from-env' }), 'pgdts-apply')).applicationName,
    'from-env',
  );
  assert.equal((await session(params({})))?.applicationName, 'pgdts');
});

test('one connect timeout covers both attempts; a server that never answers is a retryable failure', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  assert.ok(address !== null && typeof address === 'object');
  try {
    const p = params({ port: address.port, connectTimeoutMs: 400 });
    assert.deepEqual(tlsAttempts(p), ['tls', 'plain']);
    const t0 = Date.now();
    const e = await failure(p);
    const took = Date.now() - t0;
    // Not 2 × 400 ms: the limit covers both attempts, and the first one used all of it.
    assert.ok(took >= 350 && took < 700, `took ${took} ms`);
    assert.equal(e.retryable, true);
    assert.match(e.message, /timeout/);
  } finally {
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
