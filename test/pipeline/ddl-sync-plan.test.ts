/**
 * Sans-I/O parts of DDL sync: parsing the capture's message, planning the destination changes
 * (columns by attnum, renames, constraints, indexes, views, drops, mapped names), the SQL the sink
 * renders with its idempotency checks [P9], and what stops the task (DDL_UNSUPPORTED).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ddlSchemasOf, parseDdlMessage, type DdlColumn, type DdlMessage } from '../../src/core/ddl.ts';
import { PgdtsError } from '../../src/core/errors.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { planTargets } from '../../src/core/table-targets.ts';
import { parseTaskConfig, type TaskConfig } from '../../src/core/task-config.ts';
import { planDdl, type DdlStep } from '../../src/pipeline/ddl-sync.ts';
import { ddlChangeSql } from '../../src/sink/postgres/schema/ddl-change-sql.ts';
import { selectedTable } from '../support/selected-table.ts';

const taskOf = (objects: unknown[]): TaskConfig =>
  parseTaskConfig({
    name: 't',
    source: { type: 'postgresql', url: 'postgresql://u@h/a' },
    destination: { type: 'postgresql', url: 'postgresql://u@h/b' },
    syncTypes: ['schema', 'full', 'incremental'],
    objects,
  });

const orders = { ...selectedTable('app', 'orders'), columns: ['id', 'v', 'note'] };
const col = (attnum: number, name: string, type = 'text', more: Partial<DdlColumn> = {}): DdlColumn => ({
  attnum,
  name,
  type,
  default: null,
  notNull: false,
  identity: '',
  generated: null,
  ...more,
});
const BEFORE = [col(1, 'id', 'bigint', { notNull: true }), col(2, 'v'), col(3, 'note')];

function tableMessage(columns: DdlColumn[], o: { name?: string; tag?: string } = {}): DdlMessage {
  return {
    task: 't',
    event: 'ddl_command_end',
    tag: o.tag ?? 'ALTER TABLE',
    query: 'ALTER TABLE ...',
    searchPath: '"$user", public',
    objects: [
      {
        kind: 'table',
        identity: 'app.orders',
        table: {
          relid: 1,
          schema: 'app',
          name: o.name ?? 'orders',
          relkind: 'r',
          columns,
          constraints: [],
          previous: { schema: 'app', name: 'orders', columns: BEFORE, constraints: [] },
        },
      },
    ],
  };
}

const LSN = parseLsn('0/16B3748');

function plan(m: DdlMessage, objects: unknown[] = [{ schema: 'app' }]): DdlStep[] {
  const task = taskOf(objects);
  const { targets } = planTargets(task, [orders]);
  return planDdl(m, { task, targets, lsn: LSN });
}

const applied = (steps: DdlStep[]) => steps.flatMap((s) => (s.kind === 'apply' ? s.changes : []));

test('columns are matched by attnum (in attnum order): type, default, NOT NULL, rename, add, drop [P9]', () => {
  const steps = plan(
    tableMessage([
      col(1, 'id', 'bigint', { notNull: true }),
      col(2, 'v', 'character varying(20)', { default: "'x'::character varying", notNull: true }),
      col(3, 'remark'),
      col(4, 'extra', 'integer', { default: '7' }),
    ]),
  );
  assert.deepEqual(applied(steps), [
    {
      kind: 'alter-column-type',
      table: { schema: 'app', name: 'orders' },
      column: 'v',
      type: 'character varying(20)',
    },
    {
      kind: 'set-default',
      table: { schema: 'app', name: 'orders' },
      column: 'v',
      default: "'x'::character varying",
    },
    { kind: 'set-not-null', table: { schema: 'app', name: 'orders' }, column: 'v', notNull: true },
    { kind: 'rename-column', table: { schema: 'app', name: 'orders' }, from: 'note', to: 'remark' },
    {
      kind: 'add-column',
      table: { schema: 'app', name: 'orders' },
      column: {
        name: 'extra',
        type: 'integer',
        default: '7',
        notNull: false,
        identity: undefined,
        generated: undefined,
      },
    },
  ]);
  assert.deepEqual(applied(plan(tableMessage([BEFORE[0] as DdlColumn, BEFORE[1] as DdlColumn]))), [
    { kind: 'drop-column', table: { schema: 'app', name: 'orders' }, column: 'note' },
  ]);
});

test('names follow the mapping: a schema `as` and a renamed table land in the mapped schema [P9]', () => {
  const steps = plan(tableMessage(BEFORE, { name: 'orders2' }), [{ schema: 'app', as: 'app2' }]);
  assert.deepEqual(applied(steps), [
    { kind: 'rename-table', table: { schema: 'app2', name: 'orders' }, to: 'orders2' },
  ]);
  const renamed = steps.find((s) => s.kind === 'renamed');
  assert.ok(renamed?.kind === 'renamed');
  assert.deepEqual(renamed.to.table, { schema: 'app2', name: 'orders2' });
  assert.equal(renamed.to.source.name, 'orders2');
  // A column added under a mapping is created in the mapped table, and the rows after it know it.
  const added = plan(tableMessage([...BEFORE, col(4, 'tag')]), [{ schema: 'app', as: 'app2' }]);
  assert.deepEqual(
    applied(added).map((c) => [c.kind, 'table' in c ? c.table : undefined]),
    [['add-column', { schema: 'app2', name: 'orders' }]],
  );
  const re = added.find((x) => x.kind === 'retarget');
  assert.ok(re?.kind === 'retarget');
  assert.deepEqual(re.to.source.columns, ['id', 'v', 'note', 'tag']);
  // A column the entry renames keeps its destination name; one it leaves out is not touched.
  const t = plan(tableMessage([BEFORE[0] as DdlColumn, col(2, 'v', 'integer')]), [
    { table: 'app.orders', columns: { v: 'value' }, excludeColumns: ['note'] },
  ]);
  assert.deepEqual(applied(t), [
    { kind: 'alter-column-type', table: { schema: 'app', name: 'orders' }, column: 'value', type: 'integer' },
  ]);
});

test('what cannot be followed on a selected table stops the task naming statement, table and LSN; ddl left out ignores it', () => {
  const m = tableMessage([BEFORE[0] as DdlColumn, col(2, 'w'), BEFORE[2] as DdlColumn]);
  assert.throws(
    () => plan(m, [{ table: 'app.orders', columns: { v: 'value' } }]),
    (e: unknown) =>
      e instanceof PgdtsError &&
      e.code === 'DDL_UNSUPPORTED' &&
      !e.retryable &&
      /LSN 0\/16B3748 on selected table app\.orders: column v, which the task renames/.test(e.message) &&
      e.message.includes('ALTER TABLE ...'),
  );
  assert.deepEqual(plan(m, [{ schema: 'app', operations: ['insert', 'update', 'delete', 'truncate'] }]), []);
});

test('a new table in the selection joins; a dropped one is dropped and leaves the sync; indexes and views [P9, T11]', () => {
  const created: DdlMessage = {
    ...tableMessage([col(1, 'id', 'integer')], { tag: 'CREATE TABLE' }),
    objects: [
      {
        kind: 'table',
        identity: 'app.fresh',
        table: {
          relid: 2,
          schema: 'app',
          name: 'fresh',
          relkind: 'r',
          columns: [],
          constraints: [],
          previous: undefined,
        },
      },
    ],
  };
  assert.deepEqual(plan(created), [
    { kind: 'join', table: created.objects[0]?.kind === 'table' ? created.objects[0].table : undefined },
  ]);
  const dropped = plan(
    {
      ...created,
      event: 'sql_drop',
      tag: 'DROP TABLE',
      objects: [
        {
          kind: 'dropped',
          identity: 'app.orders',
          objectType: 'table',
          schema: 'app',
          name: 'orders',
          args: [],
          original: true,
        },
      ],
    },
    [{ schema: 'app', as: 'app2' }],
  );
  assert.deepEqual(
    dropped.map((s) => s.kind),
    ['apply', 'dropped'],
  );
  assert.deepEqual(applied(dropped), [{ kind: 'drop-table', table: { schema: 'app2', name: 'orders' } }]);
  const index = plan(
    {
      ...created,
      tag: 'CREATE INDEX',
      objects: [
        {
          kind: 'index',
          identity: 'app.orders_v',
          constraint: false,
          index: {
            schema: 'app',
            name: 'orders_v',
            table: { schema: 'app', name: 'orders' },
            definition: 'CREATE INDEX orders_v ON app.orders USING btree (v)',
            unique: false,
          },
        },
      ],
    },
    [{ schema: 'app', as: 'app2' }],
  );
  const [ix] = applied(index);
  assert.ok(ix?.kind === 'create-index');
  assert.match(ix.definition, /ON "?app2"?\."?orders"? USING btree \(v\)/);
  const view = plan(
    {
      ...created,
      tag: 'CREATE VIEW',
      objects: [
        {
          kind: 'view',
          identity: 'app.v',
          view: {
            schema: 'app',
            name: 'v',
            query: ' SELECT orders.id FROM app.orders',
            columns: [{ name: 'id', comment: undefined }],
          },
        },
      ],
    },
    [{ schema: 'app', as: 'app2' }],
  );
  const [vw] = applied(view);
  assert.ok(vw?.kind === 'replace-view');
  assert.deepEqual(vw.view, { schema: 'app2', name: 'v' });
  assert.match(vw.query, /FROM "?app2"?\.orders/);
});

test('the capture message parses; its schemas are those of entries with ddl on', () => {
  const m = parseDdlMessage(
    JSON.stringify({
      task: 't',
      event: 'sql_drop',
      tag: 'DROP FUNCTION',
      query: 'DROP FUNCTION app.f(int)',
      search_path: 'public',
      objects: [
        {
          dropped: true,
          object_type: 'function',
          schema: 'app',
          name: 'f',
          args: ['integer'],
          identity: 'app.f(integer)',
          original: true,
        },
      ],
    }),
  );
  assert.deepEqual(m.objects, [
    {
      kind: 'dropped',
      identity: 'app.f(integer)',
      objectType: 'function',
      schema: 'app',
      name: 'f',
      args: ['integer'],
      original: true,
    },
  ]);
  assert.throws(
    () => parseDdlMessage('{"task": 1}'),
    (e: unknown) => e instanceof PgdtsError && e.code === 'DECODE_FAILED',
  );
  assert.deepEqual(
    ddlSchemasOf(taskOf([{ schema: 'b' }, { table: 'a.x' }, { schema: 'c', operations: ['insert'] }])),
    ['a', 'b'],
  );
});

test('the sink SQL is idempotent: IF [NOT] EXISTS forms or a skip check [P9]', () => {
  const t = { schema: 'app', name: 'orders' };
  assert.equal(
    ddlChangeSql({
      kind: 'add-column',
      table: t,
      column: {
        name: 'x',
        type: 'integer',
        default: '7',
        notNull: true,
        identity: undefined,
        generated: undefined,
      },
    }).sql,
    'ALTER TABLE "app"."orders" ADD COLUMN IF NOT EXISTS "x" integer DEFAULT 7 NOT NULL',
  );
  assert.equal(
    ddlChangeSql({ kind: 'drop-column', table: t, column: 'x' }).sql,
    'ALTER TABLE "app"."orders" DROP COLUMN IF EXISTS "x"',
  );
  const rename = ddlChangeSql({ kind: 'rename-column', table: t, from: 'a', to: 'b' });
  assert.equal(rename.sql, 'ALTER TABLE "app"."orders" RENAME COLUMN "a" TO "b"');
  assert.match(rename.skipIf ?? '', /attname = 'b'.*NOT EXISTS.*attname = 'a'/s);
  assert.match(
    ddlChangeSql({
      kind: 'create-index',
      index: { schema: 'app', name: 'i' },
      definition: 'CREATE INDEX i ON app.orders (v)',
    }).skipIf ?? '',
    /to_regclass\('"app"\."i"'\)/,
  );
  assert.equal(
    ddlChangeSql({
      kind: 'drop-routine',
      routine: { schema: 'app', name: 'f' },
      routineKind: 'function',
      signature: '"f"(integer)',
    }).sql,
    'DROP FUNCTION IF EXISTS "app"."f"(integer)',
  );
});

test('a table merged with others (mergeInto): an added column is followed, a dropped or renamed one stops the task', () => {
  const task = taskOf([
    { table: 'app.orders', as: 'app.all_orders', mergeInto: true },
    { table: 'app.orders_b', as: 'app.all_orders', mergeInto: true },
  ]);
  const ordersB = { ...selectedTable('app', 'orders_b'), columns: ['id', 'v', 'note'] };
  const { targets } = planTargets(task, [orders, ordersB]);
  const run = (m: DdlMessage) => planDdl(m, { task, targets, lsn: LSN });
  assert.deepEqual(applied(run(tableMessage([...BEFORE, col(4, 'extra', 'integer')]))), [
    {
      kind: 'add-column',
      table: { schema: 'app', name: 'all_orders' },
      column: {
        name: 'extra',
        type: 'integer',
        default: undefined,
        notNull: false,
        identity: undefined,
        generated: undefined,
      },
    },
  ]);
  assert.throws(
    () => run(tableMessage([BEFORE[0] as DdlColumn, BEFORE[1] as DdlColumn])),
    (e: unknown) =>
      e instanceof PgdtsError &&
      e.code === 'DDL_UNSUPPORTED' &&
      /selected table app\.orders: drop-column on a table merged with others into app\.all_orders \(mergeInto\)/.test(
        e.message,
      ),
  );
  assert.throws(
    () => run(tableMessage(BEFORE, { name: 'orders_renamed' })),
    (e: unknown) => e instanceof PgdtsError && /rename-table on a table merged with others/.test(e.message),
  );
});

test('a view, function or trigger dropped by a CASCADE on the source is dropped first on the destination, whose drops run without CASCADE', () => {
  // ALTER TABLE app.orders DROP COLUMN note CASCADE: the sql_drop message lists the column and the
  // view that used it (and a DROP FUNCTION ... CASCADE the trigger calling it).
  const m = parseDdlMessage(
    JSON.stringify({
      task: 't',
      event: 'sql_drop',
      tag: 'ALTER TABLE',
      query: 'ALTER TABLE app.orders DROP COLUMN note CASCADE',
      search_path: 'public',
      objects: [
        {
          dropped: true,
          object_type: 'view',
          schema: 'app',
          name: 'order notes',
          args: [],
          identity: 'app."order notes"',
          original: false,
        },
        {
          dropped: true,
          object_type: 'trigger',
          schema: 'app',
          name: 'touch',
          args: [],
          names: ['app', 'orders', 'touch'],
          identity: 'touch on app.orders',
          original: false,
        },
        {
          dropped: true,
          object_type: 'table column',
          schema: 'app',
          name: 'orders',
          args: [],
          names: ['app', 'orders', 'note'],
          identity: 'app.orders.note',
          original: true,
        },
      ],
    }),
  );
  assert.deepEqual(applied(plan(m, [{ schema: 'app', as: 'app2' }])), [
    { kind: 'drop-view', view: { schema: 'app2', name: 'order notes' } },
    { kind: 'drop-trigger', table: { schema: 'app2', name: 'orders' }, name: 'touch' },
  ]);
});
