/**
 * Precheck: an existing publication of the task publishes what incremental sync needs. pgdts creates
 * its publication with every operation and partitions under their own names; one made by a DBA (or an
 * older pgdts) may lack an operation — whose changes would then silently not reach the destination —
 * or publish via the partition root, where "TRUNCATE operations performed directly on partitions are
 * not replicated" (PostgreSQL docs, "CREATE PUBLICATION", publish and publish_via_partition_root).
 */
import { quoteIdent } from '../../../core/identifier.ts';
import { publicationNameOf } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { isIncremental } from './incremental.ts';

/** The publication's operations and partition mode (incremental only). */
export const publicationCheck: PgPrecheck = {
  id: 'publication',
  title: 'Source publication',
  needs: ['tables'],
  applies: isIncremental,
  run: async (s, ctx) => {
    const pub = publicationNameOf(ctx.task);
    const tables = needed(ctx.tables, 'tables');
    const r = await s.client.query<{
      ins: boolean;
      upd: boolean;
      del: boolean;
      trunc: boolean;
      viaroot: boolean;
    }>(
      `SELECT pubinsert AS ins, pubupdate AS upd, pubdelete AS del, pubtruncate AS trunc, pubviaroot AS viaroot
         FROM pg_publication WHERE pubname = $1`,
      [pub],
    );
    const p = r.rows[0];
    if (p === undefined) {
      return { status: 'pass', message: `publication ${pub} will be created for the selected tables` };
    }
    const missing = [
      ...(p.ins ? [] : ['insert']),
      ...(p.upd ? [] : ['update']),
      ...(p.del ? [] : ['delete']),
      ...(p.trunc ? [] : ['truncate']),
    ];
    if (missing.length > 0) {
      return {
        status: 'fail',
        message: `publication ${pub} does not publish ${missing.join(', ')}: those changes would never reach the destination`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} SET (publish = 'insert, update, delete, truncate');`,
      };
    }
    if (p.viaroot && tables.some((t) => t.relkind === 'p')) {
      return {
        status: 'warn',
        message: `publication ${pub} publishes via the partition root: a TRUNCATE of a single partition is not replicated (changes are)`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} SET (publish_via_partition_root = false);`,
      };
    }
    return { status: 'pass', message: `publication ${pub} exists and publishes every operation` };
  },
};
