/**
 * Schema phase: reads the selected objects from the source catalog into the schema model and creates
 * them in the destination — pre-data before the copy, post-data (secondary indexes, foreign keys,
 * materialized view refreshes) after it.
 */
import type pg from 'pg';
import type { TaskConfig } from '../core/task-config.ts';
import { introspectSchema } from '../source/postgres/schema/introspect-schema.ts';
import type { ProgressListener } from './progress.ts';

/**
 * Creates schemas, types, sequences, tables, keys, views, routines, triggers and comments.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPreDataSchema(
  src: pg.Client,
  dst: pg.Client,
  task: TaskConfig,
  onProgress: ProgressListener,
): Promise<void> {
  const { applySchemaDdl, planSchemaDdl } = await import('../sink/postgres/schema/index.ts');
  const plan = planSchemaDdl(await introspectSchema(src, task.objects));
  await applySchemaDdl(dst, plan.preData, {
    onStatement: (s) => onProgress({ kind: 'log', level: 'info', message: s }),
  });
}

/**
 * Creates secondary indexes and foreign keys and refreshes materialized views, after the data load.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPostDataSchema(
  src: pg.Client,
  dst: pg.Client,
  task: TaskConfig,
  onProgress: ProgressListener,
): Promise<void> {
  const { applySchemaDdl, planSchemaDdl } = await import('../sink/postgres/schema/index.ts');
  const plan = planSchemaDdl(await introspectSchema(src, task.objects));
  await applySchemaDdl(dst, plan.postData, {
    onStatement: (s) => onProgress({ kind: 'log', level: 'info', message: s }),
  });
}
