/**
 * Writing table data into the destination with COPY FROM STDIN, inside a transaction that also
 * records the range as done (see bookkeeping.ts): the rows and their progress marker commit together.
 */
import type pg from 'pg';
import type { Writable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifier.ts';

/** Starts a COPY FROM STDIN into `table` (columns named, so column order may differ); returns the sink stream. */
export function copyIn(
  client: pg.Client,
  table: QualifiedName,
  columns: readonly string[],
  format: 'binary' | 'text',
): Writable & { rowCount?: number } {
  const fmt = format === 'binary' ? ' (FORMAT binary)' : '';
  return client.query(
    copyFrom(`COPY ${quoteQualified(table)} (${columns.map(quoteIdent).join(', ')}) FROM STDIN${fmt}`),
  );
}

/**
 * Empties destination tables (their rows came from a snapshot that no longer exists), in one
 * statement so that foreign keys among them do not block it. Never CASCADE.
 */
export async function truncateTables(client: pg.Client, tables: readonly QualifiedName[]): Promise<void> {
  if (tables.length === 0) return;
  await client.query(`TRUNCATE ONLY ${tables.map(quoteQualified).join(', ')}`);
}

/**
 * Whether every table of `tables` is empty, as the open transaction sees it, in one statement
 * whatever their count. Emptying thousands of empty tables costs seconds (TRUNCATE gives each a new
 * file), reading them nothing. Runs under a savepoint with `row_security = off`, so a policy hiding
 * rows from the destination user cannot make a table look empty: any error (that one, no SELECT
 * privilege) answers false and leaves the transaction usable (the caller then empties the tables).
 * Takes ACCESS SHARE locks on the tables, fewer than the TRUNCATE it may save.
 */
export async function allTablesEmpty(client: pg.Client, tables: readonly QualifiedName[]): Promise<boolean> {
  if (tables.length === 0) return true;
  await client.query('SAVEPOINT pgdts_empty_check; SET LOCAL row_security = off');
  try {
    const r = await client.query<{ rows: boolean }>(
      `SELECT ${tables.map((t) => `EXISTS (SELECT FROM ONLY ${quoteQualified(t)})`).join(' OR ')} AS rows`,
    );
    await client.query('RELEASE SAVEPOINT pgdts_empty_check');
    return r.rows[0]?.rows === false;
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT pgdts_empty_check');
    return false;
  }
}

/**
 * Pairs of `tables` linked by a foreign key on the destination (referencing, referenced), in one
 * query whatever the table count; tables that do not exist are ignored.
 */
export async function foreignKeyLinks(
  client: pg.Client,
  tables: readonly QualifiedName[],
): Promise<[QualifiedName, QualifiedName][]> {
  const r = await client.query<{ s1: string; n1: string; s2: string; n2: string }>(
    `WITH t AS (
       SELECT c.oid FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.name)
     SELECT n1.nspname AS s1, c1.relname AS n1, n2.nspname AS s2, c2.relname AS n2
       FROM pg_catalog.pg_constraint k
       JOIN pg_catalog.pg_class c1 ON c1.oid = k.conrelid JOIN pg_catalog.pg_namespace n1 ON n1.oid = c1.relnamespace
       JOIN pg_catalog.pg_class c2 ON c2.oid = k.confrelid JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace
      WHERE k.contype = 'f' AND k.conrelid IN (SELECT oid FROM t) AND k.confrelid IN (SELECT oid FROM t)`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return r.rows.map((x) => [
    { schema: x.s1, name: x.n1 },
    { schema: x.s2, name: x.n2 },
  ]);
}
