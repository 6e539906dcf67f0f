/**
 * `npm run demo`: a self-contained tour of pgdts on two embedded PostgreSQL 17 servers. It fills a
 * sample shop database on the source, runs a task (schema, full and incremental sync) in-process
 * while a live write workload changes the source, then stops the workload, waits until the
 * destination has caught up, verifies both sides and prints a summary.
 *
 * Everything lives under `.pgdts/demo/` in the current directory: the two data directories (reused
 * by the next run; the `shop` databases are recreated each time), the generated superuser password
 * and the task file. Environment: `DEMO_ROWS` (rows of the sample, default 1,000,000) and
 * `DEMO_SECONDS` (stop on its own this many seconds after incremental sync began; without it the
 * demo runs until SIGINT, SIGTERM or SIGHUP, which all stop it the same way). The servers run in a
 * session of their own, so only the demo gets a terminal's signals and stops them once done; servers
 * left by a SIGKILLed run are stopped by the next run before it starts its own.
 *
 * Exit codes: 0 verify found both sides identical, 1 they differ (or the demo was stopped before
 * incremental sync began, so nothing was verified), 2 an error.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { ProgressRenderer } from '../cli/progress-renderer.ts';
import { CancelledError, ConfigError, PgdtsError } from '../core/errors.ts';
import { parseTaskConfig, slotNameOf, type TaskConfig } from '../core/task-config.ts';
import { EmbeddedServer } from '../embedded/embedded-server.ts';
import { connect, redact, resolveEndpoint } from '../pg/connection.ts';
import type { ProgressEvent } from '../core/progress.ts';
import { withConnectors } from '../connectors/open-connectors.ts';
import { releaseTask } from '../pipeline/release-task.ts';
import { runTask } from '../pipeline/task-runner.ts';
import { formatVerifyReport, verifyTask, type VerifyReport } from '../pipeline/verify/index.ts';
import { runKafkaDemo } from './kafka-demo.ts';
import { createSampleDatabase, SAMPLE_SCHEMAS, type SampleDatabaseSummary } from './sample-database.ts';
import { startWriteWorkload, type WriteWorkload, type WriteWorkloadStats } from './write-workload.ts';

/** Database name of the sample on both servers. */
const DB = 'shop';
const TASK_NAME = 'demo';
/** How long to wait for the destination to apply everything the workload committed, ms. */
const CATCH_UP_TIMEOUT_MS = 120_000;
const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');
const DEMO_DIR = path.resolve('.pgdts', 'demo');

/** Settings read from the environment. */
interface DemoSettings {
  /** Approximate rows of the sample database. */
  readonly rows: number;
  /** Run time of the workload in seconds, or undefined to run until a signal. */
  readonly seconds: number | undefined;
}

/**
 * Reads `DEMO_ROWS` and `DEMO_SECONDS`.
 * @throws {ConfigError} when a value is not a number in range.
 */
function readSettings(env: NodeJS.ProcessEnv): DemoSettings {
  const rows = env.DEMO_ROWS === undefined || env.DEMO_ROWS === '' ? 1_000_000 : Number(env.DEMO_ROWS);
  if (!Number.isInteger(rows) || rows < 100) {
    throw new ConfigError('DEMO_ROWS', 'must be an integer of at least 100');
  }
  if (env.DEMO_SECONDS === undefined || env.DEMO_SECONDS === '') return { rows, seconds: undefined };
  const seconds = Number(env.DEMO_SECONDS);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new ConfigError('DEMO_SECONDS', 'must be a positive number of seconds');
  }
  return { rows, seconds };
}

/** A stop request (signal, timer or failed workload) that can be awaited. */
interface StopRequest {
  readonly promise: Promise<string>;
  request(reason: string): void;
  readonly requested: boolean;
}

function stopRequest(): StopRequest {
  let resolve: (reason: string) => void = () => undefined;
  let requested = false;
  const promise = new Promise<string>((r) => (resolve = r));
  return {
    promise,
    request(reason) {
      requested = true;
      resolve(reason);
    },
    get requested() {
      return requested;
    },
  };
}

/** While a task runs, lines go through the renderer so they do not tear its redrawn block. */
let activeRenderer: ProgressRenderer | undefined;

function say(line: string): void {
  if (activeRenderer) activeRenderer.handle({ kind: 'log', level: 'info', message: line });
  else process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

const count = (n: number) => n.toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** `p` relative to the current directory when inside it (shorter to read and type), else absolute. */
const relative = (p: string) => {
  const r = path.relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

/**
 * The superuser password of both demo servers, generated once and kept next to the data
 * directories (mode 0600) so that a later run can log into them again.
 */
function demoPassword(): string {
  const file = path.join(DEMO_DIR, 'password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  // Data directories initialised with a password we no longer know cannot be logged into: start over.
  for (const side of ['source', 'destination']) {
    rmSync(path.join(DEMO_DIR, side), { recursive: true, force: true });
  }
  const password = randomBytes(15).toString('base64url');
  writeFileSync(file, password, { mode: 0o600 });
  return password;
}

/**
 * Starts both servers; a server that did start is returned through `started` even when the other
 * failed, so that it is stopped too.
 * @throws {Error} the first start failure.
 */
async function startServers(password: string, started: EmbeddedServer[]): Promise<EmbeddedServer[]> {
  const results = await Promise.allSettled(
    ['source', 'destination'].map((side) =>
      EmbeddedServer.start({
        version: 17,
        dataDir: path.join(DEMO_DIR, side),
        password,
        // Ctrl-C (and a closing terminal) must reach the demo only: it stops the workload, waits for
        // the destination, verifies and then stops the servers itself.
        detached: true,
        onLeftoverStopped: (pid) =>
          say(`stopped the ${side} server (PID ${pid}) that a killed demo run had left running`),
      }),
    ),
  );
  for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  return started;
}

/**
 * Recreates `shop` on both servers. A logical replication slot belongs to its database and makes
 * DROP DATABASE fail, so a previous run's slot (and its walsender, if that run is somehow still
 * streaming) goes first; the publication goes with the database.
 * @throws {Error} when a leftover slot cannot be dropped within 10 s.
 */
async function resetDatabases(
  source: EmbeddedServer,
  destination: EmbeddedServer,
  slot: string,
): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const slots = await source.query<{ slot_name: string; active_pid: number | null }>(
      'postgres',
      'SELECT slot_name, active_pid FROM pg_replication_slots WHERE slot_name = $1 OR database = $2',
      [slot, DB],
    );
    if (slots.length === 0) break;
    for (const s of slots) {
      try {
        if (s.active_pid !== null) {
          await source.query('postgres', 'SELECT pg_terminate_backend($1)', [s.active_pid]);
        } else {
          await source.query('postgres', 'SELECT pg_drop_replication_slot($1)', [s.slot_name]);
          say(`dropped replication slot ${s.slot_name} left by a previous run`);
        }
      } catch (e) {
        // The walsender may not have exited yet ("replication slot is active"): try again shortly.
        if (Date.now() > deadline) throw e;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all([source.createDatabase(DB), destination.createDatabase(DB)]);
}

/** Fills the source's `shop` database with the sample and prepares it for logical replication. */
async function createSample(source: EmbeddedServer, rows: number): Promise<SampleDatabaseSummary> {
  const client = new pg.Client(source.clientConfig(DB));
  await client.connect();
  try {
    const summary = await createSampleDatabase(client, {
      rows,
      onProgress: (p) => say(`  ${p.table}: ${count(p.rows)} rows`),
    });
    // audit.page_views has no key: without REPLICA IDENTITY FULL the source refuses UPDATE and DELETE
    // on it once it is published (PostgreSQL docs, "Logical Replication — Publication"), and a
    // precheck of the task would fail. The workload only inserts there, but a real migration would
    // set this, so the demo does too.
    await client.query('ALTER TABLE audit.page_views REPLICA IDENTITY FULL');
    return summary;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The demo's row filter on audit.page_views: only views by signed-in customers move. */
const DEMO_ROW_FILTER = 'customer_id IS NOT NULL';

/** The task document (what a user would write in a task file). */
function taskDocument(source: EmbeddedServer, destination: EmbeddedServer): Record<string, unknown> {
  return {
    name: TASK_NAME,
    source: { type: 'postgresql', url: source.url(DB) },
    destination: { type: 'postgresql', url: destination.url(DB) },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [
      ...SAMPLE_SCHEMAS.map((schema) => ({ schema })),
      // Task options at work: one table lands under another name, one moves only some rows (the
      // workload's anonymous page views stay behind). verify compares them through the same options.
      { table: 'billing.payments', as: 'finance.payments' },
      { table: 'audit.page_views', where: DEMO_ROW_FILTER },
    ],
    full: { jobs: 2 },
    // Both servers are local: a failing statement is worth seeing after the shortest window allowed.
    retry: { connectionMinutes: 10, otherMinutes: 1 },
  };
}

/** Writes the task file (mode 0600: it holds the demo servers' password) and returns its path. */
function writeTaskFile(doc: Record<string, unknown>): string {
  const file = path.join(DEMO_DIR, 'task.yaml');
  writeFileSync(
    file,
    `# Written by npm run demo; valid only while the demo's servers run (their ports change each run).\n${stringify(doc)}`,
    { mode: 0o600 },
  );
  chmodSync(file, 0o600);
  return file;
}

/** A phase of the run and when it started and ended (performance.now(), ms). */
interface PhaseSpan {
  readonly phase: string;
  readonly startedAt: number;
  endedAt: number | undefined;
}

/** What the run did, for the summary. */
interface RunResult {
  readonly phases: readonly PhaseSpan[];
  readonly rowsCopied: number;
  readonly tablesCopied: number;
  readonly workload: WriteWorkloadStats;
  readonly rowsApplied: number | undefined;
  /** Time from the workload's stop to the slot confirming the source's WAL position, ms; undefined on timeout. */
  readonly catchUpMs: number | undefined;
  readonly verify: VerifyReport;
  readonly verifyMs: number;
}

/**
 * Polls until the task's replication slot has confirmed `target` (its `confirmed_flush_lsn`, the
 * position up to which the destination has durably applied; PostgreSQL docs, "pg_replication_slots").
 * @returns false on timeout or when `gaveUp()` turns true (the task ended).
 */
async function waitForCatchUp(
  source: EmbeddedServer,
  slot: string,
  target: string,
  gaveUp: () => boolean,
): Promise<boolean> {
  const client = new pg.Client(source.clientConfig(DB));
  await client.connect();
  try {
    const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
    while (Date.now() < deadline && !gaveUp()) {
      const r = await client.query<{ ok: boolean | null }>(
        'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
        [slot, target],
      );
      if (r.rows[0]?.ok === true) return true;
      await new Promise((res) => setTimeout(res, 100));
    }
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

type TaskOutcome = { readonly ok: true } | { readonly ok: false; readonly error: unknown };

/**
 * Runs the task with the workload and stops both as described in the file comment.
 * @returns undefined when stopped before incremental sync began (nothing to verify).
 * @throws {PgdtsError} or another error when the task, the workload or verify fails.
 */
async function runDemo(
  task: TaskConfig,
  source: EmbeddedServer,
  settings: DemoSettings,
  stop: StopRequest,
): Promise<RunResult | undefined> {
  const slot = slotNameOf(task);
  const controller = new AbortController();
  const phases: PhaseSpan[] = [];
  const copied = new Map<string, number>();
  let lastStatus: Extract<ProgressEvent, { kind: 'status' }> | undefined;
  let onStatus: (() => void) | undefined;
  let workload: WriteWorkload | undefined;
  let timer: NodeJS.Timeout | undefined;
  const sourceParams = resolveEndpoint(task.source, process.env, 'source');

  const startWorkload = () => {
    workload = startWriteWorkload(
      () => connect(sourceParams, { role: 'source', applicationName: 'pgdts-demo-workload' }),
      {
        bigTransactionEveryMs: 5_000,
        bigTransactionRows: Math.min(50_000, Math.max(1_000, Math.round(settings.rows / 20))),
        onError: (e) => stop.request(`the write workload failed: ${(e as Error).message}`),
      },
    );
    say(
      `write workload started on the source (~50 transactions/s, a big transaction every 5 s); ` +
        (settings.seconds === undefined
          ? 'press Ctrl-C to stop it and verify'
          : `stopping in ${settings.seconds} s`),
    );
    if (settings.seconds !== undefined) {
      timer = setTimeout(
        () => stop.request(`DEMO_SECONDS=${settings.seconds} elapsed`),
        settings.seconds * 1000,
      );
    }
  };

  const renderer = new ProgressRenderer();
  activeRenderer = renderer;
  const onProgress = (e: ProgressEvent) => {
    renderer.handle(e);
    switch (e.kind) {
      case 'phase': {
        const now = performance.now();
        const prev = phases.at(-1);
        if (prev && prev.endedAt === undefined) prev.endedAt = now;
        phases.push({ phase: e.phase, startedAt: now, endedAt: undefined });
        if (e.phase === 'incremental' && workload === undefined && !stop.requested) startWorkload();
        return;
      }
      case 'table':
        copied.set(e.table, e.rows);
        return;
      case 'status':
        lastStatus = e;
        onStatus?.();
        return;
      case 'log':
      case 'sample':
        return;
    }
  };

  let ended: TaskOutcome | undefined;
  const taskEnded: Promise<TaskOutcome> = withConnectors(task, (c) =>
    runTask(task, { ...c, signal: controller.signal, onProgress }),
  ).then(
    () => (ended = { ok: true }),
    (error: unknown) => (ended = { ok: false, error }),
  );
  /** Rethrows the task's failure; a requested stop (CancelledError) is success. */
  const settle = (o: TaskOutcome) => {
    if (!o.ok && !(o.error instanceof CancelledError)) throw o.error;
  };

  try {
    const first = await Promise.race([
      stop.promise.then((reason) => ({ kind: 'stop' as const, reason })),
      taskEnded.then((outcome) => ({ kind: 'ended' as const, outcome })),
    ]);
    if (first.kind === 'ended') {
      settle(first.outcome);
      throw new PgdtsError('INTERNAL', 'the task ended although incremental sync runs until stopped');
    }
    say(`stopping: ${first.reason}`);
    if (workload === undefined) {
      controller.abort();
      settle(await taskEnded);
      return undefined;
    }

    const stoppedAt = performance.now();
    const stats = await workload.stop();
    const [wal] = await source.query<{ lsn: string }>(DB, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    const target = wal?.lsn ?? '0/0';
    say(
      `write workload stopped: ${count(stats.transactions)} transactions, ${count(stats.rows)} rows; ` +
        `waiting for replication slot ${slot} to confirm ${target}`,
    );
    const caughtUp = await waitForCatchUp(source, slot, target, () => ended !== undefined);
    if (ended !== undefined) settle(ended);
    const catchUpMs = caughtUp ? performance.now() - stoppedAt : undefined;
    if (caughtUp) {
      say(`destination caught up ${seconds(catchUpMs ?? 0)} after the workload stopped`);
      // One more status tick so that the summary's applied row count includes the last transactions.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3_000);
        onStatus = () => {
          clearTimeout(t);
          resolve();
        };
      });
    } else {
      renderer.handle({
        kind: 'log',
        level: 'warn',
        message: `the destination did not catch up within ${seconds(CATCH_UP_TIMEOUT_MS)}; verify will show what is missing`,
      });
    }
    controller.abort();
    settle(await taskEnded);
    const last = phases.at(-1);
    if (last && last.endedAt === undefined) last.endedAt = performance.now();
    renderer.close();
    activeRenderer = undefined;

    say('verifying: comparing row counts and content hashes of every table');
    const verifyStarted = performance.now();
    const verify = await withConnectors(task, (c) => verifyTask(task, c));
    const verifyMs = performance.now() - verifyStarted;
    process.stdout.write(`${formatVerifyReport(verify)}\n`);
    return {
      phases,
      rowsCopied: [...copied.values()].reduce((a, b) => a + b, 0),
      tablesCopied: copied.size,
      workload: stats,
      rowsApplied: lastStatus?.rowsApplied,
      catchUpMs,
      verify,
      verifyMs,
    };
  } finally {
    if (timer) clearTimeout(timer);
    onStatus = undefined;
    controller.abort();
    // The task must be gone before its slot is released and the servers stop.
    await taskEnded;
    if (workload) await workload.stop().catch(() => undefined);
    renderer.close();
    activeRenderer = undefined;
  }
}

function printSummary(sample: SampleDatabaseSummary, sampleMs: number, r: RunResult, totalMs: number): void {
  const lines = [
    'summary',
    `  sample database     ${count(sample.totalRows)} rows in ${Object.keys(sample.tables).length} tables, created in ${seconds(sampleMs)}`,
    `  full sync           ${count(r.rowsCopied)} rows copied (${r.tablesCopied} tables and partitions)`,
    `  write workload      ${count(r.workload.transactions)} transactions, ${count(r.workload.rows)} rows written`,
    `  incremental sync    ${r.rowsApplied === undefined ? 'no status reported' : `${count(r.rowsApplied)} rows applied`}, ` +
      (r.catchUpMs === undefined
        ? 'did NOT catch up'
        : `caught up ${seconds(r.catchUpMs)} after the workload stopped`),
    ...r.phases.map(
      (p) => `  phase ${p.phase.padEnd(14)}${seconds((p.endedAt ?? p.startedAt) - p.startedAt)}`,
    ),
    `  verify              ${r.verify.identical ? 'identical' : 'DIFFERENT'} (${r.verify.tables.length} tables, ${seconds(r.verifyMs)})`,
    `  total               ${seconds(totalMs)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Prints an error without the demo password (URLs in messages would carry it). */
function printError(e: unknown, password: string | undefined): void {
  const text =
    e instanceof PgdtsError
      ? `${e.code}: ${e.message}`
      : `INTERNAL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  process.stderr.write(`demo: ${redact(text, password)}\n`);
}

async function main(): Promise<number> {
  const started = performance.now();
  const stop = stopRequest();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    // A second signal means "now": the servers are killed by EmbeddedServer's exit hook.
    if (signals > 1) process.exit(130);
    stop.request(`${sig} received`);
  };
  // SIGHUP (the terminal closed) and SIGTERM (kill, a service manager) stop the demo as Ctrl-C does;
  // by default they would end the process at once, leaving both servers running.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  // After SIGHUP the terminal is gone and writes to it fail (EIO; EPIPE for a closed pipe): output is
  // best effort, while stopping the servers is not, so a failed write must not crash the demo.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

  let password: string | undefined;
  const servers: EmbeddedServer[] = [];
  let task: TaskConfig | undefined;
  try {
    const settings = readSettings(process.env);
    mkdirSync(DEMO_DIR, { recursive: true });
    password = demoPassword();
    say(`starting two PostgreSQL 17 servers (data directories in ${relative(DEMO_DIR)})`);
    const [source, destination] = await startServers(password, servers);
    if (!source || !destination) throw new PgdtsError('INTERNAL', 'servers did not start');
    say(`source on 127.0.0.1:${source.port}, destination on 127.0.0.1:${destination.port}`);
    if (stop.requested) return 1;

    const doc = taskDocument(source, destination);
    const parsed = parseTaskConfig(doc);
    await resetDatabases(source, destination, slotNameOf(parsed));
    say(`creating the sample database "${DB}" on the source (~${count(settings.rows)} rows)`);
    const sampleStarted = performance.now();
    const sample = await createSample(source, settings.rows);
    const sampleMs = performance.now() - sampleStarted;
    say(`sample ready: ${count(sample.totalRows)} rows in ${seconds(sampleMs)}`);
    if (stop.requested) return 1;

    const file = writeTaskFile(doc);
    say(`task file: ${relative(file)}`);
    say(
      `  while the demo runs, try in another terminal: ${relative(path.join(PROJECT_ROOT, 'bin', 'pgdts'))} verify ${relative(file)}`,
    );
    task = parsed;
    say(
      `running task ${task.name}: schema, full (2 jobs) and incremental sync of ${SAMPLE_SCHEMAS.join(', ')}; billing.payments as finance.payments, audit.page_views where ${DEMO_ROW_FILTER}`,
    );
    const result = await runDemo(task, source, settings, stop);
    if (result === undefined) {
      say('stopped before incremental sync began: nothing verified');
      return 1;
    }
    printSummary(sample, sampleMs, result, performance.now() - started);
    return result.verify.identical ? 0 : 1;
  } catch (e) {
    printError(e, password);
    return 2;
  } finally {
    if (task) {
      const t = task;
      try {
        const r = await withConnectors(t, (c) => releaseTask(t, c));
        say(
          `released the task: replication slot ${r.slotName} ${r.slotDropped ? 'dropped' : 'not present'}, ` +
            `publication ${r.publicationName} ${r.publicationDropped ? 'dropped' : 'not present'}`,
        );
      } catch (e) {
        printError(e, password);
      }
    }
    if (servers.length > 0) {
      await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
      say('servers stopped');
    }
  }
}

// `npm run demo -- --kafka`: the Kafka destination's demo (kafka-demo.ts).
process.exitCode = process.argv.slice(2).includes('--kafka') ? await runKafkaDemo() : await main();
// Idle pg sockets or timers must not keep a finished demo alive.
process.exit();
