/** Renderings of `--mode rows` differences: lines for a person, CSV rows for `--report FILE.csv`. */
import { displayName } from '../../core/identifier.ts';
import {
  abbreviatePair,
  abbreviateValue,
  differenceLabel,
  type RowDifference,
} from '../../core/row-difference.ts';
import type { RowValues } from '../../core/table-hash.ts';
import type { TableRowDifferences, VerifyReport } from './verify-report.ts';

function keyText(rows: TableRowDifferences, d: RowDifference): string {
  if (d.key === undefined) return '';
  return ` (${rows.shape.key.join(', ')})=(${d.key.join(', ')})`;
}

function valuesText(rows: TableRowDifferences, values: RowValues): string {
  return rows.shape.columns.map((c, i) => `${c}=${abbreviateValue(values[i] ?? null)}`).join(' ');
}

/**
 * One line per difference, indented, for the human report: `missing in destination (id)=(5):
 * n="1.0" t=NULL`, `different (id)=(7): n: "1.0" -> "1.00"`, keyless rows with their copies. Long
 * values are abbreviated with their size (abbreviateValue).
 */
export function formatRowDifferences(rows: TableRowDifferences): string[] {
  if (rows.notListedReason !== undefined) return [`      ${rows.notListedReason}`];
  const lines = rows.differences.map((d) => {
    const head = `      ${differenceLabel(d.kind)}${keyText(rows, d)}`;
    switch (d.kind) {
      case 'missing':
      case 'extra': {
        const copies =
          d.key === undefined
            ? ` x${Math.abs(d.copies.source - d.copies.destination)} (source ${d.copies.source}, destination ${d.copies.destination})`
            : '';
        return `${head}${copies}: ${valuesText(rows, d.kind === 'missing' ? d.source : d.destination)}`;
      }
      case 'different':
        return `${head}: ${d.columns
          .map((i) => {
            const [a, b] = abbreviatePair(d.source[i] ?? null, d.destination[i] ?? null);
            return `${rows.shape.columns[i] ?? `#${i}`}: ${a} -> ${b}`;
          })
          .join('; ')}`;
      default: {
        const never: never = d;
        throw new TypeError(`unknown difference ${JSON.stringify(never)}`);
      }
    }
  });
  if (rows.truncated)
    lines.push(`      ... more differences not listed (--max-differences ${rows.differences.length})`);
  return lines;
}

/** Column headers of {@link formatRowDifferenceTable}. */
const TABLE_HEADER = ['KIND', 'KEY', 'COLUMN', 'SOURCE', 'DESTINATION'] as const;

/**
 * The differences of one table as an aligned table for a terminal: KIND, KEY, COLUMN, SOURCE,
 * DESTINATION; a `different` row takes one line per differing column, a missing or extra row one line
 * with its values on its side (keyless rows: the copies on each side). Values abbreviated as in
 * {@link formatRowDifferences}; each line indented by 6 spaces.
 */
export function formatRowDifferenceTable(rows: TableRowDifferences): string[] {
  if (rows.notListedReason !== undefined) return [`      ${rows.notListedReason}`];
  const cells: string[][] = [];
  for (const d of rows.differences) {
    const key = d.key === undefined ? '' : `(${d.key.join(', ')})`;
    switch (d.kind) {
      case 'missing':
      case 'extra': {
        const values = valuesText(rows, d.kind === 'missing' ? d.source : d.destination);
        const copies = d.key === undefined ? ` (copies ${d.copies.source} / ${d.copies.destination})` : '';
        cells.push(
          d.kind === 'missing'
            ? [differenceLabel(d.kind), key, '', `${values}${copies}`, '']
            : [differenceLabel(d.kind), key, '', '', `${values}${copies}`],
        );
        break;
      }
      case 'different':
        d.columns.forEach((i, n) => {
          const [a, b] = abbreviatePair(d.source[i] ?? null, d.destination[i] ?? null);
          cells.push([
            n === 0 ? differenceLabel(d.kind) : '',
            n === 0 ? key : '',
            rows.shape.columns[i] ?? `#${i}`,
            a,
            b,
          ]);
        });
        break;
      default: {
        const never: never = d;
        throw new TypeError(`unknown difference ${JSON.stringify(never)}`);
      }
    }
  }
  const all = [[...TABLE_HEADER], ...cells];
  const widths = TABLE_HEADER.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const lines = all.map((r) => `      ${r.map((v, c) => v.padEnd(widths[c] ?? 0)).join('  ')}`.trimEnd());
  if (rows.truncated)
    lines.push(`      ... more differences not listed (--max-differences ${rows.differences.length})`);
  return lines;
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

function valuesObject(columns: readonly string[], values: RowValues | undefined): string {
  if (values === undefined) return '';
  return JSON.stringify(Object.fromEntries(columns.map((c, i) => [c, values[i] ?? null])));
}

/** Header of {@link rowDifferencesCsv}. */
export const CSV_HEADER = [
  'table',
  'kind',
  'key',
  'columns',
  'source',
  'destination',
  'source_copies',
  'destination_copies',
] as const;

/**
 * Every listed differing row of a `rows` mode report as CSV (RFC 4180, header first): the destination
 * table, the kind (`missing in destination`...), the key as a JSON array (empty when keyless), the
 * differing columns (`;`-separated, `different` only), both sides' rows as JSON objects of full,
 * unabbreviated values (empty for the side without the row), and the copies on each side.
 */
export function rowDifferencesCsv(report: VerifyReport): string {
  const lines = [CSV_HEADER.join(',')];
  for (const t of report.tables) {
    const rows = t.rows;
    if (rows === undefined) continue;
    const cols = rows.shape.columns;
    for (const d of rows.differences) {
      const fields = [
        displayName(rows.shape.table),
        differenceLabel(d.kind),
        d.key === undefined ? '' : JSON.stringify(d.key),
        d.kind === 'different' ? d.columns.map((i) => cols[i] ?? '').join(';') : '',
        valuesObject(cols, d.kind === 'extra' ? undefined : d.source),
        valuesObject(cols, d.kind === 'missing' ? undefined : d.destination),
        String(d.kind === 'different' ? 1 : d.copies.source),
        String(d.kind === 'different' ? 1 : d.copies.destination),
      ];
      lines.push(fields.map(csvField).join(','));
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}
