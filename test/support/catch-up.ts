/** Waiting for a running task to catch up with its source. */
import { sql, type TestServer } from './servers.ts';

/**
 * Waits until the task's slot has confirmed the source's current WAL position (so every transaction
 * committed before the call is applied in the destination).
 * @throws {Error} after `timeoutMs`.
 */
export async function waitForCatchUp(
  s: TestServer,
  db: string,
  slot: string,
  timeoutMs = 120_000,
  /** Output of the pgdts run, added to the timeout error. */
  output: () => string = () => '',
): Promise<void> {
  // The insert position: with synchronous_commit = off, pg_current_wal_lsn() (the write position) can
  // lag behind commits that have already returned.
  const target = (await sql<{ l: string }>(s, db, 'SELECT pg_current_wal_insert_lsn()::text AS l'))[0]?.l;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await sql<{ ok: boolean | null }>(
      s,
      db,
      `SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1`,
      [slot, target],
    );
    if (r[0]?.ok) return;
    if (Date.now() > deadline) {
      throw new Error(`slot ${slot} did not reach ${target} in ${timeoutMs} ms; pgdts said:\n${output()}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}
