/** Reordering and coalescing of a flush (pure), and its safety rule checked on a real server. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { UNCHANGED_TOAST, type Change } from '../../../../src/core/change.ts';
import { coalesceChanges } from '../../../../src/sink/postgres/apply/coalesce-changes.ts';
import { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';
import { destinationClient, relation, sourceTransaction } from './apply-fixtures.ts';

const a = relation('public', 'a', ['id', 'v', 'big'], ['id']);
const b = relation('public', 'b', ['id', 'v'], ['id']);
const always = () => true;
const kinds = (cs: readonly Change[]) =>
  cs.map((c) =>
    c.kind === 'truncate'
      ? 'T'
      : `${c.relation.name}:${c.kind}:${String(c.kind === 'delete' ? c.oldTuple[0] : c.newTuple[0])}`,
  );

test('changes are grouped by table, each table keeping its order; TRUNCATE is a barrier', () => {
  const out = coalesceChanges(
    [
      { kind: 'update', relation: a, newTuple: ['1', 'x', 'b'] },
      { kind: 'insert', relation: b, newTuple: ['1', 'y'] },
      { kind: 'update', relation: a, newTuple: ['2', 'x', 'b'] },
      { kind: 'truncate', relations: [b], cascade: false, restartIdentity: false },
      { kind: 'insert', relation: b, newTuple: ['9', 'z'] },
      { kind: 'update', relation: a, newTuple: ['3', 'x', 'b'] },
    ],
    always,
  );
  assert.deepEqual(kinds(out), ['a:update:1', 'a:update:2', 'b:insert:1', 'T', 'b:insert:9', 'a:update:3']);
});

test('updates of one key merge into the earlier insert or update; unchanged TOAST keeps the earlier value', () => {
  const out = coalesceChanges(
    [
      { kind: 'insert', relation: a, newTuple: ['1', 'v0', 'big0'] },
      { kind: 'update', relation: a, newTuple: ['2', 'w', UNCHANGED_TOAST] },
      { kind: 'update', relation: a, newTuple: ['1', 'v1', UNCHANGED_TOAST] },
      { kind: 'update', relation: a, newTuple: ['2', 'w2', null] },
      { kind: 'update', relation: a, newTuple: ['1', 'v2', UNCHANGED_TOAST] },
    ],
    always,
  );
  assert.deepEqual(out, [
    { kind: 'insert', relation: a, newTuple: ['1', 'v2', 'big0'] },
    { kind: 'update', relation: a, newTuple: ['2', 'w2', null] },
  ]);
});

test('no merge across a delete or a key change, nor when rows may not be reordered', () => {
  const seq: Change[] = [
    { kind: 'insert', relation: a, newTuple: ['1', 'v0', 'x'] },
    { kind: 'delete', relation: a, oldKind: 'key', oldTuple: ['1', null, null] },
    { kind: 'insert', relation: a, newTuple: ['1', 'again', 'x'] },
    {
      kind: 'update',
      relation: a,
      oldKind: 'key',
      oldTuple: ['1', null, null],
      newTuple: ['5', 'moved', 'x'],
    },
    { kind: 'update', relation: a, newTuple: ['5', 'after', UNCHANGED_TOAST] },
  ];
  assert.deepEqual(coalesceChanges(seq, always), seq);
  const twice: Change[] = [
    { kind: 'update', relation: a, newTuple: ['1', 'x', 'y'] },
    { kind: 'update', relation: a, newTuple: ['1', 'z', 'y'] },
  ];
  assert.deepEqual(
    coalesceChanges(twice, () => false),
    twice,
  );
  const full = relation('public', 'f', ['x', 'y'], ['x', 'y'], 'full');
  const fullSeq: Change[] = [
    { kind: 'update', relation: full, oldKind: 'full', oldTuple: ['1', '1'], newTuple: ['1', '2'] },
    { kind: 'update', relation: full, oldKind: 'full', oldTuple: ['1', '2'], newTuple: ['1', '3'] },
  ];
  assert.deepEqual(coalesceChanges(fullSeq, always), fullSeq);
});

const s = testServer(15);
let db: string;
let client: pg.Client;
before(async () => {
  db = await freshDatabase(s, 'coalesce');
  client = await destinationClient(s, db);
});
after(async () => {
  await client.end();
});

test('a table with a second unique index keeps row order: a unique value passed between rows applies', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE); INSERT INTO users VALUES (1, 'x'), (2, 'w')`,
  );
  const users = relation('public', 'users', ['id', 'email'], ['id']);
  const applier = new PostgresChangeApplier({ client, taskName: 'coalesce' });
  // Row 1 frees 'x', row 2 takes it and frees 'w', row 1 takes 'w': merging row 1's updates would
  // apply email 'w' while row 2 still holds it.
  await sourceTransaction(applier, 1, 100, [
    { kind: 'update', relation: users, newTuple: ['1', 'y'] },
    { kind: 'update', relation: users, newTuple: ['2', 'x'] },
    { kind: 'update', relation: users, newTuple: ['1', 'w'] },
  ]);
  await applier.commitBatch();
  assert.deepEqual(await sql(s, db, 'SELECT id, email FROM users ORDER BY id'), [
    { id: 1, email: 'w' },
    { id: 2, email: 'x' },
  ]);
});
