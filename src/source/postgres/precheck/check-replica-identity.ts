/**
 * Precheck: incremental sync can identify the rows of UPDATE and DELETE. pgoutput sends the old row's
 * replica identity columns; a table with REPLICA IDENTITY DEFAULT and no primary key, or NOTHING, has
 * none and the source even refuses UPDATE/DELETE on it once it is published (PostgreSQL docs,
 * "Logical Replication" > "Publication" and ALTER TABLE "REPLICA IDENTITY"). Partitions are checked
 * one by one: the leaf partition's replica identity is what counts for its rows.
 */
import { displayName, quoteQualified } from '../../../core/identifier.ts';
import { isIncremental } from './incremental.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { listShort } from '../../../core/precheck.ts';

/** Every selected table with storage has a primary key or usable replica identity (incremental only). */
export const replicaIdentityCheck: PgPrecheck = {
  id: 'replica-identity',
  title: 'Replica identity of selected tables',
  needs: ['tables'],
  applies: isIncremental,
  run: (_side, ctx) => {
    const leaves = needed(ctx.tables, 'tables').filter((t) => t.relkind === 'r');
    const unusable = leaves.filter(
      (t) =>
        t.replicaIdentity === 'nothing' || (t.replicaIdentity === 'default' && t.primaryKey.length === 0),
    );
    if (unusable.length > 0) {
      return Promise.resolve({
        status: 'fail',
        message: `no primary key and no usable replica identity: ${listShort(unusable.map(displayName))}`,
        fix: `add a primary key, or ${unusable
          .slice(0, 3)
          .map((t) => `ALTER TABLE ${quoteQualified(t)} REPLICA IDENTITY FULL;`)
          .join(' ')}${unusable.length > 3 ? ' ...' : ''}`,
      });
    }
    const full = leaves.filter((t) => t.replicaIdentity === 'full' && t.primaryKey.length === 0);
    if (full.length > 0) {
      return Promise.resolve({
        status: 'warn',
        message: `no primary key, REPLICA IDENTITY FULL: ${listShort(full.map(displayName))} (UPDATE/DELETE match on all columns: slower apply, bigger WAL)`,
        fix: 'add a primary key (or a unique index and REPLICA IDENTITY USING INDEX)',
      });
    }
    return Promise.resolve({
      status: 'pass',
      message: `${leaves.length} table(s) have a primary key or replica identity`,
    });
  },
};
