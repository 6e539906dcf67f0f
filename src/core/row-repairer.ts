/**
 * Applying verify's row repairs on the destination (`pgdts verify --repair=apply`): the capability a
 * sink offers (`Sink.openRepairer`), implemented for PostgreSQL in src/pg/pg-row-repairer.ts.
 */
import type { RepairStatement } from './repair-sql.ts';

/**
 * What became of one repair: `applied`; `skipped` when its guard no longer held (the destination row
 * changed since it was verified: a newer change wins, verify again to see it); `failed` with the
 * server's message when the statement failed or changed another number of rows (its effect undone).
 */
export type RepairOutcome =
  | { readonly status: 'applied' }
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'failed'; readonly reason: string };

/** One destination session applying repairs. */
export interface RowRepairer {
  /**
   * Applies `statements` in one transaction opened with `repairSessionStatements()` (replica mode):
   * for each, reads its guard under FOR UPDATE and runs it only when the guard holds, in a savepoint.
   * @returns one outcome per statement, in order.
   * @throws {PgdtsError} APPLY_FAILED when the transaction itself fails (nothing applied), e.g. the
   *   user may not set session_replication_role.
   */
  apply(statements: readonly RepairStatement[]): Promise<RepairOutcome[]>;
  /** Closes the session. Never throws. */
  close(): Promise<void>;
}
