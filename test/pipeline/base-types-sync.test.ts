/**
 * Schema + full + incremental sync through the real CLI of a table whose columns are user-defined
 * base types (made of `LANGUAGE internal` functions), a range type with a CANONICAL function, a
 * domain over a base type and an array of one, from PostgreSQL 13 to 17: the rows are identical after
 * the copy and after changes streamed in (test/support/table-hashes.ts), and the schema report lists
 * the new kinds as created.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BASE_SCHEMA, BASE_TABLE, createBaseTypes, S } from '../support/base-types-fixtures.ts';
import { waitForCatchUp } from '../support/catch-up.ts';
import { startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';

test('PostgreSQL 13 → 17: a table of base, canonical range, domain and array columns syncs (schema, full, incremental)', async () => {
  const from = testServer(13);
  const to = testServer(17);
  const src = await freshDatabase(from, 'base_src');
  const dst = await freshDatabase(to, 'base_dst');
  await createBaseTypes(from, src);
  const file = writeTaskFile({
    name: 'base-types-sync',
    source: { server: from, db: src },
    destination: { server: to, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: S }],
    extra: { incremental: { batchMaxMs: 20 } },
  });
  const r = startCli(['run', file]);
  try {
    await r.waitFor(/phase incremental/);
    await assertSameData({ server: from, db: src }, { server: to, db: dst }, [BASE_SCHEMA]);
    await sql(
      from,
      src,
      `INSERT INTO ${BASE_TABLE} VALUES (1000, '12', 'new ''one''', '[5,9]', '4', '5', '{7;8}', '(0.5,1e300)');
       UPDATE ${BASE_TABLE} SET "Small ""N""" = ("Small ""N"""::integer + 1)::${S}."My Int", span = ${S}."Int Span"(id, id + 2, '()')
        WHERE id <= 10;
       UPDATE ${BASE_TABLE} SET label = NULL, many = '{}' WHERE id BETWEEN 11 AND 15;
       DELETE FROM ${BASE_TABLE} WHERE id BETWEEN 40 AND 45;`,
    );
    await waitForCatchUp(from, src, 'pgdts_base_types_sync', 120_000, () => r.output());
    await assertSameData({ server: from, db: src }, { server: to, db: dst }, [BASE_SCHEMA]);
    assert.deepEqual(
      await sql(to, dst, `SELECT "Small ""N"""::text AS n, span::text AS sp FROM ${BASE_TABLE} WHERE id = 2`),
      [{ n: '7', sp: '[3,4)' }],
    );
    const report = await sql<{ kind: string; object: string; outcome: string }>(
      to,
      dst,
      `SELECT kind, object, outcome FROM pgdts.schema_object
        WHERE object LIKE '%My Int%' OR kind = 'text-search' ORDER BY kind, object`,
    );
    assert.ok(report.length > 0 && report.every((x) => x.outcome === 'created'), JSON.stringify(report));
    for (const object of [
      `shell type ${S}."My Int"`,
      `type ${S}."My Int"`,
      `function ${S}."My Int In"(cstring)`,
      `text search parser ${S}."My ""Parser"""`,
      `text search template ${S}."My Template"`,
    ]) {
      assert.ok(
        report.some((x) => x.object === object),
        `the report lists ${object}: ${JSON.stringify(report)}`,
      );
    }
  } finally {
    await stopCli(r);
  }
});
