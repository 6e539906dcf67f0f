/**
 * Connections to PostgreSQL servers (either side) through the `pg` library: building the client config
 * from a task endpoint, connecting with clear errors, and wrapping server errors by SQLSTATE.
 * Passwords are resolved here and never leave: {@link describeEndpoint} is what messages show.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { PgdtsError, type ErrorCode } from '../core/errors.ts';
import {
  CONNECTION_LOST,
  isSqlState,
  socketCodeRule,
  sqlStateRule,
  type ErrorClassRule,
} from '../core/sqlstate.ts';
import type { EndpointConfig } from '../core/task-config.ts';

/** Fully resolved connection parameters of one endpoint. */
export interface ConnectionParams {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password: string | undefined;
  readonly ssl: pg.ClientConfig['ssl'];
  readonly connectTimeoutMs: number;
}

/**
 * Resolves an endpoint into connection parameters. Password order: `password`, URL password,
 * `passwordEnv`, `PGPASSWORD`; when none, `pg` falls back to ~/.pgpass (PostgreSQL docs, "The
 * Password File").
 * @throws {PgdtsError} CONFIG_INVALID when the URL cannot be parsed or `passwordEnv` is unset.
 */
export function resolveEndpoint(e: EndpointConfig, env: NodeJS.ProcessEnv = process.env): ConnectionParams {
  let host = e.host ?? env.PGHOST ?? '127.0.0.1';
  let port = e.port ?? 5432;
  let user = e.user ?? env.PGUSER ?? 'postgres';
  let database = e.database;
  let password = e.password;
  let sslmode = e.sslmode;
  if (e.url !== undefined) {
    let u: URL;
    try {
      u = new URL(e.url);
    } catch {
      // The URL may hold a password: do not echo it.
      throw new PgdtsError('CONFIG_INVALID', 'url: not a valid postgresql:// URL');
    }
    if (u.protocol !== 'postgresql:' && u.protocol !== 'postgres:') {
      throw new PgdtsError('CONFIG_INVALID', 'url: must start with postgresql://');
    }
    host = decodeURIComponent(u.hostname) || host;
    port = u.port ? Number(u.port) : port;
    user = u.username ? decodeURIComponent(u.username) : user;
    if (u.password) password ??= decodeURIComponent(u.password);
    const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (db) database ??= db;
    const m = u.searchParams.get('sslmode');
    if (m) sslmode ??= m as NonNullable<EndpointConfig['sslmode']>;
  }
  if (password === undefined && e.passwordEnv !== undefined) {
    password = env[e.passwordEnv];
    if (password === undefined) {
      throw new PgdtsError('CONFIG_INVALID', `passwordEnv: environment variable ${e.passwordEnv} is not set`);
    }
  }
  password ??= env.PGPASSWORD;
  return {
    host,
    port,
    user,
    database: database ?? user,
    password,
    ssl: sslConfig(sslmode, e),
    connectTimeoutMs: e.connectTimeoutMs ?? 10_000,
  };
}

function sslConfig(mode: EndpointConfig['sslmode'], e: EndpointConfig): pg.ClientConfig['ssl'] {
  if (mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer') return false;
  const files = {
    ...(e.sslrootcert !== undefined ? { ca: readFileSync(e.sslrootcert, 'utf8') } : {}),
    ...(e.sslcert !== undefined ? { cert: readFileSync(e.sslcert, 'utf8') } : {}),
    ...(e.sslkey !== undefined ? { key: readFileSync(e.sslkey, 'utf8') } : {}),
  };
  switch (mode) {
    case 'require':
      return { rejectUnauthorized: false, ...files };
    case 'verify-ca':
      // verify-ca checks the chain but not the host name.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...files };
    case 'verify-full':
      return { rejectUnauthorized: true, ...files };
  }
}

/** `user@host:port/database`: how an endpoint appears in messages (never with the password). */
export function describeEndpoint(p: ConnectionParams): string {
  return `${p.user}@${p.host}:${p.port}/${p.database}`;
}

/** Date/time OIDs (date, time, timestamp, timestamptz, timetz, interval) whose JS parsing would lose precision. */
const TEXT_TYPES = new Set([1082, 1083, 1114, 1184, 1266, 1186]);

/** Default `pg` parsing (arrays, ints, bools) except date/time values, which stay exact text. */
const keepTimesAsText: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (TEXT_TYPES.has(oid)) return (v: string) => v;
    return pg.types.getTypeParser(oid, format) as (v: string) => unknown;
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Clients whose connection failed or ended: they can never run a query again. */
const lostClients = new WeakSet<pg.Client>();

/** False once `client`'s connection failed or ended (a new client is needed). */
export function isUsable(client: pg.Client): boolean {
  return !lostClients.has(client);
}

/** Extra options of {@link connect}. */
export interface ConnectOptions {
  /** `database` opens a logical replication connection (walsender); PostgreSQL docs "Streaming Replication Protocol". */
  readonly replication?: 'database';
  /** application_name shown in pg_stat_activity. */
  readonly applicationName?: string;
  /** Role of the connection in messages ("source", "destination"). */
  readonly role: 'source' | 'destination';
}

/**
 * Opens one client. Sessions use UTC, ISO dates and extra_float_digits=3 so that text values
 * round-trip exactly.
 * @throws {PgdtsError} CONNECTION_FAILED naming host, port and cause; retryable when the cause may pass.
 */
export async function connect(p: ConnectionParams, opts: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client({
    host: p.host,
    port: p.port,
    user: p.user,
    database: p.database,
    ...(p.password !== undefined ? { password: p.password } : {}),
    ssl: p.ssl,
    connectionTimeoutMillis: p.connectTimeoutMs,
    application_name: opts.applicationName ?? 'pgdts',
    ...(opts.replication ? { replication: opts.replication } : {}),
    types: keepTimesAsText,
  });
  // An idle client whose server goes away emits 'error'; without a listener Node would crash.
  client.on('error', () => lostClients.add(client));
  client.on('end', () => lostClients.add(client));
  const started = Date.now();
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw connectionError(p, opts.role, e, Date.now() - started);
  }
  if (!opts.replication) {
    try {
      await client.query(
        "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET standard_conforming_strings = on",
      );
    } catch (e) {
      // A server shutting down can accept the connection and end it at once (SQLSTATE 57P01):
      // that is a failed connect, retryable like any other.
      await client.end().catch(() => undefined);
      throw connectionError(p, opts.role, e);
    }
  }
  return client;
}

/**
 * How an error thrown by the `pg` client is classified, by type and code only (never by message):
 * a server error (`pg.DatabaseError`) by its SQLSTATE; a Node socket, DNS or TLS error by its code;
 * a plain `Error` without either is what `pg` raises when the connection ended under a query
 * ("Connection terminated unexpectedly", "... not queryable", "timeout expired"): a lost connection.
 * Anything else (TypeError, RangeError...) is a bug on our side and is not retried.
 */
export function classifyClientError(e: unknown): { rule: ErrorClassRule; sqlState: string | undefined } {
  const code = (e as { code?: unknown } | null)?.code;
  if (e instanceof pg.DatabaseError || isSqlState(code)) {
    const sqlState = isSqlState(code) ? code : undefined;
    return { rule: sqlState ? sqlStateRule(sqlState) : CONNECTION_LOST, sqlState };
  }
  const socket = socketCodeRule(code);
  if (socket) return { rule: socket, sqlState: undefined };
  if (e instanceof Error && e.constructor === Error) return { rule: CONNECTION_LOST, sqlState: undefined };
  return { rule: { class: 'other', retryable: false, action: 'report this as a bug' }, sqlState: undefined };
}

/**
 * Builds the CONNECTION_FAILED error for a failed connect, with a fix hint chosen by the SQLSTATE
 * (PostgreSQL docs, Appendix A) or socket code of the cause. `elapsedMs`: how long the attempt took
 * (a connect timeout has no code of its own).
 */
export function connectionError(p: ConnectionParams, role: string, e: unknown, elapsedMs = 0): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const err = e as { message?: string };
  const { rule, sqlState } = classifyClientError(e);
  const cause = redact(err.message ?? String(e), p.password);
  const code = sqlState ?? (e as { code?: unknown }).code;
  const hint = connectHint(typeof code === 'string' ? code : '', p, elapsedMs >= p.connectTimeoutMs);
  return new PgdtsError(
    'CONNECTION_FAILED',
    `cannot connect to ${role} ${p.host}:${p.port} (database ${p.database}, user ${p.user}): ${cause}`,
    { retryable: rule.retryable, cause: e, ...(sqlState ? { sqlState } : {}), ...(hint ? { hint } : {}) },
  );
}

function connectHint(code: string, p: ConnectionParams, timedOut: boolean): string | undefined {
  switch (code) {
    case '28P01':
      return `check the password of user ${p.user} (password, passwordEnv, url or PGPASSWORD)`;
    case '28000':
      return `allow user ${p.user} from this host to database ${p.database} in pg_hba.conf on ${p.host}`;
    case '3D000':
      return `create database ${p.database} on ${p.host}:${p.port} or fix the database name`;
    case '53300':
      return 'the server has no free connection slots: raise max_connections or close idle sessions';
    case 'ECONNREFUSED':
      return `is PostgreSQL running and listening on ${p.host}:${p.port}? check listen_addresses, port and firewalls`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name ${p.host} does not resolve: fix host or url`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${p.host}:${p.port}: check the network path and firewalls`;
    default:
      return timedOut
        ? `no answer from ${p.host}:${p.port} within ${p.connectTimeoutMs} ms: check firewalls or raise connectTimeoutMs`
        : undefined;
  }
}

/** Removes a password from text (for messages that might echo it). */
export function redact(text: string, password: string | undefined): string {
  return password ? text.replaceAll(password, '****') : text;
}

/**
 * Wraps an error thrown by a query into a {@link PgdtsError} with `code`, classified by
 * {@link classifyClientError} to set `retryable`. PgdtsErrors pass through unchanged.
 */
export function wrapPgError(code: ErrorCode, what: string, e: unknown): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const err = e as { message?: string; detail?: string };
  const { rule, sqlState } = classifyClientError(e);
  const klass = sqlState ? ` [SQLSTATE ${sqlState}, ${rule.class}]` : '';
  return new PgdtsError(
    code,
    `${what}: ${err.message ?? String(e)}${klass}${err.detail ? ` (${err.detail})` : ''}`,
    { retryable: rule.retryable, cause: e, ...(sqlState ? { sqlState } : {}) },
  );
}

/** Server major version number (13, 15, 17...) from server_version_num. */
export async function serverMajorVersion(client: pg.Client): Promise<number> {
  const r = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(r.rows[0]?.v) / 10000);
}
