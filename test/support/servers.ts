/**
 * Access to the shared test servers started once by test/run.ts. Each test file works in databases of
 * its own (see {@link freshDatabase}), so files never see each other's data.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { EmbeddedVersion } from '../../src/embedded/embedded-server.ts';

/** A shared server: version, port, superuser password. */
export interface TestServer {
  readonly version: EmbeddedVersion;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

function all(): TestServer[] {
  const raw = process.env.PGDTS_TEST_SERVERS;
  if (!raw) throw new Error('PGDTS_TEST_SERVERS is not set: run the tests through `npm test` (test/run.ts)');
  return (JSON.parse(raw) as { version: EmbeddedVersion; port: number; password: string }[]).map((s) => ({
    ...s,
    host: '127.0.0.1',
    user: 'postgres',
  }));
}

/** The shared server of a major version. */
export function testServer(version: EmbeddedVersion = 15): TestServer {
  const s = all().find((x) => x.version === version);
  if (!s) throw new Error(`no test server for PostgreSQL ${version}`);
  return s;
}

/** Every shared server (13, 15, 17). */
export function testServers(): TestServer[] {
  return all();
}

/** Runs SQL on a database of a test server and returns its rows (values as pg parses them). */
export async function sql<R extends pg.QueryResultRow = Record<string, unknown>>(
  s: TestServer,
  database: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** Creates an empty database with a unique name (prefix + random) and returns its name. */
export async function freshDatabase(s: TestServer, prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await sql(s, 'postgres', `CREATE DATABASE "${name}"`);
  return name;
}

/** `postgresql://` URL of a database on a test server. */
export function urlOf(s: TestServer, database: string): string {
  return `postgresql://${s.user}:${encodeURIComponent(s.password)}@${s.host}:${s.port}/${encodeURIComponent(database)}`;
}
