/**
 * Sequence values on the source. Logical decoding does not carry sequence changes (PostgreSQL docs,
 * "Logical Replication — Restrictions"), so pgdts copies them at the end of the full sync and
 * periodically during incremental sync.
 */
import type pg from 'pg';
import type { SequenceValue } from '../../core/selected-table.ts';
import type { ObjectSelector } from '../../core/task-config.ts';

/**
 * Reads the sequences in selected schemas and those owned by (serial/identity columns of) selected
 * tables. Needs SELECT or USAGE on the sequences.
 */
export async function readSequences(
  client: pg.Client,
  objects: readonly ObjectSelector[],
): Promise<SequenceValue[]> {
  const schemas = objects.flatMap((o) => (o.kind === 'schema' ? [o.schema] : []));
  const tables = objects.flatMap((o) => (o.kind === 'table' ? [o.table] : []));
  const r = await client.query<{ schemaname: string; sequencename: string; last_value: string | null }>(
    `SELECT s.schemaname, s.sequencename, s.last_value::text
       FROM pg_sequences s
       JOIN pg_namespace n ON n.nspname = s.schemaname
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
      WHERE s.schemaname = ANY($1::text[])
         OR EXISTS (SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                      JOIN pg_namespace tn ON tn.oid = t.relnamespace
                     WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                       AND (tn.nspname, t.relname) IN (SELECT * FROM unnest($2::text[], $3::text[])))
      ORDER BY 1, 2`,
    [schemas, tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  return r.rows.map((x) => ({
    schema: x.schemaname,
    name: x.sequencename,
    lastValue: x.last_value ?? undefined,
  }));
}
