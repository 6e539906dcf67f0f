/** A hand-built {@link SelectedTable} for sans-I/O tests (what listSelectedTables would report). */
import type { SelectedTable } from '../../src/core/selected-table.ts';

let nextOid = 900_000;

/** A table of `schema` with an `id` key; a partition when `root` (its root's name) is given. */
export function selectedTable(
  schema: string,
  name: string,
  o: { relkind?: 'r' | 'p'; root?: string } = {},
): SelectedTable {
  return {
    oid: nextOid++,
    schema,
    name,
    relkind: o.relkind ?? 'r',
    partitionRoot: o.root === undefined ? undefined : { schema, name: o.root },
    primaryKey: ['id'],
    replicaIdentity: 'default',
    replicaIdentityIndexColumns: [],
    sizeBytes: 0,
    blocks: 0,
    estimatedRows: 0,
    columns: ['id'],
    generatedColumns: [],
    triggers: 0,
  };
}
