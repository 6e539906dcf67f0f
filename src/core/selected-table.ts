/**
 * A table the task selected, as the source catalog describes it: what the copy, replication, verify
 * and precheck steps need to know about it. Filled by the source connector; read everywhere else.
 */
import type { ReplicaIdentity } from './change.ts';
import type { QualifiedName } from './identifier.ts';

/** A selected table as seen in the source catalog. */
export interface SelectedTable extends QualifiedName {
  /** pg_class OID on the source. */
  readonly oid: number;
  /** `r` plain table, `p` partitioned table (no storage of its own). */
  readonly relkind: 'r' | 'p';
  /** Set when the table is a partition: its root partitioned table. */
  readonly partitionRoot: QualifiedName | undefined;
  /** Primary key columns in key order; empty when none. */
  readonly primaryKey: readonly string[];
  /** Replica identity (pg_class.relreplident). */
  readonly replicaIdentity: ReplicaIdentity;
  /** Columns of a REPLICA IDENTITY USING INDEX index, else empty. */
  readonly replicaIdentityIndexColumns: readonly string[];
  /** Size of the heap on disk, bytes (pg_relation_size); 0 for partitioned tables. */
  readonly sizeBytes: number;
  /** Heap blocks (pg_relation_size / block_size), for ctid range splitting. */
  readonly blocks: number;
  /** Row estimate (pg_class.reltuples, -1 when never analyzed). */
  readonly estimatedRows: number;
  /** Columns in attnum order, excluding dropped and generated columns (which COPY does not write). */
  readonly columns: readonly string[];
  /** Names of generated (STORED) columns: skipped by copy and apply, computed by the destination. */
  readonly generatedColumns: readonly string[];
  /** User triggers on the table (not internal ones of foreign keys): schema sync creates them. */
  readonly triggers: number;
  /**
   * Rewrite rules on the table (not the `_RETURN` rule of a view): schema sync creates them, and they
   * rewrite applied changes unless the apply session runs with session_replication_role = replica.
   */
  readonly rules?: number;
  /**
   * ENABLE and FORCE ROW LEVEL SECURITY on the source table: schema sync sets both on the
   * destination, where the policies then apply to the table's owner too.
   */
  readonly forcedRowSecurity?: boolean;
}

/** A sequence and its current position. `lastValue` undefined: never used (nextval returns start). */
export interface SequenceValue extends QualifiedName {
  readonly lastValue: string | undefined;
  /**
   * The source table owning the sequence (a serial's OWNED BY or an identity column), undefined for
   * a free-standing one: where the sequence goes in the destination depends on it (see targetSequences).
   */
  readonly ownedBy: QualifiedName | undefined;
}
