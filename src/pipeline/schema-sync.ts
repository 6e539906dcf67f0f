/**
 * Schema phase: reads the selected objects from the source catalog into the schema model and creates
 * them in the destination — pre-data before the copy, post-data (secondary indexes, foreign keys,
 * triggers, materialized view refreshes) after it, on `indexJobs` parallel connections.
 */
import type pg from 'pg';
import type { TaskConfig } from '../core/task-config.ts';
import { connect, type ConnectionParams } from '../pg/connection.ts';
import { introspectSchema } from '../source/postgres/schema/introspect-schema.ts';
import {
  applySchemaDdl,
  applySchemaDdlParallel,
  planSchemaDdl,
  type DdlEvent,
} from '../sink/postgres/schema/index.ts';
import type { ProgressListener } from './progress.ts';

function reporter(onProgress: ProgressListener): {
  onStatement: (e: DdlEvent) => void;
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
  src: pg.Client,
  dst: pg.Client,
  task: TaskConfig,
  onProgress: ProgressListener,
): Promise<void> {
  const plan = planSchemaDdl(await introspectSchema(src, task.objects));
  const r = reporter(onProgress);
  await applySchemaDdl(dst, plan.preData, { onStatement: r.onStatement });
  onProgress({ kind: 'log', level: 'info', message: `schema (pre-data): ${r.summary()}` });
}

/**
 * Creates secondary indexes, foreign keys and triggers and refreshes materialized views, after the
 * data load, on `task.full.indexJobs` connections in parallel.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPostDataSchema(
  src: pg.Client,
  destination: ConnectionParams,
  task: TaskConfig,
  onProgress: ProgressListener,
): Promise<void> {
  const plan = planSchemaDdl(await introspectSchema(src, task.objects));
  const r = reporter(onProgress);
  const clients: pg.Client[] = [];
  try {
    for (let i = 0; i < task.full.indexJobs; i++) {
      clients.push(await connect(destination, { role: 'destination', applicationName: 'pgdts-ddl' }));
    }
    await applySchemaDdlParallel(clients, plan.postData, { onStatement: r.onStatement });
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
  onProgress({ kind: 'log', level: 'info', message: `schema (post-data): ${r.summary()}` });
}
