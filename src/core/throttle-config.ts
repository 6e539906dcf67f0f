/**
 * Throttle keys of the task file (`full.throttle`, `incremental.throttle`): upper bounds on how fast a
 * task may read the source and write the destination, so that a migration leaves room for the
 * applications on both servers. The only keys that may change while a task runs (SIGHUP, or
 * `TaskControl.updateThrottle`). Enforced in src/pipeline/throttle.ts; see README "Throttling".
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';

/** Bytes in a megabyte of `megabytesPerSecond`: 1 MB = 1 MiB = 1024 * 1024 bytes. */
export const BYTES_PER_MEGABYTE = 1024 * 1024;

const rate = (unit: string) =>
  z
    .number({ error: `must be a number of ${unit}` })
    .positive(`must be more than 0 ${unit}`)
    .max(1e12, `must be at most 1e12 ${unit}`);

/** zod schema of `full.throttle`. */
export const fullThrottleSchema = z.strictObject({
  /** Statements sent to the source during full sync (COPY statements, range planning), per second. */
  queriesPerSecond: rate('queries per second').optional(),
  /** Rows copied per second, over all copy workers. */
  rowsPerSecond: rate('rows per second').optional(),
  /** COPY data copied per second, MB (MiB) over all copy workers. */
  megabytesPerSecond: rate('MB per second').optional(),
});

/** zod schema of `incremental.throttle`. */
export const incrementalThrottleSchema = z.strictObject({
  /** Changes (row inserts, updates, deletes) passed to the destination per second. */
  rowsPerSecond: rate('rows per second').optional(),
  /** Change data (as received from the source) passed to the destination per second, MB (MiB). */
  megabytesPerSecond: rate('MB per second').optional(),
});

/**
 * zod schema of `verify`: the pace of `pgdts verify`, so that comparing a live production table
 * leaves room for its applications. Rows and bytes are those read on each side (hashed, counted or
 * fetched), summed over both sides.
 */
export const verifySchema = z.strictObject({
  /** Rows read per second, both sides together. */
  rowsPerSecond: rate('rows per second').optional(),
  /** Row text read (hashed or fetched) per second, MB (MiB), both sides together. */
  megabytesPerSecond: rate('MB per second').optional(),
});

/** `verify`: every limit optional (absent: no limit). */
export type VerifyConfig = z.infer<typeof verifySchema>;

/** `full.throttle`: every limit optional (absent: no limit). */
export type FullThrottleConfig = z.infer<typeof fullThrottleSchema>;

/** `incremental.throttle`: every limit optional (absent: no limit). */
export type IncrementalThrottleConfig = z.infer<typeof incrementalThrottleSchema>;

/** Both throttle keys of a task; a side left out of an update keeps its limits. */
export interface ThrottleUpdate {
  readonly full?: FullThrottleConfig;
  readonly incremental?: IncrementalThrottleConfig;
}

/**
 * Validates a throttle update from outside a task file (the control plane).
 * @throws {ConfigError} naming the key (`full.throttle.rowsPerSecond`) and its rule.
 */
export function parseThrottleUpdate(doc: unknown): ThrottleUpdate {
  const r = z
    .strictObject({ full: fullThrottleSchema.optional(), incremental: incrementalThrottleSchema.optional() })
    .safeParse(doc);
  if (r.success) {
    return {
      ...(r.data.full !== undefined ? { full: r.data.full } : {}),
      ...(r.data.incremental !== undefined ? { incremental: r.data.incremental } : {}),
    };
  }
  const i = r.error.issues[0];
  const unknown = i?.code === 'unrecognized_keys';
  const [side, ...rest] = [...(i?.path ?? []), ...(unknown ? [i.keys[0] ?? ''] : [])].map(String);
  // Named as in a task file: { full: { rowsPerSecond } } is full.throttle.rowsPerSecond.
  const known = side === 'full' || side === 'incremental';
  const key = known ? [side, 'throttle', ...rest].join('.') : (side ?? '(root)');
  const rule = unknown
    ? known
      ? 'unknown key'
      : 'unknown key (give full and/or incremental)'
    : (i?.message ?? 'invalid');
  throw new ConfigError(key, rule);
}
