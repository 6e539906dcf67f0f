/**
 * Token-aware renaming in SQL text (sans I/O): qualified names, regclass constants, the columns of a
 * single-table expression; strings, comments, key words and field selections left alone; what cannot
 * be resolved reported rather than guessed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QualifiedName } from '../../src/core/identifier.ts';
import {
  rewriteSqlNames,
  type ColumnRenames,
  type NameResolver,
  type RewriteOptions,
} from '../../src/pipeline/rewrite-sql-names.ts';

type Rel = readonly [
  schema: string,
  name: string,
  to: QualifiedName,
  columns?: Record<string, string | null>,
];

function resolver(o: {
  schemas?: Record<string, string>;
  relations?: readonly Rel[];
  routines?: readonly (readonly [string, string])[];
}): NameResolver {
  const schema = (s: string) => o.schemas?.[s] ?? s;
  const rels = new Map(
    (o.relations ?? []).map(([s, n, to, cols]) => [
      `${s}\u0000${n}`,
      { to, columns: cols === undefined ? undefined : new Map(Object.entries(cols)) },
    ]),
  );
  const keySchemas = new Set(Object.keys(o.schemas ?? {}));
  for (const [s] of o.relations ?? []) keySchemas.add(s);
  return {
    keySchemas,
    schema,
    relation: (s, n) => rels.get(`${s}\u0000${n}`),
    routine: (s, n) =>
      (o.routines ?? []).some(([a, b]) => a === s && b === n) ? { schema: schema(s), name: n } : undefined,
  };
}

const APP = resolver({
  schemas: { app: 'app2', 'Sales Dept': 'Verkauf "Abt"' },
  relations: [
    ['app', 'orders', { schema: 'app2', name: 'ord' }, { qty: 'quantity', secret: null, lower: 'lc' }],
    ['app', 'orders_id_seq', { schema: 'app2', name: 'orders_id_seq' }],
    ['Sales Dept', 'Order Items', { schema: 'Verkauf "Abt"', name: 'Line Items' }],
  ],
  routines: [
    ['app', 'touch'],
    ['app', 'orders'],
  ],
});

const cols = (c: Record<string, string | null>): RewriteOptions => {
  const m: ColumnRenames = new Map(Object.entries(c));
  return { columnsAt: () => m };
};
const rw = (text: string, o: RewriteOptions = {}) => rewriteSqlNames(text, APP, o);

test('qualified names of renamed objects and schemas are renamed, quoted', () => {
  assert.equal(rw('SELECT count(*) FROM app.orders o').text, 'SELECT count(*) FROM "app2"."ord" o');
  assert.equal(
    rw('SELECT * FROM "Sales Dept"."Order Items" i').text,
    'SELECT * FROM "Verkauf ""Abt"""."Line Items" i',
  );
  // Whatever else lives in a renamed schema goes with it (types, functions, extension members).
  assert.equal(
    rw(`'a'::app.status, app.touch(1), app . other`).text,
    `'a'::"app2".status, "app2".touch(1), "app2" . other`,
  );
  // Other schemas stay, and so does the text between tokens.
  const same = 'SELECT /* app.orders */ 1 FROM public.orders -- app.orders\n';
  assert.equal(rw(same).text, same);
  assert.equal(rw(same).changed, false);
});

test('strings and comments holding the old name do not change; regclass constants do', () => {
  assert.equal(
    rw(`SELECT 'app.orders', E'app.orders', $$app.orders$$`).text,
    `SELECT 'app.orders', E'app.orders', $$app.orders$$`,
  );
  assert.equal(
    rw(`nextval('app.orders_id_seq'::regclass)`).text,
    `nextval('"app2"."orders_id_seq"'::regclass)`,
  );
  assert.equal(
    rw(`'"Sales Dept"."Order Items"'::pg_catalog.regclass`).text,
    `'"Verkauf ""Abt"""."Line Items"'::pg_catalog.regclass`,
  );
  assert.equal(
    rw(`'app'::regnamespace, 'app.touch'::regproc`).text,
    `'"app2"'::regnamespace, '"app2"."touch"'::regproc`,
  );
  // Unqualified: search_path decides, so it is reported as a bare name.
  assert.ok(rw(`'orders'::regclass`).standalone.has('orders'));
});

test('columns of a single-table expression: operands renamed, functions, types, fields and key words not', () => {
  const c = cols({
    qty: 'quantity',
    lower: 'lc',
    year: 'yr',
    zone: 'z',
    last: 'final',
    value: 'val',
    secret: null,
  });
  assert.equal(rw('CHECK ((qty > 0))', c).text, 'CHECK (("quantity" > 0))');
  // A column named like a function: the call stays, the column is renamed.
  assert.equal(rw('(lower(lower) <> upper(lower))', c).text, '(lower("lc") <> upper("lc"))');
  assert.equal(
    rw(`(EXTRACT(year FROM created) > (year)::numeric)`, c).text,
    `(EXTRACT(year FROM created) > ("yr")::numeric)`,
  );
  assert.equal(
    rw(`((created AT TIME ZONE 'UTC'::text) = zone)`, c).text,
    `((created AT TIME ZONE 'UTC'::text) = "z")`,
  );
  assert.equal(rw(`(x)::qty, (comp).qty, qty.f`, c).text, `(x)::qty, (comp).qty, qty.f`);
  assert.equal(rw(`(value IS JSON VALUE)`, c).text, `("val" IS JSON VALUE)`);
  assert.equal(
    rw(
      `CREATE INDEX qty ON app.orders USING btree (lower(last) text_pattern_ops, qty DESC NULLS LAST) INCLUDE (year) WITH (fillfactor='70') WHERE (qty IS NOT NULL)`,
      c,
    ).text,
    `CREATE INDEX qty ON "app2"."ord" USING btree (lower("final") text_pattern_ops, "quantity" DESC NULLS LAST) INCLUDE ("yr") WITH (fillfactor='70') WHERE ("quantity" IS NOT NULL)`,
  );
  assert.equal(rw(`f(qty => 1, x => qty)`, c).text, `f(qty => 1, x => "quantity")`);
  assert.equal(rw(`"qty" + "Qty" + 'qty'`, c).text, `"quantity" + "Qty" + 'qty'`);
  assert.deepEqual(rw('CHECK ((secret > 0 AND qty > 0))', c).excluded, ['secret']);
  // Qualified with its schema and table, a column is renamed in any text.
  assert.equal(rw('app.orders.qty%TYPE').text, '"app2"."ord"."quantity"%TYPE');
  // new.col / old.col in a trigger's WHEN.
  const rows = { qualifiers: new Set(['new', 'old']), columns: new Map([['qty', 'quantity']]) };
  assert.equal(rw('WHEN ((new.qty > old.qty))', { rows }).text, 'WHEN ((new."quantity" > old."quantity"))');
});

test('ambiguous names are reported, not guessed', () => {
  // `app` is an alias here as well as a renamed schema.
  const r = rw('SELECT app.id FROM public.x app');
  assert.deepEqual(r.ambiguous, ['app.id']);
  assert.equal(r.text, 'SELECT app.id FROM public.x app');
  // app.orders is a table and a function; in call position it could be either.
  assert.deepEqual(rw('INSERT INTO app.orders(id) VALUES (1)').ambiguous, ['app.orders']);
  assert.deepEqual(rw('SELECT a.b.c.d').ambiguous, []);
  assert.deepEqual(rw('SELECT app.a.b.c').ambiguous, ['app.a.b.c']);
});

test('a renamed table in FROM keeps its old name as alias when columns are qualified with it', () => {
  assert.equal(
    rw('SELECT orders.id FROM (app.orders JOIN public.c ON ((orders.id = c.id)))', { query: true }).text,
    'SELECT orders.id FROM ("app2"."ord" AS "orders" JOIN public.c ON ((orders.id = c.id)))',
  );
  assert.equal(
    rw('SELECT count(*) FROM app.orders', { query: true }).text,
    'SELECT count(*) FROM "app2"."ord"',
  );
  assert.equal(rw('SELECT o.id FROM app.orders o', { query: true }).text, 'SELECT o.id FROM "app2"."ord" o');
  assert.deepEqual(
    [...rw('SELECT o.qty FROM app.orders o', { query: true }).words].filter((w) => w === 'qty'),
    ['qty'],
  );
});

test('OPERATOR(schema.op) of a renamed schema names the destination schema', () => {
  assert.equal(
    rw(`CHECK ((NOT (VALUE OPERATOR("Sales Dept".=) '0'::integer)))`).text,
    `CHECK ((NOT (VALUE OPERATOR("Verkauf ""Abt""".=) '0'::integer)))`,
  );
  assert.equal(rw('SELECT a OPERATOR(app.<~>) b').text, 'SELECT a OPERATOR("app2".<~>) b');
  assert.equal(rw('SELECT a OPERATOR(pg_catalog.=) b').text, 'SELECT a OPERATOR(pg_catalog.=) b');
});

test('regconfig and regdictionary constants of a renamed schema name the destination schema', () => {
  assert.equal(
    rw(`to_tsvector('"Sales Dept"."My Config"'::regconfig, 'x'::text)`).text,
    `to_tsvector('"Verkauf ""Abt"""."My Config"'::regconfig, 'x'::text)`,
  );
  assert.equal(
    rw(`ts_lexize('app.dict'::regdictionary, 'x')`).text,
    `ts_lexize('"app2"."dict"'::regdictionary, 'x')`,
  );
});
