/** Text rendering of a verify report. */
import { displayName } from '../../core/identifier.ts';
import { formatRowDifferences, formatRowDifferenceTable } from './format-row-differences.ts';
import type { TableVerifyResult, VerifyReport } from './verify-report.ts';

function range(r: TableVerifyResult): string {
  const c = r.firstDifferingChunk;
  if (c === undefined) return '';
  if (r.method === 'multiset') return '';
  const lo = c.after === undefined ? 'start' : `key > (${c.after.join(', ')})`;
  const hi = c.upTo === undefined ? 'end' : `key <= (${c.upTo.join(', ')})`;
  return `; first difference in chunk ${c.index + 1} of ${r.chunks} (${lo} .. ${hi}: ${c.sourceRows} vs ${c.destinationRows} rows)`;
}

/**
 * Lists the differing tables, one line each (`DIFF schema.table: source N rows, destination M rows;
 * first difference in chunk ...` or `ERROR schema.table: ...`), then a summary line
 * (`identical: N tables, R rows` or `DIFFERENT: k of N tables differ`). In `rows` mode each differing
 * table is followed by its differing rows (format-row-differences.ts), one line each or, with
 * `rowsAs: 'table'` (a terminal), as an aligned table. A live verification [V8] adds the rows that
 * kept changing (`UNSETTLED schema.table: ...`) and a line with the number of re-checked candidates.
 */
export function formatVerifyReport(
  report: VerifyReport,
  o: { readonly rowsAs?: 'lines' | 'table' } = {},
): string {
  const lines: string[] = [];
  const label = (r: TableVerifyResult) =>
    r.sources !== undefined
      ? `${r.sources.map(displayName).join(' + ')} -> ${displayName(r.destinationTable)}`
      : displayName(r.table) === displayName(r.destinationTable)
        ? displayName(r.table)
        : `${displayName(r.table)} -> ${displayName(r.destinationTable)}`;
  for (const r of report.tables) {
    if (r.live !== undefined && r.live.unsettled > 0) {
      const keys = r.live.unsettledKeys.map((k) => `(${k.join(', ')})`).join(', ');
      const more = r.live.unsettled > r.live.unsettledKeys.length ? ', ...' : '';
      lines.push(
        `UNSETTLED ${label(r)}: ${r.live.unsettled} row(s) changed on the source during every re-check, not compared: ${keys}${more}`,
      );
    }
    if (r.method === 'not-compared') {
      lines.push(`SKIP  ${label(r)}: not compared, ${r.notComparedReason ?? ''}`);
      continue;
    }
    if (r.match) continue;
    if (r.error !== undefined) {
      lines.push(`ERROR ${label(r)}: ${r.error}`);
      continue;
    }
    const same = r.sourceRows === r.destinationRows ? ' (same count, different content)' : '';
    lines.push(
      `DIFF  ${label(r)}: source ${r.sourceRows} rows, destination ${r.destinationRows} rows${same}${range(r)}`,
    );
    if (r.rows !== undefined) {
      lines.push(...(o.rowsAs === 'table' ? formatRowDifferenceTable(r.rows) : formatRowDifferences(r.rows)));
    }
  }
  const skipped = report.tables.filter((r) => r.method === 'not-compared').length;
  const n = report.tables.length - skipped;
  const notCompared = skipped > 0 ? `, ${skipped} not compared` : '';
  const rows = report.tables.reduce((s, r) => s + r.sourceRows, 0);
  const secs = (report.elapsedMs / 1000).toFixed(1);
  if (report.consistency === 'live') {
    const rechecked = report.tables.reduce((n, r) => n + (r.live?.rechecked ?? 0), 0);
    lines.push(
      `live: the task was streaming; ${rechecked} candidate difference(s) re-checked at consistent points`,
    );
  }
  lines.push(
    report.identical
      ? `identical: ${n} table(s), ${rows} row(s) compared in ${secs} s${notCompared}`
      : `DIFFERENT: ${report.tables.filter((r) => !r.match).length} of ${n} table(s) differ (${secs} s)${notCompared}`,
  );
  return lines.join('\n');
}
