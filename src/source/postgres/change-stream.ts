/**
 * The change stream of a PostgreSQL source: the replication connection (replication-stream.ts), the
 * transaction assembler (sans-I/O, transaction-assembler.ts) and the spill files it asks for, plus
 * the standby status updates that keep the walsender informed.
 *
 * Status updates are sent by a timer of their own, not by the consumer's loop: a long replay of a
 * spilled transaction, or a destination that makes the consumer wait on a lock, would otherwise let
 * `wal_sender_timeout` pass without a reply and the server would end the session (PostgreSQL docs,
 * "Streaming Replication Protocol", Standby status update). The update reports as flushed only the
 * LSN the consumer acknowledged (the sink's durable position).
 *
 * With a heartbeat (heartbeat.ts), a writer of its own beats while nothing is received, and the
 * heartbeats are recognised and dropped here: their transactions reach the consumer empty.
 */
import type { ChangeEvent, ChangeStream, HeartbeatReading } from '../../core/source.ts';
import { displayName, type QualifiedName } from '../../core/identifier.ts';
import type { ProgressListener } from '../../core/progress.ts';
import { PgdtsError } from '../../core/errors.ts';
import { formatLsn, maxLsn, type Lsn } from '../../core/lsn.ts';
import type { ConnectionParams } from '../../pg/connection.ts';
import { encodeStandbyStatus, parseReplicationFrame } from './pgoutput/replication-frame.ts';
import { HeartbeatObserver } from './heartbeat.ts';
import { HeartbeatWriter } from './heartbeat-writer.ts';
import { ReplicationStream } from './replication-stream.ts';
import type { SpilledMessage, SpillDirectory } from './spill-directory.ts';
import {
  TransactionAssembler,
  type LogicalMessageOutput,
  type ReplayAction,
} from './transaction-assembler.ts';
import { DDL_MESSAGE_PREFIX, parseDdlMessage } from '../../core/ddl.ts';

/** Most events handed out by one {@link PostgresChangeStream.read}. */
const MAX_EVENTS_PER_READ = 2000;
/** Status update period when the server's wal_sender_timeout does not ask for a shorter one, ms. */
const STATUS_INTERVAL_MS = 1000;

/** Options of {@link PostgresChangeStream.open}. */
export interface PostgresChangeStreamOptions {
  readonly slotName: string;
  readonly publicationName: string;
  readonly startLsn: Lsn;
  readonly skipBefore: Lsn;
  /** Transactions committed before this time (ms since the Unix epoch) are not delivered. */
  readonly skipCommittedBeforeMs?: number | undefined;
  /** Server major version: pgoutput protocol 2 with streaming from 14, 1 before. */
  readonly serverMajor: number;
  readonly applicationName: string;
  readonly spill: SpillDirectory;
  /** The task's heartbeat (source.heartbeat); without table it needs PostgreSQL 14+ (messages). */
  readonly heartbeat?: StreamHeartbeat | undefined;
  /**
   * The task whose DDL capture messages (ddl-capture.ts) are delivered as `ddl` events; undefined:
   * the capture is off. Needs PostgreSQL 14+ (messages).
   */
  readonly ddlTask?: string | undefined;
}

/** The heartbeat of a stream: whose, how often, where (see heartbeat.ts). */
export interface StreamHeartbeat {
  readonly taskName: string;
  /** Beat after this long without anything received, ms. */
  readonly intervalMs: number;
  /** The heartbeat table; undefined: logical decoding messages. */
  readonly table: QualifiedName | undefined;
  /** Receives the writer's warnings. */
  readonly onProgress: ProgressListener;
}

interface Replay {
  readonly messages: AsyncIterator<SpilledMessage>;
  readonly action: ReplayAction;
}

/** A running pgoutput change stream. */
export class PostgresChangeStream implements ChangeStream {
  readonly description: string;
  private readonly stream: ReplicationStream;
  private readonly assembler: TransactionAssembler;
  private readonly spill: SpillDirectory;
  private readonly timer: NodeJS.Timeout;
  private replaying: Replay | undefined;
  private readonly heartbeat: HeartbeatObserver | undefined;
  private readonly ddlTask: string | undefined;
  private writer: HeartbeatWriter | undefined;
  /** When the last XLogData arrived, ms since the Unix epoch: the heartbeat beats after a quiet interval. */
  private receivedAtMs = Date.now();
  private acknowledged: Lsn;
  private received: Lsn;
  private closed = false;

  private constructor(stream: ReplicationStream, o: PostgresChangeStreamOptions, description: string) {
    this.stream = stream;
    this.description = description;
    this.spill = o.spill;
    this.assembler = new TransactionAssembler(o.skipBefore, {
      skipCommittedBeforeMs: o.skipCommittedBeforeMs,
    });
    this.heartbeat =
      o.heartbeat === undefined
        ? undefined
        : new HeartbeatObserver({ taskName: o.heartbeat.taskName, table: o.heartbeat.table });
    this.ddlTask = o.ddlTask;
    this.acknowledged = o.startLsn;
    this.received = o.startLsn;
    // A third of the timeout leaves room for a slow network and a busy event loop.
    const timeout = stream.senderTimeoutMs;
    const every =
      timeout > 0 ? Math.max(100, Math.min(STATUS_INTERVAL_MS, Math.floor(timeout / 3))) : STATUS_INTERVAL_MS;
    this.timer = setInterval(() => this.sendStatus(!this.assembler.inTransaction), every);
    this.timer.unref();
  }

  /**
   * Starts streaming the slot with pgoutput.
   * @throws {PgdtsError} REPLICATION_FAILED (slot missing, active elsewhere), CONNECTION_FAILED.
   */
  static async open(params: ConnectionParams, o: PostgresChangeStreamOptions): Promise<PostgresChangeStream> {
    const protoVersion = o.serverMajor >= 14 ? 2 : 1;
    const stream = await ReplicationStream.start(params, {
      slotName: o.slotName,
      publicationName: o.publicationName,
      startLsn: o.startLsn,
      protoVersion,
      streaming: protoVersion >= 2,
      // Logical decoding messages carry the heartbeat when it has no table, and the DDL capture
      // (PostgreSQL 14+).
      messages: (o.heartbeat !== undefined && o.heartbeat.table === undefined) || o.ddlTask !== undefined,
      applicationName: o.applicationName,
    });
    const since =
      o.skipCommittedBeforeMs === undefined
        ? ''
        : `, skipping transactions committed before ${new Date(o.skipCommittedBeforeMs).toISOString()}`;
    const hb = o.heartbeat;
    const beat =
      hb === undefined
        ? ''
        : `, heartbeat after ${hb.intervalMs} ms idle ${hb.table === undefined ? 'as logical messages' : `into ${displayName(hb.table)}`}`;
    const ddl = o.ddlTask === undefined ? '' : ', DDL capture on';
    const s = new PostgresChangeStream(
      stream,
      o,
      `streaming from ${formatLsn(o.startLsn)} (pgoutput protocol ${protoVersion}${protoVersion >= 2 ? ', streaming on' : ''})${since}${beat}${ddl}`,
    );
    if (hb !== undefined) {
      s.writer = new HeartbeatWriter(params, {
        taskName: hb.taskName,
        intervalMs: hb.intervalMs,
        table: hb.table,
        lastReceivedMs: () => s.receivedAtMs,
        onProgress: hb.onProgress,
      });
    }
    return s;
  }

  get lastHeartbeat(): HeartbeatReading | undefined {
    return this.heartbeat?.last;
  }

  /** Adds `e` to `out` unless it is a heartbeat's change (which never reaches the consumer). */
  private deliver(out: ChangeEvent[], e: ChangeEvent): void {
    const d = this.heartbeat === undefined ? e : this.heartbeat.event(e, Date.now());
    if (d !== undefined) out.push(d);
  }

  /**
   * A logical decoding message of the transaction being delivered: the heartbeat's is measured, the
   * task's own DDL capture message becomes a `ddl` event (others' are ignored); never a change.
   */
  private message(out: ChangeEvent[], m: LogicalMessageOutput): void {
    if (m.prefix === DDL_MESSAGE_PREFIX && this.ddlTask !== undefined) {
      const message = parseDdlMessage(m.content.toString('utf8'));
      if (message.task === this.ddlTask) out.push({ kind: 'ddl', ddl: { message, lsn: m.lsn } });
      return;
    }
    this.heartbeat?.message(m.prefix, m.content, Date.now());
  }

  acknowledge(lsn: Lsn): void {
    if (lsn <= this.acknowledged) return;
    this.acknowledged = lsn;
    // At once rather than at the next tick: the slot (and anyone watching its confirmed LSN) sees
    // progress as soon as it is durable.
    this.sendStatus(false);
  }

  /** Sends a standby status update now; `replyRequested` asks for a keepalive (and its WAL end). */
  private sendStatus(replyRequested: boolean): void {
    if (this.closed) return;
    this.stream.send(
      encodeStandbyStatus({
        written: maxLsn(this.received, this.acknowledged),
        flushed: this.acknowledged,
        applied: this.acknowledged,
        clientTimeMs: Date.now(),
        replyRequested,
      }),
    );
  }

  async read(maxWaitMs: number): Promise<readonly ChangeEvent[]> {
    const out: ChangeEvent[] = [];
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      if (this.replaying !== undefined) {
        await this.replayInto(out);
        if (out.length >= MAX_EVENTS_PER_READ) return out;
        continue;
      }
      const payload = this.stream.take();
      if (payload === undefined) {
        if (out.length > 0) return out;
        if (this.stream.finished) {
          // The walsender ends the stream when its server shuts down: the server is away.
          throw new PgdtsError('REPLICATION_FAILED', 'the server ended the replication stream', {
            retryable: true,
            retryWindow: 'connection',
          });
        }
        const left = deadline - Date.now();
        if (left <= 0) return out;
        await this.waitReadable(left);
        continue;
      }
      const frame = parseReplicationFrame(payload);
      if (frame.tag === 'keepalive') {
        if (frame.replyRequested) this.sendStatus(false);
        const w = this.assembler.keepalive(frame.walEnd);
        if (w !== undefined) out.push(w);
        continue;
      }
      this.received = maxLsn(this.received, frame.walStart);
      this.receivedAtMs = Date.now();
      const o = this.assembler.push(frame.data, frame.walStart);
      if (o !== undefined) {
        switch (o.kind) {
          case 'spill': {
            const p = this.spill.append(o.xid, o.lsn, o.data);
            if (p !== undefined) await p;
            break;
          }
          case 'discard':
            await this.spill.discard(o.xid);
            break;
          case 'replay':
            this.deliver(out, o.begin);
            this.replaying = { messages: this.spill.replay(o.xid)[Symbol.asyncIterator](), action: o };
            break;
          case 'begin':
          case 'change':
          case 'commit':
          case 'ddl':
          case 'watermark':
            this.deliver(out, o);
            break;
          case 'logical-message':
            this.message(out, o);
            break;
        }
      }
      if (out.length >= MAX_EVENTS_PER_READ) return out;
    }
  }

  /** Feeds replayed messages of the committed streamed transaction into `out`, up to the read limit. */
  private async replayInto(out: ChangeEvent[]): Promise<void> {
    const r = this.replaying;
    if (r === undefined) return;
    while (out.length < MAX_EVENTS_PER_READ) {
      const next = await r.messages.next();
      if (next.done === true) {
        this.deliver(out, r.action.commit);
        this.replaying = undefined;
        return;
      }
      const e = this.assembler.replay(next.value.data, next.value.lsn, r.action.abortedSubXids);
      if (e === undefined) continue;
      if (e.kind === 'logical-message') this.message(out, e);
      else this.deliver(out, e);
    }
  }

  private waitReadable(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      void this.stream.readable().then(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // A last update, so the slot remembers everything acknowledged.
    this.sendStatus(false);
    this.closed = true;
    clearInterval(this.timer);
    await this.writer?.close();
    await this.replaying?.messages.return?.().catch(() => undefined);
    this.replaying = undefined;
    await this.stream.stop();
    await this.spill.close();
  }
}
