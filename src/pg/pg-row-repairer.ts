/**
 * {@link RowRepairer} on one PostgreSQL destination session: the guard of each repair is read under
 * FOR UPDATE in the repair's transaction, so between the check and the statement no other session can
 * change the row (a concurrent insert of a missing key still can: that INSERT then fails on the key
 * and is rolled back to its savepoint, leaving the newer row).
 */
import type pg from 'pg';
import { PgdtsError } from '../core/errors.ts';
import { guardHolds, repairSessionStatements, type RepairStatement } from '../core/repair-sql.ts';
import type { RepairOutcome, RowRepairer } from '../core/row-repairer.ts';
import { connect, type ConnectionParams, wrapPgError } from './connection.ts';
import { prepareHashSession } from './table-hash.ts';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** {@link RowRepairer} on one PostgreSQL session. */
export class PgRowRepairer implements RowRepairer {
  private constructor(private readonly client: pg.Client) {}

  /**
   * Connects to the destination and pins the hash session's settings.
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  static async open(params: ConnectionParams): Promise<PgRowRepairer> {
    const client = await connect(params, { role: 'destination', applicationName: 'pgdts-repair' });
    try {
      await prepareHashSession(client);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('APPLY_FAILED', 'cannot prepare the repair session', e);
    }
    return new PgRowRepairer(client);
  }

  async apply(statements: readonly RepairStatement[]): Promise<RepairOutcome[]> {
    const c = this.client;
    const out: RepairOutcome[] = [];
    try {
      await c.query('BEGIN');
      for (const s of repairSessionStatements()) await c.query(s);
      for (const s of statements) out.push(await this.applyOne(s));
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      if (e instanceof PgdtsError) throw e;
      throw wrapPgError('APPLY_FAILED', 'the repair transaction failed', e);
    }
    return out;
  }

  private async applyOne(s: RepairStatement): Promise<RepairOutcome> {
    const c = this.client;
    const rows = await c.query<(string | null)[]>({ text: s.guard.sql, rowMode: 'array' } as pg.QueryConfig);
    if (!guardHolds(s.guard, rows.rows)) {
      return { status: 'skipped', reason: 'the destination row changed since it was verified' };
    }
    await c.query('SAVEPOINT pgdts_repair');
    try {
      const r = await c.query(s.sql);
      if (r.rowCount !== s.rows) {
        await c.query('ROLLBACK TO SAVEPOINT pgdts_repair');
        return { status: 'failed', reason: `changed ${r.rowCount ?? 0} row(s), expected ${s.rows}` };
      }
      await c.query('RELEASE SAVEPOINT pgdts_repair');
      return { status: 'applied' };
    } catch (e) {
      await c.query('ROLLBACK TO SAVEPOINT pgdts_repair');
      return { status: 'failed', reason: message(e) };
    }
  }

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }
}
