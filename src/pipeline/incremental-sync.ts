/**
 * Incremental sync: streams the task's replication slot (pgoutput) and applies every committed source
 * transaction to the destination exactly once, in commit order.
 *
 * Invariants (see task-lifecycle.md, "Incremental"):
 * - the flush LSN sent to the source is never ahead of the end LSN of the last transaction whose
 *   destination commit (which also wrote that LSN to pgdts.applied_position) has returned;
 * - after any crash the stream restarts from the applied position and transactions whose commit LSN
 *   lies before it are skipped, so nothing is applied twice;
 * - a change to a table is applied only if its transaction commits at or after the LSN of the snapshot
 *   the table was copied under;
 * - memory is bounded whatever the transaction size: plain transactions are applied in flushes inside
 *   one open destination transaction, streamed ones are spilled to disk until they commit.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { Change, TransactionCommit } from '../core/change.ts';
import { CancelledError, isRetryable, PgdtsError } from '../core/errors.ts';
import { formatLsn, lsnDiffBytes, maxLsn, parseLsn, type Lsn } from '../core/lsn.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { connect, serverMajorVersion, wrapPgError, type ConnectionParams } from '../pg/connection.ts';
import { decodePgoutput, PgoutputStreamDecoder } from '../source/postgres/pgoutput/pgoutput-decoder.ts';
import type { PgoutputMessage } from '../source/postgres/pgoutput/pgoutput-message.ts';
import { RelationCache } from '../source/postgres/pgoutput/relation-cache.ts';
import { encodeStandbyStatus, parseReplicationFrame } from '../source/postgres/pgoutput/replication-frame.ts';
import { ReplicationStream } from '../source/postgres/replication-stream.ts';
import type { SelectedTable } from '../source/postgres/selected-tables.ts';
import { readSequences } from '../source/postgres/sequences.ts';
import { ChangeApplier } from '../sink/postgres/apply/change-applier.ts';
import { ensureApplyBookkeeping, readAppliedPosition } from '../sink/postgres/apply/applied-position.ts';
import { readTableSync, writeStatus } from '../sink/postgres/bookkeeping.ts';
import { setSequences } from '../sink/postgres/sequences.ts';
import type { ProgressListener } from './progress.ts';
import { sleep, type RetryPolicy } from './retry.ts';
import { SpillDirectory } from './spill-file.ts';

/** Inputs of {@link runIncrementalSync}. */
export interface IncrementalSyncOptions {
  readonly task: TaskConfig;
  readonly source: ConnectionParams;
  readonly destination: ConnectionParams;
  readonly tables: readonly SelectedTable[];
  readonly slotName: string;
  readonly publicationName: string;
  /** The slot's consistent point: where streaming starts when nothing was applied yet. */
  readonly slotLsn: Lsn;
  readonly retry: RetryPolicy;
  readonly onProgress: ProgressListener;
  readonly signal: AbortSignal;
}

/**
 * Streams and applies until `signal` aborts. Retryable failures (dropped connections, server
 * restarts) reconnect with backoff and resume from the applied position.
 * @throws {CancelledError} on a requested stop, after committing complete transactions.
 * @throws {PgdtsError} when a non-retryable error occurs or retrying has gone on for `retry.maxElapsedMs`.
 */
export async function runIncrementalSync(o: IncrementalSyncOptions): Promise<void> {
  let failingSince: number | undefined;
  let delay = o.retry.initialDelayMs;
  for (;;) {
    const started = Date.now();
    try {
      await session(o);
      return;
    } catch (caught) {
      if (caught instanceof CancelledError || o.signal.aborted) throw new CancelledError();
      // Errors from status and sequence queries arrive raw: classify them by SQLSTATE / socket code.
      const e = wrapPgError('REPLICATION_FAILED', 'incremental sync', caught);
      // A session that streamed for a while before failing starts a fresh retry budget.
      if (Date.now() - started > 60_000) {
        failingSince = undefined;
        delay = o.retry.initialDelayMs;
      }
      failingSince ??= Date.now();
      if (!isRetryable(e) || Date.now() - failingSince + delay > o.retry.maxElapsedMs) throw e;
      const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
      o.retry.onRetry?.(e, wait, 'incremental sync');
      await sleep(wait, o.signal);
      delay = Math.min(o.retry.maxDelayMs, delay * 2);
    }
  }
}

/** Snapshot LSN per relation name as changes name it (partitions publish via their root). */
async function tableSnapshotLsns(dst: pg.Client, o: IncrementalSyncOptions): Promise<Map<string, Lsn>> {
  const rows = await readTableSync(dst, o.task.name);
  const map = new Map<string, Lsn>();
  for (const r of rows) {
    if (r.snapshotLsn === undefined) continue;
    const t = o.tables.find((x) => x.schema === r.schema && x.name === r.name);
    const key = t?.partitionRoot
      ? `${t.partitionRoot.schema}.${t.partitionRoot.name}`
      : `${r.schema}.${r.name}`;
    // Leaves of one root are always (re)copied together under one snapshot; max() is belt and braces.
    map.set(key, maxLsn(map.get(key) ?? (0n as Lsn), r.snapshotLsn));
  }
  return map;
}

async function session(o: IncrementalSyncOptions): Promise<void> {
  const inc = o.task.incremental;
  const dst = await connect(o.destination, { role: 'destination', applicationName: 'pgdts-apply' });
  let aux: { src: pg.Client; dst: pg.Client } | undefined;
  let stream: ReplicationStream | undefined;
  const spill = new SpillDirectory(path.join(tmpdir(), `pgdts-spill-${o.task.name}-${process.pid}`));
  let applier: ChangeApplier | undefined;
  try {
    await ensureApplyBookkeeping(dst);
    const applied = await readAppliedPosition(dst, o.task.name);
    const snapshots = await tableSnapshotLsns(dst, o);
    let flushedLsn: Lsn = applied ? maxLsn(applied.lsn, o.slotLsn) : o.slotLsn;
    let lastCommitTimeMs = applied?.commitTimeMs ?? Date.now();
    const a = new ChangeApplier({
      client: dst,
      taskName: o.task.name,
      tableSnapshotLsn: (schema, name) => snapshots.get(`${schema}.${name}`),
    });
    applier = a;
    aux = {
      src: await connect(o.source, { role: 'source', applicationName: 'pgdts-status' }),
      dst: await connect(o.destination, { role: 'destination', applicationName: 'pgdts-status' }),
    };
    const major = await serverMajorVersion(aux.src);
    const protoVersion = major >= 14 ? 2 : 1;
    const st = await ReplicationStream.start(o.source, {
      slotName: o.slotName,
      publicationName: o.publicationName,
      startLsn: flushedLsn,
      protoVersion,
      streaming: protoVersion >= 2,
      messages: false,
    });
    stream = st;
    o.onProgress({
      kind: 'log',
      level: 'info',
      message: `streaming from ${formatLsn(flushedLsn)} (pgoutput protocol ${protoVersion}${protoVersion >= 2 ? ', streaming on' : ''})`,
    });

    const decoder = new PgoutputStreamDecoder();
    const relations = new RelationCache();
    /** Set between Begin and Commit of a plain transaction. */
    let open: { xid: number; finalLsn: Lsn; skip: boolean } | undefined;
    const abortedSubXids = new Map<number, Set<number>>();
    let batch = {
      txns: 0,
      rows: 0,
      bytes: 0,
      startedAt: 0,
      last: undefined as TransactionCommit | undefined,
    };
    let receivedLsn: Lsn = flushedLsn;
    let serverWalEnd: Lsn = flushedLsn;
    let lastStatusSent = 0;
    let lastStatusWritten = 0;
    let lastSequenceSync = Date.now();
    let rowsApplied = 0;
    let rateWindow = { at: Date.now(), rows: 0 };
    let rowsPerSec = 0;

    const sendStatus = (replyRequested = false) => {
      st.send(
        encodeStandbyStatus({
          written: maxLsn(receivedLsn, flushedLsn),
          flushed: flushedLsn,
          applied: flushedLsn,
          clientTimeMs: Date.now(),
          replyRequested,
        }),
      );
      lastStatusSent = Date.now();
    };

    const commitBatch = async () => {
      if (batch.txns === 0 || !batch.last) return;
      const r = await a.commitBatch();
      flushedLsn = maxLsn(flushedLsn, r.appliedLsn);
      lastCommitTimeMs = batch.last.commitTimeMs;
      rowsApplied += batch.rows;
      batch = { txns: 0, rows: 0, bytes: 0, startedAt: 0, last: undefined };
      sendStatus();
    };

    const applyChange = async (c: Change, bytes: number) => {
      if (batch.startedAt === 0) batch.startedAt = Date.now();
      await a.add(c);
      batch.rows++;
      batch.bytes += bytes;
    };

    const endSourceTransaction = async (xid: number, m: Omit<TransactionCommit, 'xid'>) => {
      const commit: TransactionCommit = {
        xid,
        commitLsn: m.commitLsn,
        endLsn: m.endLsn,
        commitTimeMs: m.commitTimeMs,
      };
      a.commitSourceTransaction(commit);
      batch.txns++;
      batch.last = commit;
      if (
        batch.rows >= inc.batchMaxRows ||
        batch.bytes >= inc.batchMaxBytes ||
        Date.now() - batch.startedAt >= inc.batchMaxMs
      ) {
        await commitBatch();
      }
    };

    /** Applies one decoded message outside stream blocks. */
    const handle = async (m: PgoutputMessage, bytes: number) => {
      switch (m.tag) {
        case 'begin': {
          // Transactions arrive in commit order: one committing before the applied position was applied.
          const skip = m.finalLsn < flushedLsn;
          open = { xid: m.xid, finalLsn: m.finalLsn, skip };
          if (!skip) {
            if (batch.startedAt === 0) batch.startedAt = Date.now();
            a.beginSourceTransaction({ xid: m.xid, finalLsn: m.finalLsn });
          }
          return;
        }
        case 'commit': {
          const t = open;
          open = undefined;
          if (!t || t.skip) return;
          await endSourceTransaction(t.xid, m);
          return;
        }
        case 'relation':
          relations.add(m);
          return;
        case 'insert':
        case 'update':
        case 'delete':
        case 'truncate':
          if (open && !open.skip) await applyChange(relations.toChange(m), bytes);
          return;
        case 'stream-commit': {
          const skip = m.commitLsn < flushedLsn;
          const aborted = abortedSubXids.get(m.xid);
          abortedSubXids.delete(m.xid);
          if (skip) {
            await spill.discard(m.xid);
            return;
          }
          if (batch.startedAt === 0) batch.startedAt = Date.now();
          a.beginSourceTransaction({ xid: m.xid, finalLsn: m.commitLsn });
          for await (const raw of spill.replay(m.xid)) {
            // Spilled messages came from inside stream blocks: they carry an xid after the tag.
            const msg = decodePgoutput(raw, { inStream: true });
            switch (msg.tag) {
              case 'relation':
                relations.add(msg);
                break;
              case 'insert':
              case 'update':
              case 'delete':
              case 'truncate':
                if (msg.xid !== undefined && aborted?.has(msg.xid)) break;
                await applyChange(relations.toChange(msg), raw.length);
                break;
              default:
                break;
            }
          }
          await endSourceTransaction(m.xid, m);
          return;
        }
        case 'stream-abort':
          if (m.subXid === m.xid) {
            abortedSubXids.delete(m.xid);
            await spill.discard(m.xid);
          } else {
            const s = abortedSubXids.get(m.xid) ?? new Set<number>();
            s.add(m.subXid);
            abortedSubXids.set(m.xid, s);
          }
          return;
        case 'origin':
        case 'type':
        case 'message':
        case 'stream-start':
        case 'stream-stop':
          return;
        case 'begin-prepare':
        case 'prepare':
        case 'commit-prepared':
        case 'rollback-prepared':
        case 'stream-prepare':
          throw new PgdtsError(
            'REPLICATION_FAILED',
            `unexpected two-phase message ${m.tag} (two_phase is not enabled)`,
          );
      }
    };

    const housekeeping = async () => {
      const now = Date.now();
      if (now - lastStatusSent >= 1000) {
        // Idle and nothing pending: every transaction before the server's WAL end has been applied.
        const idle = !open && batch.txns === 0 && decoder.currentStreamXid === undefined;
        if (idle) flushedLsn = maxLsn(flushedLsn, serverWalEnd);
        // When idle, ask for a keepalive: its WAL end lets the next update confirm past WAL that
        // carries no published change (other databases, checkpoints), so the slot's WAL is freed.
        sendStatus(idle);
      }
      // The time bound also holds while stream blocks (no commits) keep the queue from draining.
      if (batch.txns > 0 && !open && now - batch.startedAt >= inc.batchMaxMs) await commitBatch();
      if (now - lastStatusWritten >= inc.statusIntervalMs && aux) {
        lastStatusWritten = now;
        const dt = (now - rateWindow.at) / 1000;
        if (dt >= 1) {
          rowsPerSec = (rowsApplied - rateWindow.rows) / dt;
          rateWindow = { at: now, rows: rowsApplied };
        }
        const r = await aux.src.query<{ cur: string; retained: string | null }>(
          `SELECT pg_current_wal_lsn()::text AS cur,
                  (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text FROM pg_replication_slots WHERE slot_name = $1) AS retained`,
          [o.slotName],
        );
        const cur = parseLsn(r.rows[0]?.cur ?? '0/0');
        const lagBytes = lsnDiffBytes(cur, flushedLsn);
        const lagMs = lagBytes === 0 ? 0 : Math.max(0, now - lastCommitTimeMs);
        const status = {
          lagBytes,
          lagMs,
          rowsPerSec,
          retainedWalBytes: Number(r.rows[0]?.retained ?? 0),
          flushedLsn: formatLsn(flushedLsn),
          rowsApplied,
        };
        o.onProgress({ kind: 'status', ...status });
        await writeStatus(aux.dst, o.task.name, {
          phase: 'incremental',
          sourceLsn: cur,
          flushedLsn,
          lagBytes,
          lagMs,
          rowsPerSec,
          retainedWalBytes: status.retainedWalBytes,
          rowsApplied,
        });
      }
      if (now - lastSequenceSync >= inc.sequenceSyncIntervalMs && aux) {
        lastSequenceSync = now;
        await setSequences(aux.dst, await readSequences(aux.src, o.task.objects));
      }
    };

    let lastHousekeeping = 0;
    let tick: Promise<void> | undefined;
    let wakeTick: (() => void) | undefined;
    const onAbort = () => wakeTick?.();
    o.signal.addEventListener('abort', onAbort, { once: true });
    try {
      while (!o.signal.aborted) {
        if (Date.now() - lastHousekeeping >= 100) {
          lastHousekeeping = Date.now();
          await housekeeping();
        }
        const payload = st.take();
        if (payload === undefined) {
          // Nothing more received: commit what is complete now rather than at batchMaxMs, so batches
          // grow with the backlog and latency stays low when caught up (group commit).
          if (batch.txns > 0 && !open) await commitBatch();
          if (st.finished) {
            throw new PgdtsError('REPLICATION_FAILED', 'the server ended the replication stream', {
              retryable: true,
            });
          }
          // One timer shared by all waits until it fires, so waiting costs no timer per message.
          tick ??= new Promise<void>((r) => {
            const t = setTimeout(r, 100);
            wakeTick = () => {
              clearTimeout(t);
              r();
            };
          }).then(() => {
            tick = undefined;
          });
          await Promise.race([st.readable(), tick]);
          continue;
        }
        const frame = parseReplicationFrame(payload);
        serverWalEnd = maxLsn(serverWalEnd, frame.walEnd);
        if (frame.tag === 'keepalive') {
          if (frame.replyRequested) sendStatus();
          continue;
        }
        receivedLsn = maxLsn(receivedLsn, frame.walStart);
        const inStreamBefore = decoder.currentStreamXid;
        const m = decoder.decode(frame.data);
        if (inStreamBefore !== undefined && m.tag !== 'stream-stop') {
          // Inside a stream block: keep relation metadata current, spill everything for replay at commit.
          if (m.tag === 'relation') relations.add(m);
          await spill.append(inStreamBefore, frame.data);
          continue;
        }
        await handle(m, frame.data.length);
      }
    } finally {
      o.signal.removeEventListener('abort', onAbort);
    }
    // Clean stop: keep every complete transaction, drop a half-received one (it will be re-sent).
    if (open) await a.rollback();
    else await commitBatch();
    sendStatus();
    throw new CancelledError();
  } catch (e) {
    await applier?.rollback().catch(() => undefined);
    throw e;
  } finally {
    await stream?.stop();
    await spill.close().catch(() => undefined);
    await aux?.src.end().catch(() => undefined);
    await aux?.dst.end().catch(() => undefined);
    await dst.end().catch(() => undefined);
  }
}
