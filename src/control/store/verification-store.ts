/**
 * The verification job queries ([V6], [V7], [V12]): a job is created `queued`, becomes `running` in one
 * serve process (its `runner`, which renews `heartbeat_at`), and ends `passed` (every table matches),
 * `failed` (a table differs), `error` (the comparison could not run) or `cancelled` (on request).
 * Its per-table results are stored as JSON as tables finish, with the progress a taken-over job
 * resumes from. Every write of a running job names its runner: a runner whose job was taken over
 * cannot change it any more.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import type { VerifyMode } from '../../pipeline/verify/index.ts';
import { wrapPgError } from '../../pg/connection.ts';
import { STORE_SCHEMA } from './migrations.ts';

const V = `${STORE_SCHEMA}.verification`;

/** What a verification job compares (the verify modes). */
export type StoredVerifyMode = VerifyMode;

/** Where a verification job is. */
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/** Every job status, open ones first. */
export const VERIFICATION_STATUSES = ['queued', 'running', 'passed', 'failed', 'error', 'cancelled'] as const;

/**
 * What made a job: a request (`POST .../verify`), the task's `verify.schedule` ([V7]), or continuous
 * sampling ([V9]: a check of sampled changed rows that found differences, stored finished).
 */
export const VERIFICATION_TRIGGERS = ['request', 'schedule', 'sample'] as const;

/** One of {@link VERIFICATION_TRIGGERS}. */
export type VerificationTrigger = (typeof VERIFICATION_TRIGGERS)[number];

/** One table's stored result. Row counts are rows; `durationMs` milliseconds. */
export interface StoredTableVerification {
  /** Destination `schema.table`. */
  readonly table: string;
  readonly sourceRows: number;
  readonly destinationRows: number;
  /** Differences found: differing rows in `rows` mode, else 1 when the table differs, 0 when not. */
  readonly differences: number;
  /**
   * `rows` mode: the differing rows (at most the job's cap), the verify report's RowDifference
   * objects (values in the order of `columns`, keys in the order of `keyColumns`).
   */
  readonly differingRows?: readonly unknown[];
  /** With `differingRows`: the compared destination columns, in the order of a row's values. */
  readonly columns?: readonly string[];
  /** With `differingRows`: the key columns (empty for a keyless table), in the order of a row's key. */
  readonly keyColumns?: readonly string[];
  /** With `differingRows`: more rows differ than were listed (the cap was reached). */
  readonly truncated?: boolean;
  readonly durationMs: number;
  readonly status: 'passed' | 'failed' | 'error';
  readonly error?: string;
}

/** A stored verification job. */
export interface StoredVerification {
  readonly id: string;
  readonly taskId: string;
  readonly mode: StoredVerifyMode;
  /** The destination tables asked for; null: all of the task's. */
  readonly tables: readonly string[] | null;
  /** Rows per compared key chunk; null: the verify default (100 000). */
  readonly chunkRows: number | null;
  /** What made the job. */
  readonly trigger: VerificationTrigger;
  readonly status: VerificationStatus;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly error: string | null;
  /** Per table, in order: the finished tables' results (while running: those finished so far). */
  readonly results: readonly StoredTableVerification[] | null;
  /** When a cancel was asked for; null when never. */
  readonly cancelRequestedAt: Date | null;
  /** The serve process running it (its runner id); null when none. */
  readonly runner: string | null;
  readonly heartbeatAt: Date | null;
  /** What a taken-over job resumes from (JSON of verify-progress.ts); null when nothing saved. */
  readonly progress: unknown;
}

type Row = Record<string, unknown>;

/** Verification job queries on the store's pool. */
export class VerificationStore {
  readonly #pool: pg.Pool;

  /** @param pool the store's pool (not closed here). */
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Creates a `queued` job.
   * @throws {PgdtsError} CONFLICT when a job of `taskId` is queued or running (the store's partial
   *   unique index decides, so two requests at once cannot both start one); STORE_FAILED.
   */
  async create(
    taskId: string,
    mode: StoredVerifyMode,
    tables: readonly string[] | null,
    chunkRows: number | null = null,
  ): Promise<StoredVerification> {
    try {
      const r = await this.#pool.query<Row>(
        `INSERT INTO ${V} (id, task_id, mode, tables, status, chunk_rows) VALUES ($1, $2, $3, $4, 'queued', $5) RETURNING *`,
        [randomUUID(), taskId, mode, tables === null ? null : JSON.stringify(tables), chunkRows],
      );
      return verificationOf(r.rows[0] as Row);
    } catch (e) {
      if ((e as { code?: unknown }).code !== '23505') {
        throw wrapPgError('STORE_FAILED', `cannot create a verification of task ${taskId}`, e);
      }
      const open = await this.#pool
        .query<{ id: string; status: string }>(
          `SELECT id, status FROM ${V} WHERE task_id = $1 AND status IN ('queued', 'running')`,
          [taskId],
        )
        .catch(() => undefined);
      const o = open?.rows[0];
      throw new PgdtsError(
        'CONFLICT',
        `task ${taskId} has a verification queued or running${o === undefined ? '' : ` (${o.id}, ${o.status})`}`,
        {
          cause: e,
          hint: `wait for it: GET /api/v1/tasks/${taskId}/verifications${o === undefined ? '' : `/${o.id}`}`,
        },
      );
    }
  }

  /**
   * Creates a `queued` job of `taskId` when its schedule is due ([V7]): no job of the task was
   * created in the `everyMinutes` minutes before `now`. One transaction holding an advisory lock
   * per task, so that the check and the insert of two processes never interleave (each reads the
   * other's committed job); a job still open is left to the partial unique index.
   * @param now the scheduler's clock, also the job's `created_at`; undefined: the store's `now()`.
   * @returns the job, or undefined when not due or a job of the task is queued or running.
   * @throws {PgdtsError} STORE_FAILED
   */
  async createIfDue(
    taskId: string,
    schedule: {
      readonly everyMinutes: number;
      readonly mode: StoredVerifyMode;
      readonly tables?: readonly string[] | undefined;
    },
    now?: Date,
  ): Promise<StoredVerification | undefined> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw wrapPgError('STORE_FAILED', `cannot schedule a verification of task ${taskId}`, e);
    }
    try {
      await client.query('BEGIN');
      // The statement below reads after the lock is held (READ COMMITTED: a snapshot per statement).
      await client.query(
        `SELECT pg_advisory_xact_lock(hashtext('pgdts.verification.schedule'), hashtext($1))`,
        [taskId],
      );
      const r = await client.query<Row>(
        `INSERT INTO ${V} (id, task_id, mode, tables, status, created_at, trigger)
         SELECT $1, $2, $3, $4, 'queued', coalesce($5::timestamptz, now()), 'schedule'
          WHERE NOT EXISTS (
            SELECT 1 FROM ${V}
             WHERE task_id = $2 AND created_at > coalesce($5::timestamptz, now()) - make_interval(mins => $6))
         RETURNING *`,
        [
          randomUUID(),
          taskId,
          schedule.mode,
          schedule.tables === undefined ? null : JSON.stringify(schedule.tables),
          now ?? null,
          schedule.everyMinutes,
        ],
      );
      await client.query('COMMIT');
      const row = r.rows[0];
      return row === undefined ? undefined : verificationOf(row);
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A job queued or running (a POST, or one created before the interval began): nothing to do.
      if ((e as { code?: unknown }).code === '23505') return undefined;
      throw wrapPgError('STORE_FAILED', `cannot schedule a verification of task ${taskId}`, e);
    } finally {
      client.release();
    }
  }

  /**
   * Stores what a continuous-sampling check found ([V9]): a job already `failed`, in `rows` mode,
   * trigger `sample`, its tables the sampled tables that differed. Not subject to the one-open-job
   * index (it is never open), so sampling goes on beside a requested or scheduled job.
   * @throws {PgdtsError} STORE_FAILED
   */
  async recordSample(
    taskId: string,
    results: readonly StoredTableVerification[],
  ): Promise<StoredVerification> {
    const r = await this.#query(
      `INSERT INTO ${V} (id, task_id, mode, tables, status, trigger, started_at, finished_at, results)
       VALUES ($1, $2, 'rows', $3, 'failed', 'sample', now(), now(), $4) RETURNING *`,
      [randomUUID(), taskId, JSON.stringify(results.map((t) => t.table)), JSON.stringify(results)],
      `record a verification sample of task ${taskId}`,
    );
    return verificationOf(r.rows[0] as Row);
  }

  /**
   * The newest finished (passed, failed or error) job of each task in `taskIds` (for /metrics and
   * the verification-failed alert rule): one index lookup per task, never the whole history.
   * @throws {PgdtsError} STORE_FAILED
   */
  async newestFinished(taskIds: readonly string[]): Promise<Map<string, StoredVerification>> {
    if (taskIds.length === 0) return new Map();
    // One job of a task is open at a time, so the newest created finished job is the last to finish.
    const r = await this.#query(
      `SELECT v.* FROM unnest($1::text[]) AS t(id)
         CROSS JOIN LATERAL (
           SELECT * FROM ${V} WHERE task_id = t.id AND status IN ('passed', 'failed', 'error')
            ORDER BY created_at DESC, id LIMIT 1) v`,
      [[...taskIds]],
      'read the newest finished verifications',
    );
    return new Map(r.rows.map((row) => [String(row.task_id), verificationOf(row)]));
  }

  /**
   * The tasks in one of `states` whose definition has `verify.schedule` ([V7]), each with the
   * creation time of its newest job (null: none), and the store's clock: enough to skip the tasks
   * that are not due without reading them (createIfDue decides).
   * @throws {PgdtsError} STORE_FAILED
   */
  async scheduledTasks(
    states: readonly string[],
  ): Promise<{ readonly id: string; readonly newestJobAt: Date | null; readonly storeNow: Date }[]> {
    const r = await this.#query(
      `SELECT t.id, now() AS store_now,
              (SELECT v.created_at FROM ${V} v WHERE v.task_id = t.id ORDER BY v.created_at DESC LIMIT 1) AS newest
         FROM ${STORE_SCHEMA}.task t
        WHERE t.state = ANY($1::text[]) AND t.definition #> '{verify,schedule}' IS NOT NULL ORDER BY t.id`,
      [[...states]],
      'list the tasks with a verification schedule',
    );
    return r.rows.map((x) => ({
      id: String(x.id),
      newestJobAt: (x.newest ?? null) as Date | null,
      storeNow: x.store_now as Date,
    }));
  }

  /**
   * Marks queued job `id` running in `runner`.
   * @returns the job, or undefined when it is no longer queued (cancelled meanwhile).
   * @throws {PgdtsError} STORE_FAILED
   */
  async start(id: string, runner: string): Promise<StoredVerification | undefined> {
    const r = await this.#query(
      `UPDATE ${V} SET status = 'running', started_at = now(), runner = $2, heartbeat_at = now()
        WHERE id = $1 AND status = 'queued' RETURNING *`,
      [id, runner],
      `start verification ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : verificationOf(row);
  }

  /**
   * Takes over the oldest job no live runner has [V12]: running with a heartbeat older than
   * `staleMs` (its runner stopped or lost the store) or no runner (one stopped cleanly or before
   * migration 6), or queued for longer than `staleMs` (its serve process stopped before starting
   * it). One statement, the row locked and skipped by others: two serve processes never take the
   * same job, and a job whose heartbeat is renewed meanwhile is not taken.
   * @returns the job, now running in `runner`, or undefined when none.
   * @throws {PgdtsError} STORE_FAILED
   */
  async claimStale(runner: string, staleMs: number): Promise<StoredVerification | undefined> {
    const r = await this.#query(
      `UPDATE ${V} v SET status = 'running', runner = $1, heartbeat_at = now(),
              started_at = coalesce(v.started_at, now())
        WHERE v.id = (
          SELECT id FROM ${V}
           WHERE (status = 'running' AND (runner IS NULL OR heartbeat_at IS NULL
                    OR heartbeat_at < now() - $2 * interval '1 millisecond'))
              OR (status = 'queued' AND created_at < now() - $2 * interval '1 millisecond')
           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING v.*`,
      [runner, staleMs],
      'take over a verification',
    );
    const row = r.rows[0];
    return row === undefined ? undefined : verificationOf(row);
  }

  /**
   * Renews the heartbeat of job `id` run by `runner`.
   * @returns whether `runner` still runs it, and whether a cancel was asked for.
   * @throws {PgdtsError} STORE_FAILED
   */
  async heartbeat(id: string, runner: string): Promise<{ owned: boolean; cancel: boolean }> {
    const r = await this.#query(
      `UPDATE ${V} SET heartbeat_at = now() WHERE id = $1 AND runner = $2 AND status = 'running'
        RETURNING cancel_requested_at IS NOT NULL AS cancel`,
      [id, runner],
      `renew verification ${id}`,
    );
    const row = r.rows[0];
    return { owned: row !== undefined, cancel: row?.cancel === true };
  }

  /**
   * Saves the progress and the results so far of job `id`.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT when `runner` no longer runs it (taken over);
   *   STORE_FAILED.
   */
  async saveProgress(
    id: string,
    runner: string,
    progress: unknown,
    results: readonly StoredTableVerification[],
  ): Promise<void> {
    const r = await this.#query(
      `UPDATE ${V} SET progress = $3, results = $4, heartbeat_at = now()
        WHERE id = $1 AND runner = $2 AND status = 'running'`,
      [id, runner, JSON.stringify(progress), JSON.stringify(results)],
      `save the progress of verification ${id}`,
    );
    if (r.rowCount !== 1) {
      throw new PgdtsError('CHECKPOINT_CONFLICT', `verification ${id} is no longer run by ${runner}`);
    }
  }

  /**
   * Ends job `id`, run by `runner`, with its outcome (its progress dropped); nothing when another
   * runner took it over.
   * @returns whether it was ended here.
   * @throws {PgdtsError} STORE_FAILED
   */
  async finish(
    id: string,
    runner: string,
    status: 'passed' | 'failed' | 'error' | 'cancelled',
    results: readonly StoredTableVerification[] | null,
    error: string | null,
  ): Promise<boolean> {
    const r = await this.#query(
      `UPDATE ${V} SET status = $3, finished_at = now(), results = $4, error = $5, progress = NULL
        WHERE id = $1 AND runner = $2 AND status = 'running'`,
      [id, runner, status, results === null ? null : JSON.stringify(results), error],
      `finish verification ${id}`,
    );
    return r.rowCount === 1;
  }

  /**
   * Gives job `id` up without ending it (its serve process stops): another one takes it over at once.
   * @throws {PgdtsError} STORE_FAILED
   */
  async release(id: string, runner: string): Promise<void> {
    await this.#query(
      `UPDATE ${V} SET runner = NULL, heartbeat_at = NULL WHERE id = $1 AND runner = $2 AND status = 'running'`,
      [id, runner],
      `release verification ${id}`,
    );
  }

  /**
   * Cancels job `id` of `taskId` [V12]: a queued one is `cancelled` at once; for a running one the
   * cancel is recorded, and its runner ends it `cancelled` at its next heartbeat.
   * @returns the job after the change, or undefined when it is not queued or running (or unknown).
   * @throws {PgdtsError} STORE_FAILED
   */
  async cancel(taskId: string, id: string): Promise<StoredVerification | undefined> {
    const r = await this.#query(
      `UPDATE ${V} SET cancel_requested_at = coalesce(cancel_requested_at, now()),
              status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
              finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END
        WHERE task_id = $1 AND id = $2 AND status IN ('queued', 'running') RETURNING *`,
      [taskId, id],
      `cancel verification ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : verificationOf(row);
  }

  /** The jobs of `taskId`, newest first. @throws {PgdtsError} STORE_FAILED */
  async list(taskId: string): Promise<StoredVerification[]> {
    const r = await this.#query(
      `SELECT * FROM ${V} WHERE task_id = $1 ORDER BY created_at DESC, id`,
      [taskId],
      `list the verifications of task ${taskId}`,
    );
    return r.rows.map(verificationOf);
  }

  /** Job `id` of `taskId`, or undefined. @throws {PgdtsError} STORE_FAILED */
  async get(taskId: string, id: string): Promise<StoredVerification | undefined> {
    const r = await this.#query(
      `SELECT * FROM ${V} WHERE task_id = $1 AND id = $2`,
      [taskId, id],
      `read verification ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : verificationOf(row);
  }

  async #query(text: string, values: unknown[], what: string): Promise<pg.QueryResult<Row>> {
    try {
      return await this.#pool.query<Row>(text, values);
    } catch (e) {
      if (e instanceof PgdtsError) throw e;
      throw wrapPgError('STORE_FAILED', `cannot ${what}`, e);
    }
  }
}

function verificationOf(x: Row): StoredVerification {
  const date = (v: unknown): Date | null => (v === null ? null : (v as Date));
  return {
    id: String(x.id),
    taskId: String(x.task_id),
    mode: x.mode as StoredVerifyMode,
    tables: (x.tables ?? null) as string[] | null,
    chunkRows: x.chunk_rows === null || x.chunk_rows === undefined ? null : Number(x.chunk_rows),
    trigger: (x.trigger ?? 'request') as VerificationTrigger,
    status: x.status as VerificationStatus,
    createdAt: x.created_at as Date,
    startedAt: date(x.started_at),
    finishedAt: date(x.finished_at),
    error: x.error === null ? null : (x.error as string),
    results: (x.results ?? null) as StoredTableVerification[] | null,
    cancelRequestedAt: date(x.cancel_requested_at ?? null),
    runner: (x.runner ?? null) as string | null,
    heartbeatAt: date(x.heartbeat_at ?? null),
    progress: x.progress ?? null,
  };
}
