/**
 * What the source says now about the columns of a Relation message (for following schema changes
 * from the stream, src/pipeline/relation-changes.ts): the type's name on the source, whether the
 * column still exists with that type, its fast default and whether it has a DEFAULT.
 *
 * A column added with a non-volatile default (`ADD COLUMN n int DEFAULT 5`, or `DEFAULT now()`,
 * evaluated once) does not rewrite the table: the value of the rows that existed then is kept in
 * `pg_attribute.attmissingval` with `atthasmissing` (PostgreSQL docs, "pg_attribute"; ALTER TABLE,
 * Notes). A volatile default rewrites the table with a value per row, leaving no missing value.
 */
import type pg from 'pg';
import type { QualifiedName } from '../../core/identifier.ts';
import type { RelationColumnRef, SourceColumnFacts } from '../../core/schema-change.ts';

/**
 * Reads the facts of `columns` of `table`, one per column, in order. `attmissingval` is an
 * `anyarray` of one element: its text form is read back as `text[]` to take the element's text.
 * @throws the server error (the caller wraps it).
 */
export async function readRelationColumns(
  client: pg.Client,
  table: QualifiedName,
  columns: readonly RelationColumnRef[],
): Promise<SourceColumnFacts[]> {
  const r = await client.query<{
    type_name: string;
    found: boolean;
    has_missing: boolean;
    missing: string | null;
    has_default: boolean;
  }>(
    `SELECT format_type(q.oid, q.mod) AS type_name, a.attnum IS NOT NULL AS found,
            coalesce(a.atthasmissing, false) AS has_missing,
            CASE WHEN a.atthasmissing THEN (a.attmissingval::text::text[])[1] END AS missing,
            a.has_default IS TRUE AS has_default
       FROM unnest($3::text[], $4::oid[], $5::int[]) WITH ORDINALITY AS q(name, oid, mod, n)
       LEFT JOIN LATERAL (
         SELECT a.attnum, a.atthasmissing, a.attmissingval,
                EXISTS (SELECT 1 FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) AS has_default
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid
           JOIN pg_namespace ns ON ns.oid = c.relnamespace
          WHERE ns.nspname = $1 AND c.relname = $2 AND a.attname = q.name
            AND a.atttypid = q.oid AND a.atttypmod = q.mod AND a.attnum > 0 AND NOT a.attisdropped) a ON true
      ORDER BY q.n`,
    [
      table.schema,
      table.name,
      columns.map((c) => c.name),
      columns.map((c) => c.typeOid),
      columns.map((c) => c.typeModifier),
    ],
  );
  return r.rows.map((row) => ({
    typeName: row.type_name,
    exists: row.found,
    missingValue: row.has_missing ? row.missing : undefined,
    hasDefault: row.has_default,
  }));
}
