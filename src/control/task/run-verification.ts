/**
 * Runs one stored verification job ([V6], [V12]): opens the task's source and sink from its data
 * sources (secrets unsealed in this process, never stored with the job), compares with `verifyTask`,
 * and stores the per-table results as tables finish, with the progress a taken-over job resumes
 * from. While it runs, the job's heartbeat is renewed every `heartbeatMs`; the same statement tells
 * whether a cancel was asked for or another serve process took the job over, and either aborts the
 * comparison at its next statement.
 */
import type { TaskConfig } from '../../core/task-config.ts';
import {
  DEFAULT_CHUNK_ROWS,
  DEFAULT_LEAF_ROWS,
  differingRunOptions,
  resumePointOf,
  verifyRunOptions,
  verifyTask,
  type PartialTableVerify,
  type TableVerifyResult,
  type VerifyProgress,
  type VerifyResumePoint,
  type VerifyRunOptions,
} from '../../pipeline/verify/index.ts';
import { PgdtsError } from '../../core/errors.ts';
import { displayName } from '../../core/identifier.ts';
import { openSinkOf, openSourceOf } from '../data-source/open-data-source.ts';
import type { ControlStore, StoredDataSource } from '../store/control-store.ts';
import type { StoredTableVerification, StoredVerification } from '../store/verification-store.ts';

/** Differing rows kept per table of a `rows` job (the verify report's cap is larger). */
export const VERIFY_ROWS_KEPT = 100;

/** How a job run here is stopped short of its end. */
type StopReason = 'cancel' | 'lost' | 'stop';

/**
 * Called once a job's outcome is stored (e.g. to evaluate the task's verification-failed alert rule,
 * alerts.md); its failures are dropped (it should not throw).
 */
export type AfterVerification = (taskId: string) => Promise<void>;

/** Options of {@link runVerification}. */
export interface RunVerificationOptions {
  /** Called once the job's outcome (passed, failed, error, cancelled) is stored here. */
  readonly after?: AfterVerification;
  /** The runner id the job is running under (it was started or taken over with it). */
  readonly runner: string;
  /** Aborted when this serve process stops: the job is then given up, not ended. */
  readonly stop: AbortSignal;
  /** How often the job's heartbeat is renewed (and a cancel looked for), ms. */
  readonly heartbeatMs: number;
}

/** The JSON kept in the job's `progress`. */
interface StoredProgress {
  readonly options: VerifyRunOptions;
  readonly tables: readonly TableVerifyResult[];
  readonly partial: PartialTableVerify | null;
}

/**
 * Runs `job` (running under `o.runner`) to its end and stores its outcome; never throws (a failure
 * to run is stored as status `error` with its message; a failure to store it is dropped, and the
 * job is taken over once its heartbeat is stale); then calls `o.after` when an outcome was stored.
 */
export async function runVerification(
  store: ControlStore,
  job: StoredVerification,
  task: TaskConfig,
  src: StoredDataSource,
  dst: StoredDataSource,
  o: RunVerificationOptions,
): Promise<void> {
  const jobs = store.verifications;
  const options = verifyRunOptions(task, {
    mode: job.mode,
    chunkRows: job.chunkRows ?? DEFAULT_CHUNK_ROWS,
    leafRows: DEFAULT_LEAF_ROWS,
    maxDifferences: VERIFY_ROWS_KEPT,
    ...(job.tables === null ? {} : { onlyTables: job.tables }),
  });
  const saved = job.progress as StoredProgress | null;
  // [V12] A job taken over resumes from its progress when it compares the same (the task's objects
  // may have been edited meanwhile: it then starts over).
  const resumeFrom: VerifyResumePoint | undefined =
    saved !== null && differingRunOptions(saved.options, options).length === 0
      ? resumePointOf({ tables: saved.tables, partial: saved.partial ?? undefined })
      : undefined;
  const tables: TableVerifyResult[] = [...(resumeFrom?.tables ?? [])];
  const controller = new AbortController();
  let reason: StopReason | undefined;
  const abort = (r: StopReason) => {
    reason ??= r;
    controller.abort();
  };
  const onStop = () => abort('stop');
  o.stop.addEventListener('abort', onStop, { once: true });
  if (o.stop.aborted) abort('stop');
  if (job.cancelRequestedAt !== null) abort('cancel');
  const timer = setInterval(() => {
    jobs
      .heartbeat(job.id, o.runner)
      .then((h) => {
        if (!h.owned) abort('lost');
        else if (h.cancel) abort('cancel');
      })
      // The store away: the fenced saves and finish decide; the job may be taken over meanwhile.
      .catch(() => undefined);
  }, o.heartbeatMs);
  const save = (partial: PartialTableVerify | null) =>
    jobs.saveProgress(
      job.id,
      o.runner,
      { options, tables, partial } satisfies StoredProgress,
      tables.map(tableResultOf),
    );
  const progress: VerifyProgress = {
    resumeFrom,
    tableDone: async (r) => {
      tables.push(r);
      await save(null);
    },
    chunkDone: (p) => save(p),
  };
  let stored = false;
  try {
    if (reason !== undefined) throw new PgdtsError('CANCELLED', 'verification cancelled');
    const sink = await openSinkOf(task, dst.source, src.source);
    const source = openSourceOf(task, src.source);
    try {
      const report = await verifyTask(
        task,
        { source, sink },
        {
          mode: job.mode,
          ...(job.tables === null ? {} : { onlyTables: job.tables }),
          chunkRows: job.chunkRows ?? DEFAULT_CHUNK_ROWS,
          maxDifferences: VERIFY_ROWS_KEPT,
          signal: controller.signal,
          progress,
        },
      );
      const results = report.tables.map(tableResultOf);
      const status = results.some((r) => r.status === 'error')
        ? 'error'
        : results.every((r) => r.status === 'passed')
          ? 'passed'
          : 'failed';
      await jobs.finish(job.id, o.runner, status, results, null);
      stored = true;
    } finally {
      await Promise.all([source.close(), sink.close()]);
    }
  } catch (e) {
    const lost = e instanceof PgdtsError && e.code === 'CHECKPOINT_CONFLICT';
    const why: StopReason | undefined = lost
      ? 'lost'
      : e instanceof PgdtsError && e.code === 'CANCELLED'
        ? reason
        : undefined;
    switch (why) {
      case 'lost':
        // Another serve process runs it now: nothing of it is ours to write.
        break;
      case 'stop':
        await jobs.release(job.id, o.runner).catch(() => undefined);
        break;
      case 'cancel':
        // [V12] The tables finished before the cancel keep their results.
        stored = await jobs
          .finish(job.id, o.runner, 'cancelled', tables.map(tableResultOf), 'cancelled on request')
          .then(
            () => true,
            () => false,
          );
        break;
      case undefined:
        stored = await jobs
          .finish(job.id, o.runner, 'error', null, e instanceof Error ? e.message : String(e))
          .then(
            () => true,
            () => false,
          );
        break;
      default: {
        const never: never = why;
        throw new PgdtsError('INTERNAL', `unknown stop ${String(never)}`);
      }
    }
  } finally {
    clearInterval(timer);
    o.stop.removeEventListener('abort', onStop);
  }
  if (stored) await o.after?.(job.taskId).catch(() => undefined);
}

/**
 * One table's stored result. `differences`: in `rows` mode the differing rows found; otherwise a
 * lower bound, the row count difference, or 1 when the counts agree but the content does not.
 */
export function tableResultOf(r: TableVerifyResult): StoredTableVerification {
  const listed = r.rows?.differences;
  // A differing table whose rows are not listed (merged from several sources) counts its lower bound.
  const differences = r.match
    ? 0
    : listed !== undefined && listed.length > 0
      ? listed.length
      : Math.max(1, Math.abs(r.sourceRows - r.destinationRows));
  return {
    table: displayName(r.destinationTable),
    sourceRows: r.sourceRows,
    destinationRows: r.destinationRows,
    differences,
    // The names travel with the rows: a stored difference holds values by column position only.
    ...(listed !== undefined && listed.length > 0 && r.rows !== undefined
      ? {
          differingRows: listed,
          columns: r.rows.shape.columns,
          keyColumns: r.rows.shape.key,
          truncated: r.rows.truncated,
        }
      : {}),
    durationMs: r.elapsedMs,
    status: r.error !== undefined ? 'error' : r.match ? 'passed' : 'failed',
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}
