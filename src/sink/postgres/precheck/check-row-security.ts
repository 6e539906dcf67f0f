/**
 * Precheck: whether row-level security policies would apply to the destination user's writes. Copy
 * and apply sessions run with `row_security = off`, so such a write fails (PostgreSQL docs, "Row
 * Security Policies", "row_security"). Policies apply to a table's owner only with FORCE ROW LEVEL
 * SECURITY, and never to superusers or roles with BYPASSRLS.
 *
 * - Existing destination tables of the selection with row-level security enabled that are forced, or
 *   owned by another role: the copy and the apply would fail.
 * - With schema sync and incremental sync, source tables with ENABLE + FORCE: schema sync creates
 *   them so (after the copy), and the apply would fail.
 */
import { displayName, quoteIdent } from '../../../core/identifier.ts';
import { listShort } from '../../../core/precheck.ts';
import { hasSyncType } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';

/** Whether the destination user bypasses the row-level security of the tables it writes. */
export const rowSecurityCheck: PgPrecheck = {
  id: 'row-security',
  title: 'Destination row-level security',
  needs: ['targets'],
  applies: (task) => hasSyncType(task, 'incremental') || hasSyncType(task, 'full'),
  run: async (d, ctx) => {
    const targets = needed(ctx.targets, 'targets');
    const r = await d.client.query<{ su: boolean; bypass: boolean }>(
      'SELECT rolsuper AS su, rolbypassrls AS bypass FROM pg_catalog.pg_roles WHERE rolname = current_user',
    );
    if (r.rows[0]?.su === true || r.rows[0]?.bypass === true) {
      return {
        status: 'pass',
        message: `${d.server.user} bypasses row-level security (${r.rows[0].su ? 'superuser' : 'BYPASSRLS'})`,
      };
    }
    const subject = await d.client.query<{ schema: string; name: string }>(
      `SELECT s.schema, s.name FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.name
        WHERE c.relrowsecurity AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE'))`,
      [targets.map((t) => t.table.schema), targets.map((t) => t.table.name)],
    );
    const names = new Set(subject.rows.map((x) => `${x.schema}.${x.name}`));
    if (hasSyncType(ctx.task, 'schema') && hasSyncType(ctx.task, 'incremental')) {
      for (const t of targets) if (t.source.forcedRowSecurity === true) names.add(displayName(t.table));
    }
    if (names.size === 0) {
      return { status: 'pass', message: `no selected table applies row-level security to ${d.server.user}` };
    }
    return {
      status: 'fail',
      message: `row-level security policies of ${listShort([...names])} would apply to ${d.server.user} (FORCE ROW LEVEL SECURITY, or another owner): pgdts's writes would fail`,
      fix: `ALTER ROLE ${quoteIdent(d.server.user)} BYPASSRLS; -- run as a superuser`,
    };
  },
};
