/**
 * Turns a decoded source change into what the sink applies, from the tables' targets: the
 * destination table and column names, excluded columns left out, the row filter (`where`) and the
 * operation filter (`operations`). Sans-I/O: the row filter's verdicts, where the publication does not
 * filter (PostgreSQL 13/14 sources, partitioned tables), are computed beforehand (see {@link ChangeMapper.filterRequests}) and handed in.
 *
 * Row filter semantics are PostgreSQL's own (docs, "Logical Replication", Row Filters, "UPDATE
 * Transformations"): an INSERT moves when its new row matches; a DELETE when its old row matches; an
 * UPDATE whose old and new rows both match stays an UPDATE, one whose old row matches but new row
 * does not becomes a DELETE, one whose new row matches but old row does not becomes an INSERT, and
 * one matching neither is dropped. On PostgreSQL 15+ sources the publication applies the filter
 * and the stream carries the transformed changes already; on 13/14 this class transforms them. The
 * old row's verdict needs the old values of the filter's columns: they are the replica identity
 * columns (an UPDATE that does not change them leaves the verdict as the new row's), or every column
 * under REPLICA IDENTITY FULL (the precheck refuses other filters).
 *
 * The operation filter applies to the change as the row filter leaves it, on either kind of source
 * (a PostgreSQL 15 stream only shows the transformed change).
 */
import {
  UNCHANGED_TOAST,
  type Change,
  type Datum,
  type Relation,
  type Tuple,
  type UpdateChange,
} from '../core/change.ts';
import { PgdtsError } from '../core/errors.ts';
import { displayName, type QualifiedName } from '../core/identifier.ts';
import type { RowFilterRequest } from '../core/source.ts';
import type { TableTarget } from '../core/table-targets.ts';
import type { Operation } from '../core/task-config.ts';

/** The outcome of mapping one change. */
export type MappedChange =
  | { readonly kind: 'apply'; readonly change: Change }
  /** Left out by the table's `operations`: the sink counts it. */
  | { readonly kind: 'skip'; readonly operation: Operation }
  /** Nothing to apply: the row filter keeps it out, or its table is not synchronised. */
  | { readonly kind: 'drop' };

/** Options of {@link ChangeMapper}. */
export interface ChangeMapperOptions {
  /**
   * Tables (`schema.name`) whose changes the publication's row filters transformed already
   * (PostgreSQL 15+, see ChangeCapture.publicationRowFilters); other tables' rows are judged with
   * verdicts from {@link ChangeMapper.filterRequests}.
   */
  readonly filteredBySource: ReadonlySet<string>;
  /** Source tables whose changes are dropped without a word (e.g. the heartbeat table). */
  readonly ignored?: readonly QualifiedName[];
}

/** How one source relation maps (cached per Relation object: the decoder reuses it). */
interface RelationPlan {
  readonly target: TableTarget;
  /** The relation as the sink sees it, or undefined when every column is kept under its own name. */
  readonly mapped: Relation;
  /** Relation column index of each mapped column, in order; undefined when nothing is left out. */
  readonly keep: readonly number[] | undefined;
  /** The row filter to evaluate here (13/14 sources), if any. */
  readonly where: string | undefined;
}

/** Verdicts of row filters: true when the row matches. */
export type FilterVerdicts = (tuple: Tuple) => boolean | undefined;

/** Maps decoded changes to their targets (one instance per incremental session). */
export class ChangeMapper {
  private readonly byName = new Map<string, TableTarget>();
  private readonly ignored: Set<string>;
  private readonly plans = new WeakMap<Relation, RelationPlan | null>();
  /** Tables whose rows the publication filters (from the options, and tables that joined). */
  private readonly filteredBySource: Set<string>;

  constructor(targets: readonly TableTarget[], o: ChangeMapperOptions) {
    for (const t of targets) this.byName.set(displayName(t.source), t);
    this.ignored = new Set((o.ignored ?? []).map(displayName));
    this.filteredBySource = new Set(o.filteredBySource);
  }

  /**
   * Adds a table that joined the sync while streaming (task invariant T11). `filteredBySource`: the
   * publication filters its rows itself (see {@link ChangeMapperOptions.filteredBySource}).
   */
  addTarget(target: TableTarget, filteredBySource = false): void {
    const name = displayName(target.source);
    this.byName.set(name, target);
    if (filteredBySource) this.filteredBySource.add(name);
  }

  /**
   * A DDL renamed the source table of `from` (or it left the sync: `to` undefined): its changes now
   * arrive under the new name, or not at all.
   */
  replaceTarget(from: QualifiedName, to: TableTarget | undefined): void {
    const name = displayName(from);
    const filtered = this.filteredBySource.delete(name);
    this.byName.delete(name);
    if (to !== undefined) this.addTarget(to, filtered);
  }

  /**
   * The rows of `changes` whose row filter must be evaluated before {@link map} (none on a source
   * that filters rows itself), grouped by table.
   */
  filterRequests(changes: readonly Change[]): RowFilterRequest[] {
    const byTable = new Map<string, { req: RowFilterRequest; tuples: Tuple[] }>();
    for (const c of changes) {
      if (c.kind === 'truncate') continue;
      const plan = this.plan(c.relation);
      if (plan?.where === undefined) continue;
      const key = displayName(plan.target.source);
      let entry = byTable.get(key);
      if (entry === undefined) {
        const tuples: Tuple[] = [];
        entry = {
          tuples,
          req: { table: plan.target.source, where: plan.where, relation: c.relation, tuples },
        };
        byTable.set(key, entry);
      }
      for (const t of filterTuples(c)) entry.tuples.push(t);
    }
    return [...byTable.values()].map((e) => e.req);
  }

  /**
   * Maps one change.
   * @param verdicts answers for the tuples of {@link filterRequests} (13/14 sources with row filters).
   * @throws {PgdtsError} CONFIG_INVALID (not retryable) for a change to a table the task does not
   *   select (renamed on the source, or added to a publication the DBA manages): applying it
   *   elsewhere or dropping it would both be wrong; APPLY_FAILED when a row entering the row filter
   *   lacks a value the source did not send (unchanged TOAST).
   */
  map(change: Change, verdicts: FilterVerdicts = () => undefined): MappedChange {
    if (change.kind === 'truncate') {
      const relations: Relation[] = [];
      let skipped = false;
      for (const r of change.relations) {
        const plan = this.plan(r);
        if (plan === undefined) continue;
        if (!plan.target.operations.has('truncate')) skipped = true;
        else relations.push(plan.mapped);
      }
      if (relations.length === 0) return skipped ? { kind: 'skip', operation: 'truncate' } : { kind: 'drop' };
      return { kind: 'apply', change: { ...change, relations } };
    }
    const plan = this.plan(change.relation);
    if (plan === undefined) return { kind: 'drop' };
    const filtered = plan.where === undefined ? change : applyRowFilter(change, verdicts);
    if (filtered === undefined) return { kind: 'drop' };
    if (!plan.target.operations.has(filtered.kind)) return { kind: 'skip', operation: filtered.kind };
    return { kind: 'apply', change: this.rename(filtered, plan) };
  }

  private rename(c: Exclude<Change, { kind: 'truncate' }>, plan: RelationPlan): Change {
    // An unmapped table (the common case) costs nothing per change.
    if (plan.keep === undefined && plan.mapped === c.relation) return c;
    const pick = (t: Tuple): Tuple => (plan.keep === undefined ? t : plan.keep.map((i) => t[i] ?? null));
    switch (c.kind) {
      case 'insert':
        return { ...c, relation: plan.mapped, newTuple: pick(c.newTuple) };
      case 'update':
        return {
          ...c,
          relation: plan.mapped,
          newTuple: pick(c.newTuple),
          ...(c.oldTuple === undefined ? {} : { oldTuple: pick(c.oldTuple) }),
        };
      case 'delete':
        return { ...c, relation: plan.mapped, oldTuple: pick(c.oldTuple) };
    }
  }

  /** The plan of `r`; undefined for an ignored table. */
  private plan(r: Relation): RelationPlan | undefined {
    const cached = this.plans.get(r);
    if (cached !== undefined) return cached ?? undefined;
    const name = displayName(r);
    if (this.ignored.has(name)) {
      this.plans.set(r, null);
      return undefined;
    }
    const target = this.byName.get(name);
    if (target === undefined) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `the change stream carries changes to ${name}, which the task does not select: was a selected table renamed on the source, or added to the publication?`,
        {
          hint: `select it in objects (and run the task anew), or remove it from the publication`,
        },
      );
    }
    const plan = planRelation(r, target, this.filteredBySource.has(name));
    this.plans.set(r, plan);
    return plan;
  }
}

/** Maps the columns of `r`: renamed and excluded as `target` says; columns it does not know pass. */
function planRelation(r: Relation, target: TableTarget, filteredBySource: boolean): RelationPlan {
  const renames = new Map([...target.columns, ...target.generatedColumns].map((c) => [c.source, c.target]));
  const known = new Set([...target.source.columns, ...target.source.generatedColumns]);
  const keep: number[] = [];
  r.columns.forEach((c, i) => {
    // Known but not kept: excluded. Unknown (added on the source since): passed on as it is.
    if (!known.has(c.name) || renames.has(c.name)) keep.push(i);
  });
  const columns = keep.map((i) => {
    const c = r.columns[i];
    if (c === undefined) throw new PgdtsError('INTERNAL', `relation ${displayName(r)} lost column ${i}`);
    const name = renames.get(c.name) ?? c.name;
    return name === c.name ? c : { ...c, name };
  });
  const sameName = target.table.schema === r.schema && target.table.name === r.name;
  const all = keep.length === r.columns.length;
  const renamed = columns.some((c, i) => c !== r.columns[i]);
  return {
    target,
    mapped:
      sameName && all && !renamed
        ? r
        : { ...r, schema: target.table.schema, name: target.table.name, columns },
    keep: all ? undefined : keep,
    where: filteredBySource ? undefined : target.where,
  };
}

/** The tuples whose verdict {@link applyRowFilter} asks for. */
function filterTuples(c: Exclude<Change, { kind: 'truncate' }>): Tuple[] {
  switch (c.kind) {
    case 'insert':
      return [c.newTuple];
    case 'delete':
      return [c.oldTuple];
    case 'update': {
      const full = completeNewTuple(c);
      return c.oldTuple === undefined ? [full] : [full, c.oldTuple];
    }
  }
}

/** Completed new rows, so the same object is judged and then inserted. */
const completed = new WeakMap<UpdateChange, Tuple>();

/**
 * The new row of an UPDATE with unchanged TOAST values taken from a FULL old row (which the source
 * sends whole), so the row filter sees every value; the new row itself otherwise.
 */
function completeNewTuple(c: UpdateChange): Tuple {
  const cached = completed.get(c);
  if (cached !== undefined) return cached;
  let t: Tuple = c.newTuple;
  const old = c.oldTuple;
  if (c.oldKind === 'full' && old !== undefined && t.includes(UNCHANGED_TOAST)) {
    t = t.map((v, i): Datum => (v === UNCHANGED_TOAST ? (old[i] ?? null) : v));
  }
  completed.set(c, t);
  return t;
}

function verdict(verdicts: FilterVerdicts, t: Tuple, c: Change): boolean {
  const v = verdicts(t);
  if (v === undefined) throw new PgdtsError('INTERNAL', `no row filter verdict for a ${c.kind} change`);
  return v;
}

/** PostgreSQL's row filter transformation (see the module comment); undefined: nothing moves. */
function applyRowFilter(
  c: Exclude<Change, { kind: 'truncate' }>,
  verdicts: FilterVerdicts,
): Exclude<Change, { kind: 'truncate' }> | undefined {
  switch (c.kind) {
    case 'insert':
      return verdict(verdicts, c.newTuple, c) ? c : undefined;
    case 'delete':
      return verdict(verdicts, c.oldTuple, c) ? c : undefined;
    case 'update': {
      const newRow = completeNewTuple(c);
      const newMatches = verdict(verdicts, newRow, c);
      // Without an old row the filter's columns (the replica identity) did not change.
      const oldMatches = c.oldTuple === undefined ? newMatches : verdict(verdicts, c.oldTuple, c);
      const at = c.lsn === undefined ? {} : { lsn: c.lsn };
      if (oldMatches && newMatches) return c;
      if (!oldMatches && !newMatches) return undefined;
      if (oldMatches) {
        // Leaves the filter: delete the old row, found by its replica identity.
        return {
          kind: 'delete',
          ...at,
          relation: c.relation,
          oldKind: c.oldKind ?? 'key',
          oldTuple: c.oldTuple ?? keyOnly(c.relation, c.newTuple),
        };
      }
      // Enters the filter: the destination never had it, so it needs every value.
      const missing = c.relation.columns.filter((_, i) => newRow[i] === UNCHANGED_TOAST).map((x) => x.name);
      if (missing.length > 0) {
        throw new PgdtsError(
          'APPLY_FAILED',
          `an UPDATE of ${displayName(c.relation)} moves a row into its row filter, but the source did not send the unchanged TOASTed value of ${missing.join(', ')}`,
          { hint: `ALTER TABLE ${displayName(c.relation)} REPLICA IDENTITY FULL on the source` },
        );
      }
      return { kind: 'insert', ...at, relation: c.relation, newTuple: newRow };
    }
  }
}

/** The key columns of `t` (others null), as a key-only old row. */
function keyOnly(r: Relation, t: Tuple): Tuple {
  return r.columns.map((c, i) => (c.isKey ? (t[i] ?? null) : null));
}
