/**
 * What a worker keeps of a running task's progress events until it writes them to the store: the
 * task's {@link RunStatus}, the tables whose progress changed, its log lines (the lines `pgdts run`
 * prints, from log/event-lines.ts) and the retries counted. Pure: the worker calls {@link take} on
 * each write.
 */
import type { ProgressEvent } from '../../core/progress.ts';
import { EventLines } from '../../log/event-lines.ts';
import {
  initialRunStatus,
  type RunStatus,
  type TableProgress,
  type TaskLogLine,
} from '../task/task-status.ts';

/** What accumulated since the previous {@link RunObserver.take}. */
export interface Observations {
  readonly status: RunStatus;
  readonly tables: readonly TableProgress[];
  readonly logs: readonly TaskLogLine[];
  readonly retries: number;
}

/** How often a status line goes to the task's log, ms. */
const STATUS_LINE_EVERY_MS = 60_000;

/** Sample checks with differences kept for the next sample verification job ([V9]). */
const MAX_SAMPLE_CHECKS = 100;

/** Most log lines buffered between two writes; beyond, the oldest are dropped (and counted). */
const MAX_BUFFERED_LINES = 5_000;

/** Collects the progress of one run. */
export class RunObserver {
  #status: RunStatus = initialRunStatus();
  readonly #tables = new Map<string, TableProgress>();
  readonly #dirty = new Set<string>();
  #logs: TaskLogLine[] = [];
  #dropped = 0;
  #retries = 0;
  /** The `phase` field of log lines: `start` until the first phase event (as pgdts run). */
  #logPhase = 'start';
  #lastStatusLine = -Infinity;
  readonly #lines: EventLines;
  /** Sample checks that found differences since the last take (the worker stores them as verifications). */
  #sampleDifferences: Extract<ProgressEvent, { kind: 'sample' }>[] = [];
  /** Full sync rate window: rows and bytes at the previous take. */
  #window = { at: Date.now(), rows: 0, bytes: 0 };

  /** @param now the clock (ms), for rates and log times. */
  constructor(private readonly now: () => number = Date.now) {
    this.#window.at = now();
    this.#lines = new EventLines(now);
  }

  /** The sample checks that found differences since the last call ([V9]). */
  takeSampleDifferences(): Extract<ProgressEvent, { kind: 'sample' }>[] {
    const out = this.#sampleDifferences;
    this.#sampleDifferences = [];
    return out;
  }

  /** Takes one event (never throws). */
  handle(e: ProgressEvent): void {
    // As pgdts run does: a phase's own line carries the new phase.
    if (e.kind === 'phase') this.#logPhase = e.phase;
    const line = this.#lines.line(e);
    // The status is the task's status route; its line once a minute keeps a history without
    // crowding the kept lines out.
    const statusLine = e.kind === 'status' && this.now() - this.#lastStatusLine >= STATUS_LINE_EVERY_MS;
    if (line !== undefined && (e.kind !== 'status' || statusLine)) {
      if (statusLine) this.#lastStatusLine = this.now();
      this.log(line.level, line.message, { ...line.fields });
    }
    switch (e.kind) {
      case 'phase':
        this.#status = { ...this.#status, phase: e.phase };
        return;
      case 'table': {
        this.#tables.set(e.table, {
          table: e.table,
          rows: e.rows,
          bytes: e.bytes,
          estimatedRows: e.estimatedRows,
          rangesDone: e.rangesDone,
          rangesTotal: e.rangesTotal,
          done: e.done,
        });
        this.#dirty.add(e.table);
        this.#progressed();
        return;
      }
      case 'status':
        this.#status = {
          ...this.#status,
          lagBytes: e.lagBytes,
          lagMs: e.lagMs,
          retainedWalBytes: e.retainedWalBytes,
          flushedLsn: e.flushedLsn,
          heartbeatLagMs: e.heartbeatLagMs ?? null,
          incremental: {
            rowsApplied: e.rowsApplied,
            rowsPerSecond: e.rowsPerSec,
            bytesPerSecond: e.bytesPerSec,
          },
        };
        this.#progressed();
        return;
      case 'sample':
        this.#status = {
          ...this.#status,
          sampling: {
            checkedRows: e.totalChecked,
            differingRows: e.totalDiffering,
            droppedSamples: e.dropped,
            lastDifferenceAt:
              e.differing > 0
                ? new Date(this.now()).toISOString()
                : (this.#status.sampling?.lastDifferenceAt ?? null),
          },
        };
        if (e.differing > 0) {
          // Kept until the worker stores them (at most one job a minute): the last 100 checks.
          this.#sampleDifferences.push(e);
          if (this.#sampleDifferences.length > MAX_SAMPLE_CHECKS) this.#sampleDifferences.shift();
        }
        return;
      case 'log':
        if (e.retry !== undefined) {
          this.#retries++;
          const at = new Date(this.now()).toISOString();
          this.#status = {
            ...this.#status,
            retryingSince: this.#status.retryingSince ?? at,
            lastRetry: { code: e.retry.code, message: e.message, at },
          };
        }
        return;
    }
  }

  /** Adds a line of the worker's own (a start, a stop, the error that ended the run). */
  log(level: TaskLogLine['level'], message: string, fields: Record<string, unknown> = {}): void {
    if (this.#logs.length >= MAX_BUFFERED_LINES) {
      this.#logs.shift();
      this.#dropped++;
    }
    this.#logs.push({
      time: new Date(this.now()),
      level,
      message,
      fields: { phase: this.#logPhase, ...fields },
    });
  }

  /** The status as it stands. */
  get status(): RunStatus {
    return this.#status;
  }

  /** What accumulated since the last call, with the full sync rates over that interval. */
  take(): Observations {
    const now = this.now();
    let rows = 0;
    let bytes = 0;
    let done = 0;
    for (const t of this.#tables.values()) {
      rows += t.rows;
      bytes += t.bytes;
      if (t.done) done++;
    }
    const dt = (now - this.#window.at) / 1000;
    const full = {
      rows,
      bytes,
      rowsPerSecond: dt > 0 ? Math.max(0, (rows - this.#window.rows) / dt) : 0,
      bytesPerSecond: dt > 0 ? Math.max(0, (bytes - this.#window.bytes) / dt) : 0,
      tablesDone: done,
      tablesTotal: this.#tables.size,
    };
    this.#window = { at: now, rows, bytes };
    this.#status = { ...this.#status, full };
    if (this.#dropped > 0) {
      this.#logs.unshift({
        time: new Date(now),
        level: 'warn',
        message: `${this.#dropped} log lines dropped: more than ${MAX_BUFFERED_LINES} between two writes to the store`,
        fields: {},
      });
      this.#dropped = 0;
    }
    const out: Observations = {
      status: this.#status,
      tables: [...this.#dirty].flatMap((t) => {
        const p = this.#tables.get(t);
        return p === undefined ? [] : [p];
      }),
      logs: this.#logs,
      retries: this.#retries,
    };
    this.#dirty.clear();
    this.#logs = [];
    this.#retries = 0;
    return out;
  }

  /**
   * Gives back what a failed write took, so that the next write carries it (the status is current
   * anyway; tables and lines are merged, retries added).
   */
  restore(o: Observations): void {
    for (const t of o.tables) if (!this.#dirty.has(t.table)) this.#dirty.add(t.table);
    this.#logs = [...o.logs, ...this.#logs].slice(-MAX_BUFFERED_LINES);
    this.#retries += o.retries;
  }

  /** Work moved on (a table copied rows, the stream reported status): a run of retries is over. */
  #progressed(): void {
    if (this.#status.retryingSince !== null) this.#status = { ...this.#status, retryingSince: null };
  }
}
