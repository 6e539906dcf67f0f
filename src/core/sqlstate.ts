/**
 * Classifies PostgreSQL errors by SQLSTATE. Source: PostgreSQL docs, Appendix A "PostgreSQL Error
 * Codes". The class (first two characters) decides whether retrying can help, as in Debezium's
 * PostgresErrorHandler and PeerDB's alerting classifier.
 */
export type SqlStateClass =
  | 'connection' // 08: connection exception
  | 'resources' // 53: insufficient resources (too many connections, disk full)
  | 'operator' // 57: operator intervention (admin shutdown, crash shutdown, cannot connect now)
  | 'transaction-rollback' // 40: serialization failure, deadlock
  | 'lock' // 55P03 lock not available, 55006 object in use
  | 'auth' // 28: invalid authorization
  | 'privilege' // 42501 insufficient privilege
  | 'undefined-object' // 42P01 undefined table, 42704 undefined object, 3D000 invalid catalog name
  | 'data' // 22, 23: data exception, integrity constraint violation
  | 'other';

/** Maps an SQLSTATE to its {@link SqlStateClass}. */
export function classifySqlState(sqlState: string): SqlStateClass {
  if (sqlState === '42501') return 'privilege';
  if (sqlState === '42P01' || sqlState === '42704' || sqlState === '3D000') return 'undefined-object';
  if (sqlState === '55P03' || sqlState === '55006') return 'lock';
  switch (sqlState.slice(0, 2)) {
    case '08':
      return 'connection';
    case '53':
      return 'resources';
    case '57':
      return 'operator';
    case '40':
      return 'transaction-rollback';
    case '28':
      return 'auth';
    case '22':
    case '23':
      return 'data';
    default:
      return 'other';
  }
}

/** True for the classes where waiting and trying again can succeed (server restarting, deadlock...). */
export function isRetryableSqlState(sqlState: string): boolean {
  const c = classifySqlState(sqlState);
  return (
    c === 'connection' ||
    c === 'resources' ||
    c === 'operator' ||
    c === 'transaction-rollback' ||
    c === 'lock'
  );
}

/** Node socket error codes that mean the server is (perhaps temporarily) unreachable. */
const RETRYABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** True when `e` is a Node socket error that may go away (refused, reset, timed out). */
export function isRetryableSocketError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_SOCKET_CODES.has(code);
}
