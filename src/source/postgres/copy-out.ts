/**
 * Reading table data from the source inside an exported snapshot, as COPY streams, and splitting big
 * tables into ranges that can be copied in parallel.
 *
 * Ranges follow pgcopydb and PeerDB: ctid block ranges (no count(*) needed; PostgreSQL 14+ scans a TID
 * range without reading the whole table: "TID Range Scan"), or integer primary-key ranges on 13.
 */
import type pg from 'pg';
import type { Readable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import { PgdtsError } from '../../core/errors.ts';
import { quoteIdent, quoteQualified } from '../../core/identifier.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { ColumnType, CopyFormat, CopyRange, CopyUnit } from '../../core/source.ts';
import { connect, serverMajorVersion, wrapPgError, type ConnectionParams } from '../../pg/connection.ts';

/**
 * Opens a source connection whose transaction imports `snapshotName`.
 * @throws {PgdtsError} COPY_FAILED; not retryable when the snapshot is gone (its exporting connection closed).
 */
export async function openSnapshotReader(params: ConnectionParams, snapshotName: string): Promise<pg.Client> {
  const client = await connect(params, { role: 'source', applicationName: 'pgdts-copy' });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT '${snapshotName.replaceAll("'", "''")}'`);
    return client;
  } catch (e) {
    await client.end().catch(() => undefined);
    // 22023 invalid_parameter_value: "invalid snapshot identifier": the exporting connection is
    // gone, and with it the snapshot; only a new run (with a new snapshot) can continue.
    if ((e as { code?: unknown }).code === '22023') {
      throw new PgdtsError('COPY_FAILED', `the exported snapshot ${snapshotName} is gone`, {
        cause: e,
        sqlState: '22023',
        hint: 'run the task again: unfinished tables are recopied under a new snapshot',
      });
    }
    throw wrapPgError('COPY_FAILED', 'cannot import the exported snapshot', e);
  }
}

/** Awaited before each statement (the `full.throttle.queriesPerSecond` limit). */
export type BeforeStatement = (() => Promise<void> | undefined) | undefined;

/**
 * Picks the COPY format of each table (see {@link CopyFormat}) in one query, whatever the table count:
 * binary when every selected column has a built-in, non-composite type (binary COPY of user types
 * depends on their send/receive functions matching on both sides), else text.
 * @returns one format per table, in the order of `tables`.
 */
export async function copyFormatsFor(
  client: pg.Client,
  tables: readonly SelectedTable[],
  beforeStatement?: BeforeStatement,
): Promise<CopyFormat[]> {
  if (tables.length === 0) return [];
  await beforeStatement?.();
  const relids = tables.flatMap((t) => t.columns.map(() => t.oid));
  const names = tables.flatMap((t) => t.columns);
  const r = await client.query<{ relid: number; ok: boolean }>(
    `SELECT s.relid::int8 AS relid,
            coalesce(bool_and(t.oid < 16384 AND (t.typelem = 0 OR t.typelem < 16384) AND t.typtype <> 'c'), true) AS ok
       FROM unnest($1::oid[], $2::text[]) AS s(relid, attname)
       JOIN pg_attribute a ON a.attrelid = s.relid AND a.attname = s.attname AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type t ON t.oid = a.atttypid
      GROUP BY s.relid`,
    [relids, names],
  );
  const ok = new Map(r.rows.map((x) => [Number(x.relid), x.ok]));
  return tables.map((t) => ((ok.get(Number(t.oid)) ?? true) ? 'binary' : 'text'));
}

/**
 * The type (atttypid, atttypmod) of each copied column of each target, in `columns` order: one
 * catalog query for all tables. A column the catalog does not show (dropped meanwhile) gets text
 * (OID 25).
 */
export async function columnTypesFor(
  client: pg.Client,
  targets: readonly {
    readonly source: SelectedTable;
    readonly columns: readonly { readonly source: string }[];
  }[],
  beforeStatement?: BeforeStatement,
): Promise<ColumnType[][]> {
  if (targets.length === 0) return [];
  await beforeStatement?.();
  const relids = targets.flatMap((t) => t.columns.map(() => t.source.oid));
  const names = targets.flatMap((t) => t.columns.map((c) => c.source));
  const r = await client.query<{ relid: string; attname: string; typid: number; typmod: number }>(
    `SELECT s.relid::int8 AS relid, s.attname, a.atttypid::int4 AS typid, a.atttypmod AS typmod
       FROM unnest($1::oid[], $2::text[]) AS s(relid, attname)
       JOIN pg_attribute a ON a.attrelid = s.relid AND a.attname = s.attname AND a.attnum > 0 AND NOT a.attisdropped`,
    [relids, names],
  );
  const byKey = new Map(
    r.rows.map((x) => [`${x.relid}/${x.attname}`, { typeOid: x.typid, typeModifier: x.typmod }]),
  );
  return targets.map((t) =>
    t.columns.map((c) => byKey.get(`${t.source.oid}/${c.source}`) ?? { typeOid: 25, typeModifier: -1 }),
  );
}

/**
 * Splits a table into ranges of about `rangeSizeBytes` when it is larger than `splitAboveBytes`.
 * The last range is open-ended so rows beyond the measured size are never missed.
 */
export async function planRanges(
  client: pg.Client,
  table: SelectedTable,
  opts: { splitAboveBytes: number; rangeSizeBytes: number; beforeStatement?: BeforeStatement },
): Promise<CopyRange[]> {
  if (table.sizeBytes <= opts.splitAboveBytes || table.blocks < 2) return [{ kind: 'all' }];
  const n = Math.max(2, Math.ceil(table.sizeBytes / opts.rangeSizeBytes));
  await opts.beforeStatement?.();
  if ((await serverMajorVersion(client)) >= 14) {
    const per = Math.ceil(table.blocks / n);
    const out: CopyRange[] = [];
    for (let b = 0; b < table.blocks; b += per) {
      out.push({ kind: 'ctid', fromBlock: b, toBlock: b + per >= table.blocks ? undefined : b + per });
    }
    return out;
  }
  // PostgreSQL 13 has no TID range scan: split a single integer key instead.
  const pk = table.primaryKey;
  if (pk.length !== 1 || pk[0] === undefined) return [{ kind: 'all' }];
  const col = pk[0];
  await opts.beforeStatement?.();
  const t = await client.query<{ typ: string }>(
    `SELECT format_type(atttypid, NULL) AS typ FROM pg_attribute WHERE attrelid = $1 AND attname = $2`,
    [table.oid, col],
  );
  if (!['integer', 'bigint', 'smallint'].includes(t.rows[0]?.typ ?? '')) return [{ kind: 'all' }];
  await opts.beforeStatement?.();
  const mm = await client.query<{ lo: string | null; hi: string | null }>(
    `SELECT min(${quoteIdent(col)})::text AS lo, max(${quoteIdent(col)})::text AS hi FROM ${quoteQualified(table)}`,
  );
  const lo = mm.rows[0]?.lo;
  const hi = mm.rows[0]?.hi;
  if (lo == null || hi == null) return [{ kind: 'all' }];
  const span = (BigInt(hi) - BigInt(lo)) / BigInt(n) + 1n;
  const out: CopyRange[] = [];
  for (let i = 0; i < n; i++) {
    const from = BigInt(lo) + span * BigInt(i);
    out.push({
      kind: 'key',
      column: col,
      from: i === 0 ? undefined : from,
      to: i === n - 1 ? undefined : from + span,
    });
  }
  return out;
}

/**
 * The COPY ... TO STDOUT statement of a unit: its columns, its range, and its row filter (an SQL
 * condition on the source columns, parenthesised so its own ORs stay inside).
 */
export function copyOutSql(unit: Pick<CopyUnit, 'table' | 'range' | 'format' | 'columns' | 'where'>): string {
  const { table, range, format } = unit;
  const cols = unit.columns.map((c) => quoteIdent(c.source)).join(', ');
  const fmt = format === 'binary' ? ' (FORMAT binary)' : '';
  const conds: string[] = [];
  switch (range.kind) {
    case 'all':
      break;
    case 'ctid':
      conds.push(`ctid >= '(${range.fromBlock},0)'::tid`);
      if (range.toBlock !== undefined) conds.push(`ctid < '(${range.toBlock},0)'::tid`);
      break;
    case 'key': {
      const c = quoteIdent(range.column);
      if (range.from !== undefined) conds.push(`${c} >= ${range.from}`);
      if (range.to !== undefined) conds.push(`${c} < ${range.to}`);
      break;
    }
  }
  if (unit.where !== undefined) conds.push(`(${unit.where})`);
  // A whole table without filter: COPY of the table itself, the fastest form.
  if (conds.length === 0) return `COPY ${quoteQualified(table)} (${cols}) TO STDOUT${fmt}`;
  return `COPY (SELECT ${cols} FROM ONLY ${quoteQualified(table)} WHERE ${conds.join(' AND ')}) TO STDOUT${fmt}`;
}

/** Starts a COPY TO STDOUT of a unit on a snapshot reader and returns the byte stream. */
export function copyOut(client: pg.Client, unit: CopyUnit): Readable {
  return client.query(copyTo(copyOutSql(unit)));
}
