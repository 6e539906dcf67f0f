/**
 * Precheck: what the destination already holds for the selection (`conflictingTables`). Schema sync
 * creates the tables and full sync loads them; without schema sync the tables must already exist. A
 * destination whose `pgdts` bookkeeping already knows this task is a resumed run, where existing rows
 * are expected.
 */
import type pg from 'pg';
import {
  displayName,
  quoteIdent,
  quoteLiteral,
  quoteQualified,
  type QualifiedName,
} from '../../../core/identifier.ts';
import { hasSyncType } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { listShort } from '../../../core/precheck.ts';

/**
 * The destination tables of the selection (`targets`), by `conflictingTables`:
 * - `precheck-error` (default): with schema sync, one that already exists fails (its definition would
 *   not be the source's); with full sync, one that holds rows fails (the copy would duplicate or
 *   conflict); without schema sync, a missing one fails.
 * - `ignore`: existing tables are used as they are; rows they hold are kept by full sync (a copied
 *   row whose key exists is skipped), which needs a key: a non-empty keyless table fails.
 * A resumed run (the bookkeeping knows the task) passes: existing rows are its own.
 */
export const destinationTablesCheck: PgPrecheck = {
  id: 'destination-tables',
  title: 'Selected tables in the destination',
  needs: ['targets'],
  run: async (d, ctx) => {
    const targets = needed(ctx.targets, 'targets');
    const phase = await taskPhase(d.client, ctx.task.name);
    if (phase !== undefined) {
      return {
        status: 'pass',
        message: `task ${ctx.task.name} is already in phase ${phase} on the destination: the run resumes`,
      };
    }
    // Merged tables share one destination table: look at each once.
    const byTarget = new Map(targets.map((t) => [displayName(t.table), t]));
    const r = await d.client.query<{ schema: string; name: string; present: boolean }>(
      `SELECT s.schema, s.name, c.oid IS NOT NULL AS present
         FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         LEFT JOIN pg_namespace n ON n.nspname = s.schema
         LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind IN ('r', 'p')`,
      [[...byTarget.values()].map((t) => t.table.schema), [...byTarget.values()].map((t) => t.table.name)],
    );
    const present = r.rows.filter((x) => x.present);
    const missing = r.rows.filter((x) => !x.present);
    const schema = hasSyncType(ctx.task, 'schema');
    const full = hasSyncType(ctx.task, 'full');
    const ignore = ctx.task.conflictingTables === 'ignore';
    const nonEmpty: QualifiedName[] = [];
    const unreadable: QualifiedName[] = [];
    for (const t of present) {
      if (byTarget.get(displayName(t))?.source.relkind !== 'r') continue;
      const e = await d.client.query<{ has: boolean | null }>(
        `SELECT CASE WHEN has_table_privilege(${quoteLiteral(quoteQualified(t))}, 'SELECT')
                     THEN EXISTS (SELECT 1 FROM ONLY ${quoteQualified(t)}) END AS has`,
      );
      const has = e.rows[0]?.has;
      if (has === true) nonEmpty.push(t);
      else if (has === null || has === undefined) unreadable.push(t);
    }
    if ((schema || full) && unreadable.length > 0) {
      return {
        status: 'fail',
        message: `${d.server.user} cannot tell whether ${listShort(unreadable.map(displayName))} hold rows: no SELECT (the copy would empty them)`,
        fix: `GRANT SELECT ON ${unreadable.map(quoteQualified).join(', ')} TO ${quoteIdent(d.server.user)};`,
      };
    }
    if (!schema && missing.length > 0) {
      return {
        status: 'fail',
        message: `missing in the destination and schema sync is not selected: ${listShort(missing.map(displayName))}`,
        fix: 'add schema to syncTypes, or create the tables on the destination',
      };
    }
    if (ignore) {
      const keyless = nonEmpty.filter((t) => {
        const s = byTarget.get(displayName(t))?.source;
        return s !== undefined && s.primaryKey.length === 0 && s.replicaIdentityIndexColumns.length === 0;
      });
      if (full && keyless.length > 0) {
        return {
          status: 'fail',
          message: `conflictingTables is ignore, but ${listShort(keyless.map(displayName))} hold rows and have no key: copied rows cannot be told from the rows they hold`,
          fix: 'empty them on the destination, add a primary key on both sides, or leave them out of objects',
        };
      }
      return {
        status: 'pass',
        message: `conflictingTables is ignore: ${present.length} existing table(s) used as they are (${nonEmpty.length} holding rows, kept where a key exists), ${missing.length} to be created`,
      };
    }
    const fix = `DROP or rename them on the destination, map the selection elsewhere (objects[].as, mapping), or set conflictingTables: ignore to use them as they are`;
    if (schema && present.length > 0) {
      return {
        status: 'fail',
        message: `already exist in the destination: ${listShort(present.map(displayName))} (conflictingTables is precheck-error)`,
        fix,
      };
    }
    if (full && nonEmpty.length > 0) {
      return {
        status: 'fail',
        message: `already hold rows in the destination: ${listShort(nonEmpty.map(displayName))}`,
        fix: `TRUNCATE them on the destination (e.g. TRUNCATE ${nonEmpty
          .slice(0, 3)
          .map(quoteQualified)
          .join(
            ', ',
          )};), set conflictingTables: ignore to keep their rows, or use syncTypes [incremental] if they are already loaded`,
      };
    }
    return {
      status: 'pass',
      message: `${present.length} present, ${missing.length} to be created, none holding rows${full ? '' : ' that matter'}`,
    };
  },
};

/** The phase of `task` in the destination's bookkeeping, or undefined when not recorded. */
async function taskPhase(client: pg.Client, task: string): Promise<string | undefined> {
  const t = await client.query<{ ok: boolean }>(
    "SELECT CASE WHEN to_regclass('pgdts.task') IS NULL THEN false ELSE has_table_privilege('pgdts.task', 'SELECT') END AS ok",
  );
  if (t.rows[0]?.ok !== true) return undefined;
  const r = await client.query<{ phase: string }>('SELECT phase FROM pgdts.task WHERE name = $1', [task]);
  return r.rows[0]?.phase;
}
