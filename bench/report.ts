/**
 * Plain-text report of the benchmark: one aligned table per workload, then its ratio and target lines.
 */

/** One measured method: either figures or the error that prevented them. */
export type Measurement =
  | {
      readonly ok: true;
      readonly label: string;
      /** Wall-clock seconds of the measured interval. */
      readonly seconds: number;
      /** Peak RSS of the measured process tree, bytes; undefined when not sampled (server-side work). */
      readonly peakRssBytes?: number | undefined;
      /** Extra columns, already formatted. */
      readonly extra?: Readonly<Record<string, string>>;
      readonly note?: string;
    }
  | { readonly ok: false; readonly label: string; readonly error: string };

/** Runs `fn` and turns a thrown error into a failed {@link Measurement}, so the other methods still print. */
export async function measure(label: string, fn: () => Promise<Measurement>): Promise<Measurement> {
  try {
    return await fn();
  } catch (e) {
    return {
      ok: false,
      label,
      error: (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 400),
    };
  }
}

/** Formats a number with `digits` decimals, or `-`. */
export function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

/** Bytes as MB (10^6) with one decimal. */
export function mb(bytes: number | undefined): string {
  return bytes === undefined ? '-' : fmt(bytes / 1e6, 1);
}

/** PASS or MISS of a target; `n/a` when a figure is missing. */
export function verdict(ok: boolean | undefined): string {
  return ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS';
}

/** Prints `title`, an aligned table of `header` + `rows`, then `lines`. */
export function printTable(
  title: string,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  lines: readonly string[] = [],
): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const out = [
    '',
    `== ${title}`,
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    ...lines.map((l) => `   ${l}`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Status cell of a measurement: `ok`, its note, or `FAILED: error`. */
export function status(m: Measurement): string {
  return m.ok ? (m.note ?? 'ok') : `FAILED: ${m.error}`;
}
