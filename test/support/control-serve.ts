/**
 * Runs the real `pgdts serve` as a child process for the control plane tests, and calls its API with
 * fetch.
 */
import { freePort } from '../../src/embedded/embedded-server.ts';
import { startCli, type CliRun } from './pgdts-cli.ts';
import type { TestServer } from './servers.ts';

/** A running `pgdts serve`. */
export interface Serve {
  readonly run: CliRun;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The token to send (the env's, or the one serve printed; empty when neither). */
  readonly token: string;
  /** Calls the API; `token: null` sends no Authorization header. */
  call(
    method: string,
    route: string,
    o?: { body?: unknown; rawBody?: string; token?: string | null },
  ): Promise<{ status: number; body: unknown; text: string }>;
  /** SIGTERM, and waits for a clean exit (code 0). */
  stop(): Promise<void>;
}

/**
 * Starts `pgdts serve --listen 127.0.0.1:<free port> ...args` and waits until it listens.
 * @param env extra environment (PGDTS_API_TOKEN, PGDTS_SECRET_KEY...).
 */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serve> {
  const port = await freePort();
  const run = startCli(['serve', '--listen', `127.0.0.1:${port}`, ...args], env);
  await run.waitFor(/listening on http:\/\//, 120_000);
  const printed = /API token \(shown once[^:]*\): (\S+)/.exec(run.output())?.[1];
  // Empty when neither: a restart without PGDTS_API_TOKEN (calls then pass the first start's token).
  const token = env.PGDTS_API_TOKEN || printed || '';
  const url = `http://127.0.0.1:${port}`;
  return {
    run,
    url,
    token,
    call: async (method, route, o = {}) => {
      const headers: Record<string, string> = {};
      const t = o.token === undefined ? token : o.token;
      if (t !== null) headers.authorization = `Bearer ${t}`;
      const body = o.rawBody ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${route}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      return { status: res.status, text, body: text === '' ? null : (JSON.parse(text) as unknown) };
    },
    stop: async () => {
      run.child.kill('SIGTERM');
      const r = await run.done;
      if (r.code !== 0)
        throw new Error(
          `pgdts serve did not stop cleanly (${r.code}, ${r.signal}):\n${r.stdout}\n${r.stderr}`,
        );
    },
  };
}

/**
 * Registers one data source per `[id, server, database]` through the API (superuser of the test
 * server, password included) and asserts each is created.
 */
export async function addDataSources(
  serve: Serve,
  sources: readonly (readonly [string, TestServer, string])[],
): Promise<void> {
  for (const [id, s, database] of sources) {
    const r = await serve.call('POST', '/api/v1/data-sources', {
      body: {
        id,
        type: 'postgresql',
        host: s.host,
        port: s.port,
        username: s.user,
        password: s.password,
        database,
      },
    });
    if (r.status !== 201) throw new Error(`data source ${id} not created: ${r.status} ${r.text}`);
  }
}

/**
 * Creates a task from `definition` through the API and runs its precheck, which must pass.
 * @returns the task id.
 */
export async function createPrecheckedTask(
  serve: Serve,
  definition: Record<string, unknown>,
): Promise<string> {
  const created = await serve.call('POST', '/api/v1/tasks', { body: definition });
  if (created.status !== 201) throw new Error(`task not created: ${created.status} ${created.text}`);
  const id = (created.body as { id: string }).id;
  const pre = await serve.call('POST', `/api/v1/tasks/${id}/precheck`);
  if ((pre.body as { passed?: boolean }).passed !== true)
    throw new Error(`precheck did not pass: ${pre.text}`);
  return id;
}
