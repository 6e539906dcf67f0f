/**
 * Framing of the logical replication stream, sans I/O: the payloads of the CopyData messages exchanged
 * after START_REPLICATION. Source: PostgreSQL docs, "Streaming Replication Protocol" (START_REPLICATION:
 * XLogData, Primary keepalive message, Standby status update).
 */
import { PgdtsError } from '../../../core/errors.ts';
import type { Lsn } from '../../../core/lsn.ts';
import { ByteReader, DecodeError, msToPgTimestamp } from './byte-reader.ts';

/** XLogData (`w`): one chunk of output plugin data (for pgoutput: exactly one pgoutput message). */
export interface XLogDataFrame {
  readonly tag: 'xlog-data';
  /** Starting point of the WAL data in this message. */
  readonly walStart: Lsn;
  /** Current end of WAL on the server. */
  readonly walEnd: Lsn;
  /** Server's clock at transmission, ms since the Unix epoch (whole ms). */
  readonly sendTimeMs: number;
  /** The output plugin's message; shares memory with the CopyData payload. */
  readonly data: Buffer;
}

/** Primary keepalive message (`k`). */
export interface KeepaliveFrame {
  readonly tag: 'keepalive';
  /** Current end of WAL on the server. */
  readonly walEnd: Lsn;
  /** Server's clock at transmission, ms since the Unix epoch (whole ms). */
  readonly sendTimeMs: number;
  /** The server asks for a Standby status update as soon as possible (else it may time us out). */
  readonly replyRequested: boolean;
}

/** A CopyData payload sent by the server during logical replication. */
export type ReplicationFrame = XLogDataFrame | KeepaliveFrame;

/**
 * Parses one CopyData payload (the bytes after the CopyData header) sent by the server.
 * @throws {DecodeError} (`PgdtsError` code `DECODE_FAILED`, with the byte offset) on an empty payload, an
 *   unknown frame type, a truncated frame, trailing bytes after a keepalive, or a reply flag other than 0/1.
 */
export function parseReplicationFrame(payload: Buffer): ReplicationFrame {
  const r = new ByteReader(payload, 'replication frame');
  const kind = r.uint8('frame type');
  switch (kind) {
    case 0x77 /* w */: {
      r.what = 'XLogData';
      const walStart = r.lsn('WAL start');
      const walEnd = r.lsn('WAL end');
      const sendTimeMs = r.timestampMs('send time');
      return { tag: 'xlog-data', walStart, walEnd, sendTimeMs, data: r.rest() };
    }
    case 0x6b /* k */: {
      r.what = 'primary keepalive';
      const walEnd = r.lsn('WAL end');
      const sendTimeMs = r.timestampMs('send time');
      const at = r.offset;
      const reply = r.uint8('reply requested');
      if (reply > 1) throw new DecodeError(r.what, at, `reply requested flag ${reply} is not 0 or 1`);
      r.end();
      return { tag: 'keepalive', walEnd, sendTimeMs, replyRequested: reply === 1 };
    }
    default:
      throw new DecodeError('replication frame', 0, `unknown frame type 0x${kind.toString(16)}`);
  }
}

/** Contents of a Standby status update. */
export interface StandbyStatus {
  /** WAL received and written to disk by the client, plus one byte (the next position wanted). */
  readonly written: Lsn;
  /** WAL flushed (durably applied) by the client: the server may free WAL and advance the slot up to it. */
  readonly flushed: Lsn;
  /** WAL applied by the client. */
  readonly applied: Lsn;
  /** Client clock at transmission, ms since the Unix epoch. */
  readonly clientTimeMs: number;
  /** Ask the server to reply with a keepalive immediately. */
  readonly replyRequested: boolean;
}

/** Size of a Standby status update payload in bytes: type byte, 4 × Int64, reply flag. */
export const STANDBY_STATUS_UPDATE_SIZE = 34;

/**
 * Encodes a Standby status update (`r`) as a 34-byte CopyData payload (without the CopyData header).
 * @throws {PgdtsError} `INTERNAL` when `clientTimeMs` is not finite or an LSN is outside 0..2^64-1.
 */
export function encodeStandbyStatus(status: StandbyStatus): Buffer {
  const b = Buffer.alloc(STANDBY_STATUS_UPDATE_SIZE);
  b.writeUInt8(0x72 /* r */, 0);
  const ts = msToPgTimestamp(status.clientTimeMs);
  try {
    b.writeBigUInt64BE(status.written, 1);
    b.writeBigUInt64BE(status.flushed, 9);
    b.writeBigUInt64BE(status.applied, 17);
    b.writeBigInt64BE(ts, 25);
  } catch (e) {
    throw new PgdtsError('INTERNAL', 'standby status update: value out of range', { cause: e });
  }
  b.writeUInt8(status.replyRequested ? 1 : 0, 33);
  return b;
}
