/**
 * The column-level schema changes incremental sync follows from the change stream itself (the
 * source's Relation messages; PostgreSQL docs, "Logical Replication Message Formats", Relation), and
 * the two small capabilities that path needs: the source's facts about a relation's columns, and the
 * destination's columns and ALTERs inside the open apply transaction. See
 * src/pipeline/relation-changes.ts for the comparison and README.md, "Schema changes during
 * incremental sync", for what is followed and what stops the task.
 */
import type { QualifiedName } from './identifier.ts';

/** One change to apply to a destination table, by destination column name. */
export type ColumnChange =
  | {
      readonly kind: 'add';
      readonly column: string;
      /** The type as the source names it (`format_type(oid, typmod)`), SQL type syntax. */
      readonly typeName: string;
      /** Value of the rows that exist already, in text form; null: SQL NULL. */
      readonly existingRows: string | null;
    }
  | { readonly kind: 'drop'; readonly column: string }
  | {
      readonly kind: 'retype';
      readonly column: string;
      /** The new type as the source names it (`format_type(oid, typmod)`). */
      readonly typeName: string;
    };

/** A column of a destination table as it is now (inside the open apply transaction). */
export interface DestinationColumnShape {
  readonly name: string;
  /** `format_type(atttypid, atttypmod)` on the destination. */
  readonly typeName: string;
  /** Computed by the destination (GENERATED ALWAYS AS ... STORED): never in the change stream. */
  readonly generated: boolean;
}

/**
 * The destination side: read a table's columns and alter it inside the open apply transaction, so
 * the ALTER commits atomically with the rows and the applied position (apply.md, P8).
 */
export interface DestinationSchemaChanges {
  /**
   * Flushes buffered changes, opens the destination transaction if needed and reads the columns of
   * `table` in attnum order; undefined when the table does not exist.
   * @throws {PgdtsError} APPLY_FAILED (retryable on connection loss).
   */
  columns(table: QualifiedName): Promise<DestinationColumnShape[] | undefined>;
  /**
   * Runs the changes on `table` in the open destination transaction, after every change buffered
   * before, and forgets the cached shape of the table.
   * @throws {PgdtsError} APPLY_FAILED wrapping the server error.
   */
  alter(table: QualifiedName, changes: readonly ColumnChange[]): Promise<void>;
}

/** A column of a Relation message, as the lookup takes it. */
export interface RelationColumnRef {
  readonly name: string;
  readonly typeOid: number;
  readonly typeModifier: number;
}

/** What the source says about one column of a Relation message, looked up now. */
export interface SourceColumnFacts {
  /** `format_type(typeOid, typeModifier)` on the source. */
  readonly typeName: string;
  /** The table has a column of that name and type now. */
  readonly exists: boolean;
  /**
   * The column's fast default (`pg_attribute.atthasmissing` / `attmissingval`): the value of the rows
   * that existed when it was added, text form (null: SQL NULL); undefined when it has none.
   */
  readonly missingValue: string | null | undefined;
  /** The column has a DEFAULT expression now (`pg_attrdef`). */
  readonly hasDefault: boolean;
}

/** The source side of following schema changes. */
export interface SourceSchemaLookup {
  /**
   * Facts about `columns` of `table` (source names), one per column, in order.
   * @throws {PgdtsError} REPLICATION_FAILED (retryable on connection loss).
   */
  relationColumns(table: QualifiedName, columns: readonly RelationColumnRef[]): Promise<SourceColumnFacts[]>;
}
