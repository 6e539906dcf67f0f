/**
 * Consistent parallel full sync: copies every selected table inside one snapshot, with `jobs`
 * workers, big tables split into ranges, COPY data streamed from the source to the sink.
 *
 * Invariants (see task-lifecycle.md):
 * - T1 a range's rows and its progress marker commit together (the sink's RowWriter does both);
 * - T2 a table not `done` is emptied and recopied when the snapshot it was started under is gone
 *   (a snapshot dies with its connection), so no row is ever copied twice, keyless tables included;
 * - T3 leaves of one partitioned table are (re)copied together, under one snapshot;
 * - T4 each table records the LSN of the snapshot it was copied under;
 * - T10 the first failure that cannot be retried stops every worker at once: ranges in flight are
 *   rolled back, nothing more is started.
 */
import { CancelledError, PgdtsError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { LoadMode, RowLoader, RowWriter, CheckpointStore } from '../core/sink.ts';
import type { CopyUnit, Snapshot, SnapshotReader } from '../core/source.ts';
import type { TableTarget } from '../core/table-targets.ts';
import { pacedCopy } from './paced-copy.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import type { FullSyncThrottle } from './task-control.ts';

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
    for (let unit = queue.shift(); unit; unit = queue.shift()) {
      const u = unit;
      await withRetry(o.retry, signal, `copy ${displayName(u.table)} range ${u.rangeNo}`, async () => {
        if (signal.aborted) throw new CancelledError();
        try {
          reader ??= await o.snapshot.openReader();
          writer ??= await o.rows.openWriter();
          await copyUnit(o, u, reader, writer, progress, signal);
        } catch (e) {
          await reset();
          if (e instanceof PgdtsError) throw e;
          throw new PgdtsError('INTERNAL', `copy of ${displayName(u.table)}: ${String(e)}`, { cause: e });
        }
      });
    }
  } finally {
    await reset();
  }
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
    o.onProgress({
      kind: 'table',
      table: name,
      rangesDone: p.rangesDone,
      rangesTotal: p.rangesTotal,
      rows: p.rows,
      bytes: p.bytes + inFlight,
      estimatedRows: u.table.estimatedRows,
      done,
    });
  // full.throttle: the COPY is a statement; its rows and bytes pass through the pacer.
  const q = o.throttle?.queries.take(1, signal);
  if (q !== undefined) await q;
  if (signal.aborted) throw new CancelledError();
  const raw = reader.copy(u);
  const data = o.throttle !== undefined ? pacedCopy(raw, u.format, o.throttle.flow, signal) : raw;
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
