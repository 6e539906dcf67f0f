/**
 * Precheck: the source user may open replication connections and create slots: it needs the
 * REPLICATION attribute or superuser (PostgreSQL docs, "Replication Slots" / CREATE ROLE).
 */
import { isIncremental } from './incremental.ts';
import { needed, type Precheck } from './precheck-result.ts';

/** Source user has REPLICATION or is superuser (incremental only). */
export const replicationRoleCheck: Precheck = {
  id: 'replication-role',
  title: 'Source user may replicate',
  needs: ['source'],
  applies: isIncremental,
  run: async (ctx) => {
    const s = needed(ctx.source, 'source');
    if (s.isSuperuser) return { status: 'pass', message: `${s.user} is superuser` };
    const r = await s.client.query<{ rep: boolean }>(
      'SELECT rolreplication AS rep FROM pg_roles WHERE rolname = current_user',
    );
    if (r.rows[0]?.rep === true) return { status: 'pass', message: `${s.user} has REPLICATION` };
    return {
      status: 'fail',
      message: `${s.user} has neither REPLICATION nor superuser: it cannot create the replication slot or stream changes`,
      fix: `ALTER ROLE ${s.user} REPLICATION;`,
    };
  },
};
