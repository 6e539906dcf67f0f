/**
 * Schema phase: reads the selected objects' definitions from the source into the schema model and
 * has the sink create them — pre-data before the copy, post-data (secondary indexes, foreign keys,
 * triggers, materialized view refreshes) after it, on `indexJobs` parallel connections.
 */
import type { ProgressListener } from '../core/progress.ts';
import type { SchemaEvent, SchemaWriter } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import type { TaskConfig } from '../core/task-config.ts';

function reporter(onProgress: ProgressListener): {
  onStatement: (e: SchemaEvent) => void;
  summary: () => string;
} {
  const counts = { applied: 0, exists: 0, unavailable: 0 };
  return {
    onStatement: (e) => {
      counts[e.outcome]++;
      // Only what a user should know about: skipped objects. Applied ones are summarised.
      if (e.outcome !== 'applied') onProgress({ kind: 'log', level: 'warn', message: e.message });
    },
    summary: () =>
      `${counts.applied} statements applied, ${counts.exists} already present, ${counts.unavailable} unavailable`,
  };
}

/**
 * Creates schemas, types, sequences, tables, keys, views, routines and comments.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPreDataSchema(
  source: Source,
  schema: SchemaWriter,
  task: TaskConfig,
  onProgress: ProgressListener,
): Promise<void> {
  const r = reporter(onProgress);
  await schema.applyPreData(await source.readSchema(task.objects), r.onStatement);
  onProgress({ kind: 'log', level: 'info', message: `schema (pre-data): ${r.summary()}` });
}

/**
 * Creates secondary indexes, foreign keys and triggers and refreshes materialized views, after the
 * data load, on `task.full.indexJobs` connections in parallel.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPostDataSchema(
  source: Source,
  schema: SchemaWriter,
  task: TaskConfig,
  onProgress: ProgressListener,
): Promise<void> {
  const r = reporter(onProgress);
  await schema.applyPostData(await source.readSchema(task.objects), task.full.indexJobs, r.onStatement);
  onProgress({ kind: 'log', level: 'info', message: `schema (post-data): ${r.summary()}` });
}
