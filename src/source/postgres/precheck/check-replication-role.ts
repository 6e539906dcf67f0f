/**
 * Precheck: the source user may open replication connections and create slots: it needs the
 * REPLICATION attribute or superuser (PostgreSQL docs, "Replication Slots" / CREATE ROLE).
 */
import { quoteIdent } from '../../../core/identifier.ts';
import { isIncremental } from './incremental.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/** Source user has REPLICATION or is superuser (incremental only). */
export const replicationRoleCheck: PgPrecheck = {
  id: 'replication-role',
  title: 'Source user may replicate',
  needs: [],
  applies: isIncremental,
  run: async (s) => {
    if (s.server.isSuperuser) return { status: 'pass', message: `${s.server.user} is superuser` };
    const r = await s.client.query<{ rep: boolean }>(
      'SELECT rolreplication AS rep FROM pg_roles WHERE rolname = current_user',
    );
    if (r.rows[0]?.rep === true) return { status: 'pass', message: `${s.server.user} has REPLICATION` };
    return {
      status: 'fail',
      message: `${s.server.user} has neither REPLICATION nor superuser: it cannot create the replication slot or stream changes`,
      fix: `ALTER ROLE ${quoteIdent(s.server.user)} REPLICATION;`,
    };
  },
};
