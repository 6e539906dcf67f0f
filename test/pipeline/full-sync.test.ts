/**
 * Schema + consistent full sync, end to end through the real CLI, against real PostgreSQL servers.
 * Invariants cited: src/pipeline/task-lifecycle.md T1, T2, T3.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { createSampleDatabase, SAMPLE_SCHEMAS } from '../../src/demo/sample-database.ts';
import { createDataTypesTable } from '../support/data-types.ts';
import { pgDumpSchema } from '../support/pg-dump.ts';
import { runCli, startCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { createSchemaZoo, ZOO_OTHER_SCHEMA, ZOO_SCHEMAS } from '../support/schema-fixtures.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';
import { until } from '../support/own-server.ts';

async function sample(s: TestServer, db: string, rows: number): Promise<void> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
  await c.connect();
  try {
    await createSampleDatabase(c, { rows });
  } finally {
    await c.end();
  }
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

test('schema + full sync of the sample database and all data types: identical data, verify passes', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'fs_src');
  const dst = await freshDatabase(s, 'fs_dst');
  await sample(s, src, 20_000);
  await createDataTypesTable(s, src);
  await sql(
    s,
    src,
    `CREATE TABLE public.keyless (x int, y text); INSERT INTO public.keyless SELECT g % 3, 'dup' FROM generate_series(1, 300) g`,
  );
  const file = writeTaskFile({
    name: 'fs-sample',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [
      ...SAMPLE_SCHEMAS.map((schema) => ({ schema })),
      { schema: 'types' },
      { table: 'public.keyless' },
    ],
  });
  const r = await runCli(['run', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /table shop\.orders copied: \d+ rows/);
  await assertSameData({ server: s, db: src }, { server: s, db: dst }, [
    ...SAMPLE_SCHEMAS,
    'types',
    'public',
  ]);
  // Sequences follow the source.
  const seq = `SELECT last_value::text AS v FROM shop.orders_id_seq`;
  const [a, b] = await Promise.all([
    sql<{ v: string }>(s, src, seq).catch(() => []),
    sql<{ v: string }>(s, dst, seq).catch(() => []),
  ]);
  assert.deepEqual(b, a);
  const v = await runCli(['verify', file]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  // Running again is a no-op that still succeeds (everything is done).
  const again = await runCli(['run', file]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  await assertSameData({ server: s, db: src }, { server: s, db: dst }, [
    ...SAMPLE_SCHEMAS,
    'types',
    'public',
  ]);
});

test('kill -9 during the copy, then resume: no lost or duplicated row, keyless tables included [T1][T2][T3]', async () => {
  const s = testServer(17);
  const src = await freshDatabase(s, 'kill_src');
  const dst = await freshDatabase(s, 'kill_dst');
  await sql(
    s,
    src,
    `CREATE TABLE public.big (id bigint PRIMARY KEY, pad text);
     INSERT INTO public.big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 400000) g;
     CREATE TABLE public.dups (a int, b text);
     INSERT INTO public.dups SELECT g % 7, repeat('d', 200) FROM generate_series(1, 200000) g;
     CREATE TABLE public.parts (id int, k int) PARTITION BY RANGE (id);
     CREATE TABLE public.parts_1 PARTITION OF public.parts FOR VALUES FROM (0) TO (100000);
     CREATE TABLE public.parts_2 PARTITION OF public.parts FOR VALUES FROM (100000) TO (MAXVALUE);
     INSERT INTO public.parts SELECT g, g % 10 FROM generate_series(1, 200000) g;
     ANALYZE;`,
  );
  const file = writeTaskFile({
    name: 'fs-kill',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ schema: 'public' }],
    extra: { full: { jobs: 2, splitTablesLargerThanBytes: 1048576, rangeSizeBytes: 1048576 } },
  });
  for (let attempt = 0; attempt < 2; attempt++) {
    const run = startCli(['run', file]);
    // Wait until some ranges are committed, then crash mid-copy (still running: the test fails
    // rather than kill a finished run).
    await until(
      'ranges to be committed',
      async () => {
        const done = await sql<{ n: string }>(
          s,
          dst,
          `SELECT count(*)::text AS n FROM pgdts.range_sync`,
        ).catch(() => [{ n: '0' }]);
        return Number(done[0]?.n) >= 3 + attempt * 3 || run.child.exitCode !== null;
      },
      60_000,
      () => run.output(),
    );
    assert.equal(run.child.exitCode, null, `the copy was still running when killed:\n${run.output()}`);
    run.child.kill('SIGKILL');
    await run.done;
  }
  const r = await runCli(['run', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
  const v = await runCli(['verify', file]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

for (const [from, to] of [
  [13, 17],
  [17, 13],
  [15, 13],
] as const) {
  test(`cross-version full sync PostgreSQL ${from} → ${to}`, async () => {
    const a = testServer(from);
    const b = testServer(to);
    const src = await freshDatabase(a, `xv_src`);
    const dst = await freshDatabase(b, `xv_dst`);
    await createDataTypesTable(a, src, 200, Math.min(from, to));
    await sample(a, src, 5_000);
    const file = writeTaskFile({
      name: `xv-${from}-${to}`,
      source: { server: a, db: src },
      destination: { server: b, db: dst },
      syncTypes: ['schema', 'full'],
      objects: [{ schema: 'types' }, ...SAMPLE_SCHEMAS.map((schema) => ({ schema }))],
    });
    const r = await runCli(['run', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await assertSameData({ server: a, db: src }, { server: b, db: dst }, ['types', ...SAMPLE_SCHEMAS]);
    const v = await runCli(['verify', file]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });
}

test('pgdts run [schema, full] on every object kind: pg_dump of the selected schemas and the data are identical', async () => {
  for (const version of [13, 15] as const) {
    const s = testServer(version);
    const src = await freshDatabase(s, 'zoo_src');
    const dst = await freshDatabase(s, 'zoo_dst');
    await createSchemaZoo(s, src);
    const file = writeTaskFile({
      name: `zoo-${version}`,
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full'],
      objects: ZOO_SCHEMAS.map((schema) => ({ schema: `"${schema}"` })),
    });
    const r = await runCli(['run', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [a, b] = await Promise.all([pgDumpSchema(s, src, ZOO_SCHEMAS), pgDumpSchema(s, dst, ZOO_SCHEMAS)]);
    assert.ok(a.includes('CREATE TABLE'), 'the dump has tables');
    assert.equal(b, a);
    assert.equal(
      (await sql(s, dst, `SELECT 1 FROM pg_namespace WHERE nspname = '${ZOO_OTHER_SCHEMA}'`)).length,
      0,
    );
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, [...ZOO_SCHEMAS]);
    const v = await runCli(['verify', file]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  }
});

test(
  'the first copy failure that cannot be retried stops every worker at once [T10]',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'stop_src');
    const dst = await freshDatabase(s, 'stop_dst');
    const ddl = `CREATE TABLE public.big (id bigint PRIMARY KEY, pad text);
     CREATE TABLE public.bad (id int PRIMARY KEY, v int)`;
    await sql(s, src, ddl);
    await sql(
      s,
      src,
      `INSERT INTO public.big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 300000) g;
     INSERT INTO public.bad SELECT g, g FROM generate_series(1, 200) g;
     ANALYZE`,
    );
    // The destination refuses one row of bad: a data error no retry can fix.
    await sql(s, dst, `${ddl}; ALTER TABLE public.bad ADD CHECK (v < 150)`);
    const file = writeTaskFile({
      name: 'fs-stop',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['full'],
      objects: [{ schema: 'public' }],
      extra: { full: { jobs: 2, splitTablesLargerThanBytes: 1048576, rangeSizeBytes: 1048576 } },
    });
    const r = await runCli(['run', file]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /COPY_FAILED: copy of public\.bad: .*\[SQLSTATE 23514, data\]/);
    const ranges = await sql<{ total: number; done: number }>(
      s,
      dst,
      `SELECT t.ranges_total AS total, (SELECT count(*)::int FROM pgdts.range_sync r WHERE r.table_name = 'big') AS done
       FROM pgdts.table_sync t WHERE t.table_name = 'big'`,
    );
    const big = ranges[0];
    assert.ok(
      big !== undefined && big.total >= 20,
      `big is split into many ranges (${JSON.stringify(ranges)})`,
    );
    // The other worker commits what it finishes before bad's COPY fails (on a busy machine a few
    // ranges: bad's copy session still has to start); it must not go on with the rest (the code
    // before T10 copied all of them).
    assert.ok(big.done <= 5, `the other worker stopped: ${big.done} of ${big.total} ranges of big copied`);
  },
);
