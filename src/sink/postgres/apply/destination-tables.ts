/**
 * What the apply engine needs to know about destination tables, read from the destination catalog
 * (never from the source type OIDs, which may not exist there): column cast types, generated and
 * identity columns, whether a column's type has an equality operator, and the relkind.
 */
import type pg from 'pg';
import { displayName, type QualifiedName } from '../../../core/identifier.ts';
import { PgdtsError } from '../../../core/errors.ts';
import { applyFailed } from './apply-error.ts';
import type { Relation } from '../../../core/change.ts';

/** One column of a destination table. */
export interface DestinationColumn {
  readonly name: string;
  /**
   * Type to cast text literals to, without typmod (`format_type(atttypid, -1)`: with -1 rather than NULL, `char(n)`
   * becomes `bpchar` and `bit(n)` `"bit"`, not the one-character `character` and `bit`): an explicit cast
   * to `varchar(3)` or `numeric(5,2)` would silently truncate/round, whereas the assignment to the
   * column checks the typmod and fails loudly.
   */
  readonly castType: string;
  /** GENERATED ALWAYS AS (...) STORED: never written (PostgreSQL docs, "Generated Columns"). */
  readonly generated: boolean;
  /** GENERATED ALWAYS AS IDENTITY: inserts need OVERRIDING SYSTEM VALUE. */
  readonly identityAlways: boolean;
  /**
   * The type (through domains and arrays) has no btree equality (json, xml, point, box, composite
   * types...): such columns are matched as `col::text = (literal::type)::text`.
   */
  readonly compareAsText: boolean;
}

/** A destination table: relkind `r` (plain) or `p` (partitioned), columns by name. */
export interface DestinationTable {
  readonly schema: string;
  readonly name: string;
  readonly partitioned: boolean;
  readonly columns: ReadonlyMap<string, DestinationColumn>;
  /**
   * Column lists of the unique indexes (primary key included); an index on an expression or with a
   * predicate is listed as an empty array, which matches no key.
   */
  readonly uniqueKeys: readonly (readonly string[])[];
}

interface ColumnRow {
  schema: string;
  name: string;
  relkind: string;
  attname: string;
  atttypid: number;
  cast_type: string;
  generated: boolean;
  identity_always: boolean;
}

interface TypeRow {
  oid: number;
  typtype: string;
  typcategory: string;
  typbasetype: number;
  typelem: number;
  has_btree: boolean;
}

/**
 * Cache of destination tables by qualified name. An entry is dropped when a {@link Relation} with a
 * different column list arrives for it (the source sends a new Relation message after DDL; PostgreSQL
 * docs, "Logical Replication Message Formats", Relation), so the next flush re-reads the catalog.
 */
export class DestinationTables {
  private readonly tables = new Map<string, DestinationTable>();
  private readonly signatures = new Map<string, string>();

  /** Relation objects already observed: the decoder reuses one object until the relation changes. */
  private readonly seen = new WeakSet<Relation>();

  /** Notes the column list of a relation; invalidates the cached table when it changed. */
  observe(relation: Relation): void {
    if (this.seen.has(relation)) return;
    this.seen.add(relation);
    const key = displayName(relation);
    const sig = JSON.stringify(relation.columns.map((c) => [c.name, c.typeOid, c.typeModifier]));
    if (this.signatures.get(key) !== sig) {
      this.signatures.set(key, sig);
      this.tables.delete(key);
    }
  }

  /** The cached table, if loaded. */
  get(q: QualifiedName): DestinationTable | undefined {
    return this.tables.get(displayName(q));
  }

  /** Forgets everything (e.g. after a rollback that may have undone DDL). */
  clear(): void {
    this.tables.clear();
    this.signatures.clear();
  }

  /**
   * Loads the tables not yet cached, in two catalog queries for all of them.
   * @throws {PgdtsError} APPLY_FAILED (not retryable) naming a table missing in the destination;
   *   APPLY_FAILED wrapping the server error otherwise.
   */
  async load(client: pg.Client, names: readonly QualifiedName[]): Promise<void> {
    const missing = [
      ...new Map(
        names.filter((q) => !this.tables.has(displayName(q))).map((q) => [displayName(q), q]),
      ).values(),
    ];
    if (missing.length === 0) return;
    let cols: ColumnRow[];
    let types: TypeRow[];
    let uniques: { schema: string; name: string; cols: string[] | null }[];
    try {
      uniques = (
        await client.query<{ schema: string; name: string; cols: string[] | null }>(
          `SELECT q.s AS schema, q.n AS name,
                  CASE WHEN i.indexprs IS NULL AND i.indpred IS NULL AND NOT (0 = ANY (i.indkey::int2[]))
                       THEN (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_attribute a
                              WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey::int2[])) END AS cols
             FROM unnest($1::text[], $2::text[]) AS q(s, n)
             JOIN pg_namespace ns ON ns.nspname = q.s
             JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = q.n
             JOIN pg_index i ON i.indrelid = c.oid AND i.indisunique`,
          [missing.map((q) => q.schema), missing.map((q) => q.name)],
        )
      ).rows;
      cols = (
        await client.query<ColumnRow>(
          `SELECT q.s AS schema, q.n AS name, c.relkind::text AS relkind, a.attname, a.atttypid::int AS atttypid,
                  format_type(a.atttypid, -1) AS cast_type, a.attgenerated <> '' AS generated,
                  a.attidentity = 'a' AS identity_always
             FROM unnest($1::text[], $2::text[]) AS q(s, n)
             JOIN pg_namespace ns ON ns.nspname = q.s
             JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = q.n AND c.relkind IN ('r', 'p')
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY q.s, q.n, a.attnum`,
          [missing.map((q) => q.schema), missing.map((q) => q.name)],
        )
      ).rows;
      // Walk domains to their base type and arrays to their element type. A type "has equality"
      // when a default btree opclass takes it directly or through an implicit binary cast
      // (varchar = varchar resolves to texteq); xml -> text is binary but explicit, so xml has none.
      types = (
        await client.query<TypeRow>(
          `WITH RECURSIVE ty(oid) AS (
             SELECT DISTINCT unnest($1::oid[])
             UNION
             SELECT x.oid FROM ty JOIN pg_type t ON t.oid = ty.oid
               CROSS JOIN LATERAL (VALUES (nullif(t.typbasetype, 0)),
                 (CASE WHEN t.typcategory = 'A' THEN nullif(t.typelem, 0) END)) AS x(oid)
              WHERE x.oid IS NOT NULL)
           SELECT t.oid::int AS oid, t.typtype::text AS typtype, t.typcategory::text AS typcategory,
                  t.typbasetype::int AS typbasetype, t.typelem::int AS typelem,
                  EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
                           WHERE am.amname = 'btree' AND oc.opcdefault
                             AND (oc.opcintype = t.oid OR EXISTS (
                                   SELECT 1 FROM pg_cast k WHERE k.castsource = t.oid
                                      AND k.casttarget = oc.opcintype AND k.castmethod = 'b' AND k.castcontext = 'i'))) AS has_btree
             FROM ty JOIN pg_type t ON t.oid = ty.oid`,
          [[...new Set(cols.map((c) => c.atttypid))]],
        )
      ).rows;
    } catch (e) {
      throw applyFailed(`cannot read destination tables ${missing.map(displayName).join(', ')}`, e);
    }
    const typeById = new Map(types.map((t) => [t.oid, t]));
    const needsText = (oid: number, depth = 0): boolean => {
      const t = typeById.get(oid);
      if (!t || depth > 20) return true;
      if (t.typtype === 'd') return needsText(t.typbasetype, depth + 1);
      if (t.typcategory === 'A' && t.typelem !== 0) return needsText(t.typelem, depth + 1);
      // Enum, range and multirange equality come from polymorphic opclasses (anyenum, anyrange).
      if (t.typtype === 'e' || t.typtype === 'r' || t.typtype === 'm') return false;
      if (t.typtype !== 'b') return true; // composite (record_eq needs every field comparable), pseudo
      return !t.has_btree;
    };
    for (const q of missing) {
      const mine = cols.filter((c) => c.schema === q.schema && c.name === q.name);
      const first = mine[0];
      if (!first) {
        throw new PgdtsError('APPLY_FAILED', `table ${displayName(q)} does not exist in the destination`);
      }
      this.tables.set(displayName(q), {
        schema: q.schema,
        name: q.name,
        partitioned: first.relkind === 'p',
        uniqueKeys: uniques
          .filter((u) => u.schema === q.schema && u.name === q.name)
          .map((u) => u.cols ?? []),
        columns: new Map(
          mine.map((c) => [
            c.attname,
            {
              name: c.attname,
              castType: c.cast_type,
              generated: c.generated,
              identityAlways: c.identity_always,
              compareAsText: needsText(c.atttypid),
            },
          ]),
        ),
      });
    }
  }
}
