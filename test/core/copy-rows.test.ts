/**
 * Row boundaries in real COPY data (text and binary, from PostgreSQL 13 and 17) whatever the chunk
 * boundaries: values with newlines, backslashes, tabs, NULLs, empty strings, bytea holding the COPY
 * signature and newline bytes, arrays, a 300 kB value.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CopyRowScanner } from '../../src/core/copy-rows.ts';
import { PgdtsError } from '../../src/core/errors.ts';
import { copyData } from '../support/copy-data.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

const ROWS = 2_000;

/** Splits `buf` into chunks of sizes drawn by `size`. */
function chunks(buf: Buffer, size: (i: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0, i = 0; pos < buf.length; i++) {
    const n = Math.max(1, size(i));
    out.push(buf.subarray(pos, pos + n));
    pos += n;
  }
  return out;
}

/** Feeds `parts` to a fresh scanner in pieces of at most `maxRows` rows; returns piece ends. */
function scanAll(
  format: 'text' | 'binary',
  parts: Buffer[],
  maxRows = Infinity,
): { rows: number; ends: number[] } {
  const s = new CopyRowScanner(format);
  const ends: number[] = [];
  let offset = 0;
  for (const p of parts) {
    for (let pos = 0; pos < p.length;) {
      const r = s.scan(p, pos, p.length, maxRows);
      assert.ok(r.end > pos, 'every scan moves on');
      if (r.rows > 0) ends.push(offset + r.end);
      assert.ok(r.rows <= maxRows);
      pos = r.end;
    }
    offset += p.length;
  }
  return { rows: s.rows, ends };
}

for (const version of [13, 17] as const) {
  test(`PostgreSQL ${version}: rows counted in text and binary COPY data, split anywhere`, async () => {
    const s = testServer(version);
    const db = await freshDatabase(s, 'copyrows');
    await sql(
      s,
      db,
      `CREATE TABLE t (id int, a text, b bytea, c int[], d jsonb);
       INSERT INTO t SELECT g,
         CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN E'line\\nbreak\\\\ and\\ttab\\r' ELSE md5(g::text) END,
         CASE WHEN g % 3 = 0 THEN NULL ELSE decode('50474330505900ff0d0a000a0a', 'hex') || int4send(g) END,
         CASE WHEN g % 4 = 0 THEN '{}'::int[] ELSE ARRAY[g, -1, 10] END,
         CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object('k', E'v\\n', 'n', g) END
       FROM generate_series(1, ${ROWS}) g;
       INSERT INTO t VALUES (0, repeat(E'x\\n', 150000), NULL, NULL, NULL)`,
    );
    for (const format of ['text', 'binary'] as const) {
      const data = await copyData(s, db, 'SELECT * FROM t', format);
      const rnd = (() => {
        let x = 7;
        return () => (x = (x * 48271) % 2147483647) / 2147483647;
      })();
      const want = ROWS + 1;
      assert.equal(scanAll(format, [data]).rows, want, `${format}: one chunk`);
      assert.equal(
        scanAll(
          format,
          chunks(data, () => 1),
        ).rows,
        want,
        `${format}: byte by byte`,
      );
      assert.equal(
        scanAll(
          format,
          chunks(data, () => 1 + Math.floor(rnd() * 70_000)),
        ).rows,
        want,
      );
      // One row per piece: a piece ends after each row, and the pieces cover the data.
      const one = scanAll(
        format,
        chunks(data, () => 1 + Math.floor(rnd() * 9_000)),
        1,
      );
      assert.equal(one.ends.length, want, `${format}: a piece per row`);
      assert.equal(new Set(one.ends).size, want);
      if (format === 'text') {
        const newlines = [...data.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1);
        assert.deepEqual(one.ends, newlines);
      }
    }
  });
}

test('binary rows of fixed width end exactly where the format says; a bad signature is COPY_FAILED', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'copyrows');
  const data = await copyData(
    s,
    db,
    'SELECT g AS a, g::bigint AS b, NULL::int AS c FROM generate_series(1, 500) g',
    'binary',
  );
  // Header 19 bytes; a row: 2 (count) + 4+4 (int4) + 4+8 (int8) + 4 (NULL) = 26 bytes; 2-byte trailer.
  assert.equal(data.length, 19 + 500 * 26 + 2);
  const { ends, rows } = scanAll(
    'binary',
    chunks(data, (i) => 1 + (i % 37)),
    1,
  );
  assert.equal(rows, 500);
  assert.deepEqual(
    ends,
    Array.from({ length: 500 }, (_, i) => 19 + (i + 1) * 26),
  );
  const bad = Buffer.from(data);
  bad[1] = 0x41;
  assert.throws(
    () => new CopyRowScanner('binary').scan(bad),
    (e) => e instanceof PgdtsError && e.code === 'COPY_FAILED' && !e.retryable,
  );
});
