/**
 * `pgdts verify --mode rows` from the command line, on a mapped (renamed schema, table and column),
 * filtered table with an excluded column (src/pipeline/verify/verify.md [V1] [V3]): text and JSON
 * reports, the CSV report, the dry-run SQL under the destination's names, apply, and exit codes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

test('[V1] [V3] verify --mode rows on a mapped, filtered table: report, --json, --report CSV, --repair=dry-run then apply; exit 1 then 0', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'vc_src');
  const dst = await freshDatabase(s, 'vc_dst');
  await sql(
    s,
    src,
    `CREATE SCHEMA app; CREATE TABLE app.orders (id int PRIMARY KEY, amount numeric, note text, secret text);
     INSERT INTO app.orders SELECT i, i, 'n' || i, 'hidden' FROM generate_series(1, 400) i`,
  );
  // The destination holds what pgdts would copy: renamed, filtered (amount > 100), without `secret`.
  await sql(
    s,
    dst,
    `CREATE SCHEMA shop; CREATE TABLE shop.orders_copy (id int PRIMARY KEY, total numeric, note text);
     INSERT INTO shop.orders_copy SELECT i, i, 'n' || i FROM generate_series(101, 400) i`,
  );
  const file = writeTaskFile({
    name: 'vc',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [
      {
        table: 'app.orders',
        as: 'shop.orders_copy',
        columns: { amount: 'total' },
        excludeColumns: ['secret'],
        where: 'amount > 100',
      },
    ],
    extra: { verify: { rowsPerSecond: 1_000_000, megabytesPerSecond: 100 } },
  });
  const ok = await runCli(['verify', file, '--mode', 'rows']);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /^identical: 1 table\(s\), 300 row\(s\)/m);

  await sql(
    s,
    dst,
    `UPDATE shop.orders_copy SET total = 999, note = 'it''s changed' WHERE id = 250;
     DELETE FROM shop.orders_copy WHERE id = 333; INSERT INTO shop.orders_copy VALUES (50, 50, 'n50')`,
  );
  const count = await runCli(['verify', file, '--mode', 'count']);
  assert.equal(count.code, 0, 'same row count: count mode sees no difference');

  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-verify-'));
  const csvFile = path.join(dir, 'diff.csv');
  const rows = await runCli(['verify', file, '--mode', 'rows', '--report', csvFile, '--chunk-rows', '64']);
  assert.equal(rows.code, 1, rows.stdout + rows.stderr);
  assert.match(rows.stdout, /^DIFF {2}app\.orders -> shop\.orders_copy: /m);
  // Row 50 fails the row filter: the destination must not have it.
  assert.match(rows.stdout, /extra in destination \(id\)=\(50\): id="50" total="50" note="n50"/);
  assert.match(rows.stdout, /missing in destination \(id\)=\(333\)/);
  assert.match(
    rows.stdout,
    /different \(id\)=\(250\): total: "250" -> "999"; note: "n250" -> "it's changed"/,
  );
  assert.doesNotMatch(rows.stdout + rows.stderr, /secret|hidden/);
  assert.ok(!(rows.stdout + rows.stderr).includes(s.password));
  const csv = readFileSync(csvFile, 'utf8').trim().split('\r\n');
  assert.equal(csv.length, 4);
  assert.ok(
    csv.includes(
      'shop.orders_copy,different,"[""250""]",total;note,"{""id"":""250"",""total"":""250"",""note"":""n250""}","{""id"":""250"",""total"":""999"",""note"":""it\'s changed""}",1,1',
    ),
    csv.join('\n'),
  );

  const json = await runCli(['verify', file, '--mode', 'rows', '--json']);
  assert.equal(json.code, 1);
  const parsed = JSON.parse(json.stdout) as {
    mode: string;
    identical: boolean;
    tables: { rows: { differences: { kind: string }[] } }[];
  };
  assert.equal(parsed.mode, 'rows');
  assert.equal(parsed.identical, false);
  assert.deepEqual(parsed.tables[0]?.rows.differences.map((d) => d.kind).sort(), [
    'different',
    'extra',
    'missing',
  ]);

  const dry = await runCli(['verify', file, '--mode', 'rows', '--repair=dry-run']);
  assert.equal(dry.code, 1);
  assert.match(dry.stderr, /DIFF {2}app\.orders -> shop\.orders_copy/);
  assert.match(
    dry.stdout,
    /^UPDATE "shop"\."orders_copy" SET "total" = '250', "note" = 'n250' WHERE "id" = '250';$/m,
  );
  assert.match(
    dry.stdout,
    /^INSERT INTO "shop"\."orders_copy" \("id", "total", "note"\) OVERRIDING SYSTEM VALUE VALUES \('333', '333', 'n333'\);$/m,
  );
  assert.match(dry.stdout, /^DELETE FROM "shop"\."orders_copy" WHERE "id" = '50';$/m);
  // The dry-run changed nothing.
  assert.equal(
    (await sql<{ n: string }>(s, dst, 'SELECT count(*)::text AS n FROM shop.orders_copy'))[0]?.n,
    '300',
  );

  // The printed script itself repairs the destination when run as it is.
  await sql(s, dst, dry.stdout);
  assert.equal((await runCli(['verify', file, '--mode', 'rows'])).code, 0);

  await sql(s, dst, "UPDATE shop.orders_copy SET note = 'x' WHERE id = 120");
  const apply = await runCli(['verify', file, '--mode', 'rows', '--repair=apply']);
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.match(apply.stdout, /repair: 1 applied, 0 skipped/);
  assert.match(apply.stdout, /after repair: identical: 1 table\(s\)/);
  assert.equal((await runCli(['verify', file])).code, 0);

  const bad = await runCli(['verify', file, '--repair=dry-run']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--repair: needs --mode rows/);
  assert.equal((await runCli(['verify', file, '--mode', 'diff'])).code, 2);
});
