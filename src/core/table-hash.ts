/**
 * Comparing a table on two servers without moving its rows: both sides hash the same key ranges with
 * the same algorithm (see `pg/table-hash.ts` for PostgreSQL's), and `pgdts verify` compares digests.
 */
import type { QualifiedName } from './identifier.ts';
import type { Lsn } from './lsn.ts';

/**
 * Session settings under which values print the same on every server (UTC, ISO dates, shortest exact
 * floats, hex bytea, the C monetary format): set by the hash sessions, the repair sessions and the
 * repair scripts, so values read, compared and written back mean the same thing. `[name, SQL value]`.
 */
export const HASH_SESSION_SETTINGS: readonly (readonly [string, string])[] = [
  ['TimeZone', "'UTC'"],
  ['DateStyle', "'ISO, YMD'"],
  ['IntervalStyle', "'postgres'"],
  ['extra_float_digits', '3'],
  ['bytea_output', "'hex'"],
  ['lc_monetary', "'C'"],
];

/** What to hash in one table. */
export interface HashTarget {
  readonly table: QualifiedName;
  /** Columns that make up a row's text, in this order on both servers (include generated columns). */
  readonly columns: readonly string[];
  /** Unique, non-null key columns for chunking (primary key or replica identity index); empty: none. */
  readonly key: readonly string[];
  /** Hash the UTF-8 bytes of the row text instead of the server-encoding bytes (servers differ in encoding). */
  readonly utf8?: boolean;
  /**
   * Hash row texts with md5 (the same on every server) instead of PostgreSQL's
   * `hashtextextended` (2.4x faster, but its result depends on the server's byte order): set when
   * the two servers' {@link TableHasher.hashProbe} differ, and always with `utf8`.
   */
  readonly portableHash?: boolean;
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

/** Hash of a set of rows: equal digests mean equal multisets of row texts (up to hash collisions). */
export interface RowsDigest {
  readonly rows: number;
  /**
   * `<rows>:<sum of the first 64-bit row hashes>:<sum of the second>` (just `<rows>` from
   * `countRows`): hashtextextended with seeds 0 and 1, or the two halves of the md5 with
   * `portableHash`.
   */
  readonly digest: string;
  /** Bytes of row text read to compute it (0 from `countRows`): what `verify.megabytesPerSecond` paces. */
  readonly bytes: number;
}

/**
 * The column values of one row as text (each type's output function under the hash session's
 * settings), in the order of `HashTarget.columns`; null for SQL NULL.
 */
export type RowValues = readonly (string | null)[];

/** One row of a keyed table read for comparison: its key (as text, key order) and its values. */
export interface KeyedRow {
  readonly key: readonly string[];
  readonly values: RowValues;
  /**
   * The row version (PostgreSQL: the `xmin` of the tuple, the transaction that wrote it), when read
   * with `withVersion`: two reads of a key in two snapshots return the same version exactly when no
   * transaction seen by the later snapshot only wrote the row in between (verify.md [V8]).
   */
  readonly version?: string;
}

/**
 * Where incremental sync of a task stands, as recorded in the destination's bookkeeping.
 * `position`: the greatest of the applied position (end LSN of the last applied source transaction,
 * written in the same transaction as its changes) and the acknowledged (flushed) position of the
 * status row: every change of the task below it is in the destination.
 */
export interface TaskPosition {
  /** The task's checkpoint phase (`streaming` while incremental sync runs). */
  readonly phase: string;
  readonly position: Lsn | undefined;
  /** Age of the status row (written every `incremental.statusIntervalMs` by a running task), ms. */
  readonly statusAgeMs: number | undefined;
  /** A run of the task holds its lease on the destination now (it is running). */
  readonly running: boolean;
}

/** One distinct row of a keyless table and how many times it occurs. */
export interface CountedRow {
  readonly values: RowValues;
  readonly count: number;
}

/**
 * Number of leading hex digits of a row's md5 that name its bucket in {@link TableHasher.hashBuckets}:
 * 2 = 256 buckets, so a keyless table's differing rows are read from about 1/256 of it.
 */
export const BUCKET_HEX_DIGITS = 2;

/** One session hashing table contents on one server. */
export interface TableHasher {
  /** The server's encoding (`UTF8`...): when the two sides differ, hash UTF-8 bytes. */
  encoding(): Promise<string>;
  /**
   * The server's fast row hash of a fixed text: two servers whose probes agree hash row texts alike
   * (same function, same byte order), else verification uses {@link HashTarget.portableHash}.
   */
  hashProbe(): Promise<string>;
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
  /**
   * Counts the rows of `t` in range `r` (the whole table when undefined or keyless): `digest` is the
   * count alone, so it compares counts only.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  countRows(t: HashTarget, r?: KeyRange): Promise<RowsDigest>;
  /**
   * The key of the row `offset` rows (0-based) into range `r` in key order, or undefined when the
   * range holds fewer rows: the split point of a range when narrowing a difference.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  keyAt(t: HashTarget, r: KeyRange, offset: number): Promise<string[] | undefined>;
  /**
   * The keys of every `step`-th row of range `r` in key order (the `step`-th, `2·step`-th, ...), at
   * most `limit`, ascending: where a differing range is split when narrowing (verify.md [V1]).
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  splitKeys(t: HashTarget, r: KeyRange, step: number, limit: number): Promise<string[][]>;
  /**
   * The digests of the parts of range `r` cut at `bounds` (ascending keys), in one statement: part
   * `i` holds the keys in `(bounds[i-1], bounds[i]]`, the first and last part open to the ends of
   * `r`; `bounds.length + 1` digests (an empty part: 0 rows).
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  hashParts(t: HashTarget, r: KeyRange, bounds: readonly (readonly string[])[]): Promise<RowsDigest[]>;
  /**
   * Reads at most `limit` rows of range `r` in key order (keyed tables only).
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  readRows(t: HashTarget, r: KeyRange, limit: number): Promise<KeyedRow[]>;
  /**
   * Reads the rows with the given keys (each key as text, key column order; at most 500 keys), in no
   * particular order; keys without a row (or whose row fails the row filter) are absent.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  readKeys(
    t: HashTarget,
    keys: readonly (readonly string[])[],
    o?: { readonly withVersion?: boolean },
  ): Promise<KeyedRow[]>;
  /**
   * Starts a read-only REPEATABLE READ transaction on this session, so that every statement until
   * {@link endSnapshot} reads one snapshot (PostgreSQL docs 13.2.2: the snapshot is taken by the
   * transaction's first statement). Returns the position the snapshot stands at:
   * - source: the WAL insert LSN read by that first statement, after the snapshot was taken, so every
   *   transaction the snapshot sees has its commit record below it;
   * - destination (opened for a task): the task's {@link TaskPosition.position} read in the
   *   snapshot, so the snapshot holds exactly the task's changes up to it; undefined when none.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  beginSnapshot(): Promise<Lsn | undefined>;
  /** Ends the transaction of {@link beginSnapshot}. @throws {PgdtsError} VERIFY_MISMATCH. */
  endSnapshot(): Promise<void>;
  /**
   * Destination opened for a task: where its incremental sync stands (read outside any snapshot);
   * undefined on a source session or when the destination holds no bookkeeping of the task.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  taskPosition(): Promise<TaskPosition | undefined>;
  /**
   * Hashes a keyless table's rows in buckets named by the first {@link BUCKET_HEX_DIGITS} hex digits
   * of each row text's md5, in one statement: bucket name → digest (empty buckets absent).
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  hashBuckets(t: HashTarget): Promise<Map<string, RowsDigest>>;
  /**
   * The distinct rows of the given buckets (see {@link hashBuckets}) with their multiplicities.
   * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
   */
  readBucketRows(t: HashTarget, buckets: readonly string[]): Promise<CountedRow[]>;
  /** Closes the session. Never throws. */
  close(): Promise<void>;
}
