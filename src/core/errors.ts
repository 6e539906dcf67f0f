/**
 * One list of error codes for all of pgdts. Every error carries a code from this list, a `retryable`
 * flag (may the same operation succeed if tried again later?) and, where it wraps another error, a
 * `cause`. Messages never contain passwords: build them from redacted connection descriptions.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'bad task file or option: fix the named key',
  CONNECTION_FAILED: 'could not reach or authenticate to a server',
  SOURCE_UNSUPPORTED: 'the source server lacks a required setting, version or privilege',
  DESTINATION_UNSUPPORTED: 'the destination server lacks a required setting, version or privilege',
  SCHEMA_SYNC_FAILED: 'a DDL statement failed on the destination',
  COPY_FAILED: 'a table copy failed',
  REPLICATION_FAILED: 'the logical replication stream failed',
  DECODE_FAILED: 'a pgoutput message could not be decoded',
  APPLY_FAILED: 'a change could not be applied on the destination',
  CHECKPOINT_CONFLICT: 'the bookkeeping in the destination belongs to another task or is inconsistent',
  PRECHECK_FAILED: 'one or more prechecks failed',
  VERIFY_MISMATCH: 'source and destination differ',
  CANCELLED: 'the operation was stopped on request',
  INTERNAL: 'a bug in pgdts',
} as const;

/** A code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Options of {@link PgdtsError}. */
export interface PgdtsErrorOptions {
  /** May retrying the same operation later succeed? Default false. */
  readonly retryable?: boolean;
  /** The underlying error, if any. */
  readonly cause?: unknown;
  /** PostgreSQL SQLSTATE when the error came from a server. */
  readonly sqlState?: string;
}

/** Base class of every error pgdts throws on purpose. */
export class PgdtsError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly sqlState: string | undefined;

  constructor(code: ErrorCode, message: string, options: PgdtsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PgdtsError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.sqlState = options.sqlState;
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

/** Raised when a stop was requested (SIGINT/SIGTERM); never retried, never a failure. */
export class CancelledError extends PgdtsError {
  constructor(message = 'stopped on request') {
    super('CANCELLED', message);
    this.name = 'CancelledError';
  }
}

/** Is `e` a {@link PgdtsError} that may succeed when retried? Unknown errors are not retryable. */
export function isRetryable(e: unknown): boolean {
  return e instanceof PgdtsError && e.retryable;
}
