/**
 * `pgdts verify --mode rows` on a 2,000,000-row keyed table: compared in chunks, with the CLI's peak
 * memory bounded (src/pipeline/verify/verify.md [V1] [V4] [V11]).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { runCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

const ROWS = 2_000_000;

/**
 * Bound on the verify process's peak RSS (getrusage maxrss of the node process the launcher execs).
 * Measured on this test (2026-12-04, Node 20, 2 shared cores): 82 MB running dist/ (as CI does after
 * `npm run build`), 135 MB through tsx (a checkout whose dist/ is older than src/ compiles the sources
 * at start). The bound is twice the larger, leaving room for Node 24 (the launcher caps its young
 * generation as on Node 20) and for noise.
 *
 * Why memory does not grow with the table: no statement reads more than one chunk, and a chunk's
 * digest is computed in the server and comes back as one row ([V1]); narrowing a differing chunk
 * hashes its halves in the server too, and only a leaf range of at most 64 rows per side is read, in
 * pages of at most 1,000 rows ([V4]); the report keeps only the differing rows (at most
 * --max-differences). So the process holds a chunk boundary, a few digests and the differences found,
 * whatever the row count (bench V1: 86-104 MB at 200,000 and at 2,000,000 rows). Holding one side's
 * 2M rows as JavaScript objects would by itself take ~600 MB (measured: 2M `{ key, values }` rows
 * of this table in node 20), far above the bound.
 */
const MAX_RSS_MB = 270;

test('[V1] [V4] [V11] a 2,000,000-row table verified in >= 20 chunks: each planted difference found with its kind; peak RSS bounded', async () => {
  const s = testServer(15);
  const [src, dst] = await Promise.all([freshDatabase(s, 'vbig_src'), freshDatabase(s, 'vbig_dst')]);
  // Source: every id but 777777. Destination: the same rows plus 777777 (extra), less 150000
  // (missing), with 1234567's v and 1999999's n changed (different): spread over chunks 2, 8, 13, 20.
  const table = `CREATE TABLE big (id int PRIMARY KEY, n int NOT NULL, v text);`;
  const fill = `INSERT INTO big SELECT g, g % 1000, 'row ' || g FROM generate_series(1, ${ROWS}) g`;
  await Promise.all([
    sql(s, src, `${table} ${fill} WHERE g <> 777777`),
    sql(
      s,
      dst,
      `${table} ${fill} WHERE g <> 150000;
       UPDATE big SET v = 'changed' WHERE id = 1234567; UPDATE big SET n = -1 WHERE id = 1999999`,
    ),
  ]);
  const file = writeTaskFile({
    name: 'vbig',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ table: 'public.big' }],
  });
  const rssFile = path.join(mkdtempSync(path.join(tmpdir(), 'pgdts-rss-')), 'max-rss-kb');
  const preload = pathToFileURL(path.resolve(import.meta.dirname, '../support/report-max-rss.js')).href;
  const r = await runCli(['verify', file, '--mode', 'rows', '--json'], {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim(),
    PGDTS_MAX_RSS_FILE: rssFile,
  });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const report = JSON.parse(r.stdout) as {
    tables: {
      sourceRows: number;
      destinationRows: number;
      method: string;
      chunks: number;
      rows?: {
        differences: { kind: string; key?: string[]; columns?: number[] }[];
        truncated: boolean;
      };
    }[];
  };
  assert.equal(report.tables.length, 1);
  const t = report.tables[0]!;
  assert.equal(t.method, 'key');
  assert.equal(t.sourceRows, ROWS - 1);
  // One row missing, one extra.
  assert.equal(t.destinationRows, ROWS - 1);
  // Default --chunk-rows (100,000 source rows per chunk): 20 chunks of 1,999,999 source rows.
  assert.ok(t.chunks >= 20, `compared in ${t.chunks} chunk(s)`);
  assert.equal(t.rows?.truncated, false);
  // Column indexes are in the compared columns' order: id 0, n 1, v 2.
  assert.deepEqual(
    t.rows?.differences.map((d) => ({ kind: d.kind, key: d.key, columns: d.columns })),
    [
      { kind: 'missing', key: ['150000'], columns: undefined },
      { kind: 'extra', key: ['777777'], columns: undefined },
      { kind: 'different', key: ['1234567'], columns: [2] },
      { kind: 'different', key: ['1999999'], columns: [1] },
    ],
  );

  const maxRssMb = Number(readFileSync(rssFile, 'utf8')) / 1024;
  process.stderr.write(`# pgdts verify --mode rows over ${ROWS} rows: peak RSS ${maxRssMb.toFixed(0)} MB\n`);
  assert.ok(
    maxRssMb > 0 && maxRssMb < MAX_RSS_MB,
    `peak RSS ${maxRssMb.toFixed(0)} MB (bound ${MAX_RSS_MB})`,
  );
});
