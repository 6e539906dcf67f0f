/**
 * `pgdts serve`: the control plane process. It opens the store (a PostgreSQL database given by
 * `--store`, else an embedded PostgreSQL 17 in `<data-dir>/store`, persistent across restarts),
 * applies its migrations, loads the secret key and the API token, and serves the REST API. Lines for
 * the operator go to `out` (stderr): never a password or key, the generated API token once.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ConfigError, PgdtsError } from '../core/errors.ts';
import { EmbeddedServer } from '../embedded/embedded-server.ts';
import { buildApi } from './api/api-server.ts';
import { API_TOKEN_ENV, ApiToken } from './api/api-token.ts';
import { loadSecretKey, SecretBox } from './secrets/secret-box.ts';
import { ControlStore, describeUrl } from './store/control-store.ts';
import { TaskAlerts } from './alerts/task-alerts.ts';
import { TaskWorker } from './worker/task-worker.ts';
import { VerificationScheduler } from './task/verification-scheduler.ts';
import { VerificationRunner } from './task/verification-runner.ts';
import type { AfterVerification } from './task/run-verification.ts';

/** Database of the embedded store. */
const EMBEDDED_DATABASE = 'pgdts';

/** Options of {@link startServe}. */
export interface ServeOptions {
  /** `HOST:PORT` (`[::1]:8432` for IPv6). */
  readonly listen: string;
  /** URL of the store database; undefined for the embedded store. */
  readonly store: string | undefined;
  /** The data directory: the embedded store, and the secret key file unless PGDTS_SECRET_KEY is set. */
  readonly dataDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly version: string;
  /** Writes one line for the operator. */
  readonly out: (line: string) => void;
  /** Run a worker in this process (default true; `--no-worker`). */
  readonly worker?: boolean;
  /** The worker's poll interval and lease timeout, ms (defaults in task-worker.ts). */
  readonly pollMs?: number;
  readonly leaseTimeoutMs?: number;
  /** How often due verification schedules are looked for, ms (default DEFAULT_VERIFY_TICK_MS). */
  readonly verifyTickMs?: number;
}

/** A running serve process. */
export interface RunningServe {
  /** The address listened on, `http://host:port`. */
  readonly url: string;
  /** Stops the API, closes the store and stops the embedded server (if any). Never throws. */
  stop(): Promise<void>;
}

/**
 * Parses `HOST:PORT`.
 * @throws {ConfigError} naming `--listen`.
 */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(s);
  const port = Number(m?.[3]);
  if (m === null || !(port >= 0 && port <= 65535)) {
    throw new ConfigError('--listen', `must be HOST:PORT (e.g. 127.0.0.1:8432 or [::1]:8432), got "${s}"`);
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/**
 * Starts serving.
 * @throws {PgdtsError} CONFIG_INVALID for bad options, a bad secret key, or no embedded PostgreSQL
 *   without --store; STORE_FAILED when the store cannot be opened or migrated.
 */
export async function startServe(o: ServeOptions): Promise<RunningServe> {
  const listen = parseListen(o.listen);
  const dataDir = path.resolve(o.dataDir);
  const { key, source } = loadSecretKey(o.env, dataDir);
  switch (source.kind) {
    case 'env':
      o.out('secret key: from PGDTS_SECRET_KEY');
      break;
    case 'file':
      o.out(`secret key: ${source.file}${source.created ? ' (created now: back it up with the store)' : ''}`);
      break;
  }
  const box = new SecretBox(key);
  let embedded: EmbeddedServer | undefined;
  let store: ControlStore | undefined;
  let app: FastifyInstance | undefined;
  let worker: TaskWorker | undefined;
  let scheduler: VerificationScheduler | undefined;
  let alerts: TaskAlerts | undefined;
  let verifications: VerificationRunner | undefined;
  const stop = async () => {
    // The worker first: its tasks stop cleanly and stay running for another worker (S11).
    await worker?.stop();
    await scheduler?.stop();
    // Verification jobs running here are given up for the next serve process [V12].
    await verifications?.stop();
    await alerts?.flush();
    await app?.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
  };
  try {
    let url = o.store;
    if (url === undefined) {
      embedded = await startEmbeddedStore(dataDir);
      url = embedded.url(EMBEDDED_DATABASE);
      o.out(
        `store: embedded PostgreSQL ${embedded.version} in ${embedded.dataDir} (127.0.0.1:${embedded.port})`,
      );
    } else {
      o.out(`store: ${describeUrl(url)}`);
    }
    store = await ControlStore.open(url, box);
    o.out(
      store.migration.applied.length > 0
        ? `store migrated to version ${store.migration.version} (applied ${store.migration.applied.join(', ')})`
        : `store at version ${store.migration.version}`,
    );
    const token = await ApiToken.load(o.env, store);
    switch (token.origin.kind) {
      case 'env':
        o.out(`API token: from ${API_TOKEN_ENV}`);
        break;
      case 'stored':
        o.out(`API token: the one generated on the first start (or set ${API_TOKEN_ENV})`);
        break;
      case 'generated':
        o.out(
          `API token (shown once, keep it; the pgdts commands read it from ${API_TOKEN_ENV}): ${token.origin.token}`,
        );
        break;
    }
    const log = logOf(o.out);
    // One instance for the worker and the verification jobs of this process: their evaluations
    // of a task then share its delivery queues (alerts.md A2, A3).
    alerts = new TaskAlerts(store, { log });
    verifications = new VerificationRunner(store, {
      ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
      ...(o.leaseTimeoutMs !== undefined ? { leaseTimeoutMs: o.leaseTimeoutMs } : {}),
      after: verificationAlertsOf(store, alerts),
      log,
    });
    app = await buildApi({ store, token, version: o.version, verifications });
    const address = await app.listen({ host: listen.host, port: listen.port });
    if (o.worker !== false) worker = await startWorker(store, o, alerts);
    scheduler = new VerificationScheduler({
      store,
      runner: verifications,
      log,
      ...(o.verifyTickMs !== undefined ? { tickMs: o.verifyTickMs } : {}),
    }).start();
    // [V12] Jobs of serve processes that stopped are taken over and resumed (with or without a worker).
    verifications.watch();
    // Last: "listening" says the process is ready, worker included (tests and scripts wait for it).
    o.out(`listening on ${address}`);
    return { url: address, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Options of {@link startWorkerProcess}. */
export interface WorkerProcessOptions {
  /** URL of the store database (the one `pgdts serve --store` uses). */
  readonly store: string;
  /** Where the secret key file is, unless PGDTS_SECRET_KEY is set. */
  readonly dataDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly out: (line: string) => void;
  readonly pollMs?: number;
  readonly leaseTimeoutMs?: number;
}

/**
 * `pgdts worker`: a worker on a shared store, without the API. It needs the store's secret key (the
 * same PGDTS_SECRET_KEY, or a copy of the key file in its --data-dir) to read the data sources'
 * passwords; a key file is never created here.
 * @throws {PgdtsError} CONFIG_INVALID for a missing or bad key; STORE_FAILED for the store.
 */
export async function startWorkerProcess(o: WorkerProcessOptions): Promise<{ stop(): Promise<void> }> {
  const dataDir = path.resolve(o.dataDir);
  const { key, source } = loadSecretKey(o.env, dataDir, { create: false });
  o.out(source.kind === 'env' ? 'secret key: from PGDTS_SECRET_KEY' : `secret key: ${source.file}`);
  o.out(`store: ${describeUrl(o.store)}`);
  const store = await ControlStore.open(o.store, new SecretBox(key));
  try {
    const worker = await startWorker(store, o);
    return {
      stop: async () => {
        await worker.stop();
        await store.close().catch(() => undefined);
      },
    };
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
}

/** Operator lines: `warn: ...`, `error: ...`, info without a prefix. */
function logOf(out: (line: string) => void): (level: string, message: string) => void {
  return (level, message) => out(`${level === 'info' ? '' : `${level}: `}${message}`);
}

/**
 * What a finished verification job triggers: the task's `verification-failed` alert rule is
 * evaluated at once when no worker runs the task (a running task's worker evaluates every rule on
 * each poll, so it is left to it: one evaluator at a time, alerts.md A2).
 */
function verificationAlertsOf(store: ControlStore, alerts: TaskAlerts): AfterVerification {
  return async (taskId) => {
    const t = await store.tasks.get(taskId);
    if (t !== undefined && t.state !== 'running') await alerts.evaluate(t, ['verification-failed']);
  };
}

async function startWorker(
  store: ControlStore,
  o: { readonly out: (line: string) => void; readonly pollMs?: number; readonly leaseTimeoutMs?: number },
  alerts?: TaskAlerts,
): Promise<TaskWorker> {
  const log = logOf(o.out);
  return TaskWorker.start({
    store,
    log,
    alerts: alerts ?? new TaskAlerts(store, { log }),
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
    ...(o.leaseTimeoutMs !== undefined ? { leaseTimeoutMs: o.leaseTimeoutMs } : {}),
  });
}

/**
 * Starts (initialising on first use) the embedded store in `<dataDir>/store`, with durable settings
 * (the test defaults of EmbeddedServer turn fsync off) and a superuser password kept in
 * `<dataDir>/store.password` (mode 0600), and creates its database when missing.
 * @throws {PgdtsError} CONFIG_INVALID when the embedded binaries (devDependency pg17, in a clone) are
 *   not installed: pass --store then.
 */
async function startEmbeddedStore(dataDir: string): Promise<EmbeddedServer> {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pwFile = path.join(dataDir, 'store.password');
  let password: string;
  try {
    password = readFileSync(pwFile, 'utf8').trim();
  } catch {
    password = randomBytes(24).toString('base64url');
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
  }
  let server: EmbeddedServer;
  try {
    server = await EmbeddedServer.start({
      version: 17,
      dataDir: path.join(dataDir, 'store'),
      password,
      // Its own session: Ctrl-C reaches serve only, which stops the store after the API.
      detached: true,
      settings: {
        fsync: 'on',
        synchronous_commit: 'on',
        full_page_writes: 'on',
        wal_level: 'replica',
        shared_buffers: "'32MB'",
        max_connections: 50,
        max_wal_size: "'256MB'",
      },
    });
  } catch (e) {
    if (e instanceof PgdtsError && e.code === 'CONFIG_INVALID' && /not available/.test(e.message)) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `pgdts serve cannot start its embedded store: ${e.message.split(':')[0]}; its binaries (the npm package pg17, Linux x64) come with a clone of pgdts (npm ci), not with the installed package`,
        {
          cause: e,
          hint: 'pass --store postgresql://USER:PASSWORD@HOST:PORT/DATABASE to keep the state in a PostgreSQL database of your own',
        },
      );
    }
    throw e;
  }
  const exists = await server.query<{ n: number }>(
    'postgres',
    'SELECT count(*)::int AS n FROM pg_database WHERE datname = $1',
    [EMBEDDED_DATABASE],
  );
  if (exists[0]?.n !== 1) await server.query('postgres', `CREATE DATABASE ${EMBEDDED_DATABASE}`);
  return server;
}
