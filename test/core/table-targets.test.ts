/**
 * Selection and name mapping of task options (sans I/O): exclusions and globs, `as`, column renames
 * and exclusions, bulk mapping rules with captures, merges, and the refusals of bad options.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigError } from '../../src/core/errors.ts';
import {
  applyMappingRules,
  entryOf,
  globMatches,
  planTargets,
  targetSchema,
  targetSequences,
} from '../../src/core/table-targets.ts';
import { parseTaskConfig, type TaskConfig } from '../../src/core/task-config.ts';
import { selectedTable } from '../support/selected-table.ts';
import { configRefusal } from '../support/config-refusal.ts';

const base = {
  name: 't',
  source: { type: 'postgresql', url: 'postgresql://u@h/a' },
  destination: { type: 'postgresql', url: 'postgresql://u@h/b' },
  syncTypes: ['schema', 'full', 'incremental'],
};
const task = (over: Record<string, unknown>): TaskConfig => parseTaskConfig({ ...base, ...over });

test('sequences: an owned one goes with its table target, a free-standing one with its schema', () => {
  const t = task({
    objects: [{ schema: 'app', as: 'app2' }, { table: 'app.orders', as: 'archive.ord' }, { schema: 'misc' }],
  });
  const { targets, problems } = planTargets(t, [
    selectedTable('app', 'orders'),
    selectedTable('app', 'items'),
  ]);
  assert.deepEqual(problems, []);
  const seq = (schema: string, name: string, owner?: string) => ({
    schema,
    name,
    ownedBy: owner === undefined ? undefined : { schema: 'app', name: owner },
  });
  const free = seq('misc', 'counter');
  const placed = targetSequences(t, targets, [
    seq('app', 'orders_id_seq', 'orders'),
    seq('app', 'items_id_seq', 'items'),
    seq('app', 'ticket_seq'),
    free,
  ]);
  assert.deepEqual(
    placed.map((s) => `${s.schema}.${s.name}`),
    ['archive.orders_id_seq', 'app2.items_id_seq', 'app2.ticket_seq', 'misc.counter'],
    'PostgreSQL keeps an owned sequence in its table schema; sequence names are never changed',
  );
  assert.equal(placed[3], free, 'an unmoved sequence is returned as it is');
});

const refused = (over: Record<string, unknown>): ConfigError => configRefusal(() => task(over));

test('globs: * and ? in unquoted table parts and exclusions; quoted names stay exact', () => {
  assert.ok(globMatches('order_*', 'order_items'));
  assert.ok(globMatches('tmp_?', 'tmp_1') && !globMatches('tmp_?', 'tmp_12'));
  assert.ok(!globMatches('a.b', 'aXb'), 'dots are literal');
  const t = task({
    objects: [
      { schema: 'sales', exclude: ['tmp_*', '"Audit Log"'] },
      { table: 'Sales.Order_*' },
      { table: '"Odd"."x*"' },
    ],
  });
  assert.deepEqual(t.objects[0], {
    kind: 'schema',
    schema: 'sales',
    exclude: [
      { text: 'tmp_*', glob: true },
      { text: 'Audit Log', glob: false },
    ],
  });
  assert.deepEqual(t.objects[1], { kind: 'table', table: { schema: 'sales', name: 'order_*' }, glob: true });
  assert.deepEqual(t.objects[2], { kind: 'table', table: { schema: 'Odd', name: 'x*' } });
  assert.equal(entryOf(t.objects, { schema: 'sales', name: 'order_lines' }), 1, 'a table entry wins');
  assert.equal(entryOf(t.objects, { schema: 'sales', name: 'customers' }), 0);
  assert.equal(entryOf(t.objects, { schema: 'sales', name: 'tmp_x' }), undefined, 'excluded');
  assert.equal(entryOf(t.objects, { schema: 'sales', name: 'Audit Log' }), undefined);
  assert.equal(entryOf(t.objects, { schema: 'Odd', name: 'xy' }), undefined, 'quoted: literal');
  assert.equal(entryOf(t.objects, { schema: 'Odd', name: 'x*' }), 2);
});

test("names: an entry's as wins over rules; the first matching rule wins; * captures in order", () => {
  const t = task({
    objects: [
      { schema: 'sales', as: 'sales_eu' },
      { table: 'crm.people', as: 'crm2.persons' },
      { schema: 'billing' },
      { schema: 'hr' },
    ],
    mapping: [
      { from: 'billing.*', to: 'bill.*' },
      { from: '*.order_*', to: '*.ord_*' },
      { from: 'hr.*', to: 'hr.*_v1' },
    ],
  });
  assert.deepEqual(applyMappingRules(t.mapping, { schema: 'x', name: 'order_lines' }), {
    schema: 'x',
    name: 'ord_lines',
  });
  assert.equal(applyMappingRules(t.mapping, { schema: 'x', name: 'lines' }), undefined);
  assert.equal(targetSchema(t, 'billing'), 'bill');
  assert.equal(targetSchema(t, 'sales'), 'sales_eu');
  assert.equal(targetSchema(t, 'hr'), 'hr');
  const tables = [
    selectedTable('sales', 'order_items'),
    selectedTable('crm', 'people'),
    selectedTable('billing', 'order_x'),
    selectedTable('hr', 'staff'),
  ];
  const { targets, problems } = planTargets(t, tables);
  assert.deepEqual(problems, []);
  assert.deepEqual(
    targets.map((x) => `${x.table.schema}.${x.table.name}`),
    ['sales_eu.order_items', 'crm2.persons', 'bill.order_x', 'hr.staff_v1'],
  );
});

test('columns: renamed and left out; a key column cannot be left out; unknown columns are named', () => {
  const t = task({
    objects: [
      {
        table: 'app.orders',
        columns: { note: 'remark' },
        excludeColumns: ['secret'],
        operations: ['insert', 'update'],
        where: "region = 'eu'",
      },
    ],
  });
  const orders = { ...selectedTable('app', 'orders'), columns: ['id', 'note', 'secret', 'region'] };
  const { targets, problems } = planTargets(t, [orders]);
  assert.deepEqual(problems, []);
  const [o] = targets;
  assert.ok(o);
  assert.deepEqual(o.columns, [
    { source: 'id', target: 'id' },
    { source: 'note', target: 'remark' },
    { source: 'region', target: 'region' },
  ]);
  assert.deepEqual([...o.operations], ['insert', 'update']);
  assert.equal(o.where, "region = 'eu'");
  const bad = task({ objects: [{ table: 'app.orders', excludeColumns: ['id'], columns: { nope: 'x' } }] });
  const p = planTargets(bad, [orders]).problems.map((x) => `${x.path}: ${x.message}`);
  assert.deepEqual(p, [
    'objects[0].columns: app.orders has no column nope',
    'objects[0].excludeColumns: id of app.orders is part of its key: it cannot be left out',
  ]);
});

test('two tables meeting in one destination table need mergeInto on both, with identical shapes', () => {
  const a = selectedTable('eu', 'orders');
  const b = selectedTable('us', 'orders');
  const plain = task({
    objects: [
      { table: 'eu.orders', as: 'all.orders' },
      { table: 'us.orders', as: 'all.orders' },
    ],
  });
  assert.match(
    planTargets(plain, [a, b]).problems[0]?.message ?? '',
    /eu\.orders, us\.orders all map to all\.orders: declare mergeInto/,
  );
  const merged = task({
    objects: [
      { table: 'eu.orders', as: 'all.orders', mergeInto: true },
      { table: 'us.orders', as: 'all.orders', mergeInto: true },
    ],
  });
  assert.deepEqual(planTargets(merged, [a, b]).problems, []);
  const wider = { ...b, columns: ['id', 'extra'] };
  assert.match(
    planTargets(merged, [a, wider]).problems[0]?.message ?? '',
    /differ in their \(destination\) columns or keys/,
  );
});

test('bad options are refused naming the key and the rule', () => {
  assert.match(
    refused({ objects: [{ schema: 'a', columns: { x: 'y' } }] }).message,
    /objects\[0\]\.columns: unknown key/,
  );
  assert.match(
    refused({ objects: [{ table: 'a.b*', as: 'c.d' }] }).message,
    /objects\[0\]\.as: a table pattern selects several tables/,
  );
  assert.match(
    refused({ objects: [{ table: 'a.b', as: 'c' }] }).message,
    /objects\[0\]\.as: on a table entry, must be schema\.table/,
  );
  assert.match(
    refused({ objects: [{ schema: 'a', as: 'b.c' }] }).message,
    /objects\[0\]\.as: on a schema entry, must be one schema name/,
  );
  assert.match(
    refused({ objects: [{ table: 'a.b', operations: ['insert', 'upsert'] }] }).message,
    /objects\[0\]\.operations\[1\]: must be one of insert, update, delete, truncate/,
  );
  assert.match(
    refused({ objects: [{ table: 'a.b', operations: [] }] }).message,
    /objects\[0\]\.operations: must list at least one/,
  );
  assert.match(
    refused({ objects: [{ table: 'a.b', columns: { x: 'z', y: 'z' } }] }).message,
    /objects\[0\]\.columns: two source columns must not map to the same destination column/,
  );
  assert.match(
    refused({ objects: [{ view: 'a.b' }] }).message,
    /objects\[0\]: must be \{schema: \.\.\.\} or \{table: \.\.\.\}/,
  );
  assert.match(
    refused({ objects: [{ schema: 'a' }], mapping: [{ from: 'a.b', to: 'c.*' }] }).message,
    /mapping\[0\]\.to: uses 1 \* but from captures only 0/,
  );
  assert.match(
    refused({ objects: [{ schema: 'a' }], conflictingTables: 'keep' }).message,
    /conflictingTables: must be precheck-error or ignore/,
  );
  assert.match(
    refused({ objects: [{ schema: 'a' }], onConflict: 'upsert' }).message,
    /onConflict: must be error or overwrite/,
  );
});
