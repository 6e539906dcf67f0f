/** Setting sequence positions in the destination (see source/postgres/sequences.ts for why). */
import type pg from 'pg';
import { quoteLiteral, quoteQualified, type QualifiedName } from '../../core/identifier.ts';

/**
 * Moves each destination sequence to the given position (`setval(seq, v, true)`); a sequence never
 * used on the source is left alone. Never moves a sequence backwards: a destination that already
 * handed out higher values (failover, earlier sync) keeps them. Missing sequences are skipped and
 * returned.
 */
export async function setSequences(
  client: pg.Client,
  values: readonly (QualifiedName & { readonly lastValue: string | undefined })[],
): Promise<QualifiedName[]> {
  const missing: QualifiedName[] = [];
  const stmts: string[] = [];
  const exists = await client.query<{ s: string; n: string }>(
    'SELECT schemaname AS s, sequencename AS n FROM pg_sequences',
  );
  const have = new Set(exists.rows.map((r) => `${r.s}\u0000${r.n}`));
  for (const v of values) {
    if (!have.has(`${v.schema}\u0000${v.name}`)) {
      missing.push(v);
      continue;
    }
    if (v.lastValue === undefined) continue;
    const seq = quoteLiteral(quoteQualified(v));
    // pg_sequence_last_value is NULL for a sequence never used on the destination.
    stmts.push(
      `SELECT setval(${seq}, ${v.lastValue}::bigint, true) WHERE coalesce(pg_sequence_last_value(${seq}::regclass), ${v.lastValue}::bigint - 1) < ${v.lastValue}::bigint`,
    );
  }
  if (stmts.length > 0) await client.query(stmts.join(';\n'));
  return missing;
}
