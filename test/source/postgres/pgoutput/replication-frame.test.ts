import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PgdtsError } from '../../../../src/core/errors.ts';
import { parseLsn, type Lsn } from '../../../../src/core/lsn.ts';
import {
  encodeStandbyStatus,
  parseReplicationFrame,
  STANDBY_STATUS_UPDATE_SIZE,
} from '../../../../src/source/postgres/pgoutput/replication-frame.ts';
import { ByteBuilder } from './byte-builder.ts';

const T = Date.UTC(2024, 1, 29, 23, 59, 59, 999);

function fails(payload: Buffer, offset: number, match: RegExp): void {
  assert.throws(
    () => parseReplicationFrame(payload),
    (e: unknown) =>
      e instanceof PgdtsError &&
      e.code === 'DECODE_FAILED' &&
      e.message.includes(`byte ${offset}`) &&
      match.test(e.message),
  );
}

test('XLogData: WAL start/end, send time in ms since 1970, data shares the payload', () => {
  const payload = new ByteBuilder()
    .ch('w')
    .u64(parseLsn('0/16B3748'))
    .u64(parseLsn('FFFFFFFF/FFFFFFFF'))
    .tsMs(T)
    .raw(Buffer.from('B...'))
    .build();
  const f = parseReplicationFrame(payload);
  assert.deepEqual(f, {
    tag: 'xlog-data',
    walStart: parseLsn('0/16B3748'),
    walEnd: parseLsn('FFFFFFFF/FFFFFFFF'),
    sendTimeMs: T,
    data: Buffer.from('B...'),
  });
  assert.equal(f.tag === 'xlog-data' && f.data.buffer, payload.buffer);
  // Empty data is legal framing.
  const empty = parseReplicationFrame(new ByteBuilder().ch('w').u64(1n).u64(2n).tsMs(T).build());
  assert.equal(empty.tag === 'xlog-data' && empty.data.length, 0);
});

test('Primary keepalive, with and without reply requested', () => {
  for (const reply of [0, 1]) {
    const f = parseReplicationFrame(new ByteBuilder().ch('k').u64(parseLsn('1/0')).tsMs(T).u8(reply).build());
    assert.deepEqual(f, {
      tag: 'keepalive',
      walEnd: parseLsn('1/0'),
      sendTimeMs: T,
      replyRequested: reply === 1,
    });
  }
});

test('malformed frames fail with DECODE_FAILED and the offset', () => {
  fails(Buffer.alloc(0), 0, /truncated/);
  fails(Buffer.from('x'), 0, /unknown frame type 0x78/);
  fails(new ByteBuilder().ch('w').u64(1n).u64(2n).build(), 17, /send time/);
  fails(new ByteBuilder().ch('k').u64(1n).tsMs(T).build(), 17, /reply/);
  fails(new ByteBuilder().ch('k').u64(1n).tsMs(T).u8(2).build(), 17, /not 0 or 1/);
  fails(new ByteBuilder().ch('k').u64(1n).tsMs(T).u8(0).u8(0).build(), 18, /trailing/);
});

test('Standby status update encodes LSNs, client time (µs since 2000) and the reply flag', () => {
  const b = encodeStandbyStatus({
    written: parseLsn('1/10'),
    flushed: parseLsn('1/8'),
    applied: parseLsn('1/4'),
    clientTimeMs: T + 0.5,
    replyRequested: true,
  });
  assert.equal(b.length, STANDBY_STATUS_UPDATE_SIZE);
  assert.equal(String.fromCharCode(b[0] ?? 0), 'r');
  assert.equal(b.readBigUInt64BE(1), 0x1_0000_0010n);
  assert.equal(b.readBigUInt64BE(9), 0x1_0000_0008n);
  assert.equal(b.readBigUInt64BE(17), 0x1_0000_0004n);
  assert.equal(b.readBigInt64BE(25), (BigInt(T) - 946_684_800_000n) * 1000n + 500n);
  assert.equal(b[33], 1);
  const b2 = encodeStandbyStatus({
    written: 0n as Lsn,
    flushed: 0n as Lsn,
    applied: 0n as Lsn,
    clientTimeMs: 946_684_800_000,
    replyRequested: false,
  });
  assert.deepEqual([...b2.subarray(1)], new Array<number>(33).fill(0));
  assert.throws(
    () =>
      encodeStandbyStatus({
        written: -1n as Lsn,
        flushed: 0n as Lsn,
        applied: 0n as Lsn,
        clientTimeMs: 0,
        replyRequested: false,
      }),
    (e: unknown) => e instanceof PgdtsError && e.code === 'INTERNAL',
  );
  assert.throws(
    () =>
      encodeStandbyStatus({
        written: 0n as Lsn,
        flushed: 0n as Lsn,
        applied: 0n as Lsn,
        clientTimeMs: NaN,
        replyRequested: false,
      }),
    (e: unknown) => e instanceof PgdtsError && e.code === 'INTERNAL',
  );
});
