/**
 * Runs a task through its phases — schema, full, incremental — resuming from the phase recorded in
 * the sink's checkpoints. The state machine and its invariants are in task-lifecycle.md. The runner
 * talks to the source and the sink only through the core interfaces: it never sees a connection.
 */
import { ddlSchemasOf } from '../core/ddl.ts';
import { rowFilterIdentityMessage, rowFilterIdentityProblem } from '../core/row-filter-identity.ts';
import { resolveTargets, targetSequences, type TableTarget } from '../core/table-targets.ts';
import { CancelledError, ConfigError, PgdtsError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import type { Lsn } from '../core/lsn.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { SchemaModel } from '../core/schema-model.ts';
import type { Sink, TaskLease, TaskPhase } from '../core/sink.ts';
import type { SlotSnapshot, Snapshot, Source } from '../core/source.ts';
import type { RetryWindow } from '../core/sqlstate.ts';
import { hasSyncType, type TaskConfig } from '../core/task-config.ts';
import { runFullSync } from './full-sync.ts';
import { runIncrementalSync } from './incremental-sync.ts';
import { establishedTargets } from './new-tables.ts';
import { withRetry, type RetryClock, type RetryPolicy } from './retry.ts';
import { applyPostDataSchema, applyPreDataSchema } from './schema-sync.ts';
import { TaskControl } from './task-control.ts';

/** Options of {@link runTask}. */
export interface RunTaskOptions {
  readonly source: Source;
  readonly sink: Sink;
  /** Aborting stops the task cleanly; committed work stays and the next run resumes. */
  readonly signal: AbortSignal;
  readonly onProgress: ProgressListener;
  /** The retry helper's clock; default the system clock (tests run long retry windows on a fake one). */
  readonly retryClock?: RetryClock;
  /** The task's throttle, to change it while the task runs; default one made from `task`. */
  readonly control?: TaskControl;
}

const PHASE_ORDER: readonly TaskPhase[] = ['new', 'schema', 'copied', 'indexed', 'streaming'];
const reached = (have: TaskPhase, want: TaskPhase) => PHASE_ORDER.indexOf(have) >= PHASE_ORDER.indexOf(want);

/**
 * Refuses a task the sink cannot carry (a sync type whose capability it lacks) before anything runs.
 * @throws {ConfigError} naming `syncTypes`.
 */
export function checkCapabilities(task: TaskConfig, sink: Sink): void {
  const missing = [
    ...(hasSyncType(task, 'schema') && sink.schema === undefined ? ['schema'] : []),
    ...(hasSyncType(task, 'full') && sink.rows === undefined ? ['full'] : []),
  ];
  if (missing.length > 0) {
    throw new ConfigError(
      'syncTypes',
      `destination ${sink.description} cannot do ${missing.join(', ')} sync: remove it from syncTypes`,
    );
  }
}

/**
 * Runs `task` to completion (without incremental) or until `signal` aborts (with incremental). Holds
 * the task's lease for the whole run, so a second run of the same task is refused.
 * @throws {CancelledError} when stopped on request (the CLI exits 0).
 * @throws {PgdtsError} when a phase fails after its retries; the checkpoint is kept for the next run.
 */
export async function runTask(task: TaskConfig, o: RunTaskOptions): Promise<void> {
  checkCapabilities(task, o.sink);
  const retry = retryPolicy(task, o);
  const step = <T>(what: string, fn: () => Promise<T>) => withRetry(retry, o.signal, what, fn);
  await step('connect', async () => {
    await o.source.serverInfo();
    await o.sink.serverInfo();
  });
  if (hasSyncType(task, 'incremental')) {
    await step('check the change capture options', () => o.source.changes.checkOptions());
  }
  await step('prepare the bookkeeping', () => o.sink.checkpoints.ensure());
  const lease = await step('take the task lease', () => o.sink.checkpoints.acquireLease(task.name));
  try {
    await step('record the task', () => o.sink.checkpoints.createTask(task.name));
    await step('check the source identity', () => checkSourceIdentity(task, o));
    try {
      await runPhases(task, { ...o, retry, lease, step, throttle: o.control ?? new TaskControl(task) });
    } catch (e) {
      if (!(e instanceof CancelledError)) {
        await o.sink.checkpoints.setError(task.name, (e as Error).message).catch(() => undefined);
      }
      throw e;
    }
  } finally {
    await lease.release();
  }
}

/** The key of each retry window in the task file. */
const WINDOW_KEYS = { connection: 'connectionMinutes', other: 'otherMinutes' } as const;

/** The task's retry windows and backoff, logging each retry and the end of a window. */
function retryPolicy(task: TaskConfig, o: RunTaskOptions): RetryPolicy {
  const minutes = (w: RetryWindow) => task.retry[WINDOW_KEYS[w]];
  return {
    connectionWindowMs: task.retry.connectionMinutes * 60_000,
    otherWindowMs: task.retry.otherMinutes * 60_000,
    initialDelayMs: task.retry.initialDelayMs,
    maxDelayMs: task.retry.maxDelayMs,
    ...(o.retryClock !== undefined ? { clock: o.retryClock } : {}),
    onRetry: (e, ms, what, w) =>
      o.onProgress({
        kind: 'log',
        level: 'warn',
        retry: { code: e.code, window: w },
        message: `${what}: ${e.code}: ${e.message}; retrying in ${ms} ms (${w === 'connection' ? 'a connection failure' : 'not a connection failure'}: retried for up to ${minutes(w)} min, retry.${WINDOW_KEYS[w]})`,
      }),
    onGiveUp: (e, what, w, ms) =>
      o.onProgress({
        kind: 'log',
        level: 'error',
        message: `${what}: ${w === 'connection' ? 'connection failures' : 'retryable errors'} for ${(ms / 60_000).toFixed(1)} min, retry.${WINDOW_KEYS[w]} = ${minutes(w)} min has run out: giving up (the checkpoint is kept; run again to resume)`,
      }),
  };
}

/**
 * [T9] The destination keeps the identity (system identifier, timeline) of the source cluster it is
 * filled from; a run against another cluster, or a source restored from a backup or promoted from a
 * standby (a new timeline: its history forked from what was streamed), is refused rather than mixed
 * in.
 * @throws {PgdtsError} CHECKPOINT_CONFLICT (not retryable) naming both identities.
 */
async function checkSourceIdentity(task: TaskConfig, o: RunTaskOptions): Promise<void> {
  const id = await o.source.identity();
  const recorded = (await o.sink.checkpoints.readTask(task.name))?.sourceIdentity;
  if (recorded === undefined) {
    await o.sink.checkpoints.setSourceIdentity(task.name, id);
    return;
  }
  const hint = `if this is intended, start the task anew: pgdts release, then empty the destination tables`;
  if (recorded.systemId !== id.systemId) {
    throw new PgdtsError(
      'CHECKPOINT_CONFLICT',
      `the destination holds task ${task.name} filled from source cluster ${recorded.systemId}, but ${o.source.description} is cluster ${id.systemId}: another server`,
      { hint },
    );
  }
  if (recorded.timeline !== id.timeline) {
    throw new PgdtsError(
      'CHECKPOINT_CONFLICT',
      `source ${o.source.description} is now on timeline ${id.timeline}, task ${task.name} streamed timeline ${recorded.timeline}: it was restored from a backup or promoted from a standby, and its history no longer matches what the destination holds`,
      { hint },
    );
  }
}

interface Ctx extends RunTaskOptions {
  readonly retry: RetryPolicy;
  readonly lease: TaskLease;
  readonly step: <T>(what: string, fn: () => Promise<T>) => Promise<T>;
  readonly throttle: TaskControl;
}

async function runPhases(task: TaskConfig, c: Ctx): Promise<void> {
  const cp = c.sink.checkpoints;
  const listed = await c.step('list the selected tables', () => c.source.listTables(task.objects));
  let targets = resolveTargets(task, listed);
  // Before anything is copied or published: a row filter must be one condition the source accepts.
  await c.step('check the row filters', () =>
    checkRowFilters(c.source, targets, hasSyncType(task, 'incremental')),
  );
  let phase: TaskPhase = (await c.step('read the task', () => cp.readTask(task.name)))?.phase ?? 'new';
  const incremental = hasSyncType(task, 'incremental');
  const full = hasSyncType(task, 'full');
  const schema = hasSyncType(task, 'schema');
  if (incremental && full && reached(phase, 'copied')) {
    // [T11] The copy is over: a table without a done copy was created since, or its join was
    // interrupted. It joins when streaming starts (publication, temporary slot, copy), not here.
    const rows = await c.step('read the copy progress', () => cp.readTableSync(task.name));
    targets = establishedTargets(targets, rows);
  }
  const tables = targets.map((t) => t.source);

  // The pre-data model, kept for the post-data of a task that does not stream. A streaming task reads
  // the source again after the copy: an index created between the first read and the DDL capture's
  // installation (before the slot) would otherwise be lost, since the capture never saw it.
  let preData: SchemaModel | undefined;
  if (!reached(phase, 'schema')) {
    if (schema && c.sink.schema !== undefined) {
      c.onProgress({ kind: 'phase', phase: 'schema' });
      const model = await c.step('schema sync', () =>
        applyPreDataSchema(c.source, c.sink, task, targets, c.onProgress),
      );
      if (!incremental) preData = model;
    }
    await cp.setPhase(task.name, 'schema');
    phase = 'schema';
  }
  if (c.signal.aborted) throw new CancelledError();

  if (incremental) {
    await c.step('create the publication', async () => {
      const { created } = await c.source.changes.ensurePublication(tables, rowFiltersOf(targets));
      await cp.setPublicationCreated(task.name, c.source.changes.publicationName, created);
    });
    // Before the slot (a DDL between the slot's consistent point and the trigger would be lost), and
    // on every run: a capture dropped meanwhile is installed again.
    const ddl = await c.step('install the DDL capture', () => c.source.changes.ensureDdlCapture());
    c.onProgress({
      kind: 'log',
      level: ddl.on || ddlSchemasOf(task).length === 0 ? 'info' : 'warn',
      message: ddl.on
        ? `DDL capture ${ddl.installedNow ? 'installed' : 'on'}: schema changes on the selected schemas are followed`
        : `DDL capture off: ${ddl.reason}`,
    });
  }

  if (!reached(phase, 'copied')) {
    if (full && c.sink.rows !== undefined) {
      const rows = c.sink.rows;
      c.onProgress({ kind: 'phase', phase: 'full' });
      const snapshot = await c.step('take the snapshot', () => takeSnapshot(task, c, incremental));
      try {
        await runFullSync({
          taskName: task.name,
          targets,
          mode: { keepExisting: task.conflictingTables === 'ignore' },
          snapshot,
          checkpoints: cp,
          rows,
          jobs: task.full.jobs,
          splitAboveBytes: task.full.splitTablesLargerThanBytes,
          rangeSizeBytes: task.full.rangeSizeBytes,
          retry: c.retry,
          throttle: c.throttle.full,
          onProgress: c.onProgress,
          signal: c.signal,
        });
      } finally {
        await snapshot.release();
      }
    } else if (incremental) {
      // Incremental only: stream from the slot's consistent point, nothing to copy.
      await (await c.step('create the replication slot', () => ensureSlot(task, c)))?.release();
    }
    await cp.setPhase(task.name, 'copied');
    phase = 'copied';
  }
  if (c.signal.aborted) throw new CancelledError();

  if (!reached(phase, 'indexed')) {
    if (schema && c.sink.schema !== undefined) {
      c.onProgress({ kind: 'phase', phase: 'indexes' });
      await c.step('schema sync (post-data)', () =>
        applyPostDataSchema(c.source, c.sink, task, targets, c.onProgress, preData),
      );
    }
    if (full) {
      c.onProgress({ kind: 'phase', phase: 'sequences' });
      await c.step('set sequences', () => syncSequences(task, c, targets));
    }
    await cp.setPhase(task.name, 'indexed');
    phase = 'indexed';
  }

  if (incremental) {
    const slotLsn = (await cp.readTask(task.name))?.slotLsn;
    if (slotLsn === undefined) {
      throw new PgdtsError(
        'CHECKPOINT_CONFLICT',
        `task ${task.name} has no recorded replication slot position`,
      );
    }
    if (phase !== 'streaming') await cp.setPhase(task.name, 'streaming');
    c.onProgress({ kind: 'phase', phase: 'incremental' });
    await runIncrementalSync({
      task,
      source: c.source,
      sink: c.sink,
      lease: c.lease,
      targets,
      slotLsn,
      retry: c.retry,
      throttle: c.throttle.incremental,
      fullThrottle: c.throttle.full,
      onProgress: c.onProgress,
      signal: c.signal,
    });
    return;
  }
  c.onProgress({ kind: 'phase', phase: 'done' });
}

/**
 * The snapshot to copy under. With incremental: the task's slot snapshot when the slot is created now;
 * when the slot already exists (a resumed run), its snapshot is gone, so a temporary slot provides a
 * fresh snapshot with a known LSN, and tables copied under it skip the transactions before that LSN.
 */
async function takeSnapshot(task: TaskConfig, c: Ctx, incremental: boolean): Promise<Snapshot> {
  if (!incremental) return c.source.createPlainSnapshot();
  const created = await ensureSlot(task, c);
  return created ?? c.source.changes.createTemporarySnapshot();
}

/**
 * Makes sure the task's slot exists and its consistent point is recorded [S2]; a slot the task
 * streams but did not create (`incremental.existingSlot`) is taken over at its confirmed position
 * and recorded as not created [S8]. Returns the exported snapshot when the slot was created now (the
 * caller releases it), undefined when it existed.
 * @throws {PgdtsError} CHECKPOINT_CONFLICT when an existing slot has no confirmed LSN;
 *   SOURCE_UNSUPPORTED when the existing slot cannot be streamed.
 */
async function ensureSlot(task: TaskConfig, c: Ctx): Promise<SlotSnapshot | undefined> {
  const changes = c.source.changes;
  const record = (slotLsn: Lsn, slotCreated: boolean) =>
    c.sink.checkpoints.setSlot(task.name, {
      slotName: changes.slotName,
      publicationName: changes.publicationName,
      slotLsn,
      slotCreated,
    });
  if (task.incremental.existingSlot !== undefined) {
    // Checked and recorded once: a later run finds its own (orphaned) walsender on it [S6].
    if ((await c.sink.checkpoints.readTask(task.name))?.slotLsn === undefined) {
      await record(await changes.adoptSlot(), false);
    }
    return undefined;
  }
  const existing = await changes.readSlot();
  if (!existing) {
    const snap = await changes.createSlot();
    try {
      await record(snap.lsn, true);
    } catch (e) {
      await snap.release();
      throw e;
    }
    return snap;
  }
  if ((await c.sink.checkpoints.readTask(task.name))?.slotLsn === undefined) {
    // Crashed between creating the slot and recording it: a slot never streamed from still has its
    // consistent point as confirmed_flush_lsn.
    if (existing.confirmedFlushLsn === undefined) {
      throw new PgdtsError(
        'CHECKPOINT_CONFLICT',
        `replication slot ${changes.slotName} exists but has no confirmed LSN`,
      );
    }
    await record(existing.confirmedFlushLsn, true);
  }
  return undefined;
}

async function syncSequences(task: TaskConfig, c: Ctx, targets: readonly TableTarget[]): Promise<void> {
  if (c.sink.sequences === undefined) return;
  const missing = await c.sink.sequences.setSequences(
    targetSequences(task, targets, await c.source.readSequences(task.objects)),
  );
  for (const m of missing) {
    c.onProgress({
      kind: 'log',
      level: 'warn',
      message: `sequence ${displayName(m)} does not exist in the destination`,
    });
  }
}

/** The row filters of `targets`, by source table (`schema.name`). */
function rowFiltersOf(targets: readonly TableTarget[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const t of targets) if (t.where !== undefined) m.set(displayName(t.source), t.where);
  return m;
}

/**
 * Has the source check each row filter on its table (a partition's is its root's) and, with
 * incremental sync, applies the replica identity rule to every table it filters (see
 * core/row-filter-identity.ts) before anything is published.
 * @throws {ConfigError} naming `objects[i].where` when one is not a valid condition there or breaks
 *   the rule.
 */
async function checkRowFilters(
  source: Source,
  targets: readonly TableTarget[],
  incremental: boolean,
): Promise<void> {
  const referenced = new Map<string, readonly string[]>();
  for (const t of targets) {
    if (t.where === undefined) continue;
    const path = `objects[${t.entry}].where`;
    const root = t.source.partitionRoot ?? t.source;
    let columns = referenced.get(displayName(root));
    if (columns === undefined) {
      columns = await source.checkRowFilter(root, t.where, path);
      referenced.set(displayName(root), columns);
    }
    if (!incremental || t.source.relkind !== 'r') continue;
    const bad = rowFilterIdentityProblem(t.source, columns);
    if (bad !== undefined) {
      throw new ConfigError(path, rowFilterIdentityMessage(displayName(t.source), bad));
    }
  }
}
