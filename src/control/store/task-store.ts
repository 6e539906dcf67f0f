/**
 * The store's queries on tasks (schema in migrations.ts 0002): definitions, lifecycle transitions as
 * conditional UPDATEs (task-states.md S1), precheck items, and what workers observe (status, tables,
 * log lines, alerts). Reached through {@link ControlStore.tasks}. Every failure is a PgdtsError
 * STORE_FAILED naming what was attempted.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import type { PrecheckResult } from '../../core/precheck.ts';
import { wrapPgError } from '../../pg/connection.ts';
import type { TaskDefinitionInput } from '../task/task-definition-schema.ts';
import type { TaskState } from '../task/task-state.ts';
import type { LastError, RunStatus, TableProgress, TaskLogLine } from '../task/task-status.ts';
import { ALERT_EVENTS_KEPT, STORE_SCHEMA } from './migrations.ts';

const T = `${STORE_SCHEMA}.task`;

/** A task as stored. Times are Dates; absent ones null. */
export interface StoredTask {
  readonly id: string;
  /** Second key of the task's advisory lock (task-states.md S9). */
  readonly lockKey: number;
  readonly name: string;
  readonly sourceId: string;
  readonly destinationId: string;
  readonly definition: TaskDefinitionInput;
  /** Incremented on every change of the definition (S4). */
  readonly revision: number;
  readonly state: TaskState;
  readonly stateChangedAt: Date;
  /** The revision the last precheck read. */
  readonly precheckRevision: number | null;
  readonly precheckStartedAt: Date | null;
  readonly precheckFinishedAt: Date | null;
  /** Precheck items whose warning was ignored (S3). */
  readonly ignoredItems: readonly string[];
  /** The first start (S8). */
  readonly startedAt: Date | null;
  /** The worker that runs (or last ran) the task. */
  readonly workerId: string | null;
  readonly runStartedAt: Date | null;
  readonly status: RunStatus | null;
  readonly statusAt: Date | null;
  readonly lastError: LastError | null;
  readonly errorsTotal: number;
  readonly retriesTotal: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One stored precheck item. */
export interface StoredPrecheckItem extends PrecheckResult {
  /** A warning is ignorable, a fail never (S3). */
  readonly ignorable: boolean;
}

/** An alert's stored state (one row per task and rule). */
export interface StoredAlert {
  readonly taskId: string;
  readonly rule: string;
  readonly state: 'firing' | 'resolved';
  readonly since: Date;
  readonly message: string;
  readonly deliveredAt: Date | null;
  readonly deliveryError: string | null;
}

/** Columns a transition may set besides `state`. */
export interface TransitionSets {
  readonly workerId?: string | null;
  readonly lastError?: LastError | null;
  readonly started?: boolean;
  readonly precheckRevision?: number;
  readonly precheckStarted?: boolean;
  readonly precheckFinished?: boolean;
}

type Row = Record<string, unknown>;

/** The task queries of one store. */
export class TaskStore {
  readonly #pool: pg.Pool;

  /** @param pool the store's pool (owned by ControlStore). */
  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Stores a new task in state `created`. */
  async create(t: {
    id: string;
    name: string;
    sourceId: string;
    destinationId: string;
    definition: TaskDefinitionInput;
  }): Promise<StoredTask> {
    const r = await this.#query(
      `INSERT INTO ${T} (id, name, source_id, destination_id, definition, state)
       VALUES ($1, $2, $3, $4, $5, 'created') RETURNING *`,
      [t.id, t.name, t.sourceId, t.destinationId, JSON.stringify(t.definition)],
      `store task ${t.id}`,
    );
    return taskOf(r.rows[0] ?? {});
  }

  /** Every task, oldest first. */
  async list(): Promise<StoredTask[]> {
    const r = await this.#query(`SELECT * FROM ${T} ORDER BY created_at, id`, [], 'list tasks');
    return r.rows.map(taskOf);
  }

  /** The task `id`, or undefined. */
  async get(id: string): Promise<StoredTask | undefined> {
    const r = await this.#query(`SELECT * FROM ${T} WHERE id = $1`, [id], `read task ${id}`);
    const row = r.rows[0];
    return row === undefined ? undefined : taskOf(row);
  }

  /** Tasks that use data source `id` (which then cannot be deleted). */
  async usingDataSource(id: string): Promise<string[]> {
    const r = await this.#query(
      `SELECT id FROM ${T} WHERE source_id = $1 OR destination_id = $1 ORDER BY id`,
      [id],
      `list the tasks of data source ${id}`,
    );
    return r.rows.map((x) => String(x.id));
  }

  /**
   * Moves `id` from state `from` to `to` (S1), setting `sets` too. @returns the task afterwards, or
   * undefined when its state was no longer `from` (or it is gone).
   */
  async transition(
    id: string,
    from: TaskState,
    to: TaskState,
    sets: TransitionSets = {},
  ): Promise<StoredTask | undefined> {
    const assign: string[] = ['state = $3', 'state_changed_at = now()', 'updated_at = now()'];
    const values: unknown[] = [id, from, to];
    const add = (sql: string, v: unknown) => {
      values.push(v);
      assign.push(sql.replace('?', `$${values.length}`));
    };
    if (sets.workerId !== undefined) add('worker_id = ?', sets.workerId);
    if (sets.lastError !== undefined) {
      add('last_error = ?', sets.lastError === null ? null : JSON.stringify(sets.lastError));
      if (sets.lastError !== null) assign.push('errors_total = errors_total + 1');
    }
    if (sets.started === true) assign.push('started_at = coalesce(started_at, now())');
    if (sets.precheckRevision !== undefined) add('precheck_revision = ?', sets.precheckRevision);
    if (sets.precheckStarted === true)
      assign.push('precheck_started_at = now()', 'precheck_finished_at = NULL');
    if (sets.precheckFinished === true) assign.push('precheck_finished_at = now()');
    const r = await this.#query(
      `UPDATE ${T} SET ${assign.join(', ')} WHERE id = $1 AND state = $2 RETURNING *`,
      values,
      `change the state of task ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : taskOf(row);
  }

  /**
   * Replaces the definition of `id` if its revision is still `revision`, incrementing it (S4). With
   * `toState` (a non-live edit) the state moves there and the ignored warnings are cleared, but only
   * from `fromState`.
   * @returns the task afterwards, or undefined when the revision or state changed meanwhile.
   */
  async editDefinition(
    id: string,
    revision: number,
    definition: TaskDefinitionInput,
    move: { readonly fromState: TaskState; readonly toState: TaskState } | undefined,
  ): Promise<StoredTask | undefined> {
    const values: unknown[] = [id, revision, JSON.stringify(definition), definition.name];
    let extra = '';
    let cond = '';
    if (move !== undefined) {
      values.push(move.fromState, move.toState);
      extra = `, state = $6, state_changed_at = now(), ignored_items = '{}'`;
      cond = ' AND state = $5';
    }
    const r = await this.#query(
      `UPDATE ${T} SET definition = $3, name = $4, revision = revision + 1, updated_at = now()${extra}
        WHERE id = $1 AND revision = $2${cond} RETURNING *`,
      values,
      `change task ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : taskOf(row);
  }

  /** Points `id` at other data sources (a task that never ran). */
  async setEndpoints(id: string, sourceId: string, destinationId: string): Promise<void> {
    await this.#query(
      `UPDATE ${T} SET source_id = $2, destination_id = $3, updated_at = now() WHERE id = $1`,
      [id, sourceId, destinationId],
      `change the data sources of task ${id}`,
    );
  }

  /** Deletes `id` if its state is still `state`; false when it changed or the task is gone. */
  async delete(id: string, state: TaskState): Promise<boolean> {
    const r = await this.#query(
      `DELETE FROM ${T} WHERE id = $1 AND state = $2`,
      [id, state],
      `delete task ${id}`,
    );
    return (r.rowCount ?? 0) > 0;
  }

  /**
   * Ends a precheck (S2, S3): stores the items and moves `prechecking` to `precheck-passed` or
   * `precheck-failed`, only if the task is still prechecking the same revision.
   * @returns the task afterwards, or undefined when it was edited or prechecked again meanwhile.
   */
  async finishPrecheck(
    id: string,
    revision: number,
    items: readonly StoredPrecheckItem[],
    passed: boolean,
  ): Promise<StoredTask | undefined> {
    const c = await this.#connect(`store the precheck of task ${id}`);
    try {
      await c.query('BEGIN');
      const r = await c.query<Row>(
        `UPDATE ${T} SET state = $3, state_changed_at = now(), precheck_finished_at = now(), updated_at = now()
          WHERE id = $1 AND state = 'prechecking' AND revision = $2 AND precheck_revision = $2 RETURNING *`,
        [id, revision, passed ? 'precheck-passed' : 'precheck-failed'],
      );
      const row = r.rows[0];
      if (row === undefined) {
        await c.query('ROLLBACK');
        return undefined;
      }
      await c.query(`DELETE FROM ${STORE_SCHEMA}.precheck_item WHERE task_id = $1`, [id]);
      for (const [i, it] of items.entries()) {
        await c.query(
          `INSERT INTO ${STORE_SCHEMA}.precheck_item (task_id, item, position, title, status, message, fix, ignorable)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [id, it.id, i, it.title, it.status, it.message, it.fix ?? null, it.ignorable],
        );
      }
      await c.query('COMMIT');
      return taskOf(row);
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw storeError(`cannot store the precheck of task ${id}`, e);
    } finally {
      c.release();
    }
  }

  /** The items of the last finished precheck of `id`, in report order. */
  async precheckItems(id: string): Promise<StoredPrecheckItem[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.precheck_item WHERE task_id = $1 ORDER BY position`,
      [id],
      `read the precheck of task ${id}`,
    );
    return r.rows.map((x) => ({
      id: String(x.item),
      title: String(x.title),
      status: x.status as StoredPrecheckItem['status'],
      message: String(x.message),
      ...(x.fix !== null ? { fix: x.fix as string } : {}),
      ignorable: x.ignorable === true,
    }));
  }

  /** Adds `item` to the ignored warnings of `id` (S3). @returns the task afterwards. */
  async ignoreItem(id: string, item: string): Promise<StoredTask | undefined> {
    const r = await this.#query(
      `UPDATE ${T} SET ignored_items = CASE WHEN $2 = ANY (ignored_items) THEN ignored_items
                                         ELSE array_append(ignored_items, $2) END, updated_at = now()
        WHERE id = $1 RETURNING *`,
      [id, item],
      `ignore precheck item ${item} of task ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : taskOf(row);
  }

  /** Tasks in state `running` (what workers claim). */
  async running(): Promise<StoredTask[]> {
    const r = await this.#query(
      `SELECT * FROM ${T} WHERE state = 'running' ORDER BY state_changed_at, id`,
      [],
      'list the running tasks',
    );
    return r.rows.map(taskOf);
  }

  /** Records that `workerId` runs `id` now (it holds the task's lock). */
  async claim(id: string, workerId: string): Promise<void> {
    await this.#query(
      `UPDATE ${T} SET worker_id = $2, run_started_at = now(), started_at = coalesce(started_at, now()),
                       updated_at = now()
        WHERE id = $1`,
      [id, workerId],
      `record the worker of task ${id}`,
    );
  }

  /**
   * Writes what the run observed: the status, the tables that changed and new log lines, plus the
   * retries counted since the last write, in one transaction.
   */
  async writeObservations(
    id: string,
    o: {
      readonly status: RunStatus;
      readonly tables: readonly TableProgress[];
      readonly logs: readonly TaskLogLine[];
      readonly retries: number;
    },
  ): Promise<void> {
    const c = await this.#connect(`write the status of task ${id}`);
    try {
      await c.query('BEGIN');
      await c.query(
        `UPDATE ${T} SET status = $2, status_at = now(), retries_total = retries_total + $3 WHERE id = $1`,
        [id, JSON.stringify(o.status), o.retries],
      );
      if (o.tables.length > 0) {
        await c.query(
          `INSERT INTO ${STORE_SCHEMA}.task_table
             (task_id, table_name, rows, bytes, estimated_rows, ranges_done, ranges_total, done, updated_at)
           SELECT $1, t.table_name, t.rows, t.bytes, t.estimated_rows, t.ranges_done, t.ranges_total, t.done, now()
             FROM jsonb_to_recordset($2::jsonb) AS t(table_name text, rows bigint, bytes bigint,
                  estimated_rows bigint, ranges_done int, ranges_total int, done boolean)
           ON CONFLICT (task_id, table_name) DO UPDATE SET rows = excluded.rows, bytes = excluded.bytes,
             estimated_rows = excluded.estimated_rows, ranges_done = excluded.ranges_done,
             ranges_total = excluded.ranges_total, done = excluded.done, updated_at = now()`,
          [
            id,
            JSON.stringify(
              o.tables.map((t) => ({
                table_name: t.table,
                rows: t.rows,
                bytes: t.bytes,
                estimated_rows: t.estimatedRows,
                ranges_done: t.rangesDone,
                ranges_total: t.rangesTotal,
                done: t.done,
              })),
            ),
          ],
        );
      }
      if (o.logs.length > 0) {
        await c.query(
          `INSERT INTO ${STORE_SCHEMA}.task_log (task_id, time, level, message, fields)
           SELECT $1, l.time, l.level, l.message, coalesce(l.fields, '{}')
             FROM jsonb_to_recordset($2::jsonb) AS l(time timestamptz, level text, message text, fields jsonb)`,
          [
            id,
            JSON.stringify(
              o.logs.map((l) => ({
                time: l.time.toISOString(),
                level: l.level,
                message: l.message,
                fields: l.fields,
              })),
            ),
          ],
        );
        // Keep the last LOG_LINES_KEPT lines of a task.
        await c.query(
          `DELETE FROM ${STORE_SCHEMA}.task_log WHERE task_id = $1 AND seq <= (
             SELECT seq FROM ${STORE_SCHEMA}.task_log WHERE task_id = $1 ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
          [id, LOG_LINES_KEPT],
        );
      }
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw storeError(`cannot write the status of task ${id}`, e);
    } finally {
      c.release();
    }
  }

  /** Per-table progress of `id`, by table name. */
  async tables(id: string): Promise<TableProgress[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.task_table WHERE task_id = $1 ORDER BY table_name`,
      [id],
      `read the tables of task ${id}`,
    );
    return r.rows.map((x) => ({
      table: String(x.table_name),
      rows: Number(x.rows),
      bytes: Number(x.bytes),
      estimatedRows: Number(x.estimated_rows),
      rangesDone: Number(x.ranges_done),
      rangesTotal: Number(x.ranges_total),
      done: x.done === true,
    }));
  }

  /**
   * Log lines of `id` after sequence number `afterSeq` (0: from the oldest kept), or since `since`,
   * oldest first, at most `limit`.
   */
  async logs(
    id: string,
    o: { readonly afterSeq?: number; readonly since?: Date; readonly limit: number },
  ): Promise<(TaskLogLine & { readonly seq: number })[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.task_log
        WHERE task_id = $1 AND seq > $2 AND time >= $3 ORDER BY seq LIMIT $4`,
      [id, o.afterSeq ?? 0, (o.since ?? new Date(0)).toISOString(), o.limit],
      `read the log of task ${id}`,
    );
    return r.rows.map((x) => ({
      seq: Number(x.seq),
      time: x.time as Date,
      level: x.level as TaskLogLine['level'],
      message: String(x.message),
      fields: (x.fields ?? {}) as Record<string, unknown>,
    }));
  }

  /** Registers (or re-registers) a worker. */
  async registerWorker(id: string, host: string, pid: number): Promise<void> {
    await this.#query(
      `INSERT INTO ${STORE_SCHEMA}.worker (id, host, pid) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, seen_at = now(), stopped_at = NULL`,
      [id, host, pid],
      `register worker ${id}`,
    );
  }

  /** Records that worker `id` is alive (`stopped`: it stopped cleanly). */
  async seeWorker(id: string, stopped = false): Promise<void> {
    await this.#query(
      `UPDATE ${STORE_SCHEMA}.worker SET seen_at = now(), stopped_at = CASE WHEN $2 THEN now() END WHERE id = $1`,
      [id, stopped],
      `record worker ${id}`,
    );
  }

  /** The alerts of `id` (firing and resolved), by rule. */
  async alerts(id: string): Promise<StoredAlert[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.alert WHERE task_id = $1 ORDER BY rule`,
      [id],
      `read the alerts of task ${id}`,
    );
    return r.rows.map(alertOf);
  }

  /**
   * The alert history of `id`: each state an alert entered (firing or resolved, at `since`), newest
   * first, at most `limit` (the newest ALERT_EVENTS_KEPT per rule are kept).
   */
  async alertHistory(id: string, limit: number): Promise<StoredAlert[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.alert_event WHERE task_id = $1 ORDER BY since DESC, rule LIMIT $2`,
      [id, limit],
      `read the alert history of task ${id}`,
    );
    return r.rows.map(alertOf);
  }

  /** Every alert of every task (for /metrics). */
  async allAlerts(): Promise<StoredAlert[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.alert ORDER BY task_id, rule`,
      [],
      'read the alerts',
    );
    return r.rows.map(alertOf);
  }

  /**
   * Stores the state of one alert of a task, and the same in its history (a state entered at `since`
   * is one history row, updated by its delivery); the history keeps the newest ALERT_EVENTS_KEPT
   * rows of the rule.
   */
  async setAlert(a: StoredAlert): Promise<void> {
    // One statement: the current state and its history row are written together or not at all.
    await this.#query(
      `WITH cur AS (
         INSERT INTO ${STORE_SCHEMA}.alert (task_id, rule, state, since, message, delivered_at, delivery_error, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now())
         ON CONFLICT (task_id, rule) DO UPDATE SET state = excluded.state, since = excluded.since,
           message = excluded.message, delivered_at = excluded.delivered_at,
           delivery_error = excluded.delivery_error, updated_at = now()
         RETURNING 1)
       INSERT INTO ${STORE_SCHEMA}.alert_event (task_id, rule, state, since, message, delivered_at, delivery_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (task_id, rule, since, state) DO UPDATE SET message = excluded.message,
         delivered_at = excluded.delivered_at, delivery_error = excluded.delivery_error`,
      [a.taskId, a.rule, a.state, a.since, a.message, a.deliveredAt, a.deliveryError],
      `store alert ${a.rule} of task ${a.taskId}`,
    );
    await this.#query(
      `DELETE FROM ${STORE_SCHEMA}.alert_event e
        WHERE e.task_id = $1 AND e.rule = $2 AND e.since < (
          SELECT since FROM ${STORE_SCHEMA}.alert_event
           WHERE task_id = $1 AND rule = $2 ORDER BY since DESC OFFSET $3 - 1 LIMIT 1)`,
      [a.taskId, a.rule, ALERT_EVENTS_KEPT],
      `trim the alert history of task ${a.taskId}`,
    );
  }

  async #connect(what: string): Promise<pg.PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (e) {
      throw storeError(`cannot ${what}`, e);
    }
  }

  async #query(text: string, values: unknown[], what: string): Promise<pg.QueryResult<Row>> {
    try {
      return await this.#pool.query<Row>(text, values);
    } catch (e) {
      throw storeError(`cannot ${what}`, e);
    }
  }
}

/** Log lines kept per task; older ones are deleted as new ones come. */
export const LOG_LINES_KEPT = 10_000;

const date = (v: unknown): Date | null => (v instanceof Date ? v : null);

function taskOf(row: Row): StoredTask {
  return {
    id: String(row.id),
    lockKey: Number(row.lock_key),
    name: String(row.name),
    sourceId: String(row.source_id),
    destinationId: String(row.destination_id),
    definition: row.definition as TaskDefinitionInput,
    revision: Number(row.revision),
    state: row.state as TaskState,
    stateChangedAt: row.state_changed_at as Date,
    precheckRevision: row.precheck_revision === null ? null : Number(row.precheck_revision),
    precheckStartedAt: date(row.precheck_started_at),
    precheckFinishedAt: date(row.precheck_finished_at),
    ignoredItems: (row.ignored_items ?? []) as string[],
    startedAt: date(row.started_at),
    workerId: row.worker_id === null ? null : (row.worker_id as string),
    runStartedAt: date(row.run_started_at),
    status: (row.status ?? null) as RunStatus | null,
    statusAt: date(row.status_at),
    lastError: (row.last_error ?? null) as LastError | null,
    errorsTotal: Number(row.errors_total),
    retriesTotal: Number(row.retries_total),
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
  };
}

function alertOf(x: Row): StoredAlert {
  return {
    taskId: String(x.task_id),
    rule: String(x.rule),
    state: x.state as StoredAlert['state'],
    since: x.since as Date,
    message: String(x.message),
    deliveredAt: date(x.delivered_at),
    deliveryError: x.delivery_error === null ? null : (x.delivery_error as string),
  };
}

function storeError(what: string, e: unknown): PgdtsError {
  if (e instanceof PgdtsError) return e;
  return wrapPgError('STORE_FAILED', what, e);
}
