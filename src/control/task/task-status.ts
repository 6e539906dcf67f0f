/**
 * What the worker running a task observed, as it writes it to the store once a second
 * (`pgdts_control.task.status`) and as `GET /api/v1/tasks/{id}/status`, `/metrics` and the alert
 * rules read it. Units are in the names: bytes, ms, per second.
 */
import { z } from 'zod';

/** Phases as the progress events name them (src/core/progress.ts). */
export const RUN_PHASES = [
  'precheck',
  'schema',
  'full',
  'indexes',
  'sequences',
  'incremental',
  'done',
] as const;

/** The observed status of a running (or last run of a) task. */
export const runStatusSchema = z
  .object({
    /** The phase the run is in. */
    phase: z.enum(RUN_PHASES),
    /** Full sync: rows and COPY bytes copied so far, and per second over the last interval. */
    full: z.object({
      rows: z.number(),
      bytes: z.number(),
      rowsPerSecond: z.number(),
      bytesPerSecond: z.number(),
      tablesDone: z.int(),
      tablesTotal: z.int(),
    }),
    /** Incremental sync: rows applied, per second, and the change bytes per second. */
    incremental: z.object({
      rowsApplied: z.number(),
      rowsPerSecond: z.number(),
      bytesPerSecond: z.number(),
    }),
    /** Source WAL position minus the flushed LSN, bytes (null before incremental sync). */
    lagBytes: z.number().nullable(),
    /** Now minus the commit time of the last applied transaction, ms (null before incremental sync). */
    lagMs: z.number().nullable(),
    /** WAL the replication slot retains on the source, bytes. */
    retainedWalBytes: z.number().nullable(),
    /** The LSN flushed (acknowledged) to the source. */
    flushedLsn: z.string().nullable(),
    /** Lag of the last heartbeat, ms. */
    heartbeatLagMs: z.number().nullable(),
    /** When the current run of retries began (ISO 8601), null when not retrying. */
    retryingSince: z.string().nullable(),
    /** The last retried error. */
    lastRetry: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
    /**
     * Continuous verification (`verify.continuous`, verify.md [V9]) since the run started: changed
     * rows re-read from both sides, those that differed, samples dropped while checks were behind,
     * and when a difference was last found (ISO 8601). Null when it is off or has checked nothing.
     */
    sampling: z
      .object({
        checkedRows: z.number(),
        differingRows: z.number(),
        droppedSamples: z.number(),
        lastDifferenceAt: z.string().nullable(),
      })
      .nullable()
      .default(null),
  })
  .meta({ id: 'TaskRunStatus' });

/** A validated {@link runStatusSchema}. */
export type RunStatus = z.output<typeof runStatusSchema>;

/** The status of a run that has just started. */
export function initialRunStatus(): RunStatus {
  return {
    phase: 'precheck',
    full: { rows: 0, bytes: 0, rowsPerSecond: 0, bytesPerSecond: 0, tablesDone: 0, tablesTotal: 0 },
    incremental: { rowsApplied: 0, rowsPerSecond: 0, bytesPerSecond: 0 },
    lagBytes: null,
    lagMs: null,
    retainedWalBytes: null,
    flushedLsn: null,
    heartbeatLagMs: null,
    retryingSince: null,
    lastRetry: null,
    sampling: null,
  };
}

/** The last error of a failed run (code from core/errors.ts). */
export const lastErrorSchema = z
  .object({ code: z.string(), message: z.string(), hint: z.string().nullable(), at: z.string() })
  .meta({ id: 'TaskError' });

/** A validated {@link lastErrorSchema}. */
export type LastError = z.output<typeof lastErrorSchema>;

/** Per-table progress of a task, as stored by its worker. */
export interface TableProgress {
  /** `schema.table` as displayed. */
  readonly table: string;
  readonly rows: number;
  /** COPY bytes loaded. */
  readonly bytes: number;
  /** pg_class.reltuples of the source table, -1 when unknown. */
  readonly estimatedRows: number;
  readonly rangesDone: number;
  readonly rangesTotal: number;
  readonly done: boolean;
}

/** One structured log line of a task. */
export interface TaskLogLine {
  readonly time: Date;
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  readonly message: string;
  /** The line's other fields (phase, table, code...). */
  readonly fields: Readonly<Record<string, unknown>>;
}
