/**
 * Which changes the copy already contains (task invariant T5): a table copied under a snapshot holds
 * every transaction that committed before the snapshot's LSN, so a change to it is applied only when
 * its transaction commits at or after that LSN. Tables without a recorded snapshot LSN (plain
 * snapshot, or copied by the slot's own snapshot whose LSN is where streaming starts anyway) take
 * every change.
 *
 * Changes name a partition by itself (publications pgdts creates) or by its root (publications
 * that publish via the root): both names map, a root to the latest LSN of its partitions, which are
 * always copied together under one snapshot (T3).
 */
import type { Change, Relation } from '../core/change.ts';
import { displayName, type QualifiedName } from '../core/identifier.ts';
import { maxLsn, type Lsn } from '../core/lsn.ts';
import type { SelectedTable } from '../core/selected-table.ts';
import type { TableSyncRow } from '../core/sink.ts';

/** Drops the changes a table's copy already contains. */
export class SnapshotFilter {
  private readonly byName = new Map<string, Lsn>();
  /** Per relation object (looked up once: this runs for every change). */
  private cache = new WeakMap<Relation, Lsn | null>();

  constructor(rows: readonly TableSyncRow[], tables: readonly SelectedTable[]) {
    const root = new Map(tables.map((t) => [displayName(t), t.partitionRoot]));
    for (const r of rows) {
      if (r.snapshotLsn === undefined) continue;
      const name = displayName(r);
      this.byName.set(name, maxLsn(this.byName.get(name) ?? r.snapshotLsn, r.snapshotLsn));
      const parent = root.get(name);
      if (parent !== undefined) {
        const p = displayName(parent);
        this.byName.set(p, maxLsn(this.byName.get(p) ?? r.snapshotLsn, r.snapshotLsn));
      }
    }
  }

  /**
   * Adds a table that joined the sync while streaming (task invariant T11), copied under a snapshot
   * whose LSN is `lsn`: its changes in transactions committing before `lsn` are in the copy and are
   * dropped from now on, later ones pass. A partition also raises its root's LSN, as in the
   * constructor.
   */
  addTable(table: SelectedTable, lsn: Lsn): void {
    const names = [displayName(table), ...(table.partitionRoot ? [displayName(table.partitionRoot)] : [])];
    for (const name of names) this.byName.set(name, maxLsn(this.byName.get(name) ?? lsn, lsn));
    // A relation looked up before (as a table without snapshot LSN) must be looked up again.
    this.cache = new WeakMap();
  }

  /**
   * Does the copy of source table `table` hold the transaction committing at `finalLsn` already (its
   * DDL included: the copy's table was created from a later catalog)?
   */
  holds(table: QualifiedName, finalLsn: Lsn): boolean {
    const snap = this.byName.get(displayName(table));
    return snap !== undefined && finalLsn < snap;
  }

  /** A DDL renamed source table `from` to `to`: its snapshot LSN follows it. */
  rename(from: QualifiedName, to: QualifiedName): void {
    const snap = this.byName.get(displayName(from));
    if (snap === undefined) return;
    this.byName.delete(displayName(from));
    this.byName.set(displayName(to), snap);
    this.cache = new WeakMap();
  }

  /** Tables with a snapshot LSN (for messages and tests). */
  get size(): number {
    return this.byName.size;
  }

  private wanted(r: Relation, finalLsn: Lsn): boolean {
    let snap = this.cache.get(r);
    if (snap === undefined) {
      snap = this.byName.get(displayName(r)) ?? null;
      this.cache.set(r, snap);
    }
    return snap === null || finalLsn >= snap;
  }

  /**
   * `change` when its table does not hold it yet, a TRUNCATE reduced to the tables that do not, or
   * undefined when nothing is left to apply. `finalLsn`: commit LSN of the change's transaction.
   */
  filter(change: Change, finalLsn: Lsn): Change | undefined {
    if (this.byName.size === 0) return change;
    if (change.kind !== 'truncate') return this.wanted(change.relation, finalLsn) ? change : undefined;
    const relations = change.relations.filter((r) => this.wanted(r, finalLsn));
    if (relations.length === change.relations.length) return change;
    return relations.length === 0 ? undefined : { ...change, relations };
  }
}
