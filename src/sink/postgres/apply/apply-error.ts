/**
 * Error wrapping for the apply engine: {@link wrapPgError} plus the `pg` client's own message for a
 * connection that already broke ("Client has encountered a connection error and is not queryable"),
 * which carries no SQLSTATE or socket code but is just as retryable after reconnecting.
 */
import { PgdtsError } from '../../../core/errors.ts';
import { wrapPgError } from '../../../pg/connection.ts';

const BROKEN_CONNECTION = /not queryable|Connection terminated|connection.*(closed|ended)/i;

/**
 * Wraps `e` as APPLY_FAILED with `what` as context; retryable for connection loss (SQLSTATE class 08,
 * 57, or a broken client), not for data or constraint errors (classes 22, 23).
 */
export function applyFailed(what: string, e: unknown): PgdtsError {
  const w = wrapPgError('APPLY_FAILED', what, e);
  if (
    !w.retryable &&
    w.sqlState === undefined &&
    !(e instanceof PgdtsError) &&
    BROKEN_CONNECTION.test(w.message)
  ) {
    return new PgdtsError(w.code, w.message, { retryable: true, cause: e });
  }
  return w;
}
