/**
 * Precheck: incremental sync may set `session_replication_role = replica` on the destination, so
 * that triggers and foreign key checks, which already ran on the source, do not run again (PostgreSQL
 * docs, "Client Connection Defaults"). That takes a superuser, or from PostgreSQL 15 the SET
 * privilege on the parameter (`GRANT SET ON PARAMETER`, PostgreSQL docs "GRANT"). Without it pgdts
 * applies changes in source order with triggers and foreign keys active: a warning, or a failure
 * when the selection has triggers (schema sync creates them, and they would fire on applied rows).
 */
import { displayName, quoteIdent } from '../../../core/identifier.ts';
import { listShort } from '../../../core/precheck.ts';
import { hasSyncType } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';

/** Whether the destination user may set session_replication_role (incremental only). */
export const sessionReplicationRoleCheck: PgPrecheck = {
  id: 'session-replication-role',
  title: 'Destination session_replication_role',
  needs: ['tables'],
  applies: (task) => hasSyncType(task, 'incremental'),
  run: async (d, ctx) => {
    const tables = needed(ctx.tables, 'tables');
    if (d.server.isSuperuser) return { status: 'pass', message: `${d.server.user} is superuser` };
    if (d.server.major >= 15) {
      const r = await d.client.query<{ ok: boolean }>(
        "SELECT has_parameter_privilege('session_replication_role', 'SET') AS ok",
      );
      if (r.rows[0]?.ok === true) {
        return { status: 'pass', message: `${d.server.user} may SET session_replication_role` };
      }
    }
    const fix =
      d.server.major >= 15
        ? `GRANT SET ON PARAMETER session_replication_role TO ${quoteIdent(d.server.user)};`
        : `PostgreSQL ${d.server.major} grants this parameter to superusers only: use a superuser, or a destination of PostgreSQL 15 or later`;
    const withTriggers = tables.filter((t) => t.triggers > 0);
    if (withTriggers.length > 0) {
      return {
        status: 'fail',
        message: `${d.server.user} cannot set session_replication_role = replica, and ${listShort(withTriggers.map(displayName))} ${withTriggers.length === 1 ? 'has' : 'have'} triggers: they would fire again on every applied row`,
        fix,
      };
    }
    return {
      status: 'warn',
      message: `${d.server.user} cannot set session_replication_role = replica: changes are applied in source order with foreign keys checked, and triggers added on the destination would fire`,
      fix,
    };
  },
};
