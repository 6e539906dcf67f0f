/**
 * The task lease on a PostgreSQL destination: a session-level advisory lock (PostgreSQL docs,
 * "Advisory Locks") held by a dedicated connection for as long as a run lasts. A run killed with
 * SIGKILL loses its connection, and with it the lock, at once (the kernel closes its sockets), so the
 * next run starts without waiting; a second run started while the first is alive is refused. The
 * lock key is (hashtext('pgdts.task'), hashtext(task name)).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { LeaseHeldError } from '../../core/errors.ts';
import type { TaskLease } from '../../core/sink.ts';
import { connect, isUsable, wrapPgError, type ConnectionParams } from '../../pg/connection.ts';

const LOCK = "hashtext('pgdts.task'), hashtext($1)";

/**
 * SQL condition on `pg_locks l`: the row is the lease of the task named by parameter `param`, granted
 * (two-key advisory locks are `objsubid = 2`; pg_locks is readable by every role).
 */
export function leaseLockCondition(param: string): string {
  return `l.locktype = 'advisory' AND l.granted AND l.classid = hashtext('pgdts.task')::oid
              AND l.objid = hashtext(${param})::oid AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
}
/** How long to wait for a lease held by another session: a killed run's session ends in moments. */
const WAIT_MS = 5_000;

/** {@link TaskLease} held by one destination session. */
export class PostgresTaskLease implements TaskLease {
  private client: pg.Client | undefined;

  private constructor(
    private readonly params: ConnectionParams,
    private readonly taskName: string,
  ) {}

  /**
   * Takes the lease.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT (not retryable) naming the backend holding it, when it is
   *   still held after 5 s; CONNECTION_FAILED (retryable) when the destination cannot be reached.
   */
  static async acquire(params: ConnectionParams, taskName: string): Promise<PostgresTaskLease> {
    const lease = new PostgresTaskLease(params, taskName);
    await lease.take(true);
    return lease;
  }

  private async take(first: boolean): Promise<void> {
    const client = await connect(this.params, { role: 'destination', applicationName: 'pgdts-lease' });
    let got: boolean;
    let holder: { pid: number; app: string | null } | undefined;
    try {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const r = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK}) AS ok`, [
          this.taskName,
        ]);
        got = r.rows[0]?.ok === true;
        if (got || Date.now() >= deadline) break;
        await sleep(200);
      }
      if (!got) {
        const h = await client.query<{ pid: number; app: string | null }>(
          `SELECT l.pid, a.application_name AS app FROM pg_locks l
             LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE ${leaseLockCondition('$1')}`,
          [this.taskName],
        );
        holder = h.rows[0];
      }
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('CHECKPOINT_CONFLICT', `cannot take the lease of task ${this.taskName}`, e);
    }
    if (!got) {
      await client.end().catch(() => undefined);
      const who = holder
        ? ` (held by destination backend ${holder.pid}${holder.app ? `, ${holder.app}` : ''})`
        : '';
      throw new LeaseHeldError(
        first
          ? `task ${this.taskName} is already running${who}: one run of a task at a time`
          : `task ${this.taskName} was taken over by another run while this one was disconnected${who}`,
        'stop the other run (or wait until it ends); a run killed with SIGKILL frees the task at once',
      );
    }
    this.client = client;
  }

  async check(): Promise<void> {
    if (this.client !== undefined && isUsable(this.client)) return;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
    await this.take(false);
  }

  async release(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    // Closing the session frees the lock.
    await c?.end().catch(() => undefined);
  }
}
