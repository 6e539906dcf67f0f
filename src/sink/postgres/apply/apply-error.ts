/** Error wrapping for the apply engine: {@link wrapPgError} with code APPLY_FAILED. */
import type { PgdtsError } from '../../../core/errors.ts';
import { wrapPgError } from '../../../pg/connection.ts';

/**
 * Wraps `e` as APPLY_FAILED with `what` as context; retryable for a lost connection, a restarting
 * server, a deadlock or serialization failure, not for data or constraint errors (see sqlstate.ts).
 */
export function applyFailed(what: string, e: unknown): PgdtsError {
  return wrapPgError('APPLY_FAILED', what, e);
}
