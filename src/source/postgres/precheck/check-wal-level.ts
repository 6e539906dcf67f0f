/**
 * Precheck: the source writes logical WAL. Logical decoding needs `wal_level = logical`
 * (PostgreSQL docs, "Logical Decoding Concepts" and runtime setting `wal_level`); it changes only with a
 * server restart.
 */
import { isIncremental } from './incremental.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/** Source `wal_level` is `logical` (incremental only). */
export const walLevelCheck: PgPrecheck = {
  id: 'wal-level',
  title: 'Source wal_level',
  needs: [],
  applies: isIncremental,
  run: async (s) => {
    const r = await s.client.query<{ wal_level: string }>('SHOW wal_level');
    const level = r.rows[0]?.wal_level ?? 'unknown';
    if (level === 'logical') return { status: 'pass', message: 'wal_level = logical' };
    return {
      status: 'fail',
      message: `wal_level = ${level}: logical decoding needs wal_level = logical`,
      fix: 'ALTER SYSTEM SET wal_level = logical; then restart the source server (on managed services set the logical replication parameter, e.g. rds.logical_replication = 1)',
    };
  },
};
