/**
 * A task's checkpoints kept in Kafka itself, so a task whose destination is only a Kafka cluster
 * resumes from any machine: a compacted topic (`destination.offsetsTopic`, default `pgdts.offsets`,
 * one partition) holds one record per key, the latest value winning (KIP-? log compaction, Kafka
 * docs "Log Compaction"):
 *
 * - `pgdts/<task>/task`: phase, source identity, slot, publication, last error;
 * - `pgdts/<task>/table/<["schema","name"]>`: one table's copy progress;
 * - `pgdts/<task>/position`: the applied position (end LSN, commit time, tally);
 * - `pgdts/<task>/status`, `pgdts/<task>/schema-report`, `pgdts/<task>/lease`.
 *
 * Every write is a Kafka transaction (KIP-98) of the task's transactional producer
 * (`transactional.id` `pgdts-<task>`): a newer run initialising the same id fences this one, whose
 * next write then fails with CHECKPOINT_CONFLICT. That is the task's lease (see kafka-sink.md).
 * With exactly-once delivery, a batch's change events and its position record share one
 * transaction ({@link KafkaCheckpointStore.commitWith}). State is read back `read_committed` when
 * the store starts and when the lease is taken, and kept in memory while the run lasts (one run at
 * a time writes it).
 */
import { randomUUID } from 'node:crypto';
import type { MessageToProduce, Producer } from '@platformatic/kafka';
import { PgdtsError } from '../../core/errors.ts';
import { displayName, type QualifiedName } from '../../core/identifier.ts';
import type { Lsn } from '../../core/lsn.ts';
import type {
  AppliedPosition,
  ApplyTally,
  CheckpointStore,
  SchemaReportRow,
  StatusRow,
  TableSyncRow,
  TaskCheckpoint,
  TaskLease,
  TaskPhase,
} from '../../core/sink.ts';
import type { SourceIdentity } from '../../core/source.ts';
import type { KafkaDestinationConfig } from '../../core/kafka-destination-config.ts';
import { kafkaClientProperties } from '../../core/kafka-destination-config.ts';
import {
  kafkaError,
  produceChunks,
  TransactionalProducer,
  type KafkaBaseOptions,
  type TopicCatalog,
} from './kafka-client.ts';
import { readTopic } from './read-topic.ts';

/** The client's transaction (not exported by name from the package). */
type Transaction = Awaited<ReturnType<Producer['beginTransaction']>>;

/**
 * Delay before retry `attempt` (1, 2, ...) of a transactional request, ms: 5, 10, 20, ... up to
 * 1,000. A transaction begun right after the previous commit is refused with
 * CONCURRENT_TRANSACTIONS until the coordinator has written the commit markers (KIP-98), which
 * takes a few ms: the client's flat default (1 s, or 100 ms as set before) made every checkpoint
 * transaction take 100 ms or more. Connection losses still back off to 1 s.
 */
export function transactionRetryDelay(_client: unknown, _operation: string, attempt: number): number {
  return Math.min(1_000, 5 * 2 ** (attempt - 1));
}

/** Topic configuration of the offsets topic: compacted, so it keeps the latest value of each key. */
export const OFFSETS_TOPIC_CONFIGS: Readonly<Record<string, string>> = {
  'cleanup.policy': 'compact',
  'min.compaction.lag.ms': '60000',
};

/**
 * Default of `properties.transaction.timeout.ms`: how long a transaction may stay open before the
 * coordinator aborts it, ms. 15 min, the broker's default `transaction.max.timeout.ms` (a higher
 * value is refused with INVALID_TRANSACTION_TIMEOUT): under exactly-once one big source transaction
 * streams into one Kafka transaction, which must not be aborted while it is still being sent. Java's
 * producer defaults to 60 s. Connection-level request timeouts (30 s) are separate.
 */
export const TRANSACTION_TIMEOUT_MS = 900_000;

interface TaskRecord {
  phase: TaskPhase;
  sourceIdentity?: SourceIdentity;
  slotName?: string;
  publicationName?: string;
  slotLsn?: string;
  publicationCreated?: boolean;
  slotCreated?: boolean;
  error?: string;
}

interface TableRecord {
  schema: string;
  name: string;
  state: 'copying' | 'done';
  snapshotLsn?: string;
  rangesTotal: number;
  rangesDone: number[];
  rows: number;
  bytes: number;
}

interface PositionRecord {
  lsn: string;
  commitTimeMs?: number;
  tally: ApplyTally;
}

/** The key prefix of a task's records. */
function prefixOf(task: string): string {
  return `pgdts/${task}/`;
}

const tableKey = (task: string, t: QualifiedName) =>
  `${prefixOf(task)}table/${JSON.stringify([t.schema, t.name])}`;

/** A record of the offsets topic to write: `value` undefined deletes the key (a tombstone). */
export interface OffsetRecord {
  readonly key: string;
  readonly value: unknown;
}

/** A transaction of a {@link TaskWriter} open across calls. */
export interface WriterTransaction {
  /**
   * Sends `records` in the transaction (several produce requests when big).
   * @throws {PgdtsError} APPLY_FAILED (retryable) or CONNECTION_FAILED; the transaction is aborted.
   */
  send(records: MessageToProduce[]): Promise<void>;
  /** @throws {PgdtsError} as {@link send}. */
  commit(): Promise<void>;
  /** Aborts unless ended. Never throws. */
  abort(): Promise<void>;
}

/** Exactly-once: a batch's transaction held open while a big source transaction streams in. */
export interface BatchTransaction {
  /**
   * Sends change events in the transaction. After a failure the transaction is aborted and the
   * writer free; call {@link abort} (a no-op then) and replay.
   * @throws {PgdtsError} APPLY_FAILED (retryable) or CONNECTION_FAILED.
   */
  send(data: MessageToProduce[]): Promise<void>;
  /**
   * Sends the last events and `records` (the applied position) and commits.
   * @throws {PgdtsError} as {@link send}.
   */
  commit(data: MessageToProduce[], records: readonly OffsetRecord[]): Promise<void>;
  /** Aborts the transaction unless it ended. Never throws. */
  abort(): Promise<void>;
}

/**
 * The task's transactional producer; every transaction goes through {@link TaskWriter.exclusive}.
 *
 * Lease protocol (kafka-sink.md): the run that takes the lease writes its run id to the `lease`
 * record in its first transaction, which also fences every older producer of the transactional id.
 * After any failure the producer is replaced, and a replaced producer (its InitProducerId fences
 * whoever holds the id now) reads the `lease` record before it commits anything: a run id other
 * than its own means a newer run owns the task, and it stops with CHECKPOINT_CONFLICT.
 */
export class TaskWriter {
  private current: Producer | undefined;
  /** The producer was (re)created and has not checked the lease since. */
  private fresh = true;
  private chain: Promise<unknown> = Promise.resolve();
  /** This run's id, once it took the lease. */
  runId: string | undefined;

  constructor(
    private readonly base: KafkaBaseOptions,
    private readonly transactionalId: string,
    /** The run id in the `lease` record as committed now (read_committed). */
    private readonly leaseHolder: () => Promise<string | undefined>,
    /** transaction.timeout.ms, ms. */
    private readonly transactionTimeoutMs = TRANSACTION_TIMEOUT_MS,
  ) {}

  /** The producer (created on first use). */
  get producer(): Producer {
    this.current ??= new TransactionalProducer({
      ...this.base,
      idempotent: true,
      acks: -1,
      transactionalId: this.transactionalId,
      // -1/-1: a fresh InitProducerId that fences the id's current producer (the client's default,
      // 0/0, asks to bump producer 0 epoch 0, which the coordinator refuses as fenced).
      producerId: -1n,
      producerEpoch: -1,
      // The transaction timeout InitProducerId asks for is the client's `timeout` (it is also the
      // produce request's ack timeout, which acks=all waits for).
      timeout: this.transactionTimeoutMs,
      retries: 20,
      retryDelay: transactionRetryDelay,
    });
    return this.current;
  }

  /** Runs `fn` when every transaction started before it has ended. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * One transaction with `records`, committed; aborted (and the error rethrown as a PgdtsError) when
   * anything fails. Call inside {@link exclusive}. `takeOver`: this transaction takes the lease
   * (its records hold the new lease), so the lease is not checked first.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT (not retryable) when a newer run holds the lease;
   *   APPLY_FAILED (retryable) or CONNECTION_FAILED otherwise.
   */
  async transaction(records: MessageToProduce[], what: string, takeOver = false): Promise<void> {
    const t = await this.begin(what, takeOver);
    await t.send(records);
    await t.commit();
  }

  /**
   * Begins a transaction left open across calls; call inside {@link exclusive} and end it (commit or
   * abort) before the exclusive call returns. Any failure of the handle aborts the transaction and
   * replaces the producer, as {@link transaction} does. `takeOver`: see {@link transaction}.
   * @throws {PgdtsError} as {@link transaction}, from here and from the handle's methods.
   */
  async begin(what: string, takeOver = false): Promise<WriterTransaction> {
    let txn: Transaction | undefined;
    const fail = async (e: unknown): Promise<never> => {
      if (txn !== undefined && !txn.completed) await txn.abort().catch(() => undefined);
      // A producer that failed may be fenced or in an unknown state: the next transaction uses a
      // new one (which checks the lease before it commits).
      const old = this.current;
      this.current = undefined;
      this.fresh = true;
      await old?.close().catch(() => undefined);
      if (e instanceof PgdtsError) throw e;
      const err = kafkaError('APPLY_FAILED', what, e);
      if (err.code === 'CHECKPOINT_CONFLICT') {
        // Fenced: whether this run still owns the task is for the next producer's lease check.
        throw new PgdtsError('APPLY_FAILED', err.message, { cause: e, retryable: true });
      }
      throw err;
    };
    try {
      txn = await this.producer.beginTransaction();
      if (this.fresh && !takeOver && this.runId !== undefined) {
        const holder = await this.leaseHolder();
        if (holder !== this.runId) {
          throw new PgdtsError(
            'CHECKPOINT_CONFLICT',
            `${what}: another run of the task holds its lease now (run ${holder ?? 'none'}, this is ${this.runId})`,
          );
        }
      }
      this.fresh = false;
    } catch (e) {
      return fail(e);
    }
    const t = txn;
    return {
      send: async (records) => {
        try {
          // Several produce requests: one per batch would exceed the broker's message.max.bytes
          // for a big source transaction.
          for (const chunk of produceChunks(records)) await t.send({ messages: chunk });
        } catch (e) {
          return fail(e);
        }
      },
      commit: async () => {
        try {
          await t.commit();
        } catch (e) {
          return fail(e);
        }
      },
      abort: async () => {
        if (t.completed) return;
        try {
          await t.abort();
        } catch (e) {
          await fail(e).catch(() => undefined);
        }
      },
    };
  }

  /** Closes the producer. Never throws. */
  async close(): Promise<void> {
    await this.current?.close().catch(() => undefined);
    this.current = undefined;
  }
}

/** Checkpoints of the tasks of one Kafka destination (see the file comment). */
export class KafkaCheckpointStore implements CheckpointStore {
  private readonly state = new Map<string, unknown>();
  private loaded = false;
  private writer: TaskWriter | undefined;
  private writerTask: string | undefined;

  constructor(
    private readonly d: KafkaDestinationConfig,
    private readonly base: KafkaBaseOptions,
    private readonly catalog: TopicCatalog,
  ) {}

  /** The offsets topic. */
  get topic(): string {
    return this.d.offsetsTopic;
  }

  /** The transactional id of a task's writer. */
  transactionalIdOf(task: string): string {
    return kafkaClientProperties(this.d).transactionalId ?? `pgdts-${task}`;
  }

  /** The task's writer (created on first use: its first transaction fences an older run's). */
  writerOf(task: string): TaskWriter {
    if (this.writer !== undefined && this.writerTask !== task) {
      throw new PgdtsError(
        'INTERNAL',
        `one Kafka checkpoint store serves one task (${this.writerTask ?? ''}), not ${task}`,
      );
    }
    const timeoutMs = kafkaClientProperties(this.d).transactionTimeoutMs ?? TRANSACTION_TIMEOUT_MS;
    this.writer ??= new TaskWriter(
      this.base,
      this.transactionalIdOf(task),
      async () => {
        const records = await readTopic(this.base, this.topic);
        const key = `${prefixOf(task)}lease`;
        let holder: string | undefined;
        for (const r of records) {
          if (r.key?.toString() !== key) continue;
          holder =
            r.value === null ? undefined : (JSON.parse(r.value.toString()) as { runId?: string }).runId;
        }
        return holder;
      },
      timeoutMs,
    );
    this.writerTask = task;
    return this.writer;
  }

  async ensure(): Promise<void> {
    await this.catalog.ensure(this.topic, OFFSETS_TOPIC_CONFIGS);
    if (!this.loaded) await this.reload();
  }

  /** Reads the offsets topic again (read_committed) into memory. */
  async reload(): Promise<void> {
    const records = await readTopic(this.base, this.topic);
    this.state.clear();
    for (const r of records) {
      if (r.key === null) continue;
      const key = r.key.toString();
      if (r.value === null) this.state.delete(key);
      else this.state.set(key, JSON.parse(r.value.toString()) as unknown);
    }
    this.loaded = true;
  }

  private async ready(): Promise<void> {
    if (!this.loaded) await this.ensure();
  }

  /** Offsets-topic records of `records` (a tombstone for an undefined value). */
  messagesOf(records: readonly OffsetRecord[]): MessageToProduce[] {
    return records.map((r) => ({
      topic: this.topic,
      partition: 0,
      key: Buffer.from(r.key),
      ...(r.value === undefined ? {} : { value: Buffer.from(JSON.stringify(r.value)) }),
    }));
  }

  /** Writes `records` in one transaction of the task's writer and updates the state after the commit. */
  private async write(
    task: string,
    records: readonly OffsetRecord[] | (() => readonly OffsetRecord[]),
    takeOver = false,
  ): Promise<void> {
    await this.ready();
    const w = this.writerOf(task);
    await w.exclusive(async () => {
      const list = typeof records === 'function' ? records() : records;
      await w.transaction(
        this.messagesOf(list),
        `write the checkpoint of task ${task} to ${this.topic}`,
        takeOver,
      );
      this.apply(list);
    });
  }

  /** Applies written records to the in-memory state. */
  apply(records: readonly OffsetRecord[]): void {
    for (const r of records) {
      if (r.value === undefined) this.state.delete(r.key);
      else this.state.set(r.key, r.value);
    }
  }

  /**
   * Commits `data` (records of other topics) and `records` (offsets-topic records) in one
   * transaction of the task's writer (exactly-once: a batch of change events with its position).
   * @throws {PgdtsError} CHECKPOINT_CONFLICT when fenced; APPLY_FAILED / CONNECTION_FAILED otherwise
   *   (the transaction is aborted: none of its records is visible to read_committed consumers).
   */
  async commitWith(task: string, data: MessageToProduce[], records: readonly OffsetRecord[]): Promise<void> {
    await this.ready();
    const w = this.writerOf(task);
    await w.exclusive(async () => {
      await w.transaction([...data, ...this.messagesOf(records)], `commit a batch of task ${task}`);
      this.apply(records);
    });
  }

  /**
   * Exactly-once: begins a transaction of the task's writer that stays open until committed or
   * aborted, for a batch whose events are too many to hold until its commit. Every other write of
   * the task (status, lease) waits until it ends: call nothing else of this store that writes while
   * it is open.
   * @throws {PgdtsError} as {@link commitWith}.
   */
  async openTransaction(task: string): Promise<BatchTransaction> {
    await this.ready();
    const w = this.writerOf(task);
    return new Promise<BatchTransaction>((resolve, reject) => {
      void w.exclusive(async () => {
        let t: WriterTransaction;
        try {
          t = await w.begin(`commit a batch of task ${task}`);
        } catch (e) {
          // begin() throws PgdtsErrors only.
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        // The writer is held until the transaction ends, one way or the other.
        await new Promise<void>((end) => {
          let ended = false;
          const finish = () => {
            ended = true;
            end();
          };
          resolve({
            send: async (data) => {
              if (ended) throw new PgdtsError('INTERNAL', 'send in an ended Kafka transaction');
              try {
                await t.send(data);
              } catch (e) {
                finish();
                throw e;
              }
            },
            commit: async (data, records) => {
              if (ended) throw new PgdtsError('INTERNAL', 'commit of an ended Kafka transaction');
              try {
                await t.send([...data, ...this.messagesOf(records)]);
                await t.commit();
                this.apply(records);
              } finally {
                finish();
              }
            },
            abort: async () => {
              if (ended) return;
              try {
                await t.abort();
              } finally {
                finish();
              }
            },
          });
        });
      });
    });
  }

  async acquireLease(taskName: string): Promise<TaskLease> {
    const runId = randomUUID();
    const lease = () => [
      { key: `${prefixOf(taskName)}lease`, value: { runId, atMs: Date.now(), pid: process.pid } },
    ];
    // The first transaction initialises the transactional id: any older run is fenced from here on.
    this.writerOf(taskName).runId = runId;
    await this.write(taskName, lease(), true);
    // What older runs committed is final now: read it.
    await this.reload();
    return {
      check: async () => {
        await this.write(taskName, lease());
      },
      release: async () => {
        await this.writer?.close();
        this.writer = undefined;
        this.writerTask = undefined;
      },
    };
  }

  private taskRecord(task: string): TaskRecord | undefined {
    return this.state.get(`${prefixOf(task)}task`) as TaskRecord | undefined;
  }

  private async updateTask(task: string, change: (r: TaskRecord) => TaskRecord): Promise<void> {
    await this.write(task, () => [
      { key: `${prefixOf(task)}task`, value: change(this.taskRecord(task) ?? { phase: 'new' }) },
    ]);
  }

  async readTask(taskName: string): Promise<TaskCheckpoint | undefined> {
    await this.ready();
    const r = this.taskRecord(taskName);
    if (r === undefined) return undefined;
    return {
      name: taskName,
      phase: r.phase,
      sourceIdentity: r.sourceIdentity,
      slotName: r.slotName,
      publicationName: r.publicationName,
      slotLsn: r.slotLsn === undefined ? undefined : (BigInt(r.slotLsn) as Lsn),
      publicationCreated: r.publicationCreated,
      slotCreated: r.slotCreated,
    };
  }

  async createTask(taskName: string): Promise<void> {
    await this.ready();
    if (this.taskRecord(taskName) === undefined) await this.updateTask(taskName, (r) => r);
  }

  async setSourceIdentity(taskName: string, identity: SourceIdentity): Promise<void> {
    await this.updateTask(taskName, (r) => ({ ...r, sourceIdentity: identity }));
  }

  async setPhase(taskName: string, phase: TaskPhase): Promise<void> {
    await this.updateTask(taskName, (r) => ({ ...r, phase }));
  }

  async setSlot(
    taskName: string,
    slot: {
      readonly slotName: string;
      readonly publicationName: string;
      readonly slotLsn: Lsn;
      readonly slotCreated: boolean;
    },
  ): Promise<void> {
    await this.updateTask(taskName, (r) => ({
      ...r,
      slotName: slot.slotName,
      publicationName: slot.publicationName,
      slotLsn: slot.slotLsn.toString(),
      slotCreated: slot.slotCreated,
    }));
  }

  async setPublicationCreated(taskName: string, publication: string, created: boolean): Promise<void> {
    await this.updateTask(taskName, (r) =>
      r.publicationCreated !== undefined
        ? r
        : { ...r, publicationName: publication, publicationCreated: created },
    );
  }

  async setError(taskName: string, message: string): Promise<void> {
    await this.updateTask(taskName, (r) => ({ ...r, error: message }));
  }

  async readTableSync(taskName: string): Promise<TableSyncRow[]> {
    await this.ready();
    const prefix = `${prefixOf(taskName)}table/`;
    const rows: TableSyncRow[] = [];
    for (const [k, v] of this.state) {
      if (!k.startsWith(prefix)) continue;
      const t = v as TableRecord;
      rows.push({
        schema: t.schema,
        name: t.name,
        state: t.state,
        snapshotLsn: t.snapshotLsn === undefined ? undefined : (BigInt(t.snapshotLsn) as Lsn),
        rangesTotal: t.rangesTotal,
        rows: t.rows,
        bytes: t.bytes,
      });
    }
    return rows.sort((a, b) => displayName(a).localeCompare(displayName(b)));
  }

  /**
   * Records tables as copying under `snapshotLsn` with no range done, in one transaction (full sync
   * restart, T2). With `keepEarliest`, a table keeps the earliest snapshot LSN it was copied under.
   */
  async restartTables(
    taskName: string,
    tables: readonly { readonly table: QualifiedName; readonly rangesTotal: number }[],
    snapshotLsn: Lsn | undefined,
    keepEarliest: boolean,
  ): Promise<void> {
    await this.write(taskName, () =>
      tables.map(({ table, rangesTotal }) => {
        const key = tableKey(taskName, table);
        const old = this.state.get(key) as TableRecord | undefined;
        let lsn = snapshotLsn?.toString();
        if (keepEarliest && old !== undefined) {
          lsn =
            old.snapshotLsn === undefined || lsn === undefined
              ? undefined
              : BigInt(old.snapshotLsn) < BigInt(lsn)
                ? old.snapshotLsn
                : lsn;
        }
        const value: TableRecord = {
          schema: table.schema,
          name: table.name,
          state: 'copying',
          ...(lsn !== undefined ? { snapshotLsn: lsn } : {}),
          rangesTotal,
          rangesDone: [],
          rows: 0,
          bytes: 0,
        };
        return { key, value };
      }),
    );
  }

  /**
   * The record marking range `rangeNo` of `table` done with `rows` and `bytes` more, and whether the
   * table is then done. Call inside the writer's {@link TaskWriter.exclusive} (read-modify-write).
   * @throws {PgdtsError} COPY_FAILED (not retryable) when the table was not restarted first.
   */
  rangeDone(
    taskName: string,
    table: QualifiedName,
    rangeNo: number,
    rows: number,
    bytes: number,
  ): { record: OffsetRecord; tableDone: boolean } {
    const key = tableKey(taskName, table);
    const old = this.state.get(key) as TableRecord | undefined;
    if (old === undefined) {
      throw new PgdtsError(
        'COPY_FAILED',
        `table ${displayName(table)} has no copy progress: it was not restarted`,
      );
    }
    const rangesDone = old.rangesDone.includes(rangeNo) ? old.rangesDone : [...old.rangesDone, rangeNo];
    const done = rangesDone.length >= old.rangesTotal;
    const value: TableRecord = {
      ...old,
      rangesDone,
      rows: old.rows + rows,
      bytes: old.bytes + bytes,
      state: done ? 'done' : 'copying',
    };
    return { record: { key, value }, tableDone: done };
  }

  async readAppliedPosition(taskName: string): Promise<AppliedPosition | undefined> {
    await this.ready();
    const p = this.state.get(`${prefixOf(taskName)}position`) as PositionRecord | undefined;
    if (p === undefined) return undefined;
    return { lsn: BigInt(p.lsn) as Lsn, commitTimeMs: p.commitTimeMs, tally: p.tally };
  }

  /** The record of an applied position. */
  positionRecord(taskName: string, p: AppliedPosition): OffsetRecord {
    const value: PositionRecord = {
      lsn: p.lsn.toString(),
      ...(p.commitTimeMs !== undefined ? { commitTimeMs: p.commitTimeMs } : {}),
      tally: p.tally,
    };
    return { key: `${prefixOf(taskName)}position`, value };
  }

  async writeStatus(taskName: string, status: StatusRow): Promise<void> {
    const value = JSON.parse(
      JSON.stringify({ ...status, atMs: Date.now() }, (_, v: unknown) =>
        typeof v === 'bigint' ? v.toString() : v,
      ),
    ) as unknown;
    await this.write(taskName, [{ key: `${prefixOf(taskName)}status`, value }]);
  }

  async deleteTask(taskName: string): Promise<void> {
    await this.ready();
    const prefix = prefixOf(taskName);
    await this.write(taskName, () =>
      [...this.state.keys()].filter((k) => k.startsWith(prefix)).map((key) => ({ key, value: undefined })),
    );
  }

  async writeSchemaReport(taskName: string, rows: readonly SchemaReportRow[]): Promise<void> {
    await this.write(taskName, [{ key: `${prefixOf(taskName)}schema-report`, value: rows }]);
  }

  async readSchemaReport(taskName: string): Promise<SchemaReportRow[]> {
    await this.ready();
    return (this.state.get(`${prefixOf(taskName)}schema-report`) as SchemaReportRow[] | undefined) ?? [];
  }

  /** Closes the writer. Never throws. */
  async close(): Promise<void> {
    await this.writer?.close();
    this.writer = undefined;
  }
}
