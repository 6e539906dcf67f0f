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
import { EMPTY_TALLY, type ApplyTally, type AppliedPosition } from '../../../core/sink.ts';

export type { AppliedPosition };

/** Tally columns of `pgdts.applied_position`, with the tally field each one counts. */
const TALLY_COLUMNS = [
  ['skipped_inserts', (t: ApplyTally) => t.skipped.insert],
  ['skipped_updates', (t: ApplyTally) => t.skipped.update],
  ['skipped_deletes', (t: ApplyTally) => t.skipped.delete],
  ['skipped_truncates', (t: ApplyTally) => t.skipped.truncate],
  ['missing_deletes', (t: ApplyTally) => t.missingDeletes],
] as const;

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
    // Added later: tables of earlier versions get them here (IF NOT EXISTS keeps this idempotent).
    for (const [column] of TALLY_COLUMNS) {
      await client.query(
        `ALTER TABLE pgdts.applied_position ADD COLUMN IF NOT EXISTS ${column} bigint NOT NULL DEFAULT 0`,
      );
    }
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
    const r = await client.query<Record<string, string | null>>(
      `SELECT applied_lsn::text AS lsn, (extract(epoch FROM commit_time) * 1000)::bigint::text AS ms,
              ${TALLY_COLUMNS.map(([c]) => `${c}::text`).join(', ')}
         FROM pgdts.applied_position WHERE task_name = $1`,
      [taskName],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    const n = (c: string) => Number(row[c] ?? 0);
    return {
      lsn: parseLsn(row.lsn ?? '0/0'),
      commitTimeMs: row.ms === null || row.ms === undefined ? undefined : Number(row.ms),
      tally: {
        skipped: {
          insert: n('skipped_inserts'),
          update: n('skipped_updates'),
          delete: n('skipped_deletes'),
          truncate: n('skipped_truncates'),
        },
        missingDeletes: n('missing_deletes'),
      },
    };
  } catch (e) {
    throw applyFailed(`cannot read the applied position of task ${taskName}`, e);
  }
}

/**
 * SQL (one statement, values inlined) that records `lsn` / `commitTimeMs` as the applied position of
 * `taskName` and adds the batch's `tally` to the task's; meant to run inside the destination
 * transaction that applied the changes. Never moves the position backwards.
 */
export function upsertAppliedPositionSql(
  taskName: string,
  lsn: Lsn,
  commitTimeMs: number | undefined,
  tally: ApplyTally = EMPTY_TALLY,
): string {
  const time =
    commitTimeMs === undefined
      ? 'NULL'
      : `${quoteLiteral(new Date(commitTimeMs).toISOString())}::timestamptz`;
  const counted = TALLY_COLUMNS.filter(([, f]) => f(tally) > 0);
  const cols = counted.map(([c]) => `, ${c}`).join('');
  const vals = counted.map(([, f]) => `, ${f(tally)}`).join('');
  const sets = counted.map(([c]) => `, ${c} = p.${c} + excluded.${c}`).join('');
  return `INSERT INTO pgdts.applied_position AS p (task_name, applied_lsn, commit_time, updated_at${cols})
VALUES (${quoteLiteral(taskName)}, ${quoteLiteral(formatLsn(lsn))}::pg_lsn, ${time}, now()${vals})
ON CONFLICT (task_name) DO UPDATE SET applied_lsn = excluded.applied_lsn, commit_time = excluded.commit_time, updated_at = now()${sets}
WHERE p.applied_lsn <= excluded.applied_lsn`;
}

/** `a + b`, field by field. */
export function addTally(a: ApplyTally, b: ApplyTally): ApplyTally {
  return {
    skipped: {
      insert: a.skipped.insert + b.skipped.insert,
      update: a.skipped.update + b.skipped.update,
      delete: a.skipped.delete + b.skipped.delete,
      truncate: a.skipped.truncate + b.skipped.truncate,
    },
    missingDeletes: a.missingDeletes + b.missingDeletes,
  };
}
