/**
 * The sans-I/O parts of tables joining while streaming [T11]: which listed tables are new and may
 * join (whole partition groups; keyless ones left out; a merge into a table already filled refused),
 * which targets a resumed run streams at once (groups whose leaves are all `done`), and how a joined
 * table is registered with the snapshot filter [T5] and the change mapper.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change, Relation } from '../../src/core/change.ts';
import { PgdtsError } from '../../src/core/errors.ts';
import { displayName } from '../../src/core/identifier.ts';
import type { Lsn } from '../../src/core/lsn.ts';
import type { SelectedTable } from '../../src/core/selected-table.ts';
import type { TableSyncRow } from '../../src/core/sink.ts';
import { resolveTargets } from '../../src/core/table-targets.ts';
import type { ObjectSelector } from '../../src/core/task-config.ts';
import { ChangeMapper } from '../../src/pipeline/change-mapper.ts';
import { establishedTargets, findNewTables } from '../../src/pipeline/new-tables.ts';
import { SnapshotFilter } from '../../src/pipeline/snapshot-filter.ts';
import { selectedTable } from '../support/selected-table.ts';

const OBJECTS: ObjectSelector[] = [
  { kind: 'schema', schema: 'app', exclude: [{ text: 'tmp_*', glob: true }] },
  { kind: 'table', table: { schema: 'other', name: 'log_*' }, glob: true },
];
const task = { objects: OBJECTS, mapping: [] };
const keyless = (t: SelectedTable): SelectedTable => ({ ...t, primaryKey: [] });
const names = (ts: readonly { readonly source: SelectedTable }[]) => ts.map((t) => displayName(t.source));

test('new tables join in whole partition groups; keyless ones (and their group) are left out [T11]', () => {
  const listed = [
    selectedTable('app', 'orders'),
    selectedTable('app', 'fresh'),
    selectedTable('other', 'log_1'),
    selectedTable('other', 'log_2'),
    keyless(selectedTable('app', 'nokey')),
    { ...keyless(selectedTable('app', 'full')), replicaIdentity: 'full' as const },
    selectedTable('app', 'parts', { relkind: 'p' }),
    selectedTable('app', 'parts_1', { root: 'parts' }),
    selectedTable('app', 'ev', { relkind: 'p' }),
    selectedTable('app', 'ev_1', { root: 'ev' }),
    keyless(selectedTable('app', 'ev_2', { root: 'ev' })),
  ];
  const found = findNewTables(task, listed, new Set(['app.orders', 'other.log_1']));
  assert.deepEqual(names(found.joining), [
    'app.fresh',
    'other.log_2',
    'app.full',
    'app.parts',
    'app.parts_1',
  ]);
  assert.deepEqual(found.unusable.map(displayName), ['app.nokey', 'app.ev_2']);
  // Nothing new: nothing joins.
  const again = findNewTables(task, listed.slice(0, 4), new Set(listed.slice(0, 4).map(displayName)));
  assert.deepEqual(again, { joining: [], unusable: [] });
});

test('a new table merging into a destination table the task fills already is CONFIG_INVALID [T11]', () => {
  const merge: ObjectSelector[] = [
    {
      kind: 'table',
      table: { schema: 'eu', name: 'orders' },
      as: { schema: 'all', name: 'orders' },
      mergeInto: true,
    },
    {
      kind: 'table',
      table: { schema: 'us', name: 'ord*' },
      glob: true,
      as: { schema: 'all', name: 'orders' },
      mergeInto: true,
    },
  ];
  assert.throws(
    () =>
      findNewTables(
        { objects: merge, mapping: [] },
        [selectedTable('eu', 'orders'), selectedTable('us', 'orders')],
        new Set(['eu.orders']),
      ),
    (e: unknown) =>
      e instanceof PgdtsError && e.code === 'CONFIG_INVALID' && /us\.orders.*all\.orders/.test(e.message),
  );
});

test('a resumed run streams at once only the groups whose leaves are all done [T11][T3]', () => {
  const tables = [
    selectedTable('app', 'orders'),
    selectedTable('app', 'fresh'),
    selectedTable('app', 'parts', { relkind: 'p' }),
    selectedTable('app', 'parts_1', { root: 'parts' }),
    selectedTable('app', 'parts_2', { root: 'parts' }),
    selectedTable('app', 'done_parts', { relkind: 'p' }),
    selectedTable('app', 'done_parts_1', { root: 'done_parts' }),
  ];
  const row = (name: string, state: 'copying' | 'done'): TableSyncRow => ({
    schema: 'app',
    name,
    state,
    snapshotLsn: 100n as Lsn,
    rangesTotal: 1,
    rows: 0,
    bytes: 0,
  });
  const rows = [
    row('orders', 'done'),
    row('parts_1', 'done'),
    row('parts_2', 'copying'),
    row('done_parts_1', 'done'),
  ];
  assert.deepEqual(names(establishedTargets(resolveTargets(task, tables), rows)), [
    'app.orders',
    'app.done_parts',
    'app.done_parts_1',
  ]);
});

test('a joined table: changes before its snapshot LSN are dropped, later ones mapped [T11][T5]', () => {
  const known = resolveTargets(task, [selectedTable('app', 'orders')]);
  const fresh = selectedTable('app', 'fresh');
  const [freshTarget] = resolveTargets(task, [fresh]);
  assert.ok(freshTarget);
  const relation: Relation = {
    id: 1,
    schema: 'app',
    name: 'fresh',
    replicaIdentity: 'default',
    columns: [{ name: 'id', typeOid: 23, typeModifier: -1, isKey: true }],
  };
  const insert: Change = { kind: 'insert', relation, newTuple: ['1'] };
  const filter = new SnapshotFilter(
    [],
    known.map((t) => t.source),
  );
  const mapper = new ChangeMapper(known, { filteredBySource: new Set() });
  // Looked up before it joins: passed by the filter, refused by the mapper.
  assert.equal(filter.filter(insert, 50n as Lsn), insert);
  assert.throws(() => mapper.map(insert), /does not select/);
  filter.addTable(fresh, 100n as Lsn);
  mapper.addTarget(freshTarget, true);
  assert.equal(filter.filter(insert, 99n as Lsn), undefined);
  assert.equal(filter.filter(insert, 100n as Lsn), insert);
  assert.deepEqual(mapper.map(insert), { kind: 'apply', change: insert });
});
