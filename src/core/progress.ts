/**
 * Progress events of a running task. The pipeline emits them; the CLI renders them (bar on a TTY,
 * plain lines otherwise) and the status writer persists them.
 */
import type { RowDifference } from './row-difference.ts';
import type { ApplyTally } from './sink.ts';
import type { RetryWindow } from './sqlstate.ts';

/** Phase names shown to users, in order. */
export type Phase = 'precheck' | 'schema' | 'full' | 'indexes' | 'sequences' | 'incremental' | 'done';

/** Something worth showing happened. */
export type ProgressEvent =
  | { readonly kind: 'phase'; readonly phase: Phase; readonly detail?: string }
  | {
      readonly kind: 'table';
      readonly table: string;
      readonly rangesDone: number;
      readonly rangesTotal: number;
      /** Rows committed so far (COPY row counts). */
      readonly rows: number;
      /** Bytes of COPY data moved so far. */
      readonly bytes: number;
      /** pg_class.reltuples estimate, -1 when unknown. */
      readonly estimatedRows: number;
      readonly done: boolean;
    }
  | {
      readonly kind: 'log';
      readonly level: 'info' | 'warn' | 'error';
      readonly message: string;
      /** Set on the line of a retry: the error retried and its window (pipeline/retry.ts). */
      readonly retry?: { readonly code: string; readonly window: RetryWindow };
    }
  | {
      readonly kind: 'status';
      /** Source WAL position minus flushed LSN, bytes. */
      readonly lagBytes: number;
      /** Now minus commit time of the last applied transaction, ms (0 when caught up and idle). */
      readonly lagMs: number;
      /** Rows applied per second over the last interval. */
      readonly rowsPerSec: number;
      /** Change data (pgoutput tuple bytes) applied per second over the last interval. */
      readonly bytesPerSec: number;
      /** WAL retained by the replication slot, bytes. */
      readonly retainedWalBytes: number;
      readonly flushedLsn: string;
      readonly rowsApplied: number;
      /** Changes received but not applied as such, since the task started. */
      readonly tally: ApplyTally;
      /** Lag of the last heartbeat, ms: from its commit on the source to its arrival; absent without one. */
      readonly heartbeatLagMs?: number;
    }
  | {
      /** Continuous verification checked a sample of one table's changed rows (verify.md [V9]). */
      readonly kind: 'sample';
      /** The destination table. */
      readonly table: string;
      /** Rows compared at a consistent point in this check. */
      readonly checked: number;
      /** Rows that changed on the source in every re-check round (not compared). */
      readonly unsettled: number;
      /** Confirmed differences in this check. */
      readonly differing: number;
      /** The first of them (values in the order of `columns`). */
      readonly differences: readonly RowDifference[];
      /** The destination columns and key columns the differences' values and keys are in. */
      readonly columns: readonly string[];
      readonly keyColumns: readonly string[];
      /** Since the task started: rows compared, differences confirmed, samples dropped (checks behind). */
      readonly totalChecked: number;
      readonly totalDiffering: number;
      readonly dropped: number;
    };

/** Receives progress events; must not throw. */
export type ProgressListener = (e: ProgressEvent) => void;
