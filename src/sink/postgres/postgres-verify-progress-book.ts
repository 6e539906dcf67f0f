/**
 * `pgdts verify` progress in the destination's bookkeeping (verify.md [V12]): one row of
 * `pgdts.verify_progress` per task, created by the bookkeeping migrations on the first save. Each
 * write is conditional on the run owning the row, so a run whose row another run took over stops at
 * its next save instead of mixing its progress with the other's.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import type { StoredVerifyProgress, VerifyProgressBook } from '../../core/verify-progress-book.ts';
import { wrapPgError } from '../../pg/connection.ts';
import type { SessionClient } from '../../pg/session-client.ts';
import { ensureBookkeeping } from './bookkeeping.ts';

/** The progress book on the sink's main session. */
export class PostgresVerifyProgressBook implements VerifyProgressBook {
  /** Set once the bookkeeping was created or migrated by this book. */
  #ensured = false;

  constructor(private readonly main: SessionClient) {}

  async #on<T>(what: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.main.get());
    } catch (e) {
      if (e instanceof PgdtsError) throw e;
      throw wrapPgError('CHECKPOINT_CONFLICT', what, e);
    }
  }

  read(taskName: string): Promise<StoredVerifyProgress | undefined> {
    return this.#on(`cannot read the verify progress of task ${taskName}`, async (c) => {
      const t = await c.query<{ ok: boolean }>(
        "SELECT to_regclass('pgdts.verify_progress') IS NOT NULL AS ok",
      );
      if (t.rows[0]?.ok !== true) return undefined;
      const r = await c.query<{
        run_id: string;
        options: unknown;
        tables: unknown[];
        partial: unknown;
        started_ms: string;
        updated_ms: string;
      }>(
        // Epoch ms: the session's type parsers leave timestamps as text.
        `SELECT run_id, options, tables, partial,
                (extract(epoch FROM started_at) * 1000)::bigint::text AS started_ms,
                (extract(epoch FROM updated_at) * 1000)::bigint::text AS updated_ms
           FROM pgdts.verify_progress WHERE task_name = $1`,
        [taskName],
      );
      const row = r.rows[0];
      if (row === undefined) return undefined;
      return {
        runId: row.run_id,
        options: row.options,
        tables: row.tables,
        partial: row.partial ?? undefined,
        startedAt: new Date(Number(row.started_ms)),
        updatedAt: new Date(Number(row.updated_ms)),
      };
    });
  }

  async begin(taskName: string, runId: string, options: unknown, resume: boolean): Promise<boolean> {
    if (!this.#ensured) {
      await ensureBookkeeping(await this.main.get());
      this.#ensured = true;
    }
    return this.#on(`cannot save the verify progress of task ${taskName}`, async (c) => {
      if (resume) {
        const r = await c.query(
          'UPDATE pgdts.verify_progress SET run_id = $2, updated_at = now() WHERE task_name = $1',
          [taskName, runId],
        );
        return r.rowCount === 1;
      }
      await c.query(
        `INSERT INTO pgdts.verify_progress (task_name, run_id, options) VALUES ($1, $2, $3)
         ON CONFLICT (task_name) DO UPDATE SET run_id = EXCLUDED.run_id, options = EXCLUDED.options,
           tables = '[]', partial = NULL, started_at = now(), updated_at = now()`,
        [taskName, runId, JSON.stringify(options)],
      );
      return true;
    });
  }

  addTable(taskName: string, runId: string, result: unknown): Promise<void> {
    return this.#owned(
      taskName,
      runId,
      `UPDATE pgdts.verify_progress SET tables = tables || jsonb_build_array($3::jsonb), partial = NULL,
         updated_at = now() WHERE task_name = $1 AND run_id = $2`,
      result,
    );
  }

  setPartial(taskName: string, runId: string, partial: unknown): Promise<void> {
    return this.#owned(
      taskName,
      runId,
      'UPDATE pgdts.verify_progress SET partial = $3::jsonb, updated_at = now() WHERE task_name = $1 AND run_id = $2',
      partial,
    );
  }

  clear(taskName: string, runId: string): Promise<void> {
    return this.#on(`cannot clear the verify progress of task ${taskName}`, async (c) => {
      await c.query('DELETE FROM pgdts.verify_progress WHERE task_name = $1 AND run_id = $2', [
        taskName,
        runId,
      ]);
    });
  }

  /** Runs `update` ($1 task, $2 run, $3 JSON) and fails when the run no longer owns the row. */
  async #owned(taskName: string, runId: string, update: string, value: unknown): Promise<void> {
    const n = await this.#on(`cannot save the verify progress of task ${taskName}`, async (c) => {
      const r = await c.query(update, [taskName, runId, JSON.stringify(value)]);
      return r.rowCount;
    });
    if (n !== 1) {
      throw new PgdtsError(
        'CHECKPOINT_CONFLICT',
        `another pgdts verify of task ${taskName} took its saved progress over (pgdts.verify_progress)`,
        { hint: 'run one verify of a task at a time' },
      );
    }
  }
}
