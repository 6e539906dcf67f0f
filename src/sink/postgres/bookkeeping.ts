/**
 * Bookkeeping of a task in the destination database, schema `pgdts`: task state, per-table and
 * per-range copy progress, and running status. Keeping it next to the data means a run resumes from
 * any machine, and progress can be committed in the same transaction as the rows it describes
 * (a range is "done" exactly when its rows are durable). The applied LSN of incremental sync lives in
 * `pgdts.applied_position` (see apply/).
 *
 * Numbered migrations, in the style of graphile-worker: each runs once, in order.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import { quoteLiteral } from '../../core/identifier.ts';
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts';
import type { SchemaReportRow, StatusRow, TableSyncRow, TaskCheckpoint, TaskPhase } from '../../core/sink.ts';
import type { SourceIdentity } from '../../core/source.ts';
import type { TaskPosition } from '../../core/table-hash.ts';
import { wrapPgError } from '../../pg/connection.ts';
import { leaseLockCondition } from './task-lease.ts';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE pgdts.task (
     name text PRIMARY KEY,
     phase text NOT NULL,
     source_system_id text,
     slot_name text,
     publication_name text,
     slot_lsn pg_lsn,
     created_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now(),
     last_error text)`,
  `CREATE TABLE pgdts.table_sync (
     task_name text NOT NULL REFERENCES pgdts.task(name) ON DELETE CASCADE,
     schema_name text NOT NULL,
     table_name text NOT NULL,
     state text NOT NULL CHECK (state IN ('copying', 'done')),
     snapshot_lsn pg_lsn,
     ranges_total int NOT NULL,
     rows bigint NOT NULL DEFAULT 0,
     bytes bigint NOT NULL DEFAULT 0,
     PRIMARY KEY (task_name, schema_name, table_name))`,
  `CREATE TABLE pgdts.range_sync (
     task_name text NOT NULL,
     schema_name text NOT NULL,
     table_name text NOT NULL,
     range_no int NOT NULL,
     rows bigint NOT NULL,
     bytes bigint NOT NULL,
     PRIMARY KEY (task_name, schema_name, table_name, range_no),
     FOREIGN KEY (task_name, schema_name, table_name) REFERENCES pgdts.table_sync ON DELETE CASCADE)`,
  `CREATE TABLE pgdts.status (
     task_name text PRIMARY KEY REFERENCES pgdts.task(name) ON DELETE CASCADE,
     phase text NOT NULL,
     source_lsn pg_lsn,
     flushed_lsn pg_lsn,
     lag_bytes bigint,
     lag_ms bigint,
     rows_per_sec double precision,
     retained_wal_bytes bigint,
     rows_applied bigint,
     updated_at timestamptz NOT NULL DEFAULT now())`,
  // The source cluster's timeline next to its system identifier (task invariant T9).
  `ALTER TABLE pgdts.task ADD COLUMN source_timeline int`,
  // Whether pgdts created the publication (release drops only what it created).
  `ALTER TABLE pgdts.task ADD COLUMN publication_created boolean`,
  // What incremental sync received but did not apply as such (operations, onConflict overwrite).
  `ALTER TABLE pgdts.status ADD COLUMN skipped_inserts bigint, ADD COLUMN skipped_updates bigint,
     ADD COLUMN skipped_deletes bigint, ADD COLUMN skipped_truncates bigint, ADD COLUMN missing_deletes bigint`,
  // Whether pgdts created the slot: one given as incremental.existingSlot is never dropped [S8].
  `ALTER TABLE pgdts.task ADD COLUMN slot_created boolean`,
  // Lag of the last heartbeat through the stream (source.heartbeat).
  `ALTER TABLE pgdts.status ADD COLUMN heartbeat_lag_ms bigint`,
  // What schema sync created, skipped or refused, per object.
  `CREATE TABLE pgdts.schema_object (
     task_name text NOT NULL REFERENCES pgdts.task(name) ON DELETE CASCADE,
     phase text NOT NULL,
     kind text NOT NULL,
     object text NOT NULL,
     outcome text NOT NULL CHECK (outcome IN ('created', 'skipped', 'refused')),
     reason text,
     updated_at timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (task_name, phase, kind, object))`,
  // Progress of `pgdts verify`, for --resume (verify.md [V7]); no foreign key: a destination filled
  // by other means can be verified too.
  `CREATE TABLE pgdts.verify_progress (
     task_name text PRIMARY KEY,
     run_id text NOT NULL,
     options jsonb NOT NULL,
     tables jsonb NOT NULL DEFAULT '[]',
     partial jsonb,
     started_at timestamptz NOT NULL DEFAULT now(),
     updated_at timestamptz NOT NULL DEFAULT now())`,
];

/**
 * Creates the `pgdts` schema and runs pending migrations (serialised by an advisory lock so two
 * processes starting at once do not race).
 * @throws {PgdtsError} CHECKPOINT_CONFLICT / DESTINATION_UNSUPPORTED wrapping the server error.
 */
export async function ensureBookkeeping(client: pg.Client): Promise<void> {
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('pgdts.migrations'))");
    await client.query('CREATE SCHEMA IF NOT EXISTS pgdts');
    await client.query(
      'CREATE TABLE IF NOT EXISTS pgdts.migration (id int PRIMARY KEY, applied_at timestamptz DEFAULT now())',
    );
    const r = await client.query<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM pgdts.migration');
    const done = r.rows[0]?.id ?? 0;
    for (let i = done; i < MIGRATIONS.length; i++) {
      await client.query(MIGRATIONS[i] ?? '');
      await client.query('INSERT INTO pgdts.migration (id) VALUES ($1)', [i + 1]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw wrapPgError(
      'DESTINATION_UNSUPPORTED',
      'cannot create the pgdts bookkeeping schema in the destination',
      e,
    );
  }
}

/** Reads the task row, or undefined for a task never run against this destination. */
export async function readTask(client: pg.Client, name: string): Promise<TaskCheckpoint | undefined> {
  const t = await client.query<{ ok: boolean }>("SELECT to_regclass('pgdts.task') IS NOT NULL AS ok");
  if (t.rows[0]?.ok !== true) return undefined;
  const r = await client.query<{
    phase: TaskPhase;
    source_system_id: string | null;
    source_timeline: number | null;
    slot_name: string | null;
    publication_name: string | null;
    slot_lsn: string | null;
    publication_created: boolean | null;
    slot_created: boolean | null;
  }>(
    'SELECT phase, source_system_id, source_timeline, slot_name, publication_name, slot_lsn::text, publication_created, slot_created FROM pgdts.task WHERE name = $1',
    [name],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    name,
    phase: row.phase,
    // Rows of older versions hold '' and no timeline: not recorded.
    sourceIdentity:
      row.source_system_id && row.source_timeline !== null
        ? { systemId: row.source_system_id, timeline: row.source_timeline }
        : undefined,
    slotName: row.slot_name ?? undefined,
    publicationName: row.publication_name ?? undefined,
    slotLsn: row.slot_lsn ? parseLsn(row.slot_lsn) : undefined,
    publicationCreated: row.publication_created ?? undefined,
    slotCreated: row.slot_created ?? undefined,
  };
}

/**
 * Records whether pgdts created the task's publication (release drops only what it created). The
 * first record wins: a later run finds its own publication existing and must not undo the claim.
 */
export async function setPublicationCreated(
  client: pg.Client,
  name: string,
  publication: string,
  created: boolean,
): Promise<void> {
  await client.query(
    `UPDATE pgdts.task SET publication_name = $2, publication_created = coalesce(publication_created, $3),
            updated_at = now() WHERE name = $1`,
    [name, publication, created],
  );
}

/** Creates the task row if missing (phase `new`). */
export async function createTask(client: pg.Client, name: string): Promise<void> {
  await client.query(
    `INSERT INTO pgdts.task (name, phase) VALUES ($1, 'new') ON CONFLICT (name) DO NOTHING`,
    [name],
  );
}

/** Records the source cluster's system identifier and timeline. */
export async function setSourceIdentity(client: pg.Client, name: string, id: SourceIdentity): Promise<void> {
  await client.query(
    'UPDATE pgdts.task SET source_system_id = $2, source_timeline = $3, updated_at = now() WHERE name = $1',
    [name, id.systemId, id.timeline],
  );
}

/** Moves the task to `phase`. */
export async function setTaskPhase(client: pg.Client, name: string, phase: TaskPhase): Promise<void> {
  await client.query(
    'UPDATE pgdts.task SET phase = $2, updated_at = now(), last_error = NULL WHERE name = $1',
    [name, phase],
  );
}

/**
 * Records the task's replication slot and publication, where streaming starts, and whether pgdts
 * created the slot.
 */
export async function setTaskSlot(
  client: pg.Client,
  name: string,
  slot: { slotName: string; publicationName: string; slotLsn: Lsn; slotCreated: boolean },
): Promise<void> {
  await client.query(
    'UPDATE pgdts.task SET slot_name = $2, publication_name = $3, slot_lsn = $4::pg_lsn, slot_created = $5, updated_at = now() WHERE name = $1',
    [name, slot.slotName, slot.publicationName, formatLsn(slot.slotLsn), slot.slotCreated],
  );
}

/** Records the last error of a task (the message is already free of passwords). */
export async function setTaskError(client: pg.Client, name: string, message: string): Promise<void> {
  await client.query('UPDATE pgdts.task SET last_error = $2, updated_at = now() WHERE name = $1', [
    name,
    message,
  ]);
}

/** Reads the copy progress of every table of a task. */
export async function readTableSync(client: pg.Client, task: string): Promise<TableSyncRow[]> {
  const r = await client.query<{
    schema_name: string;
    table_name: string;
    state: 'copying' | 'done';
    snapshot_lsn: string | null;
    ranges_total: number;
    rows: string;
    bytes: string;
  }>(
    `SELECT t.schema_name, t.table_name, t.state, t.snapshot_lsn::text, t.ranges_total, t.rows::text, t.bytes::text
       FROM pgdts.table_sync t WHERE t.task_name = $1`,
    [task],
  );
  return r.rows.map((x) => ({
    schema: x.schema_name,
    name: x.table_name,
    state: x.state,
    snapshotLsn: x.snapshot_lsn ? parseLsn(x.snapshot_lsn) : undefined,
    rangesTotal: x.ranges_total,
    rows: Number(x.rows),
    bytes: Number(x.bytes),
  }));
}

/**
 * Starts (or restarts) the copy of tables: records each as `copying` under `snapshotLsn` with no
 * ranges done, in two statements whatever the table count. Call inside the transaction that
 * truncates the destination tables, so a restart never keeps rows copied under an older snapshot.
 * @param keepEarliestSnapshot keep an earlier snapshot LSN (rows copied under it stay: changes are
 *   applied from there).
 */
export async function startTableSyncs(
  client: pg.Client,
  task: string,
  tables: readonly { schema: string; name: string; rangesTotal: number }[],
  snapshotLsn: Lsn | undefined,
  keepEarliestSnapshot: boolean,
): Promise<void> {
  if (tables.length === 0) return;
  const snapshot = keepEarliestSnapshot
    ? 'least(s.snapshot_lsn, EXCLUDED.snapshot_lsn)'
    : 'EXCLUDED.snapshot_lsn';
  const schemas = tables.map((t) => t.schema);
  const names = tables.map((t) => t.name);
  await client.query(
    `INSERT INTO pgdts.table_sync AS s (task_name, schema_name, table_name, state, snapshot_lsn, ranges_total)
     SELECT $1, t.schema_name, t.table_name, 'copying', $4::pg_lsn, t.ranges_total
       FROM unnest($2::text[], $3::text[], $5::int[]) AS t(schema_name, table_name, ranges_total)
     ON CONFLICT (task_name, schema_name, table_name)
     DO UPDATE SET state = 'copying', snapshot_lsn = ${snapshot}, ranges_total = EXCLUDED.ranges_total,
                   rows = 0, bytes = 0`,
    [
      task,
      schemas,
      names,
      snapshotLsn === undefined ? null : formatLsn(snapshotLsn),
      tables.map((t) => t.rangesTotal),
    ],
  );
  await client.query(
    `DELETE FROM pgdts.range_sync r USING unnest($2::text[], $3::text[]) AS t(schema_name, table_name)
      WHERE r.task_name = $1 AND r.schema_name = t.schema_name AND r.table_name = t.table_name`,
    [task, schemas, names],
  );
}

/**
 * Records copied ranges (of one or several tables) and commits the open transaction, in one round
 * trip whatever their count: the ranges' markers, each table's row and byte counts, and `done` for
 * each table whose ranges are now all recorded, then COMMIT — so the markers commit with the ranges'
 * rows (task invariant T1), and a batch of small tables costs one progress write. Values are inlined
 * as literals: a multi-statement query cannot take parameters (PostgreSQL docs, "Message Flow",
 * Simple Query).
 * @returns the tables now `done`, as `schema\0name` keys.
 * @throws {PgdtsError} INTERNAL when a count is not a safe integer; the driver's error when a
 *   statement fails (the caller rolls back and wraps it).
 */
export async function finishRangesAndCommit(
  client: pg.Client,
  task: string,
  ranges: readonly { schema: string; name: string; rangeNo: number; rows: number; bytes: number }[],
): Promise<Set<string>> {
  const int = (n: number) => {
    if (!Number.isSafeInteger(n)) throw new PgdtsError('INTERNAL', `not an integer count: ${n}`);
    return String(n);
  };
  if (ranges.length === 0) {
    await client.query('COMMIT');
    return new Set();
  }
  const values = ranges
    .map(
      (r) =>
        `(${quoteLiteral(r.schema)}::text, ${quoteLiteral(r.name)}::text, ${int(r.rangeNo)}::int, ${int(r.rows)}::int8, ${int(r.bytes)}::int8)`,
    )
    .join(',\n            ');
  const task_ = quoteLiteral(task);
  // The INSERT of the CTE is not visible to the UPDATE's count (one snapshot): + per.n counts it.
  const results = (await client.query(
    `WITH r (schema_name, table_name, range_no, rows, bytes) AS (
       VALUES ${values}),
     marker AS (
       INSERT INTO pgdts.range_sync (task_name, schema_name, table_name, range_no, rows, bytes)
       SELECT ${task_}, schema_name, table_name, range_no, rows, bytes FROM r
       RETURNING 1),
     per AS (
       SELECT schema_name, table_name, count(*) AS n, sum(rows)::int8 AS rows, sum(bytes)::int8 AS bytes
         FROM r GROUP BY schema_name, table_name)
     UPDATE pgdts.table_sync s SET rows = s.rows + per.rows, bytes = s.bytes + per.bytes,
            state = CASE WHEN (SELECT count(*) FROM pgdts.range_sync x
                                WHERE x.task_name = s.task_name AND x.schema_name = s.schema_name
                                  AND x.table_name = s.table_name) + per.n >= s.ranges_total
                         THEN 'done' ELSE 'copying' END
       FROM per
      WHERE s.task_name = ${task_} AND s.schema_name = per.schema_name AND s.table_name = per.table_name
      RETURNING s.schema_name, s.table_name, s.state;
     COMMIT`,
  )) as unknown as pg.QueryResult<{ schema_name: string; table_name: string; state: string }>[];
  return new Set(
    (results[0]?.rows ?? [])
      .filter((x) => x.state === 'done')
      .map((x) => `${x.schema_name}\0${x.table_name}`),
  );
}

/** Upserts the task's status row. */
export async function writeStatus(client: pg.Client, task: string, s: StatusRow): Promise<void> {
  const lsn = (l: Lsn | undefined) => (l === undefined ? null : formatLsn(l));
  await client.query(
    `INSERT INTO pgdts.status (task_name, phase, source_lsn, flushed_lsn, lag_bytes, lag_ms, rows_per_sec, retained_wal_bytes, rows_applied,
                               skipped_inserts, skipped_updates, skipped_deletes, skipped_truncates, missing_deletes, heartbeat_lag_ms, updated_at)
     VALUES ($1, $2, $3::pg_lsn, $4::pg_lsn, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
     ON CONFLICT (task_name) DO UPDATE SET phase = EXCLUDED.phase, source_lsn = EXCLUDED.source_lsn,
       flushed_lsn = EXCLUDED.flushed_lsn, lag_bytes = EXCLUDED.lag_bytes, lag_ms = EXCLUDED.lag_ms,
       rows_per_sec = EXCLUDED.rows_per_sec, retained_wal_bytes = EXCLUDED.retained_wal_bytes,
       rows_applied = EXCLUDED.rows_applied, skipped_inserts = EXCLUDED.skipped_inserts,
       skipped_updates = EXCLUDED.skipped_updates, skipped_deletes = EXCLUDED.skipped_deletes,
       skipped_truncates = EXCLUDED.skipped_truncates, missing_deletes = EXCLUDED.missing_deletes,
       heartbeat_lag_ms = EXCLUDED.heartbeat_lag_ms, updated_at = now()`,
    [
      task,
      s.phase,
      lsn(s.sourceLsn),
      lsn(s.flushedLsn),
      s.lagBytes ?? null,
      s.lagMs ?? null,
      s.rowsPerSec ?? null,
      s.retainedWalBytes ?? null,
      s.rowsApplied ?? null,
      s.tally?.skipped.insert ?? null,
      s.tally?.skipped.update ?? null,
      s.tally?.skipped.delete ?? null,
      s.tally?.skipped.truncate ?? null,
      s.tally?.missingDeletes ?? null,
      s.heartbeatLagMs ?? null,
    ],
  );
}

/** Deletes all bookkeeping of a task (used by `pgdts release`). Safe when none exists. */
export async function deleteTaskBookkeeping(client: pg.Client, task: string): Promise<void> {
  const r = await client.query<{ ok: boolean }>("SELECT to_regclass('pgdts.task') IS NOT NULL AS ok");
  if (!r.rows[0]?.ok) return;
  await client.query('DELETE FROM pgdts.task WHERE name = $1', [task]);
  const ap = await client.query<{ ok: boolean }>(
    "SELECT to_regclass('pgdts.applied_position') IS NOT NULL AS ok",
  );
  if (ap.rows[0]?.ok) await client.query('DELETE FROM pgdts.applied_position WHERE task_name = $1', [task]);
  const vp = await client.query<{ ok: boolean }>(
    "SELECT to_regclass('pgdts.verify_progress') IS NOT NULL AS ok",
  );
  if (vp.rows[0]?.ok) await client.query('DELETE FROM pgdts.verify_progress WHERE task_name = $1', [task]);
}

/**
 * Upserts schema report rows of a task, in one statement (a table join reports a few, a schema
 * phase up to one per statement of its plan).
 */
export async function writeSchemaReport(
  client: pg.Client,
  task: string,
  rows: readonly SchemaReportRow[],
): Promise<void> {
  if (rows.length === 0) return;
  await client.query(
    `INSERT INTO pgdts.schema_object (task_name, phase, kind, object, outcome, reason)
     SELECT $1, r.phase, r.kind, r.object, r.outcome, r.reason
       FROM jsonb_to_recordset($2::jsonb) AS r(phase text, kind text, object text, outcome text, reason text)
     ON CONFLICT (task_name, phase, kind, object) DO UPDATE SET outcome = EXCLUDED.outcome,
       reason = EXCLUDED.reason, updated_at = now()`,
    [task, JSON.stringify(rows.map((r) => ({ ...r, reason: r.reason ?? null })))],
  );
}

/** The schema report of a task, ordered by phase, kind and object; empty before any schema sync. */
export async function readSchemaReport(client: pg.Client, task: string): Promise<SchemaReportRow[]> {
  const t = await client.query<{ ok: boolean }>(
    "SELECT to_regclass('pgdts.schema_object') IS NOT NULL AS ok",
  );
  if (t.rows[0]?.ok !== true) return [];
  const r = await client.query<{
    phase: SchemaReportRow['phase'];
    kind: string;
    object: string;
    outcome: SchemaReportRow['outcome'];
    reason: string | null;
  }>(
    'SELECT phase, kind, object, outcome, reason FROM pgdts.schema_object WHERE task_name = $1 ORDER BY phase, kind, object',
    [task],
  );
  return r.rows.map((x) => ({ ...x, reason: x.reason ?? undefined }));
}

/**
 * Where incremental sync of `task` stands in this destination (verify.md [V8]): whether a run holds
 * its lease (task-lease.ts), the task's phase,
 * the greatest of its applied position (`pgdts.applied_position`, written with the changes) and its
 * acknowledged position (`pgdts.status.flushed_lsn`, only ever at or below what is durable here),
 * and the age of its status row in ms. Undefined when the destination holds no row of the task.
 * Run inside a snapshot, the position describes exactly what that snapshot holds.
 * @throws the server's error (the caller wraps it).
 */
export async function readTaskPosition(client: pg.Client, task: string): Promise<TaskPosition | undefined> {
  const r = await client.query<{ t: boolean; a: boolean; s: boolean }>(
    `SELECT to_regclass('pgdts.task') IS NOT NULL AS t, to_regclass('pgdts.applied_position') IS NOT NULL AS a,
            to_regclass('pgdts.status') IS NOT NULL AS s`,
  );
  const has = r.rows[0];
  if (has?.t !== true) return undefined;
  const applied = has.a
    ? '(SELECT applied_lsn FROM pgdts.applied_position a WHERE a.task_name = t.name)'
    : 'NULL::pg_lsn';
  const status = has.s ? 'LEFT JOIN pgdts.status s ON s.task_name = t.name' : '';
  const flushed = has.s ? 's.flushed_lsn' : 'NULL::pg_lsn';
  const age = has.s
    ? '(extract(epoch FROM clock_timestamp() - s.updated_at) * 1000)::bigint'
    : 'NULL::bigint';
  const q = await client.query<{
    phase: string;
    position: string | null;
    age: string | null;
    running: boolean;
  }>(
    `SELECT t.phase, greatest(${applied}, ${flushed})::text AS position, ${age}::text AS age,
            EXISTS (SELECT 1 FROM pg_locks l WHERE ${leaseLockCondition('$1')}) AS running
       FROM pgdts.task t ${status} WHERE t.name = $1`,
    [task],
  );
  const row = q.rows[0];
  if (row === undefined) return undefined;
  return {
    phase: row.phase,
    position: row.position === null ? undefined : parseLsn(row.position),
    statusAgeMs: row.age === null ? undefined : Number(row.age),
    running: row.running,
  };
}
