/**
 * ChangeMapper (sans I/O): renamed relations and columns, excluded columns left out of every tuple
 * and key, PostgreSQL's UPDATE transformations under a row filter judged by pgdts (docs, "Logical
 * Replication", Row Filters), the operation filter applied after them, TRUNCATE of several tables,
 * ignored tables, and the refusal of a change to a table the task does not select.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNCHANGED_TOAST, type Change, type Relation, type Tuple } from '../../src/core/change.ts';
import { PgdtsError } from '../../src/core/errors.ts';
import { planTargets } from '../../src/core/table-targets.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { ChangeMapper, type MappedChange } from '../../src/pipeline/change-mapper.ts';
import { selectedTable } from '../support/selected-table.ts';

const orders = {
  ...selectedTable('sales', 'orders'),
  columns: ['id', 'region', 'qty', 'secret'],
  replicaIdentity: 'full' as const,
};
const audit = { ...selectedTable('sales', 'audit'), columns: ['id', 'what'] };

const relation = (t: { schema: string; name: string; columns: readonly string[] }, id: number): Relation => ({
  id,
  schema: t.schema,
  name: t.name,
  replicaIdentity: t.name === 'orders' ? 'full' : 'default',
  columns: t.columns.map((name) => ({ name, typeOid: 25, typeModifier: -1, isKey: name === 'id' })),
});
const R_ORDERS = relation(orders, 1);
const R_AUDIT = relation(audit, 2);

function mapper(filteredBySource: string[] = []): ChangeMapper {
  const task = parseTaskConfig({
    name: 't',
    source: { type: 'postgresql', url: 'postgresql://u@h/a' },
    destination: { type: 'postgresql', url: 'postgresql://u@h/b' },
    syncTypes: ['full', 'incremental'],
    objects: [
      {
        table: 'sales.orders',
        as: 'eu.orders_eu',
        columns: { qty: 'quantity' },
        excludeColumns: ['secret'],
        where: "region = 'eu'",
      },
      { table: 'sales.audit', operations: ['insert', 'update'] },
    ],
  });
  const { targets, problems } = planTargets(task, [orders, audit]);
  assert.deepEqual(problems, []);
  return new ChangeMapper(targets, {
    filteredBySource: new Set(filteredBySource),
    ignored: [{ schema: 'public', name: 'pgdts_heartbeat' }],
  });
}

/** Verdicts as the source would give them: region (index 1) = 'eu'. */
const eu = (t: Tuple) => t[1] === 'eu';
const row = (id: number, region: string, qty = 1): Tuple => [String(id), region, String(qty), 's'];

function applied(m: MappedChange): Change {
  assert.equal(m.kind, 'apply', JSON.stringify(m));
  assert.ok(m.kind === 'apply');
  return m.change;
}

test('a kept row is renamed: destination relation and column names, the excluded column left out of tuple and relation', () => {
  const c = applied(mapper().map({ kind: 'insert', relation: R_ORDERS, newTuple: row(1, 'eu', 5) }, eu));
  assert.equal(c.kind, 'insert');
  assert.ok(c.kind === 'insert');
  assert.equal(`${c.relation.schema}.${c.relation.name}`, 'eu.orders_eu');
  assert.deepEqual(
    c.relation.columns.map((x) => x.name),
    ['id', 'region', 'quantity'],
  );
  assert.deepEqual(c.newTuple, ['1', 'eu', '5']);
});

test('UPDATE transformations under a row filter judged by pgdts: stays, leaves (DELETE), enters (INSERT), neither (dropped)', () => {
  const m = mapper();
  const upd = (o: Tuple, n: Tuple): Change => ({
    kind: 'update',
    relation: R_ORDERS,
    oldKind: 'full',
    oldTuple: o,
    newTuple: n,
  });
  assert.equal(applied(m.map(upd(row(1, 'eu'), row(1, 'eu', 2)), eu)).kind, 'update');
  const leaves = applied(m.map(upd(row(2, 'eu'), row(2, 'us')), eu));
  assert.equal(leaves.kind, 'delete');
  assert.ok(leaves.kind === 'delete');
  assert.deepEqual(leaves.oldTuple, ['2', 'eu', '1'], 'the old row, as the destination has it');
  const enters = applied(m.map(upd(row(3, 'us'), row(3, 'eu', 7)), eu));
  assert.equal(enters.kind, 'insert');
  assert.ok(enters.kind === 'insert');
  assert.deepEqual(enters.newTuple, ['3', 'eu', '7']);
  assert.deepEqual(m.map(upd(row(4, 'us'), row(4, 'us', 2)), eu), { kind: 'drop' });
  // INSERT and DELETE follow their one row.
  assert.deepEqual(m.map({ kind: 'insert', relation: R_ORDERS, newTuple: row(5, 'us') }, eu), {
    kind: 'drop',
  });
  assert.equal(
    applied(m.map({ kind: 'delete', relation: R_ORDERS, oldKind: 'full', oldTuple: row(6, 'eu') }, eu)).kind,
    'delete',
  );
});

test('a row entering the filter with an unchanged TOAST value: taken from a FULL old row, else APPLY_FAILED naming the table', () => {
  const n: Tuple = ['3', 'eu', UNCHANGED_TOAST, 's'];
  const entered = applied(
    mapper().map(
      { kind: 'update', relation: R_ORDERS, oldKind: 'full', oldTuple: row(3, 'us', 42), newTuple: n },
      eu,
    ),
  );
  assert.ok(entered.kind === 'insert');
  assert.deepEqual(entered.newTuple, ['3', 'eu', '42']);
  // A key-only old row has no value to offer (the verdict of the old row here: not matching).
  assert.throws(
    () =>
      mapper().map(
        {
          kind: 'update',
          relation: R_ORDERS,
          oldKind: 'key',
          oldTuple: ['3', null, null, null],
          newTuple: n,
        },
        eu,
      ),
    (e: unknown) => e instanceof PgdtsError && e.code === 'APPLY_FAILED' && /sales\.orders/.test(e.message),
  );
});

test('a source that filters rows itself (PostgreSQL 15+ publication): changes pass as sent, verdicts are not asked', () => {
  const m = mapper(['sales.orders']);
  const c = { kind: 'insert', relation: R_ORDERS, newTuple: row(9, 'eu') } as const;
  assert.deepEqual(m.filterRequests([c]), []);
  // The verdict function would drop it; a source-filtered table never consults it.
  assert.equal(applied(m.map(c, () => false)).kind, 'insert');
  // pgdts judges the other kind of table: one request per table, every tuple the filter needs.
  const unfiltered = mapper();
  const reqs = unfiltered.filterRequests([
    c,
    { kind: 'update', relation: R_ORDERS, oldKind: 'full', oldTuple: row(1, 'us'), newTuple: row(1, 'eu') },
    { kind: 'insert', relation: R_AUDIT, newTuple: ['1', 'a'] },
  ]);
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0]?.where, "region = 'eu'");
  assert.equal(reqs[0]?.tuples.length, 3);
});

test('the operation filter: left-out operations are skips (counted by the sink), TRUNCATE of several tables keeps the allowed ones', () => {
  const m = mapper();
  assert.deepEqual(m.map({ kind: 'delete', relation: R_AUDIT, oldKind: 'key', oldTuple: ['1', null] }), {
    kind: 'skip',
    operation: 'delete',
  });
  assert.equal(applied(m.map({ kind: 'insert', relation: R_AUDIT, newTuple: ['1', 'a'] })).kind, 'insert');
  assert.deepEqual(
    m.map({ kind: 'truncate', relations: [R_AUDIT], cascade: false, restartIdentity: false }),
    {
      kind: 'skip',
      operation: 'truncate',
    },
  );
  const both = applied(
    m.map({ kind: 'truncate', relations: [R_AUDIT, R_ORDERS], cascade: false, restartIdentity: false }),
  );
  assert.ok(both.kind === 'truncate');
  assert.deepEqual(
    both.relations.map((r) => `${r.schema}.${r.name}`),
    ['eu.orders_eu'],
  );
});

test('an ignored table is dropped silently; a table the task does not select is CONFIG_INVALID, not retryable', () => {
  const m = mapper();
  const hb = relation({ schema: 'public', name: 'pgdts_heartbeat', columns: ['id'] }, 3);
  assert.deepEqual(m.map({ kind: 'insert', relation: hb, newTuple: ['1'] }), { kind: 'drop' });
  const stranger = relation({ schema: 'sales', name: 'renamed_later', columns: ['id'] }, 4);
  assert.throws(
    () => m.map({ kind: 'insert', relation: stranger, newTuple: ['1'] }),
    (e: unknown) =>
      e instanceof PgdtsError &&
      e.code === 'CONFIG_INVALID' &&
      !e.retryable &&
      /sales\.renamed_later/.test(e.message),
  );
});
