import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UNCHANGED_TOAST } from '../../../../src/core/change.ts';
import { PgdtsError } from '../../../../src/core/errors.ts';
import { parseLsn } from '../../../../src/core/lsn.ts';
import { DecodeError } from '../../../../src/source/postgres/pgoutput/byte-reader.ts';
import {
  decodePgoutput,
  PgoutputStreamDecoder,
} from '../../../../src/source/postgres/pgoutput/pgoutput-decoder.ts';
import { ByteBuilder } from './byte-builder.ts';

const OUT = { inStream: false };
const IN = { inStream: true };
const T1 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const T2 = Date.UTC(2025, 5, 6, 7, 8, 9, 10);
const L1 = parseLsn('1/2345678');
const L2 = parseLsn('1/23456A0');
const bb = (): ByteBuilder => new ByteBuilder();

function decodeFails(data: Buffer, ctx = OUT, offset?: number, match?: RegExp): void {
  assert.throws(
    () => decodePgoutput(data, ctx),
    (e: unknown) => {
      assert.ok(e instanceof PgdtsError, `not a PgdtsError: ${String(e)}`);
      assert.equal(e.code, 'DECODE_FAILED');
      assert.ok(e instanceof DecodeError);
      if (offset !== undefined) assert.equal(e.offset, offset, e.message);
      if (match) assert.match(e.message, match);
      return true;
    },
  );
}

describe('transaction messages (protocol v1)', () => {
  test('Begin', () => {
    const m = decodePgoutput(bb().ch('B').u64(L2).tsMs(T1).u32(0xfffffffe).build(), OUT);
    assert.deepEqual(m, { tag: 'begin', finalLsn: L2, commitTimeMs: T1, xid: 0xfffffffe });
  });

  test('Begin commit time: µs since 2000-01-01 become whole ms since 1970 (floored)', () => {
    const m = decodePgoutput(bb().ch('B').u64(0n).i64(1_999n).u32(1).build(), OUT);
    assert.equal(m.tag === 'begin' && m.commitTimeMs, 946_684_800_001);
    const neg = decodePgoutput(bb().ch('B').u64(0n).i64(-946_684_800_000_001n).u32(1).build(), OUT);
    assert.equal(neg.tag === 'begin' && neg.commitTimeMs, -1);
  });

  test('Commit, with flags that must be 0', () => {
    const m = decodePgoutput(bb().ch('C').u8(0).u64(L1).u64(L2).tsMs(T1).build(), OUT);
    assert.deepEqual(m, { tag: 'commit', commitLsn: L1, endLsn: L2, commitTimeMs: T1 });
    decodeFails(bb().ch('C').u8(1).u64(L1).u64(L2).tsMs(T1).build(), OUT, 1, /flags/);
  });

  test('Origin', () => {
    const m = decodePgoutput(bb().ch('O').u64(L1).cstr('node_ä').build(), OUT);
    assert.deepEqual(m, { tag: 'origin', originLsn: L1, name: 'node_ä' });
  });

  test('Relation with every replica identity and key flags', () => {
    for (const [byte, ri] of [
      ['d', 'default'],
      ['n', 'nothing'],
      ['f', 'full'],
      ['i', 'index'],
    ] as const) {
      const data = bb()
        .ch('R')
        .u32(16384)
        .cstr('public')
        .cstr('t"1')
        .ch(byte)
        .i16(2)
        .u8(1)
        .cstr('id')
        .u32(23)
        .i32(-1)
        .u8(0)
        .cstr('v')
        .u32(1043)
        .i32(14)
        .build();
      assert.deepEqual(decodePgoutput(data, OUT), {
        tag: 'relation',
        relationId: 16384,
        namespace: 'public',
        name: 't"1',
        replicaIdentity: ri,
        columns: [
          { name: 'id', typeOid: 23, typeModifier: -1, isKey: true },
          { name: 'v', typeOid: 1043, typeModifier: 14, isKey: false },
        ],
      });
    }
  });

  test('Relation rejects unknown replica identity and column flags', () => {
    decodeFails(bb().ch('R').u32(1).cstr('s').cstr('t').ch('x').i16(0).build(), OUT, 9, /replica identity/);
    decodeFails(
      bb().ch('R').u32(1).cstr('s').cstr('t').ch('d').i16(1).u8(2).cstr('c').u32(23).i32(-1).build(),
      OUT,
      12,
      /flags/,
    );
    decodeFails(bb().ch('R').u32(1).cstr('s').cstr('t').ch('d').i16(-1).build(), OUT, 10, /negative/);
    decodeFails(bb().ch('R').u32(1).cstr('s').cstr('t').ch('d').i16(100).build(), OUT, 10, /exceeds/);
  });

  test('Type', () => {
    const m = decodePgoutput(bb().ch('Y').u32(90001).cstr('app').cstr('mood').build(), OUT);
    assert.deepEqual(m, { tag: 'type', typeOid: 90001, namespace: 'app', name: 'mood' });
  });

  test('Insert with n/u/t/b columns: unchanged TOAST stays distinct from null', () => {
    const data = bb()
      .ch('I')
      .u32(16384)
      .ch('N')
      .i16(5)
      .ch('n')
      .ch('u')
      .ch('t')
      .i32(3)
      .raw(Buffer.from('abc'))
      .ch('t')
      .i32(0)
      .ch('b')
      .i32(2)
      .raw([0, 255])
      .build();
    const m = decodePgoutput(data, OUT);
    assert.equal(m.tag, 'insert');
    assert.ok(m.tag === 'insert');
    assert.deepEqual(m.newTuple, [null, UNCHANGED_TOAST, 'abc', '', Buffer.from([0, 255])]);
    assert.notEqual(m.newTuple[1], null);
    assert.equal('xid' in m, false);
  });

  test('Insert text is strict UTF-8', () => {
    assert.deepEqual(
      decodePgoutput(bb().ch('I').u32(1).ch('N').i16(1).ch('t').i32(5).raw(Buffer.from('ü€')).build(), OUT),
      { tag: 'insert', relationId: 1, newTuple: ['ü€'] },
    );
    decodeFails(
      bb().ch('I').u32(1).ch('N').i16(1).ch('t').i32(2).raw([0xc3, 0x28]).build(),
      OUT,
      13,
      /UTF-8/,
    );
  });

  test('Insert rejects a missing N marker, bad kinds, negative and overlong lengths', () => {
    decodeFails(bb().ch('I').u32(1).ch('K').i16(0).build(), OUT, 5, /'N'/);
    decodeFails(bb().ch('I').u32(1).ch('N').i16(1).ch('x').build(), OUT, 8, /kind/);
    decodeFails(bb().ch('I').u32(1).ch('N').i16(1).ch('t').i32(-1).build(), OUT, 9, /negative/);
    decodeFails(bb().ch('I').u32(1).ch('N').i16(1).ch('t').i32(10).raw([1, 2]).build(), OUT, 13, /truncated/);
    decodeFails(bb().ch('I').u32(1).ch('N').i16(-3).build(), OUT, 6, /negative/);
  });

  test('Update without old tuple, with K and with O', () => {
    assert.deepEqual(decodePgoutput(bb().ch('U').u32(7).ch('N').tuple(['1', 'x']).build(), OUT), {
      tag: 'update',
      relationId: 7,
      newTuple: ['1', 'x'],
    });
    assert.deepEqual(
      decodePgoutput(
        bb().ch('U').u32(7).ch('K').tuple(['1', null]).ch('N').tuple(['2', UNCHANGED_TOAST]).build(),
        OUT,
      ),
      {
        tag: 'update',
        relationId: 7,
        oldKind: 'key',
        oldTuple: ['1', null],
        newTuple: ['2', UNCHANGED_TOAST],
      },
    );
    assert.deepEqual(
      decodePgoutput(bb().ch('U').u32(7).ch('O').tuple(['1', 'a']).ch('N').tuple(['1', 'b']).build(), OUT),
      { tag: 'update', relationId: 7, oldKind: 'full', oldTuple: ['1', 'a'], newTuple: ['1', 'b'] },
    );
    decodeFails(bb().ch('U').u32(7).ch('X').tuple([]).build(), OUT, 5, /marker/);
    decodeFails(bb().ch('U').u32(7).ch('K').tuple(['1']).ch('K').tuple(['1']).build(), OUT, 14, /'N'/);
  });

  test('Delete with K and O', () => {
    assert.deepEqual(decodePgoutput(bb().ch('D').u32(7).ch('K').tuple(['1', null]).build(), OUT), {
      tag: 'delete',
      relationId: 7,
      oldKind: 'key',
      oldTuple: ['1', null],
    });
    assert.deepEqual(decodePgoutput(bb().ch('D').u32(7).ch('O').tuple(['1', 'z']).build(), OUT), {
      tag: 'delete',
      relationId: 7,
      oldKind: 'full',
      oldTuple: ['1', 'z'],
    });
    decodeFails(bb().ch('D').u32(7).ch('N').tuple(['1']).build(), OUT, 5, /marker/);
  });

  test('Truncate options: CASCADE and RESTART IDENTITY', () => {
    for (const [opt, cascade, restartIdentity] of [
      [0, false, false],
      [1, true, false],
      [2, false, true],
      [3, true, true],
    ] as const) {
      const m = decodePgoutput(bb().ch('T').i32(2).u8(opt).u32(10).u32(0xffffffff).build(), OUT);
      assert.deepEqual(m, { tag: 'truncate', relationIds: [10, 0xffffffff], cascade, restartIdentity });
    }
    decodeFails(bb().ch('T').i32(1).u8(4).u32(10).build(), OUT, 5, /options/);
    decodeFails(bb().ch('T').i32(-1).u8(0).build(), OUT, 1, /negative/);
    decodeFails(bb().ch('T').i32(0x7fffffff).u8(0).u32(1).build(), OUT, 1, /exceeds/);
  });

  test('Message (logical decoding message), transactional or not', () => {
    for (const transactional of [true, false]) {
      const m = decodePgoutput(
        bb()
          .ch('M')
          .u8(transactional ? 1 : 0)
          .u64(L1)
          .cstr('pgdts')
          .i32(3)
          .raw([0, 1, 2])
          .build(),
        OUT,
      );
      assert.deepEqual(m, {
        tag: 'message',
        transactional,
        lsn: L1,
        prefix: 'pgdts',
        content: Buffer.from([0, 1, 2]),
      });
    }
    decodeFails(bb().ch('M').u8(2).u64(L1).cstr('p').i32(0).build(), OUT, 1, /flags/);
    decodeFails(bb().ch('M').u8(0).u64(L1).cstr('p').i32(-5).build(), OUT, 12, /negative/);
  });
});

describe('streaming messages (protocol v2)', () => {
  test('Stream Start / Stop', () => {
    assert.deepEqual(decodePgoutput(bb().ch('S').u32(900).u8(1).build(), OUT), {
      tag: 'stream-start',
      xid: 900,
      firstSegment: true,
    });
    assert.deepEqual(decodePgoutput(bb().ch('S').u32(900).u8(0).build(), IN), {
      tag: 'stream-start',
      xid: 900,
      firstSegment: false,
    });
    decodeFails(bb().ch('S').u32(900).u8(2).build(), OUT, 5, /first segment/);
    assert.deepEqual(decodePgoutput(bb().ch('E').build(), IN), { tag: 'stream-stop' });
    decodeFails(bb().ch('E').u8(0).build(), IN, 1, /trailing/);
  });

  test('change messages inside a stream block carry the xid after the tag', () => {
    const x = 123456;
    assert.deepEqual(
      decodePgoutput(bb().ch('R').u32(x).u32(5).cstr('s').cstr('t').ch('f').i16(0).build(), IN),
      {
        tag: 'relation',
        xid: x,
        relationId: 5,
        namespace: 's',
        name: 't',
        replicaIdentity: 'full',
        columns: [],
      },
    );
    assert.deepEqual(decodePgoutput(bb().ch('Y').u32(x).u32(6).cstr('s').cstr('ty').build(), IN), {
      tag: 'type',
      xid: x,
      typeOid: 6,
      namespace: 's',
      name: 'ty',
    });
    assert.deepEqual(decodePgoutput(bb().ch('I').u32(x).u32(5).ch('N').tuple(['a']).build(), IN), {
      tag: 'insert',
      xid: x,
      relationId: 5,
      newTuple: ['a'],
    });
    assert.deepEqual(
      decodePgoutput(bb().ch('U').u32(x).u32(5).ch('O').tuple(['a']).ch('N').tuple(['b']).build(), IN),
      { tag: 'update', xid: x, relationId: 5, oldKind: 'full', oldTuple: ['a'], newTuple: ['b'] },
    );
    assert.deepEqual(decodePgoutput(bb().ch('D').u32(x).u32(5).ch('K').tuple(['a']).build(), IN), {
      tag: 'delete',
      xid: x,
      relationId: 5,
      oldKind: 'key',
      oldTuple: ['a'],
    });
    assert.deepEqual(decodePgoutput(bb().ch('T').u32(x).i32(1).u8(1).u32(5).build(), IN), {
      tag: 'truncate',
      xid: x,
      relationIds: [5],
      cascade: true,
      restartIdentity: false,
    });
    assert.deepEqual(
      decodePgoutput(bb().ch('M').u32(x).u8(1).u64(L1).cstr('p').i32(1).raw([9]).build(), IN),
      {
        tag: 'message',
        xid: x,
        transactional: true,
        lsn: L1,
        prefix: 'p',
        content: Buffer.from([9]),
      },
    );
  });

  test('the same bytes decode differently (or fail) depending on the stream context', () => {
    const inStream = bb().ch('I').u32(77).u32(5).ch('N').tuple(['a']).build();
    decodeFails(inStream, OUT); // 77 read as relation id, then 0x00 is not 'N'
    const outStream = bb().ch('I').u32(5).ch('N').tuple(['a']).build();
    decodeFails(outStream, IN);
  });

  test('Origin never carries an xid, even in a stream block', () => {
    assert.deepEqual(decodePgoutput(bb().ch('O').u64(L1).cstr('o').build(), IN), {
      tag: 'origin',
      originLsn: L1,
      name: 'o',
    });
  });

  test('Stream Commit', () => {
    assert.deepEqual(decodePgoutput(bb().ch('c').u32(900).u8(0).u64(L1).u64(L2).tsMs(T2).build(), OUT), {
      tag: 'stream-commit',
      xid: 900,
      commitLsn: L1,
      endLsn: L2,
      commitTimeMs: T2,
    });
    decodeFails(bb().ch('c').u32(900).u8(3).u64(L1).u64(L2).tsMs(T2).build(), OUT, 5, /flags/);
  });

  test('Stream Abort: v2/v3 form, and v4 form with abort LSN and time (streaming = parallel)', () => {
    assert.deepEqual(decodePgoutput(bb().ch('A').u32(900).u32(901).build(), OUT), {
      tag: 'stream-abort',
      xid: 900,
      subXid: 901,
    });
    assert.deepEqual(decodePgoutput(bb().ch('A').u32(900).u32(900).u64(L2).tsMs(T2).build(), OUT), {
      tag: 'stream-abort',
      xid: 900,
      subXid: 900,
      abortLsn: L2,
      abortTimeMs: T2,
    });
    decodeFails(bb().ch('A').u32(900).u32(900).u64(L2).build(), OUT, 17, /truncated/);
    decodeFails(bb().ch('A').u32(900).u32(900).u64(L2).tsMs(T2).u8(0).build(), OUT, 25, /trailing/);
    decodeFails(bb().ch('A').u32(900).u32(900).u8(0).build(), OUT, 9, /truncated/);
  });
});

describe('two-phase messages (protocol v3)', () => {
  test('Begin Prepare', () => {
    assert.deepEqual(
      decodePgoutput(bb().ch('b').u64(L1).u64(L2).tsMs(T1).u32(42).cstr('gid-1').build(), OUT),
      {
        tag: 'begin-prepare',
        prepareLsn: L1,
        endLsn: L2,
        prepareTimeMs: T1,
        xid: 42,
        gid: 'gid-1',
      },
    );
  });

  test('Prepare and Stream Prepare', () => {
    for (const [c, tag] of [
      ['P', 'prepare'],
      ['p', 'stream-prepare'],
    ] as const) {
      assert.deepEqual(
        decodePgoutput(bb().ch(c).u8(0).u64(L1).u64(L2).tsMs(T1).u32(42).cstr('g').build(), OUT),
        {
          tag,
          prepareLsn: L1,
          endLsn: L2,
          prepareTimeMs: T1,
          xid: 42,
          gid: 'g',
        },
      );
      decodeFails(bb().ch(c).u8(1).u64(L1).u64(L2).tsMs(T1).u32(42).cstr('g').build(), OUT, 1, /flags/);
    }
  });

  test('Commit Prepared', () => {
    assert.deepEqual(
      decodePgoutput(bb().ch('K').u8(0).u64(L1).u64(L2).tsMs(T2).u32(42).cstr('g').build(), OUT),
      {
        tag: 'commit-prepared',
        commitLsn: L1,
        endLsn: L2,
        commitTimeMs: T2,
        xid: 42,
        gid: 'g',
      },
    );
  });

  test('Rollback Prepared', () => {
    assert.deepEqual(
      decodePgoutput(bb().ch('r').u8(0).u64(L1).u64(L2).tsMs(T1).tsMs(T2).u32(42).cstr('g').build(), OUT),
      {
        tag: 'rollback-prepared',
        prepareEndLsn: L1,
        rollbackEndLsn: L2,
        prepareTimeMs: T1,
        rollbackTimeMs: T2,
        xid: 42,
        gid: 'g',
      },
    );
    decodeFails(
      bb().ch('r').u8(0).u64(L1).u64(L2).tsMs(T1).tsMs(T2).u32(42).raw(Buffer.from('g')).build(),
      OUT,
      38,
      /NUL/,
    );
  });
});

describe('malformed input', () => {
  test('empty, unknown tag, truncation and trailing bytes', () => {
    decodeFails(Buffer.alloc(0), OUT, 0, /truncated/);
    decodeFails(Buffer.from('Z'), OUT, 0, /unknown message type 0x5a/);
    decodeFails(bb().ch('B').u64(L1).tsMs(T1).build(), OUT, 17, /truncated: xid/);
    decodeFails(bb().ch('B').u64(L1).tsMs(T1).u32(1).u8(0).build(), OUT, 21, /trailing/);
    decodeFails(bb().ch('O').u64(L1).raw(Buffer.from('no-nul')).build(), OUT, 9, /NUL/);
  });
});

describe('PgoutputStreamDecoder', () => {
  test('tracks stream blocks and rejects broken framing', () => {
    const d = new PgoutputStreamDecoder();
    assert.equal(d.currentStreamXid, undefined);
    assert.equal(d.decode(bb().ch('I').u32(5).ch('N').tuple(['a']).build()).tag, 'insert');
    assert.throws(() => d.decode(bb().ch('E').build()), /Stream Stop outside/);
    d.decode(bb().ch('S').u32(900).u8(1).build());
    assert.equal(d.currentStreamXid, 900);
    const ins = d.decode(bb().ch('I').u32(901).u32(5).ch('N').tuple(['a']).build());
    assert.deepEqual(ins, { tag: 'insert', xid: 901, relationId: 5, newTuple: ['a'] });
    assert.throws(() => d.decode(bb().ch('S').u32(902).u8(1).build()), /inside the stream block/);
    assert.throws(
      () => d.decode(bb().ch('C').u8(0).u64(L1).u64(L2).tsMs(T1).build()),
      /inside the stream block/,
    );
    assert.equal(d.currentStreamXid, 900);
    d.decode(bb().ch('E').build());
    assert.equal(d.currentStreamXid, undefined);
    assert.equal(d.decode(bb().ch('c').u32(900).u8(0).u64(L1).u64(L2).tsMs(T2).build()).tag, 'stream-commit');
  });
});
