/**
 * Sequence values on the source. Logical decoding does not carry sequence changes (PostgreSQL docs,
 * "Logical Replication — Restrictions"), so pgdts copies them at the end of the full sync and
 * periodically during incremental sync.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import { quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import type { SequenceValue } from '../../core/selected-table.ts';
import { entryOf, selects } from '../../core/table-targets.ts';
import type { ObjectSelector } from '../../core/task-config.ts';

/** A selected sequence and whether the session may read its value (SELECT or USAGE). */
export interface SelectedSequence extends QualifiedName {
  readonly readable: boolean;
  /** Last value, when readable and used; undefined: never used (nextval returns start) or unreadable. */
  readonly lastValue: string | undefined;
  /** The table owning it (serial OWNED BY, identity column); undefined for a free-standing sequence. */
  readonly ownedBy: QualifiedName | undefined;
}

/**
 * Lists the sequences in selected schemas and those owned by (serial/identity columns of) selected
 * tables, from the catalog (no privilege needed), with their values where the session may read them:
 * `pg_sequences.last_value` is NULL both for a sequence never used and for one without SELECT or
 * USAGE, so readability is asked separately.
 */
export async function listSelectedSequences(
  client: pg.Client,
  objects: readonly ObjectSelector[],
): Promise<SelectedSequence[]> {
  const schemas = [...new Set(objects.map((o) => (o.kind === 'schema' ? o.schema : o.table.schema)))];
  const r = await client.query<{
    schemaname: string;
    sequencename: string;
    readable: boolean;
    last_value: string | null;
    owner_schema: string | null;
    owner_name: string | null;
  }>(
    `SELECT s.schemaname, s.sequencename, has_sequence_privilege(c.oid, 'SELECT,USAGE') AS readable,
            s.last_value::text, tn.nspname AS owner_schema, t.relname AS owner_name
       FROM pg_sequences s
       JOIN pg_namespace n ON n.nspname = s.schemaname
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
       LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
                            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_class t ON t.oid = d.refobjid
       LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
      WHERE s.schemaname = ANY($1::text[]) OR tn.nspname = ANY($1::text[])
      ORDER BY 1, 2`,
    [schemas],
  );
  // An owned sequence (serial, identity) goes with its table; another one with its schema's entry.
  return r.rows
    .filter((x) =>
      x.owner_schema !== null && x.owner_name !== null
        ? entryOf(objects, { schema: x.owner_schema, name: x.owner_name }) !== undefined
        : objects.some(
            (o) => o.kind === 'schema' && selects(o, { schema: x.schemaname, name: x.sequencename }),
          ),
    )
    .map((x) => ({
      schema: x.schemaname,
      name: x.sequencename,
      readable: x.readable,
      lastValue: x.last_value ?? undefined,
      ownedBy:
        x.owner_schema !== null && x.owner_name !== null
          ? { schema: x.owner_schema, name: x.owner_name }
          : undefined,
    }));
}

/**
 * The values of the selected sequences. Needs SELECT or USAGE on each.
 * @throws {PgdtsError} SOURCE_UNSUPPORTED naming a sequence the session may not read (its value
 *   would otherwise look like a never-used sequence and silently not be copied).
 */
export async function readSequences(
  client: pg.Client,
  objects: readonly ObjectSelector[],
): Promise<SequenceValue[]> {
  const all = await listSelectedSequences(client, objects);
  const unreadable = all.filter((s) => !s.readable);
  if (unreadable.length > 0) {
    throw new PgdtsError(
      'SOURCE_UNSUPPORTED',
      `no SELECT on sequence ${unreadable.map((s) => `${s.schema}.${s.name}`).join(', ')}: its value cannot be copied`,
      { hint: `GRANT SELECT ON SEQUENCE ${unreadable.map(quoteQualified).join(', ')} TO <the source user>;` },
    );
  }
  return all.map((s) => ({ schema: s.schema, name: s.name, lastValue: s.lastValue, ownedBy: s.ownedBy }));
}
