import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNCHANGED_TOAST } from '../../../../src/core/change.ts';
import { PgdtsError } from '../../../../src/core/errors.ts';
import { decodePgoutput } from '../../../../src/source/postgres/pgoutput/pgoutput-decoder.ts';
import type {
  PgoutputChangeMessage,
  RelationMessage,
} from '../../../../src/source/postgres/pgoutput/pgoutput-message.ts';
import { RelationCache } from '../../../../src/source/postgres/pgoutput/relation-cache.ts';
import { ByteBuilder } from './byte-builder.ts';

const decodeFailed = (e: unknown): boolean => e instanceof PgdtsError && e.code === 'DECODE_FAILED';

function relationMsg(id: number, ri: string): RelationMessage {
  const m = decodePgoutput(
    new ByteBuilder()
      .ch('R')
      .u32(id)
      .cstr('app')
      .cstr(`t${id}`)
      .ch(ri)
      .i16(3)
      .u8(1)
      .cstr('id')
      .u32(20)
      .i32(-1)
      .u8(0)
      .cstr('body')
      .u32(25)
      .i32(-1)
      .u8(0)
      .cstr('n')
      .u32(1700)
      .i32(655366)
      .build(),
    { inStream: false },
  );
  assert.ok(m.tag === 'relation');
  return m;
}

function change(b: ByteBuilder): PgoutputChangeMessage {
  const m = decodePgoutput(b.build(), { inStream: false });
  assert.ok(m.tag === 'insert' || m.tag === 'update' || m.tag === 'delete' || m.tag === 'truncate');
  return m;
}

test('Relation messages become core relations (replica identity, isKey from flag bit 1)', () => {
  const cache = new RelationCache();
  const byByte = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const;
  for (const [i, [byte, ri]] of Object.entries(byByte).entries()) {
    const rel = cache.add(relationMsg(100 + i, byte));
    assert.deepEqual(rel, {
      id: 100 + i,
      schema: 'app',
      name: `t${100 + i}`,
      replicaIdentity: ri,
      columns: [
        { name: 'id', typeOid: 20, typeModifier: -1, isKey: true },
        { name: 'body', typeOid: 25, typeModifier: -1, isKey: false },
        { name: 'n', typeOid: 1700, typeModifier: 655366, isKey: false },
      ],
    });
    assert.equal(cache.get(100 + i), rel);
  }
  assert.equal(cache.size, 4);
  cache.clear();
  assert.throws(() => cache.get(100), decodeFailed);
});

test('a later Relation message replaces the earlier one', () => {
  const cache = new RelationCache();
  cache.add(relationMsg(7, 'd'));
  cache.add(relationMsg(7, 'f'));
  assert.equal(cache.get(7).replicaIdentity, 'full');
});

test('Insert/Update/Delete/Truncate become core changes', () => {
  const cache = new RelationCache();
  const rel = cache.add(relationMsg(7, 'd'));
  const rel2 = cache.add(relationMsg(8, 'f'));
  assert.deepEqual(cache.toChange(change(new ByteBuilder().ch('I').u32(7).ch('N').tuple(['1', 'x', null]))), {
    kind: 'insert',
    relation: rel,
    newTuple: ['1', 'x', null],
  });
  const upd = cache.toChange(
    change(new ByteBuilder().ch('U').u32(7).ch('N').tuple(['1', UNCHANGED_TOAST, '2.5'])),
  );
  assert.deepEqual(upd, { kind: 'update', relation: rel, newTuple: ['1', UNCHANGED_TOAST, '2.5'] });
  assert.ok(upd.kind === 'update' && upd.newTuple[1] === UNCHANGED_TOAST);
  assert.deepEqual(
    cache.toChange(
      change(
        new ByteBuilder().ch('U').u32(7).ch('K').tuple(['1', null, null]).ch('N').tuple(['2', 'x', null]),
      ),
    ),
    {
      kind: 'update',
      relation: rel,
      oldKind: 'key',
      oldTuple: ['1', null, null],
      newTuple: ['2', 'x', null],
    },
  );
  assert.deepEqual(
    cache.toChange(
      change(new ByteBuilder().ch('U').u32(8).ch('O').tuple(['1', 'a', '1']).ch('N').tuple(['1', 'b', '1'])),
    ),
    { kind: 'update', relation: rel2, oldKind: 'full', oldTuple: ['1', 'a', '1'], newTuple: ['1', 'b', '1'] },
  );
  assert.deepEqual(
    cache.toChange(change(new ByteBuilder().ch('D').u32(7).ch('K').tuple(['1', null, null]))),
    {
      kind: 'delete',
      relation: rel,
      oldKind: 'key',
      oldTuple: ['1', null, null],
    },
  );
  assert.deepEqual(cache.toChange(change(new ByteBuilder().ch('D').u32(8).ch('O').tuple(['1', 'a', '1']))), {
    kind: 'delete',
    relation: rel2,
    oldKind: 'full',
    oldTuple: ['1', 'a', '1'],
  });
  assert.deepEqual(cache.toChange(change(new ByteBuilder().ch('T').i32(2).u8(3).u32(7).u32(8))), {
    kind: 'truncate',
    relations: [rel, rel2],
    cascade: true,
    restartIdentity: true,
  });
});

test('unknown relation, wrong column count and binary values fail with DECODE_FAILED', () => {
  const cache = new RelationCache();
  cache.add(relationMsg(7, 'd'));
  assert.throws(
    () => cache.toChange(change(new ByteBuilder().ch('I').u32(9).ch('N').tuple(['1']))),
    decodeFailed,
  );
  assert.throws(
    () => cache.toChange(change(new ByteBuilder().ch('T').i32(2).u8(0).u32(7).u32(9))),
    decodeFailed,
  );
  assert.throws(
    () => cache.toChange(change(new ByteBuilder().ch('I').u32(7).ch('N').tuple(['1', 'x']))),
    (e: unknown) => decodeFailed(e) && /2 columns/.test((e as Error).message),
  );
  assert.throws(
    () => cache.toChange(change(new ByteBuilder().ch('D').u32(7).ch('K').tuple(['1', null, null, null]))),
    decodeFailed,
  );
  assert.throws(
    () =>
      cache.toChange(
        change(
          new ByteBuilder()
            .ch('I')
            .u32(7)
            .ch('N')
            .tuple(['1', Buffer.from([1]), null]),
        ),
      ),
    (e: unknown) => decodeFailed(e) && /binary/.test((e as Error).message),
  );
});
