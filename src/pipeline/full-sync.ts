/**
 * Consistent parallel full sync: copies every selected table inside one exported snapshot, with
 * `jobs` workers, big tables split into ranges, COPY bytes streamed from source to destination
 * without decoding rows.
 *
 * Invariants (see task-lifecycle.md):
 * - a range's rows and its `pgdts.range_sync` marker commit in the same destination transaction;
 * - a table not `done` is truncated and recopied when the snapshot it was started under is gone (an
 *   exported snapshot dies with its process), so no row is ever copied twice, keyless tables included;
 * - each table records the LSN of the snapshot it was copied under; incremental sync applies to it only
 *   the transactions committing at or after that LSN.
 */
import type pg from 'pg';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CancelledError, PgdtsError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import { connect, wrapPgError, type ConnectionParams } from '../pg/connection.ts';
import {
  copyFormatFor,
  copyOut,
  openSnapshotReader,
  planRanges,
  type CopyRange,
} from '../source/postgres/copy-out.ts';
import type { ExportedSnapshot } from '../source/postgres/replication-slot.ts';
import type { SelectedTable } from '../source/postgres/selected-tables.ts';
import { finishRange, readTableSync, startTableSync } from '../sink/postgres/bookkeeping.ts';
import { copyIn, truncateTable } from '../sink/postgres/copy-in.ts';
import type { ProgressListener } from './progress.ts';
import { withRetry, type RetryPolicy } from './retry.ts';

/** Inputs of {@link runFullSync}. */
export interface FullSyncOptions {
  readonly taskName: string;
  readonly source: ConnectionParams;
  readonly destination: ConnectionParams;
  readonly tables: readonly SelectedTable[];
  readonly snapshot: ExportedSnapshot;
  /** Parallel workers (one source and one destination connection each). */
  readonly jobs: number;
  readonly splitAboveBytes: number;
  readonly rangeSizeBytes: number;
  readonly retry: RetryPolicy;
  readonly onProgress: ProgressListener;
  readonly signal: AbortSignal;
}

interface Unit {
  readonly table: SelectedTable;
  readonly rangeNo: number;
  readonly range: CopyRange;
  readonly format: 'binary' | 'text';
}

interface TableProgress {
  rangesDone: number;
  rangesTotal: number;
  rows: number;
  bytes: number;
}

/**
 * Copies every table of `tables` that is not yet `done` in the bookkeeping.
 * @throws {CancelledError} when `signal` aborts (committed ranges stay committed).
 * @throws {PgdtsError} COPY_FAILED after retries are exhausted, or at once for non-retryable errors.
 */
export async function runFullSync(o: FullSyncOptions): Promise<void> {
  const leafTables = o.tables.filter((t) => t.relkind === 'r');
  const dst = await connect(o.destination, { role: 'destination', applicationName: 'pgdts-copy' });
  let reader: pg.Client | undefined;
  try {
    const state = new Map((await readTableSync(dst, o.taskName)).map((s) => [`${s.schema}.${s.name}`, s]));
    const rootOf = (t: SelectedTable) => (t.partitionRoot ? displayName(t.partitionRoot) : displayName(t));
    const unfinished = leafTables.filter((t) => state.get(`${t.schema}.${t.name}`)?.state !== 'done');
    // [T3] leaves of one partitioned table share a snapshot, so changes published via the root can be
    // filtered with one snapshot LSN.
    const restartRoots = new Set(unfinished.map(rootOf));
    const todo = leafTables.filter((t) => restartRoots.has(rootOf(t)));
    const progress = new Map<string, TableProgress>();
    for (const t of leafTables) {
      const s = state.get(`${t.schema}.${t.name}`);
      if (s?.state === 'done' && !restartRoots.has(rootOf(t))) {
        o.onProgress({
          kind: 'table',
          table: displayName(t),
          rangesDone: s.rangesTotal,
          rangesTotal: s.rangesTotal,
          rows: s.rows,
          bytes: s.bytes,
          estimatedRows: t.estimatedRows,
          done: true,
        });
      }
    }
    if (todo.length === 0) return;
    reader = await openSnapshotReader(o.source, o.snapshot.snapshotName);
    const units: Unit[] = [];
    // Largest first: the tail of the run is then many small units spread over all workers.
    const ordered = [...todo].sort((a, b) => b.sizeBytes - a.sizeBytes);
    for (const t of ordered) {
      const ranges = await planRanges(reader, t, {
        splitAboveBytes: o.splitAboveBytes,
        rangeSizeBytes: o.rangeSizeBytes,
      });
      const format = await copyFormatFor(reader, t);
      ranges.forEach((range, rangeNo) => units.push({ table: t, rangeNo, range, format }));
      progress.set(displayName(t), { rangesDone: 0, rangesTotal: ranges.length, rows: 0, bytes: 0 });
    }
    await reader.query('COMMIT');
    await reader.end();
    reader = undefined;
    // Restart every unfinished table under this snapshot: rows copied under an older one are dropped
    // in the same transaction that resets its progress.
    await dst.query('BEGIN');
    for (const t of ordered) {
      await truncateTable(dst, t);
      await startTableSync(dst, o.taskName, {
        schema: t.schema,
        name: t.name,
        rangesTotal: progress.get(displayName(t))?.rangesTotal ?? 1,
        snapshotLsn: o.snapshot.lsn,
      });
    }
    await dst.query('COMMIT');
    // Interleave ranges of different tables so parallel workers rarely contend on one table.
    const queue = interleave(units);
    const workers = Array.from({ length: Math.min(o.jobs, queue.length) }, () => worker(o, queue, progress));
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await reader?.end().catch(() => undefined);
    await dst.end().catch(() => undefined);
  }
}

function interleave(units: Unit[]): Unit[] {
  const byTable = new Map<string, Unit[]>();
  for (const u of units) {
    const k = displayName(u.table);
    byTable.set(k, [...(byTable.get(k) ?? []), u]);
  }
  const lists = [...byTable.values()];
  const out: Unit[] = [];
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
  queue: Unit[],
  progress: Map<string, TableProgress>,
): Promise<void> {
  let src: pg.Client | undefined;
  let dst: pg.Client | undefined;
  const reset = async () => {
    await src?.end().catch(() => undefined);
    await dst?.end().catch(() => undefined);
    src = undefined;
    dst = undefined;
  };
  try {
    for (let unit = queue.shift(); unit; unit = queue.shift()) {
      const u = unit;
      await withRetry(o.retry, o.signal, `copy ${displayName(u.table)} range ${u.rangeNo}`, async () => {
        if (o.signal.aborted) throw new CancelledError();
        try {
          src ??= await openSnapshotReader(o.source, o.snapshot.snapshotName);
          dst ??= await connect(o.destination, { role: 'destination', applicationName: 'pgdts-copy' });
          await copyUnit(o, u, src, dst, progress);
        } catch (e) {
          await reset();
          if (e instanceof CancelledError) throw e;
          const err =
            e instanceof PgdtsError ? e : wrapPgError('COPY_FAILED', `copy of ${displayName(u.table)}`, e);
          // The exported snapshot is gone (its connection died): only a new run can continue.
          if (/invalid snapshot identifier/i.test(err.message)) {
            throw new PgdtsError('COPY_FAILED', `${err.message}; run again to resume with a new snapshot`, {
              cause: e,
            });
          }
          throw err;
        }
      });
    }
  } finally {
    await reset();
  }
}

async function copyUnit(
  o: FullSyncOptions,
  u: Unit,
  src: pg.Client,
  dst: pg.Client,
  progress: Map<string, TableProgress>,
): Promise<void> {
  const name = displayName(u.table);
  const p = progress.get(name) ?? { rangesDone: 0, rangesTotal: 1, rows: 0, bytes: 0 };
  let bytes = 0;
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
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      const now = Date.now();
      if (now - lastReport > 500) {
        lastReport = now;
        report(false, bytes);
      }
      cb(null, chunk);
    },
  });
  // Losing an un-flushed commit on a destination crash loses its range marker with it, so the
  // copy may skip waiting for the WAL flush (PostgreSQL docs, "Asynchronous Commit").
  await dst.query('BEGIN; SET LOCAL synchronous_commit = off');
  try {
    const sink = copyIn(dst, u.table, u.table.columns, u.format);
    const onAbort = () => counter.destroy(new CancelledError());
    o.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await pipeline(copyOut(src, u.table, u.range, u.format), counter, sink);
    } finally {
      o.signal.removeEventListener('abort', onAbort);
    }
    const rows = sink.rowCount ?? 0;
    const done = await finishRange(dst, o.taskName, {
      schema: u.table.schema,
      name: u.table.name,
      rangeNo: u.rangeNo,
      rows,
      bytes,
    });
    await dst.query('COMMIT');
    p.rangesDone++;
    p.rows += rows;
    p.bytes += bytes;
    report(done, 0);
  } catch (e) {
    await dst.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
