/**
 * The API's one error shape, `{code, message, details}`, with `code` from core/errors.ts and the
 * HTTP status each code answers with. Bad input names the field and the rule: zod issues become
 * `details.issues` as `{field, rule}` (never the value given: it may be a password).
 */
import { z } from 'zod';
import { ERROR_CODES, PgdtsError, type ErrorCode } from '../../core/errors.ts';

/** One refused field: `field` is its path (`standby.port`, `body` for the whole body), `rule` what it must be. */
export interface FieldIssue {
  readonly field: string;
  readonly rule: string;
}

/** The body of every error response. */
export interface ApiError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details: { readonly issues?: readonly FieldIssue[]; readonly hint?: string } | null;
}

/** zod schema of {@link ApiError} (for the OpenAPI document). */
export const apiErrorSchema = z
  .object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z
      .object({
        issues: z.array(z.object({ field: z.string(), rule: z.string() })).optional(),
        hint: z.string().optional(),
      })
      .nullable(),
  })
  .meta({ id: 'Error' });

/** The error answers every route documents (OpenAPI `responses`). */
export const API_ERRORS = {
  400: apiErrorSchema,
  401: apiErrorSchema,
  404: apiErrorSchema,
  409: apiErrorSchema,
  503: apiErrorSchema,
} as const;

/** The HTTP status of an error code. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'CONFIG_INVALID':
      return 400;
    case 'UNAUTHORIZED':
      return 401;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'STORE_FAILED':
      return 503;
    case 'CONNECTION_FAILED':
    case 'SOURCE_UNSUPPORTED':
    case 'DESTINATION_UNSUPPORTED':
    case 'SCHEMA_SYNC_FAILED':
    case 'DDL_UNSUPPORTED':
    case 'COPY_FAILED':
    case 'REPLICATION_FAILED':
    case 'DECODE_FAILED':
    case 'SPILL_FAILED':
    case 'APPLY_FAILED':
    case 'APPLY_CONFLICT':
    case 'CHECKPOINT_CONFLICT':
    case 'PRECHECK_FAILED':
    case 'VERIFY_MISMATCH':
    case 'CATCH_UP_TIMEOUT':
    case 'SCHEMA_CHANGE_UNSUPPORTED':
    case 'CANCELLED':
    case 'INTERNAL':
      return 500;
  }
}

/** A 400 CONFIG_INVALID naming each field and its rule; `where` prefixes the fields (`params`, `query`). */
export function invalidInput(issues: readonly FieldIssue[]): PgdtsError & { issues: readonly FieldIssue[] } {
  const e = new PgdtsError(
    'CONFIG_INVALID',
    issues.map((i) => `${i.field}: ${i.rule}`).join('; ') || 'invalid input',
  ) as PgdtsError & { issues: readonly FieldIssue[] };
  Object.defineProperty(e, 'issues', { value: issues, enumerable: false });
  return e;
}

/** Field issues of zod issues: the path joined by dots, an unknown key named itself. */
export function fieldIssuesOf(
  issues: readonly {
    readonly path: readonly PropertyKey[];
    readonly message: string;
    readonly keys?: readonly string[];
  }[],
  prefix?: string,
): FieldIssue[] {
  const join = (path: readonly PropertyKey[]) =>
    [prefix, ...path.map(String)].filter((x) => x !== undefined && x !== '').join('.') || 'body';
  return issues.flatMap((i) =>
    i.keys !== undefined && i.keys.length > 0
      ? i.keys.map((k) => ({ field: join([...i.path, k]), rule: 'is not a known field' }))
      : [{ field: join(i.path), rule: /received undefined$/.test(i.message) ? 'is required' : i.message }],
  );
}

/** The response body of a PgdtsError. */
export function apiErrorOf(e: PgdtsError): ApiError {
  const issues = (e as { issues?: readonly FieldIssue[] }).issues;
  const details =
    issues !== undefined || e.hint !== undefined
      ? { ...(issues !== undefined ? { issues } : {}), ...(e.hint !== undefined ? { hint: e.hint } : {}) }
      : null;
  return { code: e.code, message: e.message, details };
}
