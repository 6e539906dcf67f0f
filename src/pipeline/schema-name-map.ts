/**
 * Where each object of a source {@link SchemaModel} goes in the destination under the task's name
 * mapping, as one lookup structure for the model transform and the SQL rewrite. Sans I/O.
 *
 * - Tables go to their {@link TableTarget.table}, with their target's column names; columns the target
 *   leaves out are excluded.
 * - What PostgreSQL keeps in a table's schema goes with the table: its indexes and index-backed
 *   constraints, its identity sequences and the sequences it owns (OWNED BY needs the same schema;
 *   {@link targetSequences} places sequence values by the same rule).
 * - Everything else (types, other sequences, views, routines, extensions) goes with its schema:
 *   {@link targetSchema}, the schema entry's `as` or a `x.*` → `y.*` mapping rule.
 */
import { displayName, type QualifiedName } from '../core/identifier.ts';
import type { ObjectRef, SchemaModel, TableDef } from '../core/schema-model.ts';
import { targetSchema, targetSequences, type TableTarget } from '../core/table-targets.ts';
import type { TaskConfig } from '../core/task-config.ts';
import {
  rewriteSqlNames,
  type ColumnRenames,
  type NameResolver,
  type ResolvedRelation,
} from './rewrite-sql-names.ts';

/** What a source table becomes. */
export interface TableMapping {
  readonly to: QualifiedName;
  /** Changed columns only: source name → destination name, or null when left out. */
  readonly columns: ColumnRenames;
  /**
   * Another source table creates the same destination table (a `mergeInto` merge listed before this
   * one): this one is not created, nor are its indexes, constraints, triggers and owned sequences.
   */
  readonly duplicate: boolean;
  /** Several source tables merge into the destination table. */
  readonly merged: boolean;
}

/** A column a table target renames or leaves out. */
export interface ChangedColumn {
  readonly table: QualifiedName;
  readonly column: string;
  readonly to: string | null;
}

/** The name mapping of one model, for lookups by source name. */
export interface SchemaNameMap extends NameResolver {
  /** Nothing is renamed and no column changes: the model maps onto itself. */
  readonly identity: boolean;
  /** A table of the model, by source name. */
  table(q: QualifiedName): TableMapping | undefined;
  /** Any relation, type or index, by source name; unknown names go with their schema. */
  object(q: QualifiedName): QualifiedName;
  /** A routine reference's destination (`name` is the signature, as in {@link ObjectRef}). */
  routineRef(schema: string, signature: string): QualifiedName;
  /** An object reference's destination. */
  ref(r: ObjectRef): ObjectRef;
  /** Source schemas whose objects move to another schema. */
  readonly renamedSchemas: ReadonlySet<string>;
  /** Source names of relations whose own name changes (not only their schema). */
  readonly renamedRelationNames: ReadonlySet<string>;
  /** Source column names renamed or left out in some table. */
  readonly changedColumnNames: ReadonlySet<string>;
  /** Every renamed or left-out column: its source table, name and destination name (null: left out). */
  readonly changedColumns: readonly ChangedColumn[];
  /** Names of relations, types and routines that move with a renamed schema under the same name. */
  readonly movedNames: ReadonlyMap<string, readonly string[]>;
}

const key = (schema: string, name: string): string => `${schema}\u0000${name}`;

/**
 * Builds the name map of `model` from the task's mapping and the planned `targets` (tables of the
 * model without a target keep their name and go with their schema).
 */
export function buildSchemaNameMap(
  model: SchemaModel,
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  targets: readonly TableTarget[],
): SchemaNameMap {
  if (isIdentityMapping(model, task, targets)) return IDENTITY;
  const schemaCache = new Map<string, string>();
  const schema = (s: string): string => {
    let t = schemaCache.get(s);
    if (t === undefined) {
      t = targetSchema(task, s);
      schemaCache.set(s, t);
    }
    return t;
  };

  const targetOf = new Map(targets.map((t) => [displayName(t.source), t]));
  const targetIndex = new Map(targets.map((t, i) => [key(t.source.schema, t.source.name), i]));
  const tables = new Map<string, TableMapping>();
  const firstAt = new Map<string, string>();
  const mergedDest = new Set<string>();
  // Merges in the order of the targets (the source's table list), so the first target creates the table.
  const ordered = model.tables
    .map((t) => ({ t, at: targetIndex.get(key(t.schema, t.name)) ?? targets.length }))
    .sort((a, b) => a.at - b.at)
    .map((x) => x.t);
  for (const t of ordered) {
    const target = targetOf.get(displayName(t));
    const to = target?.table ?? { schema: schema(t.schema), name: t.name };
    const dest = displayName(to);
    const first = firstAt.get(dest);
    if (first === undefined) firstAt.set(dest, displayName(t));
    else mergedDest.add(dest);
    tables.set(key(t.schema, t.name), {
      to,
      columns: columnChanges(t, target),
      duplicate: first !== undefined && target?.mergeInto === true,
      merged: false,
    });
  }
  for (const [k, m] of tables) {
    if (mergedDest.has(displayName(m.to))) tables.set(k, { ...m, merged: true });
  }

  const objects = new Map<string, ResolvedRelation>();
  const put = (q: QualifiedName, to: QualifiedName, columns?: ColumnRenames): void => {
    objects.set(key(q.schema, q.name), { to, columns });
  };
  const inSchema = (q: QualifiedName): QualifiedName => ({ schema: schema(q.schema), name: q.name });
  for (const t of model.tables) {
    const m = tables.get(key(t.schema, t.name))!;
    put(t, m.to, m.columns);
    const home = (name: string): QualifiedName => ({ schema: m.to.schema, name });
    for (const c of t.columns) if (c.identity) put(c.identity.sequence, home(c.identity.sequence.name));
    for (const c of t.constraints)
      if (c.kind !== 'check') put({ schema: t.schema, name: c.name }, home(c.name));
  }
  for (const i of model.indexes) {
    const owner = tables.get(key(i.table.schema, i.table.name));
    put(i, owner !== undefined ? { schema: owner.to.schema, name: i.name } : inSchema(i));
  }
  // The same rule as the copy of sequence values (targetSequences), so values land where schema sync
  // created the sequences: an owned sequence goes with its table's target, another with its schema.
  const sequences = model.sequences.map((s) => ({
    schema: s.schema,
    name: s.name,
    ownedBy: s.ownedBy?.table,
  }));
  targetSequences(task, targets, sequences).forEach((to, i) => {
    put(sequences[i]!, { schema: to.schema, name: to.name });
  });
  for (const v of model.views) put(v, inSchema(v));
  for (const t of model.types) put(t, inSchema(t));
  // Aggregates are called like functions: their names resolve as routine names.
  const routineNames = new Set([...model.routines, ...model.aggregates].map((r) => key(r.schema, r.name)));
  const signatures = new Map<string, string>();

  // Schemas any name of the model lives in (extensions' included: their members go with them).
  const allSchemas = new Set<string>(model.schemas.map((s) => s.name));
  for (const o of [...model.types, ...model.sequences, ...model.tables, ...model.views, ...model.routines])
    allSchemas.add(o.schema);
  for (const a of model.aggregates) allSchemas.add(a.schema);
  for (const e of model.extensions) allSchemas.add(e.schema);
  for (const o of task.objects) allSchemas.add(o.kind === 'schema' ? o.schema : o.table.schema);
  const renamedSchemas = new Set([...allSchemas].filter((s) => schema(s) !== s));

  const keySchemas = new Set(renamedSchemas);
  const renamedRelationNames = new Set<string>();
  const changedColumns: ChangedColumn[] = [];
  for (const [k, r] of objects) {
    const [s, n] = k.split('\u0000') as [string, string];
    if (r.to.schema !== s || r.to.name !== n) keySchemas.add(s);
    if (r.to.name !== n) renamedRelationNames.add(n);
    if (r.columns !== undefined && r.columns.size > 0) {
      keySchemas.add(s);
      for (const [column, to] of r.columns)
        changedColumns.push({ table: { schema: s, name: n }, column, to });
    }
  }
  const changedColumnNames = new Set(changedColumns.map((c) => c.column));
  const movedNames = new Map<string, string[]>();
  const moved = (q: QualifiedName, to: QualifiedName): void => {
    if (to.schema === q.schema || to.name !== q.name) return;
    movedNames.set(q.name, [...(movedNames.get(q.name) ?? []), q.schema]);
  };
  for (const [k, r] of objects) {
    const [s, n] = k.split('\u0000') as [string, string];
    moved({ schema: s, name: n }, r.to);
  }
  for (const r of model.routines) moved(r, inSchema(r));
  for (const a of model.aggregates) moved(a, inSchema(a));

  const names: SchemaNameMap = {
    identity: false,
    keySchemas,
    renamedSchemas,
    renamedRelationNames,
    changedColumnNames,
    changedColumns,
    movedNames,
    schema,
    relation: (s, n) => objects.get(key(s, n)),
    routine: (s, n) => (routineNames.has(key(s, n)) ? { schema: schema(s), name: n } : undefined),
    table: (q) => tables.get(key(q.schema, q.name)),
    object: (q) => objects.get(key(q.schema, q.name))?.to ?? inSchema(q),
    routineRef: (s, signature) => {
      const k = key(s, signature);
      let mapped = signatures.get(k);
      if (mapped === undefined) {
        mapped = mapSignature(signature, names);
        signatures.set(k, mapped);
      }
      return { schema: schema(s), name: mapped };
    },
    ref: (r) => {
      const to =
        r.kind === 'routine'
          ? names.routineRef(r.schema, r.name)
          : r.kind === 'type' || r.kind === 'sequence' || r.kind === 'table' || r.kind === 'view'
            ? names.object(r)
            : // Operators, operator classes and families, collations: keyed by schema and name.
              { schema: schema(r.schema), name: r.name };
      return to.schema === r.schema && to.name === r.name ? r : { kind: r.kind, ...to };
    },
  };
  return names;
}

/** A table's renamed and left-out columns, from its target. */
function columnChanges(t: TableDef, target: TableTarget | undefined): ColumnRenames {
  const changes = new Map<string, string | null>();
  if (target === undefined) return changes;
  const kept = new Map([...target.columns, ...target.generatedColumns].map((c) => [c.source, c.target]));
  for (const c of t.columns) {
    const to = kept.get(c.name);
    if (to === undefined) changes.set(c.name, null);
    else if (to !== c.name) changes.set(c.name, to);
  }
  return changes;
}

/**
 * The destination signature of a routine: `name(argument types)` with user types renamed. Argument
 * types are `format_type` text, qualified where not built in.
 */
function mapSignature(signature: string, names: NameResolver): string {
  // Names may contain parentheses: the argument list is the last balanced group.
  const at = argumentListStart(signature);
  if (at < 0) return signature;
  try {
    return signature.slice(0, at) + rewriteSqlNames(signature.slice(at), names).text;
  } catch {
    return signature;
  }
}

function argumentListStart(signature: string): number {
  if (!signature.endsWith(')')) return -1;
  let depth = 0;
  for (let i = signature.length - 1; i >= 0; i--) {
    if (signature[i] === ')') depth++;
    else if (signature[i] === '(' && --depth === 0) return i;
  }
  return -1;
}

/**
 * Does the mapping leave every name of `model` as it is? Cheap (no copy, no rewrite): a task without
 * `as`, column options or rules answers at once; otherwise every schema and target is looked at.
 */
export function isIdentityMapping(
  model: SchemaModel,
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  targets: readonly TableTarget[],
): boolean {
  const renames = (o: TaskConfig['objects'][number]) =>
    o.as !== undefined || (o.kind === 'table' && (o.columns !== undefined || o.excludeColumns !== undefined));
  if (task.mapping.length === 0 && !task.objects.some(renames)) return true;
  const schemas = new Set<string>(model.schemas.map((s) => s.name));
  for (const list of [model.types, model.sequences, model.tables, model.views, model.routines]) {
    for (const o of list) schemas.add(o.schema);
  }
  for (const a of model.aggregates) schemas.add(a.schema);
  for (const e of model.extensions) schemas.add(e.schema);
  for (const s of schemas) if (targetSchema(task, s) !== s) return false;
  return targets.every(
    (t) =>
      t.table.schema === t.source.schema &&
      t.table.name === t.source.name &&
      t.columns.length + t.generatedColumns.length ===
        t.source.columns.length + t.source.generatedColumns.length &&
      t.columns.every((c) => c.source === c.target) &&
      t.generatedColumns.every((c) => c.source === c.target),
  );
}

/** The name map of a mapping that renames nothing (never consulted: the model is kept as it is). */
const IDENTITY: SchemaNameMap = {
  identity: true,
  keySchemas: new Set(),
  renamedSchemas: new Set(),
  renamedRelationNames: new Set(),
  changedColumnNames: new Set(),
  changedColumns: [],
  movedNames: new Map(),
  schema: (s) => s,
  relation: () => undefined,
  routine: () => undefined,
  table: () => undefined,
  object: (q) => ({ schema: q.schema, name: q.name }),
  routineRef: (schema, name) => ({ schema, name }),
  ref: (r) => r,
};
