/**
 * Incremental sync into Kafka: each change becomes Debezium change events (change-event.ts) on its
 * table's topic; `commitBatch` makes the batch's events and its applied position durable together,
 * as `destination.deliveryGuarantee` says (see kafka-sink.md for the states and invariants):
 *
 * - `at-least-once`: events are sent by an idempotent producer with `acks=all` as each source
 *   transaction commits (one produce in flight, so per-key order holds; what arrives meanwhile goes
 *   with the next), not at the end of the batch, which waited up to batchMaxMs; the position record
 *   is written (in a transaction of the task's writer) only after the broker acknowledged every
 *   event before it. A crash between the two repeats the batch on restart. The
 *   position write runs beside the apply loop (one at a time, the newest position wins): a Kafka
 *   transaction costs several round trips to the coordinator, and waiting for it after every batch
 *   held every change behind it (K3 p99 1.8 s at 1,000 tx/s). Only written positions are durable.
 * - `exactly-once`: the batch's events and its position record are sent in one Kafka transaction
 *   (KIP-98, as Kafka Connect's exactly-once source support does, KIP-618). A batch's events are
 *   held until it commits while they are few; past SEND_EVERY_RECORDS the batch's transaction is
 *   opened and they are sent into it as they come, so one huge source transaction needs no more
 *   memory than a small one (the transaction holds the task's writer until it ends, and
 *   `properties.transaction.timeout.ms` bounds how long it may take). A crash aborts the open
 *   transaction (the next run's InitProducerId fences it, or the coordinator's timeout does):
 *   read_committed consumers never see its events, and the restart resumes from the position
 *   committed with the last batch.
 */
import type { MessageToProduce } from '@platformatic/kafka';
import type { Change, Relation, TransactionCommit } from '../../core/change.ts';
import { PgdtsError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import {
  EMPTY_TALLY,
  type AppliedBatch,
  type AppliedPosition,
  type ApplyTally,
  type ChangeApplier,
  type DurablePosition,
  type SourceTransactionBegin,
} from '../../core/sink.ts';
import type { DdlBookkeeping, DdlChange, DdlOrigin } from '../../core/ddl.ts';
import type { Operation } from '../../core/task-config.ts';
import type { KafkaDestinationConfig } from '../../core/kafka-destination-config.ts';
import type {
  ChangeEventEncoder,
  EventRecord,
  EventSource,
  EventTable,
  TransactionBlock,
} from './change-event.ts';
import type { EventRouter, RoutedTopic } from './event-router.ts';
import type { IdempotentSender } from './idempotent-sender.ts';
import { kafkaError } from './kafka-client.ts';
import type { BatchTransaction, KafkaCheckpointStore } from './kafka-checkpoint-store.ts';
import { jsonText, type JsonValue } from './json-text.ts';

/** At-least-once: events held before they are sent (one produce call). */
const SEND_EVERY_RECORDS = 2_000;

/**
 * At-least-once: the least time between the starts of two position writes, ms. Each write is a
 * Kafka transaction of the task writer (AddPartitionsToTxn, Produce, EndTxn and its markers, and
 * retries while the previous one completes): back to back they were 20-70 per second at 1,000 source
 * transactions per second, a large share of the broker's and pgdts's CPU on a small machine. A crash
 * repeats at most this much more (the position only ever trails the acknowledged events).
 */
const POSITION_WRITE_INTERVAL_MS = 200;

/** Collaborators of {@link KafkaChangeApplier}. */
export interface KafkaChangeApplierParts {
  readonly taskName: string;
  readonly d: KafkaDestinationConfig;
  readonly store: KafkaCheckpointStore;
  readonly encoder: ChangeEventEncoder;
  readonly router: EventRouter;
  /** The idempotent producer of at-least-once events (shared with full sync's read events). */
  readonly sender: IdempotentSender;
  readonly startPosition: AppliedPosition | undefined;
  /** See OpenApplierOptions.primaryKeyOf; undefined: keys are the replica identity columns. */
  readonly primaryKeyOf?: (table: {
    readonly schema: string;
    readonly name: string;
  }) => readonly string[] | undefined;
}

interface OpenTransaction {
  readonly xid: number;
  readonly finalLsn: Lsn;
  readonly commitTimeMs: number;
  /** Events so far, and per table (`schema.table`) for the END record. */
  events: number;
  readonly perTable: Map<string, number>;
}

/** Applies changes as Kafka records (see the file comment). */
export class KafkaChangeApplier implements ChangeApplier {
  readonly startPosition: AppliedPosition | undefined;
  readonly warnings: readonly string[] = [];
  private pending: MessageToProduce[] = [];
  /** Events added since the last send (at-least-once). */
  private queued = 0;
  private tally: ApplyTally;
  private txn: OpenTransaction | undefined;
  /** The last complete transaction added and not committed yet. */
  private lastComplete: { endLsn: Lsn; commitTimeMs: number } | undefined;
  private committed: AppliedPosition | undefined;
  private pendingTxns = 0;
  /** At-least-once: the newest position whose events the broker acknowledged, not written yet. */
  private unwritten: AppliedPosition | undefined;
  /** At-least-once: the position write in flight, or the wait before the next one. */
  private writing: Promise<void> | undefined;
  /** At-least-once: batches committed whose sends the broker has not acknowledged yet. */
  private acking = 0;
  /** At-least-once: when the last position write started (Date.now()). */
  private lastWriteAt = 0;
  /** At-least-once: why the last position write failed (thrown by the next call). */
  private writeError: unknown;
  /** At-least-once: the sends, chained one after the other. */
  private sending: Promise<void> = Promise.resolve();
  /** At-least-once: the send waiting for the one in flight, if any. */
  private sendQueued: Promise<void> | undefined;
  /** At-least-once: why a send failed (thrown by commitBatch). */
  private sendError: unknown;
  /** Exactly-once: the batch's Kafka transaction, open once its events outgrew SEND_EVERY_RECORDS. */
  private open: BatchTransaction | undefined;
  private lastCommitLsn: bigint | null = null;
  /** Changes of the open transaction routed but not yet in `pending` (routing awaits topic creation). */
  private routing: Promise<void> = Promise.resolve();
  /** Whether `routing` has settled: a change of a table whose topic is known then goes to `pending` at once. */
  private routed = true;
  private routingError: unknown;
  private readonly eventTables = new WeakMap<Relation, EventTable>();

  constructor(private readonly p: KafkaChangeApplierParts) {
    this.startPosition = p.startPosition;
    this.committed = p.startPosition;
    this.tally = p.startPosition?.tally ?? EMPTY_TALLY;
  }

  get pendingTransactions(): number {
    return this.pendingTxns;
  }

  beginTransaction(begin: SourceTransactionBegin): void {
    this.txn = {
      xid: begin.xid,
      finalLsn: begin.finalLsn,
      commitTimeMs: begin.commitTimeMs ?? Date.now(),
      events: 0,
      perTable: new Map(),
    };
    if (this.p.d.transactionTopic !== null) this.queueTransactionEvent('BEGIN', this.txn);
  }

  private source(change: Change, t: OpenTransaction): EventSource {
    return {
      snapshot: 'false',
      tsMs: t.commitTimeMs,
      txId: t.xid,
      lsn: change.lsn ?? t.finalLsn,
      lastCommitLsn: this.lastCommitLsn,
    };
  }

  private block(
    t: OpenTransaction,
    table: { readonly schema: string; readonly name: string },
  ): TransactionBlock | undefined {
    if (this.p.d.transactionTopic === null) return undefined;
    t.events++;
    const name = `${table.schema}.${table.name}`;
    const n = (t.perTable.get(name) ?? 0) + 1;
    t.perTable.set(name, n);
    return { id: `${t.xid}:${t.finalLsn}`, totalOrder: t.events, dataCollectionOrder: n };
  }

  /** The records of one change. */
  private events(change: Change, t: OpenTransaction): { table: EventTable; records: EventRecord[] }[] {
    const e = this.p.encoder;
    if (change.kind === 'truncate') {
      return change.relations.map((r) => ({
        table: r,
        records: [e.truncate(r, this.source(change, t), this.block(t, r))],
      }));
    }
    const rel = this.eventTable(change.relation);
    switch (change.kind) {
      case 'insert':
        return [
          {
            table: rel,
            records: e.event(
              rel,
              'c',
              undefined,
              change.newTuple,
              this.source(change, t),
              this.block(t, rel),
            ),
          },
        ];
      case 'update': {
        const old = change.oldTuple;
        if (old !== undefined && e.keyChanged(rel, old, change.newTuple)) {
          // Debezium: a key change is a delete of the old key (and its tombstone), then a create.
          return [
            {
              table: rel,
              records: [
                ...e.event(
                  rel,
                  'd',
                  { tuple: old, keyOnly: change.oldKind !== 'full' },
                  undefined,
                  this.source(change, t),
                  this.block(t, rel),
                ),
                ...e.event(rel, 'c', undefined, change.newTuple, this.source(change, t), this.block(t, rel)),
              ],
            },
          ];
        }
        const before =
          old !== undefined && change.oldKind === 'full' ? { tuple: old, keyOnly: false } : undefined;
        return [
          {
            table: rel,
            records: e.event(rel, 'u', before, change.newTuple, this.source(change, t), this.block(t, rel)),
          },
        ];
      }
      case 'delete':
        return [
          {
            table: rel,
            records: e.event(
              rel,
              'd',
              { tuple: change.oldTuple, keyOnly: change.oldKind === 'key' },
              undefined,
              this.source(change, t),
              this.block(t, rel),
            ),
          },
        ];
    }
  }

  /**
   * The event table of a relation: its columns with `isKey` on the primary key (Debezium keys
   * events by the primary key; pgoutput flags the replica identity columns, every column under
   * REPLICA IDENTITY FULL). Without a primary key, the replica identity index (USING INDEX) or no
   * key. One object per relation object, so the encoder's per-table cache keeps working.
   */
  private eventTable(r: Relation): EventTable {
    let t = this.eventTables.get(r);
    if (t !== undefined) return t;
    const pk = this.p.primaryKeyOf?.({ schema: r.schema, name: r.name });
    if (pk === undefined || (pk.length === 0 && r.replicaIdentity === 'index')) t = r;
    else {
      const keys = new Set(pk);
      t = {
        schema: r.schema,
        name: r.name,
        columns: r.columns.map((c) => ({ ...c, isKey: keys.has(c.name) })),
      };
    }
    this.eventTables.set(r, t);
    return t;
  }

  add(change: Change): Promise<void> | undefined {
    const t = this.txn;
    if (t === undefined) throw new PgdtsError('INTERNAL', 'a change outside a source transaction');
    let events;
    try {
      events = this.events(change, t);
    } catch (e) {
      throw new PgdtsError(
        'APPLY_FAILED',
        `cannot encode a change of ${tableOf(change)}: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    // The common case without a promise per change: nothing queued before it and every topic known.
    const topics = this.routed ? events.map((ev) => this.p.router.known(ev.table)) : undefined;
    if (topics !== undefined && topics.every((t) => t !== undefined)) {
      events.forEach((ev, i) => this.p.router.append(topics[i] as RoutedTopic, ev.records, this.pending));
    } else {
      this.route(async () => {
        for (const ev of events) this.pending.push(...(await this.p.router.route(ev.table, ev.records)));
      });
    }
    for (const ev of events) this.queued += ev.records.length;
    if (this.queued < SEND_EVERY_RECORDS) return undefined;
    if (this.p.d.deliveryGuarantee === 'exactly-once') return this.sendInTransaction();
    rethrow(this.sendError, 'send change events');
    return this.sendSoon();
  }

  /** Runs `step` after the routing queued before it (its failure kept for takePending). */
  private route(step: () => Promise<void>): void {
    const link = this.routing.then(step).catch((e: unknown) => {
      this.routingError ??= e;
    });
    this.routing = link;
    this.routed = false;
    void link.then(() => {
      if (this.routing === link) this.routed = true;
    });
  }

  /**
   * Exactly-once: sends what is pending in the batch's Kafka transaction, opened on first use, so a
   * big source transaction is not held in memory until its commit. read_committed consumers see
   * nothing of it before the transaction commits with the applied position (commitBatch).
   */
  private async sendInTransaction(): Promise<void> {
    const messages = await this.takePending();
    if (messages.length === 0) return;
    this.open ??= await this.p.store.openTransaction(this.p.taskName);
    try {
      await this.open.send(messages);
    } catch (e) {
      // The transaction is aborted: everything since the committed position is replayed.
      this.open = undefined;
      throw e;
    }
  }

  /**
   * At-least-once: a send of what is pending after the send in flight (one produce in flight at a
   * time keeps the order of every key; what arrives meanwhile goes with the next one). Started at
   * each source commit, so events leave within a produce round trip rather than at the batch's
   * end (batchMaxMs). A failure is kept for commitBatch and the sends after it do nothing.
   */
  private sendSoon(): Promise<void> {
    if (this.sendQueued !== undefined) return this.sendQueued;
    const next = this.sending.then(() => {
      this.sendQueued = undefined;
      return this.sendError === undefined ? this.send() : undefined;
    });
    this.sendQueued = next;
    this.sending = next.catch((e: unknown) => {
      this.sendError ??= e;
    });
    return next;
  }

  /**
   * The routed records of every change added so far, taken out of `pending`.
   * @throws {PgdtsError} APPLY_FAILED when routing failed (topic creation).
   */
  private async takePending(): Promise<MessageToProduce[]> {
    await this.routing;
    if (this.routingError !== undefined)
      throw kafkaError('APPLY_FAILED', 'route change events', this.routingError);
    const messages = this.pending;
    this.pending = [];
    this.queued = 0;
    return messages;
  }

  /** At-least-once: sends what is pending and waits for the broker's acknowledgement. */
  private async send(): Promise<void> {
    const messages = await this.takePending();
    if (messages.length === 0) return;
    try {
      await this.p.sender.send(messages);
    } catch (e) {
      throw kafkaError('APPLY_FAILED', `send ${messages.length} change events`, e);
    }
  }

  skip(operation: Operation): void {
    this.tally = {
      ...this.tally,
      skipped: { ...this.tally.skipped, [operation]: this.tally.skipped[operation] + 1 },
    };
  }

  commitTransaction(commit: TransactionCommit): void {
    const t = this.txn;
    if (t !== undefined && this.p.d.transactionTopic !== null) this.queueTransactionEvent('END', t);
    this.txn = undefined;
    this.lastComplete = { endLsn: commit.endLsn, commitTimeMs: commit.commitTimeMs };
    this.lastCommitLsn = commit.commitLsn;
    this.pendingTxns++;
    // The failure, if any, is thrown by commitBatch (or the next add past SEND_EVERY_RECORDS).
    if (this.p.d.deliveryGuarantee === 'at-least-once') this.sendSoon().catch(() => undefined);
  }

  /** A BEGIN or END record of Debezium's transaction metadata topic. */
  private queueTransactionEvent(status: 'BEGIN' | 'END', t: OpenTransaction): void {
    const topic = this.p.d.transactionTopic;
    if (topic === null) return;
    const id = `${t.xid}:${t.finalLsn}`;
    const value: JsonValue =
      status === 'BEGIN'
        ? { status, id, ts_ms: t.commitTimeMs, event_count: null, data_collections: null }
        : {
            status,
            id,
            ts_ms: t.commitTimeMs,
            event_count: t.events,
            data_collections: [...t.perTable].map(([data_collection, event_count]) => ({
              data_collection,
              event_count,
            })),
          };
    const wrap = (schema: JsonValue, payload: JsonValue): JsonValue =>
      this.p.d.schemas ? { schema, payload } : payload;
    const keySchema: JsonValue = {
      type: 'struct',
      fields: [{ type: 'string', optional: false, field: 'id' }],
      optional: false,
      name: 'io.debezium.connector.common.TransactionMetadataKey',
    };
    const key = Buffer.from(jsonText(wrap(keySchema, { id })));
    const message = { topic, partition: 0, key, value: Buffer.from(jsonText(wrap(null, value))) };
    this.route(async () => {
      await this.p.router.ensureTopic(topic);
      this.pending.push(message);
    });
  }

  applyDdl(
    _changes: readonly DdlChange[],
    origin: DdlOrigin,
    _bookkeeping?: readonly DdlBookkeeping[],
  ): Promise<void> {
    // A Kafka destination has no tables to alter: the events of the following changes carry the
    // new columns. Table bookkeeping (a renamed or dropped table's copy progress) is not kept here.
    void origin;
    return Promise.resolve();
  }

  async commitBatch(): Promise<AppliedBatch> {
    const last = this.lastComplete;
    if (last === undefined) {
      return {
        appliedLsn: this.committed?.lsn ?? (0n as Lsn),
        commitTimeMs: this.committed?.commitTimeMs,
        tally: this.tally,
      };
    }
    const position: AppliedPosition = {
      lsn: last.endLsn,
      commitTimeMs: last.commitTimeMs,
      tally: this.tally,
    };
    if (this.p.d.deliveryGuarantee === 'exactly-once') {
      const data = await this.takePending();
      const records = [this.p.store.positionRecord(this.p.taskName, position)];
      const open = this.open;
      this.open = undefined;
      if (open !== undefined) await open.commit(data, records);
      else await this.p.store.commitWith(this.p.taskName, data, records);
      this.committed = position;
    } else {
      rethrow(this.writeError, 'write the applied position');
      rethrow(this.sendError, 'send change events');
      // [K2] The position goes to the writer once the broker acknowledged the send that carries
      // the batch's last events (sends are chained, so acknowledgements come in batch order). The
      // apply loop does not wait for it: the next changes are read and encoded while the broker
      // acknowledges these, instead of after (a backlog, as when a load starts, drained at the
      // pace of one produce round trip plus its decoding, one after the other).
      this.acking++;
      this.sendSoon().then(
        () => {
          this.acking--;
          this.unwritten = position;
          this.writePositions();
        },
        () => {
          this.acking--;
        },
      );
    }
    this.lastComplete = undefined;
    this.pendingTxns = 0;
    return { appliedLsn: position.lsn, commitTimeMs: position.commitTimeMs, tally: this.tally };
  }

  /**
   * At-least-once: writes the newest acknowledged position unless a write is in flight, at most one
   * write per {@link POSITION_WRITE_INTERVAL_MS}; the write that ends starts the next one. [K2] a
   * position is here only once its events are acknowledged.
   */
  private writePositions(): void {
    if (this.writing !== undefined || this.unwritten === undefined || this.writeError !== undefined) return;
    const wait = this.lastWriteAt + POSITION_WRITE_INTERVAL_MS - Date.now();
    if (wait > 0) {
      // The newest position handed over meanwhile is the one written when the wait ends.
      this.writing = sleep(wait).then(() => {
        this.writing = undefined;
        this.writePositions();
      });
      return;
    }
    const position = this.unwritten;
    this.unwritten = undefined;
    this.lastWriteAt = Date.now();
    this.writing = this.p.store
      .commitWith(this.p.taskName, [], [this.p.store.positionRecord(this.p.taskName, position)])
      .then(
        () => {
          this.committed = position;
          this.writing = undefined;
          this.writePositions();
        },
        (e: unknown) => {
          this.writeError = e;
          this.writing = undefined;
        },
      );
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async so a write failure rejects
  async durablePosition(): Promise<DurablePosition> {
    rethrow(this.writeError, 'write the applied position');
    // A failed send is never complete: its batch's position must not be passed by a watermark.
    rethrow(this.sendError, 'send change events');
    return {
      lsn: this.committed?.lsn,
      complete:
        this.pendingTxns === 0 &&
        this.acking === 0 &&
        this.unwritten === undefined &&
        this.writing === undefined,
    };
  }

  async rollback(): Promise<void> {
    await this.routing.catch(() => undefined);
    await this.sending;
    this.sendQueued = undefined;
    this.sendError = undefined;
    this.acking = 0;
    // The written position is the one to replay from: a write in flight ends first; a position
    // not written yet is dropped (at-least-once: its events are sent again), before the wait for
    // the write, so that a paced write waiting for its turn writes nothing.
    this.unwritten = undefined;
    await this.writing;
    await this.open?.abort();
    this.open = undefined;
    this.unwritten = undefined;
    this.writeError = undefined;
    this.pending = [];
    this.queued = 0;
    this.routingError = undefined;
    this.routing = Promise.resolve();
    this.routed = true;
    this.txn = undefined;
    this.lastComplete = undefined;
    this.pendingTxns = 0;
    this.tally = this.committed?.tally ?? EMPTY_TALLY;
  }

  async close(): Promise<void> {
    await this.rollback();
  }
}

/**
 * Throws `e` (a failure kept from a send or a position write beside the apply loop), if any.
 * @throws {PgdtsError} `e` itself, or APPLY_FAILED doing `what` with `e` as cause.
 */
function rethrow(e: unknown, what: string): void {
  if (e !== undefined) throw kafkaError('APPLY_FAILED', what, e);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tableOf(c: Change): string {
  return c.kind === 'truncate'
    ? c.relations.map((r) => `${r.schema}.${r.name}`).join(', ')
    : `${c.relation.schema}.${c.relation.name}`;
}
