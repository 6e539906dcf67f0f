/**
 * Decoder of pgoutput messages (the `data` of XLogData frames, or the rows of
 * `pg_logical_slot_get_binary_changes`), sans I/O. Source: PostgreSQL docs, "Logical Replication Message
 * Formats". Strict: anything the docs do not allow (unknown tag or enum byte, unknown flag bits, negative
 * or overlong lengths, invalid UTF-8, trailing bytes) is rejected rather than guessed at, because a wrong
 * guess would apply wrong data on the destination.
 */
import { UNCHANGED_TOAST, type RelationColumn, type ReplicaIdentity } from '../../../core/change.ts';
import { ByteReader, DecodeError } from './byte-reader.ts';
import type { PgoutputMessage, PgoutputTuple, PgoutputValue } from './pgoutput-message.ts';

/** What the decoder must know from the surrounding message flow. */
export interface DecodeContext {
  /**
   * Between Stream Start and Stream Stop: Relation, Type, Insert, Update, Delete, Truncate and Message
   * then carry an xid right after the tag byte (protocol v2+): the streamed transaction's, or for a
   * change made in a subtransaction, the subtransaction's.
   */
  readonly inStream: boolean;
}

const NAMES: Readonly<Record<number, string>> = {
  0x42: 'Begin',
  0x43: 'Commit',
  0x4f: 'Origin',
  0x52: 'Relation',
  0x59: 'Type',
  0x49: 'Insert',
  0x55: 'Update',
  0x44: 'Delete',
  0x54: 'Truncate',
  0x4d: 'Message',
  0x53: 'Stream Start',
  0x45: 'Stream Stop',
  0x63: 'Stream Commit',
  0x41: 'Stream Abort',
  0x62: 'Begin Prepare',
  0x50: 'Prepare',
  0x4b: 'Commit Prepared',
  0x72: 'Rollback Prepared',
  0x70: 'Stream Prepare',
};

const REPLICA_IDENTITY: Readonly<Record<number, ReplicaIdentity>> = {
  0x64 /* d */: 'default',
  0x6e /* n */: 'nothing',
  0x66 /* f */: 'full',
  0x69 /* i */: 'index',
};

/**
 * Decodes one pgoutput message. Stateless: the caller tracks Stream Start/Stop (or uses
 * {@link PgoutputStreamDecoder}). Stream Abort is accepted with or without the v4 abort LSN and time
 * (its length tells which, as they are its last fields). Buffers in the result (`content`, binary
 * values) share memory with `data`.
 * @throws {DecodeError} (`PgdtsError` code `DECODE_FAILED`, with `offset`) on any malformed input.
 */
export function decodePgoutput(data: Buffer, ctx: DecodeContext): PgoutputMessage {
  const r = new ByteReader(data, 'pgoutput message');
  const tag = r.uint8('message type');
  const name = NAMES[tag];
  if (name === undefined)
    throw new DecodeError('pgoutput message', 0, `unknown message type 0x${tag.toString(16)}`);
  r.what = `pgoutput ${name}`;
  const msg = decodeBody(r, tag, ctx);
  r.end();
  return msg;
}

function streamXid(r: ByteReader, ctx: DecodeContext): { xid?: number } {
  return ctx.inStream ? { xid: r.uint32('xid') } : {};
}

function flagsZero(r: ByteReader): void {
  const at = r.offset;
  const flags = r.uint8('flags');
  if (flags !== 0) throw r.fail(`flags ${flags} must be 0`, at);
}

function count(r: ByteReader, n: number, field: string, at: number, minBytesEach: number): number {
  if (n < 0) throw r.fail(`negative ${field} ${n}`, at);
  // Checked before allocating, so a corrupt count cannot make us build a huge array.
  if (n * minBytesEach > r.remaining) throw r.fail(`${field} ${n} exceeds the ${r.remaining} bytes left`, at);
  return n;
}

function tupleData(r: ByteReader): PgoutputTuple {
  const at = r.offset;
  const n = count(r, r.int16('column count'), 'column count', at, 1);
  const values: PgoutputValue[] = [];
  for (let i = 0; i < n; i++) {
    const kindAt = r.offset;
    const kind = r.uint8(`column ${i} kind`);
    switch (kind) {
      case 0x6e /* n */:
        values.push(null);
        break;
      case 0x75 /* u */:
        values.push(UNCHANGED_TOAST);
        break;
      case 0x74 /* t */:
      case 0x62 /* b */: {
        const lenAt = r.offset;
        const len = r.int32(`column ${i} length`);
        if (len < 0) throw r.fail(`negative column ${i} length ${len}`, lenAt);
        const valueAt = r.offset;
        const bytes = r.bytes(len, `column ${i} value`);
        values.push(kind === 0x74 ? r.utf8(bytes, `column ${i} value`, valueAt) : bytes);
        break;
      }
      default:
        throw r.fail(`unknown column kind 0x${kind.toString(16)}`, kindAt);
    }
  }
  return values;
}

/** Reads the `K`/`O` marker of an old tuple; `N` is handled by the caller. */
function oldKindOf(byte: number): 'key' | 'full' | undefined {
  return byte === 0x4b /* K */ ? 'key' : byte === 0x4f /* O */ ? 'full' : undefined;
}

function expectN(r: ByteReader): void {
  const at = r.offset;
  const b = r.uint8('new tuple marker');
  if (b !== 0x4e /* N */) throw r.fail(`expected new tuple marker 'N', got 0x${b.toString(16)}`, at);
}

function decodeBody(r: ByteReader, tag: number, ctx: DecodeContext): PgoutputMessage {
  switch (tag) {
    case 0x42: {
      const finalLsn = r.lsn('final LSN');
      const commitTimeMs = r.timestampMs('commit time');
      return { tag: 'begin', finalLsn, commitTimeMs, xid: r.uint32('xid') };
    }
    case 0x43: {
      flagsZero(r);
      const commitLsn = r.lsn('commit LSN');
      const endLsn = r.lsn('end LSN');
      return { tag: 'commit', commitLsn, endLsn, commitTimeMs: r.timestampMs('commit time') };
    }
    case 0x4f: {
      const originLsn = r.lsn('origin LSN');
      return { tag: 'origin', originLsn, name: r.cstring('origin name') };
    }
    case 0x52: {
      const xid = streamXid(r, ctx);
      const relationId = r.uint32('relation OID');
      const namespace = r.cstring('namespace');
      const name = r.cstring('relation name');
      const riAt = r.offset;
      const riByte = r.uint8('replica identity');
      const replicaIdentity = REPLICA_IDENTITY[riByte];
      if (replicaIdentity === undefined)
        throw r.fail(`unknown replica identity 0x${riByte.toString(16)}`, riAt);
      const nAt = r.offset;
      // Each column takes at least flags + NUL + type OID + typmod = 10 bytes.
      const n = count(r, r.int16('column count'), 'column count', nAt, 10);
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flagsAt = r.offset;
        const flags = r.uint8(`column ${i} flags`);
        if (flags > 1) throw r.fail(`unknown column ${i} flags ${flags}`, flagsAt);
        const colName = r.cstring(`column ${i} name`);
        const typeOid = r.uint32(`column ${i} type OID`);
        const typeModifier = r.int32(`column ${i} type modifier`);
        columns.push({ name: colName, typeOid, typeModifier, isKey: flags === 1 });
      }
      return { tag: 'relation', ...xid, relationId, namespace, name, replicaIdentity, columns };
    }
    case 0x59: {
      const xid = streamXid(r, ctx);
      const typeOid = r.uint32('type OID');
      const namespace = r.cstring('namespace');
      return { tag: 'type', ...xid, typeOid, namespace, name: r.cstring('type name') };
    }
    case 0x49: {
      const xid = streamXid(r, ctx);
      const relationId = r.uint32('relation OID');
      expectN(r);
      return { tag: 'insert', ...xid, relationId, newTuple: tupleData(r) };
    }
    case 0x55: {
      const xid = streamXid(r, ctx);
      const relationId = r.uint32('relation OID');
      const at = r.offset;
      const marker = r.uint8('tuple marker');
      if (marker === 0x4e) return { tag: 'update', ...xid, relationId, newTuple: tupleData(r) };
      const oldKind = oldKindOf(marker);
      if (oldKind === undefined)
        throw r.fail(`expected tuple marker K, O or N, got 0x${marker.toString(16)}`, at);
      const oldTuple = tupleData(r);
      expectN(r);
      return { tag: 'update', ...xid, relationId, oldKind, oldTuple, newTuple: tupleData(r) };
    }
    case 0x44: {
      const xid = streamXid(r, ctx);
      const relationId = r.uint32('relation OID');
      const at = r.offset;
      const marker = r.uint8('tuple marker');
      const oldKind = oldKindOf(marker);
      if (oldKind === undefined)
        throw r.fail(`expected tuple marker K or O, got 0x${marker.toString(16)}`, at);
      return { tag: 'delete', ...xid, relationId, oldKind, oldTuple: tupleData(r) };
    }
    case 0x54: {
      const xid = streamXid(r, ctx);
      const nAt = r.offset;
      const nRaw = r.int32('relation count');
      const optAt = r.offset;
      const options = r.uint8('options');
      if (options > 3) throw r.fail(`unknown truncate options ${options}`, optAt);
      const n = count(r, nRaw, 'relation count', nAt, 4);
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.uint32(`relation ${i} OID`));
      return {
        tag: 'truncate',
        ...xid,
        relationIds,
        cascade: (options & 1) !== 0,
        restartIdentity: (options & 2) !== 0,
      };
    }
    case 0x4d: {
      const xid = streamXid(r, ctx);
      const flagsAt = r.offset;
      const flags = r.uint8('flags');
      if (flags > 1) throw r.fail(`unknown message flags ${flags}`, flagsAt);
      const lsn = r.lsn('message LSN');
      const prefix = r.cstring('prefix');
      const lenAt = r.offset;
      const len = r.int32('content length');
      if (len < 0) throw r.fail(`negative content length ${len}`, lenAt);
      return {
        tag: 'message',
        ...xid,
        transactional: flags === 1,
        lsn,
        prefix,
        content: r.bytes(len, 'content'),
      };
    }
    case 0x53: {
      const xid = r.uint32('xid');
      const at = r.offset;
      const first = r.uint8('first segment');
      if (first > 1) throw r.fail(`first segment flag ${first} is not 0 or 1`, at);
      return { tag: 'stream-start', xid, firstSegment: first === 1 };
    }
    case 0x45:
      return { tag: 'stream-stop' };
    case 0x63: {
      const xid = r.uint32('xid');
      flagsZero(r);
      const commitLsn = r.lsn('commit LSN');
      const endLsn = r.lsn('end LSN');
      return { tag: 'stream-commit', xid, commitLsn, endLsn, commitTimeMs: r.timestampMs('commit time') };
    }
    case 0x41: {
      const xid = r.uint32('xid');
      const subXid = r.uint32('subtransaction xid');
      if (r.remaining === 0) return { tag: 'stream-abort', xid, subXid };
      const abortLsn = r.lsn('abort LSN');
      return { tag: 'stream-abort', xid, subXid, abortLsn, abortTimeMs: r.timestampMs('abort time') };
    }
    case 0x62: {
      const prepareLsn = r.lsn('prepare LSN');
      const endLsn = r.lsn('end LSN');
      const prepareTimeMs = r.timestampMs('prepare time');
      const xid = r.uint32('xid');
      return { tag: 'begin-prepare', prepareLsn, endLsn, prepareTimeMs, xid, gid: r.cstring('gid') };
    }
    case 0x50:
    case 0x70: {
      flagsZero(r);
      const prepareLsn = r.lsn('prepare LSN');
      const endLsn = r.lsn('end LSN');
      const prepareTimeMs = r.timestampMs('prepare time');
      const xid = r.uint32('xid');
      const gid = r.cstring('gid');
      return {
        tag: tag === 0x50 ? 'prepare' : 'stream-prepare',
        prepareLsn,
        endLsn,
        prepareTimeMs,
        xid,
        gid,
      };
    }
    case 0x4b: {
      flagsZero(r);
      const commitLsn = r.lsn('commit LSN');
      const endLsn = r.lsn('end LSN');
      const commitTimeMs = r.timestampMs('commit time');
      const xid = r.uint32('xid');
      return { tag: 'commit-prepared', commitLsn, endLsn, commitTimeMs, xid, gid: r.cstring('gid') };
    }
    case 0x72: {
      flagsZero(r);
      const prepareEndLsn = r.lsn('prepare end LSN');
      const rollbackEndLsn = r.lsn('rollback end LSN');
      const prepareTimeMs = r.timestampMs('prepare time');
      const rollbackTimeMs = r.timestampMs('rollback time');
      const xid = r.uint32('xid');
      const gid = r.cstring('gid');
      return {
        tag: 'rollback-prepared',
        prepareEndLsn,
        rollbackEndLsn,
        prepareTimeMs,
        rollbackTimeMs,
        xid,
        gid,
      };
    }
    default:
      throw r.fail(`unknown message type 0x${tag.toString(16)}`, 0);
  }
}

/**
 * Stateful wrapper of {@link decodePgoutput} for one replication stream: tracks whether it is inside a
 * stream block and checks the block framing (no nested Stream Start, no Stream Stop outside a block,
 * no transaction boundary messages inside a block).
 */
export class PgoutputStreamDecoder {
  private streamXid: number | undefined;

  /** xid of the streamed transaction whose block is open, or undefined outside a stream block. */
  get currentStreamXid(): number | undefined {
    return this.streamXid;
  }

  /**
   * Decodes the next message of the stream and updates the stream-block state.
   * @throws {DecodeError} (`DECODE_FAILED`) on malformed input or framing that breaks the protocol rules;
   *   the state is unchanged then.
   */
  decode(data: Buffer): PgoutputMessage {
    const inStream = this.streamXid !== undefined;
    const msg = decodePgoutput(data, { inStream });
    const misplaced = (problem: string): DecodeError => new DecodeError(`pgoutput ${msg.tag}`, 0, problem);
    switch (msg.tag) {
      case 'stream-start':
        if (inStream) throw misplaced(`Stream Start inside the stream block of xid ${this.streamXid}`);
        this.streamXid = msg.xid;
        break;
      case 'stream-stop':
        if (!inStream) throw misplaced('Stream Stop outside a stream block');
        this.streamXid = undefined;
        break;
      case 'begin':
      case 'commit':
      case 'stream-commit':
      case 'stream-abort':
      case 'stream-prepare':
      case 'begin-prepare':
      case 'prepare':
      case 'commit-prepared':
      case 'rollback-prepared':
        if (inStream) throw misplaced(`${msg.tag} inside the stream block of xid ${this.streamXid}`);
        break;
      case 'origin':
      case 'relation':
      case 'type':
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
      case 'message':
        break;
    }
    return msg;
  }
}
