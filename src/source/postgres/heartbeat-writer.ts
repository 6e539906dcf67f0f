/**
 * Writes a PostgreSQL source's heartbeat (heartbeat.ts) while its change stream is idle: on its own
 * connection and timer, so a consumer busy on the destination never delays it, and only once the
 * stream has received nothing for the heartbeat interval (a busy source needs none).
 */
import type { QualifiedName } from '../../core/identifier.ts';
import type { ProgressListener } from '../../core/progress.ts';
import { wrapPgError, type ConnectionParams } from '../../pg/connection.ts';
import { SessionClient } from '../../pg/session-client.ts';
import { heartbeatStatement } from './heartbeat.ts';

/** Options of {@link HeartbeatWriter}. */
export interface HeartbeatWriterOptions {
  readonly taskName: string;
  /** Write after this long without anything received, ms (≥ 1000). */
  readonly intervalMs: number;
  /** The heartbeat table; undefined: logical decoding messages. */
  readonly table: QualifiedName | undefined;
  /** When the stream last received a message, ms since the Unix epoch. */
  readonly lastReceivedMs: () => number;
  /** Receives a warning when a heartbeat cannot be written (once until one succeeds again). */
  readonly onProgress: ProgressListener;
}

/** A running heartbeat writer; {@link close} stops it. */
export class HeartbeatWriter {
  private readonly session: SessionClient;
  private readonly timer: NodeJS.Timeout;
  private writing: Promise<void> | undefined;
  private lastWriteMs = 0;
  private warned: string | undefined;
  private closed = false;

  constructor(
    params: ConnectionParams,
    private readonly o: HeartbeatWriterOptions,
  ) {
    this.session = new SessionClient(params, { role: 'source', applicationName: 'pgdts-heartbeat' });
    // A quarter of the interval (at most 1 s) keeps a beat within that of when it is due.
    const tick = Math.max(100, Math.min(1000, Math.floor(o.intervalMs / 4)));
    this.timer = setInterval(() => this.tick(), tick);
    this.timer.unref();
  }

  /** Heartbeats written so far (for tests and logs). */
  writes = 0;

  private tick(): void {
    if (this.closed || this.writing !== undefined) return;
    const now = Date.now();
    if (now - Math.max(this.o.lastReceivedMs(), this.lastWriteMs) < this.o.intervalMs) return;
    this.lastWriteMs = now;
    this.writing = this.write(now).finally(() => {
      this.writing = undefined;
    });
  }

  /** One heartbeat, in a transaction of its own (autocommit). Never throws: warns instead. */
  private async write(now: number): Promise<void> {
    try {
      const st = heartbeatStatement({ taskName: this.o.taskName, table: this.o.table }, now);
      await this.session.query(st.text, [...st.values]);
      this.writes++;
      this.warned = undefined;
    } catch (e) {
      const err = wrapPgError('REPLICATION_FAILED', 'cannot write the heartbeat', e);
      // A lost connection shows in the stream too, which retries; the next tick reconnects.
      if (err.retryable || this.closed || this.warned === err.message) return;
      this.warned = err.message;
      this.o.onProgress({
        kind: 'log',
        level: 'warn',
        message: `${err.message}; the slot advances only with the source's own changes until it works (see pgdts precheck)`,
      });
    }
  }

  /** Stops writing and closes the connection. Never throws. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.writing;
    await this.session.close();
  }
}
