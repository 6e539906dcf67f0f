/**
 * Connections to PostgreSQL servers (either side) through the `pg` library: connecting with clear errors
 * and wrapping server errors by SQLSTATE. Endpoint resolution (libpq's rules for URLs, environment
 * variables, the password file and sslmode) is in `connection-settings.ts`, the TLS attempts and their
 * fallback in `tls-negotiation.ts`. Passwords never leave: {@link describeEndpoint} is what messages show.
 */
import pg from 'pg';
import { PgdtsError, type ErrorCode } from '../core/errors.ts';
import { isRetryableSocketError, isRetryableSqlState, classifySqlState } from '../core/sqlstate.ts';
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
      c.on('error', () => undefined);
      return c;
    }));
  } catch (e) {
    if (e instanceof ConnectAttemptsFailed) throw connectionError(p, opts.role, e.primary, e.note);
    throw connectionError(p, opts.role, e);
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
 * Builds the CONNECTION_FAILED error for a failed connect of `role` (`source`, `destination`). `note`
 * (the other attempt's failure after a TLS fallback), libpq's "password retrieved from file" hint and
 * the resolution warnings of `p` (e.g. an ignored password file) are appended to the message; only `e`
 * decides `retryable` and `sqlState`.
 */
export function connectionError(p: ConnectionParams, role: string, e: unknown, note?: string): PgdtsError {
  const err = e as { code?: string; message?: string };
  const sqlState = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
  const cause = redact(err.message ?? String(e), p.password);
  const retryable = sqlState
    ? isRetryableSqlState(sqlState)
    : isRetryableSocketError(e) || /timeout/i.test(cause);
  const extra = [
    ...(note !== undefined ? [redact(note, p.password)] : []),
    ...(sqlState === '28P01' && p.passwordFile !== undefined
      ? [`password retrieved from file "${p.passwordFile}"`]
      : []),
    ...(p.warnings ?? []),
  ];
  return new PgdtsError(
    'CONNECTION_FAILED',
    `cannot connect to ${role} ${endpointAddress(p)} (database ${p.database}, user ${p.user}): ${cause}${extra.map((x) => `; ${x}`).join('')}`,
    { retryable, cause: e, ...(sqlState ? { sqlState } : {}) },
  );
}

/** Removes a password from text (for messages that might echo it). */
export function redact(text: string, password: string | undefined): string {
  return password ? text.replaceAll(password, '****') : text;
}

/**
 * Wraps an error thrown by a query into a {@link PgdtsError} with `code`, classifying its SQLSTATE
 * (or socket error) to set `retryable`. PgdtsErrors pass through unchanged.
 */
export function wrapPgError(code: ErrorCode, what: string, e: unknown): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const err = e as { code?: string; message?: string; detail?: string };
  const sqlState = typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
  const retryable = sqlState
    ? isRetryableSqlState(sqlState)
    : isRetryableSocketError(e) ||
      /Connection terminated|connection.*closed|connection error and is not queryable|terminating connection/i.test(
        err.message ?? '',
      );
  const klass = sqlState ? ` [SQLSTATE ${sqlState}, ${classifySqlState(sqlState)}]` : '';
  return new PgdtsError(
    code,
    `${what}: ${err.message ?? String(e)}${klass}${err.detail ? ` (${err.detail})` : ''}`,
    {
      retryable,
      cause: e,
      ...(sqlState ? { sqlState } : {}),
    },
  );
}

/** Server major version number (13, 15, 17...) from server_version_num. */
export async function serverMajorVersion(client: pg.Client): Promise<number> {
  const r = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
  return Math.floor(Number(r.rows[0]?.v) / 10000);
}
