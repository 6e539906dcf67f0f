/**
 * Follows a source DDL during incremental sync (objects[].operations `ddl`): turns one captured
 * {@link DdlMessage} (source/postgres/ddl-capture.ts) into the steps the incremental loop takes, with
 * the task's name mapping applied. Sans I/O.
 *
 * The message carries each object's definition as of the DDL, so nothing here reads the source
 * catalog (which may be newer by the time the message is applied). Definitions become schema-model
 * objects, are mapped onto destination names by {@link mapSchemaModel} (the rewrite schema sync uses:
 * qualified names, column renames), and become structured {@link DdlChange}s the sink renders.
 *
 * - Table columns are matched by attnum between the table's previous snapshot and this one: a
 *   column only in the previous is dropped, only in this one added, a changed name is a RENAME
 *   COLUMN, a changed type an ALTER TYPE, then DEFAULT and NOT NULL. Constraints are matched by name
 *   (dropped, added, or dropped and added when their definition changed). A changed table name is a
 *   RENAME (the destination name by the entry's rules).
 * - A table new in the selection joins the sync (task invariant T11, new-tables.ts) at the next point
 *   between transactions; a dropped selected table is dropped on the destination and leaves the sync.
 * - CREATE INDEX / DROP INDEX, CREATE [OR REPLACE] VIEW / DROP VIEW, CREATE [OR REPLACE] FUNCTION or
 *   PROCEDURE / DROP FUNCTION or PROCEDURE are followed as such; ALTER INDEX / VIEW / FUNCTION /
 *   PROCEDURE ... RENAME by the name the capture last recorded for the object.
 * - CREATE [OR REPLACE] TRIGGER, ALTER TRIGGER ... RENAME and DROP TRIGGER on a synchronised table,
 *   and ALTER TABLE ... ENABLE [REPLICA | ALWAYS] / DISABLE TRIGGER (the trigger states of the table's
 *   snapshot against its previous one).
 * - CREATE / ALTER / DROP SEQUENCE of a sequence a schema entry selects or a synchronised table owns:
 *   parameters, OWNED BY and RENAME (values are copied periodically, not here).
 * - CREATE / ALTER / DROP TYPE and DOMAIN in a schema a schema entry selects: the type's snapshot
 *   against its previous one by stable keys (enum label OIDs: ADD VALUE, RENAME VALUE; composite
 *   attnums: ADD / DROP / RENAME / ALTER ATTRIBUTE; domain constraint OIDs: ADD / DROP / RENAME
 *   CONSTRAINT; SET / DROP DEFAULT, SET / DROP NOT NULL), and RENAME. A new enum value is usable only
 *   once its transaction commits (PostgreSQL docs, ALTER TYPE, Notes): a `commit` step ends the
 *   destination transaction after its source transaction.
 * - What cannot be followed stops the task on a selected table (never a silent divergence:
 *   DDL_UNSUPPORTED, not retryable, naming statement, table and LSN) and is a warning otherwise.
 */
import {
  ddlEnabled,
  type DdlChange,
  type DdlColumn,
  type DdlConstraint,
  type DdlMessage,
  type DdlObject,
  type DdlTableSnapshot,
  type DdlTypeVersion,
} from '../core/ddl.ts';
import { PgdtsError } from '../core/errors.ts';
import { displayName, quoteIdent, type QualifiedName } from '../core/identifier.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import {
  EMPTY_SCHEMA_MODEL,
  type FiringState,
  type SequenceDef,
  type TypeDef,
  type ColumnDef,
  type ForeignKeyDef,
  type IndexDef,
  type TableConstraintDef,
  type SchemaModel,
  type TableDef,
} from '../core/schema-model.ts';
import { entryOf, selects, targetName, targetSchema, type TableTarget } from '../core/table-targets.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { describeSchemaMappingProblem, mapSchemaModel } from './map-schema-model.ts';

/** One thing the incremental loop does for a DDL, in order. */
export type DdlStep =
  /** Make these changes in the open destination transaction (the sink's applyDdl). */
  | { readonly kind: 'apply'; readonly changes: readonly DdlChange[] }
  /** A table was created in the selection: join new tables at the next point between transactions. */
  | { readonly kind: 'join'; readonly table: QualifiedName }
  /** The source table of `target` was renamed to `to` (destination renamed by an `apply` before). */
  | { readonly kind: 'renamed'; readonly target: TableTarget; readonly to: TableTarget }
  /** The columns of `target`'s table changed: `to` replaces it (for the mapper and the watcher). */
  | { readonly kind: 'retarget'; readonly target: TableTarget; readonly to: TableTarget }
  /** The source table of `target` was dropped (and dropped on the destination by an `apply` before). */
  | { readonly kind: 'dropped'; readonly target: TableTarget }
  /**
   * Commit the destination transaction once this source transaction is complete: a value added to
   * an enum cannot be used before its transaction commits, and later source transactions use it.
   */
  | { readonly kind: 'commit' }
  /** Not followed: say so and go on. */
  | { readonly kind: 'warn'; readonly message: string };

/** What {@link planDdl} needs to know. */
export interface DdlContext {
  readonly task: Pick<TaskConfig, 'objects' | 'mapping'>;
  /** The tables synchronised now (source → destination). */
  readonly targets: readonly TableTarget[];
  /** Where the message stands in the stream (for messages). */
  readonly lsn: Lsn;
}

const same = (a: QualifiedName, b: QualifiedName) => a.schema === b.schema && a.name === b.name;

/** The selection entry of a source table, or undefined when the task does not select it. */
function entryOfTable(task: DdlContext['task'], q: QualifiedName): number | undefined {
  return entryOf(task.objects, q);
}

function unsupported(m: DdlMessage, ctx: DdlContext, table: QualifiedName, why: string): PgdtsError {
  return new PgdtsError(
    'DDL_UNSUPPORTED',
    `cannot follow the DDL at LSN ${formatLsn(ctx.lsn)} on selected table ${displayName(table)}: ${why} (statement: ${m.query.trim()})`,
    {
      hint: `make the change on the destination by hand, then start the task anew (pgdts release, pgdts run) or leave ddl out of objects[].operations for this table`,
    },
  );
}

/** A schema-model column of a snapshot column (what introspect-schema.ts reads, minus extras). */
function columnDef(c: DdlColumn): ColumnDef {
  return {
    name: c.name,
    type: c.type,
    collation: undefined,
    default: c.default ?? undefined,
    notNull: c.notNull,
    identity: undefined,
    generated: c.generated ?? undefined,
    comment: undefined,
  };
}

const CONSTRAINT_KINDS: Readonly<Record<string, TableConstraintDef['kind']>> = {
  p: 'primary-key',
  u: 'unique',
  c: 'check',
  x: 'exclusion',
};

function tableDef(
  q: QualifiedName,
  columns: readonly ColumnDef[],
  constraints: readonly DdlConstraint[] = [],
): TableDef {
  return {
    kind: 'table',
    schema: q.schema,
    name: q.name,
    unlogged: false,
    columns,
    constraints: constraints.flatMap((k): TableConstraintDef[] => {
      const kind = CONSTRAINT_KINDS[k.type];
      return kind === undefined
        ? []
        : [
            {
              kind,
              name: k.name,
              definition: k.definition,
              inherited: false,
              parentIndex: undefined,
              comment: undefined,
            },
          ];
    }),
    foreignKeys: constraints.flatMap((k): ForeignKeyDef[] =>
      k.type === 'f' && k.references !== undefined
        ? [
            {
              kind: 'foreign-key',
              name: k.name,
              definition: k.definition,
              references: k.references,
              comment: undefined,
            },
          ]
        : [],
    ),
    partitionBy: undefined,
    partitionOf: undefined,
    replicaIdentity: 'default',
    options: [],
    comment: undefined,
    dependsOn: [],
  };
}

/**
 * A model holding every synchronised table (names only: the mapping needs them to rewrite
 * references), with `extra` objects added; the table snapshot `table` replaces its target's stand-in.
 */
function modelOf(ctx: DdlContext, extra: Partial<SchemaModel>, table?: TableDef): SchemaModel {
  const tables = ctx.targets
    .filter((t) => table === undefined || !same(t.source, table))
    .map((t) =>
      tableDef(
        t.source,
        [...t.source.columns, ...t.source.generatedColumns].map((name) =>
          columnDef({
            attnum: 0,
            name,
            type: 'text',
            default: null,
            notNull: false,
            identity: '',
            generated: null,
          }),
        ),
      ),
    );
  return { ...EMPTY_SCHEMA_MODEL, ...extra, tables: table === undefined ? tables : [...tables, table] };
}

/** Maps `model`; an error-level problem about one of its objects stops the DDL with `fail`. */
function mapped(model: SchemaModel, ctx: DdlContext, fail: (why: string) => Error): SchemaModel {
  const r = mappedOrProblem(model, ctx);
  if (r.problem !== undefined) throw fail(r.problem);
  return r.model;
}

/** `model` on the destination's names, or why the mapping cannot carry it (its first error). */
function mappedOrProblem(
  model: SchemaModel,
  ctx: DdlContext,
): { readonly model: SchemaModel; readonly problem?: undefined } | { readonly problem: string } {
  const r = mapSchemaModel(model, ctx.task, ctx.targets);
  const error = r.problems.find((p) => p.level === 'error');
  return error !== undefined ? { problem: describeSchemaMappingProblem(error) } : { model: r.model };
}

/** Destination column names of `target`: source name → destination name, null when left out. */
function columnNames(target: TableTarget): (source: string) => string | null {
  const kept = new Map([...target.columns, ...target.generatedColumns].map((c) => [c.source, c.target]));
  const known = new Set([...target.source.columns, ...target.source.generatedColumns]);
  // A column the target does not know was added on the source since: it keeps its name.
  return (c) => kept.get(c) ?? (known.has(c) ? null : c);
}

/**
 * `target` with the columns of the table as of the DDL: a column matched by attnum keeps its
 * destination name (a source rename renames it there too) or stays left out, a new column is kept
 * under its own name.
 */
function retarget(
  target: TableTarget,
  before: readonly DdlColumn[],
  after: readonly DdlColumn[],
): TableTarget {
  const name = columnNames(target);
  const old = new Map(before.map((c) => [c.attnum, c.name]));
  const dest = (c: DdlColumn): string | null => {
    const was = old.get(c.attnum);
    if (was === undefined) return c.name;
    const d = name(was);
    return d === null ? null : d === was ? c.name : d;
  };
  const plain = after.filter((c) => c.generated === null);
  const generated = after.filter((c) => c.generated !== null);
  const kept = (cs: readonly DdlColumn[]) =>
    cs.flatMap((c) => {
      const d = dest(c);
      return d === null ? [] : [{ source: c.name, target: d }];
    });
  return {
    ...target,
    source: {
      ...target.source,
      columns: plain.map((c) => c.name),
      generatedColumns: generated.map((c) => c.name),
    },
    columns: kept(plain),
    generatedColumns: kept(generated),
  };
}

/** The column changes (and table RENAME) from `t.previous` to `t`, on `target`'s destination table. */
function tableChanges(
  m: DdlMessage,
  ctx: DdlContext,
  target: TableTarget,
  t: DdlTableSnapshot,
): { changes: DdlChange[]; updated: TableTarget } {
  const fail = (why: string) => unsupported(m, ctx, target.source, why);
  const prev = t.previous;
  if (prev === undefined) throw fail('its previous definition is unknown to the DDL capture');
  const dest = target.table;
  const name = columnNames(target);
  const renamedByTask = new Set(
    [...target.columns, ...target.generatedColumns].filter((c) => c.source !== c.target).map((c) => c.source),
  );
  const updated = retarget(target, prev.columns, t.columns);
  const current = mapped(
    modelOf(
      { ...ctx, targets: ctx.targets.map((x) => (x === target ? updated : x)) },
      {},
      tableDef(target.source, t.columns.map(columnDef), t.constraints),
    ),
    { ...ctx, targets: ctx.targets.map((x) => (x === target ? updated : x)) },
    fail,
  );
  const mappedTable = current.tables.find((x) => same(x, dest));
  const mappedColumn = (source: string): ColumnDef | undefined => {
    const n = name(source);
    return n === null ? undefined : mappedTable?.columns.find((c) => c.name === n);
  };
  const before = new Map(prev.columns.map((c) => [c.attnum, c]));
  const after = new Map(t.columns.map((c) => [c.attnum, c]));
  const out: DdlChange[] = [];
  for (const [attnum, old] of before) {
    if (after.has(attnum)) continue;
    const n = name(old.name);
    if (n !== null) out.push({ kind: 'drop-column', table: dest, column: n });
  }
  for (const [attnum, now] of after) {
    const old = before.get(attnum);
    if (old === undefined) {
      const c = mappedColumn(now.name);
      if (c === undefined) continue; // left out by the task
      if (now.identity !== '') throw fail(`added identity column ${now.name} is not followed`);
      out.push({
        kind: 'add-column',
        table: dest,
        column: {
          name: c.name,
          type: c.type,
          default: c.default,
          notNull: c.notNull,
          identity: undefined,
          generated: c.generated,
        },
      });
      continue;
    }
    if (old.name !== now.name) {
      if (renamedByTask.has(old.name) || name(old.name) === null) {
        throw fail(`column ${old.name}, which the task renames or leaves out, was renamed to ${now.name}`);
      }
      out.push({ kind: 'rename-column', table: dest, from: old.name, to: now.name });
    }
    const c = mappedColumn(now.name);
    if (c === undefined) continue;
    if (old.identity !== now.identity || old.generated !== now.generated) {
      throw fail(`identity or generation of column ${now.name} changed`);
    }
    if (old.type !== now.type)
      out.push({ kind: 'alter-column-type', table: dest, column: c.name, type: c.type });
    if (old.default !== now.default && now.generated === null) {
      out.push({ kind: 'set-default', table: dest, column: c.name, default: c.default });
    }
    if (old.notNull !== now.notNull)
      out.push({ kind: 'set-not-null', table: dest, column: c.name, notNull: now.notNull });
  }
  // Constraints by name: dropped, added, or changed (dropped and added again), as mapped.
  const definitions = new Map<string, string>(
    [...(mappedTable?.constraints ?? []), ...(mappedTable?.foreignKeys ?? [])].map((k) => [
      k.name,
      k.definition,
    ]),
  );
  const was = new Map(prev.constraints.map((k) => [k.name, k.definition]));
  const is = new Map(t.constraints.map((k) => [k.name, k.definition]));
  for (const [n, d] of was) {
    if (is.get(n) !== d) out.push({ kind: 'drop-constraint', table: dest, name: n });
  }
  for (const [n, d] of is) {
    if (was.get(n) === d) continue;
    const def = definitions.get(n);
    // Left out by the mapping (it uses a left-out column): nothing to create.
    if (def !== undefined) out.push({ kind: 'add-constraint', table: dest, name: n, definition: def });
  }
  return { changes: out, updated };
}

/** Tags whose table objects this module follows. */
const TABLE_TAGS = new Set(['ALTER TABLE', 'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO']);

/**
 * The steps that follow `m` (captured at `ctx.lsn`) on the destination. DDL on tables whose entry
 * leaves `ddl` out of its operations is ignored.
 * @throws {PgdtsError} DDL_UNSUPPORTED (not retryable) for a DDL on a selected table that cannot be
 *   followed, naming the statement, the table and the LSN.
 */
export function planDdl(m: DdlMessage, ctx: DdlContext): DdlStep[] {
  const steps: DdlStep[] = [];
  const ownedLater: DdlChange[] = [];
  const targetOf = (q: QualifiedName) => ctx.targets.find((t) => same(t.source, q));
  const ddlOn = (t: TableTarget) => ddlEnabled(ctx.task.objects, t.entry);
  const warn = (o: DdlObject, why: string) =>
    steps.push({
      kind: 'warn',
      message: `DDL at LSN ${formatLsn(ctx.lsn)} not followed on ${o.identity}: ${why} (statement: ${m.query.trim()})`,
    });
  for (const o of m.objects) {
    switch (o.kind) {
      case 'table': {
        const t = o.table;
        const prevName = t.previous ?? t;
        const target = targetOf(prevName);
        if (target === undefined) {
          // A table new in the selection (or renamed into it) joins; others are not the task's.
          const entry = entryOfTable(ctx.task, t);
          if (entry !== undefined && ddlEnabled(ctx.task.objects, entry))
            steps.push({ kind: 'join', table: t });
          break;
        }
        if (!ddlOn(target)) break;
        if (!TABLE_TAGS.has(m.tag)) {
          throw unsupported(m, ctx, target.source, `${m.tag} is not followed on tables`);
        }
        const { changes, updated } = tableChanges(m, ctx, target, t);
        if (target.mergeInto) {
          // Other source tables fill the same destination table: a column added is added for all
          // (their rows leave it to its default), anything else would break their rows or data.
          const other = changes.filter((c) => c.kind !== 'add-column');
          if (other.length > 0 || (t.previous !== undefined && t.name !== t.previous.name)) {
            throw unsupported(
              m,
              ctx,
              target.source,
              `${other.length > 0 ? [...new Set(other.map((c) => c.kind))].join(', ') : 'rename-table'} on a table merged with others into ${displayName(target.table)} (mergeInto): only added columns are followed there`,
            );
          }
        }
        // Trigger states on the old name too (a RENAME comes last).
        changes.push(...triggerStateChanges(t, target.table));
        if (t.previous !== undefined && t.schema !== t.previous.schema) {
          throw unsupported(m, ctx, target.source, 'moving a table to another schema is not followed');
        }
        let renamed: TableTarget | undefined;
        if (t.previous !== undefined && t.name !== t.previous.name) {
          const entry = ctx.task.objects[target.entry];
          const to = { ...target.source, name: t.name };
          // The destination name of the renamed table, by the task's rules for its entry.
          // A table entry naming its destination (`as`) keeps it; a table entry without one, whose
          // pattern no longer matches, keeps the table selected under its new name.
          const table =
            entry?.kind === 'table' && entry.as !== undefined
              ? target.table
              : target.source.partitionRoot !== undefined ||
                  entry === undefined ||
                  (entry.kind === 'table' && entryOfTable(ctx.task, to) === undefined)
                ? { schema: target.table.schema, name: t.name }
                : targetName(ctx.task, to, entry);
          if (table.schema !== target.table.schema) {
            throw unsupported(m, ctx, target.source, `its new name maps to another schema (${table.schema})`);
          }
          // Columns first (on the old name: the changes name it), then the table.
          if (table.name !== target.table.name) {
            changes.push({ kind: 'rename-table', table: target.table, to: table.name });
          }
          renamed = { ...updated, source: { ...updated.source, name: t.name }, table };
        }
        // A rename always applies (with nothing else to do, its bookkeeping still follows).
        if (changes.length > 0 || renamed !== undefined) steps.push({ kind: 'apply', changes });
        else if (m.tag === 'ALTER TABLE') {
          // Storage parameters, statistics, replica identity, trigger states...: nothing of the
          // table's columns or constraints changed, so nothing pgdts follows; said, not hidden.
          warn(
            o,
            'this ALTER TABLE changes nothing pgdts follows (columns, constraints, trigger states, name)',
          );
        }
        // The rows that follow map by the table's columns as of now.
        steps.push(
          renamed !== undefined
            ? { kind: 'renamed', target, to: renamed }
            : { kind: 'retarget', target, to: updated },
        );
        break;
      }
      case 'index': {
        const target = targetOf(o.index.table);
        if (target === undefined || !ddlOn(target)) break;
        if (o.previous !== undefined && o.previous.name !== o.index.name) {
          // ALTER INDEX ... RENAME (of a constraint's index too: it renames the constraint).
          if (o.previous.schema !== o.index.schema) {
            warn(o, 'moving an index to another schema is not followed');
            break;
          }
          // An index the mapping left out (it uses a left-out column) is not on the destination.
          const kept = mappedOrProblem(
            modelOf(ctx, {
              indexes: [
                { kind: 'index', ...o.index, parentIndex: undefined, clustered: false, comment: undefined },
              ],
            }),
            ctx,
          );
          if (kept.problem !== undefined || kept.model.indexes.length === 0) {
            warn(o, kept.problem ?? 'the index uses a column the task leaves out');
            break;
          }
          steps.push({
            kind: 'apply',
            changes: [
              {
                kind: 'rename-relation',
                relation: 'index',
                name: { schema: target.table.schema, name: o.previous.name },
                to: o.index.name,
              },
            ],
          });
          break;
        }
        // Created with a constraint (PRIMARY KEY, UNIQUE, EXCLUDE): followed with the constraint.
        if (o.constraint) break;
        if (m.tag !== 'CREATE INDEX') {
          warn(o, `${m.tag} of an index is not followed`);
          break;
        }
        const def: IndexDef = {
          kind: 'index',
          ...o.index,
          parentIndex: undefined,
          clustered: false,
          comment: undefined,
        };
        const fail = (why: string) => unsupported(m, ctx, target.source, why);
        const idx = mapped(modelOf(ctx, { indexes: [def] }), ctx, fail).indexes[0];
        if (idx === undefined) {
          warn(o, 'the index uses a column the task leaves out');
          break;
        }
        steps.push({
          kind: 'apply',
          changes: [
            {
              kind: 'create-index',
              index: { schema: idx.schema, name: idx.name },
              definition: idx.definition,
            },
          ],
        });
        break;
      }
      case 'view': {
        if (m.tag !== 'CREATE VIEW' && o.previous !== undefined && o.previous.name !== o.view.name) {
          if (o.previous.schema !== o.view.schema) {
            warn(o, 'moving a view to another schema is not followed');
            break;
          }
          steps.push({
            kind: 'apply',
            changes: [
              {
                kind: 'rename-relation',
                relation: 'view',
                name: { schema: schemaOf(ctx, o.view.schema), name: o.previous.name },
                to: o.view.name,
              },
            ],
          });
          break;
        }
        if (m.tag !== 'CREATE VIEW') {
          warn(o, `${m.tag} of a view is not followed`);
          break;
        }
        const view = {
          kind: 'view' as const,
          ...o.view,
          options: [],
          populated: true,
          comment: undefined,
          dependsOn: [],
        };
        const onDestination = mappedOrProblem(modelOf(ctx, { views: [view] }), ctx);
        if (onDestination.problem !== undefined) {
          warn(o, onDestination.problem);
          break;
        }
        const v = onDestination.model.views[0];
        if (v !== undefined)
          steps.push({
            kind: 'apply',
            changes: [{ kind: 'replace-view', view: { schema: v.schema, name: v.name }, query: v.query }],
          });
        break;
      }
      case 'routine': {
        const was = o.previous;
        if (
          m.tag !== 'CREATE FUNCTION' &&
          m.tag !== 'CREATE PROCEDURE' &&
          was !== undefined &&
          was.name !== o.routine.name
        ) {
          if (was.schema !== o.routine.schema) {
            warn(o, 'moving a routine to another schema is not followed');
            break;
          }
          steps.push({
            kind: 'apply',
            changes: [
              {
                kind: 'rename-routine',
                routine: { schema: schemaOf(ctx, was.schema), name: was.name },
                routineKind: o.routine.kind,
                args: was.signature.slice(was.name.length + 1, -1),
                to: o.routine.name,
              },
            ],
          });
          break;
        }
        if (m.tag !== 'CREATE FUNCTION' && m.tag !== 'CREATE PROCEDURE') {
          warn(o, `${m.tag} of a routine is not followed`);
          break;
        }
        const routine = { ...o.routine, comment: undefined, dependsOn: [] };
        const onDestination = mappedOrProblem(modelOf(ctx, { routines: [routine] }), ctx);
        if (onDestination.problem !== undefined) {
          warn(o, onDestination.problem);
          break;
        }
        const r = onDestination.model.routines[0];
        if (r !== undefined) {
          steps.push({
            kind: 'apply',
            changes: [
              {
                kind: 'replace-routine',
                routine: { schema: r.schema, name: r.name },
                definition: r.definition,
              },
            ],
          });
        }
        break;
      }
      case 'type':
        steps.push(...typeSteps(m, ctx, o, warn));
        break;
      case 'sequence':
        if (m.tag === 'ALTER TABLE') {
          // ADD COLUMN ... serial: its sequence before the column (whose default names it), OWNED BY
          // once the column is there (the capture reports the sequence again after the table).
          const serial = serialSequence(ctx, o);
          if (serial !== undefined) {
            steps.push({
              kind: 'apply',
              changes: [{ kind: 'create-sequence', sequence: { ...serial, ownedBy: undefined } }],
            });
            if (serial.ownedBy !== undefined) ownedLater.push({ kind: 'alter-sequence', sequence: serial });
          }
          break;
        }
        steps.push(...sequenceSteps(m, ctx, o, warn));
        break;
      case 'trigger':
        steps.push(...triggerSteps(m, ctx, o, warn));
        break;
      case 'dropped':
        steps.push(...droppedSteps(m, ctx, o, warn));
        break;
      case 'other':
        // Column and constraint changes come with their table's snapshot, owned sequences with their
        // column (serial, identity): nothing of their own.
        if (o.objectType === 'table column' || o.objectType === 'table constraint') break;
        if (o.objectType === 'sequence' && m.tag !== 'CREATE SEQUENCE' && m.tag !== 'ALTER SEQUENCE') break;
        warn(o, `${m.tag} of ${o.objectType} objects is not followed`);
        break;
    }
  }
  if (ownedLater.length > 0) steps.push({ kind: 'apply', changes: ownedLater });
  return steps;
}

function droppedSteps(
  m: DdlMessage,
  ctx: DdlContext,
  o: Extract<DdlObject, { kind: 'dropped' }>,
  warn: (o: DdlObject, why: string) => void,
): DdlStep[] {
  const q = { schema: o.schema, name: o.name };
  const target = ctx.targets.find((t) => same(t.source, q));
  switch (o.objectType) {
    case 'table': {
      if (target === undefined || !ddlEnabled(ctx.task.objects, target.entry)) return [];
      // A table of a merge: other source tables still fill the destination table.
      if (target.mergeInto) return [{ kind: 'dropped', target }];
      return [
        { kind: 'apply', changes: [{ kind: 'drop-table', table: target.table }] },
        { kind: 'dropped', target },
      ];
    }
    case 'index': {
      if (!o.original) return [];
      // An index lives in its table's schema: the destination schema of a table of that schema.
      const table = ctx.targets.find((t) => t.source.schema === o.schema);
      if (table !== undefined && !ddlEnabled(ctx.task.objects, table.entry)) return [];
      const dest = table?.table.schema ?? schemaOf(ctx, o.schema);
      return [{ kind: 'apply', changes: [{ kind: 'drop-index', index: { schema: dest, name: o.name } }] }];
    }
    case 'view':
      // Dropped by a CASCADE too (a column or function it used went): the destination drops run
      // without CASCADE, so the view goes first, in the order the source reports its drops
      // (dependents before what they depend on).
      return [
        {
          kind: 'apply',
          changes: [{ kind: 'drop-view', view: { schema: schemaOf(ctx, o.schema), name: o.name } }],
        },
      ];
    case 'function':
    case 'procedure':
      // Also when dropped by a CASCADE (e.g. of a type it took): see view.
      return [
        {
          kind: 'apply',
          changes: [
            {
              kind: 'drop-routine',
              routine: { schema: schemaOf(ctx, o.schema), name: o.name },
              routineKind: o.objectType,
              signature: `${quoteIdent(o.name)}(${o.args.join(', ')})`,
            },
          ],
        },
      ];
    case 'trigger': {
      // Also when dropped by a CASCADE (of its function): see view. address_names of a trigger: schema, table, trigger.
      const [schema, table] = o.names ?? [];
      // With its table: the table's drop takes it.
      const withTable = m.objects.some(
        (x) => x.kind === 'dropped' && x.objectType === 'table' && x.schema === schema && x.name === table,
      );
      if (!o.original && withTable) return [];
      const on = ctx.targets.find(
        (t) => schema !== undefined && table !== undefined && same(t.source, { schema, name: table }),
      );
      if (on === undefined || !ddlEnabled(ctx.task.objects, on.entry)) return [];
      return [{ kind: 'apply', changes: [{ kind: 'drop-trigger', table: on.table, name: o.name }] }];
    }
    case 'sequence':
      if (!o.original || !schemaFollows(ctx, q)) return [];
      return [
        {
          kind: 'apply',
          changes: [{ kind: 'drop-sequence', sequence: { schema: schemaOf(ctx, o.schema), name: o.name } }],
        },
      ];
    case 'type':
      if (!o.original) return [];
      if (!schemaFollows(ctx, q)) {
        warn(o, `DROP of a type is followed in schemas a schema entry selects with ddl on`);
        return [];
      }
      return [
        {
          kind: 'apply',
          changes: [
            {
              kind: 'drop-type',
              type: { schema: schemaOf(ctx, o.schema), name: o.name },
              domain: m.tag === 'DROP DOMAIN',
            },
          ],
        },
      ];
    case 'table column':
    case 'table constraint':
    case 'composite type':
    case 'composite type column':
    case 'domain constraint':
    case 'default value':
    case 'index column':
      // Along with a table, column or type (handled there from its snapshot).
      return [];
    default:
      if (o.original) warn(o, `DROP of ${o.objectType} objects is not followed`);
      return [];
  }
}

/** The destination schema of source schema `s` (views and routines go with their schema). */
function schemaOf(ctx: DdlContext, s: string): string {
  return targetSchema(ctx.task, s);
}

/**
 * Does a schema entry with `ddl` on select `q` (a type or a free-standing sequence: they go with
 * their schema, as schema sync and the sequence copy take them)?
 */
function schemaFollows(ctx: DdlContext, q: QualifiedName): boolean {
  return ctx.task.objects.some(
    (o, i) => o.kind === 'schema' && selects(o, q) && ddlEnabled(ctx.task.objects, i),
  );
}

/** ENABLE / DISABLE TRIGGER: each trigger whose state differs from the previous snapshot's (origin when unknown). */
function triggerStateChanges(t: DdlTableSnapshot, dest: QualifiedName): DdlChange[] {
  if (t.previous === undefined) return [];
  const was = new Map<string, FiringState>((t.previous.triggers ?? []).map((x) => [x.name, x.enabled]));
  return (t.triggers ?? []).flatMap((x): DdlChange[] =>
    (was.get(x.name) ?? 'origin') === x.enabled
      ? []
      : [{ kind: 'set-trigger-state', table: dest, name: x.name, enabled: x.enabled }],
  );
}

/** CREATE [OR REPLACE] TRIGGER, ALTER TRIGGER ... RENAME on a synchronised table with `ddl` on. */
function triggerSteps(
  m: DdlMessage,
  ctx: DdlContext,
  o: Extract<DdlObject, { kind: 'trigger' }>,
  warn: (o: DdlObject, why: string) => void,
): DdlStep[] {
  const target = ctx.targets.find((t) => same(t.source, o.trigger.table));
  if (target === undefined || !ddlEnabled(ctx.task.objects, target.entry)) return [];
  const onDestination = mappedOrProblem(modelOf(ctx, { triggers: [o.trigger] }), ctx);
  if (onDestination.problem !== undefined) {
    warn(o, onDestination.problem);
    return [];
  }
  const tr = onDestination.model.triggers[0];
  if (tr === undefined) {
    warn(o, 'the trigger uses a column the task leaves out');
    return [];
  }
  if (m.tag === 'CREATE TRIGGER')
    return [{ kind: 'apply', changes: [{ kind: 'replace-trigger', trigger: tr }] }];
  if (m.tag === 'ALTER TRIGGER' && o.previous !== undefined && o.previous.name !== o.trigger.name) {
    return [
      {
        kind: 'apply',
        changes: [{ kind: 'rename-trigger', table: tr.table, from: o.previous.name, to: tr.name }],
      },
    ];
  }
  warn(o, `${m.tag} of a trigger is not followed (only CREATE [OR REPLACE], RENAME and DROP)`);
  return [];
}

/** Is a sequence followed: owned by a synchronised table with `ddl` on, or selected by a schema entry? */
function sequenceFollows(ctx: DdlContext, q: SequenceDef): boolean {
  const owner =
    q.ownedBy === undefined ? undefined : ctx.targets.find((t) => same(t.source, q.ownedBy!.table));
  return (
    (owner !== undefined && ddlEnabled(ctx.task.objects, owner.entry)) ||
    (q.ownedBy === undefined && schemaFollows(ctx, q))
  );
}

/**
 * The sequence a serial column added by ALTER TABLE creates (new to the capture: no previous
 * version), mapped, when its table is synchronised with `ddl` on; undefined otherwise.
 */
function serialSequence(
  ctx: DdlContext,
  o: Extract<DdlObject, { kind: 'sequence' }>,
): SequenceDef | undefined {
  if (o.identityColumn || o.previous !== undefined || !sequenceFollows(ctx, o.sequence)) return undefined;
  const onDestination = mappedOrProblem(modelOf(ctx, { sequences: [o.sequence] }), ctx);
  return onDestination.problem === undefined ? onDestination.model.sequences[0] : undefined;
}

/** CREATE / ALTER SEQUENCE: parameters, OWNED BY and RENAME. */
function sequenceSteps(
  m: DdlMessage,
  ctx: DdlContext,
  o: Extract<DdlObject, { kind: 'sequence' }>,
  warn: (o: DdlObject, why: string) => void,
): DdlStep[] {
  // An identity column's sequence follows its column; a serial's is created with its table (a CREATE
  // TABLE joins the sync, schema sync makes it).
  if (o.identityColumn || (m.tag !== 'CREATE SEQUENCE' && m.tag !== 'ALTER SEQUENCE')) return [];
  const s = o.sequence;
  if (!sequenceFollows(ctx, s) && (o.previous === undefined || !sequenceFollows(ctx, o.previous))) {
    warn(o, 'the sequence is neither selected by a schema entry nor owned by a synchronised table');
    return [];
  }
  const onDestination = mappedOrProblem(modelOf(ctx, { sequences: [s] }), ctx);
  if (onDestination.problem !== undefined) {
    warn(o, onDestination.problem);
    return [];
  }
  const mappedSequence = onDestination.model.sequences[0];
  if (mappedSequence === undefined) return [];
  // OWNED BY a table the destination does not have would fail: left off.
  const d: SequenceDef =
    s.ownedBy !== undefined && !ctx.targets.some((t) => same(t.source, s.ownedBy!.table))
      ? { ...mappedSequence, ownedBy: undefined }
      : mappedSequence;
  const dest = { schema: d.schema, name: d.name };
  const prev = o.previous;
  if (m.tag === 'CREATE SEQUENCE') {
    return [{ kind: 'apply', changes: [{ kind: 'create-sequence', sequence: d }] }];
  }
  if (prev === undefined) {
    // Unknown to the capture (made before it recorded sequences): made if missing, then set.
    return [
      {
        kind: 'apply',
        changes: [
          { kind: 'create-sequence', sequence: { ...d, ownedBy: undefined } },
          { kind: 'alter-sequence', sequence: d },
        ],
      },
    ];
  }
  if (prev.schema !== s.schema) {
    warn(o, 'moving a sequence to another schema is not followed');
    return [];
  }
  const changes: DdlChange[] = [];
  if (prev.name !== s.name) {
    changes.push({ kind: 'rename-sequence', sequence: { schema: d.schema, name: prev.name }, to: d.name });
  }
  if (JSON.stringify([prev.options, prev.ownedBy]) !== JSON.stringify([s.options, s.ownedBy])) {
    changes.push({ kind: 'alter-sequence', sequence: { ...d, ...dest } });
  }
  if (changes.length === 0) {
    warn(
      o,
      'this ALTER SEQUENCE changes nothing pgdts follows (parameters, OWNED BY, name; values are copied periodically)',
    );
    return [];
  }
  return [{ kind: 'apply', changes }];
}

/** The parts of a type as (key → item) for the diff of two versions. */
function partsOf<T>(v: DdlTypeVersion, items: readonly T[]): Map<number, T> {
  return new Map(items.map((x, i) => [v.keys[i] ?? -1 - i, x]));
}

/** An empty version of `t` (for a type the capture did not know): every part of `t` is new. */
function emptyVersion(t: TypeDef): DdlTypeVersion {
  switch (t.kind) {
    case 'enum':
      return { def: { ...t, labels: [] }, keys: [] };
    case 'composite':
      return { def: { ...t, attributes: [] }, keys: [] };
    case 'domain':
      return { def: { ...t, constraints: [] }, keys: [] };
    case 'range':
    case 'base':
      // No parts of their own to add one by one (the capture does not record base types: their
      // CREATE during sync is a warning).
      return { def: t, keys: [] };
  }
}

/**
 * CREATE TYPE / DOMAIN, ALTER TYPE / DOMAIN (the changes from the previous version to this one, by
 * stable keys) and RENAME, on the destination's names (mapSchemaModel: schema, attribute and base
 * types, defaults and constraints).
 */
function typeSteps(
  m: DdlMessage,
  ctx: DdlContext,
  o: Extract<DdlObject, { kind: 'type' }>,
  warn: (o: DdlObject, why: string) => void,
): DdlStep[] {
  const now = o.type;
  if (!schemaFollows(ctx, now.def)) {
    warn(o, `types are followed in schemas a schema entry selects with ddl on; ${now.def.schema} is not`);
    return [];
  }
  const mappedNow = mappedOrProblem(modelOf(ctx, { types: [now.def] }), ctx);
  if (mappedNow.problem !== undefined) {
    warn(o, mappedNow.problem);
    return [];
  }
  const d = mappedNow.model.types[0];
  if (d === undefined) return [];
  const dest = { schema: d.schema, name: d.name };
  const domain = d.kind === 'domain';
  if (m.tag === 'CREATE TYPE' || m.tag === 'CREATE DOMAIN') {
    return [{ kind: 'apply', changes: [{ kind: 'create-type', type: d }] }];
  }
  const changes: DdlChange[] = [];
  let prev = o.previous;
  if (prev === undefined || prev.def.kind !== now.def.kind) {
    // Unknown to the capture: made if missing, then every part of it added where missing.
    changes.push({ kind: 'create-type', type: d });
    prev = emptyVersion(now.def);
  } else if (prev.def.schema !== now.def.schema) {
    warn(o, `moving a type to another schema is not followed`);
    return [];
  } else if (prev.def.name !== now.def.name) {
    changes.push({
      kind: 'rename-type',
      type: { schema: d.schema, name: prev.def.name },
      domain,
      to: d.name,
    });
  }
  const p = prev.def;
  switch (d.kind) {
    case 'enum': {
      const before = p.kind === 'enum' ? partsOf(prev, p.labels) : new Map<number, string>();
      const labels = d.labels;
      labels.forEach((label, i) => {
        const was = before.get(now.keys[i] ?? -1);
        if (was !== undefined) {
          if (was !== label) changes.push({ kind: 'rename-enum-value', type: dest, from: was, to: label });
          return;
        }
        // After its left neighbour (there by now); the first one before its right neighbour when that
        // one was there already, else at the end.
        const left = i > 0 ? labels[i - 1] : undefined;
        const right = left === undefined && before.has(now.keys[i + 1] ?? -1) ? labels[i + 1] : undefined;
        changes.push({ kind: 'add-enum-value', type: dest, value: label, before: right, after: left });
      });
      break;
    }
    case 'composite': {
      const before = partsOf(prev, p.kind === 'composite' ? p.attributes : []);
      const after = partsOf(now, d.attributes);
      for (const [k, a] of before)
        if (!after.has(k)) changes.push({ kind: 'drop-attribute', type: dest, name: a.name });
      for (const [k, a] of after) {
        const was = before.get(k);
        if (was === undefined) {
          changes.push({ kind: 'add-attribute', type: dest, attribute: a });
          continue;
        }
        if (was.name !== a.name)
          changes.push({ kind: 'rename-attribute', type: dest, from: was.name, to: a.name });
        const source =
          o.type.def.kind === 'composite' ? o.type.def.attributes[now.keys.indexOf(k)] : undefined;
        if (
          source !== undefined &&
          (was.type !== source.type || JSON.stringify(was.collation) !== JSON.stringify(source.collation))
        ) {
          changes.push({ kind: 'alter-attribute-type', type: dest, attribute: a });
        }
      }
      break;
    }
    case 'domain': {
      const was = p.kind === 'domain' ? p : undefined;
      const source = o.type.def.kind === 'domain' ? o.type.def : undefined;
      if (o.previous === undefined || was?.default !== source?.default) {
        changes.push({ kind: 'set-domain-default', domain: dest, default: d.default });
      }
      if (o.previous === undefined || was?.notNull !== d.notNull) {
        changes.push({ kind: 'set-domain-not-null', domain: dest, notNull: d.notNull });
      }
      const before = partsOf(prev, was?.constraints ?? []);
      const sourceAfter = partsOf(now, source?.constraints ?? []);
      const after = partsOf(now, d.constraints);
      for (const [k, c] of before) {
        const s = sourceAfter.get(k);
        if (s === undefined || s.definition !== c.definition) {
          // Gone, or changed (VALIDATE CONSTRAINT ends its NOT VALID): dropped, added below.
          changes.push({ kind: 'drop-domain-constraint', domain: dest, name: c.name });
        } else if (s.name !== c.name) {
          changes.push({ kind: 'rename-domain-constraint', domain: dest, from: c.name, to: s.name });
        }
      }
      for (const [k, c] of after) {
        const b = before.get(k);
        if (b === undefined || b.definition !== sourceAfter.get(k)?.definition) {
          changes.push({ kind: 'add-domain-constraint', domain: dest, constraint: c });
        }
      }
      break;
    }
    case 'range':
    case 'base':
      break;
  }
  if (changes.length === 0) {
    warn(
      o,
      `this ${m.tag} changes nothing pgdts follows (labels, attributes, default, NOT NULL, constraints, name)`,
    );
    return [];
  }
  const steps: DdlStep[] = [{ kind: 'apply', changes }];
  if (changes.some((c) => c.kind === 'add-enum-value')) steps.push({ kind: 'commit' });
  return steps;
}
