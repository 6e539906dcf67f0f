/**
 * Precheck: the selected schema objects can be carried over to the names the task maps them to
 * (map-schema-model.ts), so that schema sync will not refuse the task halfway.
 */
import type { PrecheckResult } from '../../core/precheck.ts';
import type { Source } from '../../core/source.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { hasSyncType, type TaskConfig } from '../../core/task-config.ts';
import { describeSchemaMappingProblem, mapSchemaModel, needsSchemaMapping } from '../map-schema-model.ts';

/**
 * Does the check apply: schema sync under a mapping that renames something? (A row or operation
 * filter alone changes no name: schema sync creates the objects as they are.)
 */
export function schemaMappingApplies(task: TaskConfig, targets: readonly TableTarget[]): boolean {
  return hasSyncType(task, 'schema') && needsSchemaMapping(task, targets);
}

/**
 * Reads the selected objects' definitions through the source and maps them: fail naming each object
 * that cannot be carried over and why (the run would refuse the task), warn naming each object left
 * out or changed, pass otherwise. Never throws: an error reading the schema is a failed check.
 */
export async function checkSchemaMapping(
  task: TaskConfig,
  source: Source,
  targets: readonly TableTarget[],
): Promise<PrecheckResult> {
  const id = 'schema-mapping';
  const title = 'Schema objects map onto their destination names';
  try {
    const model = await source.readSchema(task.objects);
    const { problems } = mapSchemaModel(model, task, targets);
    const errors = problems.filter((p) => p.level === 'error');
    const warnings = problems.filter((p) => p.level === 'warning');
    if (errors.length > 0) {
      return {
        id,
        title,
        status: 'fail',
        message: [...errors, ...warnings].map(describeSchemaMappingProblem).join('; '),
        fix: 'change objects or mapping in the task file, or leave the objects out (objects[].exclude) and create them by hand in the destination',
      };
    }
    if (warnings.length > 0) {
      return {
        id,
        title,
        status: 'warn',
        message: warnings.map(describeSchemaMappingProblem).join('; '),
        fix: 'create what is left out by hand if it is needed, or keep the columns it uses',
      };
    }
    const objects = model.tables.length + model.views.length + model.routines.length + model.types.length;
    return {
      id,
      title,
      status: 'pass',
      message: `${objects} table(s), view(s), routine(s) and type(s) map onto their destination names`,
    };
  } catch (e) {
    return { id, title, status: 'fail', message: e instanceof Error ? e.message : String(e) };
  }
}
