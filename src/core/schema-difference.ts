/**
 * Differences between two schema models of the same objects (verify.md [V5]): the one schema sync
 * would create (the source's, mapped onto the destination's names) and the one the destination has.
 * Pure: no I/O. Compares tables (columns: type, nullability, default, identity, generation; CHECK,
 * PRIMARY KEY, UNIQUE and EXCLUDE constraints and foreign keys by name and definition) and indexes
 * (by name and definition), under the destination's names.
 */
import { displayName } from './identifier.ts';
import type { IndexDef, SchemaModel, TableDef } from './schema-model.ts';

/** The kind of object a {@link SchemaDifference} is about. */
export type SchemaObjectKind = 'table' | 'column' | 'constraint' | 'foreign-key' | 'index';

/** One object whose definition differs between source (mapped) and destination. */
export interface SchemaDifference {
  readonly objectKind: SchemaObjectKind;
  /** The object under its destination name: `schema.table`, `schema.table.column`, `schema.table constraint`, `schema.index`. */
  readonly object: string;
  readonly kind: 'missing in destination' | 'extra in destination' | 'different';
  /** For `different`: each differing property with the source's and the destination's value. */
  readonly differences?: readonly {
    readonly property: string;
    readonly source: string;
    readonly destination: string;
  }[];
}

type Props = Readonly<Record<string, string>>;

/**
 * Definition text with simple identifiers unquoted (`"amount"` → `amount`): schema sync's mapping
 * rewrites column names in definitions quoted, PostgreSQL prints them bare, and both mean the same.
 * Applied to both sides alike, so a name that needs its quotes still compares equal to itself.
 */
function normalized(sql: string): string {
  return sql.replace(/"([a-z_][a-z0-9_$]*)"/g, '$1');
}

function columnProps(c: TableDef['columns'][number]): Props {
  return {
    type: c.type,
    'not null': String(c.notNull),
    default: c.default === undefined ? '(none)' : normalized(c.default),
    identity: c.identity === undefined ? '(none)' : JSON.stringify(c.identity),
    generated: c.generated === undefined ? '(none)' : normalized(c.generated),
  };
}

function compareProps(a: Props, b: Props): NonNullable<SchemaDifference['differences']> {
  return Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .map((k) => ({ property: k, source: a[k] ?? '', destination: b[k] ?? '' }));
}

/**
 * Compares `expected` and `actual` member lists by key; pushes missing, extra and different entries.
 */
function compareSets<T>(
  out: SchemaDifference[],
  objectKind: SchemaObjectKind,
  expected: readonly T[],
  actual: readonly T[],
  key: (x: T) => string,
  props: (x: T) => Props,
): void {
  const act = new Map(actual.map((x) => [key(x), x]));
  const exp = new Set(expected.map(key));
  for (const e of expected) {
    const k = key(e);
    const a = act.get(k);
    if (a === undefined) out.push({ objectKind, object: k, kind: 'missing in destination' });
    else {
      const differences = compareProps(props(e), props(a));
      if (differences.length > 0) out.push({ objectKind, object: k, kind: 'different', differences });
    }
  }
  for (const a of actual) {
    if (!exp.has(key(a))) out.push({ objectKind, object: key(a), kind: 'extra in destination' });
  }
}

/**
 * Index text without its own name and table (`CREATE INDEX name ON s.t USING ...` → `CREATE INDEX ON
 * USING ...`), so that the same index compares equal under either side's naming of the table.
 */
function indexBody(i: IndexDef): string {
  return normalized(i.definition).replace(/^(CREATE (?:UNIQUE )?INDEX )\S+ ON (ONLY )?\S+/, '$1ON $2');
}

/**
 * Every difference between `expected` (source model on the destination's names) and `actual` (the
 * destination's model of the same tables), sorted by object. Objects of `actual` count as extra only
 * on tables `expected` has (a destination's other tables are not the task's).
 */
export function diffSchemaModels(expected: SchemaModel, actual: SchemaModel): SchemaDifference[] {
  const out: SchemaDifference[] = [];
  const actualTables = new Map(actual.tables.map((t) => [displayName(t), t]));
  const selected = new Set(expected.tables.map(displayName));
  for (const e of expected.tables) {
    const name = displayName(e);
    const a = actualTables.get(name);
    if (a === undefined) {
      out.push({ objectKind: 'table', object: name, kind: 'missing in destination' });
      continue;
    }
    compareSets(out, 'column', e.columns, a.columns, (c) => `${name}.${c.name}`, columnProps);
    compareSets(
      out,
      'constraint',
      e.constraints.filter((c) => !c.inherited),
      a.constraints.filter((c) => !c.inherited),
      (c) => `${name} ${c.name}`,
      (c) => ({ definition: normalized(c.definition) }),
    );
    compareSets(
      out,
      'foreign-key',
      e.foreignKeys,
      a.foreignKeys,
      (k) => `${name} ${k.name}`,
      (k) => ({ definition: normalized(k.definition) }),
    );
  }
  const onSelected = (i: IndexDef) => selected.has(displayName(i.table));
  compareSets(
    out,
    'index',
    expected.indexes.filter(onSelected),
    actual.indexes.filter(onSelected),
    (i) => displayName(i),
    (i) => ({ definition: indexBody(i), table: displayName(i.table) }),
  );
  return out.sort((x, y) => (x.object < y.object ? -1 : x.object > y.object ? 1 : 0));
}
