import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createSampleDatabase } from '../../src/demo/sample-database.ts';
import { startWriteWorkload } from '../../src/demo/write-workload.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';

function clientOf(s: TestServer, database: string): pg.Client {
  return new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database });
}

async function count(s: TestServer, db: string, query: string): Promise<number> {
  const rows = await sql<{ n: string }>(s, db, query);
  return Number(rows[0]?.n);
}

test('createSampleDatabase makes the shop schemas, objects and rows', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'sample');
  const c = clientOf(s, db);
  await c.connect();
  const seen: string[] = [];
  let summary;
  try {
    summary = await createSampleDatabase(c, { rows: 2000, onProgress: (p) => seen.push(p.table) });
  } finally {
    await c.end();
  }
  assert.equal(seen.length, 7);
  assert.equal(summary.tables['shop.order_items'], 2 * (summary.tables['shop.orders'] ?? 0));
  assert.ok(summary.totalRows >= 2000 && summary.totalRows <= 2200, `total ${summary.totalRows}`);

  const n = (q: string) => count(s, db, q);
  assert.equal(await n(`SELECT count(*) n FROM pg_namespace WHERE nspname IN ('shop','billing','audit')`), 3);
  assert.equal(await n(`SELECT count(*) n FROM pg_constraint WHERE contype = 'f'`), 4);
  assert.equal(await n(`SELECT count(*) n FROM pg_inherits WHERE inhparent = 'audit.events'::regclass`), 13);
  assert.equal(await n(`SELECT count(*) n FROM pg_trigger WHERE NOT tgisinternal`), 2);
  // customers, orders, events (identity); products, payments (serial).
  assert.equal(
    await n(`SELECT count(*) n FROM pg_sequences WHERE schemaname IN ('shop','billing','audit')`),
    5,
  );
  assert.equal(await n(`SELECT count(*) n FROM pg_type WHERE typtype = 'e' AND typname = 'order_status'`), 1);
  assert.equal(await n(`SELECT count(*) n FROM pg_views WHERE schemaname = 'shop'`), 1);
  assert.equal(
    await n(
      `SELECT count(*) n FROM pg_proc WHERE pronamespace IN ('shop'::regnamespace, 'billing'::regnamespace)`,
    ),
    2,
  );
  // The keyless table really has neither primary key nor unique index.
  assert.equal(await n(`SELECT count(*) n FROM pg_index WHERE indrelid = 'audit.page_views'::regclass`), 0);
  for (const [table, rows] of Object.entries(summary.tables)) {
    assert.equal(await n(`SELECT count(*) n FROM ${table}`), rows, table);
  }
  // Events landed in the monthly partitions, not only the default one.
  assert.equal(await n(`SELECT count(*) n FROM audit.events_default`), 0);
  assert.ok((await n(`SELECT count(*) n FROM audit.events_2024_06`)) > 0);
  // Large descriptions are stored out of line: the TOAST relation of products holds chunks.
  assert.ok(
    (await n(
      `SELECT pg_relation_size(reltoastrelid) n FROM pg_class WHERE oid = 'shop.products'::regclass`,
    )) > 0,
  );
  // The trigger maintains updated_at.
  const [row] = await sql<{ changed: boolean }>(
    s,
    db,
    `UPDATE shop.customers SET country = 'NL' WHERE id = 1
     RETURNING updated_at > timestamptz '2023-06-01' AS changed`,
  );
  assert.equal(row?.changed, true);

  // Deterministic: a second database with the same rows value holds identical data.
  const db2 = await freshDatabase(s, 'sample');
  const c2 = clientOf(s, db2);
  await c2.connect();
  try {
    await createSampleDatabase(c2, { rows: 2000 });
  } finally {
    await c2.end();
  }
  const digest = `SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) d FROM shop.order_items t`;
  const [a] = await sql<{ d: string }>(s, db, digest);
  const [b] = await sql<{ d: string }>(s, db2, digest);
  assert.equal(a?.d, b?.d);
});

test('startWriteWorkload changes rows for a while, then stops cleanly', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'workload');
  const c = clientOf(s, db);
  await c.connect();
  try {
    await createSampleDatabase(c, { rows: 2000 });
  } finally {
    await c.end();
  }
  const before = await sql<{ orders: string; events: string; desc: string }>(
    s,
    db,
    `SELECT (SELECT count(*) FROM shop.orders) orders, (SELECT count(*) FROM audit.events) events,
            (SELECT md5(string_agg(description, '' ORDER BY id)) FROM shop.products) "desc"`,
  );
  const errors: unknown[] = [];
  const w = startWriteWorkload(
    async () => {
      const k = clientOf(s, db);
      await k.connect();
      return k;
    },
    { ratePerSec: 200, bigTransactionEveryMs: 1000, bigTransactionRows: 500, onError: (e) => errors.push(e) },
  );
  await new Promise((r) => setTimeout(r, 2000));
  const stats = await w.stop();
  assert.deepEqual(errors, []);
  assert.ok(stats.transactions > 20, `transactions ${stats.transactions}`);
  assert.ok(stats.rows > 500, `rows ${stats.rows}`);
  const after = await sql<{ orders: string; events: string; desc: string }>(
    s,
    db,
    `SELECT (SELECT count(*) FROM shop.orders) orders, (SELECT count(*) FROM audit.events) events,
            (SELECT md5(string_agg(description, '' ORDER BY id)) FROM shop.products) "desc"`,
  );
  assert.notEqual(after[0]?.orders, before[0]?.orders);
  // The big transaction inserted a batch of events.
  assert.ok(Number(after[0]?.events) >= Number(before[0]?.events) + 500);
  assert.notEqual(after[0]?.desc, before[0]?.desc);
  // Stopped means stopped: nothing is written any more and its session is gone.
  const [x] = await sql<{ n: string }>(s, db, `SELECT count(*) n FROM pg_stat_activity WHERE datname = $1`, [
    db,
  ]);
  assert.equal(Number(x?.n), 1);
  // Payments of the new orders match their totals.
  const [bad] = await sql<{ n: string }>(
    s,
    db,
    `SELECT count(*) n FROM billing.payments p WHERE p.paid_at > now() - interval '1 hour'
       AND p.amount <> billing.order_total(p.order_id)`,
  );
  assert.equal(Number(bad?.n), 0);
});
