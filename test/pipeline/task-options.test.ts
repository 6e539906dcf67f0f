/**
 * Task options through full and incremental sync and verify, against real servers: exclusions,
 * name mapping (`as`, `columns`, `excludeColumns`, `mapping` rules), the row filter (`where`: by the
 * publication on PostgreSQL 15+, by pgdts after decoding on 13) with PostgreSQL's UPDATE
 * transformations, and the operation filter (skipped changes counted exactly once). The destination
 * is compared with the source queries that should produce it (an oracle independent of pgdts verify),
 * and `pgdts verify` must agree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { rowsHash } from '../support/rows-hash.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';

const SOURCE = `
  CREATE SCHEMA sales;
  CREATE TABLE sales.orders (id int PRIMARY KEY, region text NOT NULL, qty int, note text, secret text);
  ALTER TABLE sales.orders REPLICA IDENTITY FULL;
  CREATE TABLE sales.order_items (order_id int, line int, sku text, PRIMARY KEY (order_id, line));
  CREATE TABLE sales.audit (id bigserial PRIMARY KEY, what text);
  CREATE TABLE sales.tmp_scratch (id int PRIMARY KEY);
  INSERT INTO sales.orders SELECT g, CASE WHEN g % 3 = 0 THEN 'us' ELSE 'eu' END, g, 'n' || g, 's' || g
    FROM generate_series(1, 300) g;
  INSERT INTO sales.order_items SELECT g / 4, g % 4, 'sku' || g FROM generate_series(4, 800) g;
  INSERT INTO sales.audit (what) SELECT 'a' || g FROM generate_series(1, 10) g;
  INSERT INTO sales.tmp_scratch SELECT generate_series(1, 5);
`;

/** The destination tables, mapped by hand (schema sync is not selected in this test). */
const DESTINATION = `
  CREATE SCHEMA eu;
  CREATE TABLE eu.orders_eu (id int PRIMARY KEY, region text NOT NULL, quantity int, note text);
  CREATE SCHEMA sales_eu;
  CREATE TABLE sales_eu.ord_items (order_id int, line int, sku text, PRIMARY KEY (order_id, line));
  CREATE TABLE sales_eu.audit (id bigint PRIMARY KEY, what text);
  CREATE SEQUENCE sales_eu.audit_id_seq;
`;

const OBJECTS = [
  { schema: 'sales', as: 'sales_eu', exclude: ['tmp_*'] },
  {
    table: 'sales.orders',
    as: 'eu.orders_eu',
    columns: { qty: 'quantity' },
    excludeColumns: ['secret'],
    where: "region = 'eu'",
  },
  { table: 'sales.order_items', where: 'order_id % 2 = 0' },
  { table: 'sales.audit', operations: ['insert', 'update'] },
];

/** Destination table → the source query it must equal. */
const EXPECTED: readonly [string, string][] = [
  [
    'SELECT id, region, quantity, note FROM eu.orders_eu',
    "SELECT id, region, qty, note FROM sales.orders WHERE region = 'eu'",
  ],
  [
    'SELECT order_id, line, sku FROM sales_eu.ord_items',
    'SELECT order_id, line, sku FROM sales.order_items WHERE order_id % 2 = 0',
  ],
];

async function assertMapped(s: TestServer, src: string, d: TestServer, dst: string): Promise<void> {
  for (const [destination, source] of EXPECTED) {
    assert.equal(await rowsHash(d, dst, destination), await rowsHash(s, src, source), destination);
  }
}

for (const [sv, dv] of [
  [13, 17],
  [17, 15],
] as const) {
  test(
    `PostgreSQL ${sv} -> ${dv}: exclusions, mapping, row and operation filters in full and incremental sync, and verify`,
    { timeout: 300_000 },
    async () => {
      const s = testServer(sv);
      const d = testServer(dv);
      const src = await freshDatabase(s, 'opt_src');
      const dst = await freshDatabase(d, 'opt_dst');
      await sql(s, src, SOURCE);
      await sql(d, dst, DESTINATION);
      const name = `opt-${sv}-${dv}`;
      const slot = `pgdts_opt_${sv}_${dv}`;
      const file = writeTaskFile({
        name,
        source: { server: s, db: src },
        destination: { server: d, db: dst },
        syncTypes: ['full', 'incremental'],
        objects: OBJECTS,
        extra: {
          mapping: [{ from: 'sales.order_*', to: 'sales_eu.ord_*' }],
          incremental: { statusIntervalMs: 200, sequenceSyncIntervalMs: 300 },
        },
      });
      const pre = await runCli(['precheck', file]);
      assert.equal(pre.code, 0, pre.stdout + pre.stderr);
      assert.match(pre.stdout, /row-filters|Row filters/);

      const r = startCli(['run', file]);
      let audit: string;
      try {
        await r.waitFor(/streaming from/);
        // After the full sync, before any change: the copy honoured the same options.
        await assertMapped(s, src, d, dst);
        assert.equal(
          await rowsHash(d, dst, 'SELECT id, what FROM sales_eu.audit'),
          await rowsHash(s, src, 'SELECT id, what FROM sales.audit'),
        );
        await sql(
          s,
          src,
          `INSERT INTO sales.orders VALUES (1001, 'eu', 1, 'new eu', 'x'), (1002, 'us', 2, 'new us', 'y');
           UPDATE sales.orders SET note = 'still eu' WHERE id = 1;          -- stays in
           UPDATE sales.orders SET region = 'us' WHERE id = 2;              -- leaves: deleted
           UPDATE sales.orders SET region = 'eu', note = 'moved' WHERE id = 3; -- enters: inserted
           UPDATE sales.orders SET note = 'us only' WHERE id = 6;           -- neither: dropped
           UPDATE sales.orders SET secret = 'changed' WHERE id = 4;         -- an excluded column
           DELETE FROM sales.orders WHERE id IN (5, 9);                     -- one in, one out
           INSERT INTO sales.order_items VALUES (500, 1, 'even'), (501, 1, 'odd');
           UPDATE sales.order_items SET sku = 'upd' WHERE order_id IN (10, 11);
           UPDATE sales.order_items SET order_id = 502 WHERE order_id = 13 AND line = 1; -- key moves in
           UPDATE sales.order_items SET order_id = 503 WHERE order_id = 14 AND line = 1; -- key moves out
           DELETE FROM sales.order_items WHERE order_id IN (20, 21);
           INSERT INTO sales.audit (what) VALUES ('a11');
           UPDATE sales.audit SET what = what || '!' WHERE id <= 3;
           INSERT INTO sales.tmp_scratch VALUES (6);`,
        );
        audit = await rowsHash(s, src, 'SELECT id, what FROM sales.audit');
        await sql(s, src, 'DELETE FROM sales.audit WHERE id IN (4, 5)');
        await sql(s, src, 'TRUNCATE sales.audit');
        await waitForCatchUp(s, src, slot, 120_000, () => r.output());
        await r.waitFor(/skipped deletes: 2, skipped truncates: 1/, 30_000);
        await new Promise((res) => setTimeout(res, 700)); // one sequence sync
      } finally {
        await stopCli(r);
      }
      await assertMapped(s, src, d, dst);
      // Deletes and the TRUNCATE of sales.audit were skipped: the destination keeps its rows.
      assert.equal(await rowsHash(d, dst, 'SELECT id, what FROM sales_eu.audit'), audit);
      const [tally] = await sql<{ sd: string; st: string }>(
        d,
        dst,
        'SELECT skipped_deletes::text AS sd, skipped_truncates::text AS st FROM pgdts.applied_position WHERE task_name = $1',
        [name],
      );
      assert.deepEqual(tally, { sd: '2', st: '1' });
      // Nothing of the excluded table, nothing under source names.
      const stray = await sql(
        d,
        dst,
        "SELECT relname FROM pg_class WHERE relname IN ('tmp_scratch', 'orders', 'order_items')",
      );
      assert.deepEqual(stray, []);
      // The sequence follows its schema's mapping.
      const [seq] = await sql<{ v: string }>(
        d,
        dst,
        'SELECT last_value::text AS v FROM sales_eu.audit_id_seq',
      );
      assert.equal(seq?.v, '11');

      const v = await runCli(['verify', file]);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(
        v.stdout,
        /SKIP {2}sales\.audit -> sales_eu\.audit: not compared, operations leave out delete, truncate/,
      );
      assert.match(v.stdout, /identical: 2 table\(s\)/);
      // verify sees a difference in a filtered table.
      await sql(d, dst, "UPDATE eu.orders_eu SET note = 'tampered' WHERE id = 1");
      const bad = await runCli(['verify', file]);
      assert.equal(bad.code, 1, bad.stdout);
      assert.match(
        bad.stdout,
        /DIFF {2}sales\.orders -> eu\.orders_eu: source \d+ rows, destination \d+ rows \(same count/,
      );
      await runCli(['release', file]);
    },
  );
}
