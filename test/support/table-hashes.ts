/**
 * Independent oracle for "destination equals source": per table, row count and an md5 of all rows'
 * text sorted (a multiset hash, so duplicate rows in keyless tables count). Deliberately simpler than
 * `pgdts verify`, which it is used to check.
 */
import assert from 'node:assert/strict';
import pg from 'pg';
import type { TestServer } from './servers.ts';

/** `schema.table` → `count:md5` for every ordinary table (and partition) in `schemas`. */
export async function tableHashes(
  s: TestServer,
  db: string,
  schemas: string[],
): Promise<Map<string, string>> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
  await c.connect();
  try {
    await c.query("SET extra_float_digits = 3; SET TIME ZONE 'UTC'");
    const tables = await c.query<{ n: string; t: string }>(
      `SELECT n.nspname AS n, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname = ANY($1::text[]) ORDER BY 1, 2`,
      [schemas],
    );
    const out = new Map<string, string>();
    for (const { n, t } of tables.rows) {
      const q = `"${n.replaceAll('"', '""')}"."${t.replaceAll('"', '""')}"`;
      const r = await c.query<{ c: string; h: string | null }>(
        `SELECT count(*)::text AS c, md5(string_agg(x.r, E'\\n' ORDER BY x.r COLLATE "C")) AS h
           FROM (SELECT t::text AS r FROM ONLY ${q} t) x`,
      );
      out.set(`${n}.${t}`, `${r.rows[0]?.c}:${r.rows[0]?.h}`);
    }
    return out;
  } finally {
    await c.end();
  }
}

/** Asserts that both databases hold the same tables with the same rows. */
export async function assertSameData(
  a: { server: TestServer; db: string },
  b: { server: TestServer; db: string },
  schemas: string[],
): Promise<void> {
  const [ha, hb] = await Promise.all([
    tableHashes(a.server, a.db, schemas),
    tableHashes(b.server, b.db, schemas),
  ]);
  assert.ok(ha.size > 0, 'the source has tables to compare');
  assert.deepEqual(Object.fromEntries(hb), Object.fromEntries(ha));
}
