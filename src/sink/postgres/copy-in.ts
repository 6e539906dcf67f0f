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
