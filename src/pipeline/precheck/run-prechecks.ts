/**
 * Runs every precheck of a task against its source and destination and returns one result per check,
 * in a fixed order. A check whose prerequisites failed (e.g. the source is unreachable) is left out:
 * the failed prerequisite is the line that matters.
 */
import type { TaskConfig } from '../../core/task-config.ts';
import { redact } from '../../pg/connection.ts';
import type { SelectedTable } from '../../source/postgres/selected-tables.ts';
import { checkConnection } from './check-connection.ts';
import { destinationPrivilegesCheck } from './check-destination-privileges.ts';
import { destinationTablesCheck } from './check-destination-tables.ts';
import { pgoutputStreamingCheck } from './check-pgoutput-streaming.ts';
import { replicaIdentityCheck } from './check-replica-identity.ts';
import { replicationRoleCheck } from './check-replication-role.ts';
import { replicationSlotsCheck } from './check-replication-slots.ts';
import { checkSelectedObjects } from './check-selected-objects.ts';
import { destinationVersionCheck, sourceVersionCheck } from './check-server-versions.ts';
import { sourcePrivilegesCheck } from './check-source-privileges.ts';
import { walLevelCheck } from './check-wal-level.ts';
import { walSendersCheck } from './check-wal-senders.ts';
import type { Precheck, PrecheckContext, PrecheckResult } from './precheck-result.ts';

/** The checks after connection and object resolution, in report order. */
export const PRECHECKS: readonly Precheck[] = [
  sourceVersionCheck,
  destinationVersionCheck,
  walLevelCheck,
  replicationSlotsCheck,
  walSendersCheck,
  replicationRoleCheck,
  pgoutputStreamingCheck,
  sourcePrivilegesCheck,
  replicaIdentityCheck,
  destinationPrivilegesCheck,
  destinationTablesCheck,
];

/**
 * Runs the prechecks of `task`: connections (`source-connection`, `destination-connection`), then
 * `selected-objects`, then {@link PRECHECKS} that apply to the task's sync types. Never throws: a check
 * that errors is reported as `fail` with the error's message (passwords redacted). Opens one
 * connection per side and closes it before returning.
 */
export async function runPrechecks(task: TaskConfig): Promise<PrecheckResult[]> {
  const [src, dst] = await Promise.all([
    checkConnection(task, 'source'),
    checkConnection(task, 'destination'),
  ]);
  const results: PrecheckResult[] = [src.result, dst.result];
  try {
    let tables: SelectedTable[] | undefined;
    if (src.side !== undefined) {
      const sel = await checkSelectedObjects(task, src.side);
      results.push(sel.result);
      tables = sel.tables;
    }
    const ctx: PrecheckContext = { task, source: src.side, destination: dst.side, tables };
    const passwords = [src.side?.params.password, dst.side?.params.password];
    for (const check of PRECHECKS) {
      if (check.applies !== undefined && !check.applies(task)) continue;
      if (!check.needs.every((n) => ctx[n] !== undefined)) continue;
      try {
        const outcome = await check.run(ctx);
        results.push({ id: check.id, title: check.title, ...outcome });
      } catch (e) {
        let message = `check failed: ${e instanceof Error ? e.message : String(e)}`;
        for (const p of passwords) message = redact(message, p);
        results.push({ id: check.id, title: check.title, status: 'fail', message });
      }
    }
  } finally {
    await Promise.all([
      src.side?.client.end().catch(() => undefined),
      dst.side?.client.end().catch(() => undefined),
    ]);
  }
  return results;
}

/** Did every check pass or only warn? */
export function prechecksPassed(results: readonly PrecheckResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}
