/**
 * `--mode rows`: from a key range whose digests differ to the differing rows (verify.md [V1]). The
 * range is cut into up to {@link FANOUT} parts at every `step`-th key of the side holding more rows
 * (one statement), and both sides hash all the parts in one statement each. Parts that still differ
 * are cut again until at most `leafRows` rows (and {@link LEAF_BYTES}) are left on each side, then those rows are read from
 * both sides and compared column by column. A range empty on one side is read from the other in
 * pages at once (a missing range needs no narrowing).
 */
import { diffCountedRows, diffKeyedRows, type RowDifference } from '../../core/row-difference.ts';
import type { HashTarget, KeyedRow, KeyRange, RowsDigest, TableHasher } from '../../core/table-hash.ts';

/** Limits and pacing of a narrowing. */
export interface NarrowOptions {
  /** Ranges with at most this many rows on each side are read and compared row by row. */
  readonly leafRows: number;
  /** Stop after this many differences in a table (`truncated`). */
  readonly maxDifferences: number;
  /** Waits as the throttle asks for after rows were read (rows, bytes of row text). */
  readonly pace: (rows: number, bytes: number) => Promise<void>;
}

/** Both sides' sessions and targets of one table. */
export interface NarrowSides {
  readonly source: TableHasher;
  readonly destination: TableHasher;
  readonly sourceTarget: HashTarget;
  readonly destinationTarget: HashTarget;
}

/** Differences found so far in a table; `truncated` once `maxDifferences` was reached. */
export interface DifferenceSink {
  readonly differences: RowDifference[];
  truncated: boolean;
}

/** Rows read at once from a range that only one side has. */
const PAGE_ROWS = 1000;

/**
 * Most parts a differing range is cut into per level: a 100 000-row chunk's parts are leaves of at
 * most 512 rows at once (a binary split needed eleven levels, one statement pair each).
 */
export const FANOUT = 256;

/**
 * Most bytes of row text (either side) a leaf may hold: a range of wide rows (large text, TOAST
 * values) is cut further even when its row count fits `leafRows`, so a leaf read stays a few MB.
 */
export const LEAF_BYTES = 4 * 1024 * 1024;

/** A range of at most this many rows is a leaf whatever its size (one wide row cannot be cut). */
const MIN_SPLIT_ROWS = 8;

/** Whether a differing range is read and compared row by row rather than cut into parts. */
function isLeaf(a: RowsDigest, b: RowsDigest, leafRows: number): boolean {
  const rows = Math.max(a.rows, b.rows);
  if (a.rows === 0 || b.rows === 0 || rows <= MIN_SPLIT_ROWS) return true;
  return rows <= leafRows && Math.max(a.bytes, b.bytes) <= LEAF_BYTES;
}

function rowBytes(rows: readonly KeyedRow[]): number {
  let n = 0;
  for (const r of rows) for (const v of r.values) n += v === null ? 0 : v.length;
  return n;
}

/** Reads the rows of range `r` in pages, at most `max`. */
async function readRange(
  h: TableHasher,
  t: HashTarget,
  r: KeyRange,
  max: number,
  o: NarrowOptions,
): Promise<KeyedRow[]> {
  const out: KeyedRow[] = [];
  let after = r.after;
  while (out.length < max) {
    const want = Math.min(PAGE_ROWS, max - out.length);
    const page = await h.readRows(t, { after, upTo: r.upTo }, want);
    await o.pace(page.length, rowBytes(page));
    out.push(...page);
    const last = page.at(-1);
    if (last === undefined || page.length < want) break;
    after = last.key;
  }
  return out;
}

function add(sink: DifferenceSink, found: readonly RowDifference[], max: number): void {
  for (const d of found) {
    if (sink.differences.length >= max) {
      sink.truncated = true;
      return;
    }
    sink.differences.push(d);
  }
}

/**
 * Narrows range `r`, whose digests on the two sides are `a` (source) and `b` (destination), to its
 * differing rows, appended to `sink` in key order.
 * @throws {PgdtsError} VERIFY_MISMATCH from the sessions.
 */
export async function narrowRange(
  s: NarrowSides,
  r: KeyRange,
  a: RowsDigest,
  b: RowsDigest,
  o: NarrowOptions,
  sink: DifferenceSink,
): Promise<void> {
  if (a.digest === b.digest) return;
  const room = o.maxDifferences - sink.differences.length;
  if (room <= 0) {
    sink.truncated = true;
    return;
  }
  if (isLeaf(a, b, o.leafRows)) {
    // At most `room` rows of a one-sided range matter; a leaf has at most leafRows a side.
    const max = a.rows === 0 || b.rows === 0 ? room + 1 : Math.max(a.rows, b.rows) + 1;
    const [src, dst] = await Promise.all([
      a.rows === 0 ? [] : readRange(s.source, s.sourceTarget, r, max, o),
      b.rows === 0 ? [] : readRange(s.destination, s.destinationTarget, r, max, o),
    ]);
    add(sink, diffKeyedRows(src, dst), o.maxDifferences);
    return;
  }
  const [bigger, t, n] =
    a.rows >= b.rows ? [s.source, s.sourceTarget, a.rows] : [s.destination, s.destinationTarget, b.rows];
  // Cut into up to FANOUT parts of the bigger side's rows, each of about leafRows rows and LEAF_BYTES
  // (so the next level is mostly leaves); both sides hash every part in one statement each.
  const wide = Math.ceil(Math.max(a.bytes, b.bytes) / LEAF_BYTES);
  const parts = Math.max(2, Math.min(FANOUT, Math.max(Math.ceil(n / o.leafRows), wide)));
  const step = Math.ceil(n / parts);
  const bounds = await bigger.splitKeys(t, r, step, parts - 1);
  if (bounds.length === 0) {
    // The range changed under us (a live source): compare what it holds now.
    const [src, dst] = await Promise.all([
      readRange(s.source, s.sourceTarget, r, room + n, o),
      readRange(s.destination, s.destinationTarget, r, room + n, o),
    ]);
    add(sink, diffKeyedRows(src, dst), o.maxDifferences);
    return;
  }
  const [da, db] = await Promise.all([
    s.source.hashParts(s.sourceTarget, r, bounds),
    s.destination.hashParts(s.destinationTarget, r, bounds),
  ]);
  let rows = 0;
  let bytes = 0;
  for (const d of [...da, ...db]) {
    rows += d.rows;
    bytes += d.bytes;
  }
  await o.pace(rows, bytes);
  for (let i = 0; i <= bounds.length; i++) {
    const pa = da[i];
    const pb = db[i];
    if (pa === undefined || pb === undefined || pa.digest === pb.digest) continue;
    const part: KeyRange = {
      after: i === 0 ? r.after : bounds[i - 1],
      upTo: i === bounds.length ? r.upTo : bounds[i],
    };
    await narrowRange(s, part, pa, pb, o, sink);
    if (sink.truncated) return;
  }
}

/**
 * The differing rows of a keyless table: both sides hash it in md5 buckets (one statement each), and
 * only the differing buckets' rows are read, grouped with their multiplicities, and compared as
 * multisets.
 * @throws {PgdtsError} VERIFY_MISMATCH from the sessions.
 */
export async function narrowKeyless(s: NarrowSides, o: NarrowOptions, sink: DifferenceSink): Promise<void> {
  const [a, b] = await Promise.all([
    s.source.hashBuckets(s.sourceTarget),
    s.destination.hashBuckets(s.destinationTarget),
  ]);
  let rows = 0;
  let bytes = 0;
  for (const d of [...a.values(), ...b.values()]) {
    rows += d.rows;
    bytes += d.bytes;
  }
  await o.pace(rows, bytes);
  const differing = [...new Set([...a.keys(), ...b.keys()])]
    .filter((k) => a.get(k)?.digest !== b.get(k)?.digest)
    .sort();
  // A few buckets per statement: each is ~1/256 of the table.
  for (let i = 0; i < differing.length && !sink.truncated; i += 8) {
    const buckets = differing.slice(i, i + 8);
    const [src, dst] = await Promise.all([
      s.source.readBucketRows(s.sourceTarget, buckets),
      s.destination.readBucketRows(s.destinationTarget, buckets),
    ]);
    await o.pace(src.length + dst.length, 0);
    add(sink, diffCountedRows(src, dst), o.maxDifferences);
  }
}
