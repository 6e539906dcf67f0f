/**
 * The replica identity rule of row filters (PostgreSQL docs, "Logical Replication", Row Filters,
 * "Expression Restrictions"): a filter that must judge UPDATEs and DELETEs may reference only
 * replica identity columns, unless the table has REPLICA IDENTITY FULL — the old row of an UPDATE or
 * DELETE carries nothing else. PostgreSQL 15+ enforces it on the source by refusing UPDATE and DELETE
 * on the table once such a filter is published (SQLSTATE 42P10), which would break the application
 * writing there; pgdts applies it before publishing anything, on every source version, so a filter
 * means the same everywhere. Sans I/O.
 */
import type { SelectedTable } from './selected-table.ts';

/** What {@link rowFilterIdentityProblem} found. */
export interface RowFilterIdentityProblem {
  /** Referenced columns outside the replica identity. */
  readonly outside: readonly string[];
  /** The replica identity columns (empty: none). */
  readonly identity: readonly string[];
}

/**
 * The columns of a row filter (`referenced`, as the source reported them) that break the rule on
 * `table`, or undefined when it holds (always under REPLICA IDENTITY FULL).
 */
export function rowFilterIdentityProblem(
  table: SelectedTable,
  referenced: readonly string[],
): RowFilterIdentityProblem | undefined {
  if (table.replicaIdentity === 'full') return undefined;
  const identity =
    table.replicaIdentity === 'index'
      ? table.replicaIdentityIndexColumns
      : table.replicaIdentity === 'default'
        ? table.primaryKey
        : [];
  const outside = referenced.filter((c) => !identity.includes(c));
  return outside.length > 0 ? { outside, identity } : undefined;
}

/** What is wrong, for `table` (`schema.name`): `references note of app.orders, outside ...`. */
export function rowFilterIdentityMessage(table: string, p: RowFilterIdentityProblem): string {
  return `references ${p.outside.join(', ')} of ${table}, outside its replica identity (${p.identity.join(', ') || 'none'}): an UPDATE or DELETE cannot tell whether the old row matched (PostgreSQL 15+ refuses UPDATE and DELETE on the table once such a filter is published)`;
}
