/**
 * Reordering and coalescing of the changes of one flush, so that the apply SQL has long runs of one
 * statement shape (one multi-row statement instead of one statement per row).
 *
 * Why it is safe: a flush is applied inside one destination transaction with
 * `session_replication_role = replica` (no foreign key checks, no ordinary triggers), so only the
 * order of changes to the same table can matter, through its unique indexes:
 * - changes to different tables commute: they are grouped by table, keeping each table's order;
 *   TRUNCATE is a barrier (nothing moves across it);
 * - within a table, changes to different rows commute only when the table's sole unique index is the
 *   replica identity key (another unique index can make a value freed by one row and taken by another
 *   order-dependent). Then an UPDATE of a key is merged into the earlier INSERT or UPDATE of that key
 *   (later values win; an unchanged-TOAST marker keeps the earlier value), so each key appears once
 *   per run.
 */
import { UNCHANGED_TOAST, type Change, type Datum, type Relation, type Tuple } from '../../../core/change.ts';

/** Tells whether rows of a relation may be reordered among themselves (see module comment). */
export type RowReorderPolicy = (relation: Relation) => boolean;

function keyOf(relation: Relation, tuple: Tuple): string | undefined {
  let k = '';
  for (let i = 0; i < relation.columns.length; i++) {
    if (!relation.columns[i]?.isKey) continue;
    const v = tuple[i];
    if (v === UNCHANGED_TOAST || v === undefined) return undefined;
    k += v === null ? '\u0001N' : `\u0002${v}`;
    k += '\u0000';
  }
  return k === '' ? undefined : k;
}

function merge(earlier: Tuple, later: Tuple): Datum[] {
  return later.map((v, i) => (v === UNCHANGED_TOAST ? (earlier[i] ?? v) : v));
}

/** A plain update: same key before and after (no old tuple sent). */
function isPlainUpdate(c: Change): boolean {
  return c.kind === 'update' && c.oldTuple === undefined;
}

/**
 * Returns the changes regrouped by table (first-appearance order, each table's order kept) between
 * TRUNCATE barriers, with same-key updates merged where `mayReorderRows` allows it.
 * Pure: the input is not modified.
 */
export function coalesceChanges(changes: readonly Change[], mayReorderRows: RowReorderPolicy): Change[] {
  const out: Change[] = [];
  // Keyed by relation id (source OID): cheaper than names, and stable across Relation messages.
  let groups = new Map<number, Change[]>();
  const flushGroups = () => {
    for (const g of groups.values()) out.push(...g);
    groups = new Map();
  };
  const keyIndex = new Map<number, Map<string, number>>();
  for (const c of changes) {
    if (c.kind === 'truncate') {
      flushGroups();
      keyIndex.clear();
      out.push(c);
      continue;
    }
    const t = c.relation.id;
    let group = groups.get(t);
    if (!group) {
      group = [];
      groups.set(t, group);
    }
    const reorder =
      c.relation.replicaIdentity !== 'full' &&
      c.relation.replicaIdentity !== 'nothing' &&
      mayReorderRows(c.relation);
    if (!reorder) {
      group.push(c);
      continue;
    }
    let keys = keyIndex.get(t);
    if (!keys) {
      keys = new Map();
      keyIndex.set(t, keys);
    }
    if (c.kind === 'update' && isPlainUpdate(c)) {
      const k = keyOf(c.relation, c.newTuple);
      const at = k === undefined ? undefined : keys.get(k);
      const prev = at === undefined ? undefined : group[at];
      if (
        prev !== undefined &&
        prev.kind !== 'truncate' &&
        prev.kind !== 'delete' &&
        prev.relation === c.relation &&
        (prev.kind === 'insert' || isPlainUpdate(prev))
      ) {
        // The merged change reports the later change's position (it is the one a conflict names).
        const at2 = c.lsn === undefined ? {} : { lsn: c.lsn };
        group[at as number] =
          prev.kind === 'insert'
            ? { kind: 'insert', ...at2, relation: c.relation, newTuple: merge(prev.newTuple, c.newTuple) }
            : { kind: 'update', ...at2, relation: c.relation, newTuple: merge(prev.newTuple, c.newTuple) };
        continue;
      }
      group.push(c);
      if (k !== undefined) keys.set(k, group.length - 1);
      continue;
    }
    group.push(c);
    const idx = group.length - 1;
    // Later changes to the keys touched here must stay after this one: pointing the keys at this
    // change (which is never merged into) keeps a later update from jumping over a delete or key move.
    const touched =
      c.kind === 'insert'
        ? [c.newTuple]
        : c.kind === 'delete'
          ? [c.oldTuple]
          : [c.newTuple, ...(c.oldTuple ? [c.oldTuple] : [])];
    for (const tuple of touched) {
      const k = keyOf(c.relation, tuple);
      if (k !== undefined) keys.set(k, idx);
    }
  }
  flushGroups();
  return out;
}
