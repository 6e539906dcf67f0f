/**
 * The destination side of a task, as the pipeline sees it: a checkpoint store, and capabilities a
 * sink connector offers (today PostgreSQL, in `sink/postgres/`; Kafka implements the same
 * interfaces without touching the pipeline). A capability a sink lacks is `undefined`, and a task
 * that needs it is refused before anything runs.
 *
 * Terminology
 * - checkpoint: what a task has durably done (phase, copied ranges, applied LSN), kept by the sink so
 *   a run resumes from any machine and progress commits with the data it describes.
 * - applied position: end LSN of the last source transaction whose changes the sink has committed;
 *   committed in the same destination transaction as those changes (exactly-once).
 * - durable position: the applied position the sink can no longer lose in a crash of the destination.
 *   Only it may be acknowledged to the source.
 * - lease: the right to run a task; one runner at a time.
 */
import type { Readable } from 'node:stream';
import type { Change, TransactionCommit } from './change.ts';
import type { QualifiedName } from './identifier.ts';
import type { Lsn } from './lsn.ts';
import type { DdlBookkeeping, DdlChange, DdlOrigin } from './ddl.ts';
import type { AccessRecipe, Precheck, ServerInfo } from './precheck.ts';
import type { SchemaModel } from './schema-model.ts';
import type { DestinationSchemaChanges } from './schema-change.ts';
import type { SequenceValue } from './selected-table.ts';
import type { TableTarget } from './table-targets.ts';
import type { Operation, TaskConfig } from './task-config.ts';
import type { CopyFormat, CopyUnit, SourceIdentity } from './source.ts';
import type { RowRepairer } from './row-repairer.ts';
import type { TableHasher } from './table-hash.ts';
import type { VerifyProgressBook } from './verify-progress-book.ts';

/**
 * Phases of a task, in order (see src/pipeline/task-lifecycle.md).
 * - `new`: nothing done; `schema`: pre-data DDL applied; `copied`: every table copied;
 * - `indexed`: post-data DDL (indexes, foreign keys) applied and sequences set: full sync done;
 * - `streaming`: incremental sync has started.
 */
export type TaskPhase = 'new' | 'schema' | 'copied' | 'indexed' | 'streaming';

/** The task's checkpoint row. */
export interface TaskCheckpoint {
  readonly name: string;
  readonly phase: TaskPhase;
  /** The source cluster the destination was filled from; undefined when never recorded. */
  readonly sourceIdentity: SourceIdentity | undefined;
  readonly slotName: string | undefined;
  readonly publicationName: string | undefined;
  /** Consistent point of the task's replication slot: where incremental sync starts. */
  readonly slotLsn: Lsn | undefined;
  /** pgdts created the publication (true), found it made by someone else (false), or never recorded. */
  readonly publicationCreated: boolean | undefined;
  /** pgdts created the slot (true), streams one it did not create (false), or never recorded. */
  readonly slotCreated: boolean | undefined;
}

/** Copy progress of one table. */
export interface TableSyncRow extends QualifiedName {
  readonly state: 'copying' | 'done';
  /** LSN of the snapshot the table was copied under (undefined: plain snapshot). */
  readonly snapshotLsn: Lsn | undefined;
  readonly rangesTotal: number;
  readonly rows: number;
  /** COPY bytes loaded. */
  readonly bytes: number;
}

/**
 * Changes incremental sync received but did not apply as such, counted exactly once: kept with the
 * applied position, in the destination transaction of the batch they belong to.
 */
export interface ApplyTally {
  /** Changes dropped because their operation is not in the table's `operations`, by operation. */
  readonly skipped: Readonly<Record<Operation, number>>;
  /** DELETEs that found no row under `onConflict: overwrite` (counted, not an error). */
  readonly missingDeletes: number;
}

/** An empty {@link ApplyTally}. */
export const EMPTY_TALLY: ApplyTally = {
  skipped: { insert: 0, update: 0, delete: 0, truncate: 0 },
  missingDeletes: 0,
};

/** Position durably applied: end LSN of the last applied source transaction. */
export interface AppliedPosition {
  readonly lsn: Lsn;
  /** Source commit time of that transaction, ms since the Unix epoch; undefined when never recorded. */
  readonly commitTimeMs: number | undefined;
  /** What the task's applied batches skipped, since the task started. */
  readonly tally: ApplyTally;
}

/** Running status written periodically for other tools to read. */
export interface StatusRow {
  readonly phase: string;
  readonly sourceLsn?: Lsn | undefined;
  readonly flushedLsn?: Lsn | undefined;
  readonly lagBytes?: number | undefined;
  readonly lagMs?: number | undefined;
  readonly rowsPerSec?: number | undefined;
  readonly retainedWalBytes?: number | undefined;
  readonly rowsApplied?: number | undefined;
  readonly tally?: ApplyTally | undefined;
  /** Lag of the last heartbeat received, ms (task option `source.heartbeat`). */
  readonly heartbeatLagMs?: number | undefined;
}

/** The right to run one task, held until released. */
export interface TaskLease {
  /**
   * Checks the lease is still held, re-taking it after a lost connection.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT (not retryable) when another run took the task
   *   meanwhile; retryable CONNECTION_FAILED when the store cannot be reached.
   */
  check(): Promise<void>;
  /** Gives the lease up. Never throws. */
  release(): Promise<void>;
}

/** Where a task's checkpoints live (the `pgdts` schema of a PostgreSQL destination). */
export interface CheckpointStore {
  /**
   * Creates or migrates the bookkeeping; idempotent and safe to run concurrently.
   * @throws {PgdtsError} DESTINATION_UNSUPPORTED (e.g. no privilege to create it).
   */
  ensure(): Promise<void>;
  /**
   * Takes the task's lease: one run of a task at a time.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT (not retryable) when another run holds it.
   */
  acquireLease(taskName: string): Promise<TaskLease>;
  readTask(taskName: string): Promise<TaskCheckpoint | undefined>;
  /** Creates the task's row (phase `new`) if missing. */
  createTask(taskName: string): Promise<void>;
  /** Records the source cluster the destination is being filled from. */
  setSourceIdentity(taskName: string, identity: SourceIdentity): Promise<void>;
  setPhase(taskName: string, phase: TaskPhase): Promise<void>;
  /**
   * Records the task's slot and publication, where streaming starts (a created slot's consistent
   * point, an existing slot's confirmed position), and whether pgdts created the slot (release
   * drops it only then).
   */
  setSlot(
    taskName: string,
    slot: {
      readonly slotName: string;
      readonly publicationName: string;
      readonly slotLsn: Lsn;
      readonly slotCreated: boolean;
    },
  ): Promise<void>;
  /**
   * Records whether pgdts created the task's publication `publication` (release drops it only then);
   * the first record is kept.
   */
  setPublicationCreated(taskName: string, publication: string, created: boolean): Promise<void>;
  /** Records the last error (already free of passwords). */
  setError(taskName: string, message: string): Promise<void>;
  readTableSync(taskName: string): Promise<TableSyncRow[]>;
  readAppliedPosition(taskName: string): Promise<AppliedPosition | undefined>;
  writeStatus(taskName: string, status: StatusRow): Promise<void>;
  /** Deletes every checkpoint of the task (release). Safe when none exists. */
  deleteTask(taskName: string): Promise<void>;
  /**
   * Records what schema sync did to each object (one row per phase, kind and object; a later run
   * replaces its rows), so the report outlives the run's log.
   */
  writeSchemaReport(taskName: string, rows: readonly SchemaReportRow[]): Promise<void>;
  /** The recorded schema report, ordered by phase, kind and object. */
  readSchemaReport(taskName: string): Promise<SchemaReportRow[]>;
}

/**
 * One line of the schema sync report: `created` (its statement ran), `skipped` (the object exists
 * already), `refused` (not created, with the reason: an extension the destination does not have,
 * a role it lacks, an object kind schema sync does not carry).
 */
export interface SchemaReportRow {
  /** `pre-data`, `post-data`, or `table-join` (a table that joined during incremental sync). */
  readonly phase: 'pre-data' | 'post-data' | 'table-join';
  /** Statement kind (`table`, `index`, ...) or the refused object's kind (`text-search-parser`). */
  readonly kind: string;
  readonly object: string;
  readonly outcome: 'created' | 'skipped' | 'refused';
  /** Why it was refused or skipped, as the log said it; undefined for created objects. */
  readonly reason: string | undefined;
}

/** What happened to one schema statement. */
export interface SchemaEvent {
  /** `applied`; `exists`: its object already existed; `unavailable`: e.g. an extension the destination lacks. */
  readonly outcome: 'applied' | 'exists' | 'unavailable';
  /** What the statement does, e.g. `table`, `index`, `primary-key`, `comment`, `extension`. */
  readonly kind: string;
  /** The object it creates or alters, e.g. `table "sales"."orders"`. */
  readonly object: string;
  /** Human-readable line for the log. */
  readonly message: string;
  /** Wall time, ms. */
  readonly elapsedMs: number;
  /**
   * Roles the destination lacks, for which an owner or privilege statement was skipped
   * (`schema.owners`, `schema.privileges`): the log names each role once, not each object.
   */
  readonly missingRoles?: readonly string[];
}

/** Creates schema objects from the schema model (pre-data before the copy, post-data after it). */
export interface SchemaWriter {
  /** @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the object whose DDL failed. */
  applyPreData(model: SchemaModel, onEvent: (e: SchemaEvent) => void): Promise<void>;
  /** Secondary indexes, foreign keys, triggers, materialized view refreshes, on `jobs` connections. */
  applyPostData(model: SchemaModel, jobs: number, onEvent: (e: SchemaEvent) => void): Promise<void>;
  /**
   * Which roles of `names` the destination lacks (pgdts never creates roles), and which of the
   * others its user is not a member of (nor superuser), each sorted: for the owners and grantees of
   * `schema.owners` / `schema.privileges`.
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  inspectRoles(names: readonly string[]): Promise<{ missing: string[]; notMember: string[] }>;
  /**
   * Whether the destination can have each extension of `names`, sorted by name: for the precheck
   * of schema sync (an object using an extension the destination lacks cannot be created).
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  inspectExtensions(names: readonly string[]): Promise<ExtensionAvailability[]>;
  /**
   * What of `model` schema sync could not create on the destination because it is made of C or
   * `LANGUAGE internal` code or needs a superuser (functions with `RoutineDef.native`, shell
   * and base types, text search parsers and templates), each with the reason: the destination user
   * is not superuser, or a C function's library or symbol, or a built-in function, is missing there.
   * Objects already there (an equal function, a type or parser of that name) are not listed.
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  inspectNativeObjects(model: SchemaModel): Promise<{ readonly object: string; readonly reason: string }[]>;
}

/**
 * One extension on the destination (PostgreSQL docs, "pg_available_extensions",
 * "pg_available_extension_versions", "CREATE EXTENSION"): `installed` in the database (at
 * `version`); `creatable` (its files are on the server and the user may create it: a superuser, or a
 * trusted extension and CREATE on the database); `not-creatable` (files there, the user may not);
 * `unavailable` (no files on the server).
 */
export type ExtensionAvailability =
  | { readonly name: string; readonly state: 'installed'; readonly version: string }
  | { readonly name: string; readonly state: 'creatable'; readonly version: string }
  | { readonly name: string; readonly state: 'not-creatable'; readonly version: string }
  | { readonly name: string; readonly state: 'unavailable' };

/** A table to (re)start copying. */
export interface TableRestart {
  /** The source table: its progress is kept under this name. */
  readonly table: QualifiedName;
  /** The destination table its rows go to (emptied unless the copy keeps existing rows). */
  readonly target: QualifiedName;
  readonly rangesTotal: number;
}

/** How full sync treats rows the destination holds already (`conflictingTables`). */
export interface LoadMode {
  /**
   * Keep destination rows: tables are not emptied on (re)start and a copied row whose key exists is
   * skipped (`conflictingTables: ignore`). Otherwise tables are emptied and a duplicate key fails.
   */
  readonly keepExisting: boolean;
}

/** One connection loading full-sync units. */
export interface RowWriter {
  /**
   * Loads one unit's COPY data and records the range as done in the same transaction, so a unit is
   * loaded exactly when it is recorded.
   * `onBytes` is called as COPY data passes (bytes so far, for progress).
   * @returns rows and COPY bytes loaded, and whether the table is now completely copied.
   * @throws {PgdtsError} COPY_FAILED (retryable on connection loss); the unit's rows are not kept.
   */
  load(
    taskName: string,
    unit: CopyUnit,
    data: Readable,
    onBytes: (bytesSoFar: number) => void,
    mode: LoadMode,
  ): Promise<{ rows: number; bytes: number; tableDone: boolean }>;
  /**
   * Loads several whole-table units in one transaction and records all their ranges in one progress
   * write committed with their rows, so the batch is loaded exactly when it is recorded (task
   * invariant T1): a crash leaves each of its tables either wholly copied and done, or not copied.
   * Thousands of small tables then cost one transaction per batch rather than per table.
   * `open` gives a unit's COPY data; it is called for one unit at a time, once the previous unit's
   * data is loaded. `onBytes` is called as COPY data passes (the unit, bytes of it so far).
   * Optional: a writer without it gets units one at a time through {@link load}.
   * @returns per unit, in order: rows and COPY bytes loaded, and whether its table is now completely
   *   copied.
   * @throws {PgdtsError} COPY_FAILED (retryable on connection loss): no row of the batch is kept;
   *   whatever `open` throws (e.g. CancelledError), after rolling the batch back.
   */
  loadBatch?(
    taskName: string,
    units: readonly CopyUnit[],
    open: (unit: CopyUnit) => Promise<Readable>,
    onBytes: (unit: CopyUnit, bytesSoFar: number) => void,
    mode: LoadMode,
  ): Promise<{ rows: number; bytes: number; tableDone: boolean }[]>;
  /** Closes the connection. Never throws. */
  close(): Promise<void>;
}

/** Loads full-sync data. */
export interface RowLoader {
  /** COPY formats the loader accepts, preferred first. */
  readonly formats: readonly CopyFormat[];
  /**
   * Empties the targets of `tables` and records them as copying under `snapshotLsn` with no range
   * done, in one transaction, so rows copied under an older snapshot never survive a restart. With
   * `keepExisting` nothing is emptied, and a table restarted keeps the earliest snapshot LSN it was
   * ever copied under (its stale rows are then brought up to date by the change stream from there).
   */
  restartTables(
    taskName: string,
    tables: readonly TableRestart[],
    snapshotLsn: Lsn | undefined,
    mode: LoadMode,
  ): Promise<void>;
  openWriter(): Promise<RowWriter>;
  /**
   * The tables of `tables` that do not exist in the destination (as a table or partitioned table),
   * in order: a table joining the sync while streaming needs its destination table.
   * @throws {PgdtsError} COPY_FAILED (retryable on connection loss) when the catalog cannot be read.
   */
  missingTables(tables: readonly QualifiedName[]): Promise<QualifiedName[]>;
}

/** Start of a source transaction. */
export interface SourceTransactionBegin {
  readonly xid: number;
  /** Commit LSN of the transaction, known at Begin. */
  readonly finalLsn: Lsn;
  /** Commit time on the source, ms since the Unix epoch (known at Begin); undefined when not told. */
  readonly commitTimeMs?: number;
}

/** What {@link ChangeApplier.commitBatch} committed. */
export interface AppliedBatch {
  /** End LSN of the last source transaction now committed on the destination. */
  readonly appliedLsn: Lsn;
  /** Its source commit time, ms since the Unix epoch; undefined when none was ever recorded. */
  readonly commitTimeMs: number | undefined;
  /** The task's tally including this batch. */
  readonly tally: ApplyTally;
}

/** How far the sink's commits are safe from a destination crash. */
export interface DurablePosition {
  /** End LSN of the last source transaction whose destination commit is durable. */
  readonly lsn: Lsn | undefined;
  /** True when every batch committed so far is durable. */
  readonly complete: boolean;
}

/**
 * Applies committed source transactions exactly once. Call order: for each source transaction
 * `beginTransaction`, `add`*, `commitTransaction`; `commitBatch` at a transaction boundary makes the
 * batch and its applied position committed together. After any error call `rollback()` and replay
 * from the committed applied position.
 */
export interface ChangeApplier {
  /** The applied position committed before this applier started, if any. */
  readonly startPosition: AppliedPosition | undefined;
  /** What the operator should know about how changes are applied (e.g. triggers stay active). */
  readonly warnings: readonly string[];
  beginTransaction(begin: SourceTransactionBegin): void;
  /**
   * Buffers a change of the current transaction. Returns a promise only when it flushes to the
   * destination (await it then).
   * @throws {PgdtsError} APPLY_FAILED / APPLY_CONFLICT from a flush.
   */
  add(change: Change): Promise<void> | undefined;
  /**
   * Counts a change of the current transaction that is not applied because the table's
   * `operations` leave its operation out; committed with the batch, so counted exactly once.
   */
  skip(operation: Operation): void;
  commitTransaction(commit: TransactionCommit): void;
  /**
   * Makes `changes` (a source DDL, mapped onto destination names) inside the open destination
   * transaction of the current source transaction, after the rows buffered before it: the DDL
   * commits atomically with the rows and the applied position. Each change is skipped when its effect
   * is there already (a replay after a crash or after a manual fix). The destination table cache is
   * refreshed afterwards. `bookkeeping` updates the task's copy progress in the same transaction.
   * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the statement, the error and `origin` (retryable
   *   within `retry.otherMinutes`, or the connection window on connection loss).
   */
  applyDdl(
    changes: readonly DdlChange[],
    origin: DdlOrigin,
    bookkeeping?: readonly DdlBookkeeping[],
  ): Promise<void>;
  /**
   * Commits every complete source transaction added so far with their applied position.
   * @throws {PgdtsError} APPLY_FAILED (retryable on connection loss, deadlock...), APPLY_CONFLICT
   *   when an UPDATE or DELETE found no row.
   */
  commitBatch(): Promise<AppliedBatch>;
  /** Transactions and changes held since the last commitBatch. */
  readonly pendingTransactions: number;
  /**
   * The durable position; may ask the destination how far its log is flushed.
   * @throws {PgdtsError} APPLY_FAILED (retryable on connection loss).
   */
  durablePosition(): Promise<DurablePosition>;
  /** Drops everything not committed. Never throws. */
  rollback(): Promise<void>;
  /** Reads and alters destination tables inside the open transaction; undefined when not supported. */
  readonly schemaChanges?: DestinationSchemaChanges;
  /** Closes the applier's connections. Never throws. */
  close(): Promise<void>;
}

/** Options of {@link Sink.openApplier}. */
export interface OpenApplierOptions {
  /**
   * Apply changes at or below this LSN one statement per row, so that a row an UPDATE or DELETE
   * does not find is named exactly (see ApplyConflictError.locateUpTo).
   */
  readonly singleRowUpTo?: Lsn;
  /**
   * `error` (default): an UPDATE or DELETE that finds no row stops the batch (APPLY_CONFLICT).
   * `overwrite`: an INSERT whose key exists updates the row, an UPDATE whose row is missing inserts
   * it (when the source sent every column), a DELETE whose row is missing is counted.
   */
  readonly onConflict?: 'error' | 'overwrite';
  /**
   * The primary key of a destination table, as destination column names (`[]`: none), or
   * undefined when the table is not selected. Read on each call (tables join while streaming).
   * Sinks whose records are keyed by the primary key rather than the replica identity use it: the
   * Kafka sink (Debezium keys events by the primary key, also under REPLICA IDENTITY FULL).
   */
  readonly primaryKeyOf?: (table: QualifiedName) => readonly string[] | undefined;
  /**
   * The destination tables selected when the applier opens. Sinks that make an object per table on
   * first use (the Kafka sink's topics) make them before the applier is returned, so the first
   * change of a table does not wait for it while later transactions queue behind.
   */
  readonly tables?: readonly QualifiedName[];
}

/** Sets sequence positions. */
export interface SequenceWriter {
  /** Moves each sequence forward to its source value (never backwards); returns those missing. */
  setSequences(values: readonly SequenceValue[]): Promise<QualifiedName[]>;
}

/** Options of {@link Sink.openHasher}. */
export interface OpenHasherOptions {
  /**
   * The task whose incremental sync writes the compared tables: the session's snapshots then report
   * the task's position ({@link TableHasher.beginSnapshot}, {@link TableHasher.taskPosition}).
   */
  readonly taskName?: string;
}

/** A sink connector. Methods connect lazily and reconnect after a lost connection. */
export interface Sink {
  /** How the destination appears in messages, never with a password. */
  readonly description: string;
  /** @throws {PgdtsError} CONNECTION_FAILED naming host, port and cause. */
  serverInfo(): Promise<ServerInfo>;
  readonly checkpoints: CheckpointStore;
  /** Schema sync; undefined when the destination has no schema to create. */
  readonly schema: SchemaWriter | undefined;
  /** Full sync loading; undefined when not supported. */
  readonly rows: RowLoader | undefined;
  /** Sequence values; undefined when the destination has no sequences. */
  readonly sequences: SequenceWriter | undefined;
  /**
   * Opens an applier for incremental sync, holding its own connection(s).
   * @throws {PgdtsError} CONNECTION_FAILED, DESTINATION_UNSUPPORTED.
   */
  openApplier(taskName: string, o?: OpenApplierOptions): Promise<ChangeApplier>;
  /** Opens a session hashing table contents (verify); undefined when not supported. */
  readonly openHasher: ((o?: OpenHasherOptions) => Promise<TableHasher>) | undefined;
  /**
   * Opens a session applying verify's row repairs; undefined when not supported.
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  readonly openRepairer: (() => Promise<RowRepairer>) | undefined;
  /** Where a verification's progress is saved for `pgdts verify --resume`; undefined when nowhere. */
  readonly verifyProgress: VerifyProgressBook | undefined;
  /** The checks of the destination side, in report order. */
  prechecks(): readonly Precheck[];
  /**
   * The grants the task's destination user needs for `task` on the destination tables of `targets`;
   * `ownerRoles`: roles it must be a member of to give objects to them (`schema.owners`) or set their
   * default privileges (`schema.privileges`), as the source names them.
   */
  accessRecipe(
    task: TaskConfig,
    targets: readonly TableTarget[],
    ownerRoles?: readonly string[],
  ): Promise<AccessRecipe>;
  /** Closes every connection. Never throws. */
  close(): Promise<void>;
}
