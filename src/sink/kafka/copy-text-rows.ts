/**
 * Decodes COPY text data into rows (PostgreSQL docs, "COPY", File Formats, Text Format): one row per
 * line, columns separated by a tab, `\N` for NULL, and backslash escapes `\b \f \n \r \t \v \\`,
 * `\digits` (octal) and `\xhex` for bytes. Sans-I/O: feed chunks, take whole rows.
 */
import type { Datum } from '../../core/change.ts';

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** One field's text with its escapes resolved (`\N` is handled by the caller). */
export function unescapeCopyText(field: string): string {
  if (!field.includes('\\')) return field;
  const bytes: number[] = [];
  const raw = Buffer.from(field, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? 0;
    if (c !== 0x5c || i + 1 >= raw.length) {
      bytes.push(c);
      continue;
    }
    const n = String.fromCharCode(raw[i + 1] ?? 0);
    const simple = SIMPLE_ESCAPES[n];
    if (simple !== undefined) {
      bytes.push(simple);
      i++;
    } else if (n >= '0' && n <= '7') {
      let j = i + 1;
      let v = 0;
      while (j < raw.length && j < i + 4 && (raw[j] ?? 0) >= 0x30 && (raw[j] ?? 0) <= 0x37)
        v = v * 8 + ((raw[j++] ?? 0) - 0x30);
      bytes.push(v & 0xff);
      i = j - 1;
    } else if (n === 'x' && /[0-9A-Fa-f]/.test(String.fromCharCode(raw[i + 2] ?? 0))) {
      let j = i + 2;
      let hex = '';
      while (j < raw.length && j < i + 4 && /[0-9A-Fa-f]/.test(String.fromCharCode(raw[j] ?? 0)))
        hex += String.fromCharCode(raw[j++] ?? 0);
      bytes.push(parseInt(hex, 16));
      i = j - 1;
    } else {
      bytes.push(raw[i + 1] ?? 0);
      i++;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Splits COPY text data into rows of {@link Datum}s (text or null). */
export class CopyTextRows {
  private rest: Buffer = Buffer.alloc(0);

  /**
   * The rows that end in `chunk` (with what earlier chunks left unfinished). The whole rows of a
   * chunk are decoded as one string and split there: a newline byte never occurs inside a UTF-8
   * sequence, so this is the text of each line decoded alone, without a decode per line and without
   * copying every chunk behind the previous one's unfinished row.
   */
  push(chunk: Buffer): Datum[][] {
    const rows: Datum[][] = [];
    let start = 0;
    if (this.rest.length > 0) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        this.rest = Buffer.concat([this.rest, chunk]);
        return rows;
      }
      addRow(Buffer.concat([this.rest, chunk.subarray(0, nl)]).toString('utf8'), rows);
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(0x0a);
    if (last >= start) {
      for (const line of chunk.toString('utf8', start, last).split('\n')) addRow(line, rows);
      start = last + 1;
    }
    this.rest = chunk.subarray(start);
    return rows;
  }

  /** Whether data is left over that did not end a row (a truncated stream). */
  get unfinished(): boolean {
    return this.rest.length > 0;
  }
}

/** Adds the row of one line (none for the end marker `\.`). */
function addRow(line: string, rows: Datum[][]): void {
  if (line === '\\.') return;
  const fields: Datum[] = line.split('\t');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as string;
    if (f === '\\N') fields[i] = null;
    else if (f.includes('\\')) fields[i] = unescapeCopyText(f);
  }
  rows.push(fields);
}
