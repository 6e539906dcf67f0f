/** Version and session user of a connected PostgreSQL server, as both connectors report them. */
import type pg from 'pg';
import type { ServerInfo } from '../core/precheck.ts';
import type { ConnectionParams } from './connection.ts';

/**
 * Reads server_version(_num), the session user and whether it is a superuser; `params.warnings` (e.g.
 * an ignored password file) are passed on for the connection precheck.
 */
export async function readServerInfo(client: pg.Client, params: ConnectionParams): Promise<ServerInfo> {
  const r = await client.query<{ u: string; su: boolean; v: string; num: number }>(
    `SELECT current_user AS u, r.rolsuper AS su, current_setting('server_version') AS v,
            current_setting('server_version_num')::int AS num
       FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const row = r.rows[0];
  const major = Math.floor((row?.num ?? 0) / 10000);
  return {
    major,
    version: row?.v ?? String(major),
    user: row?.u ?? params.user,
    isSuperuser: row?.su ?? false,
    warnings: params.warnings ?? [],
  };
}
