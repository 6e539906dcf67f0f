/**
 * Turns a run of decoded changes into SQL text for ONE multi-statement simple query (PostgreSQL docs,
 * "Message Flow", Multiple Statements in a Simple Query): no round trip per row. Values are inlined as
 * string literals (`standard_conforming_strings = on`, so only quotes are doubled) with an explicit
 * cast to the destination column type; the text is PostgreSQL's text output format, which every
 * type's input function accepts back.
 *
 * Consecutive inserts into one table become one multi-row INSERT; consecutive deletes by distinct
 * keys one `DELETE ... WHERE (k) IN (VALUES ...)`; consecutive same-shape updates by distinct,
 * unchanged keys one `UPDATE ... FROM (VALUES ...)`. Anything else keeps one statement per change, in
 * source order.
 *
 * With `parameters` those multi-row statements instead carry their values as one text array per
 * column (`unnest($1::text[], ...)`, each cast to the column type; PostgreSQL docs, "Array
 * Functions"): the statement text then
 * depends only on the table and the shape, so the applier prepares it once per connection (extended
 * protocol, named statement) and reuses it across flushes. The destination no longer parses and
 * plans a VALUES list of literals per flush, and no value is quoted into SQL. The cast from text
 * calls the column type's input function on the same text a literal would have carried, so values
 * arrive unchanged.
 */
import {
  UNCHANGED_TOAST,
  type Change,
  type DeleteChange,
  type Datum,
  type InsertChange,
  type Relation,
  type UpdateChange,
} from '../../../core/change.ts';
import { PgdtsError } from '../../../core/errors.ts';
import {
  displayName,
  quoteIdent,
  quoteLiteral,
  quoteQualified,
  type QualifiedName,
} from '../../../core/identifier.ts';
import type { Lsn } from '../../../core/lsn.ts';
import type { DestinationColumn, DestinationTable } from './destination-tables.ts';

/** The row an UPDATE or DELETE must find, for the report when it is not there. */
export interface ExpectedRow {
  /** Replica identity values as `(col, ...)=(value, ...)`, long values abbreviated. */
  readonly key: string;
  /** WAL position of the change on the source, when known. */
  readonly lsn: Lsn | undefined;
}

/** The rows an UPDATE or DELETE statement must touch: its command tag's row count must match. */
export interface RowExpectation {
  readonly kind: 'update' | 'delete';
  readonly table: QualifiedName;
  readonly rows: readonly ExpectedRow[];
  /** A row not found: `conflict` stops the batch (APPLY_CONFLICT), `count` counts it (overwrite). */
  readonly missing: 'conflict' | 'count';
}

/** One statement of a flush, and for UPDATE/DELETE the rows it must touch. */
export interface ApplyStatement {
  readonly sql: string;
  /**
   * Values of `$1`, `$2`, ... in text format (PostgreSQL array literals, see
   * {@link textArrayLiteral}): the statement is sent with the extended protocol, and its text is the
   * same for every flush of the same table and shape (a prepared statement may be reused). Absent:
   * a plain statement, sent in one simple query with its neighbours.
   */
  readonly params?: readonly string[];
  readonly expect?: RowExpectation;
}

/** Options of {@link buildApplySql}. */
export interface BuildApplySqlOptions {
  /**
   * One UPDATE/DELETE statement per change for changes at or below this LSN (no multi-row
   * statements), so that a row that is not found can be named exactly.
   */
  readonly singleRowUpTo?: Lsn;
  /**
   * `onConflict: overwrite`: INSERTs update an existing row (`ON CONFLICT ... DO UPDATE`), UPDATEs
   * that carry every column become such upserts (a missing row is inserted), DELETEs count a missing
   * row instead of failing. Needs a unique index of the destination table whose columns are all
   * written; without one, changes are applied as usual.
   */
  readonly overwrite?: boolean;
  /**
   * Multi-row INSERT, UPDATE and DELETE statements carry their values as text array parameters
   * (`unnest($1::text[], ...)`, each value cast to its column type) instead of literals. Default
   * false.
   */
  readonly parameters?: boolean;
}

/**
 * A PostgreSQL array literal (`{"a","b",NULL}`) of text values: every element double-quoted with
 * `"` and `\` backslash-escaped, NULL unquoted (PostgreSQL docs, "Array Value Input"), so any text,
 * including `NULL`, braces, commas and whitespace, reads back as itself.
 */
export function textArrayLiteral(values: readonly (string | null)[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else out += `"${ARRAY_SPECIAL.test(v) ? v.replace(ARRAY_ESCAPE, '\\$&') : v}"`;
  }
  return `${out}}`;
}

const ARRAY_SPECIAL = /["\\]/;
const ARRAY_ESCAPE = /["\\]/g;

/** Looks up a loaded destination table; throws when it was not loaded (a bug). */
export type TableLookup = (q: QualifiedName) => DestinationTable | undefined;

/** Relation column `index` and the destination column it maps to. */
interface PlannedColumn {
  readonly index: number;
  readonly isKey: boolean;
  readonly dest: DestinationColumn;
}

interface TablePlan {
  readonly sqlName: string;
  readonly table: DestinationTable;
  readonly columns: readonly PlannedColumn[];
  /** Columns written by INSERT (not generated in the destination). */
  readonly writable: readonly PlannedColumn[];
  readonly keys: readonly PlannedColumn[];
  /** Overwrite: the columns of the unique index an upsert names as its conflict target. */
  readonly conflictTarget: readonly PlannedColumn[] | undefined;
}

/** A value matched in a WHERE clause. */
interface Match {
  readonly col: PlannedColumn;
  readonly value: string | null;
}

/** How an UPDATE/DELETE finds its row. `batchKey` is set when it may join a keyed batch. */
interface RowIdentity {
  readonly kind: 'key' | 'full';
  readonly matches: readonly Match[];
  readonly batchKey: string | undefined;
}

/** Longest value shown in a conflict report, characters. */
const SHOWN_VALUE_CHARS = 64;

function shown(v: string | null): string {
  if (v === null) return 'NULL';
  return v.length > SHOWN_VALUE_CHARS ? `${v.slice(0, SHOWN_VALUE_CHARS)}… (${v.length} characters)` : v;
}

/** `(a, b)=(1, x)`, as PostgreSQL prints keys in its messages. */
function keyText(id: RowIdentity): string {
  return `(${id.matches.map((m) => m.col.dest.name).join(', ')})=(${id.matches.map((m) => shown(m.value)).join(', ')})`;
}

function literal(value: string | null, col: DestinationColumn): string {
  return value === null ? `NULL::${col.castType}` : `${quoteLiteral(value)}::${col.castType}`;
}

function condition(m: Match, alias: string): string {
  const id = `${alias}.${quoteIdent(m.col.dest.name)}`;
  if (m.value === null) return `${id} IS NULL`;
  // Both sides go through the destination's output function, so formats agree.
  if (m.col.dest.compareAsText) return `${id}::text = (${literal(m.value, m.col.dest)})::text`;
  return `${id} = ${literal(m.value, m.col.dest)}`;
}

function applyError(relation: QualifiedName, what: string): PgdtsError {
  return new PgdtsError('APPLY_FAILED', `table ${displayName(relation)}: ${what}`);
}

/**
 * The written columns matching a unique index of `table` (its primary key first), for `ON CONFLICT
 * (...)`; undefined when no unique index has all its columns written (PostgreSQL docs, INSERT, "ON
 * CONFLICT Clause": the conflict target infers a unique index from its columns).
 */
function conflictTarget(
  table: DestinationTable,
  writable: readonly PlannedColumn[],
): readonly PlannedColumn[] | undefined {
  for (const key of table.uniqueKeys) {
    if (key.length === 0) continue;
    const cols = key.map((k) => writable.find((c) => c.dest.name === k));
    if (cols.every((c) => c !== undefined)) return cols;
  }
  return undefined;
}

/** ` ON CONFLICT (key) DO UPDATE SET ...` of an upsert, or '' when the plan has no conflict target. */
function upsertClause(plan: TablePlan): string {
  const target = plan.conflictTarget;
  if (target === undefined) return '';
  const keys = target.map((c) => quoteIdent(c.dest.name)).join(', ');
  // Identity ALWAYS columns accept only DEFAULT in an UPDATE: the existing value stays.
  const set = plan.writable.filter((c) => !target.includes(c) && !c.dest.identityAlways);
  if (set.length === 0) return ` ON CONFLICT (${keys}) DO NOTHING`;
  const assignments = set.map((c) => `${quoteIdent(c.dest.name)} = EXCLUDED.${quoteIdent(c.dest.name)}`);
  return ` ON CONFLICT (${keys}) DO UPDATE SET ${assignments.join(', ')}`;
}

/** Builds statements for changes; `plans` caches per-relation column mapping for one call. */
class SqlBuilder {
  private readonly plans = new Map<Relation, TablePlan>();
  readonly statements: ApplyStatement[] = [];

  constructor(
    private readonly lookup: TableLookup,
    private readonly singleRowUpTo: Lsn | undefined,
    readonly overwrite: boolean,
    private readonly parameters: boolean,
  ) {}

  /**
   * `unnest($1::text[], $2::text[], ...) AS v(name, ...)`, parameters numbered from 1. Text arrays,
   * cast per column by {@link typed}: an array of the column type itself would flatten a nested
   * array (an `int[]` column) and expand a composite into its fields.
   */
  private static unnest(names: readonly string[]): string {
    return `unnest(${names.map((_, i) => `$${i + 1}::text[]`).join(', ')}) AS v(${names.join(', ')})`;
  }

  /** `v.name::type`: the text goes through the column type's input function, as a literal would. */
  private static typed(name: string, col: PlannedColumn): string {
    return `v.${name}::${col.dest.castType}`;
  }

  /** May this change join a multi-row statement? */
  batchable(c: Change): boolean {
    return this.singleRowUpTo === undefined || (c.lsn !== undefined && c.lsn > this.singleRowUpTo);
  }

  private expect(
    kind: 'update' | 'delete',
    relation: Relation,
    items: readonly { change: Change; id: RowIdentity }[],
  ): RowExpectation {
    return {
      kind,
      table: { schema: relation.schema, name: relation.name },
      rows: items.map((i) => ({ key: keyText(i.id), lsn: i.change.lsn })),
      missing: this.overwrite && kind === 'delete' ? 'count' : 'conflict',
    };
  }

  plan(relation: Relation): TablePlan {
    const cached = this.plans.get(relation);
    if (cached) return cached;
    const table = this.lookup(relation);
    if (!table) throw new PgdtsError('INTERNAL', `destination table ${displayName(relation)} was not loaded`);
    const columns = relation.columns.map((c, index): PlannedColumn => {
      const dest = table.columns.get(c.name);
      if (!dest) throw applyError(relation, `column "${c.name}" does not exist in the destination`);
      return { index, isKey: c.isKey, dest };
    });
    const writable = columns.filter((c) => !c.dest.generated);
    const plan: TablePlan = {
      sqlName: quoteQualified(relation),
      table,
      columns,
      writable,
      keys: columns.filter((c) => c.isKey),
      conflictTarget: this.overwrite ? conflictTarget(table, writable) : undefined,
    };
    this.plans.set(relation, plan);
    return plan;
  }

  identity(change: UpdateChange | DeleteChange, plan: TablePlan): RowIdentity {
    const rel = change.relation;
    let kind: 'key' | 'full';
    let tuple: readonly Datum[];
    if (change.kind === 'delete') {
      kind = change.oldKind;
      tuple = change.oldTuple;
    } else if (change.oldTuple) {
      kind = change.oldKind ?? 'key';
      tuple = change.oldTuple;
    } else {
      if (rel.replicaIdentity === 'full')
        throw applyError(rel, 'UPDATE without old row under REPLICA IDENTITY FULL');
      kind = 'key';
      tuple = change.newTuple;
    }
    const cols = kind === 'key' ? plan.keys : plan.columns.filter((c) => !c.dest.generated);
    const matches: Match[] = [];
    for (const col of cols) {
      const v = tuple[col.index];
      if (v === undefined) throw applyError(rel, 'tuple shorter than the relation');
      // A FULL old row is flattened by the source (heapam ExtractReplicaIdentity), but be safe.
      if (v === UNCHANGED_TOAST) {
        if (kind === 'key') throw applyError(rel, `key column "${col.dest.name}" arrived as unchanged TOAST`);
        continue;
      }
      matches.push({ col, value: v });
    }
    if (matches.length === 0) {
      throw applyError(
        rel,
        'no replica identity columns to find the row (REPLICA IDENTITY NOTHING or no key?)',
      );
    }
    const batchable = kind === 'key' && matches.every((m) => m.value !== null && !m.col.dest.compareAsText);
    return { kind, matches, batchKey: batchable ? JSON.stringify(matches.map((m) => m.value)) : undefined };
  }

  /** `WHERE` that targets exactly one row: by key, or by the first physical row equal to the FULL old row. */
  oneRowWhere(plan: TablePlan, id: RowIdentity): string {
    if (id.kind === 'key') return id.matches.map((m) => condition(m, 'd')).join(' AND ');
    const conds = id.matches.map((m) => condition(m, 's')).join(' AND ');
    // Keyless tables may hold duplicates: touch exactly one of them. On a partitioned table ctid is
    // only unique within a partition, so pair it with tableoid.
    return plan.table.partitioned
      ? `(d.tableoid, d.ctid) = (SELECT s.tableoid, s.ctid FROM ${plan.sqlName} AS s WHERE ${conds} LIMIT 1)`
      : `d.ctid = (SELECT s.ctid FROM ${plan.sqlName} AS s WHERE ${conds} LIMIT 1)`;
  }

  inserts(run: readonly InsertChange[]): void {
    const first = run[0];
    if (!first) return;
    const plan = this.plan(first.relation);
    if (plan.writable.length === 0) {
      for (let i = 0; i < run.length; i++)
        this.statements.push({ sql: `INSERT INTO ${plan.sqlName} DEFAULT VALUES` });
      return;
    }
    const overriding = plan.writable.some((c) => c.dest.identityAlways) ? ' OVERRIDING SYSTEM VALUE' : '';
    const valueOf = (c: InsertChange, col: PlannedColumn): string | null => {
      const v = c.newTuple[col.index];
      if (v === undefined || v === UNCHANGED_TOAST) {
        throw applyError(c.relation, `INSERT without a value for column "${col.dest.name}"`);
      }
      return v;
    };
    if (this.parameters) {
      const params = plan.writable.map((col) => textArrayLiteral(run.map((c) => valueOf(c, col))));
      const names = plan.writable.map((_, i) => `c${i}`);
      this.statements.push({
        sql: `INSERT INTO ${plan.sqlName} (${plan.writable.map((c) => quoteIdent(c.dest.name)).join(', ')})${overriding} SELECT ${plan.writable.map((c, i) => SqlBuilder.typed(names[i] ?? '', c)).join(', ')} FROM ${SqlBuilder.unnest(names)}${upsertClause(plan)}`,
        params,
      });
      return;
    }
    const rows = run.map(
      (c) => `(${plan.writable.map((col) => literal(valueOf(c, col), col.dest)).join(', ')})`,
    );
    this.statements.push({
      sql: `INSERT INTO ${plan.sqlName} (${plan.writable.map((c) => quoteIdent(c.dest.name)).join(', ')})${overriding} VALUES ${rows.join(', ')}${upsertClause(plan)}`,
    });
  }

  /** Overwrite: does the update move its row to another value of the conflict target? */
  keyMoved(plan: TablePlan, change: UpdateChange): boolean {
    const old = change.oldTuple;
    if (old === undefined) return false;
    // A key-only old row is sent only when the replica identity key changed.
    if (change.oldKind !== 'full') return true;
    return (plan.conflictTarget ?? []).some((c) => old[c.index] !== change.newTuple[c.index]);
  }

  /** Overwrite: deletes the row an update moved away from, not minding when it is missing. */
  removeOld(plan: TablePlan, change: UpdateChange): void {
    const id = this.identity(change, plan);
    this.statements.push({ sql: `DELETE FROM ${plan.sqlName} AS d WHERE ${this.oneRowWhere(plan, id)}` });
  }

  /**
   * Overwrite: the key an upsert of `tuple` conflicts on, or undefined when the change cannot be an
   * upsert (no conflict target, or a value the source did not send).
   */
  upsertKey(plan: TablePlan, tuple: readonly Datum[]): string | undefined {
    if (plan.conflictTarget === undefined) return undefined;
    if (plan.writable.some((c) => tuple[c.index] === undefined || tuple[c.index] === UNCHANGED_TOAST)) {
      return undefined;
    }
    return JSON.stringify(plan.conflictTarget.map((c) => tuple[c.index] ?? null));
  }

  deletes(run: readonly { change: DeleteChange; id: RowIdentity }[]): void {
    const first = run[0];
    if (!first) return;
    const plan = this.plan(first.change.relation);
    if (run.length === 1 || first.id.batchKey === undefined) {
      for (const item of run)
        this.statements.push({
          sql: `DELETE FROM ${plan.sqlName} AS d WHERE ${this.oneRowWhere(plan, item.id)}`,
          expect: this.expect('delete', first.change.relation, [item]),
        });
      return;
    }
    const keyCols = first.id.matches.map((m) => m.col);
    if (this.parameters) {
      const names = keyCols.map((_, i) => `k${i}`);
      this.statements.push({
        sql: `DELETE FROM ${plan.sqlName} AS d USING ${SqlBuilder.unnest(names)} WHERE ${keyCols.map((c, i) => `d.${quoteIdent(c.dest.name)} = ${SqlBuilder.typed(names[i] ?? '', c)}`).join(' AND ')}`,
        params: keyCols.map((_, i) => textArrayLiteral(run.map(({ id }) => id.matches[i]?.value ?? null))),
        expect: this.expect('delete', first.change.relation, run),
      });
      return;
    }
    const cols = first.id.matches.map((m) => `d.${quoteIdent(m.col.dest.name)}`).join(', ');
    const rows = run.map(({ id }) => `(${id.matches.map((m) => literal(m.value, m.col.dest)).join(', ')})`);
    this.statements.push({
      sql: `DELETE FROM ${plan.sqlName} AS d WHERE (${cols}) IN (VALUES ${rows.join(', ')})`,
      expect: this.expect('delete', first.change.relation, run),
    });
  }

  updates(run: readonly PreparedUpdate[]): void {
    const first = run[0];
    if (!first) return;
    const plan = this.plan(first.change.relation);
    if (run.length === 1 || first.id.batchKey === undefined) {
      for (const u of run) {
        if (u.set.length === 0) continue;
        const set = u.set.map((s) => `${quoteIdent(s.col.dest.name)} = ${literal(s.value, s.col.dest)}`);
        this.statements.push({
          sql: `UPDATE ${plan.sqlName} AS d SET ${set.join(', ')} WHERE ${this.oneRowWhere(plan, u.id)}`,
          expect: this.expect('update', u.change.relation, [u]),
        });
      }
      return;
    }
    if (first.set.length === 0) return;
    const keyNames = first.id.matches.map((_, i) => `k${i}`);
    const setNames = first.set.map((_, i) => `s${i}`);
    if (this.parameters) {
      const set = first.set.map(
        (s, i) => `${quoteIdent(s.col.dest.name)} = ${SqlBuilder.typed(setNames[i] ?? '', s.col)}`,
      );
      const where = first.id.matches.map(
        (m, i) => `d.${quoteIdent(m.col.dest.name)} = ${SqlBuilder.typed(keyNames[i] ?? '', m.col)}`,
      );
      this.statements.push({
        sql: `UPDATE ${plan.sqlName} AS d SET ${set.join(', ')} FROM ${SqlBuilder.unnest([...keyNames, ...setNames])} WHERE ${where.join(' AND ')}`,
        params: [
          ...keyNames.map((_, i) => textArrayLiteral(run.map((u) => u.id.matches[i]?.value ?? null))),
          ...setNames.map((_, i) => textArrayLiteral(run.map((u) => u.set[i]?.value ?? null))),
        ],
        expect: this.expect('update', first.change.relation, run),
      });
      return;
    }
    const rows = run.map(
      (u) =>
        `(${[...u.id.matches.map((m) => literal(m.value, m.col.dest)), ...u.set.map((s) => literal(s.value, s.col.dest))].join(', ')})`,
    );
    const set = first.set.map((s, i) => `${quoteIdent(s.col.dest.name)} = v.${setNames[i] ?? ''}`);
    const where = first.id.matches.map((m, i) => `d.${quoteIdent(m.col.dest.name)} = v.${keyNames[i] ?? ''}`);
    this.statements.push({
      sql: `UPDATE ${plan.sqlName} AS d SET ${set.join(', ')} FROM (VALUES ${rows.join(', ')}) AS v(${[...keyNames, ...setNames].join(', ')}) WHERE ${where.join(' AND ')}`,
      expect: this.expect('update', first.change.relation, run),
    });
  }

  prepareUpdate(change: UpdateChange): PreparedUpdate {
    const plan = this.plan(change.relation);
    const id = this.identity(change, plan);
    // The key did not change when there is no old row, or the old key equals the new one.
    const keyUnchanged =
      !change.oldTuple ||
      (change.oldKind !== 'full' &&
        plan.keys.every((k) => change.oldTuple?.[k.index] === change.newTuple[k.index]));
    const set: Match[] = [];
    for (const col of plan.writable) {
      const v = change.newTuple[col.index];
      if (v === undefined) throw applyError(change.relation, 'tuple shorter than the relation');
      // Unchanged TOAST: the destination already holds the value; leave the column out.
      if (v === UNCHANGED_TOAST) continue;
      const old = change.oldKind === 'full' ? change.oldTuple?.[col.index] : undefined;
      const unchanged = (keyUnchanged && col.isKey) || (old !== undefined && old === v);
      // Re-setting unchanged key columns costs index writes; identity ALWAYS columns reject it.
      if (unchanged && (col.isKey || col.dest.identityAlways)) continue;
      set.push({ col, value: v });
    }
    return {
      change,
      id: keyUnchanged && this.batchable(change) ? id : { ...id, batchKey: undefined },
      set,
      shape: set.map((s) => s.col.index).join(','),
    };
  }
}

interface PreparedUpdate {
  readonly change: UpdateChange;
  readonly id: RowIdentity;
  readonly set: readonly Match[];
  readonly shape: string;
}

type Run =
  | { kind: 'insert'; relation: Relation; items: InsertChange[]; keys: Set<string> }
  | {
      kind: 'delete';
      relation: Relation;
      items: { change: DeleteChange; id: RowIdentity }[];
      keys: Set<string>;
    }
  | { kind: 'update'; relation: Relation; items: PreparedUpdate[]; keys: Set<string>; shape: string };

/**
 * Builds the SQL statements applying `changes` in order, against destination tables from `lookup`
 * (load them first; see DestinationTables). Returns statements without trailing semicolons; UPDATE
 * and DELETE statements carry the rows they must touch, to be checked against their row counts.
 * @throws {PgdtsError} APPLY_FAILED (not retryable) naming the table when a change cannot be expressed:
 *   a column missing in the destination, no replica identity, unchanged TOAST in an INSERT or key.
 */
export function buildApplySql(
  changes: readonly Change[],
  lookup: TableLookup,
  o: BuildApplySqlOptions = {},
): ApplyStatement[] {
  const b = new SqlBuilder(lookup, o.singleRowUpTo, o.overwrite === true, o.parameters === true);
  let run: Run | undefined;
  const flush = (): void => {
    if (!run) return;
    switch (run.kind) {
      case 'insert':
        b.inserts(run.items);
        break;
      case 'delete':
        b.deletes(run.items);
        break;
      case 'update':
        b.updates(run.items);
        break;
    }
    run = undefined;
  };
  const insert = (change: InsertChange): void => {
    const plan = b.plan(change.relation);
    // An upsert may not meet the same key twice in one statement (PostgreSQL refuses, 21000).
    const k = plan.conflictTarget === undefined ? undefined : b.upsertKey(plan, change.newTuple);
    if (run?.kind === 'insert' && run.relation === change.relation && (k === undefined || !run.keys.has(k))) {
      run.items.push(change);
    } else {
      flush();
      run = { kind: 'insert', relation: change.relation, items: [change], keys: new Set() };
    }
    if (k !== undefined) run.keys.add(k);
  };
  for (const change of changes) {
    switch (change.kind) {
      case 'insert':
        insert(change);
        break;
      case 'delete': {
        const id = b.identity(change, b.plan(change.relation));
        const k = b.batchable(change) ? id.batchKey : undefined;
        if (
          run?.kind === 'delete' &&
          run.relation === change.relation &&
          k !== undefined &&
          run.items[0]?.id.batchKey !== undefined &&
          !run.keys.has(k)
        ) {
          run.items.push({ change, id });
          run.keys.add(k);
        } else {
          flush();
          run = {
            kind: 'delete',
            relation: change.relation,
            items: [{ change, id: k === undefined ? { ...id, batchKey: undefined } : id }],
            keys: new Set(k === undefined ? [] : [k]),
          };
        }
        break;
      }
      case 'update': {
        if (b.overwrite) {
          const plan = b.plan(change.relation);
          if (b.upsertKey(plan, change.newTuple) !== undefined) {
            // The row may be missing: write it whole. When its key moved, the row under the old key
            // goes first (if it is there).
            if (change.oldTuple !== undefined && b.keyMoved(plan, change)) {
              flush();
              b.removeOld(plan, change);
            }
            insert({
              kind: 'insert',
              ...(change.lsn === undefined ? {} : { lsn: change.lsn }),
              relation: change.relation,
              newTuple: change.newTuple,
            });
            break;
          }
        }
        const u = b.prepareUpdate(change);
        const k = u.id.batchKey;
        if (
          run?.kind === 'update' &&
          run.relation === change.relation &&
          k !== undefined &&
          run.items[0]?.id.batchKey !== undefined &&
          run.shape === u.shape &&
          !run.keys.has(k)
        ) {
          run.items.push(u);
          run.keys.add(k);
        } else {
          flush();
          run = {
            kind: 'update',
            relation: change.relation,
            items: [u],
            keys: new Set(k === undefined ? [] : [k]),
            shape: u.shape,
          };
        }
        break;
      }
      case 'truncate': {
        flush();
        const names = change.relations.map((r) => {
          const plan = b.plan(r);
          // ONLY: exactly the tables listed in the message, as the native apply worker does (a TRUNCATE
          // the source cascaded lists every table it reached). A partitioned table cannot be
          // truncated with ONLY: its partitions go with it, as on the source (publications that
          // publish via the root list only the root).
          return plan.table.partitioned ? plan.sqlName : `ONLY ${plan.sqlName}`;
        });
        // Never CASCADE: it would empty destination tables the source did not truncate (tables
        // outside the selection that reference these); without it, PostgreSQL refuses with 0A000
        // and names the referencing table.
        b.statements.push({
          sql: `TRUNCATE ${names.join(', ')}${change.restartIdentity ? ' RESTART IDENTITY' : ''}`,
        });
        break;
      }
    }
  }
  flush();
  return b.statements;
}
