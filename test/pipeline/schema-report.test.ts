/**
 * The per-object schema report: `pgdts run` logs, per schema step, how many objects of each kind were
 * created, skipped (they exist already) or refused (with the reason), and records one row per object
 * in the destination's bookkeeping (`pgdts.schema_object`), which `release` deletes with the task.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

interface ReportRow {
  phase: string;
  kind: string;
  object: string;
  outcome: string;
  reason: string | null;
}

test('schema sync reports each object created, skipped or refused, in the log and in pgdts.schema_object', async () => {
  const s = testServer(15);
  const d = testServer(13);
  const src = await freshDatabase(s, 'report_src');
  const dst = await freshDatabase(d, 'report_dst');
  await sql(
    s,
    src,
    `CREATE SCHEMA rep;
     CREATE TABLE rep.items (id int PRIMARY KEY, name text, qty int);
     CREATE INDEX items_name_idx ON rep.items (name);
     CREATE VIEW rep.big_items AS SELECT id, name FROM rep.items WHERE qty > 10;
     -- pg_walinspect ships with 15, not 13: schema sync refuses it, naming the reason.
     CREATE EXTENSION pg_walinspect SCHEMA rep;
     INSERT INTO rep.items SELECT g, 'n' || g, g % 20 FROM generate_series(1, 100) g;`,
  );
  // The schema exists on the destination already: skipped, not an error.
  await sql(d, dst, `CREATE SCHEMA rep`);
  const file = writeTaskFile({
    name: 'report',
    source: { server: s, db: src },
    destination: { server: d, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ schema: 'rep' }],
  });
  const r = await runCli(['run', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(
    out,
    /schema \(pre-data\): \d+ created \([^)]*\d+ table[,)][^)]*\), 1 skipped \(1 schema\), 1 refused \(1 extension\)/,
    out,
  );
  assert.match(out, /schema \(post-data\): \d+ created \([^)]*1 index[^)]*\), 0 skipped, 0 refused/, out);

  const rows = await sql<ReportRow>(
    d,
    dst,
    `SELECT phase, kind, object, outcome, reason FROM pgdts.schema_object WHERE task_name = 'report' ORDER BY phase, kind, object`,
  );
  const find = (kind: string, object: string) => rows.find((x) => x.kind === kind && x.object === object);
  assert.equal(find('table', 'table "rep"."items"')?.outcome, 'created', JSON.stringify(rows, null, 1));
  assert.equal(find('table', 'table "rep"."items"')?.reason, null);
  assert.equal(find('view', 'view "rep"."big_items"')?.outcome, 'created', JSON.stringify(rows, null, 1));
  const idx = rows.find((x) => x.kind === 'index' && x.object.includes('items_name_idx'));
  assert.equal(idx?.outcome, 'created', JSON.stringify(rows, null, 1));
  assert.equal(idx.phase, 'post-data');
  const schema = rows.find((x) => x.kind === 'schema');
  assert.equal(schema?.outcome, 'skipped', JSON.stringify(rows, null, 1));
  assert.match(schema.reason ?? '', /already exists/);
  const ext = rows.find((x) => x.kind === 'extension');
  assert.equal(ext?.outcome, 'refused', JSON.stringify(rows, null, 1));
  assert.match(ext.object, /pg_walinspect/);
  assert.match(ext.reason ?? '', /not available on the destination/);

  // release deletes the report with the rest of the task's bookkeeping.
  const rel = await runCli(['release', file]);
  assert.equal(rel.code, 0, rel.stdout + rel.stderr);
  const left = await sql<{ n: string }>(d, dst, `SELECT count(*)::text AS n FROM pgdts.schema_object`);
  assert.equal(left[0]?.n, '0');
});
