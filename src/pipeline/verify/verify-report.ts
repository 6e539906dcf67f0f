/** Result shapes of `pgdts verify`. */
import type { QualifiedName } from '../../core/identifier.ts';
import type { RepairTable } from '../../core/repair-sql.ts';
import type { RowDifference } from '../../core/row-difference.ts';
import type { KeyRange } from '../../core/table-hash.ts';

/** The verify modes: one list, in core so that the task file's `verify.schedule.mode` uses it too. */
import type { VerifyMode } from '../../core/throttle-config.ts';

export { VERIFY_MODES, type VerifyMode } from '../../core/throttle-config.ts';

/** The differing rows of one table (`--mode rows`). */
export interface TableRowDifferences {
  /** The destination table, columns and key the differences' values and keys are in (mapped names). */
  readonly shape: RepairTable;
  /** In key order (keyless tables: by md5 bucket), at most `maxDifferences`. */
  readonly differences: readonly RowDifference[];
  /** More differences exist than were listed (`maxDifferences` reached). */
  readonly truncated: boolean;
  /** Why the rows could not be listed (a merge of several sources), when so. */
  readonly notListedReason?: string;
}

/** The first key range whose rows differ between source and destination. */
export interface DifferingChunk extends KeyRange {
  /** 0-based chunk number in key order. */
  readonly index: number;
  readonly sourceRows: number;
  readonly destinationRows: number;
}

/** Comparison of one table with storage (plain table or leaf partition). */
export interface TableVerifyResult {
  /** The source table (for a merge, the destination table: its sources are in `sources`). */
  readonly table: QualifiedName;
  /** The destination table it was compared with. */
  readonly destinationTable: QualifiedName;
  /** The source tables merged into the destination table (`mergeInto`), when more than one. */
  readonly sources?: readonly QualifiedName[];
  /** Rows counted on the source / destination (0 when the table could not be read). */
  readonly sourceRows: number;
  readonly destinationRows: number;
  /** Same row count and same content hash on both sides (true when `not-compared`). */
  readonly match: boolean;
  /**
   * `key` when hashed by chunks of the primary key / replica identity index, `multiset` when keyless
   * or merged from several sources, `not-compared` when the table's `operations` leave some out (the
   * destination then differs by design: `notComparedReason`).
   */
  readonly method: 'key' | 'multiset' | 'not-compared';
  readonly notComparedReason?: string;
  /** Number of chunks compared (1 for keyless tables). */
  readonly chunks: number;
  /** Set when `match` is false and the difference was narrowed to a key range. */
  readonly firstDifferingChunk?: DifferingChunk;
  /** `--mode rows`, when `match` is false and the table could be read: the differing rows. */
  readonly rows?: TableRowDifferences;
  /** Live verification [V8]: what was re-checked at consistent points. */
  readonly live?: TableLiveRecheck;
  /** Set when the table could not be compared (e.g. missing on the destination); `match` is false. */
  readonly error?: string;
  /** Time spent on this table, ms. */
  readonly elapsedMs: number;
}

/** What a live verification re-checked in one table (verify.md [V8]). */
export interface TableLiveRecheck {
  /** Candidate rows (keyless or merged tables: whole-table comparisons) re-checked. */
  readonly rechecked: number;
  /** Rows whose source row changed in every re-check round: neither reported nor known equal. */
  readonly unsettled: number;
  /** The first 100 unsettled keys (key column order, as text). */
  readonly unsettledKeys: readonly (readonly string[])[];
}

/** Result of {@link verifyTask}. */
export interface VerifyReport {
  readonly mode: VerifyMode;
  /**
   * `live`: the task was streaming and every difference was re-checked at a consistent point [V8];
   * `offline`: both sides compared as they were.
   */
  readonly consistency: 'live' | 'offline';
  readonly tables: readonly TableVerifyResult[];
  /** Every compared table matched. */
  readonly identical: boolean;
  /** Wall time, ms. */
  readonly elapsedMs: number;
}
