/**
 * Sans-I/O parts of DDL sync for sequences, types and triggers: the capture's snapshots (JSON as
 * the event trigger writes it) parsed, planned against their previous versions by stable keys (enum
 * label OIDs, composite attnums, domain constraint OIDs, object names), mapped through the task's
 * schema mapping, and rendered by schema sync's planner with idempotent statements [P9].
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDdlMessage, type DdlChange } from '../../src/core/ddl.ts';
import { parseLsn } from '../../src/core/lsn.ts';
import { planTargets } from '../../src/core/table-targets.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { planDdl, type DdlStep } from '../../src/pipeline/ddl-sync.ts';
import { ddlChangeSql, ddlChangeStatements } from '../../src/sink/postgres/schema/ddl-change-sql.ts';
import { selectedTable } from '../support/selected-table.ts';

const LSN = parseLsn('0/16B3748');
const orders = { ...selectedTable('app', 'orders'), columns: ['id', 'v'] };
const items = { ...selectedTable('app', 'items'), columns: ['id', 'name'] };

/** The steps for a capture message of `tag` with `objects` (as the event trigger writes them). */
function plan(tag: string, objects: unknown[], entries: unknown[] = [{ schema: 'app' }]): DdlStep[] {
  const task = parseTaskConfig({
    name: 't',
    source: { type: 'postgresql', url: 'postgresql://u@h/a' },
    destination: { type: 'postgresql', url: 'postgresql://u@h/b' },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: entries,
  });
  const { targets } = planTargets(task, [orders, items]);
  const m = parseDdlMessage(
    JSON.stringify({
      task: 't',
      event: tag.startsWith('DROP') ? 'sql_drop' : 'ddl_command_end',
      tag,
      query: `${tag} ...`,
      search_path: 'public',
      objects,
    }),
  );
  return planDdl(m, { task, targets, lsn: LSN });
}

const applied = (steps: DdlStep[]): DdlChange[] =>
  steps.flatMap((s) => (s.kind === 'apply' ? s.changes : []));
const warnings = (steps: DdlStep[]): string[] => steps.flatMap((s) => (s.kind === 'warn' ? [s.message] : []));
const sqlOf = (changes: DdlChange[]): string[] => changes.flatMap(ddlChangeStatements).map((s) => s.sql);

const enumType = (labels: [number, string][], name = 'mood') => ({
  schema: 'app',
  name,
  typtype: 'e',
  labels: labels.map(([key, label]) => ({ key, label })),
});
const typeObject = (type: unknown, previous: unknown = null, objectType = 'type') => ({
  object_type: objectType,
  schema: 'app',
  identity: 'app.mood',
  type,
  previous,
});

test('an enum: CREATE TYPE, ADD VALUE (placed by its neighbours, then a commit), RENAME VALUE by label OID, RENAME [P9]', () => {
  const created = plan(
    'CREATE TYPE',
    [
      typeObject(
        enumType([
          [1, 'sad'],
          [2, 'ok'],
        ]),
      ),
    ],
    [{ schema: 'app', as: 'app2' }],
  );
  assert.deepEqual(sqlOf(applied(created)), [`CREATE TYPE "app2"."mood" AS ENUM ('sad', 'ok')`]);
  assert.match(
    ddlChangeStatements(applied(created)[0]!)[0]?.skipIf ?? '',
    /nspname = 'app2' AND t\.typname = 'mood'/,
  );
  assert.ok(!created.some((s) => s.kind === 'commit'), 'a new type needs no commit of its own');

  const added = plan('ALTER TYPE', [
    typeObject(
      enumType([
        [5, 'first'],
        [1, 'sad'],
        [3, 'meh'],
        [2, 'fine'],
        [4, 'happy'],
      ]),
      enumType([
        [1, 'sad'],
        [2, 'ok'],
      ]),
    ),
  ]);
  assert.deepEqual(sqlOf(applied(added)), [
    `ALTER TYPE "app"."mood" ADD VALUE IF NOT EXISTS 'first' BEFORE 'sad'`,
    `ALTER TYPE "app"."mood" ADD VALUE IF NOT EXISTS 'meh' AFTER 'sad'`,
    `ALTER TYPE "app"."mood" RENAME VALUE 'ok' TO 'fine'`,
    `ALTER TYPE "app"."mood" ADD VALUE IF NOT EXISTS 'happy' AFTER 'fine'`,
  ]);
  // The rows after it use the new values: the destination transaction commits with the source's.
  assert.deepEqual(
    added.map((s) => s.kind),
    ['apply', 'commit'],
  );
  const rename = ddlChangeStatements(applied(added)[2]!)[0];
  assert.match(rename?.skipIf ?? '', /enumlabel = 'fine' AND NOT EXISTS \(.*enumlabel = 'ok'\)/s);

  const renamed = plan(
    'ALTER TYPE',
    [typeObject(enumType([[1, 'sad']], 'feeling'), enumType([[1, 'sad']]))],
    [{ schema: 'app', as: 'app2' }],
  );
  assert.deepEqual(sqlOf(applied(renamed)), ['ALTER TYPE "app2"."mood" RENAME TO "feeling"']);
});

test('a composite type: ADD / DROP / RENAME / ALTER ATTRIBUTE by attnum; a domain: default, NOT NULL, constraints by OID [P9]', () => {
  const attr = (key: number, name: string, type: string) => ({
    key,
    name,
    type,
    collation_schema: null,
    collation_name: null,
  });
  const composite = (attributes: unknown[]) => ({ schema: 'app', name: 'pt', typtype: 'c', attributes });
  const steps = plan(
    'ALTER TYPE',
    [
      typeObject(
        composite([attr(1, 'xx', 'bigint'), attr(3, 'z', 'app.mood')]),
        composite([attr(1, 'x', 'integer'), attr(2, 'y', 'text')]),
        'composite type',
      ),
    ],
    [{ schema: 'app', as: 'app2' }],
  );
  assert.deepEqual(sqlOf(applied(steps)), [
    'ALTER TYPE "app2"."pt" DROP ATTRIBUTE IF EXISTS "y"',
    'ALTER TYPE "app2"."pt" RENAME ATTRIBUTE "x" TO "xx"',
    'ALTER TYPE "app2"."pt" ALTER ATTRIBUTE "xx" TYPE bigint',
    // The attribute's type is mapped too.
    'ALTER TYPE "app2"."pt" ADD ATTRIBUTE "z" "app2".mood',
  ]);
  assert.ok(!steps.some((s) => s.kind === 'commit'));

  const domain = (o: Record<string, unknown>) => ({
    schema: 'app',
    name: 'posint',
    typtype: 'd',
    base_type: 'integer',
    default: null,
    not_null: false,
    collation_schema: null,
    collation_name: null,
    constraints: [],
    ...o,
  });
  const check = (key: number, name: string, definition: string) => ({ key, name, definition });
  const created = plan('CREATE DOMAIN', [
    typeObject(
      domain({
        constraints: [
          check(7, 'positive', 'CHECK ((VALUE > 0))'),
          check(8, 'later', 'CHECK ((VALUE < 9)) NOT VALID'),
        ],
      }),
    ),
  ]);
  assert.deepEqual(sqlOf(applied(created)), [
    'CREATE DOMAIN "app"."posint" AS integer CONSTRAINT "positive" CHECK ((VALUE > 0))',
    'ALTER DOMAIN "app"."posint" ADD CONSTRAINT "later" CHECK ((VALUE < 9)) NOT VALID',
  ]);
  const altered = plan('ALTER DOMAIN', [
    typeObject(
      domain({
        default: '1',
        not_null: true,
        constraints: [
          check(7, 'pos', 'CHECK ((VALUE > 0))'),
          check(8, 'later', 'CHECK ((VALUE < 9))'),
          check(9, 'small', 'CHECK ((VALUE < 100))'),
        ],
      }),
      domain({
        constraints: [
          check(7, 'positive', 'CHECK ((VALUE > 0))'),
          check(8, 'later', 'CHECK ((VALUE < 9)) NOT VALID'),
          check(6, 'gone', 'CHECK ((VALUE <> 3))'),
        ],
      }),
      'domain constraint',
    ),
  ]);
  assert.deepEqual(sqlOf(applied(altered)), [
    'ALTER DOMAIN "app"."posint" SET DEFAULT 1',
    'ALTER DOMAIN "app"."posint" SET NOT NULL',
    'ALTER DOMAIN "app"."posint" RENAME CONSTRAINT "positive" TO "pos"',
    // VALIDATE CONSTRAINT changed its definition: dropped and added again.
    'ALTER DOMAIN "app"."posint" DROP CONSTRAINT IF EXISTS "later"',
    'ALTER DOMAIN "app"."posint" DROP CONSTRAINT IF EXISTS "gone"',
    'ALTER DOMAIN "app"."posint" ADD CONSTRAINT "later" CHECK ((VALUE < 9))',
    'ALTER DOMAIN "app"."posint" ADD CONSTRAINT "small" CHECK ((VALUE < 100))',
  ]);
  assert.match(ddlChangeSql(applied(altered)[6]!).skipIf ?? '', /pg_constraint k .* k\.conname = 'small'/s);

  const range = plan('CREATE TYPE', [
    typeObject({
      schema: 'app',
      name: 'fr',
      typtype: 'r',
      subtype: 'double precision',
      subtype_opclass: null,
      subtype_diff: 'float8mi',
      multirange_schema: 'app',
      multirange_name: 'fr_multirange',
    }),
  ]);
  assert.deepEqual(sqlOf(applied(range)), [
    'CREATE TYPE "app"."fr" AS RANGE (SUBTYPE = double precision, SUBTYPE_DIFF = float8mi)',
  ]);
  const dropped = plan(
    'DROP DOMAIN',
    [
      {
        dropped: true,
        object_type: 'type',
        schema: 'app',
        name: 'posint',
        args: [],
        names: ['app.posint'],
        identity: 'app.posint',
        original: true,
      },
      {
        dropped: true,
        object_type: 'type',
        schema: 'app',
        name: '_posint',
        args: [],
        names: ['app.posint[]'],
        identity: 'app.posint[]',
        original: false,
      },
      {
        dropped: true,
        object_type: 'domain constraint',
        schema: 'app',
        name: 'pos',
        args: [],
        names: ['app.posint', 'pos'],
        identity: 'pos on app.posint',
        original: false,
      },
    ],
    [{ schema: 'app', as: 'app2' }],
  );
  assert.deepEqual(sqlOf(applied(dropped)), ['DROP DOMAIN IF EXISTS "app2"."posint"']);
  assert.deepEqual(warnings(dropped), []);
});

test('a sequence: CREATE with OWNED BY, ALTER of its parameters, RENAME, DROP; an identity one follows its column [P9]', () => {
  const seq = (o: Record<string, unknown> = {}) => ({
    schema: 'app',
    name: 'counter',
    type: 'bigint',
    start: '1',
    increment: '3',
    min: '1',
    max: '9223372036854775807',
    cache: '5',
    cycle: false,
    owned_schema: null,
    owned_table: null,
    owned_column: null,
    identity: false,
    ...o,
  });
  const object = (sequence: unknown, previous: unknown = null) => ({
    object_type: 'sequence',
    schema: 'app',
    identity: 'app.counter',
    sequence,
    previous,
  });
  const mapping = [{ schema: 'app', as: 'app2' }];
  const created = plan(
    'CREATE SEQUENCE',
    [object(seq({ owned_schema: 'app', owned_table: 'items', owned_column: 'id' }))],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(created)), [
    'CREATE SEQUENCE "app2"."counter" AS bigint INCREMENT BY 3 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 5 NO CYCLE',
    'ALTER SEQUENCE "app2"."counter" OWNED BY "app2"."items"."id"',
  ]);
  assert.match(
    ddlChangeStatements(applied(created)[0]!)[0]?.skipIf ?? '',
    /to_regclass\('"app2"\."counter"'\)/,
  );
  const altered = plan(
    'ALTER SEQUENCE',
    [object(seq({ name: 'counter2', max: '1000', cycle: true }), seq())],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(altered)), [
    'ALTER SEQUENCE "app2"."counter" RENAME TO "counter2"',
    'ALTER SEQUENCE "app2"."counter2" AS bigint INCREMENT BY 3 MINVALUE 1 MAXVALUE 1000 START WITH 1 CACHE 5 CYCLE',
    'ALTER SEQUENCE "app2"."counter2" OWNED BY NONE',
  ]);
  assert.deepEqual(
    plan('ALTER SEQUENCE', [
      object(seq({ identity: true, owned_schema: 'app', owned_table: 'orders', owned_column: 'id' }), seq()),
    ]),
    [],
  );
  // A serial's sequence comes with its CREATE TABLE (the table joins), not on its own.
  assert.deepEqual(plan('CREATE TABLE', [object(seq())]), []);
  // ALTER TABLE ... ADD COLUMN serial: the sequence before the column, OWNED BY after it.
  const serial = seq({
    name: 'items_seq_seq',
    type: 'integer',
    owned_schema: 'app',
    owned_table: 'items',
    owned_column: 'seq',
  });
  const columns = [
    { attnum: 1, name: 'id', type: 'integer', default: null, not_null: true, identity: '', generated: null },
    { attnum: 2, name: 'name', type: 'text', default: null, not_null: false, identity: '', generated: null },
  ];
  const added = {
    attnum: 3,
    name: 'seq',
    type: 'integer',
    default: "nextval('app.items_seq_seq'::regclass)",
    not_null: true,
    identity: '',
    generated: null,
  };
  const table = (cols: unknown[]) => ({
    relid: 2,
    schema: 'app',
    name: 'items',
    relkind: 'r',
    columns: cols,
    constraints: [],
  });
  const withSerial = plan(
    'ALTER TABLE',
    [
      object(serial),
      {
        object_type: 'table',
        schema: 'app',
        identity: 'app.items',
        table: table([...columns, added]),
        previous: table(columns),
      },
      object(serial, serial),
    ],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(withSerial)), [
    'CREATE SEQUENCE "app2"."items_seq_seq" AS integer INCREMENT BY 3 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 5 NO CYCLE',
    `ALTER TABLE "app2"."items" ADD COLUMN IF NOT EXISTS "seq" integer DEFAULT nextval('"app2"."items_seq_seq"'::regclass) NOT NULL`,
    'ALTER SEQUENCE "app2"."items_seq_seq" AS integer INCREMENT BY 3 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 5 NO CYCLE',
    'ALTER SEQUENCE "app2"."items_seq_seq" OWNED BY "app2"."items"."seq"',
  ]);
  const dropped = plan(
    'DROP SEQUENCE',
    [
      {
        dropped: true,
        object_type: 'sequence',
        schema: 'app',
        name: 'counter2',
        args: [],
        names: ['app', 'counter2'],
        identity: 'app.counter2',
        original: true,
      },
    ],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(dropped)), ['DROP SEQUENCE IF EXISTS "app2"."counter2"']);
  // A free-standing sequence in the schema of a table entry is not the task's.
  assert.equal(warnings(plan('CREATE SEQUENCE', [object(seq())], [{ table: 'app.orders' }])).length, 1);
});

test('a trigger: CREATE [OR REPLACE] as DROP IF EXISTS + CREATE (PostgreSQL 13 has no OR REPLACE), ENABLE ALWAYS / REPLICA from the table snapshot, RENAME, DROP [P9]', () => {
  const trigger = (name: string, enabled = 'O') => ({
    table_schema: 'app',
    table_name: 'orders',
    name,
    definition: `CREATE TRIGGER ${name} BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.keep()`,
    enabled,
    function_schema: 'app',
    function_name: 'keep',
    function_signature: 'keep()',
  });
  const object = (t: unknown, previous: unknown = null) => ({
    object_type: 'trigger',
    schema: 'app',
    identity: 'orders_keep on app.orders',
    trigger: t,
    previous,
  });
  const mapping = [{ schema: 'app', as: 'app2' }];
  const created = plan('CREATE TRIGGER', [object(trigger('orders_keep', 'A'))], mapping);
  assert.deepEqual(sqlOf(applied(created)), [
    'DROP TRIGGER IF EXISTS "orders_keep" ON "app2"."orders"',
    'CREATE TRIGGER orders_keep BEFORE INSERT OR UPDATE ON "app2".orders FOR EACH ROW EXECUTE FUNCTION "app2".keep()',
    'ALTER TABLE "app2"."orders" ENABLE ALWAYS TRIGGER "orders_keep"',
  ]);
  const renamed = plan('ALTER TRIGGER', [object(trigger('orders_keep2'), trigger('orders_keep'))], mapping);
  assert.deepEqual(sqlOf(applied(renamed)), [
    'ALTER TRIGGER "orders_keep" ON "app2"."orders" RENAME TO "orders_keep2"',
  ]);
  assert.match(ddlChangeSql(applied(renamed)[0]!).skipIf ?? '', /tgname = 'orders_keep2' AND NOT EXISTS/);
  // On a table the task does not synchronise: not the task's.
  assert.deepEqual(plan('CREATE TRIGGER', [object({ ...trigger('t'), table_name: 'other' })]), []);

  const columns = [
    { attnum: 1, name: 'id', type: 'bigint', default: null, not_null: true, identity: 'd', generated: null },
    { attnum: 2, name: 'v', type: 'text', default: null, not_null: true, identity: '', generated: null },
  ];
  const table = (triggers: unknown[]) => ({
    relid: 1,
    schema: 'app',
    name: 'orders',
    relkind: 'r',
    columns,
    constraints: [],
    triggers,
  });
  const enabled = plan(
    'ALTER TABLE',
    [
      {
        object_type: 'table',
        schema: 'app',
        identity: 'app.orders',
        table: table([
          { name: 'a', enabled: 'A' },
          { name: 'b', enabled: 'O' },
          { name: 'c', enabled: 'R' },
          { name: 'd', enabled: 'D' },
        ]),
        previous: table([
          { name: 'a', enabled: 'O' },
          { name: 'b', enabled: 'D' },
          { name: 'd', enabled: 'D' },
        ]),
      },
    ],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(enabled)), [
    'ALTER TABLE "app2"."orders" ENABLE ALWAYS TRIGGER "a"',
    'ALTER TABLE "app2"."orders" ENABLE TRIGGER "b"',
    'ALTER TABLE "app2"."orders" ENABLE REPLICA TRIGGER "c"',
  ]);
  assert.deepEqual(warnings(enabled), []);

  const dropped = plan(
    'DROP TRIGGER',
    [
      {
        dropped: true,
        object_type: 'trigger',
        schema: 'app',
        name: 'orders_keep',
        args: [],
        names: ['app', 'orders', 'orders_keep'],
        identity: 'orders_keep on app.orders',
        original: true,
      },
    ],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(dropped)), ['DROP TRIGGER IF EXISTS "orders_keep" ON "app2"."orders"']);
  // Dropped along with its table: the table's drop covers it.
  assert.deepEqual(
    applied(
      plan('DROP TABLE', [
        {
          dropped: true,
          object_type: 'table',
          schema: 'app',
          name: 'orders',
          args: [],
          names: ['app', 'orders'],
          identity: 'app.orders',
          original: true,
        },
        {
          dropped: true,
          object_type: 'trigger',
          schema: 'app',
          name: 'orders_keep',
          args: [],
          names: ['app', 'orders', 'orders_keep'],
          identity: 'orders_keep on app.orders',
          original: false,
        },
      ]),
    ).filter((c) => c.kind === 'drop-trigger'),
    [],
  );
});

test('types outside a schema entry, and base types, stay warnings', () => {
  const steps = plan('CREATE TYPE', [typeObject(enumType([[1, 'a']]))], [{ table: 'app.orders' }]);
  assert.deepEqual(applied(steps), []);
  assert.match(
    warnings(steps)[0] ?? '',
    /not followed on app\.mood: types are followed in schemas a schema entry selects/,
  );
  const base = plan('CREATE TYPE', [typeObject({ schema: 'app', name: 'b', typtype: 'b' })]);
  assert.match(warnings(base)[0] ?? '', /CREATE TYPE of type objects is not followed/);
});

test('ALTER VIEW / INDEX / FUNCTION ... RENAME follow as renames, by the name the capture last recorded [P9]', () => {
  const mapping = [{ schema: 'app', as: 'app2' }];
  const view = plan(
    'ALTER VIEW',
    [
      {
        object_type: 'view',
        schema: 'app',
        identity: 'app.v2',
        view: { schema: 'app', name: 'v2', query: ' SELECT items.id FROM app.items;', columns: ['id'] },
        previous: { schema: 'app', name: 'v1' },
      },
    ],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(view)), ['ALTER VIEW "app2"."v1" RENAME TO "v2"']);
  assert.match(
    ddlChangeSql(applied(view)[0]!).skipIf ?? '',
    /to_regclass\('"app2"\."v2"'\) IS NOT NULL AND to_regclass\('"app2"\."v1"'\) IS NULL/,
  );
  const index = (name: string, constraint: boolean) => ({
    object_type: 'index',
    schema: 'app',
    identity: `app.${name}`,
    index: {
      schema: 'app',
      name,
      table_schema: 'app',
      table_name: 'items',
      definition: `CREATE UNIQUE INDEX ${name} ON app.items USING btree (id)`,
      unique: true,
      constraint,
    },
    previous: { schema: 'app', name: 'items_pkey' },
  });
  assert.deepEqual(sqlOf(applied(plan('ALTER INDEX', [index('items_pk', true)], mapping))), [
    'ALTER INDEX "app2"."items_pkey" RENAME TO "items_pk"',
  ]);
  // An index on a column the task leaves out is not on the destination: its rename is a warning.
  const leftOut = plan(
    'ALTER INDEX',
    [
      {
        ...index('items_name2', false),
        index: {
          ...index('items_name2', false).index,
          definition: 'CREATE INDEX items_name2 ON app.items USING btree (name)',
          unique: false,
        },
        previous: { schema: 'app', name: 'items_name' },
      },
    ],
    [{ table: 'app.items', excludeColumns: ['name'] }],
  );
  assert.deepEqual(applied(leftOut), []);
  assert.match(warnings(leftOut)[0] ?? '', /leaves out/);
  const routine = plan(
    'ALTER FUNCTION',
    [
      {
        object_type: 'function',
        schema: 'app',
        identity: 'app.f2(integer,text)',
        routine: {
          schema: 'app',
          name: 'f2',
          prokind: 'f',
          signature: 'f2(integer, text)',
          definition: 'CREATE OR REPLACE FUNCTION app.f2(x integer, y text) ...',
        },
        previous: { schema: 'app', name: 'f1', signature: 'f1(integer, text)' },
      },
    ],
    mapping,
  );
  assert.deepEqual(sqlOf(applied(routine)), ['ALTER FUNCTION "app2"."f1"(integer, text) RENAME TO "f2"']);
  assert.match(
    ddlChangeSql(applied(routine)[0]!).skipIf ?? '',
    /to_regprocedure\('"app2"\."f2"\(integer, text\)'\) IS NOT NULL/,
  );
  // Another ALTER (options, owner) of a view stays a warning.
  const other = plan('ALTER VIEW', [
    {
      object_type: 'view',
      schema: 'app',
      identity: 'app.v2',
      view: { schema: 'app', name: 'v2', query: ' SELECT 1;', columns: ['x'] },
      previous: { schema: 'app', name: 'v2' },
    },
  ]);
  assert.match(warnings(other)[0] ?? '', /ALTER VIEW of a view is not followed/);
});
