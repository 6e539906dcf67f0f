/**
 * `pgdts verify --schema` (verify.md [V5]): the selected objects' definitions compared between the
 * source and the destination through the schema model. The source's model is mapped onto the
 * destination's names as schema sync maps it; the destination's model is read by a schema reader on
 * the destination (a {@link Source} there: same catalog queries), then both compared by
 * {@link diffSchemaModels}.
 */
import { displayName } from '../../core/identifier.ts';
import { diffSchemaModels, type SchemaDifference } from '../../core/schema-difference.ts';
import type { Source } from '../../core/source.ts';
import { resolveTargets } from '../../core/table-targets.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import { destinationModel, readSchemaOptions } from '../schema-sync.ts';

/** Result of {@link verifySchema}. */
export interface SchemaVerifyReport {
  /** True when no difference was found. */
  readonly identical: boolean;
  /** Destination tables compared (`schema.name`), sorted. */
  readonly tables: readonly string[];
  readonly differences: readonly SchemaDifference[];
  /** Wall time, ms. */
  readonly durationMs: number;
}

/**
 * Compares the definitions of the task's selected tables (columns, constraints, foreign keys,
 * indexes) on source and destination, under the destination's names.
 * @param destination reads the destination's catalog (`readSchema` only is used).
 * @throws {PgdtsError} CONNECTION_FAILED when a side is unreachable; CONFIG_INVALID when a selected
 *   object is missing on the source or the mapping cannot carry an object over.
 */
export async function verifySchema(
  task: TaskConfig,
  c: { readonly source: Source; readonly destination: Pick<Source, 'readSchema'> },
): Promise<SchemaVerifyReport> {
  const started = Date.now();
  const targets = resolveTargets(task, await c.source.listTables(task.objects));
  const expected = destinationModel(
    await c.source.readSchema(task.objects, readSchemaOptions(task)),
    task,
    targets,
    { warn: false, onProgress: () => undefined },
  );
  // Whole destination schemas, filtered by the comparison to the expected tables: a table missing
  // on the destination is then a reported difference, not a failed read of a selector.
  const schemas = [...new Set(expected.tables.map((t) => t.schema))].sort();
  const actual = await c.destination.readSchema(
    schemas.map((schema) => ({ kind: 'schema' as const, schema })),
    readSchemaOptions(task),
  );
  const differences = diffSchemaModels(expected, actual);
  return {
    identical: differences.length === 0,
    tables: expected.tables.map(displayName).sort(),
    differences,
    durationMs: Date.now() - started,
  };
}

/** The report as text: one line per difference, with each differing property's two values. */
export function formatSchemaVerifyReport(r: SchemaVerifyReport): string {
  if (r.identical) return `identical: ${r.tables.length} table(s), definitions equal (${r.durationMs} ms)`;
  const lines = [`${r.differences.length} schema difference(s) in ${r.tables.length} table(s):`];
  for (const d of r.differences) {
    const what = (d.differences ?? []).map((x) => `${x.property}: ${x.source} -> ${x.destination}`);
    lines.push(
      `  ${d.kind.toUpperCase()} ${d.objectKind} ${d.object}${what.length > 0 ? ` (${what.join('; ')})` : ''}`,
    );
  }
  return lines.join('\n');
}
