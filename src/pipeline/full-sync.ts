/**
 * Consistent parallel full sync: copies every selected table inside one snapshot, with `jobs`
 * workers, big tables split into ranges, COPY data streamed from the source to the sink.
 *
 * Invariants (see task-lifecycle.md):
 * - T1 a range's rows and its progress marker commit together (the sink's RowWriter does both);
 *   small whole tables go in batches whose rows and markers all commit in one transaction;
 * - T2 a table not `done` is emptied and recopied when the snapshot it was started under is gone
 *   (a snapshot dies with its connection), so no row is ever copied twice, keyless tables included;
 * - T3 leaves of one partitioned table are (re)copied together, under one snapshot;
 * - T4 each table records the LSN of the snapshot it was copied under;
 * - T10 the first failure that cannot be retried stops every worker at once: ranges in flight are
 *   rolled back, nothing more is started.
 */
import type { Readable } from 'node:stream';
import { CancelledError, PgdtsError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import type { ProgressEvent, ProgressListener } from '../core/progress.ts';
import type { LoadMode, RowLoader, RowWriter, CheckpointStore } from '../core/sink.ts';
import type { CopyUnit, Snapshot, SnapshotReader } from '../core/source.ts';
import type { TableTarget } from '../core/table-targets.ts';
import { pacedCopy } from './paced-copy.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import type { FullSyncThrottle } from './task-control.ts';

/**
 * Whole tables up to this size (bytes, the catalog's estimate) are copied in batches: one
 * destination transaction and one progress write for several tables (RowWriter.loadBatch), since
 * with thousands of small tables the per-table BEGIN, progress write and COMMIT cost more than the
 * rows.
 */
export const BATCH_TABLE_MAX_BYTES = 1024 * 1024;
/**
 * Most tables in one batch. Bounds what a crash or a retry loses and copies again, and the locks
 * one destination transaction holds (one ROW EXCLUSIVE per table, in a lock table shared by all
 * sessions: PostgreSQL docs, "Lock Management").
 */
export const BATCH_MAX_TABLES = 50;
/** Most estimated bytes in one batch. */
export const BATCH_MAX_BYTES = 8 * 1024 * 1024;

/** Inputs of {@link runFullSync}. */
export interface FullSyncOptions {
  readonly taskName: string;
  /** The selected tables and what each becomes in the destination. */
  readonly targets: readonly TableTarget[];
  /** How rows the destination holds already are treated (`conflictingTables`). */
  readonly mode: LoadMode;
  readonly snapshot: Snapshot;
  readonly checkpoints: CheckpointStore;
  readonly rows: RowLoader;
  /** Parallel workers (one source and one destination connection each). */
  readonly jobs: number;
  /** Tables bigger than this many bytes are split into ranges. */
  readonly splitAboveBytes: number;
  /** Target range size, bytes. */
  readonly rangeSizeBytes: number;
  readonly retry: RetryPolicy;
  /** `full.throttle`, shared by all workers; undefined: no limit. */
  readonly throttle?: FullSyncThrottle;
  readonly onProgress: ProgressListener;
  readonly signal: AbortSignal;
}

interface TableProgress {
  rangesDone: number;
  rangesTotal: number;
  rows: number;
  bytes: number;
}

/** The `table` progress event of `p`; `inFlight`: bytes copied but not yet committed. */
function tableEvent(
  table: string,
  p: TableProgress,
  estimatedRows: number,
  done: boolean,
  inFlight: number,
): ProgressEvent {
  return {
    kind: 'table',
    table,
    rangesDone: p.rangesDone,
    rangesTotal: p.rangesTotal,
    rows: p.rows,
    bytes: p.bytes + inFlight,
    estimatedRows,
    done,
  };
}

/**
 * Copies every table of `targets` that is not yet `done` in the bookkeeping.
 * @throws {CancelledError} when `signal` aborts (committed ranges stay committed).
 * @throws {PgdtsError} COPY_FAILED after retries are exhausted, or at once for non-retryable errors.
 */
export async function runFullSync(o: FullSyncOptions): Promise<void> {
  const leafTables = o.targets.filter((t) => t.source.relkind === 'r');
  const state = new Map((await o.checkpoints.readTableSync(o.taskName)).map((s) => [displayName(s), s]));
  const rootOf = ({ source: t }: TableTarget) =>
    t.partitionRoot ? displayName(t.partitionRoot) : displayName(t);
  const unfinished = leafTables.filter((t) => state.get(displayName(t.source))?.state !== 'done');
  // [T3] leaves of one partitioned table share a snapshot. Tables merged into one destination
  // table (mergeInto) restart together too: restarting one empties that table for all of them.
  const destOf = (t: TableTarget) => displayName(t.table);
  const restartRoots = new Set(unfinished.map(rootOf));
  const restartDests = new Set(unfinished.map(destOf));
  const restarts = (t: TableTarget) => restartRoots.has(rootOf(t)) || restartDests.has(destOf(t));
  for (let grew = true; grew;) {
    grew = false;
    for (const t of leafTables) {
      if (restarts(t) && !(restartRoots.has(rootOf(t)) && restartDests.has(destOf(t)))) {
        restartRoots.add(rootOf(t));
        restartDests.add(destOf(t));
        grew = true;
      }
    }
  }
  const todo = leafTables.filter(restarts);
  for (const t of leafTables) {
    const s = state.get(displayName(t.source));
    if (s?.state === 'done' && !restarts(t)) {
      o.onProgress({
        kind: 'table',
        table: displayName(t.source),
        rangesDone: s.rangesTotal,
        rangesTotal: s.rangesTotal,
        rows: s.rows,
        bytes: s.bytes,
        estimatedRows: t.source.estimatedRows,
        done: true,
      });
    }
  }
  if (todo.length === 0) return;
  // Largest first: the tail of the run is then many small units spread over all workers.
  const ordered = [...todo].sort((a, b) => b.source.sizeBytes - a.source.sizeBytes);
  const units = await o.snapshot.planUnits(ordered, {
    splitAboveBytes: o.splitAboveBytes,
    rangeSizeBytes: o.rangeSizeBytes,
    formats: o.rows.formats,
    ...(o.throttle !== undefined ? { beforeStatement: () => o.throttle?.queries.take(1, o.signal) } : {}),
  });
  const progress = new Map<string, TableProgress>();
  for (const u of units) {
    const k = displayName(u.table);
    const p = progress.get(k) ?? { rangesDone: 0, rangesTotal: 0, rows: 0, bytes: 0 };
    p.rangesTotal++;
    progress.set(k, p);
  }
  // [T2] restart every unfinished table under this snapshot, in the transaction that resets its progress.
  await o.rows.restartTables(
    o.taskName,
    ordered.map((t) => ({
      table: t.source,
      target: t.table,
      rangesTotal: progress.get(displayName(t.source))?.rangesTotal ?? 1,
    })),
    o.snapshot.lsn,
    o.mode,
  );
  // Interleave ranges of different tables so parallel workers rarely contend on one table.
  const queue = interleave(units);
  // [T10] one stop signal for all workers: the caller's, or the first non-retryable failure.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  let failure: PgdtsError | undefined;
  try {
    const workers = Array.from({ length: Math.min(o.jobs, queue.length) }, () =>
      worker(o, queue, progress, stop.signal).catch((e: unknown) => {
        if (failure === undefined && !(e instanceof CancelledError)) {
          failure = e instanceof PgdtsError ? e : new PgdtsError('INTERNAL', String(e), { cause: e });
        }
        stop.abort();
      }),
    );
    await Promise.all(workers);
  } finally {
    o.signal.removeEventListener('abort', onAbort);
  }
  if (failure !== undefined) throw failure;
  if (o.signal.aborted) throw new CancelledError();
}

function interleave(units: readonly CopyUnit[]): CopyUnit[] {
  const byTable = new Map<string, CopyUnit[]>();
  for (const u of units) {
    const k = displayName(u.table);
    byTable.set(k, [...(byTable.get(k) ?? []), u]);
  }
  const lists = [...byTable.values()];
  const out: CopyUnit[] = [];
  for (let i = 0; out.length < units.length; i++) {
    for (const l of lists) {
      const u = l[i];
      if (u) out.push(u);
    }
  }
  return out;
}

/** Whether a unit may share a batch with others: a whole small table. */
function batchable(u: CopyUnit): boolean {
  return u.range.kind === 'all' && u.table.sizeBytes <= BATCH_TABLE_MAX_BYTES;
}

/**
 * The next units a worker copies in one transaction: the head of `queue`, and the batchable units
 * following it while the batch stays within {@link BATCH_MAX_TABLES} and {@link BATCH_MAX_BYTES}
 * (one unit when the head is not batchable or the writer cannot batch). No more than a fair share of
 * what is left per worker, so the last batches spread over all of them.
 */
function nextBatch(queue: CopyUnit[], canBatch: boolean, jobs: number): CopyUnit[] {
  const first = queue.shift();
  if (first === undefined) return [];
  if (!canBatch || !batchable(first)) return [first];
  const most = Math.max(1, Math.min(BATCH_MAX_TABLES, Math.ceil((queue.length + 1) / jobs)));
  const batch = [first];
  let bytes = first.table.sizeBytes;
  for (let u = queue[0]; u !== undefined && batch.length < most && batchable(u); u = queue[0]) {
    if (bytes + u.table.sizeBytes > BATCH_MAX_BYTES) break;
    bytes += u.table.sizeBytes;
    batch.push(u);
    queue.shift();
  }
  return batch;
}

async function worker(
  o: FullSyncOptions,
  queue: CopyUnit[],
  progress: Map<string, TableProgress>,
  signal: AbortSignal,
): Promise<void> {
  let reader: SnapshotReader | undefined;
  let writer: RowWriter | undefined;
  const reset = async () => {
    await reader?.close();
    await writer?.close();
    reader = undefined;
    writer = undefined;
  };
  try {
    let canBatch = true;
    for (;;) {
      const batch = nextBatch(queue, canBatch, o.jobs);
      const first = batch[0];
      if (first === undefined) break;
      const what =
        batch.length === 1
          ? `copy ${displayName(first.table)} range ${first.rangeNo}`
          : `copy of ${batch.length} tables from ${displayName(first.table)}`;
      await withRetry(o.retry, signal, what, async () => {
        if (signal.aborted) throw new CancelledError();
        try {
          reader ??= await o.snapshot.openReader();
          writer ??= await o.rows.openWriter();
          if (writer.loadBatch === undefined) canBatch = false;
          // batch[0], not first: a retry of a batch loaded one unit at a time starts at the first
          // unit not yet loaded.
          const head = batch[0];
          if (batch.length === 1 && head !== undefined)
            await copyUnit(o, head, reader, writer, progress, signal);
          else if (batch.length > 1) await copyBatch(o, batch, reader, writer, progress, signal);
        } catch (e) {
          await reset();
          if (e instanceof PgdtsError) throw e;
          throw new PgdtsError('INTERNAL', `${what}: ${String(e)}`, { cause: e });
        }
      });
    }
  } finally {
    await reset();
  }
}

/**
 * Copies `batch` (whole small tables) in one destination transaction with one progress write
 * (RowWriter.loadBatch): every table of it is copied and done, or none is. Progress is reported per
 * table once the batch committed. A writer without loadBatch copies the units one at a time,
 * removing each from `batch` once loaded.
 */
async function copyBatch(
  o: FullSyncOptions,
  batch: CopyUnit[],
  reader: SnapshotReader,
  writer: RowWriter,
  progress: Map<string, TableProgress>,
  signal: AbortSignal,
): Promise<void> {
  if (writer.loadBatch === undefined) {
    // Each unit commits on its own here: a unit is dropped from the batch once loaded, so a retry
    // of the batch goes on with the units not yet loaded and never loads one twice.
    for (let u = batch[0]; u !== undefined; u = batch[0]) {
      await copyUnit(o, u, reader, writer, progress, signal);
      batch.shift();
    }
    return;
  }
  let current: { destroy(e: Error): void } | undefined;
  const onAbort = () => current?.destroy(new CancelledError());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const results = await writer.loadBatch(
      o.taskName,
      batch,
      async (u) => {
        const { raw, data } = await openCopy(o, u, reader, signal);
        current = raw;
        return data;
      },
      () => undefined,
      o.mode,
    );
    for (const [i, u] of batch.entries()) {
      const r = results[i];
      if (r === undefined) continue;
      const name = displayName(u.table);
      const p = progress.get(name) ?? { rangesDone: 0, rangesTotal: 1, rows: 0, bytes: 0 };
      p.rangesDone++;
      p.rows += r.rows;
      p.bytes += r.bytes;
      o.onProgress(tableEvent(name, p, u.table.estimatedRows, r.tableDone, 0));
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Starts the source COPY of `u`: `raw` the source stream (destroy it to cancel), `data` what to load
 * (`raw` paced by full.throttle: the COPY is a statement, its rows and bytes pass through the pacer).
 * @throws {CancelledError} when `signal` aborted while waiting for the throttle.
 */
async function openCopy(
  o: FullSyncOptions,
  u: CopyUnit,
  reader: SnapshotReader,
  signal: AbortSignal,
): Promise<{ raw: Readable; data: Readable }> {
  const q = o.throttle?.queries.take(1, signal);
  if (q !== undefined) await q;
  if (signal.aborted) throw new CancelledError();
  const raw = reader.copy(u);
  return { raw, data: o.throttle !== undefined ? pacedCopy(raw, u.format, o.throttle.flow, signal) : raw };
}

async function copyUnit(
  o: FullSyncOptions,
  u: CopyUnit,
  reader: SnapshotReader,
  writer: RowWriter,
  progress: Map<string, TableProgress>,
  signal: AbortSignal,
): Promise<void> {
  const name = displayName(u.table);
  const p = progress.get(name) ?? { rangesDone: 0, rangesTotal: 1, rows: 0, bytes: 0 };
  let lastReport = 0;
  /** `inFlight`: bytes of this range not yet committed (counted in p.bytes after the commit). */
  const report = (done: boolean, inFlight: number) =>
    o.onProgress(tableEvent(name, p, u.table.estimatedRows, done, inFlight));
  const { raw, data } = await openCopy(o, u, reader, signal);
  const onAbort = () => raw.destroy(new CancelledError());
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const r = await writer.load(
      o.taskName,
      u,
      data,
      (bytes) => {
        const now = Date.now();
        if (now - lastReport > 500) {
          lastReport = now;
          report(false, bytes);
        }
      },
      o.mode,
    );
    p.rangesDone++;
    p.rows += r.rows;
    p.bytes += r.bytes;
    report(r.tableDone, 0);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
