/**
 * Connections to PostgreSQL servers (either side) through the `pg` library: connecting with clear errors
 * and wrapping server errors by SQLSTATE. Endpoint resolution (libpq's rules for URLs, environment
 * variables, the password file and sslmode) is in `connection-settings.ts`, the TLS attempts and their
 * fallback in `tls-negotiation.ts`. Passwords never leave: {@link describeEndpoint} is what messages show.
 */
import pg from 'pg';
import { PgdtsError, type ErrorCode } from '../core/errors.ts';
import {
  CONNECTION_LOST,
  isSqlState,
  socketCodeRule,
  sqlStateRule,
  type ErrorClassRule,
} from '../core/sqlstate.ts';
import { applicationNameOf, endpointAddress, type ConnectionParams } from './connection-settings.ts';
import { ConnectAttemptsFailed, connectNegotiatingTls } from './tls-negotiation.ts';

export {
  applicationNameOf,
  endpointAddress,
  isSocketDirectory,
  resolveEndpoint,
  type ConnectionParams,
  type SslMode,
} from './connection-settings.ts';

/**
 * `user@host:port/database` (`[ipv6]:port`, or the socket file for a socket directory): how an endpoint
 * appears in messages, never with the password.
 */
export function describeEndpoint(p: ConnectionParams): string {
  return `${p.user}@${endpointAddress(p)}/${p.database}`;
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
  /**
   * pgdts's name for the session (`pgdts-apply`...), libpq's `fallback_application_name`: the user's
   * application_name wins when set (see {@link applicationNameOf}); default `pgdts`.
   */
  readonly applicationName?: string;
  /** Role of the connection in messages ("source", "destination"). */
  readonly role: 'source' | 'destination';
}

/**
 * Opens one client: with or without TLS as `p.sslMode` says (falling back as libpq does for `prefer`
 * and `allow`), within `p.connectTimeoutMs` (ms, 0 = no limit) for all attempts together. Sessions use
 * UTC, ISO dates and extra_float_digits=3 so that text values round-trip exactly.
 * `pg` gets the password explicitly, so that it never reads `PGPASSWORD` or a password file itself.
 * @throws {PgdtsError} CONNECTION_FAILED naming host and port (or socket), database, user and cause
 *   (with the other attempt's cause after a TLS fallback); retryable when the cause may pass. A server
 *   certificate that fails verification, or a server without TLS when the mode requires it, is not
 *   retryable.
 */
export async function connect(p: ConnectionParams, opts: ConnectOptions): Promise<pg.Client> {
  const applicationName = applicationNameOf(p, opts);
  let client: pg.Client;
  const started = Date.now();
  try {
    ({ client } = await connectNegotiatingTls(p, (ssl, timeoutMs) => {
      const c = new pg.Client({
        host: p.host,
        port: p.port,
        user: p.user,
        database: p.database,
        // A function, not undefined: pg would otherwise fall back to process.env.PGPASSWORD and ~/.pgpass,
        // which resolveEndpoint has already consulted (with the environment it was given).
        password: p.password ?? noPassword,
        ssl,
        // The SSLRequest handshake, not PGSSLNEGOTIATION=direct: the fallback relies on the 'S'/'N' answer.
        sslnegotiation: 'postgres',
        connectionTimeoutMillis: timeoutMs,
        application_name: applicationName,
        ...(opts.replication ? { replication: opts.replication } : {}),
        types: keepTimesAsText,
      });
      // An idle client whose server goes away emits 'error'; without a listener Node would crash.
      c.on('error', () => lostClients.add(c));
      c.on('end', () => lostClients.add(c));
      return c;
    }));
  } catch (e) {
    const elapsedMs = Date.now() - started;
    if (e instanceof ConnectAttemptsFailed) {
      throw connectionError(p, opts.role, e.primary, {
        ...(e.note !== undefined ? { note: e.note } : {}),
        elapsedMs,
      });
    }
    throw connectionError(p, opts.role, e, { elapsedMs });
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

/** Called by pg when the server asks for a password and none was resolved (libpq: "no password supplied"). */
function noPassword(): never {
  throw new Error(
    'the server asked for a password and none was given (password, passwordEnv, URL, PGPASSWORD or the password file)',
  );
}

/**
 * How an error thrown by the `pg` client is classified, by type and code only (never by message):
 * a server error (`pg.DatabaseError`) by its SQLSTATE; a Node socket, DNS or TLS error by its code
 * (pgdts's own TLS failures carry `PGDTS_TLS_*` codes); a plain `Error` without either is what `pg`
 * raises when the connection ended under a query ("Connection terminated unexpectedly", "... not
 * queryable", "timeout expired"): a lost connection. Anything else (TypeError, RangeError...) is a bug
 * on our side and is not retried.
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
  return {
    rule: { class: 'other', retryable: false, window: 'other', action: 'report this as a bug' },
    sqlState: undefined,
  };
}

/** Extra facts of {@link connectionError}. */
export interface ConnectionErrorOptions {
  /** The other attempt's failure after a TLS fallback, appended to the message. */
  readonly note?: string;
  /** How long the attempt took, ms (a connect timeout has no code of its own). */
  readonly elapsedMs?: number;
}

/**
 * Builds the CONNECTION_FAILED error for a failed connect of `role` (`source`, `destination`), with
 * a fix hint chosen by the SQLSTATE (PostgreSQL docs, Appendix A) or socket code of the cause. The
 * note, libpq's "password retrieved from file" hint and the resolution warnings of `p` (e.g. an
 * ignored password file) are appended to the message; only `e` decides `retryable` and `sqlState`.
 * Its retry window is always `connection`.
 */
export function connectionError(
  p: ConnectionParams,
  role: string,
  e: unknown,
  o: ConnectionErrorOptions = {},
): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const err = e as { message?: string };
  const { rule, sqlState } = classifyClientError(e);
  const cause = redact(err.message ?? String(e), p.password);
  const extra = [
    ...(o.note !== undefined ? [redact(o.note, p.password)] : []),
    ...(sqlState === '28P01' && p.passwordFile !== undefined
      ? [`password retrieved from file "${p.passwordFile}"`]
      : []),
    ...(p.warnings ?? []),
  ];
  const code = sqlState ?? (e as { code?: unknown }).code;
  const timedOut = p.connectTimeoutMs > 0 && (o.elapsedMs ?? 0) >= p.connectTimeoutMs;
  const hint = connectHint(typeof code === 'string' ? code : '', p, timedOut);
  return new PgdtsError(
    'CONNECTION_FAILED',
    `cannot connect to ${role} ${endpointAddress(p)} (database ${p.database}, user ${p.user}): ${cause}${extra.map((x) => `; ${x}`).join('')}`,
    {
      retryable: rule.retryable,
      // A connect that failed is a connection failure whatever the cause (too many connections, a
      // server starting up): the session was refused, no statement ran.
      retryWindow: 'connection',
      cause: e,
      ...(sqlState ? { sqlState } : {}),
      ...(hint ? { hint } : {}),
    },
  );
}

function connectHint(code: string, p: ConnectionParams, timedOut: boolean): string | undefined {
  const where = endpointAddress(p);
  switch (code) {
    case '28P01':
      return `check the password of user ${p.user} (password, passwordEnv, url, PGPASSWORD or the password file)`;
    case '28000':
      return `allow user ${p.user} from this host to database ${p.database} in pg_hba.conf on ${p.host}`;
    case '3D000':
      return `create database ${p.database} on ${where} or fix the database name`;
    case '53300':
      return 'the server has no free connection slots: raise max_connections or close idle sessions';
    case 'ECONNREFUSED':
    case 'ENOENT':
      return `is PostgreSQL running and listening on ${where}? check listen_addresses, port and firewalls`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name ${p.host} does not resolve: fix host or url`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${where}: check the network path and firewalls`;
    case 'PGDTS_TLS_REFUSED':
      return 'the server has no TLS: use sslmode prefer or disable, or turn ssl on in the server';
    case 'PGDTS_TLS_REJECTED':
      return 'check sslrootcert (the CA that signed the server certificate) and the host name in the certificate';
    default:
      return timedOut
        ? `no answer from ${where} within ${p.connectTimeoutMs} ms: check firewalls or raise connectTimeoutMs`
        : undefined;
  }
}

/** Removes a password from text (for messages that might echo it). */
export function redact(text: string, password: string | undefined): string {
  return password ? text.replaceAll(password, '****') : text;
}

/**
 * Wraps an error thrown by a query into a {@link PgdtsError} with `code`, classified by
 * {@link classifyClientError} to set `retryable` and the retry window (the rule's: a lost connection or
 * a server shutting down is `connection`, a deadlock `other`). PgdtsErrors pass through unchanged.
 */
export function wrapPgError(code: ErrorCode, what: string, e: unknown): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const err = e as { message?: string; detail?: string };
  const { rule, sqlState } = classifyClientError(e);
  const klass = sqlState ? ` [SQLSTATE ${sqlState}, ${rule.class}]` : '';
  return new PgdtsError(
    code,
    `${what}: ${err.message ?? String(e)}${klass}${err.detail ? ` (${err.detail})` : ''}`,
    { retryable: rule.retryable, retryWindow: rule.window, cause: e, ...(sqlState ? { sqlState } : {}) },
  );
}

/** Server major version number (13, 15, 17...) from server_version_num. */
export async function serverMajorVersion(client: pg.Client): Promise<number> {
  const r = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(r.rows[0]?.v) / 10000);
}
