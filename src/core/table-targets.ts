/**
 * What each selected source table becomes in the destination, from the task's `objects` and
 * `mapping`: its destination name, its columns (renamed, some left out), the operations and the rows
 * that move. Pure: the pipeline plans targets once from the source's table list, and every phase
 * (schema, full, incremental, verify, precheck) works from them.
 *
 * Name resolution, for a table selected by an entry:
 * 1. the entry's own `as` (a table entry's destination table; a schema entry's destination schema);
 * 2. else the first `mapping` rule whose `from` matches `schema.table` (`*` captures, used in order
 *    by the `*`s of `to`);
 * 3. else the same name.
 * A partition is selected by its root's entry, keeps its own name and follows its root's schema.
 */
import { ConfigError } from './errors.ts';
import { displayName, type QualifiedName } from './identifier.ts';
import type { SelectedTable } from './selected-table.ts';
import {
  OPERATIONS,
  type MappingRule,
  type NamePattern,
  type ObjectSelector,
  type Operation,
  type TaskConfig,
} from './task-config.ts';

/** A kept column: its source name and its destination name. */
export interface TargetColumn {
  readonly source: string;
  readonly target: string;
}

/** A selected source table and what it becomes in the destination. */
export interface TableTarget {
  readonly source: SelectedTable;
  /** Index in `task.objects` of the entry that selected it (its root's, for a partition). */
  readonly entry: number;
  /** The destination table. */
  readonly table: QualifiedName;
  /** Kept, non-generated columns in source order (COPY and apply write these). */
  readonly columns: readonly TargetColumn[];
  /** Kept generated columns (computed by the destination; compared by verify). */
  readonly generatedColumns: readonly TargetColumn[];
  /** Operations incremental sync applies to it. */
  readonly operations: ReadonlySet<Operation>;
  /** Row filter: an SQL condition on the source columns. */
  readonly where: string | undefined;
  readonly mergeInto: boolean;
}

/** A selection problem the precheck reports and the run refuses. */
export interface TargetProblem {
  /** The key it is about, e.g. `objects[2].excludeColumns`. */
  readonly path: string;
  readonly message: string;
}

/** Does `name` match the glob `pattern` (`*` any run of characters, `?` one character)? */
export function globMatches(pattern: string, name: string): boolean {
  return globRegExp(pattern, false).test(name);
}

const regexCache = new Map<string, RegExp>();

/** The anchored regular expression of a glob; with `capture`, each `*` is a group. */
function globRegExp(pattern: string, capture: boolean): RegExp {
  const k = `${capture ? 'c' : 'm'}${pattern}`;
  let r = regexCache.get(k);
  if (r === undefined) {
    const body = [...pattern]
      .map((ch) =>
        ch === '*' ? (capture ? '(.*)' : '.*') : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
      )
      .join('');
    r = new RegExp(`^${body}$`, 'su');
    regexCache.set(k, r);
  }
  return r;
}

function patternMatches(p: NamePattern, name: string): boolean {
  return p.glob ? globMatches(p.text, name) : p.text === name;
}

/**
 * Does `selector` select the table or view `q` (a partition is selected through its root, so pass
 * the root)? A schema entry selects every relation of its schema but the excluded ones.
 */
export function selects(selector: ObjectSelector, q: QualifiedName): boolean {
  if (selector.kind === 'schema') {
    return q.schema === selector.schema && !(selector.exclude ?? []).some((p) => patternMatches(p, q.name));
  }
  return (
    q.schema === selector.table.schema &&
    (selector.glob === true ? globMatches(selector.table.name, q.name) : selector.table.name === q.name)
  );
}

/**
 * The entry that selects `q`: table entries first (the more specific), in order, then schema
 * entries; undefined when none does.
 */
export function entryOf(objects: readonly ObjectSelector[], q: QualifiedName): number | undefined {
  const table = objects.findIndex((o) => o.kind === 'table' && selects(o, q));
  if (table >= 0) return table;
  const schema = objects.findIndex((o) => o.kind === 'schema' && selects(o, q));
  return schema >= 0 ? schema : undefined;
}

/** Applies the first matching rule to `q`, or undefined when none matches. */
export function applyMappingRules(
  rules: readonly MappingRule[],
  q: QualifiedName,
): QualifiedName | undefined {
  for (const rule of rules) {
    const s = globRegExp(rule.from.schema, true).exec(q.schema);
    const n = globRegExp(rule.from.name, true).exec(q.name);
    if (s === null || n === null) continue;
    const captures = [...s.slice(1), ...n.slice(1)];
    let i = 0;
    const fill = (part: string) => part.replace(/\*/g, () => captures[i++] ?? '');
    return { schema: fill(rule.to.schema), name: fill(rule.to.name) };
  }
  return undefined;
}

/**
 * The destination schema of the objects of source schema `schema` that are not renamed one by one
 * (views, sequences, types, routines): a schema entry's `as`, or a rule mapping `schema.*` as a whole.
 */
export function targetSchema(task: Pick<TaskConfig, 'objects' | 'mapping'>, schema: string): string {
  const entry = task.objects.find(
    (o) => o.kind === 'schema' && o.schema === schema && typeof o.as === 'string',
  );
  if (entry !== undefined && typeof entry.as === 'string') return entry.as;
  for (const rule of task.mapping) {
    if (rule.from.name !== '*' || rule.to.name !== '*') continue;
    const m = applyMappingRules([rule], { schema, name: '' });
    if (m !== undefined) return m.schema;
  }
  return schema;
}

/** The destination name of relation `q` (a table, view or sequence) selected by `entry`. */
export function targetName(
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  q: QualifiedName,
  entry: ObjectSelector | undefined,
): QualifiedName {
  if (entry?.kind === 'table' && entry.as !== undefined && typeof entry.as !== 'string') return entry.as;
  if (entry?.kind === 'schema' && typeof entry.as === 'string') return { schema: entry.as, name: q.name };
  return applyMappingRules(task.mapping, q) ?? { schema: targetSchema(task, q.schema), name: q.name };
}

/**
 * Plans the target of every selected table (roots and partitions).
 * @returns the targets, in the order of `tables`, and the problems found: a table no entry
 *   selects, a renamed or excluded column the table lacks, an excluded key column, two tables meeting
 *   in one destination table without both declaring `mergeInto` (then with identical columns and keys).
 */
export function planTargets(
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  tables: readonly SelectedTable[],
): { targets: TableTarget[]; problems: TargetProblem[] } {
  const problems: TargetProblem[] = [];
  const byName = new Map(tables.map((t) => [displayName(t), t]));
  const targets: TableTarget[] = [];
  for (const t of tables) {
    const root = t.partitionRoot !== undefined ? (byName.get(displayName(t.partitionRoot)) ?? t) : t;
    const entryIndex = entryOf(task.objects, root);
    if (entryIndex === undefined) {
      problems.push({ path: 'objects', message: `no entry selects ${displayName(t)}` });
      continue;
    }
    const entry = task.objects[entryIndex];
    const rootTarget = targetName(task, root, entry);
    const table = root === t ? rootTarget : { schema: rootTarget.schema, name: t.name };
    const renames = entry?.kind === 'table' ? (entry.columns ?? {}) : {};
    const excluded = new Set(entry?.kind === 'table' ? (entry.excludeColumns ?? []) : []);
    const all = [...t.columns, ...t.generatedColumns];
    const at = `objects[${entryIndex}]`;
    for (const c of [...Object.keys(renames), ...excluded]) {
      if (!all.includes(c))
        problems.push({ path: `${at}.columns`, message: `${displayName(t)} has no column ${c}` });
    }
    const key = t.primaryKey.length > 0 ? t.primaryKey : t.replicaIdentityIndexColumns;
    const excludedKey = key.filter((k) => excluded.has(k));
    if (excludedKey.length > 0) {
      problems.push({
        path: `${at}.excludeColumns`,
        message: `${excludedKey.join(', ')} of ${displayName(t)} is part of its key: it cannot be left out`,
      });
    }
    const map = (c: string): TargetColumn => ({ source: c, target: renames[c] ?? c });
    targets.push({
      source: t,
      entry: entryIndex,
      table,
      columns: t.columns.filter((c) => !excluded.has(c)).map(map),
      generatedColumns: t.generatedColumns.filter((c) => !excluded.has(c)).map(map),
      operations: new Set(OPERATIONS.filter((op) => entry?.operations?.includes(op) ?? true)),
      where: entry?.kind === 'table' ? entry.where : undefined,
      mergeInto: entry?.kind === 'table' && entry.mergeInto === true,
    });
  }
  problems.push(...mergeProblems(targets));
  return { targets, problems };
}

/** Tables meeting in one destination table: allowed only as a declared merge of identical shapes. */
function mergeProblems(targets: readonly TableTarget[]): TargetProblem[] {
  const problems: TargetProblem[] = [];
  const groups = new Map<string, TableTarget[]>();
  for (const t of targets) {
    const k = displayName(t.table);
    groups.set(k, [...(groups.get(k) ?? []), t]);
  }
  for (const [name, group] of groups) {
    if (group.length < 2) continue;
    const sources = group.map((g) => displayName(g.source)).join(', ');
    if (!group.every((g) => g.mergeInto)) {
      problems.push({
        path: `objects[${group.find((g) => !g.mergeInto)?.entry ?? 0}]`,
        message: `${sources} all map to ${name}: declare mergeInto: true on their entries to merge them, or map them apart`,
      });
      continue;
    }
    const shape = (g: TableTarget) =>
      JSON.stringify([g.columns.map((c) => c.target).sort(), [...g.source.primaryKey].sort()]);
    if (new Set(group.map(shape)).size > 1) {
      problems.push({
        path: `objects[${group[0]?.entry ?? 0}].mergeInto`,
        message: `${sources} merge into ${name} but differ in their (destination) columns or keys`,
      });
    }
  }
  return problems;
}

/** Is `target` a plain 1:1 copy (same name, every column, all operations, no filter)? */
export function isIdentity(target: TableTarget): boolean {
  return (
    target.table.schema === target.source.schema &&
    target.table.name === target.source.name &&
    target.columns.length === target.source.columns.length &&
    target.columns.every((c) => c.source === c.target) &&
    target.generatedColumns.length === target.source.generatedColumns.length &&
    target.operations.size === OPERATIONS.length &&
    target.where === undefined
  );
}

/**
 * {@link planTargets}, refusing any problem: what a run does (the precheck reports the same
 * problems as a failed check before).
 * @throws {ConfigError} naming the first problem's key, with every problem in the message.
 */
export function resolveTargets(
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  tables: readonly SelectedTable[],
): TableTarget[] {
  const { targets, problems } = planTargets(task, tables);
  const first = problems[0];
  if (first !== undefined) {
    const rest = problems.slice(1).map((p) => `; ${p.path}: ${p.message}`);
    throw new ConfigError(first.path, `${first.message}${rest.join('')}`);
  }
  return targets;
}

/**
 * Where sequences live in the destination, keeping their names: a sequence owned by a table (serial,
 * identity column) in the schema of that table's target, because PostgreSQL keeps an owned sequence
 * in its table's schema (schema sync creates it there); any other sequence, and one whose table has
 * no target, in its schema's destination schema (sequences, like views and types, are not renamed
 * one by one; see {@link targetSchema}). Schema sync and the copy of sequence values both use this,
 * so the values land where the sequences were created.
 * @returns `sequences` in order, each the same object when it does not move.
 */
export function targetSequences<T extends QualifiedName & { readonly ownedBy: QualifiedName | undefined }>(
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  targets: readonly TableTarget[],
  sequences: readonly T[],
): T[] {
  const tableSchema = new Map(targets.map((t) => [displayName(t.source), t.table.schema]));
  return sequences.map((s) => {
    const owner = s.ownedBy !== undefined ? tableSchema.get(displayName(s.ownedBy)) : undefined;
    const schema = owner ?? targetSchema(task, s.schema);
    return schema === s.schema ? s : { ...s, schema };
  });
}
