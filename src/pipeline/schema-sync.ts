/**
 * Schema phase: reads the selected objects' definitions from the source into the schema model, maps
 * them onto the task's destination names (map-schema-model.ts) and has the sink create them —
 * pre-data before the copy, post-data (secondary indexes, foreign keys, triggers, materialized view
 * refreshes) after it, on `indexJobs` parallel connections.
 */
import { PgdtsError } from '../core/errors.ts';
import { displayName, type QualifiedName } from '../core/identifier.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { SchemaModel } from '../core/schema-model.ts';
import type { SchemaEvent, SchemaWriter } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import type { TableTarget } from '../core/table-targets.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { describeSchemaMappingProblem, mapSchemaModel } from './map-schema-model.ts';

function reporter(
  onProgress: ProgressListener,
  quietExists = false,
): {
  onStatement: (e: SchemaEvent) => void;
  summary: () => string;
} {
  const counts = { applied: 0, exists: 0, unavailable: 0 };
  return {
    onStatement: (e) => {
      counts[e.outcome]++;
      // Only what a user should know about: skipped objects. Applied ones are summarised.
      if (e.outcome === 'unavailable' || (e.outcome === 'exists' && !quietExists)) {
        onProgress({ kind: 'log', level: 'warn', message: e.message });
      }
    },
    summary: () =>
      `${counts.applied} statements applied, ${counts.exists} already present, ${counts.unavailable} unavailable`,
  };
}

/**
 * The source model on the destination's names. Refuses the task when an object cannot be mapped
 * safely; reports each object left out or changed, and each object schema sync does not create
 * (`SchemaModel.refused`: text search parsers and templates), as a warning (with `warn`).
 * @throws {PgdtsError} CONFIG_INVALID naming every object that cannot be mapped and why.
 */
function destinationModel(
  source: SchemaModel,
  task: TaskConfig,
  targets: readonly TableTarget[],
  o: { readonly warn: boolean; readonly onProgress: ProgressListener },
): SchemaModel {
  const { model, problems } = mapSchemaModel(source, task, targets);
  if (o.warn) {
    for (const r of source.refused) {
      o.onProgress({
        kind: 'log',
        level: 'warn',
        message: `schema sync: ${r.kind.replaceAll('-', ' ')} ${displayName(r)} is not created: ${r.reason}`,
      });
    }
  }
  const errors = problems.filter((p) => p.level === 'error');
  if (errors.length > 0) {
    throw new PgdtsError(
      'CONFIG_INVALID',
      `schema sync cannot carry ${errors.length} object(s) over to the mapped names: ${errors.map(describeSchemaMappingProblem).join('; ')}`,
      {
        hint: 'change objects or mapping in the task file, or leave the objects out (exclude) and create them by hand; pgdts precheck lists the same problems',
      },
    );
  }
  if (o.warn) {
    for (const p of problems) {
      o.onProgress({
        kind: 'log',
        level: 'warn',
        message: `schema mapping: ${describeSchemaMappingProblem(p)}`,
      });
    }
  }
  return model;
}

/**
 * Creates schemas, types, sequences, tables, keys, views, routines and comments, under the names
 * `targets` and the task's mapping give them; reports objects the mapping leaves out as warnings.
 * @throws {PgdtsError} CONFIG_INVALID when the mapping cannot carry an object over safely (nothing
 *   is created then); SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPreDataSchema(
  source: Source,
  schema: SchemaWriter,
  task: TaskConfig,
  targets: readonly TableTarget[],
  onProgress: ProgressListener,
): Promise<void> {
  const r = reporter(onProgress);
  const model = destinationModel(await source.readSchema(task.objects), task, targets, {
    warn: true,
    onProgress,
  });
  await schema.applyPreData(model, r.onStatement);
  onProgress({ kind: 'log', level: 'info', message: `schema (pre-data): ${r.summary()}` });
}

/**
 * Creates secondary indexes, foreign keys and triggers and refreshes materialized views, after the
 * data load, on `task.full.indexJobs` connections in parallel, under the mapped names (the warnings
 * of the mapping were given with the pre-data).
 * @throws {PgdtsError} CONFIG_INVALID when the mapping cannot carry an object over safely;
 *   SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPostDataSchema(
  source: Source,
  schema: SchemaWriter,
  task: TaskConfig,
  targets: readonly TableTarget[],
  onProgress: ProgressListener,
): Promise<void> {
  const r = reporter(onProgress);
  const model = destinationModel(await source.readSchema(task.objects), task, targets, {
    warn: false,
    onProgress,
  });
  await schema.applyPostData(model, task.full.indexJobs, r.onStatement);
  onProgress({ kind: 'log', level: 'info', message: `schema (post-data): ${r.summary()}` });
}

/**
 * Creates the destination objects of source tables `tables` that joined the sync while streaming
 * (task invariant T11): their schema model alone (a table selector each: the table with its
 * partitions, keys, indexes, constraints, triggers, owned sequences and the types it needs), mapped
 * onto the destination names like the schema phase does, pre-data then post-data. Idempotent: what
 * exists is skipped without a warning (a run resuming a join applies it again).
 * @param targets every target of the task, the joining tables' included (the mapping needs them).
 * @throws {PgdtsError} CONFIG_INVALID when the mapping cannot carry an object over safely;
 *   SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyTableSchema(
  source: Source,
  schema: SchemaWriter,
  task: TaskConfig,
  targets: readonly TableTarget[],
  tables: readonly QualifiedName[],
  onProgress: ProgressListener,
): Promise<void> {
  const r = reporter(onProgress, true);
  const selectors = tables.map((t) => ({
    kind: 'table' as const,
    table: { schema: t.schema, name: t.name },
  }));
  const model = destinationModel(await source.readSchema(selectors), task, targets, {
    warn: true,
    onProgress,
  });
  await schema.applyPreData(model, r.onStatement);
  await schema.applyPostData(model, task.full.indexJobs, r.onStatement);
  onProgress({
    kind: 'log',
    level: 'info',
    message: `schema of ${tables.map(displayName).join(', ')}: ${r.summary()}`,
  });
}
