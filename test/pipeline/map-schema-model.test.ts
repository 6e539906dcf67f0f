/**
 * Schema sync under a name mapping (sans I/O): mapSchemaModel on hand-built models — schemas,
 * tables and columns renamed through every structured field and SQL text, merges, and the problems
 * reported instead of guesses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quoteIdent } from '../../src/core/identifier.ts';
import {
  EMPTY_SCHEMA_MODEL,
  type AggregateDef,
  type ColumnDef,
  type IndexDef,
  type RoutineDef,
  type SchemaModel,
  type SequenceOptions,
  type TableDef,
  type TriggerDef,
  type ViewDef,
} from '../../src/core/schema-model.ts';
import type { SelectedTable } from '../../src/core/selected-table.ts';
import { planTargets } from '../../src/core/table-targets.ts';
import { parseTaskConfig, type TaskConfig } from '../../src/core/task-config.ts';
import {
  describeSchemaMappingProblem,
  mapSchemaModel,
  type MappedSchema,
} from '../../src/pipeline/map-schema-model.ts';
import { selectedTable } from '../support/selected-table.ts';

const SEQ: SequenceOptions = {
  type: 'integer',
  start: '1',
  increment: '1',
  min: '1',
  max: '2147483647',
  cache: '1',
  cycle: false,
};

const col = (name: string, type = 'integer', o: Partial<ColumnDef> = {}): ColumnDef => ({
  name,
  type,
  collation: undefined,
  default: undefined,
  notNull: false,
  identity: undefined,
  generated: undefined,
  comment: undefined,
  ...o,
});

const table = (schema: string, name: string, o: Partial<TableDef> & Pick<TableDef, 'columns'>): TableDef => ({
  kind: 'table',
  schema,
  name,
  unlogged: false,
  constraints: [],
  foreignKeys: [],
  partitionBy: undefined,
  partitionOf: undefined,
  replicaIdentity: 'default',
  options: [],
  comment: undefined,
  dependsOn: [],
  ...o,
});

const index = (schema: string, name: string, on: string, definition: string): IndexDef => ({
  kind: 'index',
  schema,
  name,
  table: { schema, name: on },
  definition,
  unique: false,
  parentIndex: undefined,
  clustered: false,
  comment: undefined,
});

const view = (schema: string, name: string, query: string, reads: string[]): ViewDef => ({
  kind: 'view',
  schema,
  name,
  query,
  columns: [],
  options: [],
  populated: false,
  comment: undefined,
  dependsOn: reads.map((r) => ({ kind: 'table', schema, name: r })),
});

const routine = (schema: string, name: string, definition: string, args = ''): RoutineDef => ({
  kind: 'function',
  schema,
  name,
  signature: `${name}(${args})`,
  definition,
  comment: undefined,
  dependsOn: [],
});

const trigger = (schema: string, name: string, on: string, definition: string, fn: string): TriggerDef => ({
  kind: 'trigger',
  name,
  table: { schema, name: on },
  definition,
  enabled: 'origin',
  function: { kind: 'routine', schema, name: `${fn}()` },
  comment: undefined,
});

function model(o: Partial<SchemaModel>): SchemaModel {
  return { ...EMPTY_SCHEMA_MODEL, ...o };
}

/** What the source connector would list for the tables of `m`. */
function listed(m: SchemaModel): SelectedTable[] {
  return m.tables.map((t) => ({
    ...selectedTable(t.schema, t.name, t.partitionOf ? { root: t.partitionOf.parent.name } : {}),
    relkind: t.partitionBy !== undefined ? 'p' : 'r',
    columns: t.columns.filter((c) => c.generated === undefined).map((c) => c.name),
    generatedColumns: t.columns.filter((c) => c.generated !== undefined).map((c) => c.name),
    primaryKey: t.constraints.some((c) => c.kind === 'primary-key') ? ['id'] : [],
  }));
}

const base = {
  name: 't',
  source: { type: 'postgresql', url: 'postgresql://u@h/a' },
  destination: { type: 'postgresql', url: 'postgresql://u@h/b' },
  syncTypes: ['schema', 'full'],
};
const task = (objects: object[], mapping: object[] = []): TaskConfig =>
  parseTaskConfig({ ...base, objects, mapping });

function mapped(m: SchemaModel, t: TaskConfig): MappedSchema {
  const { targets, problems } = planTargets(t, listed(m));
  assert.deepEqual(problems, []);
  return mapSchemaModel(m, t, targets);
}

const problemLines = (r: MappedSchema) =>
  r.problems.map((p) => `${p.level} ${describeSchemaMappingProblem(p)}`);

/** A shop schema touching every structured field. */
const SHOP = model({
  schemas: [{ kind: 'schema', name: 'app', comment: 'the app' }],
  types: [{ kind: 'enum', schema: 'app', name: 'status', labels: ['a'], comment: undefined, dependsOn: [] }],
  sequences: [
    {
      kind: 'sequence',
      schema: 'app',
      name: 'orders_n_seq',
      options: SEQ,
      ownedBy: { table: { schema: 'app', name: 'orders' }, column: 'n' },
      comment: undefined,
    },
  ],
  tables: [
    table('app', 'customers', {
      columns: [col('id'), col('name', 'text')],
      constraints: [
        {
          kind: 'primary-key',
          name: 'customers_pkey',
          definition: 'PRIMARY KEY (id)',
          inherited: false,
          parentIndex: undefined,
          comment: undefined,
        },
      ],
    }),
    table('app', 'orders', {
      columns: [
        col('id', 'integer', {
          identity: {
            generation: 'always',
            sequence: { schema: 'app', name: 'orders_id_seq' },
            options: SEQ,
          },
        }),
        col('cust'),
        col('qty'),
        col('n', 'integer', { default: `nextval('app.orders_n_seq'::regclass)` }),
        col('st', 'app.status', { default: `'a'::app.status` }),
        col('note', 'text'),
        col('total', 'integer', { generated: '(qty * 2)' }),
      ],
      constraints: [
        {
          kind: 'primary-key',
          name: 'orders_pkey',
          definition: 'PRIMARY KEY (id)',
          inherited: false,
          parentIndex: undefined,
          comment: undefined,
        },
        {
          kind: 'check',
          name: 'orders_qty_check',
          definition: `CHECK (((qty > 0) AND (note <> 'app.orders qty'::text)))`,
          inherited: false,
          parentIndex: undefined,
          comment: undefined,
        },
        {
          kind: 'unique',
          name: 'orders_qty_key',
          definition: 'UNIQUE (qty, note)',
          inherited: false,
          parentIndex: undefined,
          comment: undefined,
        },
      ],
      foreignKeys: [
        {
          kind: 'foreign-key',
          name: 'orders_cust_fkey',
          definition: 'FOREIGN KEY (cust) REFERENCES app.customers(id) ON DELETE SET NULL (cust)',
          references: { schema: 'app', name: 'customers' },
          comment: undefined,
        },
      ],
      dependsOn: [
        { kind: 'type', schema: 'app', name: 'status' },
        { kind: 'sequence', schema: 'app', name: 'orders_n_seq' },
      ],
    }),
  ],
  indexes: [
    index('app', 'orders_qty_idx', 'orders', 'CREATE INDEX orders_qty_idx ON app.orders USING btree (qty)'),
  ],
  views: [
    view(
      'app',
      'big_customers',
      'SELECT c.name\n   FROM (app.customers c\n     JOIN app.orders o ON ((o.cust = c.id)))',
      ['customers', 'orders'],
    ),
  ],
  routines: [
    routine(
      'app',
      'touch',
      `CREATE OR REPLACE FUNCTION app.touch()\n RETURNS trigger\n LANGUAGE plpgsql\n SET search_path TO 'app'\nAS $function$ BEGIN NEW.note := 'app.orders'; RETURN NEW; END $function$`,
    ),
  ],
  triggers: [
    trigger(
      'app',
      'orders_touch',
      'orders',
      'CREATE TRIGGER orders_touch BEFORE UPDATE OF qty ON app.orders FOR EACH ROW WHEN ((new.qty > old.qty)) EXECUTE FUNCTION app.touch()',
      'touch',
    ),
  ],
});

test('identity mapping returns the model itself, and quickly', () => {
  const t = task([{ schema: 'app' }]);
  const r = mapped(SHOP, t);
  assert.equal(r.model, SHOP);
  assert.deepEqual(r.problems, []);
  // A big model: the identity check does not copy or rewrite anything.
  const big = model({
    schemas: SHOP.schemas,
    tables: Array.from({ length: 20_000 }, (_, i) => table('app', `t${i}`, { columns: [col('id')] })),
  });
  const { targets } = planTargets(t, listed(big));
  const started = performance.now();
  assert.equal(mapSchemaModel(big, t, targets).model, big);
  assert.ok(performance.now() - started < 500, 'identity mapping of 20 000 tables');
});

test('a renamed schema, table and column reach every structured field and SQL text', () => {
  const r = mapped(
    SHOP,
    task([
      { schema: 'app', as: 'app2' },
      { table: 'app.orders', as: 'app2.ord', columns: { qty: 'quantity' } },
    ]),
  );
  // The string constant holding old names stays as it is, and the operator is told.
  assert.deepEqual(problemLines(r), [
    'warning function app.touch(): a string constant in its body mentions app, orders, which the mapping renames (left as it is)',
  ]);
  const m = r.model;
  assert.deepEqual(m.schemas, [{ kind: 'schema', name: 'app2', comment: 'the app' }]);
  assert.deepEqual(
    m.types.map((t) => `${t.schema}.${t.name}`),
    ['app2.status'],
  );
  const ord = m.tables.find((t) => t.name === 'ord');
  assert.ok(ord);
  assert.equal(ord.schema, 'app2');
  assert.deepEqual(
    ord.columns.map((c) => c.name),
    ['id', 'cust', 'quantity', 'n', 'st', 'note', 'total'],
  );
  const byName = (n: string) => ord.columns.find((c) => c.name === n)!;
  assert.deepEqual(byName('id').identity?.sequence, { schema: 'app2', name: 'orders_id_seq' });
  assert.equal(byName('n').default, `nextval('"app2"."orders_n_seq"'::regclass)`);
  assert.equal(byName('st').type, '"app2".status');
  assert.equal(byName('st').default, `'a'::"app2".status`);
  assert.equal(byName('total').generated, '("quantity" * 2)');
  // The string constant holding the old names does not change.
  assert.deepEqual(
    ord.constraints.map((c) => c.definition),
    [
      'PRIMARY KEY (id)',
      `CHECK ((("quantity" > 0) AND (note <> 'app.orders qty'::text)))`,
      'UNIQUE ("quantity", note)',
    ],
  );
  assert.equal(
    ord.foreignKeys[0]?.definition,
    'FOREIGN KEY (cust) REFERENCES "app2".customers(id) ON DELETE SET NULL (cust)',
  );
  assert.deepEqual(ord.foreignKeys[0]?.references, { schema: 'app2', name: 'customers' });
  assert.deepEqual(ord.dependsOn, [
    { kind: 'type', schema: 'app2', name: 'status' },
    { kind: 'sequence', schema: 'app2', name: 'orders_n_seq' },
  ]);
  assert.deepEqual(m.sequences[0]?.ownedBy, { table: { schema: 'app2', name: 'ord' }, column: 'n' });
  assert.equal(m.sequences[0]?.schema, 'app2');
  assert.deepEqual(m.indexes[0], {
    ...SHOP.indexes[0],
    schema: 'app2',
    table: { schema: 'app2', name: 'ord' },
    definition: 'CREATE INDEX orders_qty_idx ON "app2"."ord" USING btree ("quantity")',
  });
  assert.equal(
    m.views[0]?.query,
    'SELECT c.name\n   FROM ("app2".customers c\n     JOIN "app2"."ord" o ON ((o.cust = c.id)))',
  );
  assert.deepEqual(m.views[0]?.dependsOn, [
    { kind: 'table', schema: 'app2', name: 'customers' },
    { kind: 'table', schema: 'app2', name: 'ord' },
  ]);
  assert.equal(
    m.routines[0]?.definition,
    `CREATE OR REPLACE FUNCTION "app2".touch()\n RETURNS trigger\n LANGUAGE plpgsql\n SET search_path TO '"app2"'\nAS $function$ BEGIN NEW.note := 'app.orders'; RETURN NEW; END $function$`,
  );
  assert.deepEqual(m.triggers[0], {
    ...SHOP.triggers[0],
    table: { schema: 'app2', name: 'ord' },
    definition:
      'CREATE TRIGGER orders_touch BEFORE UPDATE OF "quantity" ON "app2"."ord" FOR EACH ROW WHEN ((new."quantity" > old."quantity")) EXECUTE FUNCTION "app2".touch()',
    function: { kind: 'routine', schema: 'app2', name: 'touch()' },
  });
  // The source model is left as it was.
  assert.equal(SHOP.tables[1]?.name, 'orders');
});

test('mapping rules move schemas and tables; names with spaces, capitals and quotes are quoted', () => {
  const m = model({
    schemas: [{ kind: 'schema', name: 'Sales Dept', comment: undefined }],
    tables: [
      table('Sales Dept', 'Order Items', {
        columns: [col('id'), col('Qty'), col('lower', 'text')],
        constraints: [
          {
            kind: 'check',
            name: 'qty "positive"',
            definition: `CHECK ((("Qty" > 0) AND (lower(lower) <> 'Qty'::text)))`,
            inherited: false,
            parentIndex: undefined,
            comment: undefined,
          },
        ],
      }),
    ],
    indexes: [
      index(
        'Sales Dept',
        'items lower',
        'Order Items',
        'CREATE INDEX "items lower" ON "Sales Dept"."Order Items" USING btree (lower(lower))',
      ),
    ],
  });
  const r = mapped(
    m,
    task([
      {
        schema: '"Sales Dept"',
        as: '"Verkauf ""Abt"""',
      },
      {
        table: '"Sales Dept"."Order Items"',
        as: '"Verkauf ""Abt""".Posten',
        columns: { '"Qty"': '"Menge Stück"', lower: '"Lower"' },
      },
    ]),
  );
  assert.deepEqual(problemLines(r), []);
  const t = r.model.tables[0]!;
  assert.deepEqual([t.schema, t.name], ['Verkauf "Abt"', 'posten']);
  assert.equal(
    t.constraints[0]?.definition,
    `CHECK ((("Menge Stück" > 0) AND (lower("Lower") <> 'Qty'::text)))`,
  );
  assert.equal(
    r.model.indexes[0]?.definition,
    'CREATE INDEX "items lower" ON "Verkauf ""Abt"""."posten" USING btree (lower("Lower"))',
  );
  assert.equal(r.model.indexes[0]?.schema, 'Verkauf "Abt"');

  // A rule moves a whole schema, another renames one table first.
  const rules = mapped(
    SHOP,
    task(
      [{ schema: 'app' }],
      [
        { from: 'app.orders', to: 'shop.order_book' },
        { from: 'app.*', to: 'shop.*' },
      ],
    ),
  );
  assert.deepEqual(problemLines(rules), [
    'warning function app.touch(): a string constant in its body mentions app, orders, which the mapping renames (left as it is)',
  ]);
  assert.deepEqual(
    rules.model.tables.map((x) => `${x.schema}.${x.name}`),
    ['shop.customers', 'shop.order_book'],
  );
  assert.deepEqual(
    rules.model.schemas.map((s) => s.name),
    ['shop'],
  );
});

test('what cannot be rewritten is a problem: renamed columns in views and routine bodies, opaque languages, dynamic SQL', () => {
  const m = model({
    ...SHOP,
    views: [
      view('app', 'order_qty', 'SELECT o.id,\n    o.qty\n   FROM app.orders o', ['orders']),
      view('app', 'plain', 'SELECT o.id\n   FROM app.orders o', ['orders']),
    ],
    routines: [
      routine(
        'app',
        'total',
        'CREATE OR REPLACE FUNCTION app.total()\n RETURNS bigint\n LANGUAGE sql\nAS $function$ SELECT sum(qty) FROM app.orders $function$',
      ),
      routine(
        'app',
        'py',
        "CREATE OR REPLACE FUNCTION app.py()\n RETURNS void\n LANGUAGE plpython3u\nAS $function$ plpy.execute('select 1 from app.orders') $function$",
      ),
      routine(
        'app',
        'dyn',
        "CREATE OR REPLACE FUNCTION app.dyn()\n RETURNS void\n LANGUAGE plpgsql\nAS $function$ BEGIN EXECUTE 'TRUNCATE orders'; END $function$",
      ),
      routine(
        'app',
        'bare',
        'CREATE OR REPLACE FUNCTION app.bare()\n RETURNS bigint\n LANGUAGE sql\nAS $function$ SELECT count(*) FROM orders $function$',
      ),
      routine(
        'app',
        'via_path',
        'CREATE OR REPLACE FUNCTION app.via_path()\n RETURNS bigint\n LANGUAGE sql\nAS $function$ SELECT count(*) FROM customers $function$',
      ),
    ],
    triggers: [],
  });
  const r = mapped(
    m,
    task([
      { schema: 'app', as: 'app2' },
      { table: 'app.orders', as: 'app2.ord', columns: { qty: 'quantity' } },
    ]),
  );
  const lines = problemLines(r);
  const has = (re: RegExp) =>
    assert.ok(
      lines.some((l) => re.test(l)),
      `${re} in\n${lines.join('\n')}`,
    );
  has(/^error view app\.order_qty: reads qty of app\.orders \(renamed to quantity\)/);
  has(/^error function app\.total\(\): its body names qty \(renamed to quantity in app\.orders\)/);
  has(/^error function app\.py\(\): is written in plpython3u.*mentions app, orders/);
  has(
    /^error function app\.dyn\(\): .*names orders without a schema|^error function app\.dyn\(\): a string constant/,
  );
  has(/^error function app\.dyn\(\): a string constant in its body mentions orders.*EXECUTE/);
  has(/^error function app\.bare\(\): its body names orders without a schema/);
  has(/^warning function app\.via_path\(\): its body names customers \(in app\) without a schema/);
  assert.ok(!lines.some((l) => l.includes('app.plain')), 'a view reading only renamed tables is rewritten');
  assert.equal(r.model.views.find((v) => v.name === 'plain')?.query, 'SELECT o.id\n   FROM "app2"."ord" o');
});

test('objects using a left-out column are left out with a warning; a generated column or key using it is refused', () => {
  const r = mapped(SHOP, task([{ schema: 'app' }, { table: 'app.orders', excludeColumns: ['qty', 'n'] }]));
  const lines = problemLines(r);
  assert.deepEqual(
    lines.sort(),
    [
      'error column total of app.orders: is generated from qty, which the task leaves out: leave this column out too (excludeColumns)',
      'warning check constraint orders_qty_check on app.orders: uses column qty, which the task leaves out: not created',
      'warning constraint orders_qty_key on app.orders: uses column qty, which the task leaves out: not created',
      'warning index orders_qty_idx on app.orders: uses column qty, which the task leaves out: not created',
      'warning sequence app.orders_n_seq: is owned by column n of app.orders, which the task leaves out: created without OWNED BY',
      'warning trigger orders_touch on app.orders: uses column qty, which the task leaves out: not created',
    ]
      .map((l) => l.replace('check constraint', 'constraint'))
      .sort(),
  );
  const orders = r.model.tables.find((t) => t.name === 'orders')!;
  assert.deepEqual(
    orders.constraints.map((c) => c.name),
    ['orders_pkey'],
  );
  assert.equal(r.model.indexes.length, 0);
  assert.equal(r.model.triggers.length, 0);
  assert.equal(r.model.sequences[0]?.ownedBy, undefined);
});

test('merged tables: created once from the first target, duplicates and their indexes, triggers and sequences skipped', () => {
  const region = (schema: string): SchemaModel => ({
    ...SHOP,
    schemas: [{ kind: 'schema', name: schema, comment: undefined }],
    types: [],
    views: [],
    routines: [],
    triggers: [],
    tables: [
      table(schema, 'orders', {
        columns: [col('id'), col('n', 'integer', { default: `nextval('${schema}.orders_n_seq'::regclass)` })],
        constraints: [SHOP.tables[1]!.constraints[0]!],
      }),
    ],
    sequences: [
      {
        kind: 'sequence',
        schema,
        name: 'orders_n_seq',
        options: SEQ,
        ownedBy: { table: { schema, name: 'orders' }, column: 'n' },
        comment: undefined,
      },
    ],
    indexes: [
      index(
        schema,
        'orders_n_idx',
        'orders',
        `CREATE INDEX orders_n_idx ON ${schema}.orders USING btree (n)`,
      ),
    ],
  });
  const eu = region('eu');
  const us = region('us');
  const both = model({
    schemas: [...eu.schemas, ...us.schemas],
    tables: [...eu.tables, ...us.tables],
    sequences: [...eu.sequences, ...us.sequences],
    indexes: [...eu.indexes, ...us.indexes],
    triggers: [
      trigger(
        'us',
        'audit',
        'orders',
        'CREATE TRIGGER audit AFTER INSERT ON us.orders FOR EACH ROW EXECUTE FUNCTION us.audit()',
        'audit',
      ),
    ],
  });
  const r = mapped(
    both,
    task([
      { table: 'eu.orders', as: 'world.orders', mergeInto: true },
      { table: 'us.orders', as: 'world.orders', mergeInto: true },
    ]),
  );
  assert.deepEqual(problemLines(r), []);
  assert.deepEqual(
    r.model.tables.map((t) => `${t.schema}.${t.name}`),
    ['world.orders'],
  );
  assert.equal(r.model.tables[0]?.columns[1]?.default, `nextval('"world"."orders_n_seq"'::regclass)`);
  assert.deepEqual(
    r.model.sequences.map((s) => `${s.schema}.${s.name}`),
    ['world.orders_n_seq'],
  );
  assert.deepEqual(
    r.model.indexes.map((i) => `${i.schema}.${i.name}`),
    ['world.orders_n_idx'],
  );
  assert.deepEqual(r.model.triggers, []);
});

test('two objects meeting under one destination name are refused', () => {
  const two = model({
    schemas: [
      { kind: 'schema', name: 'a', comment: undefined },
      { kind: 'schema', name: 'b', comment: undefined },
    ],
    tables: [table('a', 't', { columns: [col('id')] }), table('b', 'u', { columns: [col('id')] })],
    views: [view('b', 't', 'SELECT 1', [])],
  });
  const r = mapped(
    two,
    task([
      { schema: 'a', as: 'x' },
      { schema: 'b', as: 'x' },
    ]),
  );
  assert.deepEqual(problemLines(r), [
    'error view b.t: would be named x.t in the destination, as would table a.t: map them apart',
  ]);
});

/** A plain aggregate with a final function, a moving mode and a sort operator, in `schema`. */
const aggregate = (schema: string, o: Partial<AggregateDef> = {}): AggregateDef => ({
  kind: 'aggregate',
  schema,
  name: 'My Agg',
  signature: `My Agg(${quoteIdent(schema)}.money_pair)`,
  arguments: `${quoteIdent(schema)}.money_pair`,
  aggregateKind: 'normal',
  stateFunction: `${quoteIdent(schema)}."step it"`,
  stateType: `${quoteIdent(schema)}.money_pair`,
  stateSpace: undefined,
  finalFunction: `${quoteIdent(schema)}.fin`,
  finalExtra: false,
  finalModify: 'read-only',
  combineFunction: undefined,
  serialFunction: undefined,
  deserialFunction: undefined,
  initialCondition: '(0,0)',
  moving: {
    stateFunction: `${quoteIdent(schema)}."step it"`,
    inverseFunction: `${quoteIdent(schema)}.unstep`,
    stateType: `${quoteIdent(schema)}.money_pair`,
    stateSpace: undefined,
    finalFunction: undefined,
    finalExtra: false,
    finalModify: 'read-only',
    initialCondition: undefined,
  },
  sortOperator: { schema, name: '<<<' },
  parallel: 'unsafe',
  comment: undefined,
  dependsOn: [
    { kind: 'type', schema, name: 'money_pair' },
    {
      kind: 'routine',
      schema,
      name: `step it(${quoteIdent(schema)}.money_pair, ${quoteIdent(schema)}.money_pair)`,
    },
  ],
  ...o,
});

test('an aggregate moves with its schema: support functions, types, sort operator and references to it', () => {
  const src = 'Agg "S"';
  const m = model({
    schemas: [{ kind: 'schema', name: src, comment: undefined }],
    aggregates: [aggregate(src)],
    views: [
      {
        ...view(src, 'uses agg', `SELECT "Agg ""S"""."My Agg"(x.p) AS a FROM "Agg ""S""".src x`, []),
        dependsOn: [{ kind: 'routine', schema: src, name: `My Agg(${quoteIdent(src)}.money_pair)` }],
      },
    ],
  });
  const r = mapped(m, task([{ schema: quoteIdent(src), as: 'agg2' }]));
  assert.deepEqual(problemLines(r), []);
  assert.deepEqual(r.model.schemas, [{ kind: 'schema', name: 'agg2', comment: undefined }]);
  const a = r.model.aggregates[0]!;
  assert.deepEqual(
    {
      schema: a.schema,
      signature: a.signature,
      arguments: a.arguments,
      stateFunction: a.stateFunction,
      stateType: a.stateType,
      finalFunction: a.finalFunction,
      moving: [a.moving?.stateFunction, a.moving?.inverseFunction, a.moving?.stateType],
      sortOperator: a.sortOperator,
      dependsOn: a.dependsOn,
    },
    {
      schema: 'agg2',
      signature: 'My Agg("agg2".money_pair)',
      arguments: '"agg2".money_pair',
      stateFunction: '"agg2"."step it"',
      stateType: '"agg2".money_pair',
      finalFunction: '"agg2".fin',
      moving: ['"agg2"."step it"', '"agg2".unstep', '"agg2".money_pair'],
      sortOperator: { schema: 'agg2', name: '<<<' },
      dependsOn: [
        { kind: 'type', schema: 'agg2', name: 'money_pair' },
        { kind: 'routine', schema: 'agg2', name: 'step it("agg2".money_pair, "agg2".money_pair)' },
      ],
    },
  );
  // The view calling it follows: its query and its reference to the aggregate.
  assert.equal(r.model.views[0]!.query, 'SELECT "agg2"."My Agg"(x.p) AS a FROM "agg2".src x');
  assert.deepEqual(r.model.views[0]!.dependsOn, [
    { kind: 'routine', schema: 'agg2', name: 'My Agg("agg2".money_pair)' },
  ]);
});

test('an aggregate and a function meeting under one destination signature are refused', () => {
  const r = mapped(
    model({
      aggregates: [aggregate('a', { signature: 'f(integer)', name: 'f', arguments: 'integer' })],
      routines: [
        routine(
          'b',
          'f',
          'CREATE OR REPLACE FUNCTION b.f(integer) RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$',
          'integer',
        ),
      ],
    }),
    task([
      { schema: 'a', as: 'x' },
      { schema: 'b', as: 'x' },
    ]),
  );
  assert.ok(
    r.problems.some(
      (p) => p.level === 'error' && p.kind === 'aggregate' && p.reason.includes('function b.f(integer)'),
    ),
    problemLines(r).join('\n'),
  );
});

test('operators, operator classes and families, casts move with their schema', () => {
  const opRef = { kind: 'operator', schema: 'ops', name: '===(ops.code,ops.code)' } as const;
  const member = {
    strategy: 1,
    operator: { schema: 'ops', name: '===' },
    left: 'ops.code',
    right: 'ops.code',
    orderBy: { schema: 'ops', name: 'Sort Fam' },
  };
  const fnMember = { number: 1, left: 'ops.code', right: 'ops.code', function: 'ops.hash_code(ops.code)' };
  const m = model({
    schemas: [{ kind: 'schema', name: 'ops', comment: undefined }],
    operators: [
      {
        kind: 'operator',
        schema: 'ops',
        name: '===',
        signature: '===(ops.code,ops.code)',
        left: 'ops.code',
        right: 'ops.code',
        function: 'ops.eq_code',
        commutator: { schema: 'ops', name: '===' },
        negator: { schema: 'pg_catalog', name: '<>' },
        restrict: 'ops.sel',
        join: undefined,
        hashes: true,
        merges: false,
        comment: undefined,
        dependsOn: [{ kind: 'type', schema: 'ops', name: 'code' }],
      },
    ],
    operatorFamilies: [
      {
        kind: 'operator-family',
        schema: 'ops',
        name: 'Code Fam',
        method: 'hash',
        operators: [member],
        functions: [fnMember],
        comment: undefined,
        dependsOn: [opRef],
      },
    ],
    operatorClasses: [
      {
        kind: 'operator-class',
        schema: 'ops',
        name: 'Code Ops',
        method: 'hash',
        type: 'ops.code',
        default: true,
        family: { schema: 'ops', name: 'Code Fam' },
        storage: 'ops.code',
        operators: [member],
        functions: [fnMember],
        comment: undefined,
        dependsOn: [{ kind: 'operator-family', schema: 'ops', name: 'Code Fam USING hash' }, opRef],
      },
    ],
    casts: [
      {
        kind: 'cast',
        source: 'integer',
        target: 'ops.code',
        method: 'function',
        function: 'ops.to_code(integer)',
        context: 'assignment',
        comment: undefined,
        dependsOn: [{ kind: 'routine', schema: 'ops', name: 'to_code(integer)' }],
      },
    ],
    views: [{ ...view('ops', 'v', 'SELECT (1 OPERATOR(ops.===) 1) AS x', []), dependsOn: [opRef] }],
  });
  const r = mapped(m, task([{ schema: 'ops', as: '"Ops 2"' }]));
  assert.deepEqual(problemLines(r), []);
  const o = r.model.operators[0]!;
  assert.deepEqual(
    [o.schema, o.signature, o.left, o.right, o.function, o.commutator, o.negator, o.restrict],
    [
      'Ops 2',
      '===(ops.code,ops.code)',
      '"Ops 2".code',
      '"Ops 2".code',
      '"Ops 2".eq_code',
      { schema: 'Ops 2', name: '===' },
      { schema: 'pg_catalog', name: '<>' },
      '"Ops 2".sel',
    ],
  );
  const mappedMember = {
    strategy: 1,
    operator: { schema: 'Ops 2', name: '===' },
    left: '"Ops 2".code',
    right: '"Ops 2".code',
    orderBy: { schema: 'Ops 2', name: 'Sort Fam' },
  };
  const mappedFn = {
    number: 1,
    left: '"Ops 2".code',
    right: '"Ops 2".code',
    function: '"Ops 2".hash_code("Ops 2".code)',
  };
  const f = r.model.operatorFamilies[0]!;
  assert.deepEqual(
    [f.schema, f.operators, f.functions, f.dependsOn],
    ['Ops 2', [mappedMember], [mappedFn], [{ ...opRef, schema: 'Ops 2' }]],
  );
  const c = r.model.operatorClasses[0]!;
  assert.deepEqual(
    [c.schema, c.type, c.storage, c.family, c.operators, c.functions],
    [
      'Ops 2',
      '"Ops 2".code',
      '"Ops 2".code',
      { schema: 'Ops 2', name: 'Code Fam' },
      [mappedMember],
      [mappedFn],
    ],
  );
  assert.deepEqual(c.dependsOn, [
    { kind: 'operator-family', schema: 'Ops 2', name: 'Code Fam USING hash' },
    { ...opRef, schema: 'Ops 2' },
  ]);
  const cast = r.model.casts[0]!;
  assert.deepEqual(
    [cast.source, cast.target, cast.function, cast.dependsOn],
    [
      'integer',
      '"Ops 2".code',
      '"Ops 2".to_code(integer)',
      [{ kind: 'routine', schema: 'Ops 2', name: 'to_code(integer)' }],
    ],
  );
  // The view using the operator refers to it under its destination schema, with the same key.
  assert.deepEqual(r.model.views[0]!.dependsOn, [{ ...opRef, schema: 'Ops 2' }]);
  assert.deepEqual(r.model.schemas, [{ kind: 'schema', name: 'Ops 2', comment: undefined }]);
});

test('a collation moves with its schema, and so do the COLLATE clauses of columns and domains', () => {
  const coll = { schema: 'txt', name: 'Case Blind' };
  const m = model({
    schemas: [{ kind: 'schema', name: 'txt', comment: undefined }],
    collations: [
      {
        kind: 'collation',
        ...coll,
        provider: 'icu',
        lcCollate: undefined,
        lcCtype: undefined,
        locale: 'und-u-ks-level2',
        deterministic: false,
        rules: undefined,
        comment: undefined,
      },
    ],
    types: [
      {
        kind: 'domain',
        schema: 'txt',
        name: 'label',
        baseType: 'text',
        collation: coll,
        default: undefined,
        notNull: false,
        constraints: [],
        comment: undefined,
        dependsOn: [{ kind: 'collation', ...coll }],
      },
    ],
    tables: [
      table('txt', 'names', {
        columns: [
          col('id'),
          col('n', 'text', { collation: coll }),
          col('c', 'text', { collation: { schema: 'pg_catalog', name: 'C' } }),
        ],
        dependsOn: [{ kind: 'collation', ...coll }],
      }),
    ],
  });
  const r = mapped(m, task([{ schema: 'txt', as: 'words' }]));
  assert.deepEqual(problemLines(r), []);
  const to = { schema: 'words', name: 'Case Blind' };
  assert.deepEqual(
    r.model.collations.map((c) => ({ schema: c.schema, name: c.name })),
    [to],
  );
  const t = r.model.tables[0]!;
  assert.deepEqual(
    t.columns.map((c) => c.collation),
    [undefined, to, { schema: 'pg_catalog', name: 'C' }],
  );
  assert.deepEqual(t.dependsOn, [{ kind: 'collation', ...to }]);
  const d = r.model.types[0]!;
  assert.equal(d.kind === 'domain' ? d.collation?.schema : undefined, 'words');
});

test('conversions, text search objects and refused objects move with their schema', () => {
  const m = model({
    schemas: [{ kind: 'schema', name: 'ts', comment: undefined }],
    conversions: [
      {
        kind: 'conversion',
        schema: 'ts',
        name: 'conv',
        source: 'UTF8',
        target: 'LATIN1',
        function: 'ts.conv_fn',
        default: false,
        comment: undefined,
        dependsOn: [{ kind: 'routine', schema: 'ts', name: 'conv_fn(integer)' }],
      },
    ],
    textSearchDictionaries: [
      {
        kind: 'text-search-dictionary',
        schema: 'ts',
        name: 'dict',
        template: { schema: 'ts', name: 'tmpl' },
        options: undefined,
        comment: undefined,
      },
    ],
    textSearchConfigurations: [
      {
        kind: 'text-search-configuration',
        schema: 'ts',
        name: 'cfg',
        parser: { schema: 'pg_catalog', name: 'default' },
        mappings: [
          {
            token: 'word',
            dictionaries: [
              { schema: 'ts', name: 'dict' },
              { schema: 'pg_catalog', name: 'simple' },
            ],
          },
        ],
        comment: undefined,
      },
    ],
    refused: [{ kind: 'text-search-template', schema: 'ts', name: 'tmpl', reason: 'C functions' }],
  });
  const r = mapped(m, task([{ schema: 'ts', as: 'search' }]));
  assert.deepEqual(problemLines(r), []);
  const c = r.model.conversions[0]!;
  assert.deepEqual(
    [c.schema, c.function, c.dependsOn],
    ['search', '"search".conv_fn', [{ kind: 'routine', schema: 'search', name: 'conv_fn(integer)' }]],
  );
  assert.deepEqual(r.model.textSearchDictionaries[0]!.template, { schema: 'search', name: 'tmpl' });
  assert.deepEqual(r.model.textSearchConfigurations[0]!.mappings, [
    {
      token: 'word',
      dictionaries: [
        { schema: 'search', name: 'dict' },
        { schema: 'pg_catalog', name: 'simple' },
      ],
    },
  ]);
  assert.equal(r.model.textSearchConfigurations[0]!.schema, 'search');
  assert.deepEqual(
    r.model.refused.map((x) => x.schema),
    ['search'],
  );
});
test('policies and rules: names and columns in their SQL text are mapped; what cannot be shown right is refused', () => {
  const orders = { schema: 'app', name: 'orders' };
  const customers = { schema: 'app', name: 'customers' };
  const m = model({
    ...SHOP,
    policies: [
      {
        kind: 'policy',
        name: 'own qty',
        table: orders,
        command: 'update',
        permissive: false,
        roles: ['Clerks'],
        using: '(qty > 0)',
        withCheck: '((qty > 0) AND (cust IS NOT NULL))',
        comment: 'c',
      },
      {
        kind: 'policy',
        name: 'known customer',
        table: orders,
        command: 'all',
        permissive: true,
        roles: [],
        using: '(EXISTS ( SELECT 1\n   FROM app.customers c\n  WHERE (c.id = orders.cust)))',
        withCheck: undefined,
        comment: undefined,
      },
      {
        kind: 'policy',
        name: 'names',
        table: customers,
        command: 'select',
        permissive: true,
        roles: [],
        using: "(name <> ''::text)",
        withCheck: undefined,
        comment: undefined,
      },
    ],
    rules: [
      {
        kind: 'rule',
        name: 'keep',
        table: customers,
        definition: 'CREATE RULE keep AS\n    ON DELETE TO app.customers DO INSTEAD NOTHING',
        enabled: 'origin',
        comment: undefined,
      },
      {
        kind: 'rule',
        name: 'log qty',
        table: orders,
        definition:
          'CREATE RULE "log qty" AS\n    ON UPDATE TO app.orders DO  INSERT INTO app.customers (id, name)\n  VALUES (new.qty, \'x\'::text)',
        enabled: 'always',
        comment: undefined,
      },
    ],
  });
  const r = mapped(
    m,
    task([
      { schema: 'app', as: 'app2' },
      { table: 'app.orders', as: 'app2.ord', columns: { qty: 'quantity' } },
    ]),
  );
  assert.deepEqual(
    problemLines(r).filter((l) => !l.includes('function app.touch()')),
    [
      "error policy known customer on app.orders: has a subquery while the mapping changes columns: column references in a subquery are not rewritten; keep the column names, or exclude the table's policies by creating them by hand",
      "error rule log qty on app.orders: names qty of app.orders (renamed to quantity): column references in a rule are not rewritten; keep the column's name, or create the rule by hand",
    ],
  );
  const own = r.model.policies?.find((p) => p.name === 'own qty');
  assert.deepEqual(own, {
    ...m.policies![0]!,
    table: { schema: 'app2', name: 'ord' },
    using: '("quantity" > 0)',
    withCheck: '(("quantity" > 0) AND (cust IS NOT NULL))',
  });
  assert.deepEqual(r.model.policies?.find((p) => p.name === 'names')?.table, {
    schema: 'app2',
    name: 'customers',
  });
  const keep = r.model.rules?.find((x) => x.name === 'keep');
  assert.deepEqual(keep?.table, { schema: 'app2', name: 'customers' });
  assert.equal(keep?.definition, 'CREATE RULE keep AS\n    ON DELETE TO "app2".customers DO INSTEAD NOTHING');
});

test('base types, a canonical range, text search parsers and templates move with their schema, functions included', () => {
  const m = model({
    schemas: [{ kind: 'schema', name: 'bt', comment: undefined }],
    types: [
      {
        kind: 'base',
        schema: 'bt',
        name: 'num',
        input: 'bt.num_in',
        output: 'bt.num_out',
        receive: 'bt.num_recv',
        send: undefined,
        typmodIn: undefined,
        typmodOut: undefined,
        analyze: undefined,
        subscript: undefined,
        internalLength: 4,
        passedByValue: true,
        alignment: 'int4',
        storage: 'plain',
        category: 'U',
        preferred: false,
        default: undefined,
        element: 'bt.other',
        delimiter: ',',
        collatable: false,
        comment: undefined,
        dependsOn: [{ kind: 'routine', schema: 'bt', name: 'num_in(cstring)' }],
      },
      {
        kind: 'range',
        schema: 'bt',
        name: 'span',
        subtype: 'integer',
        subtypeOpclass: undefined,
        collation: undefined,
        canonical: 'bt.canon',
        subtypeDiff: undefined,
        multirangeName: undefined,
        comment: undefined,
        dependsOn: [],
      },
    ],
    textSearchParsers: [
      {
        kind: 'text-search-parser',
        schema: 'bt',
        name: 'pars',
        start: 'bt.p_start',
        getToken: 'pg_catalog.prsd_nexttoken',
        end: 'pg_catalog.prsd_end',
        lexTypes: 'pg_catalog.prsd_lextype',
        headline: 'bt.p_head',
        comment: undefined,
        dependsOn: [{ kind: 'routine', schema: 'bt', name: 'p_start(internal, integer)' }],
      },
    ],
    textSearchTemplates: [
      {
        kind: 'text-search-template',
        schema: 'bt',
        name: 'tmpl',
        init: 'bt.t_init',
        lexize: 'pg_catalog.dsimple_lexize',
        comment: undefined,
        dependsOn: [],
      },
    ],
  });
  const r = mapped(m, task([{ schema: 'bt', as: '"Base Two"' }]));
  assert.deepEqual(problemLines(r), []);
  const [num, span] = r.model.types;
  assert.ok(num?.kind === 'base' && span?.kind === 'range');
  assert.deepEqual(
    [num.schema, num.input, num.output, num.receive, num.element, num.dependsOn],
    [
      'Base Two',
      '"Base Two".num_in',
      '"Base Two".num_out',
      '"Base Two".num_recv',
      '"Base Two".other',
      [{ kind: 'routine', schema: 'Base Two', name: 'num_in(cstring)' }],
    ],
  );
  assert.equal(span.canonical, '"Base Two".canon');
  const p = r.model.textSearchParsers[0]!;
  assert.deepEqual(
    [p.schema, p.start, p.getToken, p.headline, p.dependsOn[0]?.schema],
    ['Base Two', '"Base Two".p_start', 'pg_catalog.prsd_nexttoken', '"Base Two".p_head', 'Base Two'],
  );
  const t = r.model.textSearchTemplates[0]!;
  assert.deepEqual(
    [t.schema, t.init, t.lexize],
    ['Base Two', '"Base Two".t_init', 'pg_catalog.dsimple_lexize'],
  );
  assert.deepEqual(
    r.model.schemas.map((x) => x.name),
    ['Base Two'],
  );
});
