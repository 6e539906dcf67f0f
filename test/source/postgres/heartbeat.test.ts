/**
 * The heartbeat's recognition in the change stream, sans I/O (src/source/postgres/heartbeat.ts):
 * changes of the heartbeat table never come out, the task's own beats are measured from their
 * commit time, other tasks' beats and other messages are not; the schema model loses the table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change, Relation } from '../../../src/core/change.ts';
import type { Lsn } from '../../../src/core/lsn.ts';
import type { SchemaModel, TableDef } from '../../../src/core/schema-model.ts';
import type { ChangeEvent } from '../../../src/core/source.ts';
import {
  HEARTBEAT_MESSAGE_PREFIX,
  HeartbeatObserver,
  heartbeatStatement,
  withoutTable,
} from '../../../src/source/postgres/heartbeat.ts';

const lsn = (n: number) => BigInt(n) as Lsn;
const T0 = 1_700_000_000_000;
const hbTable = { schema: 'public', name: 'pgdts_heartbeat' };
const relation = (schema: string, name: string, columns = ['task_name', 'beat_at']): Relation => ({
  id: 1,
  schema,
  name,
  replicaIdentity: 'default',
  columns: columns.map((c, i) => ({ name: c, typeOid: 25, typeModifier: -1, isKey: i === 0 })),
});
const hbRel = relation('public', 'pgdts_heartbeat');
const other = relation('public', 'orders', ['id']);
const begin = (at: number): ChangeEvent => ({
  kind: 'begin',
  xid: at,
  finalLsn: lsn(at),
  commitTimeMs: T0 + at,
});
const commit = (at: number): ChangeEvent => ({
  kind: 'commit',
  commit: { xid: at, commitLsn: lsn(at), endLsn: lsn(at + 8), commitTimeMs: T0 + at },
});
const change = (c: Change): ChangeEvent => ({ kind: 'change', change: c, bytes: 10 });
const upsert = (task: string): Change => ({
  kind: 'update',
  relation: hbRel,
  newTuple: [task, '2026-11-30 12:00:00+00'],
});

test('heartbeat table changes never come out; the transaction does, empty; the task’s beat is measured from its commit', () => {
  const o = new HeartbeatObserver({ taskName: 'orders', table: hbTable });
  assert.equal(o.last, undefined);
  const out = [
    begin(100),
    change({ kind: 'insert', relation: hbRel, newTuple: ['orders', 'x'] }),
    commit(100),
  ].map((e) => o.event(e, T0 + 112));
  assert.deepEqual(
    out.map((e) => e?.kind),
    ['begin', undefined, 'commit'],
  );
  assert.deepEqual(o.last, { lagMs: 12, receivedAtMs: T0 + 112 });

  // Another task's beat in a shared table: dropped, not measured.
  for (const e of [begin(200), change(upsert('billing')), commit(200)]) o.event(e, T0 + 900);
  assert.deepEqual(o.last, { lagMs: 12, receivedAtMs: T0 + 112 });
  // Its own beat again, by UPDATE; a DELETE of the table's rows is dropped too.
  assert.equal(o.event(begin(300), T0 + 340)?.kind, 'begin');
  assert.equal(o.event(change(upsert('orders')), T0 + 340), undefined);
  assert.equal(
    o.event(
      change({ kind: 'delete', relation: hbRel, oldKind: 'key', oldTuple: ['orders', null] }),
      T0 + 340,
    ),
    undefined,
  );
  assert.deepEqual(o.last, { lagMs: 40, receivedAtMs: T0 + 340 });
});

test('other tables pass untouched; a TRUNCATE loses only the heartbeat table', () => {
  const o = new HeartbeatObserver({ taskName: 'orders', table: hbTable });
  const ins = change({ kind: 'insert', relation: other, newTuple: ['1'] });
  assert.equal(o.event(ins, T0), ins);
  const both = change({
    kind: 'truncate',
    relations: [other, hbRel],
    cascade: false,
    restartIdentity: false,
  });
  const kept = o.event(both, T0);
  assert.ok(kept?.kind === 'change' && kept.change.kind === 'truncate');
  assert.deepEqual(kept.change.relations, [other]);
  assert.equal(kept.bytes, 10);
  const only = change({ kind: 'truncate', relations: [hbRel], cascade: false, restartIdentity: false });
  assert.equal(o.event(only, T0), undefined);
  // A table of the same name in another schema is not the heartbeat table.
  const lookalike = change({
    kind: 'insert',
    relation: relation('sales', 'pgdts_heartbeat'),
    newTuple: ['orders', 'x'],
  });
  assert.equal(o.event(lookalike, T0), lookalike);
});

test('without table, the task’s own heartbeat messages are measured; others are ignored', () => {
  const o = new HeartbeatObserver({ taskName: 'orders', table: undefined });
  const msg = (content: string, prefix = HEARTBEAT_MESSAGE_PREFIX) =>
    o.message(prefix, Buffer.from(content), T0 + 125);
  o.event(begin(100), T0 + 125);
  msg('{"task":"billing","at":"2026-11-30T12:00:00.000Z"}');
  msg('not json');
  msg('{"task":"orders"}', 'someone-else');
  assert.equal(o.last, undefined);
  msg(heartbeatStatement({ taskName: 'orders', table: undefined }, T0).values[0] ?? '');
  assert.deepEqual(o.last, { lagMs: 25, receivedAtMs: T0 + 125 });
  // Changes of a table named like the default heartbeat table are real data here.
  const ins = change({ kind: 'insert', relation: hbRel, newTuple: ['orders', 'x'] });
  assert.equal(o.event(ins, T0), ins);
});

test('the heartbeat statements: an upsert of the task row, or a transactional message naming the task', () => {
  const t = heartbeatStatement({ taskName: 'orders', table: { schema: 'Ops', name: 'beat' } }, T0);
  assert.match(
    t.text,
    /^INSERT INTO "Ops"\."beat" \(task_name, beat_at\) VALUES \(\$1, now\(\)\)\s+ON CONFLICT \(task_name\) DO UPDATE SET beat_at = EXCLUDED\.beat_at$/,
  );
  assert.deepEqual(t.values, ['orders']);
  const m = heartbeatStatement({ taskName: 'orders', table: undefined }, T0);
  assert.equal(m.text, `SELECT pg_logical_emit_message(true, 'pgdts-heartbeat', $1::text)`);
  assert.deepEqual(JSON.parse(m.values[0] ?? ''), { task: 'orders', at: new Date(T0).toISOString() });
});

test('the schema model loses the heartbeat table with its indexes, triggers and owned sequences', () => {
  const table = (schema: string, name: string): TableDef =>
    ({ kind: 'table', schema, name }) as unknown as TableDef;
  const model = {
    schemas: [],
    extensions: [],
    types: [],
    sequences: [
      { kind: 'sequence', schema: 'public', name: 's1', ownedBy: { table: hbTable, column: 'x' } },
      { kind: 'sequence', schema: 'public', name: 's2', ownedBy: undefined },
    ],
    tables: [table('public', 'pgdts_heartbeat'), table('public', 'orders')],
    indexes: [
      { kind: 'index', schema: 'public', name: 'i1', table: hbTable },
      { kind: 'index', schema: 'public', name: 'i2', table: { schema: 'public', name: 'orders' } },
    ],
    views: [],
    routines: [],
    triggers: [{ kind: 'trigger', name: 't1', table: hbTable }],
  } as unknown as SchemaModel;
  const m = withoutTable(model, hbTable);
  assert.deepEqual(
    m.tables.map((t) => t.name),
    ['orders'],
  );
  assert.deepEqual(
    m.indexes.map((i) => i.name),
    ['i2'],
  );
  assert.deepEqual(m.triggers, []);
  assert.deepEqual(
    m.sequences.map((s) => s.name),
    ['s2'],
  );
});
