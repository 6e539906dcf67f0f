/**
 * Precheck of schema sync for what is made of C or `LANGUAGE internal` code (user-defined base types
 * and their shell types, a range type's CANONICAL function, text search parsers and templates, the
 * functions themselves): creating them needs a superuser on the destination, and for C the library
 * installed there. FAIL naming each object the destination would refuse and why, so the run does not
 * find out half-way through pre-data (where each is reported as refused). PostgreSQL docs, "CREATE
 * FUNCTION", "CREATE TYPE", "CREATE TEXT SEARCH PARSER", "CREATE TEXT SEARCH TEMPLATE".
 */
import { listShort, type PrecheckResult } from '../../core/precheck.ts';
import type { SchemaModel } from '../../core/schema-model.ts';
import type { Sink } from '../../core/sink.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { hasSyncType, type TaskConfig } from '../../core/task-config.ts';
import { mapSchemaModel } from '../map-schema-model.ts';

/** Does the check apply: schema sync. */
export function schemaNativeApplies(task: TaskConfig): boolean {
  return hasSyncType(task, 'schema');
}

/**
 * Reads the selected schema through the source and asks the destination which of its C / internal
 * functions and superuser-only objects it could not create (see `SchemaWriter.inspectNativeObjects`):
 * FAIL naming them with the reasons; PASS when every one can be created or exists already; no result
 * (undefined) when the selection has none. With `targets` the objects are looked up under their
 * destination names (the task's schema mapping applied), else under their source names. Never throws.
 */
export async function checkSchemaNative(
  task: TaskConfig,
  /** The selected objects' schema model as schema sync reads it (read once for every check). */
  readModel: () => Promise<SchemaModel>,
  sink: Sink,
  targets?: readonly TableTarget[],
): Promise<PrecheckResult | undefined> {
  const id = 'schema-native-code';
  const title = 'C and internal functions, base types, text search parsers and templates on the destination';
  try {
    const writer = sink.schema;
    if (writer === undefined) return undefined;
    const read = await readModel();
    const model = targets !== undefined ? mapSchemaModel(read, task, targets).model : read;
    const count =
      model.routines.filter((r) => r.native !== undefined).length +
      model.types.filter((t) => t.kind === 'base').length +
      model.textSearchParsers.length +
      model.textSearchTemplates.length;
    if (count === 0) return undefined;
    const refused = await writer.inspectNativeObjects(model);
    if (refused.length === 0) {
      return {
        id,
        title,
        status: 'pass',
        message: `${count} object(s) made of C or internal code can be created (or exist already)`,
      };
    }
    const reasons = [...new Set(refused.map((r) => r.reason))];
    return {
      id,
      title,
      status: 'fail',
      message: `schema sync would refuse ${refused.length} object(s) (and what uses them): ${listShort(
        refused.map((r) => r.object),
        8,
      )}: ${listShort(reasons, 3)}`,
      fix: 'run schema sync as a superuser of the destination with the C libraries installed there, or create these objects on the destination beforehand (equal functions and existing types, parsers and templates are left alone)',
    };
  } catch (e) {
    return { id, title, status: 'fail', message: e instanceof Error ? e.message : String(e) };
  }
}
