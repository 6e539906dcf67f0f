/**
 * A PostgreSQL server of a test's own (not shared), for tests that crash, restart, reconfigure or
 * restore it. Its data lives under the test run's root and it is stopped when the test ends.
 */
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { EmbeddedServer, type EmbeddedVersion } from '../../src/embedded/embedded-server.ts';
import type { TestServer } from './servers.ts';

/** An own server and its address as the other test helpers take it. */
export interface OwnServer {
  readonly server: EmbeddedServer;
  readonly test: TestServer;
}

/** Starts a fresh server; `settings` go to postgresql.auto.conf (e.g. `{ fsync: 'on' }`). */
export async function startOwnServer(
  name: string,
  o: { version?: EmbeddedVersion; settings?: Record<string, string | number> } = {},
): Promise<OwnServer> {
  const root = process.env.PGDTS_TEST_ROOT ?? tmpdir();
  const dir = mkdtempSync(path.join(root, `own-${name}-`));
  const server = await EmbeddedServer.start({
    version: o.version ?? 15,
    dataDir: path.join(dir, 'data'),
    password: `own-${name}-pw`,
    ...(o.settings !== undefined ? { settings: o.settings } : {}),
  });
  return {
    server,
    test: {
      version: server.version,
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
    },
  };
}

/** Resolves after `ms`. */
export function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `probe` every 50 ms until it returns true.
 * @throws {Error} naming `what` after `timeoutMs`, with `output()` (e.g. what pgdts printed).
 */
export async function until(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
  output: () => string = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output()}`);
    await pause(50);
  }
}
