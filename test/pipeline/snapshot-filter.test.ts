/**
 * The per-table snapshot filter [T5]: a table copied under a snapshot already holds the transactions
 * committed before its LSN, so their changes to it are dropped, in TRUNCATE too; partitions map by
 * their own name and by their root's [T3].
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change, Relation } from '../../src/core/change.ts';
import type { Lsn } from '../../src/core/lsn.ts';
import type { SelectedTable } from '../../src/core/selected-table.ts';
import type { TableSyncRow } from '../../src/core/sink.ts';
import { SnapshotFilter } from '../../src/pipeline/snapshot-filter.ts';
import { selectedTable } from '../support/selected-table.ts';

const lsn = (n: number) => BigInt(n) as Lsn;
let id = 1;
const rel = (schema: string, name: string): Relation => ({
  id: id++,
  schema,
  name,
  replicaIdentity: 'default',
  columns: [{ name: 'id', typeOid: 23, typeModifier: -1, isKey: true }],
});
const row = (schema: string, name: string, snapshotLsn: number | undefined): TableSyncRow => ({
  schema,
  name,
  state: 'done',
  snapshotLsn: snapshotLsn === undefined ? undefined : lsn(snapshotLsn),
  rangesTotal: 1,
  rows: 0,
  bytes: 0,
});
const table = (schema: string, name: string, root?: string): SelectedTable =>
  selectedTable(schema, name, root === undefined ? {} : { root });

test('changes older than a table snapshot are dropped, in TRUNCATE too; other tables keep them [T5]', () => {
  const a = rel('public', 'a');
  const b = rel('public', 'b');
  const f = new SnapshotFilter(
    [row('public', 'a', 1000), row('public', 'b', undefined)],
    [table('public', 'a'), table('public', 'b')],
  );
  const ins = (r: Relation): Change => ({ kind: 'insert', relation: r, newTuple: ['1'] });
  assert.equal(f.filter(ins(a), lsn(999)), undefined);
  assert.deepEqual(f.filter(ins(a), lsn(1000)), ins(a));
  assert.deepEqual(f.filter(ins(b), lsn(1)), ins(b));
  const t: Change = { kind: 'truncate', relations: [a, b], cascade: false, restartIdentity: false };
  assert.deepEqual(f.filter(t, lsn(999)), { ...t, relations: [b] });
  assert.equal(f.filter({ ...t, relations: [a] }, lsn(999)), undefined);
  assert.equal(f.filter(t, lsn(1000)), t);
});

test('partitions filter by their own name and by their root (publications via the root) [T3]', () => {
  const f = new SnapshotFilter(
    [row('s', 'p_1', 500), row('s', 'p_2', 700)],
    [table('s', 'p_1', 'p'), table('s', 'p_2', 'p')],
  );
  const ins = (r: Relation): Change => ({ kind: 'insert', relation: r, newTuple: ['1'] });
  assert.equal(f.filter(ins(rel('s', 'p_1')), lsn(499)), undefined);
  assert.ok(f.filter(ins(rel('s', 'p_1')), lsn(500)));
  assert.equal(f.filter(ins(rel('s', 'p')), lsn(699)), undefined, 'root: latest partition snapshot');
  assert.ok(f.filter(ins(rel('s', 'p')), lsn(700)));
});
