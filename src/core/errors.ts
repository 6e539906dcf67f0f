/**
 * One list of error codes for all of pgdts. Every error carries a code from this list, a `retryable`
 * flag (may the same operation succeed if tried again later?) and, where it wraps another error, a
 * `cause`. The list says for each code whether it can ever be retried: `never` codes are not
 * retryable whatever the caller says; `by-cause` codes take it from the cause (a SQLSTATE class or a
 * socket error, classified in sqlstate.ts). Messages never contain passwords: build them from
 * redacted connection descriptions.
 */
import type { Lsn } from './lsn.ts';
import type { RetryWindow } from './sqlstate.ts';

export const ERROR_CODES = {
  CONFIG_INVALID: { summary: 'bad task file or option: fix the named key', retry: 'never' },
  CONNECTION_FAILED: { summary: 'could not reach or authenticate to a server', retry: 'by-cause' },
  SOURCE_UNSUPPORTED: {
    summary: 'the source server lacks a required setting, version or privilege',
    retry: 'never',
  },
  DESTINATION_UNSUPPORTED: {
    summary: 'the destination server lacks a required setting, version or privilege',
    retry: 'by-cause',
  },
  SCHEMA_SYNC_FAILED: { summary: 'a DDL statement failed on the destination', retry: 'by-cause' },
  DDL_UNSUPPORTED: {
    summary: 'a DDL on a selected table, captured during incremental sync, cannot be followed',
    retry: 'never',
  },
  COPY_FAILED: { summary: 'a table copy failed', retry: 'by-cause' },
  REPLICATION_FAILED: { summary: 'the logical replication stream failed', retry: 'by-cause' },
  DECODE_FAILED: { summary: 'a pgoutput message could not be decoded', retry: 'never' },
  SPILL_FAILED: {
    summary: 'a spill file of a streamed transaction could not be written or read',
    retry: 'by-cause',
  },
  APPLY_FAILED: { summary: 'a change could not be applied on the destination', retry: 'by-cause' },
  APPLY_CONFLICT: {
    summary: 'a change does not fit the destination rows (no row to update or delete)',
    retry: 'by-cause',
  },
  CHECKPOINT_CONFLICT: {
    summary: 'the bookkeeping in the destination belongs to another task, source or run',
    retry: 'by-cause',
  },
  PRECHECK_FAILED: { summary: 'one or more prechecks failed', retry: 'never' },
  VERIFY_MISMATCH: { summary: 'source and destination differ', retry: 'by-cause' },
  CATCH_UP_TIMEOUT: {
    summary: 'incremental sync did not apply up to a live verification snapshot in time',
    retry: 'by-cause',
  },
  SCHEMA_CHANGE_UNSUPPORTED: {
    summary: 'a source schema change the change stream cannot follow: make it on the destination by hand',
    retry: 'never',
  },
  CANCELLED: { summary: 'the operation was stopped on request', retry: 'never' },
  NOT_FOUND: { summary: 'the control plane has no object with that id', retry: 'never' },
  CONFLICT: {
    summary:
      'the request conflicts with the control plane: an id that exists, or a task state that does not allow it',
    retry: 'never',
  },
  UNAUTHORIZED: { summary: 'the API request has no valid bearer token', retry: 'never' },
  STORE_FAILED: {
    summary: 'the control plane store (its PostgreSQL database) could not be reached or updated',
    retry: 'by-cause',
  },
  INTERNAL: { summary: 'a bug in pgdts', retry: 'never' },
} as const satisfies Record<string, { summary: string; retry: 'never' | 'by-cause' }>;

/** A code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of {@link PgdtsError}. */
export interface PgdtsErrorOptions {
  /** May retrying the same operation later succeed? Default false; ignored for `never` codes. */
  readonly retryable?: boolean;
  /** The underlying error, if any. */
  readonly cause?: unknown;
  /** PostgreSQL SQLSTATE when the error came from a server. */
  readonly sqlState?: string;
  /** What an operator can do about it (an SQL statement, a setting, a key to change). */
  readonly hint?: string;
  /**
   * Which retry window bounds retrying it (see sqlstate.ts): `connection` for a server or network
   * that is away, `other` otherwise. Default `other`; meaningless when not retryable.
   */
  readonly retryWindow?: RetryWindow;
}

/** Base class of every error pgdts throws on purpose. */
export class PgdtsError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly sqlState: string | undefined;
  readonly hint: string | undefined;
  /** The retry window of a retryable error: `retry.connectionMinutes` or `retry.otherMinutes`. */
  readonly retryWindow: RetryWindow;

  constructor(code: ErrorCode, message: string, options: PgdtsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PgdtsError';
    this.code = code;
    this.retryable = ERROR_CODES[code].retry === 'by-cause' && (options.retryable ?? false);
    this.sqlState = options.sqlState;
    this.hint = options.hint;
    this.retryWindow = options.retryWindow ?? 'other';
  }
}

/** Invalid task file or option; `path` names the key (`source.port`), `rule` what it must satisfy. */
export class ConfigError extends PgdtsError {
  readonly path: string;
  constructor(path: string, rule: string) {
    super('CONFIG_INVALID', `${path}: ${rule}`);
    this.name = 'ConfigError';
    this.path = path;
  }
}

/**
 * The task's lease is held by another run (sink lease, e.g. sink/postgres/task-lease.ts): not a failure
 * of the task itself. `pgdts run` reports it; a control plane worker lets the task go and tries later.
 */
export class LeaseHeldError extends PgdtsError {
  constructor(message: string, hint: string) {
    super('CHECKPOINT_CONFLICT', message, { hint });
    this.name = 'LeaseHeldError';
  }
}

/** Raised when a stop was requested (SIGINT/SIGTERM); never retried, never a failure. */
export class CancelledError extends PgdtsError {
  constructor(message = 'stopped on request') {
    super('CANCELLED', message);
    this.name = 'CancelledError';
  }
}

/**
 * An UPDATE or DELETE found no destination row to change: the destination differs from the source
 * (a row deleted or changed there, or a filtered copy). Names the table, the key(s) and the LSN.
 * Retryable (`onConflict: error`: the task keeps its position and tries again, so an operator who
 * restores the row lets it continue), except when found in a multi-row statement: that one is
 * replayed at once row by row (`locateUpTo`) to name the exact row.
 */
export class ApplyConflictError extends PgdtsError {
  /** The table, as `schema.name`. */
  readonly table: string;
  /** The rows not found, as `(key columns)=(values)`; several when a multi-row statement missed. */
  readonly keys: readonly string[];
  /**
   * Set when the conflict was found in a multi-row statement: replaying with one statement per change
   * up to this LSN names the exact row.
   */
  readonly locateUpTo: Lsn | undefined;

  constructor(message: string, o: { table: string; keys: readonly string[]; locateUpTo?: Lsn }) {
    super('APPLY_CONFLICT', message, {
      hint: 'compare the row on both sides (pgdts verify) and fix the destination row: the task retries meanwhile; or set onConflict: overwrite',
      retryable: o.locateUpTo === undefined,
    });
    this.name = 'ApplyConflictError';
    this.table = o.table;
    this.keys = o.keys;
    this.locateUpTo = o.locateUpTo;
  }
}

/** Is `e` a {@link PgdtsError} that may succeed when retried? Unknown errors are not retryable. */
export function isRetryable(e: unknown): boolean {
  return e instanceof PgdtsError && e.retryable;
}
