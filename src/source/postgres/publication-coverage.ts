/**
 * Which selected tables a publication does not carry yet, from what `pg_publication_tables` lists for
 * it — a view that covers every way a table gets in (FOR TABLE, FOR TABLES IN SCHEMA, FOR ALL TABLES)
 * and lists partitions by their own name, or their root when the publication publishes via the root
 * (PostgreSQL docs, "pg_publication_tables"). Sans I/O.
 */
import { displayName, quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import type { SelectedTable } from '../../core/selected-table.ts';

const key = (q: QualifiedName) => `${q.schema}\u0000${q.name}`;

/** The tables a publication of the selection lists: roots (a partitioned table brings its partitions) and plain tables. */
export function publicationTables(tables: readonly SelectedTable[]): SelectedTable[] {
  return tables.filter((t) => t.partitionRoot === undefined);
}

/**
 * The publication tables (see {@link publicationTables}) to add so that every selected leaf is
 * carried: a leaf is carried when listed itself or through its root.
 */
export function missingFromPublication(
  tables: readonly SelectedTable[],
  listed: readonly QualifiedName[],
): SelectedTable[] {
  const have = new Set(listed.map(key));
  const carried = (t: SelectedTable) =>
    have.has(key(t)) || (t.partitionRoot !== undefined && have.has(key(t.partitionRoot)));
  const rootsToAdd = new Set<string>();
  for (const t of tables) {
    if (t.relkind !== 'r' || carried(t)) continue;
    rootsToAdd.add(key(t.partitionRoot ?? t));
  }
  return publicationTables(tables).filter((t) => rootsToAdd.has(key(t)));
}

/**
 * A publication's `FOR TABLE` entry for `t`: with its row filter from PostgreSQL 15 for a plain
 * table (a partitioned table's filter would not reach its partitions, published under their own
 * names: pgdts filters those rows itself).
 */
export function publicationEntry(
  t: SelectedTable,
  rowFilters: ReadonlyMap<string, string>,
  major: number,
): string {
  const where = rowFilters.get(displayName(t));
  const own = major >= 15 && where !== undefined && t.relkind === 'r' && t.partitionRoot === undefined;
  return own ? `${quoteQualified(t)} WHERE (${where})` : quoteQualified(t);
}
