/**
 * Content hashes of table rows, computed in the server, for comparing a table on two servers without
 * moving its rows. A row's text is `ROW(c1, c2, ...)::text` over an explicit column list (so column
 * order on disk and dropped columns do not matter), produced by each type's output function under the
 * session settings {@link prepareHashSession} pins (UTC, ISO dates, `extra_float_digits = 3` which since
 * PostgreSQL 12 prints the shortest exact float, hex bytea). A set of rows hashes to its row count and
 * the sums of the two 64-bit halves of each row's md5: a multiset hash, so equal duplicates count,
 * no sort is needed, and the result does not depend on collation.
 *
 * Tables with a key are split into chunks of consecutive key values (keyset pagination on the key's
 * btree order, PostgreSQL docs "Row Constructor Comparison"), so that no statement scans a whole large
 * table and a difference can be narrowed to a key range.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../core/identifier.ts';
import type { HashTarget, KeyRange, RowsDigest, TableHasher } from '../core/table-hash.ts';
import { connect, type ConnectionParams, wrapPgError } from './connection.ts';

/**
 * Pins the session settings that change how values print, so equal data prints equally on servers
 * of different versions and configurations. `connect` already sets TimeZone, DateStyle, IntervalStyle
 * and extra_float_digits; this adds bytea_output and lc_monetary (the `money` type's format).
 */
export async function prepareHashSession(client: pg.Client): Promise<void> {
  await client.query(
    "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET bytea_output = 'hex'; SET lc_monetary = 'C'",
  );
}

function keyList(t: HashTarget): string {
  return t.key.map(quoteIdent).join(', ');
}

/** WHERE clause of a key range (and the row filter), with parameters numbered from `$1`. */
function rangeWhere(t: HashTarget, r: KeyRange): { sql: string; params: string[] } {
  const parts: string[] = t.where === undefined ? [] : [`(${t.where})`];
  const params: string[] = [];
  const keys = `(${keyList(t)})`;
  for (const [op, bound] of [
    ['>', r.after],
    ['<=', r.upTo],
  ] as const) {
    if (bound === undefined) continue;
    // Untyped parameters take the type of the key column they are compared with.
    const ps = bound.map((v) => {
      params.push(v);
      return `$${params.length}`;
    });
    parts.push(`${keys} ${op} (${ps.join(', ')})`);
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/**
 * Finds the end of the chunk that starts after `after` (or at the table's start): the key of the
 * `chunkRows`-th row in key order, or undefined when fewer rows remain (the last chunk is open-ended).
 * Walks the key's index, reading `chunkRows` index entries.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error (e.g. the table is missing).
 */
export async function nextChunkEnd(
  client: pg.Client,
  t: HashTarget,
  after: readonly string[] | undefined,
  chunkRows: number,
): Promise<string[] | undefined> {
  const w = rangeWhere(t, { after, upTo: undefined });
  const cols = t.key.map((k, i) => `${quoteIdent(k)}::text AS k${i}`).join(', ');
  try {
    const r = await client.query<Record<string, string>>({
      text: `SELECT ${cols} FROM ONLY ${quoteQualified(t.table)} ${w.sql}
        ORDER BY ${keyList(t)} OFFSET ${Math.max(0, Math.floor(chunkRows) - 1)} LIMIT 1`,
      values: w.params,
      // One statement whatever a row filter holds.
      queryMode: 'extended',
    } as pg.QueryConfig);
    const row = r.rows[0];
    return row === undefined ? undefined : t.key.map((_, i) => row[`k${i}`] ?? '');
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot read the key of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * Hashes the rows of `t` in key range `r` (the whole table when `r` is undefined or the table has no
 * key). One statement, one snapshot.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error (missing table or column).
 */
export async function hashRows(client: pg.Client, t: HashTarget, r?: KeyRange): Promise<RowsDigest> {
  const w =
    r !== undefined && t.key.length > 0
      ? rangeWhere(t, r)
      : { sql: t.where === undefined ? '' : `WHERE (${t.where})`, params: [] };
  const text = `ROW(${t.columns.map(quoteIdent).join(', ')})::text`;
  const md5 = t.utf8 === true ? `md5(convert_to(${text}, 'UTF8'))` : `md5(${text})`;
  try {
    const q = await client.query<{ n: string; a: string; b: string }>({
      text: `SELECT count(*)::text AS n,
              coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text AS a,
              coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text AS b
         FROM (SELECT ${md5} AS h FROM ONLY ${quoteQualified(t.table)} ${w.sql}) AS rows`,
      values: w.params,
      queryMode: 'extended',
    } as pg.QueryConfig);
    const row = q.rows[0];
    const n = row?.n ?? '0';
    return { rows: Number(n), digest: `${n}:${row?.a ?? '0'}:${row?.b ?? '0'}` };
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot hash ${quoteQualified(t.table)}`, e);
  }
}

/** {@link TableHasher} on one PostgreSQL session (either side). */
export class PgTableHasher implements TableHasher {
  private constructor(private readonly client: pg.Client) {}

  /**
   * Connects and pins the session settings.
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  static async open(params: ConnectionParams, role: 'source' | 'destination'): Promise<PgTableHasher> {
    const client = await connect(params, { role, applicationName: 'pgdts-verify' });
    try {
      await prepareHashSession(client);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('VERIFY_MISMATCH', 'cannot prepare the hash session', e);
    }
    return new PgTableHasher(client);
  }

  async encoding(): Promise<string> {
    const r = await this.client.query<{ e: string }>("SELECT current_setting('server_encoding') AS e");
    return r.rows[0]?.e ?? '';
  }

  nextChunkEnd(
    t: HashTarget,
    after: readonly string[] | undefined,
    chunkRows: number,
  ): Promise<string[] | undefined> {
    return nextChunkEnd(this.client, t, after, chunkRows);
  }

  hashRows(t: HashTarget, r?: KeyRange): Promise<RowsDigest> {
    return hashRows(this.client, t, r);
  }

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }
}
