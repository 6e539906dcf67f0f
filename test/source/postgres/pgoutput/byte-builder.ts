/**
 * Test helpers: a tiny big-endian byte builder, and an encoder of pgoutput messages written from the
 * PostgreSQL docs ("Logical Replication Message Formats") independently of the decoder, for round trips.
 */
import { UNCHANGED_TOAST } from '../../../../src/core/change.ts';
import type {
  PgoutputMessage,
  PgoutputTuple,
} from '../../../../src/source/postgres/pgoutput/pgoutput-message.ts';

const PG_EPOCH_OFFSET_MS = 946_684_800_000n;

/** Appends big-endian fields; `build()` returns the bytes. */
export class ByteBuilder {
  private readonly parts: Buffer[] = [];

  private push(size: number, write: (b: Buffer) => void): this {
    const b = Buffer.alloc(size);
    write(b);
    this.parts.push(b);
    return this;
  }
  u8(v: number): this {
    return this.push(1, (b) => b.writeUInt8(v));
  }
  /** A character as its byte (tags and markers). */
  ch(c: string): this {
    return this.u8(c.charCodeAt(0));
  }
  i16(v: number): this {
    return this.push(2, (b) => b.writeInt16BE(v));
  }
  u32(v: number): this {
    return this.push(4, (b) => b.writeUInt32BE(v));
  }
  i32(v: number): this {
    return this.push(4, (b) => b.writeInt32BE(v));
  }
  u64(v: bigint): this {
    return this.push(8, (b) => b.writeBigUInt64BE(v));
  }
  i64(v: bigint): this {
    return this.push(8, (b) => b.writeBigInt64BE(v));
  }
  /** A timestamp given in ms since the Unix epoch, written as µs since 2000-01-01. */
  tsMs(ms: number): this {
    return this.i64((BigInt(ms) - PG_EPOCH_OFFSET_MS) * 1000n);
  }
  /** NUL-terminated UTF-8 string. */
  cstr(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), Buffer.from([0]));
    return this;
  }
  raw(b: Buffer | readonly number[]): this {
    this.parts.push(Buffer.isBuffer(b) ? b : Buffer.from(b));
    return this;
  }
  /** TupleData. */
  tuple(values: PgoutputTuple): this {
    this.i16(values.length);
    for (const v of values) {
      if (v === null) this.ch('n');
      else if (v === UNCHANGED_TOAST) this.ch('u');
      else if (typeof v === 'string') {
        const b = Buffer.from(v, 'utf8');
        this.ch('t').i32(b.length).raw(b);
      } else this.ch('b').i32(v.length).raw(v);
    }
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Encodes a message as pgoutput sends it; `xid` fields of change messages are written when present. */
export function encodePgoutput(m: PgoutputMessage): Buffer {
  const b = new ByteBuilder();
  const xid = (x: number | undefined): void => {
    if (x !== undefined) b.u32(x);
  };
  switch (m.tag) {
    case 'begin':
      return b.ch('B').u64(m.finalLsn).tsMs(m.commitTimeMs).u32(m.xid).build();
    case 'commit':
      return b.ch('C').u8(0).u64(m.commitLsn).u64(m.endLsn).tsMs(m.commitTimeMs).build();
    case 'origin':
      return b.ch('O').u64(m.originLsn).cstr(m.name).build();
    case 'relation':
      b.ch('R');
      xid(m.xid);
      b.u32(m.relationId).cstr(m.namespace).cstr(m.name);
      b.ch({ default: 'd', nothing: 'n', full: 'f', index: 'i' }[m.replicaIdentity]).i16(m.columns.length);
      for (const c of m.columns)
        b.u8(c.isKey ? 1 : 0)
          .cstr(c.name)
          .u32(c.typeOid)
          .i32(c.typeModifier);
      return b.build();
    case 'type':
      b.ch('Y');
      xid(m.xid);
      return b.u32(m.typeOid).cstr(m.namespace).cstr(m.name).build();
    case 'insert':
      b.ch('I');
      xid(m.xid);
      return b.u32(m.relationId).ch('N').tuple(m.newTuple).build();
    case 'update':
      b.ch('U');
      xid(m.xid);
      b.u32(m.relationId);
      if (m.oldTuple !== undefined) b.ch(m.oldKind === 'key' ? 'K' : 'O').tuple(m.oldTuple);
      return b.ch('N').tuple(m.newTuple).build();
    case 'delete':
      b.ch('D');
      xid(m.xid);
      return b
        .u32(m.relationId)
        .ch(m.oldKind === 'key' ? 'K' : 'O')
        .tuple(m.oldTuple)
        .build();
    case 'truncate':
      b.ch('T');
      xid(m.xid);
      b.i32(m.relationIds.length).u8((m.cascade ? 1 : 0) | (m.restartIdentity ? 2 : 0));
      for (const id of m.relationIds) b.u32(id);
      return b.build();
    case 'message':
      b.ch('M');
      xid(m.xid);
      return b
        .u8(m.transactional ? 1 : 0)
        .u64(m.lsn)
        .cstr(m.prefix)
        .i32(m.content.length)
        .raw(m.content)
        .build();
    case 'stream-start':
      return b
        .ch('S')
        .u32(m.xid)
        .u8(m.firstSegment ? 1 : 0)
        .build();
    case 'stream-stop':
      return b.ch('E').build();
    case 'stream-commit':
      return b.ch('c').u32(m.xid).u8(0).u64(m.commitLsn).u64(m.endLsn).tsMs(m.commitTimeMs).build();
    case 'stream-abort':
      b.ch('A').u32(m.xid).u32(m.subXid);
      if (m.abortLsn !== undefined && m.abortTimeMs !== undefined) b.u64(m.abortLsn).tsMs(m.abortTimeMs);
      return b.build();
    case 'begin-prepare':
      return b.ch('b').u64(m.prepareLsn).u64(m.endLsn).tsMs(m.prepareTimeMs).u32(m.xid).cstr(m.gid).build();
    case 'prepare':
    case 'stream-prepare':
      return b
        .ch(m.tag === 'prepare' ? 'P' : 'p')
        .u8(0)
        .u64(m.prepareLsn)
        .u64(m.endLsn)
        .tsMs(m.prepareTimeMs)
        .u32(m.xid)
        .cstr(m.gid)
        .build();
    case 'commit-prepared':
      return b
        .ch('K')
        .u8(0)
        .u64(m.commitLsn)
        .u64(m.endLsn)
        .tsMs(m.commitTimeMs)
        .u32(m.xid)
        .cstr(m.gid)
        .build();
    case 'rollback-prepared':
      return b
        .ch('r')
        .u8(0)
        .u64(m.prepareEndLsn)
        .u64(m.rollbackEndLsn)
        .tsMs(m.prepareTimeMs)
        .tsMs(m.rollbackTimeMs)
        .u32(m.xid)
        .cstr(m.gid)
        .build();
  }
}

/** Does a message carry its xid after the tag only inside a stream block? */
export function hasStreamXid(m: PgoutputMessage): boolean {
  return ['relation', 'type', 'insert', 'update', 'delete', 'truncate', 'message'].includes(m.tag);
}
