import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { ConfigError } from '../../src/core/errors.ts';
import { parseTaskConfig, type EndpointConfig } from '../../src/core/task-config.ts';
import {
  applicationNameOf,
  endpointAddress,
  resolveEndpoint,
  type ConnectionParams,
} from '../../src/pg/connection-settings.ts';
import { describeEndpoint } from '../../src/pg/connection.ts';
import { configRefusal } from '../support/config-refusal.ts';

const SECRET = 'S3cr3t-pw';
const dir = mkdtempSync(path.join(os.tmpdir(), 'pgdts-settings-'));
after(() => rmSync(dir, { recursive: true, force: true }));
/** A home without ~/.pgpass or ~/.postgresql, so that the machine's files never leak into a test. */
const emptyHome = path.join(dir, 'home-empty');
mkdirSync(emptyHome);

function file(name: string, contents: string, mode = 0o600): string {
  const f = path.join(dir, name);
  writeFileSync(f, contents);
  chmodSync(f, mode);
  return f;
}
const rootCert = file('root.crt', 'ROOT CERT');
const clientCert = file('client.crt', 'CLIENT CERT');
const clientKey = file('client.key', 'CLIENT KEY CONTENTS');

function resolve(e: Partial<EndpointConfig>, env: NodeJS.ProcessEnv = {}, role?: 'source' | 'destination') {
  return resolveEndpoint({ type: 'postgresql', ...e }, { HOME: emptyHome, ...env }, role);
}

function refusal(f: () => unknown): ConfigError {
  const e = configRefusal(f);
  assert.ok(!e.message.includes(SECRET), `password in: ${e.message}`);
  return e;
}

const tls = (p: ConnectionParams) => {
  assert.ok(p.ssl !== false && p.ssl !== true && p.ssl !== undefined, 'expected TLS options');
  return p.ssl;
};

test('defaults as libpq: localhost TCP, port 5432, the OS user, database = user, sslmode prefer', () => {
  const p = resolve({ url: 'postgresql://' });
  const user = os.userInfo().username;
  assert.deepEqual(
    {
      host: p.host,
      port: p.port,
      user: p.user,
      database: p.database,
      password: p.password,
      sslMode: p.sslMode,
    },
    { host: 'localhost', port: 5432, user, database: user, password: undefined, sslMode: 'prefer' },
  );
  assert.equal(p.connectTimeoutMs, 10_000);
  assert.equal(p.applicationName, undefined);
  assert.deepEqual(p.warnings, []);
  // prefer without a root certificate: encrypt, but do not verify.
  assert.equal(tls(p).rejectUnauthorized, false);
});

test('URL forms of PostgreSQL docs "Connection URIs"', () => {
  const cases: [string, Partial<ConnectionParams>][] = [
    ['postgresql://localhost', { host: 'localhost', port: 5432 }],
    ['postgresql://localhost:5433', { host: 'localhost', port: 5433 }],
    ['postgresql://localhost/mydb', { host: 'localhost', database: 'mydb' }],
    ['postgresql://user@localhost', { user: 'user', database: 'user' }],
    ['postgresql://user:secret@localhost', { user: 'user', password: 'secret' }],
    ['postgres://other@localhost/otherdb?connect_timeout=10', { user: 'other', database: 'otherdb' }],
    ['postgresql:///mydb?host=localhost&port=5433', { host: 'localhost', port: 5433, database: 'mydb' }],
    ['postgresql://[2001:db8::1234]/database', { host: '2001:db8::1234', database: 'database' }],
    ['postgresql://[::1]:5433/d', { host: '::1', port: 5433 }],
    ['postgresql:///dbname?host=/var/lib/postgresql', { host: '/var/lib/postgresql', database: 'dbname' }],
    ['postgresql://%2Fvar%2Flib%2Fpostgresql/dbname', { host: '/var/lib/postgresql', database: 'dbname' }],
    // Query parameters override the other parts of the URL, as in libpq.
    [
      'postgresql://a:1/x?host=b&port=6000&user=u2&dbname=y',
      { host: 'b', port: 6000, user: 'u2', database: 'y' },
    ],
  ];
  for (const [url, want] of cases) {
    const p = resolve({ url });
    for (const [k, v] of Object.entries(want)) {
      assert.equal(p[k as keyof ConnectionParams], v, `${url}: ${k}`);
    }
  }
  assert.equal(
    resolve({ url: 'postgres://other@localhost/otherdb?connect_timeout=10' }).connectTimeoutMs,
    10_000,
  );
});

test('percent-encoding: user, password, database and query values decoded; + stays a plus', () => {
  const p = resolve({
    url:
      'postgresql://us%40er:p%40ss%3Aw%2Fd%20%2B@localhost/my%20db?application_name=a+b%20c&sslrootcert=' +
      encodeURIComponent(rootCert),
  });
  assert.equal(p.user, 'us@er');
  assert.equal(p.password, 'p@ss:w/d +');
  assert.equal(p.database, 'my db');
  assert.equal(p.applicationName, 'a+b c');
  assert.equal(tls(p).ca, 'ROOT CERT');
  assert.equal(resolve({ url: 'postgresql://h/?dbname=a%2Fb%23c' }).database, 'a/b#c');
  // pg-connection-string leaves %2F in the path encoded: refused rather than guessed.
  assert.match(
    refusal(() => resolve({ url: 'postgresql://h/a%2Fb' })).message,
    /^url: database name .* \?dbname=/,
  );
  // A password may hold a comma without looking like a host list.
  assert.equal(resolve({ url: 'postgresql://u:p,w@h/db' }).password, 'p,w');
});

test('IPv6 and socket directories appear in messages as addresses', () => {
  const v6 = resolve({ url: 'postgresql://u@[2001:db8::1]:5433/d' });
  assert.equal(endpointAddress(v6), '[2001:db8::1]:5433');
  assert.equal(describeEndpoint(v6), 'u@[2001:db8::1]:5433/d');
  const sock = resolve({ host: '/run/postgresql', user: 'u', database: 'd', sslmode: 'require' });
  assert.equal(endpointAddress(sock), '/run/postgresql/.s.PGSQL.5432');
  // libpq ignores sslmode on a Unix-domain socket: no TLS, and no certificate file is read.
  assert.equal(sock.ssl, false);
  assert.equal(resolve({ host: '/run/postgresql', sslrootcert: '/nonexistent/ca.pem' }).ssl, false);
});

test('every environment variable is read', () => {
  const env = {
    PGHOST: 'envhost',
    PGPORT: '6543',
    PGDATABASE: 'envdb',
    PGUSER: 'envuser',
    PGPASSWORD: 'envpw',
    PGSSLMODE: 'require',
    PGSSLROOTCERT: rootCert,
    PGSSLCERT: clientCert,
    PGSSLKEY: clientKey,
    PGCONNECT_TIMEOUT: '7',
    PGAPPNAME: 'envapp',
  };
  const p = resolve({ url: 'postgresql://' }, env);
  assert.deepEqual(
    [p.host, p.port, p.database, p.user, p.password, p.sslMode, p.connectTimeoutMs, p.applicationName],
    ['envhost', 6543, 'envdb', 'envuser', 'envpw', 'require', 7000, 'envapp'],
  );
  const o = tls(p);
  assert.deepEqual([o.ca, o.cert, o.key], ['ROOT CERT', 'CLIENT CERT', 'CLIENT KEY CONTENTS']);
  // require with a root certificate verifies the chain, not the host name (libpq's compatibility rule).
  assert.equal(o.rejectUnauthorized, true);
  assert.equal(typeof o.checkServerIdentity, 'function');
  // PGPASSFILE: see the password file tests. Empty variables count as unset (libpq).
  const q = resolve({ url: 'postgresql://' }, { PGHOST: '', PGUSER: '', PGPORT: '' });
  assert.deepEqual([q.host, q.user, q.port], ['localhost', os.userInfo().username, 5432]);
});

test('precedence: task-file key > URL > environment > default', () => {
  const env = {
    PGHOST: 'envhost',
    PGPORT: '1111',
    PGUSER: 'envuser',
    PGDATABASE: 'envdb',
    PGPASSWORD: 'envpw',
    PGSSLMODE: 'disable',
    PGCONNECT_TIMEOUT: '30',
    PGAPPNAME: 'envapp',
  };
  const fromUrl = resolve(
    {
      url: 'postgresql://urluser:urlpw@urlhost:2222/urldb?sslmode=allow&connect_timeout=20&application_name=urlapp',
    },
    env,
  );
  assert.deepEqual(
    [fromUrl.host, fromUrl.port, fromUrl.user, fromUrl.database, fromUrl.password, fromUrl.sslMode],
    ['urlhost', 2222, 'urluser', 'urldb', 'urlpw', 'allow'],
  );
  assert.deepEqual([fromUrl.connectTimeoutMs, fromUrl.applicationName], [20_000, 'urlapp']);
  const fromKeys = resolve(
    {
      url: 'postgresql://urluser:urlpw@/urldb?sslmode=allow&connect_timeout=20&application_name=urlapp',
      user: 'keyuser',
      password: 'keypw',
      database: 'keydb',
      sslmode: 'verify-ca',
      sslrootcert: rootCert,
      connectTimeoutMs: 1500,
      applicationName: 'keyapp',
    },
    env,
  );
  assert.deepEqual(
    [fromKeys.host, fromKeys.port, fromKeys.user, fromKeys.database, fromKeys.password, fromKeys.sslMode],
    ['envhost', 1111, 'keyuser', 'keydb', 'keypw', 'verify-ca'],
  );
  assert.deepEqual([fromKeys.connectTimeoutMs, fromKeys.applicationName], [1500, 'keyapp']);
  const keyHost = resolve({ host: 'keyhost', port: 3333 }, env);
  assert.deepEqual(
    [keyHost.host, keyHost.port, keyHost.user, keyHost.database],
    ['keyhost', 3333, 'envuser', 'envdb'],
  );
  // passwordEnv comes after the URL password and before PGPASSWORD.
  assert.equal(resolve({ host: 'h', passwordEnv: 'MY_PW' }, { ...env, MY_PW: 'mine' }).password, 'mine');
  assert.equal(
    resolve({ url: 'postgresql://u:urlpw@h', passwordEnv: 'MY_PW' }, { MY_PW: 'mine' }).password,
    'urlpw',
  );
  assert.match(
    refusal(() => resolve({ host: 'h', passwordEnv: 'MY_PW' }, {}, 'source')).message,
    /^source\.passwordEnv: .*MY_PW is not set/,
  );
  assert.match(
    refusal(() => resolve({ host: 'h', passwordEnv: 'MY_PW' }, { MY_PW: '' })).message,
    /MY_PW is empty/,
  );
});

test('connect_timeout in seconds with libpq rules; connectTimeoutMs in ms', () => {
  const t = (v: string) => resolve({ url: `postgresql://h?connect_timeout=${v}` }).connectTimeoutMs;
  assert.deepEqual(
    [t('10'), t('1'), t('2'), t('0'), t('-5'), t('%203%20')],
    [10_000, 2000, 2000, 0, 0, 3000],
  );
  assert.match(
    refusal(() => t('1.5')).message,
    /^url: parameter connect_timeout must be a whole number of seconds/,
  );
  assert.match(
    refusal(() => resolve({ host: 'h' }, { PGCONNECT_TIMEOUT: 'ten' })).message,
    /^PGCONNECT_TIMEOUT: must be a whole number/,
  );
});

test('application_name: the user value wins over the caller name (fallback_application_name)', () => {
  assert.equal(applicationNameOf(resolve({ host: 'h' }), { applicationName: 'pgdts-apply' }), 'pgdts-apply');
  assert.equal(applicationNameOf(resolve({ host: 'h' }), {}), 'pgdts');
  assert.equal(
    applicationNameOf(resolve({ host: 'h' }, { PGAPPNAME: 'ops' }), { applicationName: 'pgdts-apply' }),
    'ops',
  );
  assert.equal(
    applicationNameOf(resolve({ host: 'h', applicationName: 'mine' }, { PGAPPNAME: 'ops' }), {
      applicationName: 'x',
    }),
    'mine',
  );
});

const ALLOWED = /must be one of disable, allow, prefer, require, verify-ca, verify-full/;

test('a bad sslmode is refused naming the key, URL parameter or variable, with the allowed values', () => {
  const key = refusal(() => resolve({ host: 'h', sslmode: 'requir' as never }, {}, 'source'));
  assert.equal(key.path, 'source.sslmode');
  assert.match(key.message, ALLOWED);
  const url = refusal(() =>
    resolve({ url: `postgresql://u:${SECRET}@h/d?sslmode=requir` }, {}, 'destination'),
  );
  assert.equal(url.path, 'destination.url');
  assert.match(url.message, /^destination\.url: parameter sslmode must be one of/);
  const env = refusal(() => resolve({ host: 'h' }, { PGSSLMODE: 'no-verify' }, 'source'));
  assert.equal(env.path, 'PGSSLMODE');
  assert.match(env.message, ALLOWED);
  // The task file itself refuses it first, with the same rule.
  const doc = {
    name: 't',
    source: { type: 'postgresql', host: 'h', sslmode: 'requir' },
    destination: { type: 'postgresql', host: 'h' },
    syncTypes: ['full'],
    objects: [{ schema: 'public' }],
  };
  assert.match(
    refusal(() => parseTaskConfig(doc)).message,
    /^source\.sslmode: must be one of disable, allow/,
  );
  const long = { ...doc, source: { type: 'postgresql', host: 'h', applicationName: 'x'.repeat(64) } };
  assert.match(
    refusal(() => parseTaskConfig(long)).message,
    /^source\.applicationName: must be 1-63 characters/,
  );
  assert.equal(
    parseTaskConfig({ ...doc, source: { type: 'postgresql', host: 'h', applicationName: 'ops' } }).source
      .applicationName,
    'ops',
  );
  // ssl=true is libpq's JDBC spelling of sslmode=require; nothing else is accepted for ssl.
  assert.equal(resolve({ url: 'postgresql://h?ssl=true' }).sslMode, 'require');
  assert.match(
    refusal(() => resolve({ url: 'postgresql://h?ssl=false' })).message,
    /parameter ssl accepts only true/,
  );
});

test('several hosts, keyword/value strings, unknown parameters and non-URLs are refused', () => {
  const multi = /several hosts or ports; pgdts connects to exactly one server/;
  for (const url of [
    `postgresql://u:${SECRET}@h1,h2/db`,
    `postgresql://u:${SECRET}@h1:5432,h2:5433/db`,
    `postgresql://u:${SECRET}@/db?host=a,b`,
    `postgresql://u:${SECRET}@h/db?port=1,2`,
  ]) {
    const e = refusal(() => resolve({ url }, {}, 'source'));
    assert.equal(e.path, 'source.url');
    assert.match(e.message, multi);
  }
  assert.match(
    refusal(() => resolve({ host: 'a,b' }, {}, 'source')).message,
    /^source\.host: lists several hosts/,
  );
  assert.match(
    refusal(() => resolve({ url: 'postgresql://' }, { PGHOST: 'a,b' })).message,
    /^PGHOST: lists several/,
  );
  const kv = refusal(() => resolve({ url: `host=x dbname=y password=${SECRET}` }, {}, 'source'));
  assert.match(kv.message, /^source\.url: keyword\/value connection strings .* are not supported/);
  assert.match(
    refusal(() => resolve({ url: `mysql://u:${SECRET}@h/d` })).message,
    /^url: must be a URL starting with postgresql:\/\//,
  );
  assert.match(
    refusal(() => resolve({ url: `postgresql://u:${SECRET}@h/d?options=-c%20x` })).message,
    /^url: parameter options is not supported \(supported: host, port, dbname/,
  );
  assert.match(refusal(() => resolve({ url: `postgresql://h/d?${SECRET}` })).message, /must be key=value/);
  assert.match(
    refusal(() => resolve({ url: `postgresql://h/d?password=a=${SECRET}` })).message,
    /must be key=value/,
  );
  assert.match(
    refusal(() => resolve({ url: `postgresql://h/d?password=%zz${SECRET}` })).message,
    /invalid percent-encoded/,
  );
  assert.match(
    refusal(() => resolve({ url: `postgresql://u:pa#${SECRET}@h/d` })).message,
    /^url: not a valid postgresql:\/\/ URL/,
  );
  assert.match(
    refusal(() => resolve({ url: `postgresql://u:${SECRET}@h:0/d` })).message,
    /port must be a port number 1-65535/,
  );
  assert.match(
    refusal(() => resolve({ host: 'h' }, { PGPORT: 'x' })).message,
    /^PGPORT: must be a port number/,
  );
});

test('password file: PGPASSFILE or ~/.pgpass, only when no password is given, libpq permission rule', () => {
  const home = path.join(dir, 'home-pgpass');
  mkdirSync(home);
  const pgpass = path.join(home, '.pgpass');
  writeFileSync(pgpass, 'h:5432:d:u:from-home\nsock\\:x:5432:d:u:never\n/run/pg:5433:d:u:from-socket\n', {
    mode: 0o600,
  });
  const other = file('other-pgpass', '*:*:*:u:from-pgpassfile\n');
  const e = { host: 'h', user: 'u', database: 'd' };
  const p = resolve(e, { HOME: home });
  assert.equal(p.password, 'from-home');
  assert.equal(p.passwordFile, pgpass);
  assert.equal(resolve(e, { HOME: home, PGPASSFILE: other }).password, 'from-pgpassfile');
  assert.equal(resolve({ ...e, password: 'given' }, { HOME: home }).password, 'given');
  assert.equal(resolve({ ...e, password: 'given' }, { HOME: home }).passwordFile, undefined);
  assert.equal(resolve(e, { HOME: home, PGPASSWORD: 'env' }).password, 'env');
  assert.equal(resolve({ url: 'postgresql://u:url@h/d' }, { HOME: home }).password, 'url');
  assert.equal(resolve({ ...e, port: 5433 }, { HOME: home }).password, undefined);
  assert.equal(
    resolve({ url: 'postgresql://u@/d?host=/run/pg&port=5433' }, { HOME: home }).password,
    'from-socket',
  );
  chmodSync(pgpass, 0o604);
  const open = resolve(e, { HOME: home });
  assert.equal(open.password, undefined);
  assert.equal(open.warnings?.length, 1);
  assert.match(
    open.warnings?.[0] ?? '',
    /password file ".*\.pgpass" has group or world access; permissions should be u=rw \(0600\)/,
  );
  assert.ok(!(open.warnings?.[0] ?? '').includes('from-home'));
});

test('certificate files: read at resolve time, a missing one names the key and the path', () => {
  const missing = path.join(dir, 'missing.pem');
  const k = refusal(() => resolve({ host: 'h', sslmode: 'verify-ca', sslrootcert: missing }, {}, 'source'));
  assert.equal(k.path, 'source.sslrootcert');
  assert.ok(k.message.includes(missing) && k.message.includes('ENOENT'), k.message);
  const u = refusal(() =>
    resolve(
      { url: `postgresql://u:${SECRET}@h/d?sslcert=${encodeURIComponent(missing)}&sslkey=${clientKey}` },
      {},
      'destination',
    ),
  );
  assert.equal(u.path, 'destination.url');
  assert.match(u.message, /^destination\.url: parameter sslcert cannot read .*missing\.pem \(ENOENT\)/);
  const env = refusal(() => resolve({ host: 'h' }, { PGSSLCERT: clientCert, PGSSLKEY: missing }));
  assert.equal(env.path, 'PGSSLKEY');
  assert.ok(env.message.includes(missing));
  // A certificate without its key (none given, no ~/.postgresql/postgresql.key) is refused.
  assert.match(
    refusal(() => resolve({ host: 'h', sslcert: clientCert })).message,
    /^sslkey: must name the private key/,
  );
  // The key must not be readable by group or world (a root-owned key may be group-readable).
  const openKey = file('open.key', 'KEY', 0o644);
  assert.match(
    refusal(() => resolve({ host: 'h', sslcert: clientCert, sslkey: openKey })).message,
    /private key file .*open\.key has group or world access/,
  );
  chmodSync(openKey, 0o640);
  if (process.getuid?.() === 0) resolve({ host: 'h', sslcert: clientCert, sslkey: openKey });
  // The private key stays out of enumeration (logs, spreads, JSON).
  const p = resolve({ host: 'h', sslmode: 'require', sslcert: clientCert, sslkey: clientKey });
  assert.equal(tls(p).key, 'CLIENT KEY CONTENTS');
  assert.ok(!JSON.stringify(p).includes('CLIENT KEY'));
  // sslmode disable never touches the files.
  assert.equal(resolve({ host: 'h', sslmode: 'disable', sslrootcert: missing }).ssl, false);
});

test('sslmode semantics in the TLS options (table "SSL Mode Descriptions")', () => {
  const opts = (e: Partial<EndpointConfig>, env: NodeJS.ProcessEnv = {}) =>
    tls(resolve({ host: 'h', ...e }, env));
  for (const mode of ['allow', 'prefer', 'require'] as const) {
    const o = opts({ sslmode: mode });
    assert.equal(o.rejectUnauthorized, false, mode);
  }
  const ca = opts({ sslmode: 'verify-ca', sslrootcert: rootCert });
  assert.deepEqual(
    [ca.rejectUnauthorized, ca.ca, typeof ca.checkServerIdentity],
    [true, 'ROOT CERT', 'function'],
  );
  const full = opts({ sslmode: 'verify-full', sslrootcert: rootCert });
  assert.deepEqual(
    [full.rejectUnauthorized, full.ca, full.checkServerIdentity],
    [true, 'ROOT CERT', undefined],
  );
  const req = opts({ sslmode: 'require', sslrootcert: rootCert });
  assert.deepEqual([req.rejectUnauthorized, typeof req.checkServerIdentity], [true, 'function']);
  for (const mode of ['verify-ca', 'verify-full'] as const) {
    const e = refusal(() => resolve({ host: 'h', sslmode: mode }, {}, 'source'));
    assert.equal(e.path, 'source.sslrootcert');
    assert.match(e.message, new RegExp(`root certificate file for sslmode ${mode}`));
  }
  // libpq's default root certificate: ~/.postgresql/root.crt when it exists.
  const home = path.join(dir, 'home-certs');
  mkdirSync(path.join(home, '.postgresql'), { recursive: true });
  writeFileSync(path.join(home, '.postgresql', 'root.crt'), 'HOME ROOT');
  assert.equal(opts({ sslmode: 'verify-full' }, { HOME: home }).ca, 'HOME ROOT');
  assert.equal(opts({ sslmode: 'require' }, { HOME: home }).rejectUnauthorized, true);
  // sslrootcert=system: the trusted roots of node:tls, verify-full by default, weaker modes refused.
  const sys = resolve({ host: 'h', sslrootcert: 'system' });
  assert.equal(sys.sslMode, 'verify-full');
  assert.deepEqual([tls(sys).rejectUnauthorized, tls(sys).ca], [true, undefined]);
  assert.match(
    refusal(() => resolve({ url: 'postgresql://h?sslrootcert=system&sslmode=require' })).message,
    /^url: parameter sslmode must be verify-full when sslrootcert is system/,
  );
});

test('no error message holds the password', () => {
  const url = (q: string) => `postgresql://user:${SECRET}@h/d${q}`;
  const bad: (() => unknown)[] = [
    () => resolve({ url: url('?sslmode=bogus') }),
    () => resolve({ url: url('?nope=1') }),
    () => resolve({ url: url('?connect_timeout=x') }),
    () => resolve({ url: url('?sslrootcert=/missing') }),
    () => resolve({ url: `postgresql://user:${SECRET}@h:0/d` }),
    () => resolve({ url: `postgresql://user:${encodeURIComponent(SECRET)}@h1,h2/d` }),
    () => resolve({ url: `dbname=x password=${SECRET}` }),
    () => resolve({ url: `postgresql://user:${SECRET}@h/a%2Fb` }),
    () => resolve({ url: `postgresql://h/?password=${SECRET}&password` }),
    () => resolve({ password: SECRET, host: 'h', sslmode: 'verify-full' }),
  ];
  for (const f of bad) refusal(f);
});
