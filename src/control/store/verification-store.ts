/**
 * The verification job queries ([V6]): a job is created `queued`, becomes `running`, and ends
 * `passed` (every table matches), `failed` (a table differs) or `error` (the comparison could not
 * run). Its per-table results are stored as JSON once it ends.
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
export type VerificationStatus = 'queued' | 'running' | 'passed' | 'failed' | 'error';

/** One table's stored result. Row counts are rows; `durationMs` milliseconds. */
export interface StoredTableVerification {
  /** Destination `schema.table`. */
  readonly table: string;
  readonly sourceRows: number;
  readonly destinationRows: number;
  /** Differences found: differing rows in `rows` mode, else 1 when the table differs, 0 when not. */
  readonly differences: number;
  /** `rows` mode: the differing rows (at most the verify cap), as the verify report formats them. */
  readonly differingRows?: readonly unknown[];
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
  readonly status: VerificationStatus;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly error: string | null;
  readonly results: readonly StoredTableVerification[] | null;
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
  ): Promise<StoredVerification> {
    try {
      const r = await this.#pool.query<Row>(
        `INSERT INTO ${V} (id, task_id, mode, tables, status) VALUES ($1, $2, $3, $4, 'queued') RETURNING *`,
        [randomUUID(), taskId, mode, tables === null ? null : JSON.stringify(tables)],
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

  /** Marks job `id` running. @throws {PgdtsError} STORE_FAILED */
  async start(id: string): Promise<void> {
    await this.#query(
      `UPDATE ${V} SET status = 'running', started_at = now() WHERE id = $1`,
      [id],
      `start verification ${id}`,
    );
  }

  /** Ends job `id` with its outcome. @throws {PgdtsError} STORE_FAILED */
  async finish(
    id: string,
    status: 'passed' | 'failed' | 'error',
    results: readonly StoredTableVerification[] | null,
    error: string | null,
  ): Promise<void> {
    await this.#query(
      `UPDATE ${V} SET status = $2, finished_at = now(), results = $3, error = $4 WHERE id = $1`,
      [id, status, results === null ? null : JSON.stringify(results), error],
      `finish verification ${id}`,
    );
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
    status: x.status as VerificationStatus,
    createdAt: x.created_at as Date,
    startedAt: date(x.started_at),
    finishedAt: date(x.finished_at),
    error: x.error === null ? null : (x.error as string),
    results: (x.results ?? null) as StoredTableVerification[] | null,
  };
}
