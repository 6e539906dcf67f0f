/**
 * The change model: what the source emits and the sink applies, independent of pgoutput's wire form.
 *
 * Terminology
 * - relation: a table as described by the source (pgoutput Relation message), with its columns.
 * - tuple: the column values of one row, in relation column order.
 * - replica identity: which old values the source logs for UPDATE/DELETE (PostgreSQL docs,
 *   ALTER TABLE ... REPLICA IDENTITY): `default` (primary key), `index`, `full` (all columns), `nothing`.
 * - transaction: the unit of atomicity on the source; identified by xid, positioned by its commit LSN.
 * - unchanged TOAST: a column the UPDATE did not touch whose value is stored out of line; pgoutput sends
 *   the marker `u` instead of the value (PostgreSQL docs, "Logical Replication Message Formats",
 *   TupleData). It must never be written as NULL or a placeholder.
 */
import type { Lsn } from './lsn.ts';

/** Marker for an unchanged TOASTed value: distinct from `null` (SQL NULL) all the way to the sink. */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast');
/** Type of {@link UNCHANGED_TOAST}. */
export type UnchangedToast = typeof UNCHANGED_TOAST;

/** One column value in PostgreSQL text output format, SQL NULL, or the unchanged-TOAST marker. */
export type Datum = string | null | UnchangedToast;

/** Column values of a row in relation column order. */
export type Tuple = readonly Datum[];

/** Replica identity setting of a relation (pg_class.relreplident: d, n, f, i). */
export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

/** One column of a {@link Relation}. */
export interface RelationColumn {
  readonly name: string;
  /** Type OID on the source (may not exist on the destination for user-defined types). */
  readonly typeOid: number;
  /** atttypmod, -1 when none. */
  readonly typeModifier: number;
  /** Part of the replica identity key (flag 1 in the Relation message). */
  readonly isKey: boolean;
}

/** A table as the change stream describes it. `id` is the source relation OID. */
export interface Relation {
  readonly id: number;
  readonly schema: string;
  readonly name: string;
  readonly replicaIdentity: ReplicaIdentity;
  readonly columns: readonly RelationColumn[];
}

/** A row inserted. */
export interface InsertChange {
  /** WAL position of the change's record on the source, when known (pgoutput: the XLogData start). */
  readonly lsn?: Lsn;
  readonly kind: 'insert';
  readonly relation: Relation;
  readonly newTuple: Tuple;
}

/**
 * A row updated. `oldTuple` is present when the key changed (`key`: only key columns are meaningful,
 * others null) or the relation has REPLICA IDENTITY FULL (`full`); otherwise the key is read from `newTuple`.
 */
export interface UpdateChange {
  /** WAL position of the change's record on the source, when known (pgoutput: the XLogData start). */
  readonly lsn?: Lsn;
  readonly kind: 'update';
  readonly relation: Relation;
  readonly oldTuple?: Tuple;
  readonly oldKind?: 'key' | 'full';
  readonly newTuple: Tuple;
}

/** A row deleted; `oldKind` tells whether `oldTuple` holds the key columns only or the whole row. */
export interface DeleteChange {
  /** WAL position of the change's record on the source, when known (pgoutput: the XLogData start). */
  readonly lsn?: Lsn;
  readonly kind: 'delete';
  readonly relation: Relation;
  readonly oldKind: 'key' | 'full';
  readonly oldTuple: Tuple;
}

/** TRUNCATE of one or more relations (pgoutput Truncate message options bit 1 = CASCADE, 2 = RESTART IDENTITY). */
export interface TruncateChange {
  /** WAL position of the change's record on the source, when known (pgoutput: the XLogData start). */
  readonly lsn?: Lsn;
  readonly kind: 'truncate';
  readonly relations: readonly Relation[];
  readonly cascade: boolean;
  readonly restartIdentity: boolean;
}

/** A row-level or truncate change inside a transaction. */
export type Change = InsertChange | UpdateChange | DeleteChange | TruncateChange;

/** Commit facts of a source transaction. */
export interface TransactionCommit {
  readonly xid: number;
  /** LSN of the commit record (pgoutput Commit "commit LSN"). */
  readonly commitLsn: Lsn;
  /** End LSN of the transaction: the position to confirm once it is durably applied. */
  readonly endLsn: Lsn;
  /** Commit time on the source, ms since the Unix epoch. */
  readonly commitTimeMs: number;
}
