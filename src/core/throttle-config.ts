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
 * What a verification compares: `count` row counts, `hash` row counts and content hashes per key
 * chunk (the default), `rows` as `hash`, then narrows each differing chunk to its differing rows.
 * In CLI help order; also the API's `mode` values and the store's.
 */
export const VERIFY_MODES = ['count', 'hash', 'rows'] as const;

/** One of {@link VERIFY_MODES}. */
export type VerifyMode = (typeof VERIFY_MODES)[number];

/**
 * zod schema of `verify.schedule` (verify.md [V7]): `pgdts serve` queues a verification job of the
 * task when none was created in the last `everyMinutes` minutes. `tables` are destination
 * `schema.table` names (default: every table of the task). `pgdts verify TASK_FILE` ignores it.
 */
export const verifyScheduleSchema = z.strictObject({
  everyMinutes: z
    .int({ error: 'must be a whole number of minutes' })
    .min(1, { error: 'must be at least 1 minute' })
    .max(525_600, { error: 'must be at most 525600 minutes (a year)' }),
  mode: z.enum(VERIFY_MODES, { error: `must be ${VERIFY_MODES.join(', ')}` }).default('hash'),
  tables: z
    .array(z.string().regex(/^[^.\s]+\.[^.\s]+$/, { error: 'must be a destination schema.table' }))
    .min(1, { error: 'must list at least one table (leave it out for all)' })
    .optional(),
});

/** A validated `verify.schedule` (defaults applied). */
export type VerifySchedule = z.output<typeof verifyScheduleSchema>;

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
  /**
   * Continuous verification (verify.md [V9]): while incremental sync runs, a sample of the rows each
   * destination transaction wrote is re-read from both sides at a consistent point.
   */
  continuous: z.boolean({ error: 'must be true or false' }).default(false),
  /** Share of the changed rows sampled by `continuous`, in (0, 1]; default 0.01 (1 %). */
  sampleRate: z
    .number({ error: 'must be a number in (0, 1]' })
    .gt(0, 'must be more than 0')
    .max(1, 'must be at most 1 (every changed row)')
    .default(0.01),
  /** Control plane only: a verification job queued every `everyMinutes` (verify.md [V7]). */
  schedule: verifyScheduleSchema.optional(),
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
