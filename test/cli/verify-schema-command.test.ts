/**
 * `pgdts verify --schema` (src/pipeline/verify/verify.md [V5]): after a schema sync the definitions
 * compare equal (exit 0); each difference planted on the destination is then reported with its kind
 * and object (exit 1); a mapped copy (renamed schema, table and column) compares equal; `--schema`
 * with `--repair` is refused naming both flags.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

const SOURCE_DDL = `CREATE SCHEMA app;
  CREATE TABLE app.items (id int PRIMARY KEY, name text NOT NULL, qty int DEFAULT 0 CHECK (qty >= 0), price numeric);
  CREATE INDEX items_name_idx ON app.items (name);
  INSERT INTO app.items SELECT i, 'n' || i, i, i FROM generate_series(1, 20) i`;

interface Difference {
  objectKind: string;
  object: string;
  kind: string;
  differences?: { property: string; source: string; destination: string }[];
}

test('[V5] verify --schema: equal after schema sync, then each planted difference reported with its kind and object', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'vs_src');
  const dst = await freshDatabase(s, 'vs_dst');
  await sql(s, src, SOURCE_DDL);
  const file = writeTaskFile({
    name: 'vs',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ table: 'app.items' }],
  });
  const run = await runCli(['run', file]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const ok = await runCli(['verify', file, '--schema']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^identical: 1 table\(s\), definitions equal/m);

  await sql(
    s,
    dst,
    `DROP INDEX app.items_name_idx;
     ALTER TABLE app.items ALTER price TYPE text, ALTER name DROP NOT NULL, ALTER qty SET DEFAULT 5,
       DROP CONSTRAINT items_qty_check;
     CREATE INDEX items_extra_idx ON app.items (price);
     CREATE TABLE app.not_selected (x int)`,
  );
  const bad = await runCli(['verify', file, '--schema', '--json']);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  const r = JSON.parse(bad.stdout) as { identical: boolean; differences: Difference[] };
  assert.equal(r.identical, false);
  const brief = r.differences.map((d) => ({
    objectKind: d.objectKind,
    object: d.object,
    kind: d.kind,
    changed: (d.differences ?? []).map((x) => `${x.property}: ${x.source} -> ${x.destination}`),
  }));
  assert.deepEqual(brief, [
    {
      objectKind: 'constraint',
      object: 'app.items items_qty_check',
      kind: 'missing in destination',
      changed: [],
    },
    {
      objectKind: 'column',
      object: 'app.items.name',
      kind: 'different',
      changed: ['not null: true -> false'],
    },
    {
      objectKind: 'column',
      object: 'app.items.price',
      kind: 'different',
      changed: ['type: numeric -> text'],
    },
    { objectKind: 'column', object: 'app.items.qty', kind: 'different', changed: ['default: 0 -> 5'] },
    { objectKind: 'index', object: 'app.items_extra_idx', kind: 'extra in destination', changed: [] },
    { objectKind: 'index', object: 'app.items_name_idx', kind: 'missing in destination', changed: [] },
  ]);
  const text = await runCli(['verify', file, '--schema']);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /^6 schema difference\(s\) in 1 table\(s\):/m);
  assert.match(text.stdout, /MISSING IN DESTINATION index app\.items_name_idx/);
  assert.match(text.stdout, /DIFFERENT column app\.items\.price \(type: numeric -> text\)/);

  const refused = await runCli(['verify', file, '--schema', '--mode', 'rows', '--repair', 'dry-run']);
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /--schema.*--repair/);
});

test('[V5] verify --schema through a mapping (renamed schema, table, column): an identical copy passes, a changed column fails', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'vsm_src');
  const dst = await freshDatabase(s, 'vsm_dst');
  await sql(s, src, SOURCE_DDL);
  const file = writeTaskFile({
    name: 'vsm',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ table: 'app.items', as: 'shop.things', columns: { qty: 'amount' } }],
  });
  const run = await runCli(['run', file]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const ok = await runCli(['verify', file, '--schema']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  await sql(s, dst, `ALTER TABLE shop.things ALTER amount TYPE bigint`);
  const bad = await runCli(['verify', file, '--schema']);
  assert.equal(bad.code, 1, bad.stdout + bad.stderr);
  assert.match(bad.stdout, /DIFFERENT column shop\.things\.amount \(type: integer -> bigint\)/);
});
