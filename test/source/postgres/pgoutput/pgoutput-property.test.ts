import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { UNCHANGED_TOAST, type ReplicaIdentity } from '../../../../src/core/change.ts';
import { PgdtsError } from '../../../../src/core/errors.ts';
import type { Lsn } from '../../../../src/core/lsn.ts';
import {
  decodePgoutput,
  PgoutputStreamDecoder,
} from '../../../../src/source/postgres/pgoutput/pgoutput-decoder.ts';
import type {
  PgoutputMessage,
  PgoutputValue,
} from '../../../../src/source/postgres/pgoutput/pgoutput-message.ts';
import { RelationCache } from '../../../../src/source/postgres/pgoutput/relation-cache.ts';
import { parseReplicationFrame } from '../../../../src/source/postgres/pgoutput/replication-frame.ts';
import { ByteBuilder, encodePgoutput, hasStreamXid } from './byte-builder.ts';

/** fc.record with ordinary prototypes, so that results deep-equal what the decoder builds. */
function rec<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const lsn = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => v as Lsn);
// Whole ms whose µs since 2000-01-01 fit an int64 and which a double holds exactly.
const timeMs = fc.integer({ min: -(2 ** 52), max: 2 ** 52 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const cstr = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0'));
const bytes = fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a));
const value: fc.Arbitrary<PgoutputValue> = fc.oneof(
  fc.constant(null),
  fc.constant(UNCHANGED_TOAST),
  fc.string({ unit: 'binary', maxLength: 16 }),
  bytes,
);
const tuple = fc.array(value, { maxLength: 6 });
const replicaIdentity = fc.constantFrom<ReplicaIdentity>('default', 'nothing', 'full', 'index');
const oldKind = fc.constantFrom<'key' | 'full'>('key', 'full');

function prepared<T extends 'begin-prepare' | 'prepare' | 'stream-prepare'>(tag: T) {
  return rec({
    tag: fc.constant(tag),
    prepareLsn: lsn,
    endLsn: lsn,
    prepareTimeMs: timeMs,
    xid: u32,
    gid: cstr,
  });
}

/** A message as it appears in or out of a stream block (xid of change messages present iff in a stream). */
function messageArb(inStream: boolean): fc.Arbitrary<PgoutputMessage> {
  // Typed as always present; out of a stream block the key is really absent, as the round trip checks.
  const x = (inStream ? { xid: u32 } : {}) as { xid: fc.Arbitrary<number> };
  return fc.oneof(
    rec({ tag: fc.constant('begin' as const), finalLsn: lsn, commitTimeMs: timeMs, xid: u32 }),
    rec({ tag: fc.constant('commit' as const), commitLsn: lsn, endLsn: lsn, commitTimeMs: timeMs }),
    rec({ tag: fc.constant('origin' as const), originLsn: lsn, name: cstr }),
    rec({
      tag: fc.constant('relation' as const),
      ...x,
      relationId: u32,
      namespace: cstr,
      name: cstr,
      replicaIdentity,
      columns: fc.array(
        rec({
          name: cstr,
          typeOid: u32,
          typeModifier: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
          isKey: fc.boolean(),
        }),
        { maxLength: 5 },
      ),
    }),
    rec({ tag: fc.constant('type' as const), ...x, typeOid: u32, namespace: cstr, name: cstr }),
    rec({ tag: fc.constant('insert' as const), ...x, relationId: u32, newTuple: tuple }),
    rec({ tag: fc.constant('update' as const), ...x, relationId: u32, newTuple: tuple }),
    rec({
      tag: fc.constant('update' as const),
      ...x,
      relationId: u32,
      oldKind,
      oldTuple: tuple,
      newTuple: tuple,
    }),
    rec({ tag: fc.constant('delete' as const), ...x, relationId: u32, oldKind, oldTuple: tuple }),
    rec({
      tag: fc.constant('truncate' as const),
      ...x,
      relationIds: fc.array(u32, { maxLength: 5 }),
      cascade: fc.boolean(),
      restartIdentity: fc.boolean(),
    }),
    rec({
      tag: fc.constant('message' as const),
      ...x,
      transactional: fc.boolean(),
      lsn,
      prefix: cstr,
      content: bytes,
    }),
    rec({ tag: fc.constant('stream-start' as const), xid: u32, firstSegment: fc.boolean() }),
    rec({ tag: fc.constant('stream-stop' as const) }),
    rec({
      tag: fc.constant('stream-commit' as const),
      xid: u32,
      commitLsn: lsn,
      endLsn: lsn,
      commitTimeMs: timeMs,
    }),
    rec({ tag: fc.constant('stream-abort' as const), xid: u32, subXid: u32 }),
    rec({
      tag: fc.constant('stream-abort' as const),
      xid: u32,
      subXid: u32,
      abortLsn: lsn,
      abortTimeMs: timeMs,
    }),
    prepared('begin-prepare'),
    prepared('prepare'),
    prepared('stream-prepare'),
    rec({
      tag: fc.constant('commit-prepared' as const),
      commitLsn: lsn,
      endLsn: lsn,
      commitTimeMs: timeMs,
      xid: u32,
      gid: cstr,
    }),
    rec({
      tag: fc.constant('rollback-prepared' as const),
      prepareEndLsn: lsn,
      rollbackEndLsn: lsn,
      prepareTimeMs: timeMs,
      rollbackTimeMs: timeMs,
      xid: u32,
      gid: cstr,
    }),
  );
}

const framed = fc.boolean().chain((inStream) => messageArb(inStream).map((msg) => ({ inStream, msg })));

/** Mutations of a valid frame: truncation, byte flips, insertions, appended garbage. */
const mutated = fc
  .tuple(
    framed,
    fc.array(
      fc.oneof(
        rec({ op: fc.constant('truncate' as const), at: fc.nat() }),
        rec({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
        rec({ op: fc.constant('insert' as const), at: fc.nat(), extra: bytes }),
        rec({ op: fc.constant('append' as const), extra: bytes }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([{ inStream, msg }, ops]) => {
    let b = encodePgoutput(msg);
    for (const o of ops) {
      if (o.op === 'truncate') b = b.subarray(0, b.length === 0 ? 0 : o.at % b.length);
      else if (o.op === 'set') {
        if (b.length > 0) {
          b = Buffer.from(b);
          b[o.at % b.length] = o.byte;
        }
      } else if (o.op === 'insert') {
        const at = b.length === 0 ? 0 : o.at % b.length;
        b = Buffer.concat([b.subarray(0, at), o.extra, b.subarray(at)]);
      } else b = Buffer.concat([b, o.extra]);
    }
    return { inStream, data: b };
  });

/** Runs `f`; anything thrown must be a PgdtsError with code DECODE_FAILED. */
function onlyDecodeFailed(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof PgdtsError) || e.code !== 'DECODE_FAILED') throw e;
  }
}

test('valid messages round-trip: encode, then decode gives back the values', () => {
  fc.assert(
    fc.property(framed, ({ inStream, msg }) => {
      assert.deepStrictEqual(decodePgoutput(encodePgoutput(msg), { inStream }), msg);
      if (hasStreamXid(msg)) assert.equal('xid' in msg, inStream);
    }),
    { numRuns: 3000 },
  );
});

test('random bytes never throw anything but DECODE_FAILED', () => {
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // Start with a valid tag byte so the message bodies are reached.
    fc
      .tuple(fc.constantFrom(...'BCORYIUDTMSEcAbPKrpwkxZ'), fc.uint8Array({ maxLength: 64 }))
      .map(([t, rest]) => Buffer.concat([Buffer.from(t), rest])),
  );
  fc.assert(
    fc.property(anyBytes, fc.boolean(), (a, inStream) => {
      const data = Buffer.from(a);
      onlyDecodeFailed(() => decodePgoutput(data, { inStream }));
      onlyDecodeFailed(() => parseReplicationFrame(data));
    }),
    { numRuns: 5000 },
  );
});

test('truncated and mutated valid frames never throw anything but DECODE_FAILED', () => {
  fc.assert(
    fc.property(mutated, ({ inStream, data }) => {
      onlyDecodeFailed(() => decodePgoutput(data, { inStream }));
      onlyDecodeFailed(() => decodePgoutput(data, { inStream: !inStream }));
      onlyDecodeFailed(() => parseReplicationFrame(Buffer.concat([Buffer.from('w'), data])));
    }),
    { numRuns: 5000 },
  );
});

test('every strict prefix of a valid message fails with DECODE_FAILED', () => {
  fc.assert(
    fc.property(framed, ({ inStream, msg }) => {
      const full = encodePgoutput(msg);
      for (let n = 0; n < full.length; n++) {
        const prefix = full.subarray(0, n);
        // The only legal prefix is a v4 Stream Abort cut back to its v2 form.
        if (msg.tag === 'stream-abort' && n === 9) continue;
        assert.throws(
          () => decodePgoutput(prefix, { inStream }),
          (e: unknown) => e instanceof PgdtsError && e.code === 'DECODE_FAILED',
        );
      }
    }),
    { numRuns: 500 },
  );
});

test('stream decoder and relation cache on random message sequences only fail with DECODE_FAILED', () => {
  const seq = fc.array(
    fc.oneof(
      framed.map((f) => encodePgoutput(f.msg)),
      fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a)),
    ),
    {
      maxLength: 30,
    },
  );
  fc.assert(
    fc.property(seq, (frames) => {
      const d = new PgoutputStreamDecoder();
      const cache = new RelationCache();
      for (const f of frames)
        onlyDecodeFailed(() => {
          const m = d.decode(f);
          if (m.tag === 'relation') cache.add(m);
          else if (m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete' || m.tag === 'truncate')
            cache.toChange(m);
        });
    }),
    { numRuns: 1000 },
  );
});

test('XLogData and keepalive frames round-trip', () => {
  fc.assert(
    fc.property(lsn, lsn, timeMs, bytes, fc.boolean(), (a, b, t, data, reply) => {
      assert.deepStrictEqual(
        parseReplicationFrame(new ByteBuilder().ch('w').u64(a).u64(b).tsMs(t).raw(data).build()),
        {
          tag: 'xlog-data',
          walStart: a,
          walEnd: b,
          sendTimeMs: t,
          data,
        },
      );
      assert.deepStrictEqual(
        parseReplicationFrame(
          new ByteBuilder()
            .ch('k')
            .u64(b)
            .tsMs(t)
            .u8(reply ? 1 : 0)
            .build(),
        ),
        {
          tag: 'keepalive',
          walEnd: b,
          sendTimeMs: t,
          replyRequested: reply,
        },
      );
    }),
  );
});
