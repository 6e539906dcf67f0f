/**
 * Comparing a table on two servers without moving its rows: both sides hash the same key ranges with
 * the same algorithm (see `pg/table-hash.ts` for PostgreSQL's), and `pgdts verify` compares digests.
 */
import type { QualifiedName } from './identifier.ts';

/** What to hash in one table. */
export interface HashTarget {
  readonly table: QualifiedName;
  /** Columns that make up a row's text, in this order on both servers (include generated columns). */
  readonly columns: readonly string[];
  /** Unique, non-null key columns for chunking (primary key or replica identity index); empty: none. */
  readonly key: readonly string[];
  /** Hash the UTF-8 bytes of the row text instead of the server-encoding bytes (servers differ in encoding). */
  readonly utf8?: boolean;
  /** Only rows matching this SQL condition (a row filter, checked beforehand by the source). */
  readonly where?: string;
}

/**
 * A key range: rows with key `> after` (when set) and `<= upTo` (when set), compared as row values.
 * Bounds are key values as text, as the server prints them.
 */
export interface KeyRange {
  readonly after: readonly string[] | undefined;
  readonly upTo: readonly string[] | undefined;
}

/** Hash of a set of rows: equal digests mean equal multisets of row texts (up to md5 collisions). */
export interface RowsDigest {
  readonly rows: number;
  /** `<rows>:<sum of high md5 halves>:<sum of low md5 halves>` */
  readonly digest: string;
}

/** One session hashing table contents on one server. */
export interface TableHasher {
  /** The server's encoding (`UTF8`...): when the two sides differ, hash UTF-8 bytes. */
  encoding(): Promise<string>;
  /**
   * The key of the `chunkRows`-th row after `after` in key order, or undefined when fewer remain.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error (e.g. the table is missing).
   */
  nextChunkEnd(
    t: HashTarget,
    after: readonly string[] | undefined,
    chunkRows: number,
  ): Promise<string[] | undefined>;
  /**
   * Hashes the rows of `t` in range `r` (the whole table when undefined or keyless).
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error (missing table or column).
   */
  hashRows(t: HashTarget, r?: KeyRange): Promise<RowsDigest>;
  /** Closes the session. Never throws. */
  close(): Promise<void>;
}
