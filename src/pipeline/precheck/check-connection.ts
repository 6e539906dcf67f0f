/**
 * Precheck: each side is reachable and accepts the task's credentials. The connection made here is
 * then shared by the other checks of that side.
 */
import { PgdtsError } from '../../core/errors.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import {
  connect,
  describeEndpoint,
  redact,
  resolveEndpoint,
  type ConnectionParams,
} from '../../pg/connection.ts';
import type { PrecheckResult, PrecheckSide } from './precheck-result.ts';

/** Result of {@link checkConnection}: the report line, and the connected side when it passed. */
export interface ConnectionCheck {
  readonly result: PrecheckResult;
  readonly side: PrecheckSide | undefined;
}

/**
 * Resolves and connects one side of the task (`source` or `destination`), naming host, port and cause
 * on failure, with a fix hint specific to the cause (refused port, unknown host, wrong password, no
 * pg_hba.conf entry, missing database, timeout). Never throws; passwords never appear in messages.
 */
export async function checkConnection(
  task: TaskConfig,
  role: 'source' | 'destination',
): Promise<ConnectionCheck> {
  const id = `${role}-connection`;
  const title = `${role === 'source' ? 'Source' : 'Destination'} reachable and authenticated`;
  let params: ConnectionParams;
  try {
    params = resolveEndpoint(task[role], process.env, role);
  } catch (e) {
    return {
      result: { id, title, status: 'fail', message: redactAll(task, (e as Error).message) },
      side: undefined,
    };
  }
  try {
    const client = await connect(params, { role, applicationName: 'pgdts-precheck' });
    try {
      const r = await client.query<{ u: string; su: boolean; v: string; num: number }>(
        `SELECT current_user AS u, r.rolsuper AS su, current_setting('server_version') AS v,
                current_setting('server_version_num')::int AS num
           FROM pg_roles r WHERE r.rolname = current_user`,
      );
      const row = r.rows[0];
      const major = Math.floor((row?.num ?? 0) / 10000);
      const side: PrecheckSide = {
        role,
        client,
        params,
        major,
        version: row?.v ?? String(major),
        user: row?.u ?? params.user,
        isSuperuser: row?.su ?? false,
      };
      // Resolution warnings (e.g. a password file ignored for its permissions) make the check a warn.
      const warnings = params.warnings ?? [];
      return {
        result: {
          id,
          title,
          status: warnings.length > 0 ? 'warn' : 'pass',
          message: `connected to ${describeEndpoint(params)} (PostgreSQL ${side.version}${side.isSuperuser ? ', superuser' : ''})${warnings.map((w) => `; ${w}`).join('')}`,
        },
        side,
      };
    } catch (e) {
      await client.end().catch(() => undefined);
      throw e;
    }
  } catch (e) {
    const message = redact(
      e instanceof PgdtsError ? e.message : `${role} ${describeEndpoint(params)}: ${String(e)}`,
      params.password,
    );
    const fix = fixFor(e, params);
    return {
      result: { id, title, status: 'fail', message, ...(fix !== undefined ? { fix } : {}) },
      side: undefined,
    };
  }
}

/** A fix hint from the SQLSTATE (PostgreSQL docs, Appendix A) or the socket error code of the cause. */
function fixFor(e: unknown, p: ConnectionParams): string | undefined {
  const err = e as { sqlState?: string; cause?: { code?: string }; message?: string };
  const code: string = err.sqlState ?? err.cause?.code ?? '';
  switch (code) {
    case '28P01':
      return `check the password of user ${p.user} (password, passwordEnv, url, PGPASSWORD or the password file)`;
    case '28000':
      return `allow user ${p.user} from this host to database ${p.database} in pg_hba.conf on ${p.host}`;
    case '3D000':
      return `create database ${p.database} on ${p.host}:${p.port} or fix the database name`;
    case '53300':
      return 'the server has no free connection slots: raise max_connections or close idle sessions';
    case 'ECONNREFUSED':
      return `is PostgreSQL running and listening on ${p.host}:${p.port}? check listen_addresses, port and firewalls`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host name ${p.host} does not resolve: fix host or url`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to ${p.host}:${p.port}: check the network path and firewalls`;
    default:
      return /timeout/i.test(err.message ?? '')
        ? `no answer from ${p.host}:${p.port} within ${p.connectTimeoutMs} ms: check firewalls or raise connectTimeoutMs`
        : undefined;
  }
}

/** Removes any password the task file holds from a message. */
function redactAll(task: TaskConfig, text: string): string {
  let out = text;
  for (const e of [task.source, task.destination]) {
    out = redact(out, e.password);
    if (e.url !== undefined) {
      try {
        out = redact(out, decodeURIComponent(new URL(e.url).password));
      } catch {
        /* unparsable URL: resolveEndpoint already refused to echo it */
      }
    }
  }
  return out;
}
