/**
 * Precheck: the source accepts one more replication connection. Each walsender (logical or physical)
 * takes one of `max_wal_senders` (PostgreSQL docs, "Replication" settings); pgdts holds one while
 * streaming and one while the slot's exported snapshot is in use.
 */
import { isIncremental } from './incremental.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/** A free WAL sender on the source (incremental only). */
export const walSendersCheck: PgPrecheck = {
  id: 'wal-senders',
  title: 'Source WAL senders',
  needs: [],
  applies: isIncremental,
  run: async (s) => {
    // backend_type is shown to every user (only query text and the like are hidden).
    const r = await s.client.query<{ max: number; used: number }>(
      `SELECT current_setting('max_wal_senders')::int AS max,
              (SELECT count(*)::int FROM pg_stat_activity WHERE backend_type = 'walsender') AS used`,
    );
    const max = r.rows[0]?.max ?? 0;
    const used = r.rows[0]?.used ?? 0;
    const free = max - used;
    if (free >= 1) return { status: 'pass', message: `${free} of max_wal_senders = ${max} free` };
    return {
      status: 'fail',
      message: `no free WAL sender: ${used} of max_wal_senders = ${max} in use`,
      fix: 'raise max_wal_senders (restart needed) or stop other replication clients',
    };
  },
};
