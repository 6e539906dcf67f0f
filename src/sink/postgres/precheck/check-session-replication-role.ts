/**
 * Precheck: whether the destination user may set `session_replication_role = replica`, under which
 * triggers and foreign key checks, which already ran on the source, do not run again (PostgreSQL
 * docs, "Client Connection Defaults"). That takes a superuser, or from PostgreSQL 15 the SET privilege
 * on the parameter (`GRANT SET ON PARAMETER`, PostgreSQL docs "GRANT").
 *
 * - Full sync loads ranges of different tables in parallel, in no order: into existing destination
 *   tables with foreign keys or triggers, it needs the setting (schema sync creates both after the
 *   load, so tables it creates do not).
 * - Incremental sync without it applies changes in source order with foreign keys checked and
 *   triggers active: a warning, or a failure when the selection has triggers (schema sync creates
 *   them from the source, and they would fire again on every applied row), or rules (they would
 *   rewrite applied INSERT, UPDATE and DELETE statements; under replica only ENABLE REPLICA and
 *   ENABLE ALWAYS rules fire).
 */
import { displayName, quoteIdent } from '../../../core/identifier.ts';
import { listShort } from '../../../core/precheck.ts';
import { hasSyncType } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';

/** Whether the destination user may set session_replication_role (full or incremental). */
export const sessionReplicationRoleCheck: PgPrecheck = {
  id: 'session-replication-role',
  title: 'Destination session_replication_role',
  needs: ['targets'],
  applies: (task) => hasSyncType(task, 'incremental') || hasSyncType(task, 'full'),
  run: async (d, ctx) => {
    const targets = needed(ctx.targets, 'targets');
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
    // Existing destination tables of the selection that have foreign keys or user triggers.
    const guarded = await d.client.query<{ schema: string; name: string }>(
      `SELECT s.schema, s.name FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         JOIN pg_namespace n ON n.nspname = s.schema
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name
        WHERE EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f')
           OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
           OR EXISTS (SELECT 1 FROM pg_rewrite w WHERE w.ev_class = c.oid AND w.rulename <> '_RETURN')`,
      [targets.map((t) => t.table.schema), targets.map((t) => t.table.name)],
    );
    const existing = guarded.rows.map((r) => `${r.schema}.${r.name}`);
    if (hasSyncType(ctx.task, 'full') && existing.length > 0) {
      return {
        status: 'fail',
        message: `${d.server.user} cannot set session_replication_role = replica, and destination tables ${listShort(existing)} have foreign keys or triggers: the parallel copy would trip them`,
        fix: `${fix} (or let schema sync create the tables: it adds foreign keys and triggers after the load)`,
      };
    }
    if (!hasSyncType(ctx.task, 'incremental')) {
      return {
        status: 'pass',
        message: 'not needed: no destination table of the selection has foreign keys or triggers yet',
      };
    }
    const withTriggers = [
      ...new Set([
        ...(hasSyncType(ctx.task, 'schema')
          ? targets
              .filter((t) => t.source.triggers > 0 || (t.source.rules ?? 0) > 0)
              .map((t) => displayName(t.table))
          : []),
        ...existing,
      ]),
    ];
    if (withTriggers.length > 0) {
      return {
        status: 'fail',
        message: `${d.server.user} cannot set session_replication_role = replica, and ${listShort(withTriggers)} ${withTriggers.length === 1 ? 'has' : 'have'} triggers, rules or foreign keys: triggers would fire again on every applied row, rules would rewrite applied changes`,
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
