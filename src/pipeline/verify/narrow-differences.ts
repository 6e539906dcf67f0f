/**
 * `--mode rows`: from a key range whose digests differ to the differing rows (verify.md [V1]). The
 * range is split in two at the middle key of the side holding more rows; both sides hash the left
 * half (one statement each), and the right half's digest is the parent's minus the left's (the digest
 * is a sum, so it subtracts exactly: one statement per range per side, not two). Halves that still
 * differ are split again until at most `leafRows` rows are left on each side, then those rows are read
 * from both sides and compared column by column. A range empty on one side is read from the other
 * in pages at once (a missing range needs no narrowing).
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

/** Parent digest minus a part of it: the digest of the rest. */
export function subtractDigest(whole: RowsDigest, part: RowsDigest): RowsDigest {
  const [, a = '0', b = '0'] = whole.digest.split(':');
  const [, x = '0', y = '0'] = part.digest.split(':');
  const rows = whole.rows - part.rows;
  return {
    rows,
    digest: `${rows}:${BigInt(a) - BigInt(x)}:${BigInt(b) - BigInt(y)}`,
    bytes: whole.bytes - part.bytes,
  };
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
  if (a.rows === 0 || b.rows === 0 || Math.max(a.rows, b.rows) <= o.leafRows) {
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
  // Offset (n-1)/2 leaves at least one of the bigger side's rows on each side of the split (n >= 2).
  const mid = await bigger.keyAt(t, r, Math.floor((n - 1) / 2));
  if (mid === undefined) {
    // The range changed under us (a live source): compare what it holds now.
    const [src, dst] = await Promise.all([
      readRange(s.source, s.sourceTarget, r, room + n, o),
      readRange(s.destination, s.destinationTarget, r, room + n, o),
    ]);
    add(sink, diffKeyedRows(src, dst), o.maxDifferences);
    return;
  }
  const left: KeyRange = { after: r.after, upTo: mid };
  const right: KeyRange = { after: mid, upTo: r.upTo };
  const [la, lb] = await Promise.all([
    s.source.hashRows(s.sourceTarget, left),
    s.destination.hashRows(s.destinationTarget, left),
  ]);
  await o.pace(la.rows + lb.rows, la.bytes + lb.bytes);
  await narrowRange(s, left, la, lb, o, sink);
  await narrowRange(s, right, subtractDigest(a, la), subtractDigest(b, lb), o, sink);
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
