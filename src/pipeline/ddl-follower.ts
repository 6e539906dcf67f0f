/**
 * Applies one captured source DDL during incremental sync (the I/O side of ddl-sync.ts): inside the
 * source transaction that made it, the sink makes the mapped changes in the open destination
 * transaction (after the rows before it), and the session's mapper, snapshot filter and new-table
 * watcher learn about renamed and dropped tables at once, so the rows that follow map onto the new
 * names. A new table in the selection is joined by the caller at the next point between
 * transactions (task invariant T11; apply invariant P9 for the DDL itself).
 */
import type { DdlBookkeeping, DdlEventPayload } from '../core/ddl.ts';
import type { Lsn } from '../core/lsn.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { ChangeApplier } from '../core/sink.ts';
import type { TaskConfig } from '../core/task-config.ts';
import type { ChangeMapper } from './change-mapper.ts';
import { planDdl } from './ddl-sync.ts';
import type { NewTableWatcher } from './new-tables.ts';
import type { SnapshotFilter } from './snapshot-filter.ts';

/** The session state a DDL updates. */
export interface DdlFollowerContext {
  readonly task: TaskConfig;
  readonly watcher: NewTableWatcher;
  readonly mapper: ChangeMapper;
  readonly filter: SnapshotFilter;
  readonly applier: ChangeApplier;
  readonly onProgress: ProgressListener;
}

/**
 * Follows the DDL `ddl` of the source transaction committing at `finalLsn`.
 * @returns whether a table joined the selection (the caller joins new tables before the next
 *   transaction it reads) and whether the destination transaction must commit once this source
 *   transaction is complete (a new enum value, usable only after its transaction commits).
 * @throws {PgdtsError} DDL_UNSUPPORTED (not retryable) for a DDL on a selected table that cannot be
 *   followed; SCHEMA_SYNC_FAILED (retryable) when the destination refuses a statement.
 */
export async function followDdl(
  ddl: DdlEventPayload,
  finalLsn: Lsn,
  ctx: DdlFollowerContext,
): Promise<{ readonly join: boolean; readonly commit: boolean }> {
  const targets = ctx.watcher.targets.filter((t) => !ctx.filter.holds(t.source, finalLsn));
  const steps = planDdl(ddl.message, { task: ctx.task, targets, lsn: ddl.lsn });
  const origin = { statement: ddl.message.query, lsn: ddl.lsn };
  let join = false;
  let commit = false;
  for (const [i, s] of steps.entries()) {
    switch (s.kind) {
      case 'apply': {
        // The bookkeeping of the rename or drop that follows commits with its DDL.
        const next = steps[i + 1];
        const bookkeeping: DdlBookkeeping[] =
          next?.kind === 'renamed'
            ? [{ kind: 'rename-table', from: next.target.source, to: next.to.source }]
            : next?.kind === 'dropped'
              ? [{ kind: 'forget-table', table: next.target.source }]
              : [];
        await ctx.applier.applyDdl(s.changes, origin, bookkeeping);
        break;
      }
      case 'join':
        join = true;
        break;
      case 'commit':
        commit = true;
        break;
      case 'retarget':
        ctx.mapper.replaceTarget(s.target.source, s.to);
        ctx.watcher.replaceTarget(s.target.source, s.to);
        break;
      case 'renamed':
        ctx.mapper.replaceTarget(s.target.source, s.to);
        ctx.watcher.replaceTarget(s.target.source, s.to);
        ctx.filter.rename(s.target.source, s.to.source);
        ctx.onProgress({
          kind: 'log',
          level: 'info',
          message: `table ${s.target.source.schema}.${s.target.source.name} renamed on the source to ${s.to.source.name}: renamed in the destination`,
        });
        break;
      case 'dropped':
        ctx.mapper.replaceTarget(s.target.source, undefined);
        ctx.watcher.replaceTarget(s.target.source, undefined);
        ctx.onProgress({
          kind: 'log',
          level: 'info',
          message: `table ${s.target.source.schema}.${s.target.source.name} dropped on the source: dropped in the destination, it leaves the sync`,
        });
        break;
      case 'warn':
        ctx.onProgress({ kind: 'log', level: 'warn', message: s.message });
        break;
    }
  }
  if (steps.some((s) => s.kind === 'apply')) {
    ctx.onProgress({
      kind: 'log',
      level: 'info',
      message: `DDL followed: ${ddl.message.tag} (${ddl.message.query.trim().slice(0, 200)})`,
    });
  }
  return { join, commit };
}
