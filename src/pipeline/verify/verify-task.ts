/**
 * `pgdts verify`: compares every selected table with storage (plain tables and leaf partitions) in
 * source and destination by row count and content hash, chunked by key so that large tables are
 * compared piece by piece, both servers hashing the same chunk at the same time. Meaningful when the
 * source is quiet or incremental sync has caught up; otherwise in-flight changes show as differences.
 *
 * Chunk ends are key values found on the source; the destination hashes the same key ranges, the first
 * one open below and the last open above, so rows the source lacks are still counted. Ranges compare
 * keys with their columns' collations: text keys whose collation sorts differently on the destination
 * (another ICU/glibc version) would shift rows between chunks and show as a difference. Keyless tables
 * are hashed whole, as a multiset (one sequential scan, no sort). A destination without the key's
 * index (before post-data DDL) makes every chunk a sequential scan there.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import { connect, redact, resolveEndpoint, type ConnectionParams } from '../../pg/connection.ts';
import {
  hashRows,
  nextChunkEnd,
  prepareHashSession,
  type HashTarget,
  type KeyRange,
} from '../../pg/table-hash.ts';
import { listSelectedTables, type SelectedTable } from '../../source/postgres/selected-tables.ts';
import type { DifferingChunk, TableVerifyResult, VerifyReport } from './verify-report.ts';

/** Options of {@link verifyTask}. */
export interface VerifyOptions {
  /** Called after each table is compared. */
  readonly onTable?: (r: TableVerifyResult) => void;
  /** Rows per chunk of a keyed table; default 100 000. */
  readonly chunkRows?: number;
}

/** Default rows per chunk: big enough to amortise a round trip, small enough for a few MB of work. */
export const DEFAULT_CHUNK_ROWS = 100_000;

interface Sessions {
  /** Finds chunk ends on the source while `source` hashes the previous chunk. */
  readonly keys: pg.Client;
  readonly source: pg.Client;
  readonly destination: pg.Client;
}

/**
 * Compares the task's selected tables in source and destination.
 * @returns the per-table results, in schema/name order, and whether all matched.
 * @throws {PgdtsError} CONNECTION_FAILED when a side is unreachable, CONFIG_INVALID when a selected
 *   object is missing on the source. Per-table failures (missing table or column on the destination)
 *   are reported in the table's `error`, not thrown.
 */
export async function verifyTask(task: TaskConfig, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const chunkRows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new PgdtsError('CONFIG_INVALID', `chunkRows: must be a positive integer, got ${chunkRows}`);
  }
  const sp = resolveEndpoint(task.source, process.env, 'source');
  const dp = resolveEndpoint(task.destination, process.env, 'destination');
  const opened: pg.Client[] = [];
  const open = async (p: ConnectionParams, role: 'source' | 'destination') => {
    const c = await connect(p, { role, applicationName: 'pgdts-verify' });
    opened.push(c);
    await prepareHashSession(c);
    return c;
  };
  try {
    const [keys, source, destination] = await Promise.all([
      open(sp, 'source'),
      open(sp, 'source'),
      open(dp, 'destination'),
    ]);
    const sessions: Sessions = { keys, source, destination };
    const utf8 = (await encodingOf(source)) !== (await encodingOf(destination));
    const tables = (await listSelectedTables(source, task.objects)).filter((t) => t.relkind === 'r');
    const results: TableVerifyResult[] = [];
    for (const t of tables) {
      const r = await verifyTable(sessions, target(t, utf8), chunkRows, [sp.password, dp.password]);
      results.push(r);
      opts.onTable?.(r);
    }
    return { tables: results, identical: results.every((r) => r.match), elapsedMs: Date.now() - started };
  } finally {
    await Promise.all(opened.map((c) => c.end().catch(() => undefined)));
  }
}

function target(t: SelectedTable, utf8: boolean): HashTarget {
  return {
    table: { schema: t.schema, name: t.name },
    columns: [...t.columns, ...t.generatedColumns],
    key: t.primaryKey.length > 0 ? t.primaryKey : t.replicaIdentityIndexColumns,
    utf8,
  };
}

async function encodingOf(c: pg.Client): Promise<string> {
  const r = await c.query<{ e: string }>("SELECT current_setting('server_encoding') AS e");
  return r.rows[0]?.e ?? '';
}

async function verifyTable(
  s: Sessions,
  t: HashTarget,
  chunkRows: number,
  passwords: readonly (string | undefined)[],
): Promise<TableVerifyResult> {
  const started = Date.now();
  const method = t.key.length > 0 ? 'key' : 'multiset';
  let sourceRows = 0;
  let destinationRows = 0;
  let chunks = 0;
  let firstDiff: DifferingChunk | undefined;
  try {
    if (method === 'multiset') {
      const [a, b] = await Promise.all([hashRows(s.source, t), hashRows(s.destination, t)]);
      sourceRows = a.rows;
      destinationRows = b.rows;
      chunks = 1;
      if (a.digest !== b.digest) {
        firstDiff = { index: 0, after: undefined, upTo: undefined, sourceRows, destinationRows };
      }
    } else {
      let after: string[] | undefined;
      let end = await nextChunkEnd(s.keys, t, after, chunkRows);
      for (;;) {
        const range: KeyRange = { after, upTo: end };
        // While both sides hash this chunk, the key session finds where the next one ends.
        const next = end === undefined ? Promise.resolve(undefined) : nextChunkEnd(s.keys, t, end, chunkRows);
        const [a, b] = await Promise.all([
          hashRows(s.source, t, range),
          hashRows(s.destination, t, range),
          next.catch(() => undefined),
        ]);
        sourceRows += a.rows;
        destinationRows += b.rows;
        if (a.digest !== b.digest && firstDiff === undefined) {
          firstDiff = { index: chunks, ...range, sourceRows: a.rows, destinationRows: b.rows };
        }
        chunks++;
        if (end === undefined) break;
        after = end;
        end = await next;
      }
    }
  } catch (e) {
    let error = e instanceof Error ? e.message : String(e);
    for (const p of passwords) error = redact(error, p);
    return {
      table: t.table,
      sourceRows,
      destinationRows,
      match: false,
      method,
      chunks,
      error,
      elapsedMs: Date.now() - started,
    };
  }
  return {
    table: t.table,
    sourceRows,
    destinationRows,
    match: firstDiff === undefined,
    method,
    chunks,
    ...(firstDiff !== undefined ? { firstDifferingChunk: firstDiff } : {}),
    elapsedMs: Date.now() - started,
  };
}
