/**
 * One connection that is opened on first use and opened again after it was lost, so that a retried
 * step of a connector simply works again once the server is back.
 */
import type pg from 'pg';
import {
  connect,
  describeEndpoint,
  isUsable,
  type ConnectionParams,
  type ConnectOptions,
} from './connection.ts';

/** A lazily (re)connected client of one server. */
export class SessionClient {
  readonly params: ConnectionParams;
  private readonly opts: ConnectOptions;
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;

  constructor(params: ConnectionParams, opts: ConnectOptions) {
    this.params = params;
    this.opts = opts;
  }

  /** `user@host:port/database`, for messages. */
  get description(): string {
    return describeEndpoint(this.params);
  }

  /**
   * The connected client, connecting when there is none or the last one was lost.
   * @throws {PgdtsError} CONNECTION_FAILED naming host, port and cause (retryable when it may pass).
   */
  async get(): Promise<pg.Client> {
    if (this.client !== undefined) {
      if (isUsable(this.client)) return this.client;
      const dead = this.client;
      this.client = undefined;
      await dead.end().catch(() => undefined);
    }
    this.connecting ??= connect(this.params, this.opts)
      .then((c) => {
        this.client = c;
        return c;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  /** Runs one query on the client (see {@link get} for connection errors; query errors are raw). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    const c = await this.get();
    return c.query<R>(text, values);
  }

  /** Closes the connection if open. Never throws. */
  async close(): Promise<void> {
    const c = this.client ?? (await this.connecting?.catch(() => undefined));
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
