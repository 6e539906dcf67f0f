/**
 * Independent oracle for mapped and filtered copies: the count and md5 of the sorted row texts of a
 * query, so a destination table can be compared with the source query that should produce it (other
 * column names, a subset of columns or rows).
 */
import { sql, type TestServer } from './servers.ts';

/** `count:md5` of the rows of `query` (its rows' text, sorted bytewise). */
export async function rowsHash(s: TestServer, db: string, query: string): Promise<string> {
  const r = await sql<{ c: string; h: string | null }>(
    s,
    db,
    `SELECT count(*)::text AS c, md5(string_agg(x.r, E'\\n' ORDER BY x.r COLLATE "C")) AS h
       FROM (SELECT q::text AS r FROM (${query}) q) x`,
  );
  return `${r[0]?.c}:${r[0]?.h}`;
}
