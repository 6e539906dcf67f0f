/**
 * The shape shared by the PostgreSQL prechecks of both connectors: a check runs against its own
 * side's connection and the task-wide context. {@link bindPrechecks} turns them into the core
 * {@link Precheck}s a connector contributes.
 */
import type pg from 'pg';
import { PgdtsError } from '../core/errors.ts';
import type {
  Precheck,
  PrecheckContext,
  PrecheckNeed,
  PrecheckOutcome,
  ServerInfo,
} from '../core/precheck.ts';
import type { TaskConfig } from '../core/task-config.ts';
import type { ConnectionParams } from './connection.ts';
import type { SessionClient } from './session-client.ts';

/** A connected side and what the checks need to know about its session user. */
export interface PgSide {
  readonly role: 'source' | 'destination';
  readonly client: pg.Client;
  readonly params: ConnectionParams;
  readonly server: ServerInfo;
}

/** A check of one PostgreSQL side. */
export interface PgPrecheck {
  readonly id: string;
  readonly title: string;
  /** What it needs besides its own side. */
  readonly needs: readonly Exclude<PrecheckNeed, 'source' | 'destination'>[];
  /** Default: always applies. */
  readonly applies?: (task: TaskConfig) => boolean;
  readonly run: (side: PgSide, ctx: PrecheckContext) => Promise<PrecheckOutcome>;
}

/**
 * Binds checks to a side, as the core prechecks of that side: each check runs on `session`'s
 * connection with the server facts `serverInfo` reports.
 */
export function bindPrechecks(
  role: 'source' | 'destination',
  checks: readonly PgPrecheck[],
  session: SessionClient,
  serverInfo: () => Promise<ServerInfo>,
): Precheck[] {
  const side = async (): Promise<PgSide> => ({
    role,
    client: await session.get(),
    params: session.params,
    server: await serverInfo(),
  });
  return checks.map((c) => ({
    id: c.id,
    title: c.title,
    needs: [role, ...c.needs],
    ...(c.applies !== undefined ? { applies: c.applies } : {}),
    run: async (ctx: PrecheckContext) => c.run(await side(), ctx),
  }));
}

/**
 * Returns `v`, which the runner guaranteed through {@link PgPrecheck.needs}.
 * @throws {PgdtsError} INTERNAL when a check forgot to declare a need.
 */
export function needed<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new PgdtsError('INTERNAL', `precheck ran without ${what}`);
  return v;
}
