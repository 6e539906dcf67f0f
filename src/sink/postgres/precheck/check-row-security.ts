/**
 * Precheck: whether row-level security policies would apply to the destination user's writes (see
 * row-security-subjects.ts for when they do); fails with `ALTER ROLE ... BYPASSRLS` as the fix.
 */
import { quoteIdent } from '../../../core/identifier.ts';
import { listShort } from '../../../core/precheck.ts';
import { hasSyncType } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { rowSecuritySubjects } from '../row-security-subjects.ts';

/** Whether the destination user bypasses the row-level security of the tables it writes. */
export const rowSecurityCheck: PgPrecheck = {
  id: 'row-security',
  title: 'Destination row-level security',
  needs: ['targets'],
  applies: (task) => hasSyncType(task, 'incremental') || hasSyncType(task, 'full'),
  run: async (d, ctx) => {
    const found = await rowSecuritySubjects(d.client, ctx.task, needed(ctx.targets, 'targets'));
    switch (found.kind) {
      case 'bypasses':
        return { status: 'pass', message: `${d.server.user} bypasses row-level security (${found.why})` };
      case 'subject':
        if (found.tables.length === 0) {
          return {
            status: 'pass',
            message: `no selected table applies row-level security to ${d.server.user}`,
          };
        }
        return {
          status: 'fail',
          message: `row-level security policies of ${listShort([...found.tables])} would apply to ${d.server.user} (FORCE ROW LEVEL SECURITY, or another owner): pgdts's writes would fail`,
          fix: `ALTER ROLE ${quoteIdent(d.server.user)} BYPASSRLS; -- run as a superuser`,
        };
    }
  },
};
