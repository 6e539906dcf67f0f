/**
 * Transport of a logical replication stream over the `pg` client: runs START_REPLICATION on a
 * replication connection and exposes the CopyBoth sub-protocol as an async iterator of CopyData
 * payloads (XLogData `w`, keepalive `k`), plus a way to send CopyData back (standby status updates).
 * Source: PostgreSQL docs, "Streaming Replication Protocol" (START_REPLICATION ... LOGICAL) and
 * "Logical Streaming Replication Parameters" (proto_version, publication_names, streaming, messages).
 *
 * `pg` has no replication API, but any object with `submit(connection)` can be passed to
 * `client.query()` and then receives the protocol messages of that command (pg-copy-streams works
 * the same way). Parsing of the payloads is sans-I/O, in ./pgoutput/.
 */
import type pg from 'pg';
import type { PgdtsError } from '../../core/errors.ts';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import { connect, wrapPgError, type ConnectionParams } from '../../pg/connection.ts';
import { quoteIdent, quoteLiteral } from '../../core/identifier.ts';

/** Options of {@link ReplicationStream.start}. */
export interface ReplicationStreamOptions {
  readonly slotName: string;
  readonly publicationName: string;
  /** Where to start; the server starts at the slot's confirmed_flush_lsn when that is later. */
  readonly startLsn: Lsn;
  /** pgoutput protocol version: 1 (PostgreSQL 10+), 2 (14+, streaming), 3 (15+, two-phase), 4 (16+, parallel). */
  readonly protoVersion: 1 | 2 | 3 | 4;
  /** Stream large in-progress transactions (proto ≥ 2). */
  readonly streaming: boolean;
  /** Receive pg_logical_emit_message messages. */
  readonly messages: boolean;
  /** Pause reading the socket when this many payloads wait unconsumed. */
  readonly highWaterMark?: number;
  /** application_name of the walsender, as pg_stat_activity shows it. */
  readonly applicationName: string;
}

interface PgConnection {
  stream: { pause(): void; resume(): void };
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/**
 * A running replication stream. Iterate it to receive payloads; the iteration ends when the server
 * ends the stream or {@link stop} is called, and throws REPLICATION_FAILED (retryable on connection
 * loss) when the stream fails.
 */
export class ReplicationStream implements AsyncIterable<Buffer> {
  private readonly client: pg.Client;
  private readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private failure: PgdtsError | undefined;
  private connection: PgConnection | undefined;
  private paused = false;
  private readonly highWaterMark: number;
  private copyDoneSent = false;
  /** The server's wal_sender_timeout, ms (0: none). */
  readonly senderTimeoutMs: number;

  private constructor(client: pg.Client, highWaterMark: number, senderTimeoutMs: number) {
    this.client = client;
    this.highWaterMark = highWaterMark;
    this.senderTimeoutMs = senderTimeoutMs;
  }

  /**
   * Connects with `replication=database` and starts streaming.
   * @throws {PgdtsError} CONNECTION_FAILED or REPLICATION_FAILED (slot missing, slot active elsewhere).
   */
  static async start(params: ConnectionParams, o: ReplicationStreamOptions): Promise<ReplicationStream> {
    const client = await connect(params, {
      role: 'source',
      replication: 'database',
      applicationName: o.applicationName,
    });
    let senderTimeoutMs: number;
    try {
      // The walsender ends a session it has not heard from for this long: status updates must be
      // more frequent (PostgreSQL docs, "Replication" settings, wal_sender_timeout).
      const r = await client.query<{ ms: string }>(
        "SELECT setting AS ms FROM pg_settings WHERE name = 'wal_sender_timeout'",
      );
      senderTimeoutMs = Number(r.rows[0]?.ms ?? 60_000);
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('REPLICATION_FAILED', 'cannot read wal_sender_timeout', e);
    }
    const s = new ReplicationStream(client, o.highWaterMark ?? 1000, senderTimeoutMs);
    client.on('error', (e) => s.fail(e));
    client.on('end', () => s.fail(new Error('Connection terminated')));
    const opts = [
      `proto_version ${quoteLiteral(String(o.protoVersion))}`,
      `publication_names ${quoteLiteral(quoteIdent(o.publicationName))}`,
      ...(o.messages ? [`messages 'true'`] : []),
      ...(o.streaming && o.protoVersion >= 2 ? [`streaming 'on'`] : []),
    ];
    const sql = `START_REPLICATION SLOT ${quoteIdent(o.slotName)} LOGICAL ${formatLsn(o.startLsn)} (${opts.join(', ')})`;
    await new Promise<void>((resolve, reject) => {
      let started = false;
      const submittable = {
        submit: (connection: PgConnection) => {
          s.connection = connection;
          connection.query(sql);
        },
        handleCopyData: (msg: { chunk: Buffer }) => {
          if (!started) {
            started = true;
            resolve();
          }
          // pg-protocol hands out a view of its read buffer, which it overwrites when it compacts:
          // copy before queueing.
          s.push(Buffer.from(msg.chunk));
        },
        // CopyBothResponse arrives as 'replicationStart', which pg does not route to the query: the
        // first CopyData (the server sends a keepalive at once) or an error tells the outcome.
        handleError: (e: Error) => {
          if (!started) reject(wrapPgError('REPLICATION_FAILED', 'START_REPLICATION failed', e));
          s.fail(e);
        },
        handleCommandComplete: () => undefined,
        handleReadyForQuery: () => s.end(),
        handleEmptyQuery: () => undefined,
        handleRowDescription: () => undefined,
        handleDataRow: () => undefined,
        handlePortalSuspended: () => undefined,
        handleCopyInResponse: () => undefined,
      };
      client.query(submittable as unknown as pg.QueryConfig).catch?.(() => undefined);
    }).catch(async (e: unknown) => {
      await client.end().catch(() => undefined);
      throw e;
    });
    return s;
  }

  private push(chunk: Buffer): void {
    this.queue.push(chunk);
    if (!this.paused && this.queue.length >= this.highWaterMark) {
      this.paused = true;
      this.connection?.stream.pause();
    }
    this.wake();
  }

  private fail(e: unknown): void {
    if (this.ended || this.failure) return;
    this.failure = wrapPgError('REPLICATION_FAILED', 'replication stream failed', e);
    this.wake();
  }

  private end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Sends one CopyData payload to the server (a standby status update). */
  send(payload: Buffer): void {
    if (this.ended || this.failure || this.copyDoneSent) return;
    this.connection?.sendCopyFromChunk(payload);
  }

  /**
   * Takes the next received payload without waiting: `undefined` when none is queued. Lets a consumer
   * drain a burst synchronously instead of paying a promise per message.
   * @throws {PgdtsError} REPLICATION_FAILED once the queue is empty and the stream has failed.
   */
  take(): Buffer | undefined {
    const next = this.queue.shift();
    if (next) {
      if (this.paused && this.queue.length < this.highWaterMark / 2) {
        this.paused = false;
        this.connection?.stream.resume();
      }
      return next;
    }
    if (this.failure) throw this.failure;
    return undefined;
  }

  /** True once the server ended the stream (or {@link stop} was called) and the queue is drained. */
  get finished(): boolean {
    return this.ended && this.queue.length === 0;
  }

  /** Resolves when a payload is queued, or the stream ends or fails. */
  readable(): Promise<void> {
    if (this.queue.length > 0 || this.ended || this.failure) return Promise.resolve();
    return new Promise<void>((r) => (this.waiter = r));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const next = this.take();
      if (next) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await this.readable();
    }
  }

  /** Ends the stream (CopyDone) and closes the connection. Safe to call twice. */
  async stop(): Promise<void> {
    if (!this.copyDoneSent && !this.ended && !this.failure) {
      this.copyDoneSent = true;
      try {
        this.connection?.endCopyFrom();
      } catch {
        /* connection already gone */
      }
    }
    this.ended = true;
    this.wake();
    await this.client.end().catch(() => undefined);
  }
}
