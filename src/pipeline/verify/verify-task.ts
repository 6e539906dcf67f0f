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
 *
 * Modes (`VerifyOptions.mode`): `count` compares row counts per chunk, `hash` (default) counts and
 * content hashes, `rows` narrows every differing chunk to its differing rows (narrow-differences.ts,
 * verify.md [V1] [V2]). Every statement is paced by the task's `verify.rowsPerSecond` and
 * `verify.megabytesPerSecond` [V4].
 */
import { PgdtsError } from '../../core/errors.ts';
import { displayName } from '../../core/identifier.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import type { RepairTable } from '../../core/repair-sql.ts';
import type { HashTarget, KeyRange, RowsDigest, TableHasher } from '../../core/table-hash.ts';
import { resolveTargets, type TableTarget } from '../../core/table-targets.ts';
import { OPERATIONS, type TaskConfig } from '../../core/task-config.ts';
import { diffKeyedRows } from '../../core/row-difference.ts';
import { BYTES_PER_MEGABYTE } from '../../core/throttle-config.ts';
import { FlowLimiter } from '../throttle.ts';
import { narrowKeyless, narrowRange, type DifferenceSink, type NarrowOptions } from './narrow-differences.ts';
import type {
  DifferingChunk,
  TableRowDifferences,
  TableVerifyResult,
  VerifyMode,
  VerifyReport,
} from './verify-report.ts';

/** Options of {@link verifyTask}. */
export interface VerifyOptions {
  /** Called after each table is compared. */
  readonly onTable?: (r: TableVerifyResult) => void;
  /** Rows per chunk of a keyed table; default 100 000. */
  readonly chunkRows?: number;
  /** What to compare; default `hash`. */
  readonly mode?: VerifyMode;
  /** `rows`: ranges with at most this many rows a side are read row by row; default 64. */
  readonly leafRows?: number;
  /** `rows`: most differences listed per table; default 10 000. */
  readonly maxDifferences?: number;
  /** `rows`: only these destination tables (`schema.name`; after a repair, to re-verify them); default all. */
  readonly onlyTables?: readonly string[];
  /**
   * `rows`: in these keyed destination tables (`schema.name`), compare only the rows with these keys
   * (after a repair: the repaired rows), read by key on both sides, instead of the whole table.
   */
  readonly onlyKeys?: ReadonlyMap<string, readonly (readonly string[])[]>;
}

/** Default rows per chunk: big enough to amortise a round trip, small enough for a few MB of work. */
export const DEFAULT_CHUNK_ROWS = 100_000;

/** Default `leafRows`: a leaf's rows fit one small read on each side. */
export const DEFAULT_LEAF_ROWS = 64;

/** Default `maxDifferences`: a report a person can still act on; a bigger gap wants a new full sync. */
export const DEFAULT_MAX_DIFFERENCES = 10_000;

interface Sessions {
  /** Finds chunk ends on the source while `source` hashes the previous chunk. */
  readonly keys: TableHasher;
  readonly source: TableHasher;
  readonly destination: TableHasher;
  readonly mode: VerifyMode;
  readonly narrow: NarrowOptions;
  readonly onlyKeys: ReadonlyMap<string, readonly (readonly string[])[]> | undefined;
}

/** Keys read per statement when comparing given keys. */
const KEYS_PER_READ = 500;

function positiveInteger(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new PgdtsError('CONFIG_INVALID', `${name}: must be a positive integer, got ${v}`);
  }
  return v;
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
  const chunkRows = positiveInteger('chunkRows', opts.chunkRows ?? DEFAULT_CHUNK_ROWS);
  const mode = opts.mode ?? 'hash';
  const limiter = new FlowLimiter({
    rowsPerSecond: task.verify.rowsPerSecond,
    bytesPerSecond:
      task.verify.megabytesPerSecond === undefined
        ? undefined
        : task.verify.megabytesPerSecond * BYTES_PER_MEGABYTE,
  });
  const narrow: NarrowOptions = {
    leafRows: positiveInteger('leafRows', opts.leafRows ?? DEFAULT_LEAF_ROWS),
    maxDifferences: positiveInteger('maxDifferences', opts.maxDifferences ?? DEFAULT_MAX_DIFFERENCES),
    pace: async (rows, bytes) => {
      await limiter.take(rows, bytes);
    },
  };
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
    const sessions: Sessions = { keys, source, destination, mode, narrow, onlyKeys: opts.onlyKeys };
    const utf8 = (await source.encoding()) !== (await destination.encoding());
    const targets = resolveTargets(task, await c.source.listTables(task.objects));
    for (const t of targets) {
      if (t.where !== undefined && t.source.partitionRoot === undefined) {
        await c.source.checkRowFilter(t.source, t.where, `objects[${t.entry}].where`);
      }
    }
    // Tables merged into one destination table are compared together.
    const groups = new Map<string, TableTarget[]>();
    for (const t of targets) {
      if (t.source.relkind !== 'r') continue;
      const k = displayName(t.table);
      groups.set(k, [...(groups.get(k) ?? []), t]);
    }
    const results: TableVerifyResult[] = [];
    const only = opts.onlyTables === undefined ? undefined : new Set(opts.onlyTables);
    for (const [name, group] of groups) {
      if (only !== undefined && !only.has(name)) continue;
      const r = await verifyTarget(sessions, group, utf8, chunkRows);
      results.push(r);
      opts.onTable?.(r);
    }
    return {
      mode,
      tables: results,
      identical: results.every((r) => r.match),
      elapsedMs: Date.now() - started,
    };
  } finally {
    await Promise.all(opened.map((h) => h.close()));
  }
}

/** What both sides hash for one target: the kept columns under their names on each side. */
function hashTargets(t: TableTarget, utf8: boolean): { source: HashTarget; destination: HashTarget } {
  const columns = [...t.columns, ...t.generatedColumns];
  const key = t.source.primaryKey.length > 0 ? t.source.primaryKey : t.source.replicaIdentityIndexColumns;
  const rename = new Map(columns.map((c) => [c.source, c.target]));
  return {
    source: {
      table: { schema: t.source.schema, name: t.source.name },
      columns: columns.map((c) => c.source),
      key,
      utf8,
      ...(t.where === undefined ? {} : { where: t.where }),
    },
    destination: {
      table: t.table,
      columns: columns.map((c) => c.target),
      key: key.map((k) => rename.get(k) ?? k),
      utf8,
    },
  };
}

/** The destination names a table's differences are reported and repaired under. */
function shapeOf(t: TableTarget, d: HashTarget): RepairTable {
  return {
    table: d.table,
    columns: d.columns,
    generated: t.generatedColumns.map((c) => c.target),
    key: d.key,
  };
}

/** One digest of `t` in range `r`: content hash, or the count alone in `count` mode. */
function digest(s: Sessions, h: TableHasher, t: HashTarget, r?: KeyRange): Promise<RowsDigest> {
  switch (s.mode) {
    case 'count':
      return h.countRows(t, r);
    case 'hash':
    case 'rows':
      return h.hashRows(t, r);
    default: {
      const never: never = s.mode;
      throw new PgdtsError('INTERNAL', `unknown verify mode ${String(never)}`);
    }
  }
}

/**
 * Compares one destination table with its source table(s): by key chunks for one keyed source,
 * as a multiset (whole tables, the sources' digests added) for a keyless one or a merge.
 */
async function verifyTarget(
  s: Sessions,
  group: readonly TableTarget[],
  utf8: boolean,
  chunkRows: number,
): Promise<TableVerifyResult> {
  const first = group[0];
  if (first === undefined) throw new PgdtsError('INTERNAL', 'empty verify group');
  const names = {
    table: group.length > 1 ? first.table : { schema: first.source.schema, name: first.source.name },
    destinationTable: first.table,
    ...(group.length > 1 ? { sources: group.map((g) => g.source) } : {}),
  };
  const left = group.flatMap((g) => OPERATIONS.filter((op) => !g.operations.has(op)));
  if (left.length > 0) {
    return {
      ...names,
      sourceRows: 0,
      destinationRows: 0,
      match: true,
      method: 'not-compared',
      notComparedReason: `operations leave out ${[...new Set(left)].join(', ')}: the destination keeps what the source changed`,
      chunks: 0,
      elapsedMs: 0,
    };
  }
  if (group.length === 1) {
    const h = hashTargets(first, utf8);
    const keys = s.onlyKeys?.get(displayName(first.table));
    if (keys !== undefined && h.source.key.length > 0) {
      return {
        ...names,
        ...(await verifyKeys(s, h.source, h.destination, keys, shapeOf(first, h.destination))),
      };
    }
    return {
      ...names,
      ...(await verifyTable(s, h.source, h.destination, chunkRows, shapeOf(first, h.destination))),
    };
  }
  const started = Date.now();
  try {
    const sources: RowsDigest[] = [];
    for (const g of group) sources.push(await digest(s, s.source, hashTargets(g, utf8).source));
    const dest = await digest(s, s.destination, hashTargets(first, utf8).destination);
    const src = s.mode === 'count' ? countDigests(sources) : addDigests(sources);
    await s.narrow.pace(src.rows + dest.rows, src.bytes + dest.bytes);
    const rows: TableRowDifferences | undefined =
      s.mode === 'rows' && src.digest !== dest.digest
        ? {
            shape: shapeOf(first, hashTargets(first, utf8).destination),
            differences: [],
            truncated: false,
            notListedReason:
              'rows of a table merged from several sources are not listed (compared as a whole)',
          }
        : undefined;
    return {
      ...names,
      sourceRows: src.rows,
      destinationRows: dest.rows,
      match: src.digest === dest.digest,
      method: 'multiset',
      chunks: 1,
      ...(src.digest === dest.digest
        ? {}
        : {
            firstDifferingChunk: {
              index: 0,
              after: undefined,
              upTo: undefined,
              sourceRows: src.rows,
              destinationRows: dest.rows,
            },
          }),
      ...(rows === undefined ? {} : { rows }),
      elapsedMs: Date.now() - started,
    };
  } catch (e) {
    return {
      ...names,
      sourceRows: 0,
      destinationRows: 0,
      match: false,
      method: 'multiset',
      chunks: 0,
      error: e instanceof Error ? e.message : String(e),
      elapsedMs: Date.now() - started,
    };
  }
}

/** The digest of the union of the rows of several digests (a multiset hash adds up). */
function addDigests(ds: readonly RowsDigest[]): RowsDigest {
  let rows = 0;
  let bytes = 0;
  let a = 0n;
  let b = 0n;
  for (const d of ds) {
    const [, x = '0', y = '0'] = d.digest.split(':');
    rows += d.rows;
    bytes += d.bytes;
    a += BigInt(x);
    b += BigInt(y);
  }
  return { rows, digest: `${rows}:${a}:${b}`, bytes };
}

/** The count digest of the union of several counted row sets. */
function countDigests(ds: readonly RowsDigest[]): RowsDigest {
  const rows = ds.reduce((n, d) => n + d.rows, 0);
  return { rows, digest: String(rows), bytes: 0 };
}

/** Compares the rows with the given keys only (rows mode after a repair). */
async function verifyKeys(
  s: Sessions,
  t: HashTarget,
  d: HashTarget,
  keys: readonly (readonly string[])[],
  shape: RepairTable,
): Promise<Omit<TableVerifyResult, 'table' | 'destinationTable'>> {
  const started = Date.now();
  const found: DifferenceSink = { differences: [], truncated: false };
  let sourceRows = 0;
  let destinationRows = 0;
  try {
    for (let i = 0; i < keys.length; i += KEYS_PER_READ) {
      const batch = keys.slice(i, i + KEYS_PER_READ);
      const [a, b] = await Promise.all([s.source.readKeys(t, batch), s.destination.readKeys(d, batch)]);
      await s.narrow.pace(a.length + b.length, 0);
      sourceRows += a.length;
      destinationRows += b.length;
      found.differences.push(...diffKeyedRows(a, b));
    }
  } catch (e) {
    return {
      sourceRows,
      destinationRows,
      match: false,
      method: 'key',
      chunks: 0,
      error: e instanceof Error ? e.message : String(e),
      elapsedMs: Date.now() - started,
    };
  }
  const match = found.differences.length === 0;
  return {
    sourceRows,
    destinationRows,
    match,
    method: 'key',
    chunks: 0,
    ...(match ? {} : { rows: { shape, differences: found.differences, truncated: false } }),
    elapsedMs: Date.now() - started,
  };
}

async function verifyTable(
  s: Sessions,
  t: HashTarget,
  d: HashTarget,
  chunkRows: number,
  shape: RepairTable,
): Promise<Omit<TableVerifyResult, 'table' | 'destinationTable'>> {
  const started = Date.now();
  const method = t.key.length > 0 ? 'key' : 'multiset';
  let sourceRows = 0;
  let destinationRows = 0;
  let chunks = 0;
  let firstDiff: DifferingChunk | undefined;
  const found: DifferenceSink = { differences: [], truncated: false };
  const sides = { source: s.source, destination: s.destination, sourceTarget: t, destinationTarget: d };
  const rowsOf = (): { rows?: TableRowDifferences } =>
    s.mode === 'rows' && firstDiff !== undefined
      ? { rows: { shape, differences: found.differences, truncated: found.truncated } }
      : {};
  try {
    if (method === 'multiset') {
      const [a, b] = await Promise.all([digest(s, s.source, t), digest(s, s.destination, d)]);
      await s.narrow.pace(a.rows + b.rows, a.bytes + b.bytes);
      sourceRows = a.rows;
      destinationRows = b.rows;
      chunks = 1;
      if (a.digest !== b.digest) {
        firstDiff = { index: 0, after: undefined, upTo: undefined, sourceRows, destinationRows };
        if (s.mode === 'rows') await narrowKeyless(sides, s.narrow, found);
      }
    } else {
      let after: string[] | undefined;
      let end = await s.keys.nextChunkEnd(t, after, chunkRows);
      for (;;) {
        const range: KeyRange = { after, upTo: end };
        // While both sides hash this chunk, the key session finds where the next one ends.
        const next = end === undefined ? Promise.resolve(undefined) : s.keys.nextChunkEnd(t, end, chunkRows);
        const [a, b] = await Promise.all([
          digest(s, s.source, t, range),
          digest(s, s.destination, d, range),
          next.catch(() => undefined),
        ]);
        await s.narrow.pace(a.rows + b.rows, a.bytes + b.bytes);
        sourceRows += a.rows;
        destinationRows += b.rows;
        if (a.digest !== b.digest && firstDiff === undefined) {
          firstDiff = { index: chunks, ...range, sourceRows: a.rows, destinationRows: b.rows };
        }
        if (a.digest !== b.digest && s.mode === 'rows') {
          await narrowRange(sides, range, a, b, s.narrow, found);
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
    sourceRows,
    destinationRows,
    match: firstDiff === undefined,
    method,
    chunks,
    ...(firstDiff !== undefined ? { firstDifferingChunk: firstDiff } : {}),
    ...rowsOf(),
    elapsedMs: Date.now() - started,
  };
}
