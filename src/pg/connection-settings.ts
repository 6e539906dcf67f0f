/**
 * Resolves a task endpoint into connection parameters the way libpq does (PostgreSQL docs, "Connection
 * Strings", "Parameter Key Words", "Environment Variables", "The Password File", "SSL Support"):
 * a setting comes from the task-file key, else the URL, else its environment variable, else the default.
 * Certificate files and the password file are read here, once, so that a bad path fails before any
 * connection is attempted. Passwords never appear in the errors thrown here.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { ConfigError } from '../core/errors.ts';
import { SSL_MODES, type EndpointConfig, type SslMode } from '../core/task-config.ts';
import { passwordFromFile } from './password-file.ts';

export type { SslMode } from '../core/task-config.ts';

/** Fully resolved connection parameters of one endpoint (holds the password: never print it). */
export interface ConnectionParams {
  /**
   * Host name, IP address (IPv6 without brackets), or the directory of a Unix-domain socket (starts with
   * `/`; `pg` then connects to `<host>/.s.PGSQL.<port>`).
   */
  readonly host: string;
  /** TCP port, or the number in the socket file name. */
  readonly port: number;
  readonly user: string;
  readonly database: string;
  /** `undefined` when no source gave one (the server may not ask). */
  readonly password: string | undefined;
  /**
   * TLS options (node:tls) of the attempts that use TLS, certificate contents included; `false` when no
   * attempt may use TLS (sslmode disable, or a Unix-domain socket).
   */
  readonly ssl: pg.ClientConfig['ssl'];
  /**
   * libpq sslmode deciding which attempts use TLS (see `tls-negotiation.ts`). Set by
   * {@link resolveEndpoint}; when absent (parameters built by hand) `ssl` alone decides: `false` means
   * no TLS, anything else means TLS required with those options.
   */
  readonly sslMode?: SslMode;
  /** Limit for the whole connect, TLS fallback included, ms; 0 = no limit. */
  readonly connectTimeoutMs: number;
  /** application_name the user set (key, URL or PGAPPNAME); wins over pgdts's own name. */
  readonly applicationName?: string;
  /** The password file the password came from (for libpq's "password retrieved from file" hint). */
  readonly passwordFile?: string;
  /** Non-fatal findings to show the user (e.g. a password file ignored for its permissions). */
  readonly warnings?: readonly string[];
}

/** Where a setting came from: `path` is what a {@link ConfigError} names, `what` prefixes its rule. */
interface Origin {
  readonly path: string;
  readonly what?: string;
}

/** A setting's value and where it came from. */
interface Given<T> {
  readonly value: T;
  readonly from: Origin;
}

/** URL query parameters pgdts takes, named as libpq names them (PostgreSQL docs, "Parameter Key Words"). */
const URL_PARAMETERS = [
  'host',
  'port',
  'dbname',
  'user',
  'password',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'connect_timeout',
] as const;
type UrlParameter = (typeof URL_PARAMETERS)[number];

/** What a URL gave, per libpq parameter. */
type UrlSettings = Partial<Record<UrlParameter, Given<string>>>;

/** Default when no host is given anywhere (libpq would try its default socket directory first). */
const DEFAULT_HOST = 'localhost';
const DEFAULT_PORT = 5432;
/** pgdts's default connect limit, ms (libpq's default is to wait indefinitely). */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** sslrootcert value that selects the system's trusted roots (libpq 16+). */
const SYSTEM_ROOTS = 'system';

const MULTI_HOST_RULE =
  'lists several hosts or ports; pgdts connects to exactly one server: give one host and one port';
const KEYWORD_VALUE_RULE =
  'keyword/value connection strings (host=... dbname=...) are not supported: give a postgresql:// URL, or the host, port, user and database keys';

/**
 * Resolves an endpoint into connection parameters. Each setting is taken from the first of: the
 * task-file key, the URL (its query parameters override its other parts), the environment variable,
 * the default:
 * - host: `host`, URL host or `?host=`, `PGHOST`, `localhost` (TCP; libpq's default socket directory is
 *   not probed). A value starting with `/` is a Unix-domain socket directory.
 * - port: `port`, URL port or `?port=`, `PGPORT`, 5432.
 * - user: `user`, URL user or `?user=`, `PGUSER`, the OS user name (`os.userInfo()`).
 * - database: `database`, URL path or `?dbname=`, `PGDATABASE`, the user name.
 * - password: `password`, URL password or `?password=`, the variable named by `passwordEnv`,
 *   `PGPASSWORD`, then the password file (`PGPASSFILE`, else `~/.pgpass`). Empty counts as none.
 * - sslmode: `sslmode`, `?sslmode=` (or `?ssl=true`), `PGSSLMODE`, `prefer` (`verify-full` when
 *   sslrootcert is `system`).
 * - sslrootcert / sslcert / sslkey: key, URL parameter, `PGSSLROOTCERT` / `PGSSLCERT` / `PGSSLKEY`, then
 *   `~/.postgresql/root.crt` / `postgresql.crt` / `postgresql.key` when they exist. Read only when TLS
 *   may be used (not for sslmode disable, not for a socket).
 * - connect timeout: `connectTimeoutMs` (ms), `?connect_timeout=` or `PGCONNECT_TIMEOUT` (s, libpq
 *   rules: ≤ 0 = no limit, 1 = 2 s), 10 000 ms.
 * - application_name: `applicationName`, `?application_name=`, `PGAPPNAME`; else the caller's name.
 *
 * @param env environment to read the `PG*` variables, `HOME` and `passwordEnv` from.
 * @param role prefixes key paths in errors (`source.sslmode`); none when omitted.
 * @throws {ConfigError} CONFIG_INVALID naming the key, URL parameter or environment variable and the
 *   rule: an unparsable URL, several hosts, a keyword/value string, an unknown URL parameter, a bad
 *   port, sslmode or connect_timeout, an unset `passwordEnv`, a certificate or key file that cannot be
 *   read (its path, never its contents), verify-ca/verify-full without a root certificate. Never
 *   contains a password or the URL.
 */
export function resolveEndpoint(
  e: EndpointConfig,
  env: NodeJS.ProcessEnv = process.env,
  role?: 'source' | 'destination',
): ConnectionParams {
  const key = (k: string): Origin => ({ path: role ? `${role}.${k}` : k });
  const fromKey = <T>(value: T | undefined, k: string): Given<T> | undefined =>
    value === undefined || value === '' ? undefined : { value, from: key(k) };
  const fromEnv = (name: string): Given<string> | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : { value, from: { path: name } };
  };
  const url = e.url === undefined ? {} : parseUrl(e.url, key('url').path);
  const warnings: string[] = [];

  const hostGiven = first(fromKey(e.host, 'host'), url.host, fromEnv('PGHOST'));
  if (hostGiven !== undefined) checkHost(hostGiven);
  const host = hostGiven?.value ?? DEFAULT_HOST;
  const socket = isSocketDirectory(host);

  const portGiven = first<string | number>(fromKey(e.port, 'port'), url.port, fromEnv('PGPORT'));
  const port = portGiven === undefined ? DEFAULT_PORT : parsePort(portGiven);

  const user = first(fromKey(e.user, 'user'), url.user, fromEnv('PGUSER'))?.value ?? osUserName(key('user'));
  const database = first(fromKey(e.database, 'database'), url.dbname, fromEnv('PGDATABASE'))?.value ?? user;

  let password = first(fromKey(e.password, 'password'), url.password)?.value;
  if (password === undefined && e.passwordEnv !== undefined) {
    password = env[e.passwordEnv];
    if (password === undefined || password === '') {
      throw new ConfigError(
        key('passwordEnv').path,
        `environment variable ${e.passwordEnv} is ${password === undefined ? 'not set' : 'empty'}`,
      );
    }
  }
  password ??= fromEnv('PGPASSWORD')?.value;
  let passwordFile: string | undefined;
  if (password === undefined) {
    const file = fromEnv('PGPASSFILE')?.value ?? defaultPasswordFile(env);
    if (file !== undefined) {
      const r = passwordFromFile(file, { host, port, database, user });
      switch (r.kind) {
        case 'found':
          if (r.password !== '') {
            password = r.password;
            passwordFile = file;
          }
          break;
        case 'ignored':
          warnings.push(r.warning);
          break;
        case 'no-match':
        case 'absent':
          break;
      }
    }
  }

  const rootCertGiven = first(
    fromKey(e.sslrootcert, 'sslrootcert'),
    url.sslrootcert,
    fromEnv('PGSSLROOTCERT'),
  );
  const systemRoots = rootCertGiven?.value === SYSTEM_ROOTS;
  const modeGiven = first(fromKey(e.sslmode, 'sslmode'), url.sslmode, fromEnv('PGSSLMODE'));
  const sslMode =
    modeGiven === undefined ? (systemRoots ? 'verify-full' : 'prefer') : parseSslMode(modeGiven);
  if (systemRoots && modeGiven !== undefined && sslMode !== 'verify-full') {
    // libpq 16+: a public CA signs anyone's certificate for their own host names, so with the system
    // roots only the host name check protects; weaker modes are refused rather than silently weak.
    throw refuse(modeGiven.from, `must be verify-full when sslrootcert is ${SYSTEM_ROOTS}`);
  }

  // libpq never uses TLS on a Unix-domain socket (PostgreSQL docs, "Parameter Key Words", sslmode: "is
  // ignored for Unix domain socket communication"), so the TLS files are not read then either.
  const ssl =
    sslMode === 'disable' || socket
      ? false
      : tlsOptions(sslMode, {
          rootCert: rootCertGiven,
          cert: first(fromKey(e.sslcert, 'sslcert'), url.sslcert, fromEnv('PGSSLCERT')),
          key: first(fromKey(e.sslkey, 'sslkey'), url.sslkey, fromEnv('PGSSLKEY')),
          dir: postgresqlDirectory(env),
          keys: { rootCert: key('sslrootcert'), cert: key('sslcert'), key: key('sslkey') },
        });

  const timeoutGiven = first(url.connect_timeout, fromEnv('PGCONNECT_TIMEOUT'));
  const connectTimeoutMs =
    e.connectTimeoutMs ??
    (timeoutGiven === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : parseTimeout(timeoutGiven));

  const applicationName = first(
    fromKey(e.applicationName, 'applicationName'),
    url.application_name,
    fromEnv('PGAPPNAME'),
  )?.value;

  return {
    host,
    port,
    user,
    database,
    password,
    ssl,
    sslMode,
    connectTimeoutMs,
    ...(applicationName !== undefined ? { applicationName } : {}),
    ...(passwordFile !== undefined ? { passwordFile } : {}),
    warnings,
  };
}

/**
 * The application_name a connection uses: the user's (`applicationName` key, `?application_name=`,
 * `PGAPPNAME`) when set, else the caller's own name (libpq's `fallback_application_name`), else `pgdts`.
 */
export function applicationNameOf(
  p: Pick<ConnectionParams, 'applicationName'>,
  opts: { readonly applicationName?: string },
): string {
  return p.applicationName ?? opts.applicationName ?? 'pgdts';
}

/** Is `host` a Unix-domain socket directory (an absolute path, as libpq and `pg` decide)? */
export function isSocketDirectory(host: string): boolean {
  return host.startsWith('/');
}

/**
 * How messages name the server: `host:port`, `[ipv6]:port`, or the socket file
 * `<dir>/.s.PGSQL.<port>` (as psql does).
 */
export function endpointAddress(p: Pick<ConnectionParams, 'host' | 'port'>): string {
  if (isSocketDirectory(p.host)) return `${p.host.replace(/\/+$/, '')}/.s.PGSQL.${p.port}`;
  return p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

function first<T>(...candidates: (Given<T> | undefined)[]): Given<T> | undefined {
  return candidates.find((c) => c !== undefined);
}

function refuse(o: Origin, rule: string): ConfigError {
  return new ConfigError(o.path, o.what === undefined ? rule : `${o.what} ${rule}`);
}

/**
 * Splits a libpq URL (PostgreSQL docs, "Connection URIs") into its settings. pg-connection-string parses
 * the part before `?` (user info and host percent-decoded, IPv6 brackets removed). The query is libpq's
 * `key=value&...` list, decoded here: pg-connection-string would read the certificate files itself while
 * parsing (so a missing file could not be named by its parameter, and `sslrootcert=system` would be read
 * as a file) and it decodes `+` as a space, which libpq does not.
 */
function parseUrl(raw: string, at: string): UrlSettings {
  const scheme = /^postgres(?:ql)?:\/\//.exec(raw);
  if (scheme === null) {
    throw new ConfigError(
      at,
      /^\s*[A-Za-z_]+\s*=/.test(raw)
        ? KEYWORD_VALUE_RULE
        : 'must be a URL starting with postgresql:// or postgres://',
    );
  }
  const q = raw.indexOf('?');
  const base = q < 0 ? raw : raw.slice(0, q);
  const authority = base.slice(scheme[0].length).split('/')[0] ?? '';
  // Only the host list after the user info may hold commas (a password may too).
  if (authority.slice(authority.lastIndexOf('@') + 1).includes(','))
    throw new ConfigError(at, MULTI_HOST_RULE);
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    parsed = parseConnectionString(base);
  } catch {
    throw new ConfigError(
      at,
      'not a valid postgresql:// URL (percent-encode @ : / ? # and spaces in the user name and password)',
    );
  }
  const out: UrlSettings = {};
  const part = (name: UrlParameter, what: string, value: string | null | undefined) => {
    if (typeof value === 'string' && value !== '') out[name] = { value, from: { path: at, what } };
  };
  part('user', 'user name', parsed.user);
  part('password', 'password', parsed.password);
  part('host', 'host', parsed.host);
  part('port', 'port', parsed.port);
  if (typeof parsed.database === 'string' && /%[0-9A-Fa-f]{2}/.test(parsed.database)) {
    // pg-connection-string decodes the path with decodeURI, which keeps %2F, %23, %3F, %40... encoded;
    // guessing would be wrong for names that contain a literal %XX, so ask for an unambiguous form.
    throw new ConfigError(
      at,
      'database name in the path holds a percent-encoded reserved character (%2F, %23, %3F, %40, ...): give it as ?dbname= or with the database key',
    );
  }
  part('dbname', 'database name', parsed.database);
  if (q >= 0) Object.assign(out, parseQuery(raw.slice(q + 1), at));
  return out;
}

/** libpq's URL query: `key=value` pairs joined by `&`, percent-encoded; a later pair wins. */
function parseQuery(query: string, at: string): UrlSettings {
  const out: UrlSettings = {};
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    // Never echo the pair: it may be a password.
    if (eq < 0 || pair.includes('=', eq + 1)) {
      throw new ConfigError(at, 'each URL query parameter must be key=value (percent-encode = as %3D)');
    }
    let name = percentDecode(pair.slice(0, eq), at, 'a URL query parameter name');
    let value = percentDecode(pair.slice(eq + 1), at, 'a URL query parameter value');
    if (name === 'ssl') {
      // libpq's JDBC compatibility: ssl=true means sslmode=require; any other ssl value is invalid.
      if (value !== 'true')
        throw new ConfigError(at, 'parameter ssl accepts only true (meaning sslmode=require)');
      name = 'sslmode';
      value = 'require';
    }
    if (!(URL_PARAMETERS as readonly string[]).includes(name)) {
      const shown = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) ? `parameter ${name}` : 'a query parameter';
      throw new ConfigError(
        at,
        `${shown} is not supported (supported: ${URL_PARAMETERS.join(', ')}, ssl=true)`,
      );
    }
    if (value !== '') out[name as UrlParameter] = { value, from: { path: at, what: `parameter ${name}` } };
  }
  return out;
}

function percentDecode(s: string, at: string, what: string): string {
  let out: string;
  try {
    out = decodeURIComponent(s);
  } catch {
    throw new ConfigError(at, `${what} holds an invalid percent-encoded sequence`);
  }
  if (out.includes('\0')) throw new ConfigError(at, `${what} holds %00, which is forbidden`);
  return out;
}

function checkHost(g: Given<string>): void {
  if (g.value.includes(',')) throw refuse(g.from, MULTI_HOST_RULE);
  if (g.value.startsWith('@')) {
    throw refuse(g.from, 'is an abstract Unix-domain socket (@name), which is not supported');
  }
}

function parsePort(g: Given<string | number>): number {
  const n = typeof g.value === 'number' ? g.value : /^\s*\d+\s*$/.test(g.value) ? Number(g.value) : NaN;
  if (typeof g.value === 'string' && g.value.includes(',')) throw refuse(g.from, MULTI_HOST_RULE);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw refuse(g.from, 'must be a port number 1-65535');
  return n;
}

function parseSslMode(g: Given<string>): SslMode {
  const mode = SSL_MODES.find((m) => m === g.value);
  if (mode === undefined) throw refuse(g.from, `must be one of ${SSL_MODES.join(', ')}`);
  return mode;
}

/**
 * libpq's connect_timeout: whole seconds (surrounding spaces allowed); zero or negative waits
 * indefinitely (0 here); 1 is taken as 2 because libpq's minimum is 2 s. Returns ms.
 */
function parseTimeout(g: Given<string>): number {
  if (!/^\s*[+-]?\d+\s*$/.test(g.value)) throw refuse(g.from, 'must be a whole number of seconds');
  const s = Number(g.value);
  if (s <= 0) return 0;
  return Math.max(s, 2) * 1000;
}

function osUserName(from: Origin): string {
  try {
    return os.userInfo().username;
  } catch {
    throw refuse(from, 'is not given and the OS user name cannot be determined: set user or PGUSER');
  }
}

/** The user's home directory as libpq finds it: `HOME`, else the password database. */
function homeDirectory(env: NodeJS.ProcessEnv): string | undefined {
  if (env.HOME !== undefined && env.HOME !== '') return env.HOME;
  try {
    return os.userInfo().homedir;
  } catch {
    return undefined;
  }
}

/** `~/.pgpass` (`%APPDATA%\postgresql\pgpass.conf` on Windows), as libpq. */
function defaultPasswordFile(env: NodeJS.ProcessEnv): string | undefined {
  if (process.platform === 'win32') {
    return env.APPDATA ? path.join(env.APPDATA, 'postgresql', 'pgpass.conf') : undefined;
  }
  const home = homeDirectory(env);
  return home === undefined ? undefined : path.join(home, '.pgpass');
}

/** `~/.postgresql` (`%APPDATA%\postgresql` on Windows): libpq's default certificate directory. */
function postgresqlDirectory(env: NodeJS.ProcessEnv): string | undefined {
  if (process.platform === 'win32') return env.APPDATA ? path.join(env.APPDATA, 'postgresql') : undefined;
  const home = homeDirectory(env);
  return home === undefined ? undefined : path.join(home, '.postgresql');
}

/** The TLS files an endpoint named (or not), for {@link tlsOptions}. */
interface TlsFiles {
  readonly rootCert: Given<string> | undefined;
  readonly cert: Given<string> | undefined;
  readonly key: Given<string> | undefined;
  /** libpq's default directory of root.crt, postgresql.crt and postgresql.key. */
  readonly dir: string | undefined;
  /** The keys errors about a default (or missing) file name. */
  readonly keys: { readonly rootCert: Origin; readonly cert: Origin; readonly key: Origin };
}

/**
 * node:tls options for `mode` (PostgreSQL docs, "SSL Support", table "SSL Mode Descriptions"):
 * - with a root certificate, the server's chain is verified in every mode that uses TLS. libpq does so
 *   whenever it has one, which is why `require` with a root CA behaves like `verify-ca`;
 * - without one (only possible below verify-ca) the connection is encrypted but not verified;
 * - the host name is checked against the certificate only for `verify-full`.
 */
function tlsOptions(mode: Exclude<SslMode, 'disable'>, f: TlsFiles): ConnectionOptions {
  const defaultFile = (name: string, from: Origin): Given<string> | undefined => {
    if (f.dir === undefined) return undefined;
    const file = path.join(f.dir, name);
    return exists(file) ? { value: file, from } : undefined;
  };
  const rootCert = f.rootCert ?? defaultFile('root.crt', f.keys.rootCert);
  const options: ConnectionOptions = {};
  if (rootCert === undefined) {
    if (mode === 'verify-ca' || mode === 'verify-full') {
      throw refuse(
        f.keys.rootCert,
        `must name a root certificate file for sslmode ${mode} (or ${SYSTEM_ROOTS} for the system's trusted roots): none given, and ${f.dir === undefined ? '~/.postgresql' : f.dir}/root.crt does not exist`,
      );
    }
    options.rejectUnauthorized = false;
  } else {
    options.rejectUnauthorized = true;
    // Without `ca`, node:tls verifies against its trusted roots (Mozilla's bundle, or the OpenSSL store
    // with --use-openssl-ca): the "system" choice.
    if (rootCert.value !== SYSTEM_ROOTS) options.ca = readFile(rootCert);
  }
  if (mode !== 'verify-full') options.checkServerIdentity = () => undefined;

  const cert = f.cert ?? defaultFile('postgresql.crt', f.keys.cert);
  // A key without a certificate is unused (as in libpq), but a wrong path is still worth refusing.
  const keyGiven = f.key ?? (cert === undefined ? undefined : defaultFile('postgresql.key', f.keys.key));
  if (keyGiven !== undefined) checkKeyFile(keyGiven);
  if (cert !== undefined) {
    if (keyGiven === undefined) {
      throw refuse(
        f.keys.key,
        `must name the private key of the client certificate ${cert.value} (${f.dir ?? '~/.postgresql'}/postgresql.key does not exist)`,
      );
    }
    options.cert = readFile(cert);
    // Not enumerable, so that logging or spreading the options never copies the private key.
    Object.defineProperty(options, 'key', {
      value: readFile(keyGiven),
      enumerable: false,
      writable: true,
      configurable: true,
    });
  }
  return options;
}

/** Does `file` exist? Errors other than "not there" count as existing, so that reading reports them. */
function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

function readFile(g: Given<string>): string {
  try {
    return readFileSync(g.value, 'utf8');
  } catch (e) {
    throw refuse(g.from, `cannot read ${g.value} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * libpq's private key rule (not on Windows): a regular file that group and world cannot access, except
 * that a root-owned key may be group-readable (mode 0640), for system-wide keys.
 */
function checkKeyFile(g: Given<string>): void {
  let st: Stats;
  try {
    st = statSync(g.value);
  } catch (e) {
    throw refuse(g.from, `cannot read ${g.value} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!st.isFile()) throw refuse(g.from, `${g.value} is not a regular file`);
  if (process.platform === 'win32') return;
  const tooOpen = st.uid === 0 ? (st.mode & 0o037) !== 0 : (st.mode & 0o077) !== 0;
  if (tooOpen) {
    throw refuse(
      g.from,
      `private key file ${g.value} has group or world access; it must have permissions u=rw (0600) or less if owned by the current user, or u=rw,g=r (0640) or less if owned by root`,
    );
  }
}
