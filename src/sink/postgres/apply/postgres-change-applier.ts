/**
 * Applies decoded changes of incremental sync to a PostgreSQL destination, exactly once. The states
 * and invariants are in apply.md next to this file; tests cite them as [P1]…[P10].
 *
 * One destination transaction spans many small source transactions (or part of a huge one): changes
 * are buffered and flushed into the OPEN destination transaction when the buffer reaches `flushRows`
 * or `flushBytes`, so memory stays bounded whatever the source transaction size. `commitBatch()`
 * writes the end LSN of the last complete source transaction into `pgdts.applied_position` in that
 * same transaction and commits: the destination has either the batch and its position, or neither.
 *
 * A returned COMMIT is not yet durable when the session runs with `synchronous_commit = off`
 * (PostgreSQL docs, "Asynchronous Commit"): the applier then records the destination WAL position
 * after each commit and reports a batch as durable only once `pg_current_wal_flush_lsn()` has passed
 * it, as the native apply worker does (worker.c, get_flush_position). Only the durable position may
 * be acknowledged to the source.
 *
 * Each destination transaction starts with `SET LOCAL session_replication_role = replica` so that
 * triggers and FK checks, which already ran on the source, do not fire again (PostgreSQL docs,
 * "Client Connection Defaults"; requires superuser or, from 15, a GRANT of SET on the parameter).
 * A user without it gets changes applied in source order instead (no regrouping by table, so
 * foreign keys hold at every statement) with triggers active [P5]. Under replica, rules that are not
 * ENABLE REPLICA / ENABLE ALWAYS do not rewrite applied statements either (PostgreSQL docs, ALTER
 * TABLE, "DISABLE/ENABLE RULE"). `row_security = off` makes a statement that a row-level security
 * policy would filter fail instead (PostgreSQL docs, "row_security"): the destination user must
 * bypass row security on the tables it writes (owner without FORCE ROW LEVEL SECURITY, BYPASSRLS, or
 * superuser). Each destination transaction also
 * locks the task's position row, so two appliers of one task serialise and the second skips what the
 * first applied.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Change, Relation, TransactionCommit } from '../../../core/change.ts';
import { ApplyConflictError, PgdtsError } from '../../../core/errors.ts';
import { quoteLiteral } from '../../../core/identifier.ts';
import { formatLsn, LSN_ZERO, parseLsn, type Lsn } from '../../../core/lsn.ts';
import {
  EMPTY_TALLY,
  type AppliedBatch,
  type AppliedPosition,
  type ChangeApplier,
  type DurablePosition,
  type SourceTransactionBegin,
} from '../../../core/sink.ts';
import { connect, type ConnectionParams } from '../../../pg/connection.ts';
import { applyFailed } from './apply-error.ts';
import {
  addTally,
  ensureApplyBookkeeping,
  readAppliedPosition,
  upsertAppliedPositionSql,
} from './applied-position.ts';
import { OPERATIONS, type Operation } from '../../../core/task-config.ts';
import { buildApplySql, type ApplyStatement } from './apply-sql.ts';
import { coalesceChanges } from './coalesce-changes.ts';
import { DestinationTables } from './destination-tables.ts';
import type { QualifiedName } from '../../../core/identifier.ts';
import type { DdlBookkeeping, DdlChange, DdlOrigin } from '../../../core/ddl.ts';
import { ddlChangeStatements } from '../schema/ddl-change-sql.ts';
import { classifyClientError } from '../../../pg/connection.ts';
import { PostgresSchemaChanges } from './schema-changes.ts';
import type { DestinationSchemaChanges } from '../../../core/schema-change.ts';
import { mayUseReplicaRole } from '../replica-role.ts';

/** Options of {@link PostgresChangeApplier}. */
export interface ChangeApplierOptions {
  /** Destination connection (from `connect(params, { role: 'destination' })`), used by this applier only. */
  readonly client: pg.Client;
  /** Task name: the key of the position row in `pgdts.applied_position`. */
  readonly taskName: string;
  /** Flush the buffer into the open destination transaction at this many changes. Default 1000. */
  readonly flushRows?: number;
  /** ... or at about this many bytes of values (UTF-16 code units + per-value overhead). Default 4 MiB. */
  readonly flushBytes?: number;
  /** One statement per UPDATE/DELETE for changes at or below this LSN (to name a missing row). */
  readonly singleRowUpTo?: Lsn;
  /**
   * A COMMIT that returned is durable (the session's synchronous_commit is not `off`). Default: read
   * from the session at the first transaction.
   */
  readonly commitIsDurable?: boolean;
  /** The session may set session_replication_role = replica. Default true. */
  readonly replicaRole?: boolean;
  /** What a missing or existing row does (see OpenApplierOptions.onConflict). Default `error`. */
  readonly onConflict?: 'error' | 'overwrite';
  /**
   * Multi-row statements carry their values as text array parameters and are prepared once per
   * connection [P10] (see apply-sql.ts). Default true; false sends SQL text with literals, as before
   * P10 (one simple query per flush).
   */
  readonly parameters?: boolean;
}

/** Skips counted in one source transaction, kept until its batch commits. */
interface TransactionSkips {
  readonly finalLsn: Lsn;
  readonly skipped: Record<Operation, number>;
}

interface Buffered {
  readonly change: Change;
  readonly finalLsn: Lsn;
}

/** A commit whose durability is not known yet: destination WAL position → source applied LSN. */
interface UndurableCommit {
  readonly destinationLsn: Lsn;
  readonly appliedLsn: Lsn;
}

const DEFAULT_FLUSH_ROWS = 1000;
/**
 * At most this many named prepared statements per connection (one per table and statement shape;
 * a handful per table in practice). Beyond it statements go unnamed: parsed each time, never
 * accumulating in the destination session.
 */
const MAX_PREPARED = 500;
const DEFAULT_FLUSH_BYTES = 4 * 1024 * 1024;
/** Do not ask the destination for its flush position more often than this, ms. */
const FLUSH_POLL_MS = 20;

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

/** Results of a multi-statement query: one per statement (pg returns a bare result for one). */
function resultsOf(r: pg.QueryResult | pg.QueryResult[]): pg.QueryResult[] {
  return Array.isArray(r) ? r : [r];
}

/**
 * {@link ChangeApplier} on one destination connection. After any error every call rethrows that
 * error until `rollback()`; then reconnect and replay from the applied position.
 */
export class PostgresChangeApplier implements ChangeApplier {
  readonly startPosition: AppliedPosition | undefined;
  readonly warnings: readonly string[];
  private readonly replicaRole: boolean;
  private readonly client: pg.Client;
  private readonly taskName: string;
  private readonly flushRows: number;
  private readonly flushBytes: number;
  private readonly singleRowUpTo: Lsn | undefined;
  private readonly overwrite: boolean;
  private readonly parameters: boolean;
  /** Statement text → name of its prepared statement on this connection [P10]. */
  private readonly prepared = new Map<string, string>();
  /** Skips of the open source transaction. */
  private txnSkipped: Record<Operation, number> | undefined;
  /** Skips of the complete source transactions of the batch. */
  private batchSkips: TransactionSkips[] = [];
  /** Missing rows of DELETEs counted (overwrite) in statements of this batch. */
  private batchMissingDeletes = 0;
  private commitIsDurable: boolean | undefined;
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
  private pendingTxns = 0;
  private undurable: UndurableCommit[] = [];
  private durable: Lsn | undefined;
  private lastFlushPoll = 0;
  /** Column changes followed from the stream, in the open destination transaction [P8]. */
  readonly schemaChanges: DestinationSchemaChanges;

  constructor(options: ChangeApplierOptions, startPosition?: AppliedPosition) {
    this.client = options.client;
    this.taskName = options.taskName;
    this.flushRows = Math.max(1, options.flushRows ?? DEFAULT_FLUSH_ROWS);
    this.flushBytes = Math.max(1, options.flushBytes ?? DEFAULT_FLUSH_BYTES);
    this.singleRowUpTo = options.singleRowUpTo;
    this.overwrite = options.onConflict === 'overwrite';
    this.parameters = options.parameters ?? true;
    this.commitIsDurable = options.commitIsDurable;
    this.startPosition = startPosition;
    this.replicaRole = options.replicaRole ?? true;
    this.warnings = this.replicaRole
      ? []
      : [
          'session_replication_role = replica is not allowed for this destination user: changes are applied in source order with triggers and foreign key checks active',
        ];
    this.schemaChanges = new PostgresSchemaChanges({
      prepare: async () => {
        // [P8] Every change buffered before the ALTER is sent first, against the old columns.
        await this.flush();
        await this.drain();
        await this.begin();
        return this.client;
      },
      altered: () => this.tables.clear(),
      fail: (e) => this.fail(e),
    });
  }

  /**
   * Connects, creates the bookkeeping if needed and reads the applied position. That position was
   * committed by an earlier session, perhaps moments ago and not yet flushed [P6]: it counts as
   * durable once the destination's flush position passes the WAL position read now.
   * @throws {PgdtsError} CONNECTION_FAILED, DESTINATION_UNSUPPORTED, APPLY_FAILED.
   */
  static async open(
    params: ConnectionParams,
    o: Omit<ChangeApplierOptions, 'client' | 'commitIsDurable'>,
  ): Promise<PostgresChangeApplier> {
    const client = await connect(params, { role: 'destination', applicationName: 'pgdts-apply' });
    try {
      await ensureApplyBookkeeping(client);
      const start = await readAppliedPosition(client, o.taskName);
      const r = await client.query<{ sc: string; ins: string }>(
        "SELECT current_setting('synchronous_commit') AS sc, pg_current_wal_insert_lsn()::text AS ins",
      );
      const commitIsDurable = r.rows[0]?.sc !== 'off';
      const replicaRole = await mayUseReplicaRole(client);
      const a = new PostgresChangeApplier({ ...o, client, commitIsDurable, replicaRole }, start);
      a.bookkeepingReady = true;
      if (start !== undefined) {
        if (commitIsDurable) a.durable = start.lsn;
        else a.undurable.push({ destinationLsn: parseLsn(r.rows[0]?.ins ?? '0/0'), appliedLsn: start.lsn });
      }
      return a;
    } catch (e) {
      await client.end().catch(() => undefined);
      throw applyFailed('cannot start applying changes', e);
    }
  }

  /** Is a destination transaction open? */
  get transactionOpen(): boolean {
    return this.inTransaction;
  }

  /** Changes buffered and not yet sent to the destination. */
  get bufferedChanges(): number {
    return this.buffer.length;
  }

  get pendingTransactions(): number {
    return this.pendingTxns;
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
      const statements = [
        'BEGIN',
        ...(this.replicaRole ? ['SET LOCAL session_replication_role = replica'] : []),
        // A policy that would filter an applied row fails the statement instead (never a silent miss).
        'SET LOCAL row_security = off',
        `SELECT applied_lsn::text AS lsn, (extract(epoch FROM commit_time) * 1000)::bigint::text AS ms,
                skipped_inserts::text AS si, skipped_updates::text AS su, skipped_deletes::text AS sd,
                skipped_truncates::text AS st, missing_deletes::text AS md
           FROM pgdts.applied_position WHERE task_name = ${quoteLiteral(this.taskName)} FOR UPDATE`,
        "SELECT current_setting('synchronous_commit') AS sc",
      ];
      const results = resultsOf(await this.client.query(statements.join(';\n')));
      this.inTransaction = true;
      const at = statements.length - 2;
      this.commitIsDurable ??= (results[at + 1]?.rows[0] as { sc?: string } | undefined)?.sc !== 'off';
      const row = results[at]?.rows[0] as
        | { lsn: string; ms: string | null; si: string; su: string; sd: string; st: string; md: string }
        | undefined;
      if (row !== undefined)
        this.committed = {
          appliedLsn: parseLsn(row.lsn),
          commitTimeMs: row.ms === null ? undefined : Number(row.ms),
          tally: {
            skipped: {
              insert: Number(row.si),
              update: Number(row.su),
              delete: Number(row.sd),
              truncate: Number(row.st),
            },
            missingDeletes: Number(row.md),
          },
        };
    } catch (e) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw applyFailed('cannot open the destination transaction', e);
    }
  }

  /**
   * Starts a source transaction. Its changes are not applied when it is older than the committed
   * applied position (a replay after reconnecting) [P2].
   * @throws {PgdtsError} INTERNAL when the previous source transaction was not committed.
   */
  beginTransaction(begin: SourceTransactionBegin): void {
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
   * transaction when the row or byte bound is reached (then returns that flush's promise).
   * @throws {PgdtsError} INTERNAL outside a source transaction; APPLY_FAILED when a flush fails.
   */
  add(change: Change): Promise<void> | undefined {
    this.assertUsable();
    const source = this.source;
    if (!source) throw new PgdtsError('INTERNAL', `${change.kind} change outside a source transaction`);
    for (const r of relationsOf(change)) this.tables.observe(r);
    this.buffer.push({ change, finalLsn: source.finalLsn });
    this.bufferBytes += changeBytes(change);
    if (this.buffer.length >= this.flushRows || this.bufferBytes >= this.flushBytes) return this.flush();
    return undefined;
  }

  /** Counts a change of the current source transaction left out by the table's `operations`. */
  skip(operation: Operation): void {
    this.assertUsable();
    if (!this.source) throw new PgdtsError('INTERNAL', `${operation} skipped outside a source transaction`);
    this.txnSkipped ??= { insert: 0, update: 0, delete: 0, truncate: 0 };
    this.txnSkipped[operation]++;
  }

  /**
   * Marks the end of the current source transaction; nothing becomes durable until
   * {@link commitBatch}.
   * @throws {PgdtsError} INTERNAL when no source transaction is open or its xid differs.
   */
  commitTransaction(commit: TransactionCommit): void {
    this.assertUsable();
    if (!this.source || this.source.xid !== commit.xid) {
      throw new PgdtsError('INTERNAL', `commit of source transaction ${commit.xid} that did not begin`);
    }
    if (this.txnSkipped !== undefined) {
      this.batchSkips.push({ finalLsn: this.source.finalLsn, skipped: this.txnSkipped });
      this.txnSkipped = undefined;
    }
    this.source = undefined;
    this.pendingTxns++;
    if (!this.pending || commit.endLsn > this.pending.appliedLsn) {
      this.pending = { appliedLsn: commit.endLsn, commitTimeMs: commit.commitTimeMs, tally: EMPTY_TALLY };
    }
  }

  /**
   * [P9] Makes a source DDL inside the open destination transaction, after the rows buffered before
   * it (flushed and awaited first), so it commits with them and the applied position. A change whose
   * effect is there already is skipped (its `skipIf` returns a row, or its IF [NOT] EXISTS form
   * does nothing). The destination table cache is dropped: the next flush reads the new columns.
   * @throws {PgdtsError} INTERNAL outside a source transaction; SCHEMA_SYNC_FAILED naming the
   *   statement, the server error and the source DDL's LSN, retryable (within `retry.otherMinutes`;
   *   the connection window when the connection was lost).
   */
  async applyDdl(
    changes: readonly DdlChange[],
    origin: DdlOrigin,
    bookkeeping: readonly DdlBookkeeping[] = [],
  ): Promise<void> {
    this.assertUsable();
    const source = this.source;
    if (!source) throw new PgdtsError('INTERNAL', 'DDL outside a source transaction');
    // Already applied (a replay below the committed position): nothing to do [P2].
    const floor = this.committed?.appliedLsn;
    if (floor !== undefined && source.finalLsn < floor) return;
    if (this.buffer.length > 0) await this.flush();
    await this.drain();
    await this.begin();
    for (const st of changes.flatMap(ddlChangeStatements)) {
      try {
        if (st.skipIf !== undefined && ((await this.client.query(st.skipIf)).rowCount ?? 0) > 0) continue;
        await this.client.query(st.sql);
      } catch (e) {
        const { rule, sqlState } = classifyClientError(e);
        throw this.fail(
          new PgdtsError(
            'SCHEMA_SYNC_FAILED',
            `DDL at LSN ${formatLsn(origin.lsn)} failed on the destination: ${st.sql}: ${e instanceof Error ? e.message : String(e)} (source statement: ${origin.statement.trim()})`,
            {
              cause: e,
              retryable: true,
              retryWindow: rule.window === 'connection' && rule.retryable ? 'connection' : 'other',
              ...(sqlState === undefined ? {} : { sqlState }),
              hint: 'fix the destination by hand (the task retries within retry.otherMinutes, then stops keeping its position: pgdts run continues)',
            },
          ),
        );
      }
    }
    for (const b of bookkeeping) {
      const key = (q: QualifiedName) => [this.taskName, q.schema, q.name];
      try {
        if (b.kind === 'rename-table') {
          // range_sync references table_sync without ON UPDATE: a new row, then the old one goes
          // (with its ranges: the table is done, or it joins anew).
          await this.client.query(
            `INSERT INTO pgdts.table_sync (task_name, schema_name, table_name, state, snapshot_lsn, ranges_total, rows, bytes)
             SELECT task_name, $4, $5, state, snapshot_lsn, ranges_total, rows, bytes FROM pgdts.table_sync
              WHERE task_name = $1 AND schema_name = $2 AND table_name = $3
             ON CONFLICT DO NOTHING`,
            [...key(b.from), b.to.schema, b.to.name],
          );
        }
        const gone = b.kind === 'rename-table' ? b.from : b.table;
        await this.client.query(
          'DELETE FROM pgdts.table_sync WHERE task_name = $1 AND schema_name = $2 AND table_name = $3',
          key(gone),
        );
      } catch (e) {
        throw this.fail(applyFailed('cannot record a DDL in pgdts.table_sync', e));
      }
    }
    this.tables.clear();
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
    // At most one flush is in flight; its failure surfaces at the next call [P4].
    await this.drain();
    this.inflight = this.run(statements).then(
      () => undefined,
      () => undefined,
    );
  }

  /** Waits for the flush in flight, if any; rethrows its failure. */
  private async drain(): Promise<void> {
    const f = this.inflight;
    this.inflight = undefined;
    if (f) await f;
    // The flush's own error (APPLY_FAILED retryable or not, APPLY_CONFLICT), as if awaited in place.
    if (this.failed) throw this.failed;
  }

  /**
   * Flushes, records the end LSN of the last complete source transaction in
   * `pgdts.applied_position` and commits [P1]. Row counts of UPDATE/DELETE statements are checked
   * before the COMMIT is sent [P3].
   * @throws {PgdtsError} INTERNAL when called inside a source transaction (a partial source
   *   transaction must never become durable); APPLY_FAILED when applying or committing fails, after
   *   which the outcome of the commit is known only by reading the applied position;
   *   {@link ApplyConflictError} when an UPDATE or DELETE found no row.
   */
  async commitBatch(): Promise<AppliedBatch> {
    this.assertUsable();
    if (this.source) {
      throw new PgdtsError('INTERNAL', `commitBatch inside source transaction ${this.source.xid}`);
    }
    if (!this.inTransaction && this.buffer.length === 0 && !this.pending) {
      return this.committed ?? { appliedLsn: LSN_ZERO, commitTimeMs: undefined, tally: EMPTY_TALLY };
    }
    await this.begin();
    let statements: ApplyStatement[] = await this.takeBufferSql();
    await this.drain();
    if (statements.some((s) => s.expect !== undefined)) {
      // Counts first: a missing row must stop the batch before its position commits, and the rows
      // a DELETE did not find (onConflict: overwrite) go into the tally committed with it.
      await this.run(statements);
      statements = [];
    }
    const pending = this.pending;
    const advances =
      pending !== undefined && (!this.committed || pending.appliedLsn > this.committed.appliedLsn);
    let tally = this.committed?.tally ?? EMPTY_TALLY;
    if (pending && advances) {
      // [P2] skips of transactions below the committed position were counted when first applied.
      const floor = this.committed?.appliedLsn;
      const batch = {
        skipped: { insert: 0, update: 0, delete: 0, truncate: 0 },
        missingDeletes: this.batchMissingDeletes,
      };
      for (const t of this.batchSkips) {
        if (floor !== undefined && t.finalLsn < floor) continue;
        for (const op of OPERATIONS) batch.skipped[op] += t.skipped[op];
      }
      tally = addTally(tally, batch);
      statements.push({
        sql: upsertAppliedPositionSql(this.taskName, pending.appliedLsn, pending.commitTimeMs, batch),
      });
    }
    const commit: ApplyStatement[] = [{ sql: 'COMMIT' }];
    // Where the commit record ends (at most this) and how far the WAL is flushed, in the same trip.
    if (this.commitIsDurable !== true) {
      commit.push({
        sql: 'SELECT pg_current_wal_insert_lsn()::text AS ins, pg_current_wal_flush_lsn()::text AS fl',
      });
    }
    const results = (await this.run([...statements, ...commit])).slice(statements.length);
    this.inTransaction = false;
    this.pending = undefined;
    this.pendingTxns = 0;
    this.batchSkips = [];
    this.batchMissingDeletes = 0;
    if (pending && advances) {
      this.committed = { ...pending, tally };
      if (this.commitIsDurable === true) this.durable = pending.appliedLsn;
      else {
        const row = results[1]?.rows[0] as { ins: string; fl: string } | undefined;
        if (row !== undefined) {
          this.undurable.push({ destinationLsn: parseLsn(row.ins), appliedLsn: pending.appliedLsn });
          this.settle(parseLsn(row.fl));
        }
      }
    }
    return this.committed ?? { appliedLsn: LSN_ZERO, commitTimeMs: undefined, tally: EMPTY_TALLY };
  }

  /** Moves every commit the destination's WAL has flushed past into the durable position. */
  private settle(flushed: Lsn): void {
    let i = 0;
    while (i < this.undurable.length && (this.undurable[i]?.destinationLsn ?? flushed) <= flushed) {
      this.durable = this.undurable[i]?.appliedLsn;
      i++;
    }
    if (i > 0) this.undurable = this.undurable.slice(i);
  }

  /**
   * The durable position [P6]. While commits await their flush and no destination transaction is
   * open, asks the destination how far its WAL is flushed (at most every 20 ms).
   * @throws {PgdtsError} APPLY_FAILED (retryable on connection loss).
   */
  async durablePosition(): Promise<DurablePosition> {
    this.assertUsable();
    if (this.undurable.length > 0 && !this.inTransaction && this.inflight === undefined) {
      const now = Date.now();
      if (now - this.lastFlushPoll >= FLUSH_POLL_MS) {
        this.lastFlushPoll = now;
        try {
          const r = await this.client.query<{ fl: string }>('SELECT pg_current_wal_flush_lsn()::text AS fl');
          this.settle(parseLsn(r.rows[0]?.fl ?? '0/0'));
        } catch (e) {
          throw this.fail(applyFailed('cannot read the destination WAL flush position', e));
        }
      }
    }
    return { lsn: this.durable, complete: this.undurable.length === 0 };
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
    this.pendingTxns = 0;
    this.txnSkipped = undefined;
    this.batchSkips = [];
    this.batchMissingDeletes = 0;
    // [P8] The rollback may have undone an ALTER: read the tables again.
    this.tables.clear();
  }

  async close(): Promise<void> {
    await this.rollback();
    await this.client.end().catch(() => undefined);
  }

  /** After a failure every call rethrows it, until rollback() [P4]. */
  private assertUsable(): void {
    if (this.failed) throw this.failed;
  }

  /** Builds SQL for the buffer (dropping changes already applied) and empties it. */
  private async takeBufferSql(): Promise<ApplyStatement[]> {
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
      // Regrouping by table is safe only without foreign key checks (see coalesce-changes.ts).
      const ordered = this.replicaRole ? coalesceChanges(changes, (r) => this.rowsMayReorder(r)) : changes;
      return buildApplySql(ordered, (q) => this.tables.get(q), {
        ...(this.singleRowUpTo === undefined ? {} : { singleRowUpTo: this.singleRowUpTo }),
        overwrite: this.overwrite,
        parameters: this.parameters,
      });
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

  /** Name of the prepared statement for `sql` (pg prepares it on first use), or undefined past the cap. */
  private statementName(sql: string): string | undefined {
    let name = this.prepared.get(sql);
    if (name === undefined && this.prepared.size < MAX_PREPARED) {
      // Named after the text: another applier on the same connection (a test, a reopened task)
      // reuses the statement instead of colliding with a name pg already knows for other text.
      name = `pgdts_${createHash('sha1').update(sql).digest('hex').slice(0, 32)}`;
      this.prepared.set(sql, name);
    }
    return name;
  }

  /**
   * Runs statements in order and checks UPDATE/DELETE row counts [P3]: each run of plain statements
   * as one multi-statement simple query, each parameterized one as a (named, prepared) extended
   * query [P4]. A query is sent only after the previous one succeeded, so nothing, a COMMIT least of all,
   * follows a failed statement: a COMMIT of an aborted transaction would report success as ROLLBACK.
   */
  private async run(statements: readonly ApplyStatement[]): Promise<pg.QueryResult[]> {
    if (statements.length === 0) return [];
    const results: pg.QueryResult[] = [];
    try {
      let plain: string[] = [];
      const sendPlain = async () => {
        if (plain.length === 0) return;
        const text = plain.join(';\n');
        plain = [];
        results.push(...resultsOf(await this.client.query(text)));
      };
      for (const s of statements) {
        if (s.params === undefined) {
          plain.push(s.sql);
          continue;
        }
        await sendPlain();
        const name = this.statementName(s.sql);
        results.push(
          await this.client.query({
            ...(name === undefined ? {} : { name }),
            text: s.sql,
            values: [...s.params],
          }),
        );
      }
      await sendPlain();
    } catch (e) {
      const err = e as { table?: string; schema?: string };
      const where =
        err.table !== undefined
          ? `table ${err.schema ?? '?'}.${err.table}`
          : `tables ${[...new Set(statements.map((s) => tableOfStatement(s.sql)).filter((t) => t !== ''))].join(', ')}`;
      throw this.fail(applyFailed(`cannot apply changes to ${where}`, e));
    }
    statements.forEach((s, i) => {
      const x = s.expect;
      if (x === undefined) return;
      const touched = results[i]?.rowCount ?? 0;
      if (touched === x.rows.length) return;
      if (x.missing === 'count') {
        if (x.kind === 'delete') this.batchMissingDeletes += x.rows.length - touched;
        return;
      }
      throw this.fail(this.conflict(x.kind, x.table, x.rows, touched));
    });
    return results;
  }

  private conflict(
    kind: 'update' | 'delete',
    table: { schema: string; name: string },
    rows: readonly { key: string; lsn: Lsn | undefined }[],
    touched: number,
  ): ApplyConflictError {
    const name = `${table.schema}.${table.name}`;
    const verb = kind === 'update' ? 'UPDATE' : 'DELETE';
    const first = rows[0];
    if (rows.length === 1 && first !== undefined) {
      return new ApplyConflictError(
        `${verb} of ${name} found no row with ${first.key} in the destination (change at LSN ${first.lsn === undefined ? 'unknown' : formatLsn(first.lsn)}): the destination differs from the source`,
        { table: name, keys: [first.key] },
      );
    }
    const lsns = rows.map((r) => r.lsn).filter((l): l is Lsn => l !== undefined);
    const last = lsns.reduce<Lsn | undefined>((m, l) => (m === undefined || l > m ? l : m), undefined);
    return new ApplyConflictError(
      `${verb} of ${name} found ${touched} of ${rows.length} rows (${rows
        .slice(0, 3)
        .map((r) => r.key)
        .join(
          ', ',
        )}${rows.length > 3 ? ', ...' : ''}) in the destination: the destination differs from the source`,
      {
        table: name,
        keys: rows.map((r) => r.key),
        ...(last !== undefined && lsns.length === rows.length ? { locateUpTo: last } : {}),
      },
    );
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
