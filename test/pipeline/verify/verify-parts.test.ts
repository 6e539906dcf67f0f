/**
 * The pure parts of rows mode and repair (src/pipeline/verify/verify.md): row comparison [V1] [V2],
 * cutting a range into parts [V1], repair statements and their guards [V3], the `verify` task keys [V4];
 * and the pace of a real verification under `verify.rowsPerSecond` [V4].
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withConnectors } from '../../../src/connectors/open-connectors.ts';
import { guardHolds, repairStatement, type RepairTable } from '../../../src/core/repair-sql.ts';
import {
  abbreviatePair,
  abbreviateValue,
  diffCountedRows,
  diffKeyedRows,
} from '../../../src/core/row-difference.ts';
import { parseTaskConfig } from '../../../src/core/task-config.ts';
import type { HashTarget, KeyRange, TableHasher } from '../../../src/core/table-hash.ts';
import type { RowDifference } from '../../../src/core/row-difference.ts';
import { LEAF_BYTES, narrowRange } from '../../../src/pipeline/verify/narrow-differences.ts';
import { DEFAULT_LEAF_ROWS, verifyTask } from '../../../src/pipeline/verify/verify-task.ts';
import { freshDatabase, sql, testServer, urlOf } from '../../support/servers.ts';

test('[V1] keyed rows: missing, extra, different with the differing columns; NULL is not the empty string', () => {
  const ds = diffKeyedRows(
    [
      { key: ['1'], values: ['1', 'a', null] },
      { key: ['2'], values: ['2', 'b', ''] },
      { key: ['3'], values: ['3', 'c', 'x'] },
    ],
    [
      { key: ['2'], values: ['2', 'b', null] },
      { key: ['3'], values: ['3', 'c', 'x'] },
      { key: ['4'], values: ['4', 'd', 'y'] },
    ],
  );
  assert.deepEqual(
    ds.map((d) => [d.kind, d.key, d.kind === 'different' ? d.columns : []]),
    [
      ['missing', ['1'], []],
      ['different', ['2'], [2]],
      ['extra', ['4'], []],
    ],
  );
});

test('[V2] keyless rows compare as multisets: each distinct row with both copy counts', () => {
  const ds = diffCountedRows(
    [
      { values: ['dup'], count: 3 },
      { values: [null], count: 1 },
    ],
    [
      { values: ['dup'], count: 2 },
      { values: ['null'], count: 1 },
    ],
  );
  assert.deepEqual(
    ds.map((d) => [d.kind, d.kind === 'different' ? undefined : d.copies]),
    [
      ['missing', { source: 3, destination: 2 }],
      ['missing', { source: 1, destination: 0 }],
      ['extra', { source: 0, destination: 1 }],
    ],
  );
});

test('[V1] a range cut at every step-th key: each part hashes as its sub-range does, composite keys too', async () => {
  const s = testServer(13);
  const db = await freshDatabase(s, 'vp_parts');
  await sql(
    s,
    db,
    `CREATE SCHEMA app; CREATE TABLE app.t (a int, b text, v text, PRIMARY KEY (a, b));
     INSERT INTO app.t SELECT g / 3, 'k' || (g % 3), 'v' || g FROM generate_series(1, 1000) g;`,
  );
  const task = parseTaskConfig({
    name: 'parts',
    source: { type: 'postgresql', url: urlOf(s, db) },
    destination: { type: 'postgresql', url: urlOf(s, db) },
    syncTypes: ['full'],
    objects: [{ schema: 'app' }],
  });
  await withConnectors(task, async (c) => {
    const h = await c.source.openHasher();
    try {
      for (const portableHash of [false, true]) {
        const t = {
          table: { schema: 'app', name: 't' },
          columns: ['a', 'b', 'v'],
          key: ['a', 'b'],
          portableHash,
        };
        const range = { after: ['10', 'k1'], upTo: ['300', 'k0'] };
        const whole = await h.hashRows(t, range);
        const bounds = await h.splitKeys(t, range, 100, 10);
        // Rows 11 'k2' .. 300 'k0' in key order, every 100th: 8 bounds.
        assert.equal(bounds.length, Math.min(10, Math.floor(whole.rows / 100)));
        assert.deepEqual(bounds[0], (await h.keyAt(t, range, 99)) ?? []);
        const parts = await h.hashParts(t, range, [...bounds, ['999', 'z']]);
        assert.equal(parts.length, bounds.length + 2);
        assert.equal(parts.at(-1)?.rows, 0, 'a part beyond the rows is empty');
        let rows = 0;
        for (let i = 0; i <= bounds.length; i++) {
          const sub = {
            after: i === 0 ? range.after : bounds[i - 1],
            upTo: i === bounds.length ? range.upTo : bounds[i],
          };
          assert.deepEqual(parts[i], await h.hashRows(t, sub), `part ${i}`);
          rows += parts[i]?.rows ?? 0;
        }
        assert.equal(rows, whole.rows);
      }
    } finally {
      await h.close();
    }
  });
});

test('abbreviated values keep their start and show their size', () => {
  assert.equal(abbreviateValue(null), 'NULL');
  assert.equal(abbreviateValue("it's"), '"it\'s"');
  assert.equal(abbreviateValue('x'.repeat(100), 10), '"xxxxxxxxxx"… (100 chars)');
  assert.deepEqual(abbreviatePair('ab', 'ac', 10), ['"ab"', '"ac"']);
  assert.deepEqual(
    abbreviatePair(`${'x'.repeat(50)}A${'y'.repeat(49)}`, `${'x'.repeat(50)}B${'y'.repeat(49)}`, 10),
    ['…"xxxxxAyyyy"… (100 chars, differs from char 51)', '…"xxxxxByyyy"… (100 chars, differs from char 51)'],
  );
});

const T: RepairTable = {
  table: { schema: 'Sales', name: "O'rders" },
  columns: ['id', 'note', 'twice'],
  generated: ['twice'],
  key: ['id'],
};

test('[V3] repair statements by key with quoted literals; a difference only in generated columns has none', () => {
  const up = repairStatement(T, {
    kind: 'different',
    key: ['7'],
    source: ['7', "it's", '14'],
    destination: ['7', null, '14'],
    columns: [1],
  });
  assert.equal(up?.sql, `UPDATE "Sales"."O'rders" SET "note" = 'it''s' WHERE "id" = '7'`);
  assert.equal(
    up?.guard.sql,
    `SELECT "id"::text, "note"::text, "twice"::text FROM "Sales"."O'rders" WHERE "id" = '7' FOR UPDATE`,
  );
  const ins = repairStatement(T, {
    kind: 'missing',
    key: ['8'],
    source: ['8', null, '16'],
    copies: { source: 1, destination: 0 },
  });
  assert.equal(
    ins?.sql,
    `INSERT INTO "Sales"."O'rders" ("id", "note") OVERRIDING SYSTEM VALUE VALUES ('8', NULL)`,
  );
  assert.equal(
    repairStatement(T, {
      kind: 'different',
      key: ['9'],
      source: ['9', 'a', '1'],
      destination: ['9', 'a', '2'],
      columns: [2],
    }),
    undefined,
  );
  assert.throws(
    () =>
      repairStatement(T, {
        kind: 'extra',
        key: undefined,
        destination: ['1', 'a', '2'],
        copies: { source: 0, destination: 1 },
      }),
    TypeError,
  );
});

test('[V3] a guard holds only while the destination row is the verified one', () => {
  const up = repairStatement(T, {
    kind: 'different',
    key: ['7'],
    source: ['7', 'a', '14'],
    destination: ['7', 'b', '14'],
    columns: [1],
  });
  assert.ok(up);
  assert.equal(guardHolds(up.guard, [['7', 'b', '14']]), true);
  assert.equal(guardHolds(up.guard, [['7', 'newer', '14']]), false);
  assert.equal(guardHolds(up.guard, []), false); // deleted since
  const ins = repairStatement(T, {
    kind: 'missing',
    key: ['8'],
    source: ['8', 'a', '16'],
    copies: { source: 1, destination: 0 },
  });
  assert.ok(ins);
  assert.equal(guardHolds(ins.guard, []), true);
  assert.equal(guardHolds(ins.guard, [['8', 'a', '16']]), false); // inserted since: the newer row wins
  const bag: RepairTable = { table: { schema: 's', name: 'b' }, columns: ['v'], generated: [], key: [] };
  const del = repairStatement(bag, {
    kind: 'extra',
    key: undefined,
    destination: ['x'],
    copies: { source: 1, destination: 3 },
  });
  assert.ok(del);
  assert.equal(del.rows, 2);
  assert.equal(guardHolds(del.guard, [['3']]), true);
  assert.equal(guardHolds(del.guard, [['4']]), false);
});

test('[V4] [V9] verify.rowsPerSecond, megabytesPerSecond, continuous and sampleRate are validated', () => {
  const base = {
    name: 'v',
    source: { type: 'postgresql', url: 'postgresql://u@h/db' },
    destination: { type: 'postgresql', url: 'postgresql://u@h/db2' },
    syncTypes: ['full'],
    objects: [{ schema: 'app' }],
  };
  assert.deepEqual(parseTaskConfig(base).verify, { continuous: false, sampleRate: 0.01 });
  assert.deepEqual(
    parseTaskConfig({ ...base, verify: { rowsPerSecond: 10, megabytesPerSecond: 0.5 } }).verify,
    {
      rowsPerSecond: 10,
      megabytesPerSecond: 0.5,
      continuous: false,
      sampleRate: 0.01,
    },
  );
  // [V9] the sampling keys
  assert.equal(
    parseTaskConfig({ ...base, verify: { continuous: true, sampleRate: 1 } }).verify.sampleRate,
    1,
  );
  assert.throws(
    () => parseTaskConfig({ ...base, verify: { sampleRate: 0 } }),
    /verify\.sampleRate: must be more than 0/,
  );
  assert.throws(
    () => parseTaskConfig({ ...base, verify: { sampleRate: 1.5 } }),
    /verify\.sampleRate: must be at most 1/,
  );
  assert.throws(
    () => parseTaskConfig({ ...base, verify: { continuous: 'yes' } }),
    /verify\.continuous: must be true or false/,
  );
  assert.throws(
    () => parseTaskConfig({ ...base, verify: { rowsPerSecond: 0 } }),
    /verify\.rowsPerSecond: must be more than 0/,
  );
  assert.throws(() => parseTaskConfig({ ...base, verify: { rows: 1 } }), /verify\.rows: unknown key/);
});

test('[V4] verify.rowsPerSecond paces a real verification', async () => {
  const s = testServer(15);
  const sdb = await freshDatabase(s, 'vp_src');
  const ddb = await freshDatabase(s, 'vp_dst');
  for (const db of [sdb, ddb]) {
    await sql(
      s,
      db,
      'CREATE SCHEMA app; CREATE TABLE app.t (id int PRIMARY KEY); INSERT INTO app.t SELECT generate_series(1, 3000)',
    );
  }
  const t = (verify: object) =>
    parseTaskConfig({
      name: 'pace',
      source: { type: 'postgresql', url: urlOf(s, sdb) },
      destination: { type: 'postgresql', url: urlOf(s, ddb) },
      syncTypes: ['full'],
      objects: [{ schema: 'app' }],
      verify,
    });
  const timed = async (verify: object) => {
    const task = t(verify);
    const started = Date.now();
    const r = await withConnectors(task, (c) => verifyTask(task, c, { chunkRows: 500 }));
    assert.ok(r.identical);
    return Date.now() - started;
  };
  // 6 000 rows read (3 000 a side) at 3 000 rows/s: about 2 s, the first chunk's rows free.
  const slow = await timed({ rowsPerSecond: 3000 });
  assert.ok(slow >= 1500, `paced verify took ${slow} ms`);
  const fast = await timed({});
  assert.ok(fast < slow, `unpaced ${fast} ms, paced ${slow} ms`);
});

test('[V1] [V11] a differing range of wide rows is cut by bytes: no leaf read holds more than LEAF_BYTES a side', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'vp_wide_src');
  const dst = await freshDatabase(s, 'vp_wide_dst');
  // 60 rows of ~300 kB each (18 MB a side): fewer rows than leafRows, far more bytes than a leaf.
  const ddl = `CREATE SCHEMA app; CREATE TABLE app.w (id int PRIMARY KEY, v text);
     INSERT INTO app.w SELECT g, repeat(md5(g::text), 9400) FROM generate_series(1, 60) g;`;
  await sql(s, src, ddl);
  await sql(s, dst, `${ddl} UPDATE app.w SET v = v || 'x' WHERE id = 23;`);
  const task = parseTaskConfig({
    name: 'wide',
    source: { type: 'postgresql', url: urlOf(s, src) },
    destination: { type: 'postgresql', url: urlOf(s, dst) },
    syncTypes: ['full'],
    objects: [{ schema: 'app' }],
  });
  await withConnectors(task, async (c) => {
    const openDestination = c.sink.openHasher;
    assert.ok(openDestination);
    const [a, b] = [await c.source.openHasher(), await openDestination()];
    const largestRead: number[] = [];
    const spy = (h: TableHasher): TableHasher =>
      Object.assign(Object.create(h) as TableHasher, {
        readRows: async (t: HashTarget, r: KeyRange, limit: number) => {
          const rows = await h.readRows(t, r, limit);
          let bytes = 0;
          for (const row of rows) for (const v of row.values) bytes += v?.length ?? 0;
          largestRead.push(bytes);
          return rows;
        },
      });
    try {
      const t = { table: { schema: 'app', name: 'w' }, columns: ['id', 'v'], key: ['id'] };
      const range = { after: undefined, upTo: undefined };
      const [da, db] = [await a.hashRows(t, range), await b.hashRows(t, range)];
      assert.ok(da.bytes > 3 * LEAF_BYTES, `${da.bytes} bytes a side`);
      const sink = { differences: [] as RowDifference[], truncated: false };
      await narrowRange(
        { source: spy(a), destination: spy(b), sourceTarget: t, destinationTarget: t },
        range,
        da,
        db,
        { leafRows: DEFAULT_LEAF_ROWS, maxDifferences: 100, pace: async () => {} },
        sink,
      );
      assert.deepEqual(
        sink.differences.map((d) => [d.kind, d.key]),
        [['different', ['23']]],
      );
      assert.ok(largestRead.length > 0);
      assert.ok(
        Math.max(...largestRead) <= LEAF_BYTES,
        `largest leaf read ${Math.max(...largestRead)} bytes`,
      );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
