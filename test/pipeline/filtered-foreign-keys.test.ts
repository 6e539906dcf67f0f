/**
 * A foreign key referencing a row-filtered table (`objects[].where`): rows of the referencing table
 * may point at rows the filter leaves out, so schema sync creates the key NOT VALID instead of
 * failing in post-data, and says so.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_SCHEMA_MODEL, type ForeignKeyDef, type TableDef } from '../../src/core/schema-model.ts';
import type { TableTarget } from '../../src/core/table-targets.ts';
import { relaxForeignKeysToFilteredTables } from '../../src/pipeline/filtered-foreign-keys.ts';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { rowsHash } from '../support/rows-hash.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

function fk(name: string, references: string, definition?: string): ForeignKeyDef {
  const [schema = '', table = ''] = references.split('.');
  return {
    kind: 'foreign-key',
    name,
    definition: definition ?? `FOREIGN KEY (x) REFERENCES ${references}(id)`,
    references: { schema, name: table },
    comment: undefined,
  };
}

test('only keys referencing a filtered table become NOT VALID, once', () => {
  const table = { schema: 'app', name: 'lines', foreignKeys: [fk('a', 'app.orders'), fk('b', 'app.items')] };
  const model = {
    ...EMPTY_SCHEMA_MODEL,
    tables: [
      table as unknown as TableDef,
      {
        schema: 'app',
        name: 'other',
        foreignKeys: [fk('c', 'app.orders', 'FOREIGN KEY (x) REFERENCES app.orders(id) NOT VALID')],
      } as unknown as TableDef,
    ],
  };
  const targets = [
    { source: { schema: 'app', name: 'orders' }, where: 'id > 5' },
    { source: { schema: 'app', name: 'items' }, where: undefined },
  ] as unknown as TableTarget[];
  const r = relaxForeignKeysToFilteredTables(model, targets);
  assert.deepEqual(r.relaxed, [{ table: 'app.lines', name: 'a', references: 'app.orders' }]);
  const defs = r.model.tables.flatMap((t) => t.foreignKeys.map((k) => k.definition));
  assert.deepEqual(defs, [
    'FOREIGN KEY (x) REFERENCES app.orders(id) NOT VALID',
    'FOREIGN KEY (x) REFERENCES app.items(id)',
    'FOREIGN KEY (x) REFERENCES app.orders(id) NOT VALID',
  ]);
  // Without a filter the model is returned as it is.
  assert.equal(relaxForeignKeysToFilteredTables(model, [targets[1] as TableTarget]).model, model);
});

test('a foreign key to a row-filtered table is created NOT VALID; schema, full and incremental sync complete', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'fkf_src');
  const dst = await freshDatabase(s, 'fkf_dst');
  await sql(
    s,
    src,
    `CREATE SCHEMA app;
     CREATE TABLE app.customers (id int PRIMARY KEY, active boolean NOT NULL);
     ALTER TABLE app.customers REPLICA IDENTITY FULL;
     CREATE TABLE app.orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES app.customers, amount int);
     INSERT INTO app.customers SELECT g, g % 2 = 0 FROM generate_series(1, 200) g;
     INSERT INTO app.orders SELECT g, 1 + g % 200, g FROM generate_series(1, 1000) g;`,
  );
  const file = writeTaskFile({
    name: 'fkfilter',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'app' }, { table: 'app.customers', where: 'active' }],
  });
  const r = startCli(['run', file]);
  await r.waitFor(/streaming from/);
  assert.match(
    r.output(),
    /foreign key orders_customer_id_fkey of app\.orders references app\.customers, which objects\[\]\.where filters: created NOT VALID/,
  );
  await sql(
    s,
    src,
    `INSERT INTO app.orders SELECT g, 1 + g % 200, g FROM generate_series(1001, 1100) g;
     UPDATE app.customers SET active = true WHERE id = 3;`,
  );
  await waitForCatchUp(s, src, 'pgdts_fkfilter', 60_000, () => r.output());
  await stopCli(r);
  const keys = await sql<{ conname: string; convalidated: boolean }>(
    s,
    dst,
    `SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND conrelid = 'app.orders'::regclass`,
  );
  assert.deepEqual(keys, [{ conname: 'orders_customer_id_fkey', convalidated: false }]);
  assert.equal(
    await rowsHash(s, dst, 'SELECT id, active FROM app.customers'),
    await rowsHash(s, src, 'SELECT id, active FROM app.customers WHERE active'),
  );
  assert.equal(
    await rowsHash(s, dst, 'SELECT * FROM app.orders'),
    await rowsHash(s, src, 'SELECT * FROM app.orders'),
  );
  const v = await runCli(['verify', file]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  await runCli(['release', file]);
});
