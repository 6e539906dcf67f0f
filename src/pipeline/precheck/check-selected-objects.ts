/**
 * Precheck: every object the task selects exists on the source. Also resolves the selection for the
 * checks that look at tables.
 */
import { PgdtsError } from '../../core/errors.ts';
import type { PrecheckResult } from '../../core/precheck.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { Source } from '../../core/source.ts';
import { planTargets, type TableTarget } from '../../core/table-targets.ts';
import type { TaskConfig } from '../../core/task-config.ts';

/** The report line, and the selected tables and their targets when the selection resolved. */
export interface SelectedObjectsCheck {
  readonly result: PrecheckResult;
  readonly tables: SelectedTable[] | undefined;
  /** Targets of the tables planned without a problem (the others are the failure's subject). */
  readonly targets: TableTarget[] | undefined;
}

/**
 * Resolves `task.objects` on the source and plans each table's target: fail naming the missing
 * schema or table, or each mapping problem (a missing or key column left out, tables meeting in one
 * destination table); warn when the selection holds no table at all. Never throws.
 */
export async function checkSelectedObjects(task: TaskConfig, source: Source): Promise<SelectedObjectsCheck> {
  const id = 'selected-objects';
  const title = 'Selected objects exist on the source';
  try {
    const tables = await source.listTables(task.objects);
    const { targets, problems } = planTargets(task, tables);
    const leaves = tables.filter((t) => t.relkind === 'r').length;
    if (problems.length > 0) {
      return {
        result: {
          id,
          title,
          status: 'fail',
          message: problems.map((p) => `${p.path}: ${p.message}`).join('; '),
          fix: 'fix objects or mapping in the task file',
        },
        tables,
        targets,
      };
    }
    if (tables.length === 0) {
      return {
        result: {
          id,
          title,
          status: 'warn',
          message: 'the selected schemas hold no table: nothing to copy',
          fix: 'check objects in the task file',
        },
        tables,
        targets,
      };
    }
    return {
      result: {
        id,
        title,
        status: 'pass',
        message: `${tables.length} table(s) selected (${leaves} with storage)`,
      },
      tables,
      targets,
    };
  } catch (e) {
    return {
      result: {
        id,
        title,
        status: 'fail',
        message: e instanceof Error ? e.message : String(e),
        ...(e instanceof PgdtsError && e.code === 'CONFIG_INVALID'
          ? { fix: 'fix objects in the task file or create the object on the source' }
          : {}),
      },
      tables: undefined,
      targets: undefined,
    };
  }
}
