/**
 * Finds the row boundaries in a stream of COPY data without decoding a value (sans-I/O): the full
 * sync streams COPY bytes from source to destination, and its rows-per-second throttle needs to know
 * how many rows each piece of the stream carries, and where a piece may end on a row boundary.
 *
 * Formats (PostgreSQL docs, "COPY", File Formats):
 * - text: one row per line; a newline inside a value is written as the two characters `\n`, so every
 *   0x0A byte ends a row. (COPY TO STDOUT under protocol 3 sends no `\.` end marker.)
 * - binary: an 11-byte signature, a 32-bit flags field and a 32-bit header extension length with that
 *   many bytes after it; then per row a 16-bit field count followed, per field, by a 32-bit length
 *   (-1: NULL, no bytes) and that many bytes; a field count of -1 is the trailer. Integers are in
 *   network byte order and may be split across chunks.
 */
import { PgdtsError } from './errors.ts';
import type { CopyFormat } from './source.ts';

/** `PGCOPY\n\377\r\n\0`: the first 11 bytes of binary COPY data. */
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
/** Signature, flags and extension length. */
const HEADER_BYTES = 19;

type BinaryState = 'header' | 'extension' | 'count' | 'length' | 'value' | 'trailer';

/** Where {@link CopyRowScanner.scan} stopped. */
export interface ScanResult {
  /** Offset just after the last row end counted, or `to` when fewer than `maxRows` rows ended. */
  readonly end: number;
  /** Rows that ended in the scanned bytes. */
  readonly rows: number;
}

/**
 * Counts rows of one COPY stream, chunk after chunk. Feed every byte once, in order.
 * @throws {PgdtsError} COPY_FAILED (not retryable) when binary data does not start with the COPY
 *   signature.
 */
export class CopyRowScanner {
  /** Rows ended so far. */
  rows = 0;
  private state: BinaryState = 'header';
  /** Bytes of a header or integer split across chunks. */
  private readonly partial = Buffer.alloc(HEADER_BYTES);
  private partialLength = 0;
  /** Bytes still to skip in `extension` or `value`. */
  private skip = 0;
  /** Fields of the current row whose length is still to come. */
  private fieldsLeft = 0;

  constructor(readonly format: CopyFormat) {}

  /**
   * Scans `chunk[from, to)` and stops right after the `maxRows`-th row that ends in it (for pieces
   * that end on a row boundary), else at `to`. The caller scans the rest of the chunk next.
   */
  scan(chunk: Buffer, from = 0, to = chunk.length, maxRows = Infinity): ScanResult {
    const r =
      this.format === 'text'
        ? this.scanText(chunk, from, to, maxRows)
        : this.scanBinary(chunk, from, to, maxRows);
    this.rows += r.rows;
    return r;
  }

  private scanText(chunk: Buffer, from: number, to: number, maxRows: number): ScanResult {
    let rows = 0;
    let pos = from;
    while (rows < maxRows) {
      const nl = chunk.indexOf(0x0a, pos);
      if (nl === -1 || nl >= to) return { end: to, rows };
      rows++;
      pos = nl + 1;
    }
    return { end: pos, rows };
  }

  private scanBinary(chunk: Buffer, from: number, to: number, maxRows: number): ScanResult {
    let rows = 0;
    let pos = from;
    /** Reads an `n`-byte integer at `pos`, joining the parts of one split across chunks. */
    const int = (n: 2 | 4): number | undefined => {
      if (this.partialLength === 0 && to - pos >= n) {
        const v = n === 2 ? chunk.readInt16BE(pos) : chunk.readInt32BE(pos);
        pos += n;
        return v;
      }
      const k = Math.min(n - this.partialLength, to - pos);
      chunk.copy(this.partial, this.partialLength, pos, pos + k);
      this.partialLength += k;
      pos += k;
      if (this.partialLength < n) return undefined;
      this.partialLength = 0;
      return n === 2 ? this.partial.readInt16BE(0) : this.partial.readInt32BE(0);
    };
    const rowEnded = () => {
      rows++;
      this.state = 'count';
    };
    while (pos < to && rows < maxRows) {
      switch (this.state) {
        case 'header': {
          const k = Math.min(HEADER_BYTES - this.partialLength, to - pos);
          chunk.copy(this.partial, this.partialLength, pos, pos + k);
          this.partialLength += k;
          pos += k;
          if (this.partialLength < HEADER_BYTES) break;
          this.partialLength = 0;
          if (!this.partial.subarray(0, SIGNATURE.length).equals(SIGNATURE)) {
            throw new PgdtsError('COPY_FAILED', 'binary COPY data does not start with the PGCOPY signature');
          }
          this.skip = this.partial.readUInt32BE(15);
          this.state = 'extension';
          break;
        }
        case 'extension':
        case 'value': {
          const k = Math.min(this.skip, to - pos);
          pos += k;
          this.skip -= k;
          if (this.skip > 0) break;
          if (this.state === 'extension') this.state = 'count';
          else if (this.fieldsLeft === 0) rowEnded();
          else this.state = 'length';
          break;
        }
        case 'count': {
          const n = int(2);
          if (n === undefined) break;
          if (n === -1) this.state = 'trailer';
          else if (n === 0) rowEnded();
          else {
            this.fieldsLeft = n;
            this.state = 'length';
          }
          break;
        }
        case 'length': {
          const len = int(4);
          if (len === undefined) break;
          this.fieldsLeft--;
          if (len > 0) {
            this.skip = len;
            this.state = 'value';
          } else if (this.fieldsLeft === 0) rowEnded();
          break;
        }
        case 'trailer':
          pos = to;
          break;
      }
    }
    return { end: pos, rows };
  }
}
