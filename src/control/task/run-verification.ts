/**
 * Runs one stored verification job ([V6]): opens the task's source and sink from its data sources
 * (secrets unsealed in this process, never stored with the job), compares with `verifyTask`, and
 * stores the per-table results.
 */
import type { TaskConfig } from '../../core/task-config.ts';
import { verifyTask, type TableVerifyResult } from '../../pipeline/verify/index.ts';
import { displayName } from '../../core/identifier.ts';
import { openSinkOf, openSourceOf } from '../data-source/open-data-source.ts';
import type { ControlStore, StoredDataSource } from '../store/control-store.ts';
import type { StoredTableVerification, StoredVerification } from '../store/verification-store.ts';

/** Differing rows kept per table of a `rows` job (the verify report's cap is larger). */
export const VERIFY_ROWS_KEPT = 100;

/**
 * Runs `job` to its end and stores its outcome; never throws (a failure to run is stored as
 * status `error` with its message; a failure to store it is dropped, the job stays `running`).
 */
export async function runVerification(
  store: ControlStore,
  job: StoredVerification,
  task: TaskConfig,
  src: StoredDataSource,
  dst: StoredDataSource,
): Promise<void> {
  try {
    await store.verifications.start(job.id);
    const sink = await openSinkOf(task, dst.source, src.source);
    const source = openSourceOf(task, src.source);
    try {
      const report = await verifyTask(
        task,
        { source, sink },
        {
          mode: job.mode,
          ...(job.tables === null ? {} : { onlyTables: job.tables }),
          maxDifferences: VERIFY_ROWS_KEPT,
        },
      );
      const results = report.tables.map(tableResultOf);
      const status = results.some((r) => r.status === 'error')
        ? 'error'
        : results.every((r) => r.status === 'passed')
          ? 'passed'
          : 'failed';
      await store.verifications.finish(job.id, status, results, null);
    } finally {
      await Promise.all([source.close(), sink.close()]);
    }
  } catch (e) {
    await store.verifications
      .finish(job.id, 'error', null, e instanceof Error ? e.message : String(e))
      .catch(() => undefined);
  }
}

/**
 * One table's stored result. `differences`: in `rows` mode the differing rows found; otherwise a
 * lower bound, the row count difference, or 1 when the counts agree but the content does not.
 */
export function tableResultOf(r: TableVerifyResult): StoredTableVerification {
  const listed = r.rows?.differences;
  const differences = r.match
    ? 0
    : listed !== undefined
      ? listed.length
      : Math.max(1, Math.abs(r.sourceRows - r.destinationRows));
  return {
    table: displayName(r.destinationTable),
    sourceRows: r.sourceRows,
    destinationRows: r.destinationRows,
    differences,
    ...(listed !== undefined && listed.length > 0 ? { differingRows: listed } : {}),
    durationMs: r.elapsedMs,
    status: r.error !== undefined ? 'error' : r.match ? 'passed' : 'failed',
    ...(r.error !== undefined ? { error: r.error } : {}),
  };
}
