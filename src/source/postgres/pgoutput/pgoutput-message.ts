/**
 * The messages of the pgoutput logical replication protocol, versions 1 to 4, as typed values.
 * Source: PostgreSQL docs, "Logical Replication Message Formats" and "Logical Streaming Replication
 * Protocol". Version 1: transactions (PostgreSQL 10+); version 2: streaming of in-progress transactions
 * (14+); version 3: two-phase commit (15+); version 4: abort LSN/time in Stream Abort when streaming is
 * `parallel` (16+).
 *
 * Conventions: LSNs are {@link Lsn}; times are ms since the Unix epoch (whole ms, from the wire's µs since
 * 2000-01-01); xids and OIDs are uint32 numbers. `xid` on change messages is present only inside a stream
 * block (between Stream Start and Stream Stop), as on the wire; it is the (sub)transaction that made the
 * change, so within a block it may differ from the Stream Start xid.
 */
import type { RelationColumn, ReplicaIdentity, UnchangedToast } from '../../../core/change.ts';
import type { Lsn } from '../../../core/lsn.ts';

/**
 * One column of a TupleData: `null` (`n`), {@link UNCHANGED_TOAST} (`u`, an unchanged TOASTed value
 * whose value was not sent), a string (`t`, text format, UTF-8) or a Buffer (`b`, binary format).
 */
export type PgoutputValue = string | null | UnchangedToast | Buffer;

/** Column values of a TupleData, in the column order of the Relation message. */
export type PgoutputTuple = readonly PgoutputValue[];

/** Begin (`B`): start of a transaction sent as a whole. */
export interface BeginMessage {
  readonly tag: 'begin';
  /** LSN of the commit record ("final LSN of the transaction"). */
  readonly finalLsn: Lsn;
  readonly commitTimeMs: number;
  readonly xid: number;
}

/** Commit (`C`). */
export interface CommitMessage {
  readonly tag: 'commit';
  /** LSN of the commit record. */
  readonly commitLsn: Lsn;
  /** End LSN of the transaction: the position to confirm once it is applied. */
  readonly endLsn: Lsn;
  readonly commitTimeMs: number;
}

/** Origin (`O`): the transaction was replayed from another node (replication origin). Never carries an xid. */
export interface OriginMessage {
  readonly tag: 'origin';
  /** LSN of the commit on the origin server. */
  readonly originLsn: Lsn;
  readonly name: string;
}

/** Relation (`R`): describes a relation before the first change to it (and after any change to its shape). */
export interface RelationMessage {
  readonly tag: 'relation';
  readonly xid?: number;
  /** Relation OID on the source. */
  readonly relationId: number;
  /** Schema name; empty for pg_catalog. */
  readonly namespace: string;
  readonly name: string;
  /** From the replica identity byte (d, n, f, i = pg_class.relreplident). */
  readonly replicaIdentity: ReplicaIdentity;
  /** Published columns; `isKey` from flags bit 1 (column is part of the replica identity key). */
  readonly columns: readonly RelationColumn[];
}

/** Type (`Y`): describes a non-built-in data type used by a following Relation. */
export interface TypeMessage {
  readonly tag: 'type';
  readonly xid?: number;
  readonly typeOid: number;
  /** Schema name; empty for pg_catalog. */
  readonly namespace: string;
  readonly name: string;
}

/** Insert (`I`). */
export interface InsertMessage {
  readonly tag: 'insert';
  readonly xid?: number;
  readonly relationId: number;
  readonly newTuple: PgoutputTuple;
}

/**
 * Update (`U`). `oldKind`/`oldTuple` are present together: `key` (`K`, the old replica identity key
 * changed; non-key columns are null) or `full` (`O`, REPLICA IDENTITY FULL: the whole old row).
 */
export interface UpdateMessage {
  readonly tag: 'update';
  readonly xid?: number;
  readonly relationId: number;
  readonly oldKind?: 'key' | 'full';
  readonly oldTuple?: PgoutputTuple;
  readonly newTuple: PgoutputTuple;
}

/** Delete (`D`): `oldKind` `key` (`K`) or `full` (`O`) as for {@link UpdateMessage}. */
export interface DeleteMessage {
  readonly tag: 'delete';
  readonly xid?: number;
  readonly relationId: number;
  readonly oldKind: 'key' | 'full';
  readonly oldTuple: PgoutputTuple;
}

/** Truncate (`T`): option bit 1 = CASCADE, bit 2 = RESTART IDENTITY. */
export interface TruncateMessage {
  readonly tag: 'truncate';
  readonly xid?: number;
  readonly relationIds: readonly number[];
  readonly cascade: boolean;
  readonly restartIdentity: boolean;
}

/** Message (`M`): a logical decoding message from `pg_logical_emit_message` (needs option `messages`). */
export interface LogicalMessage {
  readonly tag: 'message';
  readonly xid?: number;
  /** Part of the transaction (true) or sent immediately, outside any transaction (false). */
  readonly transactional: boolean;
  readonly lsn: Lsn;
  readonly prefix: string;
  /** Content bytes; shares memory with the decoded buffer. */
  readonly content: Buffer;
}

/** Stream Start (`S`, v2+): a block of changes of an in-progress transaction follows. */
export interface StreamStartMessage {
  readonly tag: 'stream-start';
  readonly xid: number;
  /** First block streamed for this transaction. */
  readonly firstSegment: boolean;
}

/** Stream Stop (`E`, v2+): end of a stream block. */
export interface StreamStopMessage {
  readonly tag: 'stream-stop';
}

/** Stream Commit (`c`, v2+): a streamed transaction committed. */
export interface StreamCommitMessage {
  readonly tag: 'stream-commit';
  readonly xid: number;
  readonly commitLsn: Lsn;
  readonly endLsn: Lsn;
  readonly commitTimeMs: number;
}

/**
 * Stream Abort (`A`, v2+): a streamed (sub)transaction aborted; `subXid` equals `xid` for the top-level
 * transaction. `abortLsn`/`abortTimeMs` are present together only with protocol v4 and streaming `parallel`.
 */
export interface StreamAbortMessage {
  readonly tag: 'stream-abort';
  readonly xid: number;
  readonly subXid: number;
  readonly abortLsn?: Lsn;
  readonly abortTimeMs?: number;
}

/** Begin Prepare (`b`, v3+): start of a transaction decoded at PREPARE TRANSACTION. */
export interface BeginPrepareMessage {
  readonly tag: 'begin-prepare';
  readonly prepareLsn: Lsn;
  readonly endLsn: Lsn;
  readonly prepareTimeMs: number;
  readonly xid: number;
  /** Global identifier given to PREPARE TRANSACTION. */
  readonly gid: string;
}

/** Prepare (`P`, v3+). */
export interface PrepareMessage {
  readonly tag: 'prepare';
  readonly prepareLsn: Lsn;
  readonly endLsn: Lsn;
  readonly prepareTimeMs: number;
  readonly xid: number;
  readonly gid: string;
}

/** Commit Prepared (`K`, v3+). */
export interface CommitPreparedMessage {
  readonly tag: 'commit-prepared';
  readonly commitLsn: Lsn;
  readonly endLsn: Lsn;
  readonly commitTimeMs: number;
  readonly xid: number;
  readonly gid: string;
}

/** Rollback Prepared (`r`, v3+). */
export interface RollbackPreparedMessage {
  readonly tag: 'rollback-prepared';
  /** End LSN of the prepared transaction. */
  readonly prepareEndLsn: Lsn;
  /** End LSN of the rollback prepared transaction. */
  readonly rollbackEndLsn: Lsn;
  readonly prepareTimeMs: number;
  readonly rollbackTimeMs: number;
  readonly xid: number;
  readonly gid: string;
}

/** Stream Prepare (`p`, v3+): a streamed transaction was prepared. */
export interface StreamPrepareMessage {
  readonly tag: 'stream-prepare';
  readonly prepareLsn: Lsn;
  readonly endLsn: Lsn;
  readonly prepareTimeMs: number;
  readonly xid: number;
  readonly gid: string;
}

/** Any pgoutput message, discriminated by `tag`. */
export type PgoutputMessage =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | StreamStartMessage
  | StreamStopMessage
  | StreamCommitMessage
  | StreamAbortMessage
  | BeginPrepareMessage
  | PrepareMessage
  | CommitPreparedMessage
  | RollbackPreparedMessage
  | StreamPrepareMessage;

/** The `tag` values of {@link PgoutputMessage}. */
export type PgoutputTag = PgoutputMessage['tag'];

/** Row-level and truncate messages: the ones {@link RelationCache} turns into core changes. */
export type PgoutputChangeMessage = InsertMessage | UpdateMessage | DeleteMessage | TruncateMessage;
