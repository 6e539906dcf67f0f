/**
 * `pgdts grants`: the least each side's user needs for a task, as statements a DBA reviews and
 * runs, source first (its publication must exist before the run) — computed by each connector from
 * its catalog and the task's selection (with `schema.owners` / `schema.privileges`, the source's
 * owner roles the destination user must be a member of).
 */
import { ddlSchemasOf } from '../core/ddl.ts';
import type { AccessRecipe } from '../core/precheck.ts';
import type { Sink } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import { resolveTargets } from '../core/table-targets.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { ownerAndDefaultPrivilegeRoles, schemaRolesApply } from './precheck/check-schema-roles.ts';
import { readSchemaOptions } from './schema-sync.ts';

/**
 * The recipes of both sides, source first.
 * @throws {PgdtsError} CONNECTION_FAILED when a side cannot be reached with the task's credentials
 *   (the recipe is read from its catalog), CONFIG_INVALID when a selected object is missing or the
 *   selection's mapping is refused.
 */
export async function accessRecipes(
  task: TaskConfig,
  c: { readonly source: Source; readonly sink: Sink },
): Promise<AccessRecipe[]> {
  const tables = await c.source.listTables(task.objects);
  const targets = resolveTargets(task, tables);
  const ownerRoles = schemaRolesApply(task)
    ? ownerAndDefaultPrivilegeRoles(await c.source.readSchema(task.objects, readSchemaOptions(task)), task)
    : [];
  const source = await c.source.accessRecipe(task, targets);
  const schemas = ddlSchemasOf(task);
  // No grant gives it: CREATE EVENT TRIGGER is for superusers only (PostgreSQL docs, "CREATE EVENT TRIGGER").
  const ddl =
    schemas.length === 0
      ? []
      : [
          `DDL capture (ddl in objects[].operations, on by default) needs an event trigger on the source, which only a superuser may create: run the task as a superuser to follow DDL on ${schemas.join(', ')} as it happens; otherwise schema changes follow the Relation-message fallback`,
        ];
  return [
    { ...source, notes: [...source.notes, ...ddl] },
    await c.sink.accessRecipe(task, targets, ownerRoles),
  ];
}

/**
 * SQL text of `recipes`: a comment line naming the side, where it runs and as whom, the notes as
 * comments, then one statement per line. With `side`, only that side's statements (to pipe into
 * psql).
 */
export function formatAccessRecipes(
  task: TaskConfig,
  recipes: readonly AccessRecipe[],
  side?: 'source' | 'destination',
): string {
  const out: string[] = [];
  for (const r of recipes) {
    if (side !== undefined && r.side !== side) continue;
    if (side === undefined) {
      out.push(`-- ${r.side} ${r.target} (task ${task.name}): run as ${r.runAs}`);
      for (const n of r.notes) out.push(`-- ${n}`);
    }
    for (const s of r.statements) out.push(`${s};`);
    if (side === undefined) out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
