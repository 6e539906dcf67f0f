/**
 * Applies decoded changes of incremental sync to the destination, exactly once.
 *
 * One destination transaction spans many small source transactions (or part of a huge one): changes
 * are buffered and flushed into the OPEN destination transaction when the buffer reaches `flushRows`
 * or `flushBytes`, so memory stays bounded whatever the source transaction size. `commitBatch()`
 * writes the end LSN of the last complete source transaction into `pgdts.applied_position` in that
 * same transaction and commits: the destination has either the batch and its position, or neither.
 * Only then may the caller confirm the LSN to the source.
 *
 * Each destination transaction starts with `SET LOCAL session_replication_role = replica` so that
 * triggers and FK checks, which already ran on the source, do not fire again (PostgreSQL docs,
 * "Client Connection Defaults", session_replication_role; requires superuser or, from 15, a GRANT
 * of SET on the parameter). It also locks the task's position row, so two appliers of one task
 * serialise and the second skips what the first applied.
 */
import type pg from 'pg';
import type { Change, Relation, TransactionCommit } from '../../../core/change.ts';
import { PgdtsError } from '../../../core/errors.ts';
import { quoteLiteral } from '../../../core/identifier.ts';
import { LSN_ZERO, parseLsn, type Lsn } from '../../../core/lsn.ts';
import { applyFailed } from './apply-error.ts';
import { ensureApplyBookkeeping, upsertAppliedPositionSql } from './applied-position.ts';
import { coalesceChanges } from './coalesce-changes.ts';
import { buildApplySql } from './apply-sql.ts';
import { DestinationTables } from './destination-tables.ts';

/** Options of {@link ChangeApplier}. */
export interface ChangeApplierOptions {
  /** Destination connection (from `connect(params, { role: 'destination' })`), used by this applier only. */
  readonly client: pg.Client;
  /** Task name: the key of the position row in `pgdts.applied_position`. */
  readonly taskName: string;
  /** Flush the buffer into the open destination transaction at this many changes. Default 1000. */
  readonly flushRows?: number;
  /** ... or at about this many bytes of values (UTF-16 code units + per-value overhead). Default 4 MiB. */
  readonly flushBytes?: number;
  /**
   * LSN of the snapshot a table was copied under, or undefined to apply all its changes. A change is
   * applied only when its source transaction's commit LSN >= this: the copy already contains
   * transactions that committed before its snapshot.
   */
  readonly tableSnapshotLsn?: (schema: string, name: string) => Lsn | undefined;
}

/** Start of a source transaction: pgoutput Begin (xid, final LSN = LSN of its commit record). */
export interface SourceTransactionBegin {
  readonly xid: number;
  /** Commit LSN of the transaction, known at Begin (PostgreSQL docs, "Logical Replication Message Formats", Begin). */
  readonly finalLsn: Lsn;
}

/** What {@link ChangeApplier.commitBatch} made durable. */
export interface AppliedBatch {
  /** End LSN of the last source transaction now durable on the destination (safe to confirm). */
  readonly appliedLsn: Lsn;
  /** Its source commit time, ms since the Unix epoch; undefined when no transaction was ever recorded. */
  readonly commitTimeMs: number | undefined;
}

interface Buffered {
  readonly change: Change;
  readonly finalLsn: Lsn;
}

const DEFAULT_FLUSH_ROWS = 1000;
const DEFAULT_FLUSH_BYTES = 4 * 1024 * 1024;

function changeBytes(change: Change): number {
  const tupleBytes = (t: readonly unknown[] | undefined): number =>
    t ? t.reduce<number>((n, v) => n + (typeof v === 'string' ? v.length : 0) + 8, 0) : 0;
  switch (change.kind) {
    case 'insert':
      return 64 + tupleBytes(change.newTuple);
    case 'update':
      return 64 + tupleBytes(change.newTuple) + tupleBytes(change.oldTuple);
    case 'delete':
      return 64 + tupleBytes(change.oldTuple);
    case 'truncate':
      return 64 * change.relations.length;
  }
}

function relationsOf(change: Change): readonly Relation[] {
  return change.kind === 'truncate' ? change.relations : [change.relation];
}

/**
 * Applies changes to one destination connection. Call order per destination transaction:
 * `begin()` (optional: flushes begin implicitly), then for each source transaction
 * `beginSourceTransaction()`, `add()`*, `commitSourceTransaction()`; finally `commitBatch()`.
 * After any error call `rollback()`, then reconnect and replay from the applied position.
 */
export class ChangeApplier {
  private readonly client: pg.Client;
  private readonly taskName: string;
  private readonly flushRows: number;
  private readonly flushBytes: number;
  private readonly snapshotLsn: (schema: string, name: string) => Lsn | undefined;
  private readonly tables = new DestinationTables();
  private bookkeepingReady = false;
  private inTransaction = false;
  /** The flush sent but not yet awaited (see {@link flush}). */
  private inflight: Promise<void> | undefined;
  private failed: PgdtsError | undefined;
  /** Applied position as committed in the destination (read under lock at begin()). */
  private committed: AppliedBatch | undefined;
  private buffer: Buffered[] = [];
  private bufferBytes = 0;
  private source: SourceTransactionBegin | undefined;
  private pending: AppliedBatch | undefined;

  constructor(options: ChangeApplierOptions) {
    this.client = options.client;
    this.taskName = options.taskName;
    this.flushRows = Math.max(1, options.flushRows ?? DEFAULT_FLUSH_ROWS);
    this.flushBytes = Math.max(1, options.flushBytes ?? DEFAULT_FLUSH_BYTES);
    this.snapshotLsn = options.tableSnapshotLsn ?? (() => undefined);
  }

  /** Is a destination transaction open? */
  get transactionOpen(): boolean {
    return this.inTransaction;
  }

  /** Changes buffered and not yet sent to the destination. */
  get bufferedChanges(): number {
    return this.buffer.length;
  }

  /**
   * Opens a destination transaction if none is open, creating the bookkeeping table on first use.
   * @throws {PgdtsError} APPLY_FAILED (retryable on connection loss) or DESTINATION_UNSUPPORTED.
   */
  async begin(): Promise<void> {
    this.assertUsable();
    if (this.inTransaction) return;
    if (!this.bookkeepingReady) {
      await ensureApplyBookkeeping(this.client);
      this.bookkeepingReady = true;
    }
    try {
      const results = (await this.client.query(
        `BEGIN; SET LOCAL session_replication_role = replica;
         SELECT applied_lsn::text AS lsn, (extract(epoch FROM commit_time) * 1000)::bigint::text AS ms
           FROM pgdts.applied_position WHERE task_name = ${quoteLiteral(this.taskName)} FOR UPDATE`,
      )) as unknown as pg.QueryResult<{ lsn: string; ms: string | null }>[];
      this.inTransaction = true;
      const row = results[2]?.rows[0];
      if (row)
        this.committed = {
          appliedLsn: parseLsn(row.lsn),
          commitTimeMs: row.ms === null ? undefined : Number(row.ms),
        };
    } catch (e) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw applyFailed('cannot open the destination transaction', e);
    }
  }

  /**
   * Starts a source transaction. Its changes are applied to a table only when `finalLsn` >= that
   * table's snapshot LSN, and not at all when it is older than the committed applied position
   * (a replay after reconnecting).
   * @throws {PgdtsError} INTERNAL when the previous source transaction was not committed.
   */
  beginSourceTransaction(begin: SourceTransactionBegin): void {
    this.assertUsable();
    if (this.source) {
      throw new PgdtsError(
        'INTERNAL',
        `source transaction ${begin.xid} began inside transaction ${this.source.xid}`,
      );
    }
    this.source = begin;
  }

  /**
   * Buffers a change of the current source transaction; flushes into the open destination
   * transaction when the row or byte bound is reached.
   * @throws {PgdtsError} INTERNAL outside a source transaction; APPLY_FAILED when a flush fails.
   */
  async add(change: Change): Promise<void> {
    this.assertUsable();
    const source = this.source;
    if (!source) throw new PgdtsError('INTERNAL', `${change.kind} change outside a source transaction`);
    let kept = change;
    if (change.kind === 'truncate') {
      const relations = change.relations.filter((r) => this.wanted(r, source.finalLsn));
      if (relations.length === 0) return;
      kept = { ...change, relations };
      for (const r of relations) this.tables.observe(r);
    } else {
      if (!this.wanted(change.relation, source.finalLsn)) return;
      this.tables.observe(change.relation);
    }
    this.buffer.push({ change: kept, finalLsn: source.finalLsn });
    this.bufferBytes += changeBytes(kept);
    if (this.buffer.length >= this.flushRows || this.bufferBytes >= this.flushBytes) await this.flush();
  }

  /** Snapshot LSN per relation object (looked up once: this runs for every change). */
  private readonly snapshotOf = new WeakMap<Relation, Lsn | null>();

  /** Is a change to `r` in a transaction committing at `finalLsn` newer than r's copy snapshot? */
  private wanted(r: Relation, finalLsn: Lsn): boolean {
    let snap = this.snapshotOf.get(r);
    if (snap === undefined) {
      snap = this.snapshotLsn(r.schema, r.name) ?? null;
      this.snapshotOf.set(r, snap);
    }
    return snap === null || finalLsn >= snap;
  }

  /**
   * Marks the end of the current source transaction; nothing becomes durable until
   * {@link commitBatch}.
   * @throws {PgdtsError} INTERNAL when no source transaction is open or its xid differs.
   */
  commitSourceTransaction(commit: TransactionCommit): void {
    this.assertUsable();
    if (!this.source || this.source.xid !== commit.xid) {
      throw new PgdtsError('INTERNAL', `commit of source transaction ${commit.xid} that did not begin`);
    }
    this.source = undefined;
    if (!this.pending || commit.endLsn > this.pending.appliedLsn) {
      this.pending = { appliedLsn: commit.endLsn, commitTimeMs: commit.commitTimeMs };
    }
  }

  /**
   * Sends buffered changes into the open destination transaction (opening it if needed).
   * @throws {PgdtsError} APPLY_FAILED naming the table; retryable when the connection was lost.
   */
  async flush(): Promise<void> {
    this.assertUsable();
    if (this.buffer.length === 0) return;
    await this.begin();
    const statements = await this.takeBufferSql();
    // Pipelining: the statements go out now but are awaited only by the next flush, commit or
    // rollback, so decoding and SQL building of the next flush overlap the destination's execution.
    // At most one flush is in flight; its failure surfaces at the next call.
    await this.drain();
    this.inflight = this.run(statements).catch(() => undefined);
  }

  /** Waits for the flush in flight, if any; rethrows its failure. */
  private async drain(): Promise<void> {
    const f = this.inflight;
    this.inflight = undefined;
    if (f) await f;
    // The flush's own error (APPLY_FAILED, retryable or not), as if it had been awaited in place.
    if (this.failed) throw this.failed;
  }

  /**
   * Flushes, records the end LSN of the last complete source transaction in
   * `pgdts.applied_position` and commits, all in one round trip. Resolves with the durable position.
   * @throws {PgdtsError} INTERNAL when called inside a source transaction (a partial source
   *   transaction must never become durable); APPLY_FAILED when applying or committing fails, after
   *   which the outcome of the commit is known only by `readAppliedPosition`.
   */
  async commitBatch(): Promise<AppliedBatch> {
    this.assertUsable();
    if (this.source) {
      throw new PgdtsError('INTERNAL', `commitBatch inside source transaction ${this.source.xid}`);
    }
    if (!this.inTransaction && this.buffer.length === 0 && !this.pending) {
      return this.committed ?? { appliedLsn: LSN_ZERO, commitTimeMs: undefined };
    }
    await this.begin();
    const statements = await this.takeBufferSql();
    await this.drain();
    const pending = this.pending;
    const advances =
      pending !== undefined && (!this.committed || pending.appliedLsn > this.committed.appliedLsn);
    if (pending && advances) {
      statements.push(upsertAppliedPositionSql(this.taskName, pending.appliedLsn, pending.commitTimeMs));
    }
    statements.push('COMMIT');
    await this.run(statements);
    this.inTransaction = false;
    this.pending = undefined;
    if (pending && advances) this.committed = pending;
    return this.committed ?? { appliedLsn: LSN_ZERO, commitTimeMs: undefined };
  }

  /**
   * Aborts the open destination transaction (if the connection still works) and drops everything
   * buffered; the caller then replays from the committed applied position. Never throws.
   */
  async rollback(): Promise<void> {
    await this.inflight;
    this.inflight = undefined;
    if (this.inTransaction || this.failed) await this.client.query('ROLLBACK').catch(() => undefined);
    this.inTransaction = false;
    this.failed = undefined;
    this.buffer = [];
    this.bufferBytes = 0;
    this.source = undefined;
    this.pending = undefined;
  }

  private assertUsable(): void {
    if (this.failed) {
      throw new PgdtsError(
        'INTERNAL',
        `the applier failed earlier and needs rollback(): ${this.failed.message}`,
      );
    }
  }

  /** Builds SQL for the buffer (dropping changes already applied) and empties it. */
  private async takeBufferSql(): Promise<string[]> {
    const floor = this.committed?.appliedLsn;
    const changes: Change[] = [];
    // Distinct relation objects (a handful per flush), not one name per change.
    const relations = new Set<Relation>();
    for (const b of this.buffer) {
      if (floor !== undefined && b.finalLsn < floor) continue;
      changes.push(b.change);
      for (const r of relationsOf(b.change)) relations.add(r);
    }
    this.buffer = [];
    this.bufferBytes = 0;
    if (changes.length === 0) return [];
    try {
      await this.tables.load(this.client, [...relations]);
      const ordered = coalesceChanges(changes, (r) => this.rowsMayReorder(r));
      return buildApplySql(ordered, (q) => this.tables.get(q));
    } catch (e) {
      throw this.fail(applyFailed('cannot prepare changes', e));
    }
  }

  /**
   * Rows of a table may be reordered within a flush only when its one unique index is the replica
   * identity key (see coalesce-changes.ts).
   */
  private rowsMayReorder(r: Relation): boolean {
    let may = this.reorderOf.get(r);
    if (may === undefined) {
      may = this.computeRowsMayReorder(r);
      this.reorderOf.set(r, may);
    }
    return may;
  }

  /** Per relation object: a new Relation message (new object) re-reads the destination table. */
  private readonly reorderOf = new WeakMap<Relation, boolean>();

  private computeRowsMayReorder(r: Relation): boolean {
    const t = this.tables.get(r);
    if (!t) return false;
    const key = r.columns
      .filter((c) => c.isKey)
      .map((c) => c.name)
      .sort()
      .join('\u0000');
    if (key === '') return false;
    return t.uniqueKeys.length > 0 && t.uniqueKeys.every((u) => [...u].sort().join('\u0000') === key);
  }

  private async run(statements: readonly string[]): Promise<void> {
    if (statements.length === 0) return;
    try {
      await this.client.query(statements.join(';\n'));
    } catch (e) {
      const err = e as { table?: string; schema?: string };
      const where =
        err.table !== undefined
          ? `table ${err.schema ?? '?'}.${err.table}`
          : `tables ${[...new Set(statements.map(tableOfStatement).filter((t) => t !== ''))].join(', ')}`;
      throw this.fail(applyFailed(`cannot apply changes to ${where}`, e));
    }
  }

  private fail(e: PgdtsError): PgdtsError {
    this.failed = e;
    return e;
  }
}

/** The quoted table name a generated statement works on (for messages only). */
function tableOfStatement(s: string): string {
  const m = /^(?:INSERT INTO|DELETE FROM|UPDATE|TRUNCATE(?: ONLY)?) ("(?:[^"]|"")*"\."(?:[^"]|"")*")/.exec(s);
  return m?.[1] ?? '';
}
