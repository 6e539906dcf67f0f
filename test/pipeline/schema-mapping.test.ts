/**
 * Schema sync under a name mapping, against real servers: a schema `as`, a table `as` into another
 * schema, a column rename, a left-out column and a mapping rule, through schema, full and incremental
 * sync. The destination's catalog must hold every object under its mapped name (tables, columns,
 * indexes, foreign keys, a view, owned and free-standing sequences, a CHECK on a renamed column,
 * triggers) and nothing under the source names; the data must equal the source queries that should
 * produce it. An object pgdts cannot rewrite (a plpgsql body naming a renamed column) must be refused
 * by `pgdts precheck` and by `pgdts run` before anything is created in the destination.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { rowsHash } from '../support/rows-hash.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';

const SOURCE = `
  CREATE SCHEMA ref;
  CREATE TABLE ref.countries (code text PRIMARY KEY, label text NOT NULL);
  CREATE SEQUENCE ref.ticket_seq;
  SELECT setval('ref.ticket_seq', 42);

  CREATE SCHEMA shop;
  CREATE TABLE shop.customers (
    id serial PRIMARY KEY,
    full_name text NOT NULL CHECK (length(full_name) > 0),
    email text,
    internal_note text
  );
  CREATE INDEX customers_name_idx ON shop.customers (lower(full_name));
  CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES shop.customers (id),
    country_code text REFERENCES ref.countries (code),
    qty int NOT NULL CHECK (qty > 0),
    total int
  );
  CREATE INDEX orders_customer_idx ON shop.orders (customer_id);
  CREATE VIEW shop.active_clients AS
    SELECT c.id, c.email FROM shop.customers c WHERE c.email IS NOT NULL;
  -- Idempotent triggers: the same row whether they fire on the source only or on both sides.
  CREATE FUNCTION shop.set_total() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.total := NEW.qty * 10; RETURN NEW; END $$;
  CREATE TRIGGER orders_total BEFORE INSERT OR UPDATE ON shop.orders
    FOR EACH ROW EXECUTE FUNCTION shop.set_total();
  CREATE FUNCTION shop.lower_email() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.email := lower(NEW.email); RETURN NEW; END $$;
  CREATE TRIGGER customers_email BEFORE UPDATE OF full_name, email ON shop.customers
    FOR EACH ROW WHEN (NEW.full_name IS NOT NULL) EXECUTE FUNCTION shop.lower_email();

  INSERT INTO ref.countries VALUES ('de', 'Germany'), ('fr', 'France'), ('it', 'Italy');
  INSERT INTO shop.customers (full_name, email, internal_note)
    SELECT 'name ' || g, CASE WHEN g % 4 = 0 THEN NULL ELSE 'c' || g || '@example.org' END, 'secret ' || g
      FROM generate_series(1, 200) g;
  INSERT INTO shop.orders (customer_id, country_code, qty)
    SELECT 1 + g % 200, (ARRAY['de', 'fr', 'it', NULL])[1 + g % 4], 1 + g % 7 FROM generate_series(1, 1000) g;
`;

/** What pgdts cannot carry over: a plpgsql body naming the renamed column, and a view using it. */
const UNMAPPABLE = `
  CREATE FUNCTION shop.customer_label(cid int) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN RETURN (SELECT upper(full_name) FROM shop.customers WHERE id = cid); END $$;
  CREATE VIEW shop.labels AS SELECT id, shop.customer_label(id) AS label FROM shop.customers;
`;

const OBJECTS = [
  { schema: 'shop', as: 'store' },
  {
    table: 'shop.customers',
    as: 'crm.clients',
    columns: { full_name: 'name' },
    excludeColumns: ['internal_note'],
  },
  { schema: 'ref' },
];
const MAPPING = [
  { from: 'ref.countries', to: 'geo.lands' },
  { from: 'ref.*', to: 'geo.*' },
];

/** Destination query → the source query it must equal. */
const EXPECTED: readonly [string, string][] = [
  ['SELECT id, name, email FROM crm.clients', 'SELECT id, full_name, email FROM shop.customers'],
  [
    'SELECT id, customer_id, country_code, qty, total FROM store.orders',
    'SELECT id, customer_id, country_code, qty, total FROM shop.orders',
  ],
  ['SELECT code, label FROM geo.lands', 'SELECT code, label FROM ref.countries'],
  ['SELECT id, email FROM store.active_clients', 'SELECT id, email FROM shop.active_clients'],
];

async function assertData(s: TestServer, src: string, d: TestServer, dst: string): Promise<void> {
  for (const [destination, source] of EXPECTED) {
    assert.equal(await rowsHash(d, dst, destination), await rowsHash(s, src, source), destination);
  }
}

/** `schema.name` of every user relation of `kinds` in the destination, sorted. */
async function relations(d: TestServer, db: string, kinds: string): Promise<string[]> {
  const rows = await sql<{ r: string }>(
    d,
    db,
    `SELECT n.nspname || '.' || c.relname AS r FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = ANY($1::"char"[]) AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdts')
        AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`,
    [kinds.split('')],
  );
  return rows.map((x) => x.r);
}

async function assertCatalog(d: TestServer, dst: string): Promise<void> {
  assert.deepEqual(await relations(d, dst, 'r'), ['crm.clients', 'geo.lands', 'store.orders']);
  assert.deepEqual(await relations(d, dst, 'v'), ['store.active_clients']);
  // Owned sequences go with their table's target (crm for the moved table), a free one with its schema.
  assert.deepEqual(await relations(d, dst, 'S'), [
    'crm.customers_id_seq',
    'geo.ticket_seq',
    'store.orders_id_seq',
  ]);
  const schemas = await sql<{ n: string }>(
    d,
    dst,
    "SELECT nspname AS n FROM pg_namespace WHERE nspname IN ('shop', 'ref') ORDER BY 1",
  );
  assert.deepEqual(schemas, [], 'nothing under the source schemas');

  const columns = await sql<{ a: string }>(
    d,
    dst,
    `SELECT string_agg(attname, ',' ORDER BY attnum) AS a FROM pg_attribute
      WHERE attrelid = 'crm.clients'::regclass AND attnum > 0 AND NOT attisdropped`,
  );
  assert.equal(columns[0]?.a, 'id,name,email', 'renamed column, left-out column gone');

  const serial = await sql<{ s: string | null; d: string | null }>(
    d,
    dst,
    `SELECT pg_get_serial_sequence('crm.clients', 'id') AS s,
            pg_get_expr(adbin, adrelid) AS d
       FROM pg_attrdef WHERE adrelid = 'crm.clients'::regclass AND adnum = 1`,
  );
  assert.equal(serial[0]?.s, 'crm.customers_id_seq', 'OWNED BY the mapped column');
  assert.equal(serial[0]?.d, "nextval('crm.customers_id_seq'::regclass)");

  const indexes = await sql<{ i: string }>(
    d,
    dst,
    `SELECT indexdef AS i FROM pg_indexes WHERE schemaname IN ('crm', 'store', 'geo') ORDER BY indexname`,
  );
  const defs = indexes.map((x) => x.i);
  assert.ok(
    defs.includes('CREATE INDEX customers_name_idx ON crm.clients USING btree (lower(name))'),
    defs.join('\n'),
  );
  assert.ok(
    defs.includes('CREATE INDEX orders_customer_idx ON store.orders USING btree (customer_id)'),
    defs.join('\n'),
  );

  const constraints = await sql<{ t: string; c: string; def: string }>(
    d,
    dst,
    `SELECT conrelid::regclass::text AS t, contype::text AS c, pg_get_constraintdef(oid) AS def
       FROM pg_constraint WHERE contype IN ('c', 'f') AND connamespace::regnamespace::text IN ('crm', 'store')
      ORDER BY 1, 2, 3`,
  );
  assert.deepEqual(constraints, [
    { t: 'crm.clients', c: 'c', def: 'CHECK ((length(name) > 0))' },
    { t: 'store.orders', c: 'c', def: 'CHECK ((qty > 0))' },
    { t: 'store.orders', c: 'f', def: 'FOREIGN KEY (country_code) REFERENCES geo.lands(code)' },
    { t: 'store.orders', c: 'f', def: 'FOREIGN KEY (customer_id) REFERENCES crm.clients(id)' },
  ]);

  const view = await sql<{ v: string }>(d, dst, "SELECT pg_get_viewdef('store.active_clients') AS v");
  assert.match(view[0]?.v ?? '', /FROM crm\.clients/);

  const triggers = await sql<{ t: string }>(
    d,
    dst,
    `SELECT tgrelid::regclass::text || ' ' || pg_get_triggerdef(oid) AS t FROM pg_trigger
      WHERE NOT tgisinternal ORDER BY 1`,
  );
  assert.deepEqual(
    triggers.map((x) => x.t),
    [
      'crm.clients CREATE TRIGGER customers_email BEFORE UPDATE OF name, email ON crm.clients FOR EACH ROW WHEN ((new.name IS NOT NULL)) EXECUTE FUNCTION store.lower_email()',
      'store.orders CREATE TRIGGER orders_total BEFORE INSERT OR UPDATE ON store.orders FOR EACH ROW EXECUTE FUNCTION store.set_total()',
    ],
  );
}

for (const [sv, dv] of [
  [13, 17],
  [17, 15],
] as const) {
  test(
    `PostgreSQL ${sv} -> ${dv}: schema sync under a name mapping, then full and incremental sync; what cannot be rewritten is refused first`,
    { timeout: 300_000 },
    async () => {
      const s = testServer(sv);
      const d = testServer(dv);
      const src = await freshDatabase(s, 'smap_src');
      const dst = await freshDatabase(d, 'smap_dst');
      await sql(s, src, SOURCE);
      await sql(s, src, UNMAPPABLE);
      const name = `smap-${sv}-${dv}`;
      const slot = `pgdts_smap_${sv}_${dv}`;
      const file = writeTaskFile({
        name,
        source: { server: s, db: src },
        destination: { server: d, db: dst },
        syncTypes: ['schema', 'full', 'incremental'],
        objects: OBJECTS,
        extra: {
          mapping: MAPPING,
          incremental: { statusIntervalMs: 200, sequenceSyncIntervalMs: 300 },
        },
      });

      // Refused by the precheck, naming the object and why.
      const pre = await runCli(['precheck', file]);
      assert.equal(pre.code, 1, pre.stdout + pre.stderr);
      assert.match(
        pre.stdout,
        /FAIL {2}Schema objects map onto their destination names: [^\n]*function shop\.customer_label\([^\n]*full_name \(renamed to name in shop\.customers\)/,
      );
      // Refused by the run before anything is created.
      const refused = await runCli(['run', file]);
      assert.equal(refused.code, 2, refused.stdout + refused.stderr);
      assert.match(refused.stdout + refused.stderr, /CONFIG_INVALID: [^\n]*function shop\.customer_label\(/);
      assert.deepEqual(await relations(d, dst, 'rvSm'), []);
      const created = await sql(
        d,
        dst,
        "SELECT nspname FROM pg_namespace WHERE nspname IN ('crm', 'store', 'geo', 'shop', 'ref')",
      );
      assert.deepEqual(created, []);
      const slots = await sql(s, src, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1', [
        slot,
      ]);
      assert.deepEqual(slots, [], 'no replication slot either');

      // Without the unmappable objects the same task passes and runs.
      await sql(s, src, 'DROP VIEW shop.labels; DROP FUNCTION shop.customer_label(int);');
      const ok = await runCli(['precheck', file]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /PASS {2}Schema objects map onto their destination names/);

      const r = startCli(['run', file]);
      try {
        await r.waitFor(/streaming from/);
        await assertCatalog(d, dst);
        await assertData(s, src, d, dst);
        const seq = await sql<{ c: string; t: string }>(
          d,
          dst,
          `SELECT (SELECT last_value::text FROM crm.customers_id_seq) AS c,
                  (SELECT last_value::text FROM geo.ticket_seq) AS t`,
        );
        assert.deepEqual(seq, [{ c: '200', t: '42' }], 'sequence values copied to the mapped sequences');

        await sql(
          s,
          src,
          `INSERT INTO shop.customers (full_name, email, internal_note) VALUES ('new one', 'NEW@example.org', 'x');
           INSERT INTO shop.orders (customer_id, country_code, qty) VALUES (currval('shop.customers_id_seq'), 'fr', 3);
           UPDATE shop.customers SET full_name = 'renamed ' || id, email = upper(email) WHERE id <= 5;
           UPDATE shop.customers SET internal_note = 'changed' WHERE id = 6;
           UPDATE shop.orders SET qty = qty + 1 WHERE id % 10 = 0;
           DELETE FROM shop.orders WHERE customer_id = 7;
           DELETE FROM shop.customers WHERE id = 7;
           INSERT INTO ref.countries VALUES ('es', 'Spain');
           SELECT setval('ref.ticket_seq', 50);`,
        );
        await waitForCatchUp(s, src, slot, 120_000, () => r.output());
        await new Promise((res) => setTimeout(res, 700)); // one sequence sync
        await assertData(s, src, d, dst);
        const after = await sql<{ c: string; t: string }>(
          d,
          dst,
          `SELECT (SELECT last_value::text FROM crm.customers_id_seq) AS c,
                  (SELECT last_value::text FROM geo.ticket_seq) AS t`,
        );
        assert.deepEqual(after, [{ c: '201', t: '50' }], 'sequences synced during incremental sync');
      } finally {
        await stopCli(r);
      }
      await assertCatalog(d, dst);
      await runCli(['release', file]);
    },
  );
}
