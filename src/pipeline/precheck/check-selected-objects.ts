/**
 * Precheck: every object the task selects exists on the source. Also resolves the selection for the
 * checks that look at tables.
 */
import { PgdtsError } from '../../core/errors.ts';
import type { PrecheckResult } from '../../core/precheck.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { Source } from '../../core/source.ts';
import type { TaskConfig } from '../../core/task-config.ts';

/** The report line, and the selected tables when the selection resolved. */
export interface SelectedObjectsCheck {
  readonly result: PrecheckResult;
  readonly tables: SelectedTable[] | undefined;
}

/**
 * Resolves `task.objects` on the source: fail naming the missing schema or table, warn when the
 * selection holds no table at all. Never throws.
 */
export async function checkSelectedObjects(task: TaskConfig, source: Source): Promise<SelectedObjectsCheck> {
  const id = 'selected-objects';
  const title = 'Selected objects exist on the source';
  try {
    const tables = await source.listTables(task.objects);
    const leaves = tables.filter((t) => t.relkind === 'r').length;
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
    };
  }
}
