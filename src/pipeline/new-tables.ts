/**
 * Tables that join the sync while it streams (task invariant T11): a table created on the source
 * after the task started, in a selected schema (minus its `exclude` globs) or matching a table glob,
 * is added to the task's publication, copied under a snapshot consistent with the change stream and
 * streamed from there, the way `ALTER SUBSCRIPTION ... REFRESH PUBLICATION` makes PostgreSQL's
 * tablesync worker do it (PostgreSQL docs, "Logical Replication" > "Initial Snapshot";
 * src/backend/replication/logical/tablesync.c).
 *
 * Joining table T, between two batches of the incremental session (the applied position durable):
 * 1. its destination table is created by schema sync (when selected), else it must exist;
 * 2. `ALTER PUBLICATION ... ADD TABLE T` (with its row filter on PostgreSQL 15+): every transaction
 *    committing after this carries T's changes;
 * 3. a temporary logical slot is created with its snapshot exported: its consistent point L lies
 *    after the ALTER PUBLICATION's commit, and the snapshot sees exactly the transactions committed
 *    before L (a plain `pg_export_snapshot()` with `pg_current_wal_lsn()` is not consistent with
 *    commit order);
 * 4. T is copied under that snapshot by the full-sync machinery, recorded in `table_sync` with
 *    snapshot LSN L (a crash mid-copy leaves it `copying`, and the next run copies it again, T2);
 * 5. T joins the change mapper and the snapshot filter with L: its changes committed before L are in
 *    the copy and dropped, later ones applied (T5). The stream had not received the ALTER
 *    PUBLICATION when T was found, so none of T's changes is missed.
 * A run starting finds a selected table without a `done` copy as a table to join, before it streams.
 */
import { PgdtsError } from '../core/errors.ts';
import { displayName, type QualifiedName } from '../core/identifier.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { SelectedTable } from '../core/selected-table.ts';
import type { Sink, TableSyncRow } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import { resolveTargets, type TableTarget } from '../core/table-targets.ts';
import { hasSyncType, type TaskConfig } from '../core/task-config.ts';
import { runFullSync } from './full-sync.ts';
import type { RetryPolicy } from './retry.ts';
import { applyTableSchema } from './schema-sync.ts';
import type { FullSyncThrottle } from './task-control.ts';

/** The key of a table's partition group: its root, or itself. */
const groupOf = (t: SelectedTable): string => displayName(t.partitionRoot ?? t);

/**
 * Can incremental sync apply UPDATE and DELETE of `t`? It needs a primary key or a usable replica
 * identity (USING INDEX, FULL); without one, the source even refuses UPDATE and DELETE on it once it
 * is published (PostgreSQL docs, "Logical Replication" > "Publication").
 */
export function hasUsableIdentity(t: SelectedTable): boolean {
  if (t.relkind !== 'r') return true;
  return t.replicaIdentity !== 'nothing' && !(t.replicaIdentity === 'default' && t.primaryKey.length === 0);
}

/** What {@link findNewTables} found. */
export interface NewTables {
  /** Targets to join, whole partition groups (a partitioned table with its partitions) together. */
  readonly joining: readonly TableTarget[];
  /** New tables left out: no primary key or usable replica identity (their whole group is left out). */
  readonly unusable: readonly SelectedTable[];
}

/**
 * The selected tables of `listed` (the source's current selection) that are not among `known`
 * (source names, `schema.name`). Pure.
 * @throws {ConfigError} when the selection, new tables included, maps onto the destination with a
 *   problem (e.g. two tables meeting in one destination table): the task stops, as a run would.
 * @throws {PgdtsError} CONFIG_INVALID for a new table mapped into the destination table of a table
 *   already synchronised (`mergeInto`): copying it would empty that table.
 */
export function findNewTables(
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  listed: readonly SelectedTable[],
  known: ReadonlySet<string>,
): NewTables {
  const targets = resolveTargets(task, listed);
  const fresh = targets.filter((t) => !known.has(displayName(t.source)));
  const badGroups = new Set(fresh.filter((t) => !hasUsableIdentity(t.source)).map((t) => groupOf(t.source)));
  const knownDestinations = new Set(
    targets.filter((t) => known.has(displayName(t.source))).map((t) => displayName(t.table)),
  );
  const joining: TableTarget[] = [];
  const unusable: SelectedTable[] = [];
  for (const t of fresh) {
    if (badGroups.has(groupOf(t.source))) {
      if (!hasUsableIdentity(t.source)) unusable.push(t.source);
      continue;
    }
    if (t.source.relkind === 'r' && knownDestinations.has(displayName(t.table))) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `table ${displayName(t.source)}, created on the source since the task started, merges into ${displayName(t.table)}, which the task fills already: copying it would empty that table`,
        {
          hint: `exclude ${displayName(t.source)} in objects, or start the task anew (pgdts release) to copy them together`,
        },
      );
    }
    joining.push(t);
  }
  return { joining, unusable };
}

/**
 * The targets a run that resumes streaming (phase `copied` or later, with `full`) synchronises
 * already: every partition group whose leaves are all `done` in `table_sync`. The others are tables
 * created since the copy, or a join a crash interrupted: they join before streaming (T11).
 */
export function establishedTargets(
  targets: readonly TableTarget[],
  rows: readonly TableSyncRow[],
): TableTarget[] {
  const done = new Set(rows.filter((r) => r.state === 'done').map(displayName));
  const pending = new Set(
    targets
      .filter((t) => t.source.relkind === 'r' && !done.has(displayName(t.source)))
      .map((t) => groupOf(t.source)),
  );
  return targets.filter((t) => !pending.has(groupOf(t.source)));
}

/** A leaf table that joined: the LSN its copy's snapshot splits history at, and its rows. */
export interface JoinedTable {
  readonly table: SelectedTable;
  /** Transactions committing before it are in the copy (T5); undefined: none (nothing copied). */
  readonly snapshotLsn: Lsn | undefined;
  readonly rows: number;
}

/** Inputs of {@link NewTableWatcher}. */
export interface NewTableWatcherOptions {
  readonly task: TaskConfig;
  readonly source: Source;
  readonly sink: Sink;
  /** The targets synchronised now; the watcher adds the tables that join. */
  readonly targets: readonly TableTarget[];
  readonly retry: RetryPolicy;
  /** `full.throttle` for the copies of joining tables; undefined: no limit. */
  readonly throttle?: FullSyncThrottle | undefined;
  readonly onProgress: ProgressListener;
  readonly signal: AbortSignal;
}

/**
 * Finds the tables created in the selection since the task started and joins them (see the module
 * comment). One per run: it remembers the targets across incremental sessions, and what it logged.
 */
export class NewTableWatcher {
  private readonly all: TableTarget[];
  private readonly warned = new Set<string>();
  private disabledLogged = false;

  constructor(private readonly o: NewTableWatcherOptions) {
    this.all = [...o.targets];
  }

  /** The targets synchronised now: the run's, and those that joined. */
  get targets(): readonly TableTarget[] {
    return this.all;
  }

  /**
   * A DDL renamed the source table of `from` to `to`'s, or dropped it (`to` undefined): the
   * selection listed next is compared with the tables as they are now.
   */
  replaceTarget(from: QualifiedName, to: TableTarget | undefined): void {
    const i = this.all.findIndex((t) => t.source.schema === from.schema && t.source.name === from.name);
    if (i < 0) return;
    if (to === undefined) this.all.splice(i, 1);
    else this.all[i] = to;
  }

  /**
   * Why new tables cannot join this task, or undefined when they can: pgdts does not manage the
   * publication of an `incremental.existingSlot`, and without `full` there is no copy to join with.
   */
  private disabledReason(): string | undefined {
    if (this.o.task.incremental.existingSlot !== undefined) {
      return `incremental.existingSlot: the publication is not pgdts's, so tables created on the source since the task started are not picked up (add them to the publication and run the task anew)`;
    }
    if (!hasSyncType(this.o.task, 'full') || this.o.sink.rows === undefined) {
      return `without full sync, tables created on the source since the task started are not picked up (run the task again to stream them)`;
    }
    return undefined;
  }

  /**
   * Lists the selection again and joins each new table: destination table, publication, temporary
   * slot snapshot, copy. The caller registers the returned tables with its change mapper and snapshot
   * filter before it reads the stream further. Run it only between batches, the applied position
   * committed.
   * @returns the targets that joined (with their partitioned roots) and their copied leaves.
   * @throws {PgdtsError} CONFIG_INVALID when a new table cannot be mapped, merges into a table the task
   *   fills, or (without schema sync) has no destination table; COPY_FAILED, REPLICATION_FAILED,
   *   SCHEMA_SYNC_FAILED from the join's steps (the checkpoint is kept; a rerun joins it again).
   */
  async check(): Promise<{ targets: readonly TableTarget[]; tables: readonly JoinedTable[] }> {
    const none: { targets: readonly TableTarget[]; tables: readonly JoinedTable[] } = {
      targets: [],
      tables: [],
    };
    const reason = this.disabledReason();
    if (reason !== undefined) {
      if (!this.disabledLogged) {
        this.disabledLogged = true;
        this.o.onProgress({ kind: 'log', level: 'info', message: reason });
      }
      return none;
    }
    let listed: SelectedTable[];
    try {
      listed = await this.o.source.listTables(this.o.task.objects);
    } catch (e) {
      // A selected table dropped on the source: streaming goes on as it did before this check (a
      // run starting would refuse the selection); the check is tried again at the next interval.
      if (!(e instanceof PgdtsError) || e.code !== 'CONFIG_INVALID') throw e;
      if (!this.warned.has(e.message)) {
        this.warned.add(e.message);
        this.o.onProgress({
          kind: 'log',
          level: 'warn',
          message: `cannot list the selection for new tables: ${e.message}`,
        });
      }
      return none;
    }
    const known = new Set(this.all.map((t) => displayName(t.source)));
    const found = findNewTables(this.o.task, listed, known);
    for (const t of found.unusable) {
      const name = displayName(t);
      if (this.warned.has(name)) continue;
      this.warned.add(name);
      this.o.onProgress({
        kind: 'log',
        level: 'warn',
        message: `table ${name} was created in the selection, but has no primary key and no usable replica identity: it does not join the sync (add a primary key or set REPLICA IDENTITY FULL; it joins at the next check)`,
      });
    }
    if (found.joining.length === 0) return none;
    const tables = await this.join(found.joining);
    this.all.push(...found.joining);
    return { targets: found.joining, tables };
  }

  /** Steps 1 to 4 of the module comment for `joining`. */
  private async join(joining: readonly TableTarget[]): Promise<JoinedTable[]> {
    const { task, source, sink, onProgress } = this.o;
    const rows = sink.rows;
    if (rows === undefined) return [];
    const names = joining.map((t) => displayName(t.source)).join(', ');
    onProgress({ kind: 'log', level: 'info', message: `new table(s) in the selection: ${names}: joining` });
    for (const t of joining) {
      if (t.where === undefined || t.source.partitionRoot !== undefined) continue;
      await source.checkRowFilter(t.source, t.where, `objects[${t.entry}].where`);
    }
    // 1. The destination tables.
    const groupRoots = joining.filter(
      (t) =>
        t.source.partitionRoot === undefined ||
        !joining.some((r) => displayName(r.source) === displayName(t.source.partitionRoot as QualifiedName)),
    );
    if (hasSyncType(task, 'schema') && sink.schema !== undefined) {
      await applyTableSchema(
        source,
        sink,
        task,
        [...this.all, ...joining],
        groupRoots.map((t) => t.source),
        onProgress,
      );
    }
    const missing = await rows.missingTables(joining.map((t) => t.table));
    if (missing.length > 0) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `table(s) ${names} joined the selection on the source, but destination table(s) ${missing.map(displayName).join(', ')} do not exist`,
        { hint: 'create them in the destination (or add schema to syncTypes) and run the task again' },
      );
    }
    // 2. The publication, before the slot: transactions committing after it carry the tables.
    await source.changes.ensurePublication(
      joining.map((t) => t.source),
      new Map(joining.flatMap((t) => (t.where === undefined ? [] : [[displayName(t.source), t.where]]))),
    );
    // 3 and 4. A temporary slot's snapshot (consistent point after the ALTER PUBLICATION), the copy.
    const leaves = joining.filter((t) => t.source.relkind === 'r');
    const before = new Map((await sink.checkpoints.readTableSync(task.name)).map((r) => [displayName(r), r]));
    if (leaves.some((t) => before.get(displayName(t.source))?.state !== 'done')) {
      const snapshot = await source.changes.createTemporarySnapshot();
      try {
        await runFullSync({
          taskName: task.name,
          targets: joining,
          mode: { keepExisting: task.conflictingTables === 'ignore' },
          snapshot,
          checkpoints: sink.checkpoints,
          rows,
          jobs: task.full.jobs,
          splitAboveBytes: task.full.splitTablesLargerThanBytes,
          rangeSizeBytes: task.full.rangeSizeBytes,
          retry: this.o.retry,
          ...(this.o.throttle !== undefined ? { throttle: this.o.throttle } : {}),
          onProgress,
          signal: this.o.signal,
        });
      } finally {
        await snapshot.release();
      }
    }
    const after = new Map((await sink.checkpoints.readTableSync(task.name)).map((r) => [displayName(r), r]));
    return leaves.map((t) => {
      const r = after.get(displayName(t.source));
      return { table: t.source, snapshotLsn: r?.snapshotLsn, rows: r?.rows ?? 0 };
    });
  }
}

/** The log line of a table that joined. */
export function joinedMessage(t: JoinedTable): string {
  const from = t.snapshotLsn === undefined ? 'now' : formatLsn(t.snapshotLsn);
  return `table ${displayName(t.table)} joined: ${t.rows} rows copied, streaming from ${from}`;
}
