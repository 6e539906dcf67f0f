/**
 * The applied position of incremental sync: one row per task in `pgdts.applied_position`, written in
 * the SAME destination transaction as the changes it covers. That is what makes apply exactly-once:
 * after a crash the destination either has a batch and its position, or neither, and the stream is
 * replayed from the committed position (PostgreSQL docs, "Logical Decoding Concepts", replication
 * progress: the source keeps WAL from the confirmed LSN, which we only confirm after this commit).
 */
import type pg from 'pg';
import { parseLsn, formatLsn, type Lsn } from '../../../core/lsn.ts';
import { quoteLiteral } from '../../../core/identifier.ts';
import { applyFailed } from './apply-error.ts';
import { wrapPgError } from '../../../pg/connection.ts';

/** Position durably applied on the destination: end LSN of the last applied source transaction. */
export interface AppliedPosition {
  readonly lsn: Lsn;
  /** Source commit time of that transaction, ms since the Unix epoch; undefined when never recorded. */
  readonly commitTimeMs: number | undefined;
}

/**
 * Creates `pgdts.applied_position` if missing (idempotent; safe to run concurrently with itself
 * because of IF NOT EXISTS plus an advisory lock).
 * @throws {PgdtsError} DESTINATION_UNSUPPORTED wrapping the server error (e.g. no CREATE privilege).
 */
export async function ensureApplyBookkeeping(client: pg.Client): Promise<void> {
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('pgdts.applied_position'))");
    await client.query('CREATE SCHEMA IF NOT EXISTS pgdts');
    await client.query(
      `CREATE TABLE IF NOT EXISTS pgdts.applied_position (
         task_name text PRIMARY KEY,
         applied_lsn pg_lsn NOT NULL,
         commit_time timestamptz,
         updated_at timestamptz NOT NULL DEFAULT now())`,
    );
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw wrapPgError(
      'DESTINATION_UNSUPPORTED',
      'cannot create pgdts.applied_position in the destination',
      e,
    );
  }
}

/**
 * Reads the committed applied position of a task, or undefined when the task never committed a batch.
 * @throws {PgdtsError} APPLY_FAILED wrapping the server error (retryable on connection loss).
 */
export async function readAppliedPosition(
  client: pg.Client,
  taskName: string,
): Promise<AppliedPosition | undefined> {
  try {
    const r = await client.query<{ lsn: string; ms: string | null }>(
      `SELECT applied_lsn::text AS lsn, (extract(epoch FROM commit_time) * 1000)::bigint::text AS ms
         FROM pgdts.applied_position WHERE task_name = $1`,
      [taskName],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return { lsn: parseLsn(row.lsn), commitTimeMs: row.ms === null ? undefined : Number(row.ms) };
  } catch (e) {
    throw applyFailed(`cannot read the applied position of task ${taskName}`, e);
  }
}

/**
 * SQL (one statement, values inlined) that records `lsn` / `commitTimeMs` as the applied position of
 * `taskName`; meant to run inside the destination transaction that applied the changes. Never moves
 * the position backwards.
 */
export function upsertAppliedPositionSql(
  taskName: string,
  lsn: Lsn,
  commitTimeMs: number | undefined,
): string {
  const time =
    commitTimeMs === undefined
      ? 'NULL'
      : `${quoteLiteral(new Date(commitTimeMs).toISOString())}::timestamptz`;
  return `INSERT INTO pgdts.applied_position AS p (task_name, applied_lsn, commit_time, updated_at)
VALUES (${quoteLiteral(taskName)}, ${quoteLiteral(formatLsn(lsn))}::pg_lsn, ${time}, now())
ON CONFLICT (task_name) DO UPDATE SET applied_lsn = excluded.applied_lsn, commit_time = excluded.commit_time, updated_at = now()
WHERE p.applied_lsn <= excluded.applied_lsn`;
}
