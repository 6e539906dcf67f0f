/**
 * Progress of a verification (verify.md [V12]): what {@link verifyTask} reports as it goes — each
 * finished table's result, and inside a keyed table the end key of the last compared chunk with the
 * table's figures so far — and where a stopped run resumes from. Where it is kept is the caller's:
 * the destination's bookkeeping for `pgdts verify` ({@link BookVerifyProgress}), the control store
 * for a job of `pgdts serve`.
 */
import { createHash } from 'node:crypto';
import type { RowDifference } from '../../core/row-difference.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import type { VerifyProgressBook, StoredVerifyProgress } from '../../core/verify-progress-book.ts';
import type { DifferingChunk, TableVerifyResult, VerifyMode } from './verify-report.ts';

/** A keyed table compared up to the end of a chunk: what a resumed run goes on from. */
export interface PartialTableVerify {
  /** The destination table, `schema.name` (as `displayName` prints it). */
  readonly table: string;
  /** End key of the last compared chunk (the source key's column texts); the next chunk starts after it. */
  readonly after: readonly string[];
  /** Chunks compared so far. */
  readonly chunks: number;
  readonly sourceRows: number;
  readonly destinationRows: number;
  readonly firstDifferingChunk?: DifferingChunk;
  /** `rows` mode: the differing rows found so far (at most `maxDifferences`), and whether cut. */
  readonly differences: readonly RowDifference[];
  readonly truncated: boolean;
  /** Time spent on the table so far, ms. */
  readonly elapsedMs: number;
}

/** Where a stopped run was: its finished tables and the table it was in. */
export interface VerifyResumePoint {
  readonly tables: readonly TableVerifyResult[];
  readonly partial: PartialTableVerify | undefined;
}

/**
 * The progress channel of one run. Calls are awaited before the next statement, so a saved chunk is
 * never ahead of what was compared; a failing save stops the run (its error is thrown by verifyTask).
 */
export interface VerifyProgress {
  /** Where to go on from; undefined: from the start. */
  readonly resumeFrom: VerifyResumePoint | undefined;
  /** A table was compared to its end (also a table with an `error`). */
  tableDone(r: TableVerifyResult): Promise<void>;
  /** A chunk of a keyed table was compared (not after its last chunk: `tableDone` follows). */
  chunkDone(p: PartialTableVerify): Promise<void>;
}

/**
 * What a resumed run must compare like the stopped one: the mode and sizes, the tables asked for,
 * and a digest of the task's `objects` (selection, mappings, filters, excluded columns).
 */
export interface VerifyRunOptions {
  readonly mode: VerifyMode;
  readonly chunkRows: number;
  readonly leafRows: number;
  readonly maxDifferences: number;
  readonly onlyTables: readonly string[] | null;
  /** sha256 (hex) of the task's `objects` as JSON. */
  readonly objects: string;
}

/** The {@link VerifyRunOptions} of a run of `task` with the effective settings `o`. */
export function verifyRunOptions(
  task: TaskConfig,
  o: {
    readonly mode: VerifyMode;
    readonly chunkRows: number;
    readonly leafRows: number;
    readonly maxDifferences: number;
    readonly onlyTables?: readonly string[] | undefined;
  },
): VerifyRunOptions {
  return {
    mode: o.mode,
    chunkRows: o.chunkRows,
    leafRows: o.leafRows,
    maxDifferences: o.maxDifferences,
    onlyTables: o.onlyTables === undefined ? null : [...o.onlyTables].sort(),
    objects: createHash('sha256').update(JSON.stringify(task.objects)).digest('hex'),
  };
}

/**
 * The options in which a saved run (`saved`, JSON read back) differs from `now`, each with the saved
 * value and the current one; empty when the run may be resumed.
 */
export function differingRunOptions(
  saved: unknown,
  now: VerifyRunOptions,
): { readonly key: keyof VerifyRunOptions; readonly saved: unknown; readonly now: unknown }[] {
  const s = (typeof saved === 'object' && saved !== null ? saved : {}) as Record<string, unknown>;
  const out: { key: keyof VerifyRunOptions; saved: unknown; now: unknown }[] = [];
  for (const key of Object.keys(now) as (keyof VerifyRunOptions)[]) {
    if (JSON.stringify(s[key] ?? null) !== JSON.stringify(now[key])) {
      out.push({ key, saved: s[key] ?? null, now: now[key] });
    }
  }
  return out;
}

/** The resume point of saved progress (JSON written by {@link BookVerifyProgress} or the store). */
export function resumePointOf(saved: Pick<StoredVerifyProgress, 'tables' | 'partial'>): VerifyResumePoint {
  return {
    tables: saved.tables as TableVerifyResult[],
    partial: (saved.partial ?? undefined) as PartialTableVerify | undefined,
  };
}

/** Progress kept in a sink's {@link VerifyProgressBook} by run `runId` (after `book.begin`). */
export class BookVerifyProgress implements VerifyProgress {
  constructor(
    private readonly book: VerifyProgressBook,
    private readonly taskName: string,
    private readonly runId: string,
    readonly resumeFrom: VerifyResumePoint | undefined,
  ) {}

  tableDone(r: TableVerifyResult): Promise<void> {
    return this.book.addTable(this.taskName, this.runId, r);
  }

  chunkDone(p: PartialTableVerify): Promise<void> {
    return this.book.setPartial(this.taskName, this.runId, p);
  }

  /** Deletes the saved progress: the run finished. */
  finish(): Promise<void> {
    return this.book.clear(this.taskName, this.runId);
  }
}
