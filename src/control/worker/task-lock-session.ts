/**
 * The session that holds a process's task locks (task-states.md S9, S10): one dedicated store
 * connection on which `pg_try_advisory_lock(hashtext('pgdts.control.task'), lock_key)` claims a
 * task (PostgreSQL docs, "Advisory Locks": a session lock is held until unlocked or the session
 * ends, and by one session at a time). Its TCP keepalives are set so that the store ends the session
 * — and frees its locks — within the lease timeout when the process's machine is lost.
 */
import pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import { wrapPgError } from '../../pg/connection.ts';
import { describeUrl } from '../store/control-store.ts';

const LOCK = "hashtext('pgdts.control.task'), $1::int";

/** One lock session. Create with {@link TaskLockSession.open}. */
export class TaskLockSession {
  #client: pg.Client;
  readonly #held = new Set<number>();
  #broken = false;

  private constructor(client: pg.Client) {
    this.#client = client;
  }

  /**
   * Opens the session on the store at `url`.
   * @param leaseTimeoutMs how long the store may take to notice a lost machine: idle + count ×
   *   interval of its TCP keepalives add up to it (PostgreSQL docs, "Connection Settings").
   * @throws {PgdtsError} STORE_FAILED naming the store (never its password).
   */
  static async open(url: string, leaseTimeoutMs: number): Promise<TaskLockSession> {
    const client = new pg.Client({
      connectionString: url,
      application_name: 'pgdts-worker-locks',
      keepAlive: true,
      keepAliveInitialDelayMillis: Math.max(1000, Math.floor(leaseTimeoutMs / 3)),
    });
    const session = new TaskLockSession(client);
    client.on('error', () => {
      session.#broken = true;
    });
    client.on('end', () => {
      session.#broken = true;
    });
    try {
      await client.connect();
      // Server side: idle ⅓ of the timeout, then 4 probes ⅙ apart (⅓ + 4 × ⅙ = 1).
      const idle = Math.max(1, Math.floor(leaseTimeoutMs / 3000));
      const interval = Math.max(1, Math.floor(leaseTimeoutMs / 6000));
      await client.query(
        `SELECT set_config('tcp_keepalives_idle', $1, false), set_config('tcp_keepalives_interval', $2, false),
                set_config('tcp_keepalives_count', '4', false)`,
        [String(idle), String(interval)],
      );
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('STORE_FAILED', `cannot open the lock session on the store ${describeUrl(url)}`, e);
    }
    return session;
  }

  /** Lock keys this session holds. */
  get held(): ReadonlySet<number> {
    return this.#held;
  }

  /**
   * Tries to take the lock of task `lockKey`. @returns whether this session holds it now.
   * @throws {PgdtsError} STORE_FAILED when the session is broken.
   */
  async tryLock(lockKey: number): Promise<boolean> {
    if (this.#held.has(lockKey)) return true;
    const r = await this.#query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK}) AS ok`, [lockKey]);
    const ok = r.rows[0]?.ok === true;
    if (ok) this.#held.add(lockKey);
    return ok;
  }

  /** Frees the lock of `lockKey` (nothing when not held). */
  async unlock(lockKey: number): Promise<void> {
    if (!this.#held.delete(lockKey)) return;
    await this.#query(`SELECT pg_advisory_unlock(${LOCK})`, [lockKey]);
  }

  /**
   * Checks the session answers within `timeoutMs`.
   * @returns false when it does not: its locks may already be someone else's.
   */
  async check(timeoutMs: number): Promise<boolean> {
    if (this.#broken) return false;
    try {
      await Promise.race([
        this.#client.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
      ]);
      return true;
    } catch {
      this.#broken = true;
      return false;
    }
  }

  /** Ends the session: the store frees every lock it held. Never throws. */
  async close(): Promise<void> {
    this.#held.clear();
    this.#broken = true;
    await this.#client.end().catch(() => undefined);
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.#broken) {
      throw new PgdtsError('STORE_FAILED', 'the lock session on the store was lost', { retryable: true });
    }
    try {
      return await this.#client.query<R>(text, values);
    } catch (e) {
      this.#broken = true;
      throw wrapPgError('STORE_FAILED', 'the lock session on the store failed', e);
    }
  }
}
