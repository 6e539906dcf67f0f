/**
 * Foreign keys that point at a row-filtered table (`objects[].where`): the destination holds only
 * the rows the filter keeps, so rows of the referencing table may point at rows that were left out,
 * and `ADD CONSTRAINT ... FOREIGN KEY` would fail validating them after the copy. Such keys are
 * created `NOT VALID` (PostgreSQL docs, "ALTER TABLE", NOT VALID): not checked against the rows
 * copied, still checked for rows written on the destination by anyone but pgdts (the apply runs
 * with session_replication_role = replica, under which foreign keys are not checked). Pure, sans I/O.
 */
import { displayName } from '../core/identifier.ts';
import type { ForeignKeyDef, SchemaModel } from '../core/schema-model.ts';
import type { TableTarget } from '../core/table-targets.ts';

/** A foreign key made NOT VALID, for the log. */
export interface RelaxedForeignKey {
  /** Source table that has the key, and the key's name. */
  readonly table: string;
  readonly name: string;
  /** Source table it references (the filtered one). */
  readonly references: string;
}

/**
 * The source model with every foreign key referencing a row-filtered selected table made
 * `NOT VALID` (unless it already is), and the list of those keys.
 */
export function relaxForeignKeysToFilteredTables(
  model: SchemaModel,
  targets: readonly TableTarget[],
): { readonly model: SchemaModel; readonly relaxed: readonly RelaxedForeignKey[] } {
  const filtered = new Set(targets.filter((t) => t.where !== undefined).map((t) => displayName(t.source)));
  if (filtered.size === 0) return { model, relaxed: [] };
  const relaxed: RelaxedForeignKey[] = [];
  const tables = model.tables.map((t) => {
    if (!t.foreignKeys.some((fk) => filtered.has(displayName(fk.references)))) return t;
    const foreignKeys = t.foreignKeys.map((fk): ForeignKeyDef => {
      if (!filtered.has(displayName(fk.references))) return fk;
      if (!/\bNOT VALID$/.test(fk.definition)) {
        relaxed.push({ table: displayName(t), name: fk.name, references: displayName(fk.references) });
        return { ...fk, definition: `${fk.definition} NOT VALID` };
      }
      return fk;
    });
    return { ...t, foreignKeys };
  });
  return { model: { ...model, tables }, relaxed };
}
