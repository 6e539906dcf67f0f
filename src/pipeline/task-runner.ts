/**
 * Runs a task through its phases — schema, full, incremental — resuming from the phase recorded in
 * the destination's `pgdts` schema. The state machine and its invariants are in task-lifecycle.md.
 */
import type pg from 'pg';
import { CancelledError, PgdtsError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import { hasSyncType, publicationNameOf, slotNameOf, type TaskConfig } from '../core/task-config.ts';
import { connect, resolveEndpoint, type ConnectionParams } from '../pg/connection.ts';
import {
  createSlotWithSnapshot,
  ensurePublication,
  exportPlainSnapshot,
  readSlot,
  type ExportedSnapshot,
} from '../source/postgres/replication-slot.ts';
import { listSelectedTables } from '../source/postgres/selected-tables.ts';
import { readSequences } from '../source/postgres/sequences.ts';
import {
  createTask,
  ensureBookkeeping,
  readTask,
  setTaskError,
  setTaskPhase,
  setTaskSlot,
  type TaskPhase,
} from '../sink/postgres/bookkeeping.ts';
import { setSequences } from '../sink/postgres/sequences.ts';
import { runFullSync } from './full-sync.ts';
import { runIncrementalSync } from './incremental-sync.ts';
import type { ProgressListener } from './progress.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { applyPostDataSchema, applyPreDataSchema } from './schema-sync.ts';

/** Options of {@link runTask}. */
export interface RunTaskOptions {
  /** Aborting stops the task cleanly; committed work stays and the next run resumes. */
  readonly signal: AbortSignal;
  readonly onProgress: ProgressListener;
}

const PHASE_ORDER: readonly TaskPhase[] = ['new', 'schema', 'copied', 'indexed', 'streaming'];
const reached = (have: TaskPhase, want: TaskPhase) => PHASE_ORDER.indexOf(have) >= PHASE_ORDER.indexOf(want);

/**
 * Runs `task` to completion (without incremental) or until `signal` aborts (with incremental).
 * @throws {CancelledError} when stopped on request (the CLI exits 0).
 * @throws {PgdtsError} when a phase fails after its retries; the checkpoint is kept for the next run.
 */
export async function runTask(task: TaskConfig, o: RunTaskOptions): Promise<void> {
  const source = resolveEndpoint(task.source, process.env, 'source');
  const destination = resolveEndpoint(task.destination, process.env, 'destination');
  const retry: RetryPolicy = {
    ...task.retry,
    onRetry: (e, ms, what) =>
      o.onProgress({ kind: 'log', level: 'warn', message: `${what}: ${e.message}; retrying in ${ms} ms` }),
  };
  const connectBoth = async () => {
    const s = await connect(source, { role: 'source' });
    try {
      return { src: s, dst: await connect(destination, { role: 'destination' }) };
    } catch (e) {
      await s.end().catch(() => undefined);
      throw e;
    }
  };
  const { src, dst } = await withRetry(retry, o.signal, 'connect', connectBoth);
  try {
    await ensureBookkeeping(dst);
    await createTask(dst, task.name, '');
    try {
      await runPhases(task, { source, destination, src, dst, retry }, o);
    } catch (e) {
      if (!(e instanceof CancelledError)) {
        await setTaskError(dst, task.name, (e as Error).message).catch(() => undefined);
      }
      throw e;
    }
  } finally {
    await src.end().catch(() => undefined);
    await dst.end().catch(() => undefined);
  }
}

interface Ctx {
  readonly source: ConnectionParams;
  readonly destination: ConnectionParams;
  readonly src: pg.Client;
  readonly dst: pg.Client;
  readonly retry: RetryPolicy;
}

async function runPhases(task: TaskConfig, c: Ctx, o: RunTaskOptions): Promise<void> {
  const tables = await listSelectedTables(c.src, task.objects);
  let row = await readTask(c.dst, task.name);
  let phase: TaskPhase = row?.phase ?? 'new';
  const incremental = hasSyncType(task, 'incremental');
  const full = hasSyncType(task, 'full');
  const schema = hasSyncType(task, 'schema');

  if (!reached(phase, 'schema')) {
    if (schema) {
      o.onProgress({ kind: 'phase', phase: 'schema' });
      await applyPreDataSchema(c.src, c.dst, task, o.onProgress);
    }
    await setTaskPhase(c.dst, task.name, 'schema');
    phase = 'schema';
  }
  if (o.signal.aborted) throw new CancelledError();

  const slotName = slotNameOf(task);
  const publicationName = publicationNameOf(task);
  if (incremental) {
    // Roots only: partitions publish through their root (publish_via_partition_root).
    await ensurePublication(
      c.src,
      publicationName,
      tables.filter((t) => t.partitionRoot === undefined),
    );
  }

  if (!reached(phase, 'copied')) {
    if (full) {
      o.onProgress({ kind: 'phase', phase: 'full' });
      const snapshot = await takeSnapshot(task, c, incremental, slotName, publicationName);
      try {
        await runFullSync({
          taskName: task.name,
          source: c.source,
          destination: c.destination,
          tables,
          snapshot,
          jobs: task.full.jobs,
          splitAboveBytes: task.full.splitTablesLargerThanBytes,
          rangeSizeBytes: task.full.rangeSizeBytes,
          retry: c.retry,
          onProgress: o.onProgress,
          signal: o.signal,
        });
      } finally {
        await snapshot.release();
      }
    } else if (incremental) {
      // Incremental only: stream from the slot's consistent point, nothing to copy.
      await (await ensureSlot(task, c, slotName, publicationName))?.release();
    }
    await setTaskPhase(c.dst, task.name, 'copied');
    phase = 'copied';
  }
  if (o.signal.aborted) throw new CancelledError();

  if (!reached(phase, 'indexed')) {
    if (schema) {
      o.onProgress({ kind: 'phase', phase: 'indexes' });
      await applyPostDataSchema(c.src, c.destination, task, o.onProgress);
    }
    if (full) {
      o.onProgress({ kind: 'phase', phase: 'sequences' });
      await syncSequences(task, c, o.onProgress);
    }
    await setTaskPhase(c.dst, task.name, 'indexed');
    phase = 'indexed';
  }

  if (incremental) {
    row = await readTask(c.dst, task.name);
    if (row?.slotLsn === undefined) {
      throw new PgdtsError(
        'CHECKPOINT_CONFLICT',
        `task ${task.name} has no recorded replication slot position`,
      );
    }
    if (phase !== 'streaming') await setTaskPhase(c.dst, task.name, 'streaming');
    o.onProgress({ kind: 'phase', phase: 'incremental' });
    await runIncrementalSync({
      task,
      source: c.source,
      destination: c.destination,
      tables,
      slotName,
      publicationName,
      slotLsn: row.slotLsn,
      retry: c.retry,
      onProgress: o.onProgress,
      signal: o.signal,
    });
    return;
  }
  o.onProgress({ kind: 'phase', phase: 'done' });
}

/**
 * The snapshot to copy under. With incremental: the task's slot snapshot when the slot is created now;
 * when the slot already exists (a resumed run), its snapshot is gone, so a temporary slot provides a
 * fresh snapshot with a known LSN, and tables copied under it skip the transactions before that LSN.
 */
async function takeSnapshot(
  task: TaskConfig,
  c: Ctx,
  incremental: boolean,
  slotName: string,
  publicationName: string,
): Promise<ExportedSnapshot> {
  if (!incremental) return exportPlainSnapshot(c.source);
  const created = await ensureSlot(task, c, slotName, publicationName);
  if (created) return created;
  const tmpName = `${slotName.slice(0, 50)}_r${Date.now() % 1_000_000}`;
  return createSlotWithSnapshot(c.source, tmpName, { temporary: true });
}

/**
 * Makes sure the task's slot exists and its consistent point is recorded [S2]. Returns the exported
 * snapshot when the slot was created now (the caller releases it), undefined when it existed.
 * @throws {PgdtsError} CHECKPOINT_CONFLICT when an existing slot has no confirmed LSN.
 */
async function ensureSlot(
  task: TaskConfig,
  c: Ctx,
  slotName: string,
  publicationName: string,
): Promise<ExportedSnapshot | undefined> {
  const existing = await readSlot(c.src, slotName);
  if (!existing) {
    const snap = await createSlotWithSnapshot(c.source, slotName, { temporary: false });
    if (snap.lsn !== undefined)
      await setTaskSlot(c.dst, task.name, { slotName, publicationName, slotLsn: snap.lsn });
    return snap;
  }
  if ((await readTask(c.dst, task.name))?.slotLsn === undefined) {
    // Crashed between creating the slot and recording it: a slot never streamed from still has its
    // consistent point as confirmed_flush_lsn.
    if (existing.confirmedFlushLsn === undefined) {
      throw new PgdtsError(
        'CHECKPOINT_CONFLICT',
        `replication slot ${slotName} exists but has no confirmed LSN`,
      );
    }
    await setTaskSlot(c.dst, task.name, { slotName, publicationName, slotLsn: existing.confirmedFlushLsn });
  }
  return undefined;
}

async function syncSequences(task: TaskConfig, c: Ctx, onProgress: ProgressListener): Promise<void> {
  const values = await readSequences(c.src, task.objects);
  const missing = await setSequences(c.dst, values);
  for (const m of missing) {
    onProgress({
      kind: 'log',
      level: 'warn',
      message: `sequence ${displayName(m)} does not exist in the destination`,
    });
  }
}
