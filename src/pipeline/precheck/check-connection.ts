/**
 * Precheck: each side is reachable and accepts the task's credentials. The connector's own error says
 * host, port and cause, and its hint how to fix it (refused port, unknown host, wrong password, no
 * pg_hba.conf entry, missing database, timeout); passwords never appear in it.
 */
import { PgdtsError } from '../../core/errors.ts';
import type { PrecheckResult, ServerInfo } from '../../core/precheck.ts';

/** Result of {@link checkConnection}: the report line, and the server when it passed. */
export interface ConnectionCheck<C> {
  readonly result: PrecheckResult;
  readonly connector: C | undefined;
  readonly server: ServerInfo | undefined;
  /** Why it failed (a CONNECTION_FAILED or CONFIG_INVALID error, usually), when it did. */
  readonly error?: unknown;
}

/**
 * Opens one side of the task (`source` or `destination`) and asks for its version. Never throws.
 * @param open builds the connector (may throw or reject with a ConfigError, e.g. an unset passwordEnv).
 */
export async function checkConnection<C extends { description: string; serverInfo(): Promise<ServerInfo> }>(
  role: 'source' | 'destination',
  open: () => C | Promise<C>,
): Promise<ConnectionCheck<C>> {
  const id = `${role}-connection`;
  const title = `${role === 'source' ? 'Source' : 'Destination'} reachable and authenticated`;
  let connector: C | undefined;
  try {
    connector = await open();
    const server = await connector.serverInfo();
    // Resolution warnings (e.g. a password file ignored for its permissions) make the check a warn.
    const warnings = server.warnings ?? [];
    return {
      result: {
        id,
        title,
        status: warnings.length > 0 ? 'warn' : 'pass',
        message: `connected to ${connector.description} (${server.product ?? 'PostgreSQL'} ${server.version}${server.isSuperuser ? ', superuser' : ''})${warnings.map((w) => `; ${w}`).join('')}`,
      },
      connector,
      server,
    };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const fix = e instanceof PgdtsError ? e.hint : undefined;
    return {
      result: { id, title, status: 'fail', message, ...(fix !== undefined ? { fix } : {}) },
      connector,
      server: undefined,
      error: e,
    };
  }
}
