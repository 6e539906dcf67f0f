/**
 * The one table that decides whether an error from a server or a socket may go away when retried.
 * SQLSTATEs: PostgreSQL docs, Appendix A "PostgreSQL Error Codes"; the class (first two characters)
 * decides, with a few specific codes overriding their class, as in Debezium's PostgresErrorHandler and
 * PeerDB's alerting classifier. Socket codes: Node.js "Common system errors". Messages are never
 * matched: the code alone decides.
 *
 * Each rule also names the retry window (task file `retry.connectionMinutes` or `retry.otherMinutes`)
 * that bounds how long its errors are retried: `connection` when the server or the path to it is
 * away (connection exceptions and lost sockets, a server shutting down, restarting or failing over to
 * a standby), `other` when the server is there but refused the work (a deadlock, a serialization
 * failure, a lock held elsewhere, a full disk, an I/O error). A failed connect is a connection failure
 * whatever its cause (pg/connection.ts `connectionError`): too many connections (53300) or a server
 * not yet accepting connections refuse the session, not a statement.
 */

/** What kind of failure a SQLSTATE or socket code is. */
export type SqlStateClass =
  | 'connection' // 08: connection exception; sockets refused, reset, timed out
  | 'resources' // 53: insufficient resources (too many connections, disk full, out of memory)
  | 'operator' // 57: operator intervention (admin shutdown, crash shutdown, cannot connect now)
  | 'query-canceled' // 57014: statement_timeout or pg_cancel_backend stopped the statement
  | 'transaction-rollback' // 40: serialization failure, deadlock
  | 'lock' // 55P03 lock not available, 55006 object in use (e.g. a replication slot held elsewhere)
  | 'read-only' // 25006: the server is (now) a standby
  | 'system' // 58: I/O error on the server
  | 'auth' // 28: invalid authorization
  | 'privilege' // 42501 insufficient privilege
  | 'undefined-object' // 42P01 undefined table, 42704 undefined object, 3D000 invalid catalog name
  | 'data' // 22, 23: data exception, integrity constraint violation
  | 'tls' // certificate verification and TLS handshake failures
  | 'other';

/**
 * Which retry window bounds a retryable error: `connection` (task file `retry.connectionMinutes`) for
 * a server or network that is away, `other` (`retry.otherMinutes`) for everything else.
 */
export type RetryWindow = 'connection' | 'other';

/** How a class is handled. */
export interface ErrorClassRule {
  readonly class: SqlStateClass;
  /** Can waiting and trying the same operation again succeed? */
  readonly retryable: boolean;
  /** The retry window of a retryable error of this class (`other` for those never retried). */
  readonly window: RetryWindow;
  /** What an operator would do about it, for messages. */
  readonly action: string;
}

const RULES: Readonly<Record<SqlStateClass, ErrorClassRule>> = {
  connection: {
    class: 'connection',
    retryable: true,
    window: 'connection',
    action: 'wait for the server or the network',
  },
  resources: {
    class: 'resources',
    retryable: true,
    window: 'other',
    action: 'free connections, disk or memory on the server',
  },
  operator: {
    class: 'operator',
    retryable: true,
    window: 'connection',
    action: 'wait for the server to come back',
  },
  'query-canceled': {
    class: 'query-canceled',
    retryable: true,
    window: 'other',
    action: 'raise statement_timeout, or find who cancels the statement',
  },
  'transaction-rollback': {
    class: 'transaction-rollback',
    retryable: true,
    window: 'other',
    action: 'retried automatically',
  },
  lock: {
    class: 'lock',
    retryable: true,
    window: 'other',
    action: 'wait for the other session to release the object',
  },
  // A primary turned standby is a failover in progress: the server is away as a primary.
  'read-only': {
    class: 'read-only',
    retryable: true,
    window: 'connection',
    action: 'point the task at the primary server',
  },
  system: { class: 'system', retryable: true, window: 'other', action: 'check the server log and its disks' },
  auth: { class: 'auth', retryable: false, window: 'other', action: 'fix the user, password or pg_hba.conf' },
  privilege: { class: 'privilege', retryable: false, window: 'other', action: 'grant the missing privilege' },
  'undefined-object': {
    class: 'undefined-object',
    retryable: false,
    window: 'other',
    action: 'create the object or fix its name',
  },
  data: {
    class: 'data',
    retryable: false,
    window: 'other',
    action: 'fix the data or the destination definition',
  },
  tls: {
    class: 'tls',
    retryable: false,
    window: 'other',
    action: 'fix sslmode, sslrootcert or the server certificate',
  },
  other: { class: 'other', retryable: false, window: 'other', action: 'see the message' },
};

/** Codes whose handling differs from their class. */
const SPECIFIC: Readonly<Record<string, SqlStateClass>> = {
  '42501': 'privilege',
  '42P01': 'undefined-object',
  '42704': 'undefined-object',
  '3D000': 'undefined-object',
  '55P03': 'lock',
  '55006': 'lock',
  '57014': 'query-canceled',
  '25006': 'read-only',
  // database_dropped: waiting will not bring it back.
  '57P04': 'undefined-object',
};

const CLASSES: Readonly<Record<string, SqlStateClass>> = {
  '08': 'connection',
  '53': 'resources',
  '57': 'operator',
  '40': 'transaction-rollback',
  '58': 'system',
  '28': 'auth',
  '22': 'data',
  '23': 'data',
};

/** Node socket and DNS error codes, and TLS verification codes of node:tls. */
const SOCKET_CODES: Readonly<Record<string, SqlStateClass>> = {
  ECONNREFUSED: 'connection',
  ECONNRESET: 'connection',
  ECONNABORTED: 'connection',
  EPIPE: 'connection',
  ETIMEDOUT: 'connection',
  EHOSTUNREACH: 'connection',
  ENETUNREACH: 'connection',
  ENETDOWN: 'connection',
  EAI_AGAIN: 'connection',
  ENOTFOUND: 'undefined-object',
  ENOENT: 'undefined-object', // a Unix-domain socket file that does not exist
  EACCES: 'privilege',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'tls',
  SELF_SIGNED_CERT_IN_CHAIN: 'tls',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'tls',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'tls',
  CERT_HAS_EXPIRED: 'tls',
  CERT_NOT_YET_VALID: 'tls',
  ERR_TLS_CERT_ALTNAME_INVALID: 'tls',
  ERR_SSL_WRONG_VERSION_NUMBER: 'tls',
  // pgdts's own TLS decisions (pg/tls-negotiation.ts).
  PGDTS_TLS_REFUSED: 'tls',
  PGDTS_TLS_REJECTED: 'tls',
};

/** Is `s` shaped like a SQLSTATE (five digits or upper-case letters)? */
export function isSqlState(s: unknown): s is string {
  return typeof s === 'string' && s.length === 5 && /^[0-9A-Z]{5}$/.test(s);
}

/** Maps an SQLSTATE to its {@link SqlStateClass}. */
export function classifySqlState(sqlState: string): SqlStateClass {
  return SPECIFIC[sqlState] ?? CLASSES[sqlState.slice(0, 2)] ?? 'other';
}

/** The rule for an SQLSTATE. */
export function sqlStateRule(sqlState: string): ErrorClassRule {
  return RULES[classifySqlState(sqlState)];
}

/** True for the classes where waiting and trying again can succeed (server restarting, deadlock...). */
export function isRetryableSqlState(sqlState: string): boolean {
  return sqlStateRule(sqlState).retryable;
}

/** The rule for a Node socket/DNS/TLS error code, or undefined when the code is not in the table. */
export function socketCodeRule(code: unknown): ErrorClassRule | undefined {
  if (typeof code !== 'string') return undefined;
  const c = SOCKET_CODES[code];
  return c === undefined ? undefined : RULES[c];
}

/** True when `e` is a Node socket error that may go away (refused, reset, timed out). */
export function isRetryableSocketError(e: unknown): boolean {
  return socketCodeRule((e as { code?: unknown } | null)?.code)?.retryable === true;
}

/** The rule for a lost connection (no SQLSTATE: the socket closed under a query). */
export const CONNECTION_LOST: ErrorClassRule = RULES.connection;
