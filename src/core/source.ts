/**
 * The source side of a task, as the pipeline sees it: small capability interfaces that a source
 * connector implements (today only PostgreSQL, in `source/postgres/`). The pipeline never sees a
 * connection, a catalog query or a pgoutput message: it reads tables and schema, copies under a
 * snapshot, and consumes whole committed transactions from a change stream.
 *
 * Terminology
 * - replication slot: the source's record of how far a consumer has confirmed the change stream
 *   (PostgreSQL docs, "Replication Slots"); one per task.
 * - publication: the set of tables whose changes the slot's stream carries ("CREATE PUBLICATION").
 * - snapshot: a consistent read view; an exported snapshot's LSN splits history between the copy
 *   (transactions committed before it) and the change stream (those committing at or after it).
 * - acknowledged (confirmed) LSN: what the consumer reports as durably applied; the source may then
 *   recycle the WAL before it. Only the sink's durable position may be acknowledged.
 * - watermark: a position the stream guarantees it has delivered every transaction committing
 *   before (a keepalive's WAL end while no transaction is open).
 */
import type { Readable } from 'node:stream';
import type { Change, Relation, TransactionCommit, Tuple } from './change.ts';
import type { DdlEventPayload } from './ddl.ts';
import type { Lsn } from './lsn.ts';
import type { AccessRecipe, Precheck, ServerInfo } from './precheck.ts';
import type { ProgressListener } from './progress.ts';
import type { ReadSchemaOptions, SchemaModel } from './schema-model.ts';
import type { SourceSchemaLookup } from './schema-change.ts';
import type { QualifiedName } from './identifier.ts';
import type { SelectedTable, SequenceValue } from './selected-table.ts';
import type { TableTarget, TargetColumn } from './table-targets.ts';
import type { TableHasher } from './table-hash.ts';
import type { ObjectSelector, TaskConfig } from './task-config.ts';

/** Which cluster and history a source belongs to (PostgreSQL docs, IDENTIFY_SYSTEM). */
export interface SourceIdentity {
  /** The cluster's system identifier (pg_control), decimal text: differs for every initdb. */
  readonly systemId: string;
  /** WAL timeline: a restored backup or a promoted standby continues on a new timeline. */
  readonly timeline: number;
}

/**
 * A slice of a table to copy as one unit: all of it, a ctid block range `[fromBlock, toBlock)`, or an
 * integer key range `[from, to)`. Open ends (`undefined`) make sure no row is missed.
 */
export type CopyRange =
  | { readonly kind: 'all' }
  | { readonly kind: 'ctid'; readonly fromBlock: number; readonly toBlock: number | undefined }
  | {
      readonly kind: 'key';
      readonly column: string;
      readonly from: bigint | undefined;
      readonly to: bigint | undefined;
    };

/**
 * PostgreSQL COPY data format of a unit (PostgreSQL docs, "COPY", File Formats): `binary` when every
 * column has a built-in type (user type OIDs differ between servers and are embedded in binary
 * values), `text` otherwise.
 */
export type CopyFormat = 'binary' | 'text';

/**
 * One unit of the full sync: a range of a source table, the columns and rows it carries, where they
 * go, and how they are encoded.
 */
export interface CopyUnit {
  /** The source table (progress is kept under its name). */
  readonly table: SelectedTable;
  /** 0-based number of the range within its table. */
  readonly rangeNo: number;
  readonly range: CopyRange;
  readonly format: CopyFormat;
  /** Columns copied, in COPY order: source name and destination name. */
  readonly columns: readonly TargetColumn[];
  /** Row filter on the source columns, or undefined for every row. */
  readonly where: string | undefined;
  /** The destination table the rows go to. */
  readonly target: QualifiedName;
  /**
   * Type of each column of `columns`, in the same order (source type OID and atttypmod), for a sink
   * that decodes the rows (Kafka); undefined when the source did not say.
   */
  readonly columnTypes?: readonly ColumnType[];
}

/** A column's type on the source: pg_attribute.atttypid and atttypmod (-1 when none). */
export interface ColumnType {
  readonly typeOid: number;
  readonly typeModifier: number;
}

/** Options of {@link Snapshot.planUnits}: sizes in bytes. */
export interface PlanUnitsOptions {
  /** Tables bigger than this are split. */
  readonly splitAboveBytes: number;
  /** Target size of one range. */
  readonly rangeSizeBytes: number;
  /** Formats the sink can load; `binary` is used only when listed and possible. */
  readonly formats: readonly CopyFormat[];
  /**
   * Awaited (when it returns a promise) before each catalog query of the planning: the
   * `full.throttle.queriesPerSecond` limit.
   */
  readonly beforeStatement?: () => Promise<void> | undefined;
}

/** A connection bound to a snapshot, reading COPY data. One unit at a time. */
export interface SnapshotReader {
  /**
   * Starts copying `unit`; the stream yields COPY data bytes in `unit.format` and errors with a
   * PgdtsError (COPY_FAILED; retryable on connection loss; not retryable when the snapshot is gone).
   */
  copy(unit: CopyUnit): Readable;
  /** Closes the reader's connection. Never throws. */
  close(): Promise<void>;
}

/**
 * A snapshot the full sync copies under. It lives as long as the source connection that exported
 * it: release it after the copy.
 */
export interface Snapshot {
  /** Transactions committing at or after this LSN are not visible (undefined: plain snapshot, no slot). */
  readonly lsn: Lsn | undefined;
  /**
   * Splits the tables of `targets` into units (largest tables into ranges of about
   * `rangeSizeBytes`), each carrying its target's columns, row filter and destination.
   * @throws {PgdtsError} COPY_FAILED when the catalog cannot be read.
   */
  planUnits(targets: readonly TableTarget[], o: PlanUnitsOptions): Promise<CopyUnit[]>;
  /**
   * Opens a reader that sees exactly this snapshot.
   * @throws {PgdtsError} CONNECTION_FAILED, or COPY_FAILED (not retryable) when the snapshot is gone.
   */
  openReader(): Promise<SnapshotReader>;
  /** Closes the connection holding the snapshot; it becomes invalid. Never throws. */
  release(): Promise<void>;
}

/** Rows of one table whose row filter verdict is needed. */
export interface RowFilterRequest {
  /** The source table. */
  readonly table: QualifiedName;
  /** Its row filter: an SQL condition on its columns. */
  readonly where: string;
  /** The relation the tuples follow (column names, types and order). */
  readonly relation: Relation;
  readonly tuples: readonly Tuple[];
}

/** A snapshot that comes with a replication slot: its LSN is the slot's consistent point. */
export interface SlotSnapshot extends Snapshot {
  readonly lsn: Lsn;
}

/** State of the task's replication slot. */
export interface SlotInfo {
  /** The slot's confirmed flush LSN; undefined for a slot that never reached consistency. */
  readonly confirmedFlushLsn: Lsn | undefined;
  /** Held by a running walsender. */
  readonly active: boolean;
}

/** Where the task stands on the source (for status and lag). */
export interface SourcePosition {
  /** Current WAL write position of the source. */
  readonly currentLsn: Lsn;
  /** WAL the task's slot keeps from being recycled, bytes; undefined when the slot is missing. */
  readonly retainedWalBytes: number | undefined;
}

/**
 * An event of the change stream. Transactions arrive whole and in commit order: `begin`, its
 * `change`s, `commit`. Aborted transactions and aborted subtransactions never appear.
 */
export type ChangeEvent =
  | {
      readonly kind: 'begin';
      readonly xid: number;
      /** LSN of the transaction's commit record (known at Begin). */
      readonly finalLsn: Lsn;
      /** Commit time on the source, ms since the Unix epoch. */
      readonly commitTimeMs: number;
    }
  | {
      readonly kind: 'change';
      readonly change: Change;
      /** Size of the change on the wire, bytes (for batch size bounds). */
      readonly bytes: number;
    }
  | { readonly kind: 'commit'; readonly commit: TransactionCommit }
  | {
      /**
       * A DDL of the task's DDL capture, inside its transaction and in order with its rows (a
       * transactional logical decoding message; PostgreSQL docs, "Logical Replication Message
       * Formats", Message).
       */
      readonly kind: 'ddl';
      readonly ddl: DdlEventPayload;
    }
  | {
      readonly kind: 'watermark';
      /** Every transaction committing before this LSN has been delivered. */
      readonly lsn: Lsn;
    };

/** Whether a task's DDL capture is on ({@link ChangeCapture.ensureDdlCapture}). */
export type DdlCaptureState =
  { readonly on: true; readonly installedNow: boolean } | { readonly on: false; readonly reason: string };

/** Options of {@link ChangeCapture.openStream}. */
export interface OpenStreamOptions {
  /** Where to start reading; the source starts at its confirmed position when that is later. */
  readonly startLsn: Lsn;
  /** Transactions whose commit LSN is below this were applied already: they are not delivered. */
  readonly skipBefore: Lsn;
  /**
   * Transactions committed before this time (ms since the Unix epoch; the task's
   * `incremental.startTime`) are not delivered either.
   */
  readonly skipCommittedBeforeMs?: number | undefined;
  /** Receives the stream's log lines. */
  readonly onProgress: ProgressListener;
}

/** The task's last heartbeat through the change stream (task option `source.heartbeat`). */
export interface HeartbeatReading {
  /** From the heartbeat's commit on the source to its arrival in the stream, ms. */
  readonly lagMs: number;
  /** When it arrived, ms since the Unix epoch. */
  readonly receivedAtMs: number;
}

/**
 * A running change stream. The source connector keeps the server informed (standby status
 * updates) on its own timer, reporting as flushed only what {@link acknowledge} was given, so a long
 * destination wait or a long replay never trips the server's `wal_sender_timeout`.
 */
export interface ChangeStream {
  /** One line describing where and how the stream started, for the log. */
  readonly description: string;
  /**
   * Resolves with the events available now, waiting up to `maxWaitMs` for the first; an empty
   * array means nothing arrived in that time.
   * @throws {PgdtsError} REPLICATION_FAILED (retryable when the connection was lost), DECODE_FAILED.
   */
  read(maxWaitMs: number): Promise<readonly ChangeEvent[]>;
  /**
   * Reports `lsn` as durably applied: every transaction ending at or before it may be forgotten by
   * the source. Never moves backwards; must only be given the sink's durable position.
   */
  acknowledge(lsn: Lsn): void;
  /**
   * The task's last heartbeat received; undefined without a heartbeat or before the first. The
   * connector writes heartbeats while the stream is idle, and never delivers their changes.
   */
  readonly lastHeartbeat: HeartbeatReading | undefined;
  /** Ends the stream and closes its connection. Never throws. */
  close(): Promise<void>;
}

/** Replication slot and publication of the task, and the change stream they feed. */
export interface ChangeCapture {
  /** The replication slot name, for messages. */
  readonly slotName: string;
  /** The publication name, for messages. */
  readonly publicationName: string;
  /**
   * Checks, before anything is touched, that the source can do what the task's change capture
   * options ask (e.g. the kind of heartbeat).
   * @throws {PgdtsError} SOURCE_UNSUPPORTED (not retryable) naming the option and the fix;
   *   CONNECTION_FAILED.
   */
  checkOptions(): Promise<void>;
  /**
   * Creates the publication for `tables` or adds the missing ones to it. Must run before the slot is
   * created: pgoutput reads publications with the historic snapshot of the WAL it decodes. A
   * publication that already covers every table (one a DBA made) is left as it is. The connector
   * adds what it needs of its own (a heartbeat table, created first when missing). A table joining
   * the sync while streaming is added the same way (`ALTER PUBLICATION ... ADD TABLE`, with its row
   * filter on PostgreSQL 15+), before the temporary slot it is copied under (task invariant T11).
   * @returns whether it was created now.
   * @throws {PgdtsError} REPLICATION_FAILED (e.g. not the owner of a table).
   */
  ensurePublication(
    tables: readonly SelectedTable[],
    rowFilters: ReadonlyMap<string, string>,
  ): Promise<{ readonly created: boolean }>;
  /**
   * The tables (as `schema.name`, the name the stream gives their changes) whose rows the
   * publication filters itself, with the filter as the server prints it: their changes arrive
   * transformed by the filter already. Others' filters are for the pipeline to apply.
   */
  publicationRowFilters(): Promise<ReadonlyMap<string, string>>;
  /** The task's slot, or undefined when it does not exist. */
  readSlot(): Promise<SlotInfo | undefined>;
  /**
   * Installs (or reinstalls when missing) the task's DDL capture: an event trigger on
   * `ddl_command_end` and `sql_drop` whose function writes each DDL on the selected schemas into the
   * WAL as a transactional logical decoding message, received in the stream as `ddl` events. Must run
   * before the slot is created (a DDL between the two would be lost). Without the privilege (event
   * triggers need a superuser) or the server support (messages: PostgreSQL 14+), nothing is installed.
   * @returns whether the capture is on, and why not.
   * @throws {PgdtsError} REPLICATION_FAILED when the installation fails otherwise.
   */
  ensureDdlCapture(): Promise<DdlCaptureState>;
  /**
   * Creates the task's slot and exports its snapshot.
   * @throws {PgdtsError} REPLICATION_FAILED (slot exists, no free slot, wal_level not logical).
   */
  createSlot(): Promise<SlotSnapshot>;
  /**
   * Takes over the slot the task streams but did not create (`incremental.existingSlot`), after
   * checking the source can stream it for this task (the connector's rules: for PostgreSQL a
   * logical pgoutput slot of the task's database, with its WAL, that no other consumer holds).
   * @returns its confirmed position: where streaming starts.
   * @throws {PgdtsError} SOURCE_UNSUPPORTED (not retryable) naming what is wrong and the fix;
   *   REPLICATION_FAILED when the slot cannot be read.
   */
  adoptSlot(): Promise<Lsn>;
  /**
   * A fresh snapshot with a known LSN, from a temporary slot that disappears with its connection
   * (`CREATE_REPLICATION_SLOT ... TEMPORARY LOGICAL pgoutput` exporting its snapshot; PostgreSQL docs,
   * "Streaming Replication Protocol"): for resuming a copy whose first snapshot is gone, and for
   * copying a table that joins while streaming (T11). Its LSN is the slot's consistent point: the
   * snapshot sees exactly the transactions committed before it, so it is consistent with commit
   * order (a `pg_export_snapshot()` paired with `pg_current_wal_lsn()` is not).
   * @throws {PgdtsError} REPLICATION_FAILED (no free replication slot, wal_level not logical).
   */
  createTemporarySnapshot(): Promise<SlotSnapshot>;
  /**
   * Starts streaming the slot. A walsender of an earlier, killed run of this task still holding the
   * slot is terminated first (the caller holds the task's lease, so no live run can own it).
   * @throws {PgdtsError} REPLICATION_FAILED, CONNECTION_FAILED.
   */
  openStream(o: OpenStreamOptions): Promise<ChangeStream>;
  /** The source's WAL position and the slot's retained WAL. */
  position(): Promise<SourcePosition>;
  /**
   * With `dropSlot`, drops the slot (terminating a walsender holding it) and, with
   * `dropPublication`, the publication; safe twice.
   */
  release(o: { readonly dropSlot: boolean; readonly dropPublication: boolean }): Promise<{
    readonly slotDropped: boolean;
    readonly publicationDropped: boolean;
    /** The task's DDL capture (event trigger and function) was there and is gone. */
    readonly ddlCaptureDropped: boolean;
  }>;
}

/**
 * A source connector. Methods connect lazily and reconnect after a lost connection, so a retried
 * step works again; errors are PgdtsErrors that say whether they are retryable.
 */
export interface Source {
  /** `user@host:port/database`, never with the password. */
  readonly description: string;
  /**
   * Version and session user of the server.
   * @throws {PgdtsError} CONNECTION_FAILED naming host, port and cause.
   */
  serverInfo(): Promise<ServerInfo>;
  /** System identifier and timeline of the cluster. */
  identity(): Promise<SourceIdentity>;
  /**
   * Resolves the selection into tables (partitioned tables with their partitions), by schema and name.
   * @throws {PgdtsError} CONFIG_INVALID when a selected schema or table does not exist.
   */
  listTables(objects: readonly ObjectSelector[]): Promise<SelectedTable[]>;
  /**
   * Reads the selected objects' definitions; with `options`, their owners and privileges and the
   * roles those name too. @throws {PgdtsError} SCHEMA_SYNC_FAILED.
   */
  readSchema(objects: readonly ObjectSelector[], options?: ReadSchemaOptions): Promise<SchemaModel>;
  /** Current values of the selected sequences. */
  readSequences(objects: readonly ObjectSelector[]): Promise<SequenceValue[]>;
  /** A plain snapshot (no slot): enough for a consistent full sync without incremental. */
  createPlainSnapshot(): Promise<Snapshot>;
  /** The task's slot and publication. */
  readonly changes: ChangeCapture;
  /** Opens a session hashing table contents (verify). */
  openHasher(): Promise<TableHasher>;
  /**
   * Checks a row filter on its table; returns the columns it references, sorted.
   * @throws {ConfigError} at `path` when the source does not accept it as a condition on the table.
   */
  checkRowFilter(table: QualifiedName, where: string, path: string): Promise<readonly string[]>;
  /**
   * Evaluates a row filter on decoded rows (for tables whose publication does not filter them).
   * @returns one verdict per tuple, in order: true when the condition is true (NULL is false).
   * @throws {PgdtsError} REPLICATION_FAILED (retryable on connection loss).
   */
  evaluateRowFilter(req: RowFilterRequest): Promise<boolean[]>;
  /** Column facts for following schema changes from the stream; undefined when not supported. */
  readonly schemaLookup?: SourceSchemaLookup;
  /** The checks of the source side, in report order. */
  prechecks(): readonly Precheck[];
  /**
   * The grants the task's source user needs for `task` on the selected tables (`targets`), and the
   * publication made for it by its owner (so that the user needs no ownership), with the row filters.
   */
  accessRecipe(task: TaskConfig, targets: readonly TableTarget[]): Promise<AccessRecipe>;
  /** Closes every connection. Never throws. */
  close(): Promise<void>;
}
