/**
 * Schema phase: reads the selected objects' definitions from the source into the schema model, maps
 * them onto the task's destination names (map-schema-model.ts) and has the sink create them —
 * pre-data before the copy, post-data (secondary indexes, foreign keys, triggers, materialized view
 * refreshes) after it, on `indexJobs` parallel connections.
 */
import { PgdtsError } from '../core/errors.ts';
import { displayName, type QualifiedName } from '../core/identifier.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { ReadSchemaOptions, SchemaModel } from '../core/schema-model.ts';
import type { CheckpointStore, SchemaEvent, SchemaReportRow, SchemaWriter, Sink } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import type { TableTarget } from '../core/table-targets.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { relaxForeignKeysToFilteredTables } from './filtered-foreign-keys.ts';
import { describeSchemaMappingProblem, mapSchemaModel } from './map-schema-model.ts';

/** What `task` asks schema sync to read besides definitions (`schema.privileges`, `schema.owners`). */
export function readSchemaOptions(task: Pick<TaskConfig, 'schema'>): ReadSchemaOptions {
  return { privileges: task.schema.privileges, owners: task.schema.owners };
}

/** The report's outcome for a statement's. */
function reportOutcome(outcome: SchemaEvent['outcome']): SchemaReportRow['outcome'] {
  switch (outcome) {
    case 'applied':
      return 'created';
    case 'exists':
      return 'skipped';
    case 'unavailable':
      return 'refused';
  }
}

/**
 * Collects the per-object report of one schema step: logs what a user should know about (skipped
 * and refused objects) as it happens, then writes every row to the bookkeeping and logs counts per
 * outcome and kind.
 */
function reporter(
  phase: SchemaReportRow['phase'],
  onProgress: ProgressListener,
  quietExists = false,
): {
  onStatement: (e: SchemaEvent) => void;
  refuse: (r: SchemaReportRow) => void;
  finish: (checkpoints: CheckpointStore, taskName: string, what: string) => Promise<void>;
} {
  const rows = new Map<string, SchemaReportRow>();
  const add = (r: SchemaReportRow) => {
    const key = `${r.kind}\0${r.object}`;
    const had = rows.get(key);
    if (had === undefined || had.outcome === 'created') rows.set(key, r);
  };
  const warnedRoles = new Set<string>();
  return {
    onStatement: (e) => {
      const outcome = reportOutcome(e.outcome);
      // An object with several statements of one kind keeps its first outcome other than created:
      // one refused statement makes the object refused.
      add({
        phase,
        kind: e.kind,
        object: e.object,
        outcome,
        reason: outcome === 'created' ? undefined : e.message,
      });
      if (e.missingRoles !== undefined) {
        // One line per missing role, not per object (the report keeps the objects): a role may own
        // or hold grants on thousands of them.
        for (const role of e.missingRoles) {
          if (warnedRoles.has(role)) continue;
          warnedRoles.add(role);
          onProgress({
            kind: 'log',
            level: 'warn',
            message: `schema sync: role ${JSON.stringify(role)} does not exist on the destination: its ownerships and grants are skipped (pgdts precheck prints a CREATE ROLE statement to review; create the role and run schema sync again to apply them)`,
          });
        }
        return;
      }
      if (e.outcome === 'unavailable' || (e.outcome === 'exists' && !quietExists)) {
        onProgress({ kind: 'log', level: 'warn', message: e.message });
      }
    },
    refuse: add,
    finish: async (checkpoints, taskName, what) => {
      const all = [...rows.values()];
      await checkpoints.writeSchemaReport(taskName, all);
      onProgress({ kind: 'log', level: 'info', message: `${what}: ${summarize(all)}` });
    },
  };
}

/** `3 created (2 table, 1 index), 1 skipped (1 table), 0 refused`: counts per outcome and kind. */
export function summarize(rows: readonly SchemaReportRow[]): string {
  const outcomes: SchemaReportRow['outcome'][] = ['created', 'skipped', 'refused'];
  return outcomes
    .map((o) => {
      const of = rows.filter((r) => r.outcome === o);
      const byKind = new Map<string, number>();
      for (const r of of) byKind.set(r.kind, (byKind.get(r.kind) ?? 0) + 1);
      const kinds = [...byKind].map(([k, n]) => `${n} ${k}`).join(', ');
      return `${of.length} ${o}${kinds === '' ? '' : ` (${kinds})`}`;
    })
    .join(', ');
}

/**
 * The source model on the destination's names. Refuses the task when an object cannot be mapped
 * safely; reports each object left out or changed, and each object schema sync does not create
 * (`SchemaModel.refused`, empty today), as a warning (with `warn`).
 * @throws {PgdtsError} CONFIG_INVALID naming every object that cannot be mapped and why.
 */
export function destinationModel(
  source: SchemaModel,
  task: TaskConfig,
  targets: readonly TableTarget[],
  o: {
    readonly warn: boolean;
    readonly onProgress: ProgressListener;
    /** Reports each object of `SchemaModel.refused` (with `warn`). */
    readonly refuse?: (r: SchemaReportRow) => void;
  },
): SchemaModel {
  const relaxedModel = relaxForeignKeysToFilteredTables(source, targets);
  if (o.warn) {
    for (const k of relaxedModel.relaxed) {
      o.onProgress({
        kind: 'log',
        level: 'warn',
        message: `schema sync: foreign key ${k.name} of ${k.table} references ${k.references}, which objects[].where filters: created NOT VALID (its rows may reference rows the filter leaves out)`,
      });
    }
  }
  const { model, problems } = mapSchemaModel(relaxedModel.model, task, targets);
  if (o.warn) {
    for (const r of source.refused) {
      const message = `schema sync: ${r.kind.replaceAll('-', ' ')} ${displayName(r)} is not created: ${r.reason}`;
      o.onProgress({ kind: 'log', level: 'warn', message });
      o.refuse?.({
        phase: 'pre-data',
        kind: r.kind,
        object: `${r.kind.replaceAll('-', ' ')} ${displayName(r)}`,
        outcome: 'refused',
        reason: r.reason,
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
 * @returns the mapped destination model it created (read with the task's owners and privileges
 *   options), which {@link applyPostDataSchema} may take instead of reading the source again.
 * @throws {PgdtsError} CONFIG_INVALID when the mapping cannot carry an object over safely (nothing
 *   is created then); SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPreDataSchema(
  source: Source,
  sink: Pick<Sink, 'schema' | 'checkpoints'>,
  task: TaskConfig,
  targets: readonly TableTarget[],
  onProgress: ProgressListener,
): Promise<SchemaModel> {
  const r = reporter('pre-data', onProgress);
  const model = destinationModel(
    await source.readSchema(task.objects, readSchemaOptions(task)),
    task,
    targets,
    {
      warn: true,
      onProgress,
      refuse: r.refuse,
    },
  );
  await schemaWriter(sink).applyPreData(model, r.onStatement);
  await r.finish(sink.checkpoints, task.name, 'schema (pre-data)');
  return model;
}

/**
 * Creates secondary indexes, foreign keys and triggers and refreshes materialized views, then (with
 * `schema.owners` / `schema.privileges`) sets owners and applies grants, after the data load, on `task.full.indexJobs` connections in parallel, under the mapped names (the warnings
 * of the mapping were given with the pre-data).
 * @param preData the model {@link applyPreDataSchema} returned in this run, to create the
 *   post-data objects as they were read then (pg_dump reads both sections once, too) instead of
 *   reading the source again; absent: read now (a resumed run, or a streaming task: see runPhases).
 * @throws {PgdtsError} CONFIG_INVALID when the mapping cannot carry an object over safely;
 *   SCHEMA_SYNC_FAILED naming the object whose DDL failed.
 */
export async function applyPostDataSchema(
  source: Source,
  sink: Pick<Sink, 'schema' | 'checkpoints'>,
  task: TaskConfig,
  targets: readonly TableTarget[],
  onProgress: ProgressListener,
  preData?: SchemaModel,
): Promise<void> {
  const r = reporter('post-data', onProgress);
  const model =
    preData ??
    destinationModel(await source.readSchema(task.objects, readSchemaOptions(task)), task, targets, {
      warn: false,
      onProgress,
    });
  await schemaWriter(sink).applyPostData(model, task.full.indexJobs, r.onStatement);
  await r.finish(sink.checkpoints, task.name, 'schema (post-data)');
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
  sink: Pick<Sink, 'schema' | 'checkpoints'>,
  task: TaskConfig,
  targets: readonly TableTarget[],
  tables: readonly QualifiedName[],
  onProgress: ProgressListener,
): Promise<void> {
  const schema = schemaWriter(sink);
  const r = reporter('table-join', onProgress, true);
  const selectors = tables.map((t) => ({
    kind: 'table' as const,
    table: { schema: t.schema, name: t.name },
  }));
  // Foreign keys to the tables already synchronised come along (they exist on the destination).
  const joining = new Set(tables.map(displayName));
  const referenceable = targets.map((t) => t.source).filter((t) => !joining.has(displayName(t)));
  const model = destinationModel(
    await source.readSchema(selectors, { ...readSchemaOptions(task), referenceable }),
    task,
    targets,
    {
      warn: true,
      onProgress,
      refuse: r.refuse,
    },
  );
  await schema.applyPreData(model, r.onStatement);
  await schema.applyPostData(model, task.full.indexJobs, r.onStatement);
  await r.finish(sink.checkpoints, task.name, `schema of ${tables.map(displayName).join(', ')}`);
}

/**
 * The sink's schema writer.
 * @throws {PgdtsError} DESTINATION_UNSUPPORTED when the destination cannot create schema objects.
 */
function schemaWriter(sink: Pick<Sink, 'schema'>): SchemaWriter {
  if (sink.schema === undefined) {
    throw new PgdtsError(
      'DESTINATION_UNSUPPORTED',
      'this destination cannot create schema objects (syncTypes: schema)',
    );
  }
  return sink.schema;
}
