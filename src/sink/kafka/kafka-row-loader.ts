/**
 * Full sync into Kafka: every copied row becomes a Debezium read event (`op: r`,
 * `source.snapshot: "true"`) on its table's topic. A unit's rows are sent by the idempotent
 * producer (`acks=all`); once the broker acknowledged all of them, the unit is recorded done in the
 * offsets topic. A table whose copy is restarted (its snapshot is gone, T2) is sent again from its
 * first row: its read events repeat, in both delivery modes, as a restarted Debezium snapshot's do
 * (kafka-sink.md).
 */
import type { Readable } from 'node:stream';
import type { MessageToProduce } from '@platformatic/kafka';
import { PgdtsError } from '../../core/errors.ts';
import type { QualifiedName } from '../../core/identifier.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { CopyFormat, CopyUnit } from '../../core/source.ts';
import type { LoadMode, RowLoader, RowWriter, TableRestart } from '../../core/sink.ts';
import type { ChangeEventEncoder, EventSource, EventTable } from './change-event.ts';
import { CopyTextRows } from './copy-text-rows.ts';
import type { EventRouter, RoutedTopic } from './event-router.ts';
import type { IdempotentSender } from './idempotent-sender.ts';
import { kafkaError } from './kafka-client.ts';
import type { KafkaCheckpointStore } from './kafka-checkpoint-store.ts';

/** Rows sent per produce call. */
const SEND_EVERY_ROWS = 2_000;

/** Collaborators of {@link KafkaRowLoader}. */
export interface KafkaRowLoaderParts {
  readonly store: KafkaCheckpointStore;
  readonly encoder: ChangeEventEncoder;
  readonly router: EventRouter;
  /** The idempotent producer (shared with the change applier's at-least-once events). */
  readonly sender: IdempotentSender;
}

/**
 * The key columns of a copied table, as its change events' keys have them: the primary key (as
 * Debezium, also under REPLICA IDENTITY FULL); without one, the replica identity index columns, or
 * none.
 */
function keyColumnsOf(unit: CopyUnit): ReadonlySet<string> {
  const t = unit.table;
  if (t.primaryKey.length > 0) return new Set(t.primaryKey);
  switch (t.replicaIdentity) {
    case 'default':
      return new Set(t.primaryKey);
    case 'index':
      return new Set(t.replicaIdentityIndexColumns);
    case 'full':
    case 'nothing':
      return new Set();
  }
}

/** The event table of a unit: destination names, source types, replica identity key. */
function eventTableOf(unit: CopyUnit): EventTable {
  const keys = keyColumnsOf(unit);
  return {
    schema: unit.target.schema,
    name: unit.target.name,
    columns: unit.columns.map((c, i) => ({
      name: c.target,
      typeOid: unit.columnTypes?.[i]?.typeOid ?? 25,
      typeModifier: unit.columnTypes?.[i]?.typeModifier ?? -1,
      isKey: keys.has(c.source),
    })),
  };
}

/** Loads full-sync units as read events (see the file comment). */
export class KafkaRowLoader implements RowLoader {
  readonly formats: readonly CopyFormat[] = ['text'];
  /** Snapshot LSN of each restarted table (`schema.name`), for `source.lsn`. */
  private readonly snapshotLsns = new Map<string, Lsn | undefined>();

  constructor(private readonly p: KafkaRowLoaderParts) {}

  async restartTables(
    taskName: string,
    tables: readonly TableRestart[],
    snapshotLsn: Lsn | undefined,
    mode: LoadMode,
  ): Promise<void> {
    // A topic cannot be emptied: read events of an earlier copy stay (kafka-sink.md).
    await this.p.store.restartTables(
      taskName,
      tables.map((t) => ({ table: t.table, rangesTotal: t.rangesTotal })),
      snapshotLsn,
      mode.keepExisting,
    );
    for (const t of tables) this.snapshotLsns.set(`${t.table.schema}.${t.table.name}`, snapshotLsn);
  }

  openWriter(): Promise<RowWriter> {
    return Promise.resolve({
      load: (taskName, unit, data, onBytes) => this.load(taskName, unit, data, onBytes),
      close: () => Promise.resolve(),
    });
  }

  missingTables(_tables: readonly QualifiedName[]): Promise<QualifiedName[]> {
    // Topics are created when their first event is sent.
    return Promise.resolve([]);
  }

  private async load(
    taskName: string,
    unit: CopyUnit,
    data: Readable,
    onBytes: (bytesSoFar: number) => void,
  ): Promise<{ rows: number; bytes: number; tableDone: boolean }> {
    if (unit.format !== 'text') {
      throw new PgdtsError('INTERNAL', `the Kafka sink reads COPY text, got ${unit.format}`);
    }
    const table = eventTableOf(unit);
    const lsn = this.snapshotLsns.get(`${unit.table.schema}.${unit.table.name}`) ?? null;
    const readAt = Date.now();
    const parser = new CopyTextRows();
    let rows = 0;
    let bytes = 0;
    let batch: MessageToProduce[] = [];
    /** The send of the previous batch, not awaited yet (its rejection is also kept by `.catch`). */
    let inFlight: Promise<void> | undefined;
    /**
     * Hands the batch to the sender and waits for the one before it: the rows of the next batch
     * are read and encoded while the broker acknowledges this one (waiting for each batch's
     * acknowledgement before reading on left the process idle a third of the time). At most two
     * batches are held (one sent, one queued behind it in the sender) besides the one being filled.
     */
    const send = async () => {
      const messages = batch;
      batch = [];
      const previous = inFlight;
      inFlight = undefined;
      if (messages.length > 0) {
        const p = this.p.sender.send(messages).catch((e: unknown) => {
          throw kafkaError(
            'COPY_FAILED',
            `send ${messages.length} read events of ${table.schema}.${table.name}`,
            e,
          );
        });
        // Handled here so that it is never an unhandled rejection when an earlier send failed
        // first and the loop ended; awaiting `inFlight` still throws it.
        p.catch(() => undefined);
        inFlight = p;
      }
      await previous;
    };
    // One source block for every row of the unit: the encoder writes its text once.
    const source: EventSource = { snapshot: 'true', tsMs: readAt, txId: null, lsn, lastCommitLsn: null };
    // The topic is found (and created when missing) at the first row, so an empty table makes
    // none, and the per-row path has no await after that.
    let topic: RoutedTopic | undefined;
    for await (const chunk of data as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      onBytes(bytes);
      for (const tuple of parser.push(chunk)) {
        let records;
        try {
          records = this.p.encoder.event(table, 'r', undefined, tuple, source);
        } catch (e) {
          throw new PgdtsError(
            'COPY_FAILED',
            `cannot encode a row of ${table.schema}.${table.name}: ${(e as Error).message}`,
            { cause: e },
          );
        }
        if (topic === undefined) topic = await this.p.router.topicOf(table);
        this.p.router.append(topic, records, batch);
        rows++;
        if (batch.length >= SEND_EVERY_ROWS) await send();
      }
    }
    if (parser.unfinished) {
      throw new PgdtsError(
        'COPY_FAILED',
        `the COPY data of ${table.schema}.${table.name} ended inside a row`,
        {
          retryable: true,
        },
      );
    }
    await send();
    await inFlight;
    const store = this.p.store;
    const writer = store.writerOf(taskName);
    const tableDone = await writer.exclusive(async () => {
      const r = store.rangeDone(taskName, unit.table, unit.rangeNo, rows, bytes);
      await writer.transaction(
        store.messagesOf([r.record]),
        `record the copy of ${table.schema}.${table.name}`,
      );
      store.apply([r.record]);
      return r.tableDone;
    });
    return { rows, bytes, tableDone };
  }
}
