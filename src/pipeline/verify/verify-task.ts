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
 * `verify.megabytesPerSecond` [V4]. While the task streams into the destination, every difference is
 * re-checked at a consistent point before it is reported (live-recheck.ts, [V8]).
 *
 * Cancellable and resumable [V12]: `signal` is checked after every statement (each pace), and
 * `progress` hears of each finished table and each compared chunk of a keyed table; a run given a
 * resume point reports its finished tables without comparing them and goes on after the last
 * compared chunk of its partial table.
 */
import { CancelledError, PgdtsError } from '../../core/errors.ts';
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
import { recheckDigests, recheckKeys, type LiveSessions } from './live-recheck.ts';
import {
  FANOUT,
  narrowKeyless,
  narrowRange,
  type DifferenceSink,
  type NarrowOptions,
  type NarrowSides,
} from './narrow-differences.ts';
import type { PartialTableVerify, VerifyProgress } from './verify-progress.ts';
import type {
  DifferingChunk,
  TableLiveRecheck,
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
  /**
   * Re-check differences at consistent points while the task streams ([V8]): `true` requires the
   * task to be streaming into the destination, `false` compares both sides as they are; default
   * (undefined): live exactly when the task streams.
   */
  readonly live?: boolean;
  /** Live: longest wait for incremental sync to apply up to a source snapshot, ms; default 120 000. */
  readonly catchUpTimeoutMs?: number;
  /**
   * Stops the run between statements [V12]: verifyTask then throws CANCELLED (its sessions closed).
   * A statement in flight runs to its end first (at most one chunk or one page of rows).
   */
  readonly signal?: AbortSignal;
  /** Hears of finished tables and compared chunks, and gives the point to resume from [V12]. */
  readonly progress?: VerifyProgress;
}

/** Default rows per chunk: big enough to amortise a round trip, small enough for a few MB of work. */
export const DEFAULT_CHUNK_ROWS = 100_000;

/**
 * Default `leafRows`: a leaf's rows fit one read on each side (pages of 1 000). 512 rather than 64:
 * a 100 000-row chunk's ~200 parts are then leaves at once, so a differing part costs one read per
 * side instead of a second level (a key pass, a part hash, then the leaf reads: four round trips);
 * in V1 (bench/README.md) the difference was within the machine's noise (rows mode 4.9-5.2 s with
 * 64, 5.2-6.8 s with 512 under more load; 4.9 s on an idle machine).
 */
export const DEFAULT_LEAF_ROWS = 512;

/** Default `maxDifferences`: a report a person can still act on; a bigger gap wants a new full sync. */
export const DEFAULT_MAX_DIFFERENCES = 10_000;

/** Default `catchUpTimeoutMs`: well above the lag of a healthy task, short enough to report a stuck one. */
export const DEFAULT_CATCH_UP_TIMEOUT_MS = 120_000;

/**
 * A task counts as streaming when its checkpoint phase is `streaming` and its status row is younger
 * than this (a running task writes it every `incremental.statusIntervalMs`, 1 s by default), ms.
 */
export const STREAMING_STATUS_AGE_MS = 30_000;

/** Candidate rows narrowed from one differing chunk in live mode before they are re-checked. */
const CANDIDATES_PER_CHUNK = 10_000;

/** Unsettled keys listed per table (all are counted). */
const UNSETTLED_LISTED = 100;

interface Sessions {
  /** Finds chunk ends on the source while `source` hashes the previous chunk. */
  readonly keys: TableHasher;
  readonly source: TableHasher;
  readonly destination: TableHasher;
  readonly mode: VerifyMode;
  readonly narrow: NarrowOptions;
  readonly onlyKeys: ReadonlyMap<string, readonly (readonly string[])[]> | undefined;
  readonly progress: VerifyProgress | undefined;
  readonly signal: AbortSignal | undefined;
  /** Set while the task streams: differences are re-checked at consistent points [V8]. */
  readonly live: LiveSessions | undefined;
}

/** Per table tallies of the live re-checks. */
interface LiveTally {
  rechecked: number;
  unsettled: number;
  readonly unsettledKeys: (readonly string[])[];
}

function newTally(): LiveTally {
  return { rechecked: 0, unsettled: 0, unsettledKeys: [] };
}

function addUnsettled(tally: LiveTally, keys: readonly (readonly string[])[]): void {
  tally.unsettled += keys.length;
  for (const k of keys) if (tally.unsettledKeys.length < UNSETTLED_LISTED) tally.unsettledKeys.push(k);
}

function liveResult(s: Sessions, tally: LiveTally): { live?: TableLiveRecheck } {
  return s.live === undefined ? {} : { live: { ...tally } };
}

/** @throws {CancelledError} when `signal` was aborted. */
function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new CancelledError('verification cancelled');
}

/** Errors thrown by a progress save (they end the run, whatever their code). */
const progressErrors = new WeakSet<object>();

/** Awaits a progress save, marking its error as one that ends the run. */
async function saved(save: () => Promise<void> | undefined): Promise<void> {
  try {
    await save();
  } catch (e) {
    if (typeof e === 'object' && e !== null) progressErrors.add(e);
    throw e;
  }
}

/**
 * Errors that end the run rather than one table's comparison: a cancel, a progress save that failed
 * (e.g. its row taken over by another run).
 */
function endsRun(e: unknown): boolean {
  return (
    (e instanceof PgdtsError && e.code === 'CANCELLED') ||
    (typeof e === 'object' && e !== null && progressErrors.has(e))
  );
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
 *   object is missing on the source, CANCELLED when `signal` aborted, the error of `progress`
 *   when a save failed. Per-table failures (missing table or column on the destination)
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
      await limiter.take(rows, bytes, opts.signal);
      checkCancelled(opts.signal);
    },
  };
  const openHasher = c.sink.openHasher;
  if (openHasher === undefined) {
    throw new PgdtsError('CONFIG_INVALID', `destination ${c.sink.description} cannot be verified`);
  }
  const openDestination = () => openHasher({ taskName: task.name });
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
    const live = (await streams(task, destination, opts.live))
      ? {
          source,
          destination,
          catchUpTimeoutMs: positiveInteger(
            'catchUpTimeoutMs',
            opts.catchUpTimeoutMs ?? DEFAULT_CATCH_UP_TIMEOUT_MS,
          ),
          pace: narrow.pace,
        }
      : undefined;
    const sessions: Sessions = {
      keys,
      source,
      destination,
      mode,
      narrow,
      onlyKeys: opts.onlyKeys,
      live,
      progress: opts.progress,
      signal: opts.signal,
    };
    const utf8 = await hashSettings(source, destination);
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
    const resume = opts.progress?.resumeFrom;
    const finished = new Map(resume?.tables.map((r) => [displayName(r.destinationTable), r]));
    for (const [name, group] of groups) {
      if (only !== undefined && !only.has(name)) continue;
      checkCancelled(opts.signal);
      // [V12] A table the stopped run finished is reported as it found it, not compared again.
      const done = finished.get(name);
      const partial = resume?.partial?.table === name ? resume.partial : undefined;
      const r = done ?? (await verifyTarget(sessions, group, utf8, chunkRows, partial));
      if (done === undefined) await opts.progress?.tableDone(r);
      results.push(r);
      opts.onTable?.(r);
    }
    return {
      mode,
      consistency: live === undefined ? 'offline' : 'live',
      tables: results,
      identical: results.every((r) => r.match),
      elapsedMs: Date.now() - started,
    };
  } finally {
    await Promise.all(opened.map((h) => h.close()));
  }
}

/** How both sides hash row texts: UTF-8 bytes when their encodings differ, md5 when their fast hashes do. */
export interface HashSettings {
  readonly utf8: boolean;
  readonly portableHash: boolean;
}

/** The {@link HashSettings} two sessions agree on. @throws {PgdtsError} VERIFY_MISMATCH. */
export async function hashSettings(source: TableHasher, destination: TableHasher): Promise<HashSettings> {
  const [se, de, sp, dp] = await Promise.all([
    source.encoding(),
    destination.encoding(),
    source.hashProbe(),
    destination.hashProbe(),
  ]);
  return { utf8: se !== de, portableHash: sp !== dp };
}

/**
 * Whether to verify live: the task streams into the destination (checkpoint phase `streaming`, status
 * row fresh), unless `wanted` says otherwise.
 * @throws {PgdtsError} CONFIG_INVALID when live is required and the task does not stream.
 */
async function streams(
  task: TaskConfig,
  destination: TableHasher,
  wanted: boolean | undefined,
): Promise<boolean> {
  if (wanted === false) return false;
  const p = await destination.taskPosition();
  const fresh = p?.statusAgeMs !== undefined && p.statusAgeMs < STREAMING_STATUS_AGE_MS;
  // Running (its lease held) as well as recently so: a task stopped a moment ago has a fresh status
  // row but will never apply up to a new snapshot.
  const streaming = p?.phase === 'streaming' && p.running && fresh && p.position !== undefined;
  if (wanted === true && !streaming) {
    const where =
      p === undefined
        ? 'the destination holds no bookkeeping of it'
        : `${p.running ? 'running' : 'not running'}, phase ${p.phase}, status ${p.statusAgeMs === undefined ? 'never written' : `${Math.round(p.statusAgeMs / 1000)} s old`}`;
    throw new PgdtsError(
      'CONFIG_INVALID',
      `--live: task ${task.name} is not streaming into the destination (${where})`,
    );
  }
  return streaming;
}

/** What both sides hash for one target: the kept columns under their names on each side. */
export function hashTargets(
  t: TableTarget,
  h: HashSettings,
): { source: HashTarget; destination: HashTarget } {
  const { utf8, portableHash } = h;
  const columns = [...t.columns, ...t.generatedColumns];
  const key = t.source.primaryKey.length > 0 ? t.source.primaryKey : t.source.replicaIdentityIndexColumns;
  const rename = new Map(columns.map((c) => [c.source, c.target]));
  return {
    source: {
      table: { schema: t.source.schema, name: t.source.name },
      columns: columns.map((c) => c.source),
      key,
      utf8,
      portableHash,
      ...(t.where === undefined ? {} : { where: t.where }),
    },
    destination: {
      table: t.table,
      columns: columns.map((c) => c.target),
      key: key.map((k) => rename.get(k) ?? k),
      utf8,
      portableHash,
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
  utf8: HashSettings,
  chunkRows: number,
  resume: PartialTableVerify | undefined,
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
      ...(await verifyTable(s, h.source, h.destination, chunkRows, shapeOf(first, h.destination), resume)),
    };
  }
  const started = Date.now();
  const tally = newTally();
  try {
    const readSources = async () => {
      const sources: RowsDigest[] = [];
      for (const g of group) sources.push(await digest(s, s.source, hashTargets(g, utf8).source));
      return s.mode === 'count' ? countDigests(sources) : addDigests(sources);
    };
    const readDestination = () => digest(s, s.destination, hashTargets(first, utf8).destination);
    let src = await readSources();
    let dest = await readDestination();
    await s.narrow.pace(src.rows + dest.rows, src.bytes + dest.bytes);
    if (src.digest !== dest.digest && s.live !== undefined) {
      const r = await recheckDigests(s.live, readSources, readDestination);
      tally.rechecked++;
      src = r.source;
      dest = r.destination;
    }
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
      ...liveResult(s, tally),
      elapsedMs: Date.now() - started,
    };
  } catch (e) {
    if (endsRun(e)) throw e;
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
  const tally = newTally();
  try {
    if (s.live !== undefined) {
      // Live: every given key is read at consistent points; rows counts are those of the keys found.
      const r = await recheckKeys(s.live, t, d, keys);
      tally.rechecked += keys.length;
      addUnsettled(tally, r.unsettled);
      found.differences.push(...r.confirmed);
      sourceRows = keys.length - r.confirmed.filter((x) => x.kind === 'extra').length;
      destinationRows = keys.length - r.confirmed.filter((x) => x.kind === 'missing').length;
    }
    for (let i = 0; s.live === undefined && i < keys.length; i += KEYS_PER_READ) {
      const batch = keys.slice(i, i + KEYS_PER_READ);
      const [a, b] = await Promise.all([s.source.readKeys(t, batch), s.destination.readKeys(d, batch)]);
      await s.narrow.pace(a.length + b.length, 0);
      sourceRows += a.length;
      destinationRows += b.length;
      found.differences.push(...diffKeyedRows(a, b));
    }
  } catch (e) {
    if (endsRun(e)) throw e;
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
    ...liveResult(s, tally),
    elapsedMs: Date.now() - started,
  };
}

async function verifyTable(
  s: Sessions,
  t: HashTarget,
  d: HashTarget,
  chunkRows: number,
  shape: RepairTable,
  resumeAt?: PartialTableVerify,
): Promise<Omit<TableVerifyResult, 'table' | 'destinationTable'>> {
  const method = t.key.length > 0 ? 'key' : 'multiset';
  // [V12] A resumed keyed table goes on with the stopped run's figures, after its last compared chunk.
  const resume = method === 'key' ? resumeAt : undefined;
  const started = Date.now() - (resume?.elapsedMs ?? 0);
  let sourceRows = resume?.sourceRows ?? 0;
  let destinationRows = resume?.destinationRows ?? 0;
  let chunks = resume?.chunks ?? 0;
  let firstDiff: DifferingChunk | undefined = resume?.firstDifferingChunk;
  const found: DifferenceSink = {
    differences: [...(resume?.differences ?? [])],
    truncated: resume?.truncated ?? false,
  };
  const tally = newTally();
  const sides = { source: s.source, destination: s.destination, sourceTarget: t, destinationTarget: d };
  const rowsOf = (): { rows?: TableRowDifferences } =>
    s.mode === 'rows' && firstDiff !== undefined
      ? { rows: { shape, differences: found.differences, truncated: found.truncated } }
      : {};
  try {
    if (method === 'multiset') {
      let [a, b] = await Promise.all([digest(s, s.source, t), digest(s, s.destination, d)]);
      await s.narrow.pace(a.rows + b.rows, a.bytes + b.bytes);
      if (a.digest !== b.digest && s.live !== undefined) {
        const r = await recheckDigests(
          s.live,
          () => digest(s, s.source, t),
          () => digest(s, s.destination, d),
        );
        tally.rechecked++;
        a = r.source;
        b = r.destination;
      }
      sourceRows = a.rows;
      destinationRows = b.rows;
      chunks = 1;
      if (a.digest !== b.digest) {
        firstDiff = { index: 0, after: undefined, upTo: undefined, sourceRows, destinationRows };
        if (s.mode === 'rows') await narrowKeyless(sides, s.narrow, found);
      }
    } else {
      let after: readonly string[] | undefined = resume?.after;
      // Rows mode (not live): each chunk is hashed in parts, so a differing chunk is cut already [V1].
      const plan =
        s.mode === 'rows' && s.live === undefined ? partPlan(chunkRows, s.narrow.leafRows) : undefined;
      const chunkAfter = async (from: readonly string[] | undefined): Promise<Chunk> => {
        if (plan === undefined) return { end: await s.keys.nextChunkEnd(t, from, chunkRows), bounds: [] };
        const keys = await s.keys.splitKeys(t, { after: from, upTo: undefined }, plan.step, plan.parts);
        return keys.length === plan.parts
          ? { end: keys[plan.parts - 1], bounds: keys.slice(0, -1) }
          : { end: undefined, bounds: keys };
      };
      let chunk = await chunkAfter(after);
      for (;;) {
        checkCancelled(s.signal);
        const end = chunk.end;
        const range: KeyRange = { after, upTo: end };
        // While both sides hash this chunk, the key session finds where the next one ends.
        const next = end === undefined ? Promise.resolve(undefined) : chunkAfter(end);
        let a: RowsDigest;
        let b: RowsDigest;
        let parts: readonly [RowsDigest[], RowsDigest[]] | undefined;
        if (plan === undefined) {
          [a, b] = await Promise.all([
            digest(s, s.source, t, range),
            digest(s, s.destination, d, range),
            next.catch(() => undefined),
          ]);
        } else {
          const [pa, pb] = await Promise.all([
            s.source.hashParts(t, range, chunk.bounds),
            s.destination.hashParts(d, range, chunk.bounds),
            next.catch(() => undefined),
          ]);
          parts = [pa, pb];
          a = addDigests(pa);
          b = addDigests(pb);
        }
        await s.narrow.pace(a.rows + b.rows, a.bytes + b.bytes);
        sourceRows += a.rows;
        destinationRows += b.rows;
        const differs =
          a.digest === b.digest
            ? false
            : s.live === undefined
              ? true
              : await liveChunk(s, sides, range, a, b, found, tally);
        if (differs && firstDiff === undefined) {
          firstDiff = { index: chunks, ...range, sourceRows: a.rows, destinationRows: b.rows };
        }
        if (differs && s.mode === 'rows' && s.live === undefined) {
          if (parts === undefined) await narrowRange(sides, range, a, b, s.narrow, found);
          else {
            const [pa, pb] = parts;
            for (let i = 0; i < pa.length && !found.truncated; i++) {
              const x = pa[i];
              const y = pb[i];
              if (x === undefined || y === undefined || x.digest === y.digest) continue;
              const part: KeyRange = {
                after: i === 0 ? range.after : chunk.bounds[i - 1],
                upTo: i === chunk.bounds.length ? range.upTo : chunk.bounds[i],
              };
              await narrowRange(sides, part, x, y, s.narrow, found);
            }
          }
        }
        chunks++;
        if (end === undefined) break;
        after = end;
        const partial: PartialTableVerify = {
          table: displayName(d.table),
          after: end,
          chunks,
          sourceRows,
          destinationRows,
          ...(firstDiff === undefined ? {} : { firstDifferingChunk: firstDiff }),
          differences: found.differences,
          truncated: found.truncated,
          elapsedMs: Date.now() - started,
        };
        await saved(() => s.progress?.chunkDone(partial));
        const following = await next;
        if (following === undefined) throw new PgdtsError('INTERNAL', 'no chunk after a chunk end');
        chunk = following;
      }
    }
  } catch (e) {
    if (endsRun(e)) throw e;
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
    ...liveResult(s, tally),
    elapsedMs: Date.now() - started,
  };
}

/** A key chunk: where it ends (undefined: the table's end) and, in rows mode, where its parts end. */
interface Chunk {
  readonly end: string[] | undefined;
  readonly bounds: readonly string[][];
}

/** Parts per chunk in rows mode and rows per part (each part about `leafRows` or more). */
function partPlan(chunkRows: number, leafRows: number): { parts: number; step: number } {
  const parts = Math.max(1, Math.min(FANOUT, Math.ceil(chunkRows / leafRows)));
  // Rounded down: a chunk never holds more than chunkRows rows.
  return { parts, step: Math.max(1, Math.floor(chunkRows / parts)) };
}

/**
 * Live [V8]: a chunk whose digests differ is narrowed to candidate rows (as rows mode does), which
 * are then re-checked at consistent points; the chunk differs when a difference is confirmed (count
 * mode: a missing or extra row). Rows mode adds the confirmed ones to `found`.
 * @returns whether the chunk really differs.
 */
async function liveChunk(
  s: Sessions,
  sides: NarrowSides,
  range: KeyRange,
  a: RowsDigest,
  b: RowsDigest,
  found: DifferenceSink,
  tally: LiveTally,
): Promise<boolean> {
  const live = s.live;
  if (live === undefined) throw new PgdtsError('INTERNAL', 'liveChunk outside a live verification');
  let [ha, hb] = [a, b];
  if (s.mode === 'count') {
    // Counts cannot be narrowed: hash the chunk on both sides first.
    [ha, hb] = await Promise.all([
      s.source.hashRows(sides.sourceTarget, range),
      s.destination.hashRows(sides.destinationTarget, range),
    ]);
    await s.narrow.pace(ha.rows + hb.rows, ha.bytes + hb.bytes);
  }
  const candidates: DifferenceSink = { differences: [], truncated: false };
  await narrowRange(sides, range, ha, hb, { ...s.narrow, maxDifferences: CANDIDATES_PER_CHUNK }, candidates);
  const keys = candidates.differences.flatMap((x) => (x.key === undefined ? [] : [x.key]));
  tally.rechecked += keys.length;
  const r = await recheckKeys(live, sides.sourceTarget, sides.destinationTarget, keys);
  addUnsettled(tally, r.unsettled);
  const confirmed = s.mode === 'count' ? r.confirmed.filter((x) => x.kind !== 'different') : r.confirmed;
  if (s.mode === 'rows') {
    for (const x of confirmed) {
      if (found.differences.length >= s.narrow.maxDifferences) {
        found.truncated = true;
        break;
      }
      found.differences.push(x);
    }
  }
  // More candidates than were re-checked: the rest cannot be told apart from real differences.
  if (candidates.truncated) found.truncated = true;
  return confirmed.length > 0 || candidates.truncated;
}
