/**
 * Precheck: what the destination already holds for the selection. Schema sync creates the tables and
 * full sync loads them, so selected tables that already hold rows would end up with duplicates or
 * conflicts; when neither is selected, the tables must already exist. A destination whose `pgdts`
 * bookkeeping already knows this task is a resumed run, where existing rows are expected.
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

/** Selected tables on the destination: non-empty fails (schema/full), empty warns, missing fails without schema sync. */
export const destinationTablesCheck: PgPrecheck = {
  id: 'destination-tables',
  title: 'Selected tables in the destination',
  needs: ['tables'],
  run: async (d, ctx) => {
    const tables = needed(ctx.tables, 'tables');
    const phase = await taskPhase(d.client, ctx.task.name);
    if (phase !== undefined) {
      return {
        status: 'pass',
        message: `task ${ctx.task.name} is already in phase ${phase} on the destination: the run resumes`,
      };
    }
    const r = await d.client.query<{ schema: string; name: string; present: boolean }>(
      `SELECT s.schema, s.name, c.oid IS NOT NULL AS present
         FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         LEFT JOIN pg_namespace n ON n.nspname = s.schema
         LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind IN ('r', 'p')`,
      [tables.map((t) => t.schema), tables.map((t) => t.name)],
    );
    const present = r.rows.filter((x) => x.present);
    const missing = r.rows.filter((x) => !x.present);
    const loads = hasSyncType(ctx.task, 'schema') || hasSyncType(ctx.task, 'full');
    const leaves = new Set(tables.filter((t) => t.relkind === 'r').map(displayName));
    const nonEmpty: QualifiedName[] = [];
    const unreadable: QualifiedName[] = [];
    for (const t of present) {
      if (!leaves.has(displayName(t))) continue;
      const e = await d.client.query<{ has: boolean | null }>(
        `SELECT CASE WHEN has_table_privilege(${quoteLiteral(quoteQualified(t))}, 'SELECT')
                     THEN EXISTS (SELECT 1 FROM ONLY ${quoteQualified(t)}) END AS has`,
      );
      const has = e.rows[0]?.has;
      if (has === true) nonEmpty.push(t);
      else if (has === null || has === undefined) unreadable.push(t);
    }
    if (loads && unreadable.length > 0) {
      return {
        status: 'fail',
        message: `${d.server.user} cannot tell whether ${listShort(unreadable.map(displayName))} hold rows: no SELECT (the copy would empty them)`,
        fix: `GRANT SELECT ON ${unreadable.map(quoteQualified).join(', ')} TO ${quoteIdent(d.server.user)};`,
      };
    }
    if (loads && nonEmpty.length > 0) {
      return {
        status: 'fail',
        message: `already hold rows in the destination: ${listShort(nonEmpty.map(displayName))}`,
        fix: `TRUNCATE or DROP them on the destination (e.g. TRUNCATE ${nonEmpty
          .slice(0, 3)
          .map(quoteQualified)
          .join(', ')};), select other objects, or use syncTypes [incremental] if they are already loaded`,
      };
    }
    if (!hasSyncType(ctx.task, 'schema') && missing.length > 0) {
      return {
        status: 'fail',
        message: `missing in the destination and schema sync is not selected: ${listShort(missing.map(displayName))}`,
        fix: 'add schema to syncTypes, or create the tables on the destination',
      };
    }
    if (hasSyncType(ctx.task, 'schema') && present.length > 0) {
      return {
        status: 'warn',
        message: `already exist (empty) in the destination: ${listShort(present.map(displayName))}; schema sync keeps their definition`,
        fix: 'drop them on the destination if their definition differs from the source',
      };
    }
    return {
      status: 'pass',
      message: `${present.length} present, ${missing.length} to be created, none holding rows${loads ? '' : ' that matter'}`,
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
