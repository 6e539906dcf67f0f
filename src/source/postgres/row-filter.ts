/**
 * Row filters (`objects[].where`) on a PostgreSQL source: checking a condition, evaluating it on
 * decoded rows (sources whose publication does not filter), and reading which tables a publication
 * filters itself (PostgreSQL 15+, docs "Logical Replication", Row Filters).
 *
 * A condition is only ever sent through the extended query protocol, whose Parse message takes one
 * statement: text that closes the condition and starts another statement is refused by the server,
 * never run.
 */
import type pg from 'pg';
import type { Tuple } from '../../core/change.ts';
import { ConfigError, PgdtsError } from '../../core/errors.ts';
import { displayName, quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import type { RowFilterRequest } from '../../core/source.ts';
import { UNCHANGED_TOAST } from '../../core/change.ts';
import { wrapPgError } from '../../pg/connection.ts';

/** Name of the temporary view a check creates (in a transaction that is rolled back). */
const CHECK_VIEW = 'pgdts_row_filter_check';

/**
 * Checks `where` against `table` and returns the columns it references, sorted: the server parses
 * and analyses it as the condition of a temporary view's query, inside a transaction that is rolled
 * back (needs SELECT on the table and TEMP on the database, which PUBLIC has by default).
 * @throws {ConfigError} at `path` with the server's message when it is not a valid condition there.
 */
export async function checkRowFilter(
  client: pg.Client,
  table: QualifiedName,
  where: string,
  path: string,
): Promise<string[]> {
  await client.query('BEGIN');
  try {
    try {
      await client.query({
        text: `CREATE TEMPORARY VIEW ${CHECK_VIEW} AS SELECT 1 FROM ONLY ${quoteQualified(table)} WHERE (${where})`,
        queryMode: 'extended',
      } as pg.QueryConfig);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw new ConfigError(path, `not a valid condition on ${displayName(table)}: ${message}`);
    }
    const r = await client.query<{ name: string }>(
      `SELECT DISTINCT a.attname AS name
         FROM pg_rewrite w
         JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
         JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE w.ev_class = $1::regclass AND d.refobjid = $2::regclass AND d.refobjsubid > 0
        ORDER BY 1`,
      [`pg_temp.${CHECK_VIEW}`, quoteQualified(table)],
    );
    return r.rows.map((x) => x.name);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * Checks that PostgreSQL accepts `where` as a publication row filter of `table` (built-in immutable
 * functions and operators only, no system columns, ...: docs "CREATE PUBLICATION"), by creating a
 * publication in a transaction that is rolled back.
 * @returns `accepted`, `refused` with the server's message, or `unknown` when the user may not
 *   create publications (the check cannot be made).
 */
export async function checkPublicationRowFilter(
  client: pg.Client,
  table: QualifiedName,
  where: string,
): Promise<
  | { readonly kind: 'accepted' }
  | { readonly kind: 'refused'; readonly message: string }
  | { readonly kind: 'unknown' }
> {
  await client.query('BEGIN');
  try {
    await client.query({
      text: `CREATE PUBLICATION pgdts_row_filter_check FOR TABLE ${quoteQualified(table)} WHERE (${where})`,
      queryMode: 'extended',
    } as pg.QueryConfig);
    return { kind: 'accepted' };
  } catch (e) {
    if ((e as { code?: string }).code === '42501') return { kind: 'unknown' };
    return { kind: 'refused', message: e instanceof Error ? e.message : String(e) };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** Rows per evaluation query (each row binds one parameter per column; the protocol allows 65535). */
const ROWS_PER_QUERY = 500;

/** Type names of a relation's columns, cached per type OID list. */
const typeNames = new WeakMap<pg.Client, Map<string, string[]>>();

async function columnTypes(client: pg.Client, req: RowFilterRequest): Promise<string[]> {
  const key = req.relation.columns.map((c) => `${c.typeOid}:${c.typeModifier}`).join(',');
  let byClient = typeNames.get(client);
  if (byClient === undefined) {
    byClient = new Map();
    typeNames.set(client, byClient);
  }
  const cached = byClient.get(key);
  if (cached !== undefined) return cached;
  const r = await client.query<{ t: string }>(
    `SELECT format_type(o, m) AS t FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS u(o, m, n) ORDER BY n`,
    [req.relation.columns.map((c) => c.typeOid), req.relation.columns.map((c) => c.typeModifier)],
  );
  const names = r.rows.map((x) => x.t);
  byClient.set(key, names);
  return names;
}

/**
 * Evaluates `req.where` on each of `req.tuples` (values in text form, relation column order), on the
 * source, where every type and function of the condition exists: true when the condition is true
 * (NULL is no match, as for a publication row filter).
 * @throws {PgdtsError} REPLICATION_FAILED wrapping the server error (retryable on connection loss).
 */
export async function evaluateRowFilter(client: pg.Client, req: RowFilterRequest): Promise<boolean[]> {
  const out: boolean[] = [];
  if (req.tuples.length === 0) return out;
  const types = await columnTypes(client, req);
  const cols = req.relation.columns.map((c) => quoteIdent(c.name));
  for (let from = 0; from < req.tuples.length; from += ROWS_PER_QUERY) {
    const chunk = req.tuples.slice(from, from + ROWS_PER_QUERY);
    const values: (string | null)[] = [];
    const rows = chunk.map((t: Tuple, i) => {
      const cells = req.relation.columns.map((_, j) => {
        const v = t[j];
        // Unchanged TOAST values are never filter columns (those are the replica identity).
        values.push(v === undefined || v === UNCHANGED_TOAST ? null : v);
        return `$${values.length}::${types[j] ?? 'text'}`;
      });
      return `(${[String(i), ...cells].join(', ')})`;
    });
    const sql = `SELECT pgdts_row AS n, coalesce((${req.where}), false) AS ok
                   FROM (VALUES ${rows.join(', ')}) AS ${quoteIdent(req.table.name)}(pgdts_row, ${cols.join(', ')})`;
    let r: pg.QueryResult<{ n: number; ok: boolean }>;
    try {
      r = await client.query<{ n: number; ok: boolean }>(sql, values);
    } catch (e) {
      throw wrapPgError(
        'REPLICATION_FAILED',
        `cannot evaluate the row filter of ${displayName(req.table)}`,
        e,
      );
    }
    const verdicts = new Array<boolean>(chunk.length).fill(false);
    for (const row of r.rows) verdicts[Number(row.n)] = row.ok;
    out.push(...verdicts);
  }
  if (out.length !== req.tuples.length) {
    throw new PgdtsError('INTERNAL', `row filter of ${displayName(req.table)} judged ${out.length} rows`);
  }
  return out;
}

/**
 * The tables (as `schema.name`) whose rows publication `name` filters itself: listed with a row
 * filter, and named that way in the stream (plain tables; a partitioned table only when the
 * publication publishes via the root, otherwise its partitions' own filters apply: docs "Logical
 * Replication", Row Filters, partitioned tables). Empty before PostgreSQL 15.
 */
export async function publicationRowFilters(
  client: pg.Client,
  name: string,
  major: number,
): Promise<Map<string, string>> {
  if (major < 15) return new Map();
  const r = await client.query<{ schema: string; name: string; qual: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_get_expr(pr.prqual, pr.prrelid) AS qual
       FROM pg_publication p
       JOIN pg_publication_rel pr ON pr.prpubid = p.oid
       JOIN pg_class c ON c.oid = pr.prrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.pubname = $1 AND pr.prqual IS NOT NULL
        AND (c.relkind = 'r' OR (c.relkind = 'p' AND p.pubviaroot))`,
    [name],
  );
  return new Map(r.rows.map((x) => [displayName(x), x.qual]));
}
