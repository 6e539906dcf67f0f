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
import {
  BUCKET_HEX_DIGITS,
  HASH_SESSION_SETTINGS,
  type CountedRow,
  type HashTarget,
  type KeyedRow,
  type KeyRange,
  type RowsDigest,
  type TableHasher,
  type TaskPosition,
} from '../core/table-hash.ts';
import type { Lsn } from '../core/lsn.ts';
import { connect, type ConnectionParams, wrapPgError } from './connection.ts';

/**
 * Pins the session settings that change how values print, so equal data prints equally on servers
 * of different versions and configurations. `connect` already sets TimeZone, DateStyle, IntervalStyle
 * and extra_float_digits; this adds bytea_output and lc_monetary (the `money` type's format).
 */
export async function prepareHashSession(client: pg.Client): Promise<void> {
  // jit off: verify runs many statements of one chunk each; compiling them (rows mode's part tree:
  // ~0.3 s of a 0.8 s statement over 100 000 rows) costs more than it saves. Not a value setting, so
  // not in HASH_SESSION_SETTINGS (which repair scripts repeat).
  await client.query(
    [...HASH_SESSION_SETTINGS.map(([k, v]) => `SET ${k} = ${v}`), 'SET jit = off'].join('; '),
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

/** The row filter alone as a WHERE clause (keyless tables, whole-table reads). */
function filterWhere(t: HashTarget): { sql: string; params: string[] } {
  return { sql: t.where === undefined ? '' : `WHERE (${t.where})`, params: [] };
}

/**
 * `OFFSET 0` after a subquery whose outputs are used more than once: without it the planner pulls the
 * subquery up and computes its output expression at each reference, so a row's text was built three
 * times (two hashes and its length) and its md5 twice. With it the row text is built once: 2M pgbench
 * rows hashed in 1.05-1.18 s against 1.6-2.07 s (PostgreSQL 15, one backend).
 */
const ONCE = 'OFFSET 0';

/** `ROW(c1, ...)::text`, and the md5 of it (of its UTF-8 bytes when `t.utf8`), as SQL. */
function rowText(t: HashTarget): { text: string; md5: (text: string) => string } {
  return {
    text: `ROW(${t.columns.map(quoteIdent).join(', ')})::text`,
    md5: (x) => (t.utf8 === true ? `md5(convert_to(${x}, 'UTF8'))` : `md5(${x})`),
  };
}

/**
 * SQL aggregating the row texts `r` of a subquery into a digest row: two 64-bit hashes of each row
 * text (`hashtextextended` with seeds 0 and 1, on its bytes: COLLATE "C"), summed exactly
 * (sum(bigint) is numeric). 2.4x faster than {@link DIGEST_COLUMNS} on md5 (2M pgbench rows: 2.3 s
 * against 5.6 s), whose hex-to-bigint conversion is most of the cost.
 */
const FAST_DIGEST_COLUMNS = `count(*)::text AS n,
  coalesce(sum(hashtextextended(r COLLATE "C", 0)), 0)::text AS a,
  coalesce(sum(hashtextextended(r COLLATE "C", 1)), 0)::text AS b,
  coalesce(sum(octet_length(r)), 0)::text AS bytes`;

/** SQL aggregating md5 hex strings `h` and row texts `r` of a subquery into a digest row. */
const DIGEST_COLUMNS = `count(*)::text AS n,
  coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text AS a,
  coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text AS b,
  coalesce(sum(octet_length(r)), 0)::text AS bytes`;

interface DigestRow {
  n: string;
  a: string;
  b: string;
  bytes: string;
}

function digestOf(row: DigestRow | undefined): RowsDigest {
  const n = row?.n ?? '0';
  return {
    rows: Number(n),
    digest: `${n}:${row?.a ?? '0'}:${row?.b ?? '0'}`,
    bytes: Number(row?.bytes ?? 0),
  };
}

/**
 * Hashes the rows of `t` in key range `r` (the whole table when `r` is undefined or the table has no
 * key). One statement, one snapshot.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error (missing table or column).
 */
export async function hashRows(client: pg.Client, t: HashTarget, r?: KeyRange): Promise<RowsDigest> {
  const w = r !== undefined && t.key.length > 0 ? rangeWhere(t, r) : filterWhere(t);
  const row = rowText(t);
  const texts = `SELECT ${row.text} AS r FROM ONLY ${quoteQualified(t.table)} ${w.sql} ${ONCE}`;
  try {
    const q = await client.query<DigestRow>({
      text:
        t.portableHash === true || t.utf8 === true
          ? `SELECT ${DIGEST_COLUMNS} FROM (SELECT ${row.md5('r')} AS h, r FROM (${texts}) AS texts ${ONCE}) AS rows`
          : `SELECT ${FAST_DIGEST_COLUMNS} FROM (${texts}) AS texts`,
      values: w.params,
      queryMode: 'extended',
    } as pg.QueryConfig);
    return digestOf(q.rows[0]);
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot hash ${quoteQualified(t.table)}`, e);
  }
}

/**
 * Counts the rows of `t` in key range `r` (whole table when undefined or keyless); the digest is the
 * count, `bytes` 0.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error (missing table).
 */
export async function countRows(client: pg.Client, t: HashTarget, r?: KeyRange): Promise<RowsDigest> {
  const w = r !== undefined && t.key.length > 0 ? rangeWhere(t, r) : filterWhere(t);
  try {
    const q = await client.query<{ n: string }>({
      text: `SELECT count(*)::text AS n FROM ONLY ${quoteQualified(t.table)} ${w.sql}`,
      values: w.params,
      queryMode: 'extended',
    } as pg.QueryConfig);
    const n = q.rows[0]?.n ?? '0';
    return { rows: Number(n), digest: n, bytes: 0 };
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot count the rows of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * The keys of every `step`-th row of range `r` in key order, at most `limit` (one pass over at most
 * `step × limit` of the range's keys, in the key's index order).
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function splitKeys(
  client: pg.Client,
  t: HashTarget,
  r: KeyRange,
  step: number,
  limit: number,
): Promise<string[][]> {
  const w = rangeWhere(t, r);
  const cols = t.key.map((k, i) => `${quoteIdent(k)}::text AS k${i}`).join(', ');
  const names = t.key.map((_, i) => `k${i}`).join(', ');
  try {
    const q = await client.query<(string | null)[]>({
      // The inner LIMIT ends the index scan after step × limit rows (an open range is not read whole).
      text: `SELECT ${names} FROM (
          SELECT ${cols}, row_number() OVER (ORDER BY ${keyList(t)}) AS rn
            FROM (SELECT ${keyList(t)} FROM ONLY ${quoteQualified(t.table)} ${w.sql}
                   ORDER BY ${keyList(t)} LIMIT ${Math.max(1, Math.floor(step)) * Math.max(0, Math.floor(limit))}) AS r) AS keyed
        WHERE rn % ${Math.max(1, Math.floor(step))} = 0 ORDER BY rn`,
      values: w.params,
      queryMode: 'extended',
      rowMode: 'array',
    } as pg.QueryConfig);
    return q.rows.map((row) => row.map((v) => v ?? ''));
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot read the keys of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * The digests of the parts of range `r` cut at `bounds`, in one statement: each row's part is found
 * by a balanced tree of key comparisons (log2(parts) per row), so many parts cost about what one
 * digest of the range costs.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function hashParts(
  client: pg.Client,
  t: HashTarget,
  r: KeyRange,
  bounds: readonly (readonly string[])[],
): Promise<RowsDigest[]> {
  const w = rangeWhere(t, r);
  const params = [...w.params];
  const keys = `(${keyList(t)})`;
  const bound = bounds.map((b) =>
    b.map((v) => {
      params.push(v);
      return `$${params.length}`;
    }),
  );
  // Parts lo..hi; the boundary between part m and m+1 is bounds[m].
  const tree = (lo: number, hi: number): string => {
    if (lo === hi) return String(lo);
    const m = (lo + hi) >> 1;
    return `CASE WHEN ${keys} <= (${(bound[m] ?? []).join(', ')}) THEN ${tree(lo, m)} ELSE ${tree(m + 1, hi)} END`;
  };
  const row = rowText(t);
  const texts = `SELECT ${tree(0, bounds.length)} AS part, ${row.text} AS r FROM ONLY ${quoteQualified(t.table)} ${w.sql} ${ONCE}`;
  try {
    const q = await client.query<DigestRow & { part: number }>({
      text:
        t.portableHash === true || t.utf8 === true
          ? `SELECT part, ${DIGEST_COLUMNS} FROM (SELECT ${row.md5('r')} AS h, r, part FROM (${texts}) AS texts ${ONCE}) AS rows GROUP BY part`
          : `SELECT part, ${FAST_DIGEST_COLUMNS} FROM (${texts}) AS texts GROUP BY part`,
      values: params,
      queryMode: 'extended',
    } as pg.QueryConfig);
    const byPart = new Map(q.rows.map((x) => [Number(x.part), digestOf(x)]));
    return Array.from({ length: bounds.length + 1 }, (_, i) => byPart.get(i) ?? digestOf(undefined));
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot hash ${quoteQualified(t.table)}`, e);
  }
}

/**
 * The key of the row `offset` rows into range `r` in key order, or undefined when fewer rows.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function keyAt(
  client: pg.Client,
  t: HashTarget,
  r: KeyRange,
  offset: number,
): Promise<string[] | undefined> {
  const w = rangeWhere(t, r);
  const cols = t.key.map((k, i) => `${quoteIdent(k)}::text AS k${i}`).join(', ');
  try {
    const q = await client.query<Record<string, string>>({
      text: `SELECT ${cols} FROM ONLY ${quoteQualified(t.table)} ${w.sql}
        ORDER BY ${keyList(t)} OFFSET ${Math.max(0, Math.floor(offset))} LIMIT 1`,
      values: w.params,
      queryMode: 'extended',
    } as pg.QueryConfig);
    const row = q.rows[0];
    return row === undefined ? undefined : t.key.map((_, i) => row[`k${i}`] ?? '');
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot read the key of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * Reads at most `limit` rows of range `r` in key order: key and column values as text.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function readRows(
  client: pg.Client,
  t: HashTarget,
  r: KeyRange,
  limit: number,
): Promise<KeyedRow[]> {
  const w = rangeWhere(t, r);
  const cols = [...t.key, ...t.columns].map((c) => `${quoteIdent(c)}::text`).join(', ');
  try {
    const q = await client.query<(string | null)[]>({
      text: `SELECT ${cols} FROM ONLY ${quoteQualified(t.table)} ${w.sql}
        ORDER BY ${keyList(t)} LIMIT ${Math.max(1, Math.floor(limit))}`,
      values: w.params,
      queryMode: 'extended',
      rowMode: 'array',
    } as pg.QueryConfig);
    const k = t.key.length;
    return q.rows.map((row) => ({ key: row.slice(0, k).map((v) => v ?? ''), values: row.slice(k) }));
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot read rows of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * Reads the rows with the given keys (and passing the row filter): key and values as text.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function readKeys(
  client: pg.Client,
  t: HashTarget,
  keys: readonly (readonly string[])[],
  withVersion = false,
): Promise<KeyedRow[]> {
  if (keys.length === 0) return [];
  const params: string[] = [];
  // Untyped parameters take the key columns' types, as in range bounds.
  const list = keys
    .map((k) => {
      const ps = t.key.map((_, i) => {
        params.push(k[i] ?? '');
        return `$${params.length}`;
      });
      return `(${ps.join(', ')})`;
    })
    .join(', ');
  const where = [`(${keyList(t)}) IN (${list})`, ...(t.where === undefined ? [] : [`(${t.where})`])];
  const cols = [...t.key, ...t.columns].map((c) => `${quoteIdent(c)}::text`).join(', ');
  try {
    const q = await client.query<(string | null)[]>({
      // xmin: the transaction that wrote this row version (PostgreSQL docs 5.6 "System Columns").
      text: `SELECT ${withVersion ? 'xmin::text, ' : ''}${cols} FROM ONLY ${quoteQualified(t.table)} WHERE ${where.join(' AND ')}`,
      values: params,
      queryMode: 'extended',
      rowMode: 'array',
    } as pg.QueryConfig);
    const v = withVersion ? 1 : 0;
    const k = t.key.length + v;
    return q.rows.map((row) => ({
      key: row.slice(v, k).map((x) => x ?? ''),
      values: row.slice(k),
      ...(withVersion ? { version: row[0] ?? '' } : {}),
    }));
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot read rows of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * Hashes a table's rows in buckets of the first {@link BUCKET_HEX_DIGITS} hex digits of their md5.
 * One statement (a whole-table scan).
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function hashBuckets(client: pg.Client, t: HashTarget): Promise<Map<string, RowsDigest>> {
  const w = filterWhere(t);
  const row = rowText(t);
  try {
    const q = await client.query<DigestRow & { bucket: string }>({
      text: `SELECT substr(h, 1, ${BUCKET_HEX_DIGITS}) AS bucket, ${DIGEST_COLUMNS}
         FROM (SELECT ${row.md5('r')} AS h, r
                 FROM (SELECT ${row.text} AS r FROM ONLY ${quoteQualified(t.table)} ${w.sql} ${ONCE}) AS texts ${ONCE}) AS rows
        GROUP BY 1`,
      queryMode: 'extended',
    } as pg.QueryConfig);
    return new Map(q.rows.map((r) => [r.bucket, digestOf(r)]));
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot hash ${quoteQualified(t.table)}`, e);
  }
}

/**
 * The distinct rows of the given md5 buckets with their multiplicities; rows are grouped by their
 * columns' text, so types without an equality operator (json, point) group too.
 * @throws {PgdtsError} VERIFY_MISMATCH wrapping the server error.
 */
export async function readBucketRows(
  client: pg.Client,
  t: HashTarget,
  buckets: readonly string[],
): Promise<CountedRow[]> {
  const w = filterWhere(t);
  const row = rowText(t);
  const cols = t.columns.map((c, i) => `${quoteIdent(c)}::text AS c${i}`).join(', ');
  const groups = t.columns.map((_, i) => `c${i}`).join(', ');
  try {
    const q = await client.query<(string | null)[]>({
      text: `SELECT ${groups}, count(*)::text
         FROM (SELECT ${cols}, ${row.md5(row.text)} AS h FROM ONLY ${quoteQualified(t.table)} ${w.sql}) AS rows
        WHERE substr(h, 1, ${BUCKET_HEX_DIGITS}) = ANY($1::text[])
        GROUP BY ${groups}`,
      values: [buckets],
      queryMode: 'extended',
      rowMode: 'array',
    } as pg.QueryConfig);
    const n = t.columns.length;
    return q.rows.map((r) => ({ values: r.slice(0, n), count: Number(r[n]) }));
  } catch (e) {
    throw wrapPgError('VERIFY_MISMATCH', `cannot read rows of ${quoteQualified(t.table)}`, e);
  }
}

/**
 * What a side's session knows of replication, given by the connector that opens it (the source knows
 * its WAL, the sink its bookkeeping): see {@link TableHasher.beginSnapshot} and
 * {@link TableHasher.taskPosition}.
 */
export interface HasherPositions {
  /** Run as the first statement of a snapshot transaction: the position the snapshot stands at. */
  readonly snapshot: (client: pg.Client) => Promise<Lsn | undefined>;
  /** Where the task's incremental sync stands; undefined when not known on this side. */
  readonly task?: (client: pg.Client) => Promise<TaskPosition | undefined>;
}

/** {@link TableHasher} on one PostgreSQL session (either side). */
export class PgTableHasher implements TableHasher {
  private constructor(
    private readonly client: pg.Client,
    private readonly positions: HasherPositions,
  ) {}

  /**
   * Connects and pins the session settings.
   * @throws {PgdtsError} CONNECTION_FAILED.
   */
  static async open(
    params: ConnectionParams,
    role: 'source' | 'destination',
    positions: HasherPositions,
  ): Promise<PgTableHasher> {
    const client = await connect(params, { role, applicationName: 'pgdts-verify' });
    try {
      await prepareHashSession(client);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('VERIFY_MISMATCH', 'cannot prepare the hash session', e);
    }
    return new PgTableHasher(client, positions);
  }

  async beginSnapshot(): Promise<Lsn | undefined> {
    try {
      await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return await this.positions.snapshot(this.client);
    } catch (e) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw wrapPgError('VERIFY_MISMATCH', 'cannot start a verify snapshot', e);
    }
  }

  async endSnapshot(): Promise<void> {
    try {
      await this.client.query('COMMIT');
    } catch (e) {
      throw wrapPgError('VERIFY_MISMATCH', 'cannot end a verify snapshot', e);
    }
  }

  async taskPosition(): Promise<TaskPosition | undefined> {
    try {
      return (await this.positions.task?.(this.client)) ?? undefined;
    } catch (e) {
      throw wrapPgError('VERIFY_MISMATCH', 'cannot read where incremental sync stands', e);
    }
  }

  async hashProbe(): Promise<string> {
    const r = await this.client.query<{ h: string }>(
      `SELECT hashtextextended('pgdts: probe of the row hash' COLLATE "C", 0)::text AS h`,
    );
    return r.rows[0]?.h ?? '';
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

  countRows(t: HashTarget, r?: KeyRange): Promise<RowsDigest> {
    return countRows(this.client, t, r);
  }

  keyAt(t: HashTarget, r: KeyRange, offset: number): Promise<string[] | undefined> {
    return keyAt(this.client, t, r, offset);
  }

  splitKeys(t: HashTarget, r: KeyRange, step: number, limit: number): Promise<string[][]> {
    return splitKeys(this.client, t, r, step, limit);
  }

  hashParts(t: HashTarget, r: KeyRange, bounds: readonly (readonly string[])[]): Promise<RowsDigest[]> {
    return hashParts(this.client, t, r, bounds);
  }

  readRows(t: HashTarget, r: KeyRange, limit: number): Promise<KeyedRow[]> {
    return readRows(this.client, t, r, limit);
  }

  readKeys(
    t: HashTarget,
    keys: readonly (readonly string[])[],
    o?: { readonly withVersion?: boolean },
  ): Promise<KeyedRow[]> {
    return readKeys(this.client, t, keys, o?.withVersion === true);
  }

  hashBuckets(t: HashTarget): Promise<Map<string, RowsDigest>> {
    return hashBuckets(this.client, t);
  }

  readBucketRows(t: HashTarget, buckets: readonly string[]): Promise<CountedRow[]> {
    return readBucketRows(this.client, t, buckets);
  }

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }
}
