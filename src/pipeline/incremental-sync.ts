/**
 * Incremental sync: consumes the source's change stream (whole committed transactions, in commit
 * order) and has the sink apply each exactly once, many source transactions per destination
 * transaction.
 *
 * Invariants (see task-lifecycle.md, "Incremental"):
 * - T5 a change to a table is applied only if its transaction commits at or after the LSN of the
 *   snapshot the table was copied under (SnapshotFilter);
 * - T6 after any crash the stream restarts from the applied position, and transactions committing
 *   before it are not delivered again;
 * - T7 the LSN acknowledged to the source is never ahead of the sink's durable position, except a
 *   watermark while nothing is pending and everything committed is durable;
 * - T8 a stop commits complete transactions, drops a partial one;
 * - memory is bounded whatever the transaction size: the sink flushes inside one open destination
 *   transaction, the source spills streamed transactions to disk until they commit.
 */
import { ApplyConflictError, CancelledError, PgdtsError } from '../core/errors.ts';
import { formatLsn, lsnDiffBytes, maxLsn, type Lsn } from '../core/lsn.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { Tuple } from '../core/change.ts';
import { EMPTY_TALLY, type ApplyTally, type ChangeApplier, type Sink, type TaskLease } from '../core/sink.ts';
import type { ChangeEvent, ChangeStream, Source } from '../core/source.ts';
import { targetSequences, type TableTarget } from '../core/table-targets.ts';
import { startTimeMsOf } from '../core/start-position.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { ChangeMapper, type FilterVerdicts } from './change-mapper.ts';
import { joinedMessage, NewTableWatcher } from './new-tables.ts';
import { followDdl } from './ddl-follower.ts';
import { sleep, withRetry, type RetryPolicy } from './retry.ts';
import { relationChangeFollower, SchemaChangeError } from './relation-changes.ts';
import { SnapshotFilter } from './snapshot-filter.ts';
import type { FlowLimiter } from './throttle.ts';
import type { FullSyncThrottle } from './task-control.ts';
import { ChangeSampler } from './verify/change-sampler.ts';

/** Inputs of {@link runIncrementalSync}. */
export interface IncrementalSyncOptions {
  readonly task: TaskConfig;
  readonly source: Source;
  readonly sink: Sink;
  readonly lease: TaskLease;
  /** The selected tables and what each becomes in the destination. */
  readonly targets: readonly TableTarget[];
  /** The slot's consistent point: where streaming starts when nothing was applied yet. */
  readonly slotLsn: Lsn;
  readonly retry: RetryPolicy;
  /** `incremental.throttle`: rows and bytes of changes passed to the sink; undefined: no limit. */
  readonly throttle?: FlowLimiter;
  /** `full.throttle`: the copies of tables joining the sync (T11); undefined: no limit. */
  readonly fullThrottle?: FullSyncThrottle;
  readonly onProgress: ProgressListener;
  readonly signal: AbortSignal;
}

/** Longest wait for the stream before housekeeping runs, ms. */
const IDLE_WAIT_MS = 100;

/**
 * Streams and applies until `signal` aborts. Retryable failures (dropped connections, server
 * restarts, deadlocks) reconnect with backoff and resume from the applied position.
 * @throws {CancelledError} on a requested stop, after committing complete transactions.
 * @throws {PgdtsError} when a non-retryable error occurs or its retry window (`retry.connectionMinutes`,
 *   `retry.otherMinutes`) has run out;
 *   {@link ApplyConflictError} naming the table, key and LSN of a row the destination lacks.
 */
export async function runIncrementalSync(o: IncrementalSyncOptions): Promise<void> {
  let singleRowUpTo: Lsn | undefined;
  let stopAt: SchemaChangeError | undefined;
  // One per run: the tables that joined stay joined in the sessions after a retry.
  const watcher = new NewTableWatcher({
    task: o.task,
    source: o.source,
    sink: o.sink,
    targets: o.targets,
    retry: o.retry,
    throttle: o.fullThrottle,
    onProgress: o.onProgress,
    signal: o.signal,
  });
  // A failing DDL is retried by replaying its batch; rows committed before it on each try count as
  // progress, so its own window is kept here: first failure of the same statement at the same LSN.
  const ddlFailingSince = new Map<string, number>();
  for (;;) {
    try {
      await withRetry(o.retry, o.signal, 'incremental sync', (progress) =>
        session(o, watcher, progress, singleRowUpTo, stopAt).catch((e: unknown) => {
          throw ddlGiveUp(e, ddlFailingSince, o.retry);
        }),
      );
      return;
    } catch (e) {
      // A multi-row statement missed a row: replay once with one statement per change up to there,
      // so the error names the exact row (the position is unchanged: nothing was committed).
      if (e instanceof ApplyConflictError && e.locateUpTo !== undefined && singleRowUpTo === undefined) {
        singleRowUpTo = e.locateUpTo;
        o.onProgress({
          kind: 'log',
          level: 'warn',
          message: `${e.message}; replaying up to ${formatLsn(e.locateUpTo)} one row at a time to name it`,
        });
        continue;
      }
      // A schema change it cannot follow: replay once committing every transaction before the one
      // it was found in, so the next run, after the destination is fixed, starts at that one.
      if (e instanceof SchemaChangeError && stopAt === undefined) {
        stopAt = e;
        o.onProgress({
          kind: 'log',
          level: 'warn',
          message: `${e.message}; committing the transactions before ${formatLsn(e.transactionLsn)} first`,
        });
        continue;
      }
      throw e;
    }
  }
}

interface Batch {
  txns: number;
  rows: number;
  bytes: number;
  /** When its first change arrived, ms; 0 while empty. */
  startedAt: number;
  lastCommitTimeMs: number | undefined;
}

const emptyBatch = (): Batch => ({ txns: 0, rows: 0, bytes: 0, startedAt: 0, lastCommitTimeMs: undefined });

async function session(
  o: IncrementalSyncOptions,
  watcher: NewTableWatcher,
  progress: () => void,
  singleRowUpTo: Lsn | undefined,
  stopAt: SchemaChangeError | undefined,
): Promise<void> {
  const inc = o.task.incremental;
  let applier: ChangeApplier | undefined;
  let stream: ChangeStream | undefined;
  let background: Promise<void> | undefined;
  let backgroundError: Error | undefined;
  let sampler: ChangeSampler | undefined;
  try {
    await o.lease.check();
    // [T11] Tables created in the selection since, or whose join a crash interrupted, join before
    // the stream opens: the filter and the mapper below then know them from table_sync.
    for (const t of (await watcher.check()).tables) {
      o.onProgress({ kind: 'log', level: 'info', message: joinedMessage(t) });
    }
    const filter = new SnapshotFilter(
      await o.sink.checkpoints.readTableSync(o.task.name),
      watcher.targets.map((t) => t.source),
    );
    const mapper = new ChangeMapper(watcher.targets, {
      filteredBySource: new Set((await o.source.changes.publicationRowFilters()).keys()),
    });
    const a = await o.sink.openApplier(o.task.name, {
      ...(singleRowUpTo === undefined ? {} : { singleRowUpTo }),
      onConflict: onConflictOf(o.task),
      tables: watcher.targets.map((t) => t.table),
      primaryKeyOf: (q) => {
        const t = watcher.targets.find((x) => x.table.schema === q.schema && x.table.name === q.name);
        if (t === undefined) return undefined;
        const names = new Map(t.columns.map((c) => [c.source, c.target]));
        return t.source.primaryKey.flatMap((c) => {
          const n = names.get(c);
          return n === undefined ? [] : [n];
        });
      },
    });
    applier = a;
    for (const w of a.warnings) o.onProgress({ kind: 'log', level: 'warn', message: w });
    // verify.continuous [V9]: a destination that cannot be verified (Kafka) is not sampled.
    if (o.task.verify.continuous && o.sink.openHasher !== undefined) {
      sampler = new ChangeSampler({
        task: o.task,
        source: o.source,
        sink: o.sink,
        rate: o.task.verify.sampleRate,
        onProgress: o.onProgress,
      });
      sampler.setTargets(watcher.targets);
    }
    const applied = a.startPosition;
    const startLsn = applied ? maxLsn(applied.lsn, o.slotLsn) : o.slotLsn;
    const st = await o.source.changes.openStream({
      startLsn,
      skipBefore: startLsn,
      skipCommittedBeforeMs: startTimeMsOf(o.task),
      onProgress: o.onProgress,
    });
    stream = st;
    o.onProgress({ kind: 'log', level: 'info', message: st.description });
    const follower = relationChangeFollower(o, a, () => watcher.targets);

    let batch = emptyBatch();
    /** Between begin and commit of a source transaction. */
    let inTransaction = false;
    let finalLsn: Lsn = startLsn;
    let acknowledged: Lsn = startLsn;
    let watermark: Lsn | undefined;
    let lastCommitTimeMs = applied?.commitTimeMs ?? Date.now();
    let rowsApplied = 0;
    /** Change bytes applied (pgoutput tuple data), for bytes/s. */
    let bytesApplied = 0;
    let bytesPerSec = 0;
    let tally: ApplyTally = applied?.tally ?? EMPTY_TALLY;
    let rateWindow = { at: Date.now(), rows: 0, bytes: 0 };
    let rowsPerSec = 0;
    let lastStatus = 0;
    let lastSequences = Date.now();
    let lastDurability = 0;
    let lastNewTableCheck = Date.now();
    /** A DDL created a table in the selection: join at the next point between transactions. */
    let joinDue = false;
    /** A followed DDL needs its destination transaction committed at its source commit (ddl-follower.ts). */
    let commitDue = false;

    /** [T7] acknowledges the durable position, or the watermark when everything is durable. */
    const acknowledge = async () => {
      lastDurability = Date.now();
      const d = await a.durablePosition();
      let ack = d.lsn;
      if (
        d.complete &&
        watermark !== undefined &&
        !inTransaction &&
        a.pendingTransactions === 0 &&
        (ack === undefined || watermark > ack)
      ) {
        ack = watermark;
      }
      if (ack !== undefined && ack > acknowledged) {
        acknowledged = ack;
        st.acknowledge(ack);
      }
    };

    const commitBatch = async () => {
      if (batch.txns === 0) return;
      tally = (await a.commitBatch()).tally;
      lastCommitTimeMs = batch.lastCommitTimeMs ?? lastCommitTimeMs;
      rowsApplied += batch.rows;
      bytesApplied += batch.bytes;
      batch = emptyBatch();
      progress();
      await acknowledge();
      sampler?.afterCommit();
    };

    /** Status, sequences and the lease, off the apply path (one at a time). */
    const housekeeping = async (now: number) => {
      if (now - lastStatus >= inc.statusIntervalMs) {
        lastStatus = now;
        await o.lease.check();
        const dt = (now - rateWindow.at) / 1000;
        if (dt >= 1) {
          rowsPerSec = (rowsApplied - rateWindow.rows) / dt;
          bytesPerSec = (bytesApplied - rateWindow.bytes) / dt;
          rateWindow = { at: now, rows: rowsApplied, bytes: bytesApplied };
        }
        const pos = await o.source.changes.position();
        const lagBytes = lsnDiffBytes(pos.currentLsn, acknowledged);
        const lagMs = lagBytes === 0 ? 0 : Math.max(0, now - lastCommitTimeMs);
        const retainedWalBytes = pos.retainedWalBytes ?? 0;
        const heartbeatLagMs = st.lastHeartbeat?.lagMs;
        o.onProgress({
          kind: 'status',
          lagBytes,
          lagMs,
          rowsPerSec,
          bytesPerSec,
          retainedWalBytes,
          flushedLsn: formatLsn(acknowledged),
          rowsApplied,
          tally,
          ...(heartbeatLagMs !== undefined ? { heartbeatLagMs } : {}),
        });
        await o.sink.checkpoints.writeStatus(o.task.name, {
          phase: 'incremental',
          sourceLsn: pos.currentLsn,
          flushedLsn: acknowledged,
          lagBytes,
          lagMs,
          rowsPerSec,
          retainedWalBytes,
          rowsApplied,
          tally,
          heartbeatLagMs,
        });
      }
      if (now - lastSequences >= inc.sequenceSyncIntervalMs && o.sink.sequences !== undefined) {
        lastSequences = now;
        await o.sink.sequences.setSequences(
          targetSequences(o.task, watcher.targets, await o.source.readSequences(o.task.objects)),
        );
      }
    };

    /** Starts housekeeping in the background when it is due and none is running. */
    const startHousekeeping = (now: number) => {
      if (
        background === undefined &&
        (now - lastStatus >= inc.statusIntervalMs || now - lastSequences >= inc.sequenceSyncIntervalMs)
      ) {
        background = housekeeping(now).then(
          () => {
            background = undefined;
          },
          (e: unknown) => {
            backgroundError = e instanceof Error ? e : new Error(String(e));
            background = undefined;
          },
        );
      }
    };

    /**
     * [T11] Between batches: commits the batch (the applied position is durable before the join),
     * lets housekeeping finish, joins the new tables and registers them with the mapper and the
     * filter. The stream is not read meanwhile: it has not received the ALTER PUBLICATION yet, so
     * every change of a joined table is still to come, and those before its snapshot LSN are dropped.
     */
    const joinNewTables = async () => {
      await commitBatch();
      await background;
      if (backgroundError !== undefined) throw backgroundError;
      const joined = await watcher.check();
      if (joined.targets.length === 0) return;
      const filtered = await o.source.changes.publicationRowFilters();
      for (const t of joined.targets)
        mapper.addTarget(t, filtered.has(`${t.source.schema}.${t.source.name}`));
      sampler?.setTargets(watcher.targets);
      for (const t of joined.tables) {
        if (t.snapshotLsn !== undefined) filter.addTable(t.table, t.snapshotLsn);
        o.onProgress({ kind: 'log', level: 'info', message: joinedMessage(t) });
      }
    };

    while (!o.signal.aborted) {
      if (backgroundError !== undefined) throw backgroundError;
      const now = Date.now();
      if (!inTransaction && (joinDue || now - lastNewTableCheck >= inc.newTableCheckIntervalMs)) {
        joinDue = false;
        await joinNewTables();
        lastNewTableCheck = Date.now();
        if (o.signal.aborted) break;
      }
      startHousekeeping(now);
      if (now - lastDurability >= IDLE_WAIT_MS) await acknowledge();
      // The time bound also holds while stream blocks (no commits) keep the stream busy.
      if (batch.txns > 0 && !inTransaction && now - batch.startedAt >= inc.batchMaxMs) await commitBatch();
      const events = await st.read(batch.txns > 0 && !inTransaction ? 0 : IDLE_WAIT_MS);
      if (events.length === 0) {
        // Nothing more received: commit what is complete now rather than at batchMaxMs, so batches
        // grow with the backlog and latency stays low when caught up (group commit).
        if (batch.txns > 0 && !inTransaction) await commitBatch();
        continue;
      }
      // Row filter verdicts per run of events up to a DDL: a DDL may rename a table, and the rows
      // after it map by the new name only once it is followed.
      for (const chunk of chunksAfterDdl(events)) {
        const verdicts = await rowFilterVerdicts(o.source, mapper, chunk);
        for (const e of chunk) {
          switch (e.kind) {
            case 'begin':
              if (stopAt !== undefined && e.finalLsn >= stopAt.transactionLsn) {
                await commitBatch();
                throw stopAt;
              }
              inTransaction = true;
              finalLsn = e.finalLsn;
              if (batch.startedAt === 0) batch.startedAt = Date.now();
              a.beginTransaction({ xid: e.xid, finalLsn: e.finalLsn, commitTimeMs: e.commitTimeMs });
              break;
            case 'change': {
              const c = filter.filter(e.change, finalLsn);
              if (c === undefined) break;
              const f = follower?.follow(c, finalLsn);
              if (f !== undefined) await f;
              const m = mapper.map(c, verdicts);
              batch.bytes += e.bytes;
              if (m.kind === 'skip') a.skip(m.operation);
              if (m.kind !== 'apply') break;
              // incremental.throttle: wait for the change's row and bytes (not while stopping); a
              // filtered-out change costs the destination nothing and is not metered. A throttled
              // read of many events holds the loop: status and the lease go on meanwhile.
              const w = o.throttle?.take(1, e.bytes, o.signal);
              if (w !== undefined) {
                startHousekeeping(Date.now());
                await w;
              }
              const p = a.add(m.change);
              if (p !== undefined) await p;
              sampler?.offer(c);
              batch.rows++;
              break;
            }
            case 'commit':
              a.commitTransaction(e.commit);
              inTransaction = false;
              batch.txns++;
              batch.lastCommitTimeMs = e.commit.commitTimeMs;
              if (
                commitDue ||
                batch.rows >= inc.batchMaxRows ||
                batch.bytes >= inc.batchMaxBytes ||
                Date.now() - batch.startedAt >= inc.batchMaxMs
              ) {
                commitDue = false;
                await commitBatch();
              }
              break;
            case 'ddl': {
              // [P9] In the DDL's own source transaction, in order with its rows.
              const f = await followDdl(e.ddl, finalLsn, {
                task: o.task,
                watcher,
                mapper,
                filter,
                applier: a,
                onProgress: o.onProgress,
              });
              if (f.join) joinDue = true;
              if (f.commit) commitDue = true;
              break;
            }
            case 'watermark':
              watermark = watermark === undefined ? e.lsn : maxLsn(watermark, e.lsn);
              break;
          }
        }
      }
    }
    // [T8] clean stop: keep every complete transaction, drop a half-received one (it is re-sent).
    if (inTransaction) await a.rollback();
    else await commitBatch();
    await background;
    // Wait briefly for the last commits to become durable, so the slot remembers them.
    for (let i = 0; i < 20; i++) {
      await acknowledge();
      if ((await a.durablePosition()).complete) break;
      await sleep(50);
    }
    throw new CancelledError();
  } catch (e) {
    await applier?.rollback();
    if (e instanceof PgdtsError) throw e;
    throw new PgdtsError('INTERNAL', `incremental sync: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  } finally {
    await background?.catch(() => undefined);
    await sampler?.close();
    await stream?.close();
    await applier?.close();
  }
}

/**
 * `e`, or, for a DDL failing on the destination (SCHEMA_SYNC_FAILED) for longer than
 * `retry.otherMinutes` since it first failed, the same error made final (not retryable).
 */
function ddlGiveUp(e: unknown, since: Map<string, number>, retry: RetryPolicy): unknown {
  if (!(e instanceof PgdtsError) || e.code !== 'SCHEMA_SYNC_FAILED' || !e.retryable) return e;
  if (e.retryWindow !== 'other') return e;
  const now = Date.now();
  const first = since.get(e.message) ?? now;
  since.set(e.message, first);
  if (now - first < retry.otherWindowMs) return e;
  return new PgdtsError(
    'SCHEMA_SYNC_FAILED',
    `${e.message}; retried for ${Math.round((now - first) / 1000)} s (retry.otherMinutes): the task stops, keeping its position`,
    {
      cause: e,
      ...(e.sqlState === undefined ? {} : { sqlState: e.sqlState }),
      ...(e.hint === undefined ? {} : { hint: e.hint }),
    },
  );
}

/**
 * What the applier does with a row that is missing or already there: `onConflict`, and overwrite
 * for tables used as they are (`conflictingTables: ignore`: incremental sync overwrites their rows).
 */
export function onConflictOf(task: TaskConfig): 'error' | 'overwrite' {
  return task.onConflict === 'overwrite' || task.conflictingTables === 'ignore' ? 'overwrite' : 'error';
}

/** `events` cut after each `ddl` event (one chunk when there is none). */
export function chunksAfterDdl(events: readonly ChangeEvent[]): (readonly ChangeEvent[])[] {
  const out: (readonly ChangeEvent[])[] = [];
  let from = 0;
  events.forEach((e, i) => {
    if (e.kind !== 'ddl') return;
    out.push(events.slice(from, i + 1));
    from = i + 1;
  });
  if (from < events.length || out.length === 0) out.push(from === 0 ? events : events.slice(from));
  return out;
}

/**
 * Row filter verdicts for the changes of `events` the publication did not filter: one evaluation
 * per table on the source, for the whole read.
 */
async function rowFilterVerdicts(
  source: Source,
  mapper: ChangeMapper,
  events: readonly ChangeEvent[],
): Promise<FilterVerdicts | undefined> {
  const requests = mapper.filterRequests(events.flatMap((e) => (e.kind === 'change' ? [e.change] : [])));
  if (requests.length === 0) return undefined;
  const verdicts = new WeakMap<Tuple, boolean>();
  for (const r of requests) {
    const v = await source.evaluateRowFilter(r);
    r.tuples.forEach((t, i) => verdicts.set(t, v[i] ?? false));
  }
  return (t) => verdicts.get(t);
}
