/**
 * Applies the control plane's {@link MIGRATIONS} to a store database. All of them run in one
 * transaction that first takes a transaction-scoped advisory lock (PostgreSQL docs, "Advisory
 * Locks", `pg_advisory_xact_lock`): a second process starting at the same time waits on the lock,
 * then finds the migrations recorded and applies nothing. A failed migration rolls everything back.
 */
import type pg from 'pg';
import { MIGRATIONS, STORE_SCHEMA, type Migration } from './migrations.ts';

/**
 * The advisory lock key of the migrations (a bigint; any constant unlikely to be used by others:
 * the ASCII of "pgdtsmig").
 */
export const MIGRATION_LOCK_KEY = 0x7067647473_6d6967n;

/** What {@link migrateStore} did. */
export interface MigrationOutcome {
  /** Versions applied by this call, in order (empty when the store was up to date). */
  readonly applied: readonly number[];
  /** The store's version afterwards. */
  readonly version: number;
}

/**
 * Brings the store up to date. Errors propagate as `pg` errors (the caller wraps them).
 * @param client a connected client not inside a transaction.
 * @param migrations the list to apply (tests pass a longer one); default {@link MIGRATIONS}.
 * @throws {Error} when the store holds a version newer than this pgdts knows (a downgrade).
 */
export async function migrateStore(
  client: pg.Client | pg.PoolClient,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationOutcome> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${STORE_SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${STORE_SCHEMA}.schema_migration (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const r = await client.query<{ version: number }>(
      `SELECT version FROM ${STORE_SCHEMA}.schema_migration ORDER BY version`,
    );
    const done = new Set(r.rows.map((x) => x.version));
    const newest = Math.max(0, ...done);
    const known = Math.max(0, ...migrations.map((m) => m.version));
    if (newest > known) {
      throw new Error(
        `the store is at version ${newest}, this pgdts knows up to ${known}: run a newer pgdts against it`,
      );
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${STORE_SCHEMA}.schema_migration (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return { applied, version: Math.max(newest, ...applied) };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
