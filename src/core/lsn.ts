/**
 * Log Sequence Number: a byte position in the PostgreSQL write-ahead log.
 *
 * Held as a `bigint` (unsigned 64-bit) so that ordering and arithmetic are exact; its text form is
 * `XXXXXXXX/XXXXXXXX` (high and low 32 bits in hex), as printed by `pg_current_wal_lsn()`.
 * Source: PostgreSQL docs, "pg_lsn Type" (section 8.20).
 */
export type Lsn = bigint & { readonly __brand: 'Lsn' };

/** The zero LSN (`0/0`), used as "nothing applied yet". */
export const LSN_ZERO = 0n as Lsn;

const MAX_LSN = (1n << 64n) - 1n;

/**
 * Parses the text form `X/Y` of an LSN.
 * @throws {RangeError} when the text is not two hex numbers of at most 8 digits separated by `/`.
 */
export function parseLsn(text: string): Lsn {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) throw new RangeError(`invalid LSN "${text}"`);
  return ((BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`)) as Lsn;
}

/** Formats an LSN the way PostgreSQL prints it: upper-case hex, no leading zeros. */
export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * Builds an LSN from a 64-bit integer (as read from the wire).
 * @throws {RangeError} when the value is negative or wider than 64 bits.
 */
export function lsnFromBigInt(value: bigint): Lsn {
  if (value < 0n || value > MAX_LSN) throw new RangeError(`LSN out of range: ${value}`);
  return value as Lsn;
}

/** Larger of two LSNs. */
export function maxLsn(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

/** Distance `a - b` in bytes, 0 when `a <= b`. */
export function lsnDiffBytes(a: Lsn, b: Lsn): number {
  return a > b ? Number(a - b) : 0;
}
