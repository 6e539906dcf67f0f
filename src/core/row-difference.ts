/**
 * Row-level differences between a source and a destination table, found by `pgdts verify --mode rows`
 * (see src/pipeline/verify/verify.md [V1]). Pure: rows come in as text (each type's output function
 * under the hash session's settings, src/pg/table-hash.ts), so two values are equal exactly when they
 * print equally: `1.0` and `1.00` (numeric scale) differ, `''` and NULL differ, two timestamptz
 * values differ only when they are different instants.
 */
import type { CountedRow, KeyedRow, RowValues } from './table-hash.ts';

/** How many copies of a row each side holds: 1/0 or 0/1 for a keyed row, counts for a keyless one. */
export interface Copies {
  readonly source: number;
  readonly destination: number;
}

/**
 * One differing row. `key` is the row's key as text (key column order); undefined for a keyless table,
 * whose rows are compared as a multiset and differ by their number of copies. Values are in the order
 * of the compared columns.
 */
export type RowDifference =
  | {
      readonly kind: 'missing';
      readonly key: readonly string[] | undefined;
      readonly source: RowValues;
      readonly copies: Copies;
    }
  | {
      readonly kind: 'extra';
      readonly key: readonly string[] | undefined;
      readonly destination: RowValues;
      readonly copies: Copies;
    }
  | {
      readonly kind: 'different';
      readonly key: readonly string[];
      readonly source: RowValues;
      readonly destination: RowValues;
      /** Indexes of the differing columns. */
      readonly columns: readonly number[];
    };

/** The report label of a difference kind. */
export function differenceLabel(kind: RowDifference['kind']): string {
  switch (kind) {
    case 'missing':
      return 'missing in destination';
    case 'extra':
      return 'extra in destination';
    case 'different':
      return 'different';
    default: {
      const never: never = kind;
      throw new TypeError(`unknown difference kind ${String(never)}`);
    }
  }
}

/** The text identity of a key or row (JSON keeps NULL apart from the string "null"). */
function identity(values: readonly (string | null)[]): string {
  return JSON.stringify(values);
}

/**
 * Differences between the rows of one key range on both sides: rows only in `source` are missing,
 * rows only in `destination` extra, rows with the same key and other values different (with the
 * indexes of the differing columns). Source order first, then the extra rows in destination order.
 */
export function diffKeyedRows(
  source: readonly KeyedRow[],
  destination: readonly KeyedRow[],
): RowDifference[] {
  const dest = new Map(destination.map((r) => [identity(r.key), r]));
  const out: RowDifference[] = [];
  for (const s of source) {
    const k = identity(s.key);
    const d = dest.get(k);
    if (d === undefined) {
      out.push({ kind: 'missing', key: s.key, source: s.values, copies: { source: 1, destination: 0 } });
      continue;
    }
    dest.delete(k);
    const columns = s.values.flatMap((v, i) => (v === d.values[i] ? [] : [i]));
    if (columns.length > 0) {
      out.push({ kind: 'different', key: s.key, source: s.values, destination: d.values, columns });
    }
  }
  for (const d of dest.values()) {
    out.push({ kind: 'extra', key: d.key, destination: d.values, copies: { source: 0, destination: 1 } });
  }
  return out;
}

/**
 * Differences between two multisets of rows (keyless tables): a row with more copies on the source is
 * missing, one with more copies on the destination extra; `copies` holds both counts.
 */
export function diffCountedRows(
  source: readonly CountedRow[],
  destination: readonly CountedRow[],
): RowDifference[] {
  const dest = new Map(destination.map((r) => [identity(r.values), r]));
  const out: RowDifference[] = [];
  for (const s of source) {
    const k = identity(s.values);
    const d = dest.get(k)?.count ?? 0;
    dest.delete(k);
    const copies = { source: s.count, destination: d };
    if (s.count > d) out.push({ kind: 'missing', key: undefined, source: s.values, copies });
    if (s.count < d) out.push({ kind: 'extra', key: undefined, destination: s.values, copies });
  }
  for (const d of dest.values()) {
    out.push({
      kind: 'extra',
      key: undefined,
      destination: d.values,
      copies: { source: 0, destination: d.count },
    });
  }
  return out;
}

/** Values longer than this many characters are abbreviated in reports. */
export const ABBREVIATE_AFTER = 60;

/**
 * A value for a report: `NULL`, the text quoted, or for a long one its start, `…` and its size
 * (`'xxxx…' (70000 chars)`), so a large TOASTed value neither floods a terminal nor hides its size.
 */
export function abbreviateValue(v: string | null, max = ABBREVIATE_AFTER): string {
  if (v === null) return 'NULL';
  if (v.length <= max) return JSON.stringify(v);
  return `${JSON.stringify(v.slice(0, max))}… (${v.length} chars)`;
}

/**
 * Both values of a differing column for a report. Short values as {@link abbreviateValue}; when a
 * long value differs only after its first `max / 2` characters (a large TOASTed text changed near
 * its end), both show the window around the first difference instead of their equal starts:
 * `…"LLLM" (70000 chars, differs from char 69999)` (chars counted from 1).
 */
export function abbreviatePair(
  a: string | null,
  b: string | null,
  max = ABBREVIATE_AFTER,
): readonly [string, string] {
  const plain = [abbreviateValue(a, max), abbreviateValue(b, max)] as const;
  if (a === null || b === null || (a.length <= max && b.length <= max)) return plain;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i < max / 2) return plain;
  const start = i - Math.floor(max / 2);
  const window = (v: string) =>
    `…${JSON.stringify(v.slice(start, start + max))}${start + max < v.length ? '…' : ''} (${v.length} chars, differs from char ${i + 1})`;
  return [window(a), window(b)];
}
