/**
 * Bounds-checked big-endian reader over one protocol message. Every read checks the remaining length
 * first, so malformed input surfaces as {@link DecodeError} (code `DECODE_FAILED`) with the byte offset,
 * never as a `RangeError` from `Buffer` or a read past the end.
 */
import { PgdtsError } from '../../../core/errors.ts';
import type { Lsn } from '../../../core/lsn.ts';

/** Microseconds between the Unix epoch (1970-01-01) and the PostgreSQL epoch (2000-01-01). */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;

/**
 * Converts a PostgreSQL timestamp (int64 µs since 2000-01-01 UTC, as sent in replication messages) to
 * ms since the Unix epoch, rounded down to a whole ms. Never throws; values beyond ±2^53 ms lose precision.
 */
export function pgTimestampToMs(us: bigint): number {
  const unixUs = us + PG_EPOCH_OFFSET_US;
  // BigInt division truncates toward zero; floor keeps pre-1970 times consistent.
  const q = unixUs / 1000n;
  return Number(unixUs < 0n && q * 1000n !== unixUs ? q - 1n : q);
}

/**
 * Converts ms since the Unix epoch (fractions allowed, kept to the µs) to a PostgreSQL timestamp
 * (int64 µs since 2000-01-01 UTC).
 * @throws {PgdtsError} `INTERNAL` when `ms` is not a finite number.
 */
export function msToPgTimestamp(ms: number): bigint {
  if (!Number.isFinite(ms)) throw new PgdtsError('INTERNAL', `timestamp is not a finite number: ${ms}`);
  return BigInt(Math.round(ms * 1000)) - PG_EPOCH_OFFSET_US;
}

/** A malformed replication or pgoutput message; `offset` is the byte position in the message. */
export class DecodeError extends PgdtsError {
  readonly offset: number;
  constructor(what: string, offset: number, problem: string) {
    super('DECODE_FAILED', `${what} at byte ${offset}: ${problem}`);
    this.name = 'DecodeError';
    this.offset = offset;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Cursor over one message; `what` names the message in error texts (e.g. `pgoutput Insert`).
 * @throws {DecodeError} from every read that would go past the end of the message.
 */
export class ByteReader {
  private pos = 0;
  what: string;

  constructor(
    private readonly buf: Buffer,
    what: string,
  ) {
    this.what = what;
  }

  /** Current offset in bytes. */
  get offset(): number {
    return this.pos;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** A {@link DecodeError} at the current offset (or `at`). */
  fail(problem: string, at: number = this.pos): DecodeError {
    return new DecodeError(this.what, at, problem);
  }

  private need(n: number, field: string): number {
    if (this.remaining < n) throw this.fail(`truncated: ${field} needs ${n} bytes, ${this.remaining} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** Byte1/Int8, unsigned. `field` names the value in error texts, as in all readers below. */
  uint8(field: string): number {
    return this.buf.readUInt8(this.need(1, field));
  }

  /** Int16, signed. */
  int16(field: string): number {
    return this.buf.readInt16BE(this.need(2, field));
  }

  /** Int32 read as unsigned (xids, OIDs). */
  uint32(field: string): number {
    return this.buf.readUInt32BE(this.need(4, field));
  }

  /** Int32, signed (lengths, type modifiers). */
  int32(field: string): number {
    return this.buf.readInt32BE(this.need(4, field));
  }

  /** Int64, signed. */
  int64(field: string): bigint {
    return this.buf.readBigInt64BE(this.need(8, field));
  }

  /** Int64 (XLogRecPtr) as an LSN. */
  lsn(field: string): Lsn {
    // An unsigned 64-bit read is always a valid LSN, so the cast needs no range check.
    return this.buf.readBigUInt64BE(this.need(8, field)) as Lsn;
  }

  /** Int64 PostgreSQL timestamp (µs since 2000-01-01) as ms since the Unix epoch. */
  timestampMs(field: string): number {
    return pgTimestampToMs(this.int64(field));
  }

  /** `n` raw bytes; the result shares memory with the message buffer. */
  bytes(n: number, field: string): Buffer {
    const at = this.need(n, field);
    return this.buf.subarray(at, at + n);
  }

  /** Everything left; shares memory with the message buffer. */
  rest(): Buffer {
    const at = this.pos;
    this.pos = this.buf.length;
    return this.buf.subarray(at);
  }

  /** Strict UTF-8 decoding: a lossy U+FFFD replacement would silently corrupt replicated data. */
  utf8(bytes: Buffer, field: string, at: number): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw this.fail(`${field} is not valid UTF-8`, at);
    }
  }

  /** NUL-terminated UTF-8 string (PostgreSQL docs, "Message Data Types": String(s)). */
  cstring(field: string): string {
    const at = this.pos;
    const end = this.buf.indexOf(0, at);
    if (end < 0) throw this.fail(`truncated: ${field} has no terminating NUL`);
    this.pos = end + 1;
    return this.utf8(this.buf.subarray(at, end), field, at);
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) throw this.fail(`${this.remaining} unexpected trailing bytes`);
  }
}
