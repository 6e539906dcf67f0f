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
import { PgdtsError } from '../../core/errors.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import type { HashTarget, KeyRange, TableHasher } from '../../core/table-hash.ts';
import type { TaskConfig } from '../../core/task-config.ts';
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
  readonly keys: TableHasher;
  readonly source: TableHasher;
  readonly destination: TableHasher;
}

/**
 * Compares the task's selected tables in source and destination.
 * @returns the per-table results, in schema/name order, and whether all matched.
 * @throws {PgdtsError} CONNECTION_FAILED when a side is unreachable, CONFIG_INVALID when a selected
 *   object is missing on the source. Per-table failures (missing table or column on the destination)
 *   are reported in the table's `error`, not thrown.
 */
export async function verifyTask(
  task: TaskConfig,
  c: { readonly source: Source; readonly sink: Sink },
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const started = Date.now();
  const chunkRows = opts.chunkRows ?? DEFAULT_CHUNK_ROWS;
  if (!Number.isInteger(chunkRows) || chunkRows < 1) {
    throw new PgdtsError('CONFIG_INVALID', `chunkRows: must be a positive integer, got ${chunkRows}`);
  }
  const openDestination = c.sink.openHasher;
  if (openDestination === undefined) {
    throw new PgdtsError('CONFIG_INVALID', `destination ${c.sink.description} cannot be verified`);
  }
  const opened: TableHasher[] = [];
  const open = async (f: () => Promise<TableHasher>) => {
    const h = await f();
    opened.push(h);
    return h;
  };
  try {
    const [keys, source, destination] = await Promise.all([
      open(() => c.source.openHasher()),
      open(() => c.source.openHasher()),
      open(openDestination),
    ]);
    const sessions: Sessions = { keys, source, destination };
    const utf8 = (await source.encoding()) !== (await destination.encoding());
    const tables = (await c.source.listTables(task.objects)).filter((t) => t.relkind === 'r');
    const results: TableVerifyResult[] = [];
    for (const t of tables) {
      const r = await verifyTable(sessions, target(t, utf8), chunkRows);
      results.push(r);
      opts.onTable?.(r);
    }
    return { tables: results, identical: results.every((r) => r.match), elapsedMs: Date.now() - started };
  } finally {
    await Promise.all(opened.map((h) => h.close()));
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

async function verifyTable(s: Sessions, t: HashTarget, chunkRows: number): Promise<TableVerifyResult> {
  const started = Date.now();
  const method = t.key.length > 0 ? 'key' : 'multiset';
  let sourceRows = 0;
  let destinationRows = 0;
  let chunks = 0;
  let firstDiff: DifferingChunk | undefined;
  try {
    if (method === 'multiset') {
      const [a, b] = await Promise.all([s.source.hashRows(t), s.destination.hashRows(t)]);
      sourceRows = a.rows;
      destinationRows = b.rows;
      chunks = 1;
      if (a.digest !== b.digest) {
        firstDiff = { index: 0, after: undefined, upTo: undefined, sourceRows, destinationRows };
      }
    } else {
      let after: string[] | undefined;
      let end = await s.keys.nextChunkEnd(t, after, chunkRows);
      for (;;) {
        const range: KeyRange = { after, upTo: end };
        // While both sides hash this chunk, the key session finds where the next one ends.
        const next = end === undefined ? Promise.resolve(undefined) : s.keys.nextChunkEnd(t, end, chunkRows);
        const [a, b] = await Promise.all([
          s.source.hashRows(t, range),
          s.destination.hashRows(t, range),
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
    const error = e instanceof Error ? e.message : String(e);
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
