/**
 * Building blocks of the workloads: the two embedded PostgreSQL 15 servers, the Debian client tools
 * (`pgbench`, `pg_dump`, `pg_restore`, `psql`, version 15 to match), LSN bookkeeping, `pgdts run` as a
 * subprocess and native logical replication (publication + subscription) as the baseline.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { EmbeddedServer } from '../src/embedded/embedded-server.ts';
import { mustRun, mustRunShell, run, shq, start, type ProcResult, type Running } from './proc.ts';

/** Paths of the client tools (Debian's PostgreSQL 15 packages). */
export const TOOLS = {
  pgbench: '/usr/bin/pgbench',
  pgDump: '/usr/bin/pg_dump',
  pgRestore: '/usr/bin/pg_restore',
  psql: '/usr/bin/psql',
} as const;

/** Everything a workload needs: the servers and a scratch directory. */
export interface BenchContext {
  readonly source: EmbeddedServer;
  readonly destination: EmbeddedServer;
  readonly workDir: string;
  /** Root of the repository (where bin/pgdts.js is). */
  readonly repoDir: string;
  /** Prints a progress line (to stderr, so stdout holds only the tables). */
  readonly log: (msg: string) => void;
}

/** libpq environment for the client tools to reach `server` (the password never appears in argv). */
export function pgEnv(server: EmbeddedServer): NodeJS.ProcessEnv {
  return {
    PGHOST: server.host,
    PGPORT: String(server.port),
    PGUSER: server.user,
    PGPASSWORD: server.password,
  };
}

/** `libpq` keyword/value connection string of a database (for psql in pipes and CREATE SUBSCRIPTION). */
export function conninfo(server: EmbeddedServer, db: string): string {
  return `host=${server.host} port=${server.port} user=${server.user} password=${server.password} dbname=${db}`;
}

/** {@link conninfo}, single-quoted for bash. */
export function shqConn(server: EmbeddedServer, db: string): string {
  return shq(conninfo(server, db));
}

/** Runs one SQL statement through pg and returns the first row. */
export async function one<R extends Record<string, unknown>>(
  server: EmbeddedServer,
  db: string,
  sql: string,
  params: unknown[] = [],
): Promise<R> {
  const rows = await server.query<R>(db, sql, params);
  const r = rows[0];
  if (r === undefined) throw new Error(`no row from: ${sql}`);
  return r;
}

/** `pgbench -i -s scale` into a new database (PK indexes included, as pgbench creates them). */
export async function pgbenchInit(server: EmbeddedServer, db: string, scale: number): Promise<void> {
  await server.createDatabase(db);
  await mustRun('pgbench -i', TOOLS.pgbench, ['-i', '-q', '-s', String(scale), db], { env: pgEnv(server) });
}

/** Creates `db` as a copy of `template` (a file-level copy: both start with identical data). */
export async function cloneDatabase(server: EmbeddedServer, template: string, db: string): Promise<void> {
  await server.query('postgres', `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  await server.query('postgres', `CREATE DATABASE "${db}" TEMPLATE "${template}"`);
}

/** Copies the schema (no data) of `fromDb` into the new database `toDb` with pg_dump --schema-only | psql. */
export async function copySchema(
  from: EmbeddedServer,
  fromDb: string,
  to: EmbeddedServer,
  toDb: string,
  section?: 'pre-data' | 'post-data',
): Promise<ProcResult> {
  const sect = section !== undefined ? `--section=${section}` : '--schema-only';
  return mustRunShell(
    'pg_dump --schema-only | psql',
    `${TOOLS.pgDump} ${sect} -d ${shq(conninfo(from, fromDb))} | ${TOOLS.psql} -q -X -v ON_ERROR_STOP=1 -d ${shq(conninfo(to, toDb))}`,
  );
}

/** Ordinary tables of the `public` schema with their exact row count and pg_table_size (bytes). */
export async function tableStats(
  server: EmbeddedServer,
  db: string,
): Promise<{ name: string; rows: number; bytes: number }[]> {
  const tables = await server.query<{ name: string; bytes: string }>(
    db,
    `SELECT c.relname AS name, pg_table_size(c.oid) AS bytes FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY pg_table_size(c.oid) DESC`,
  );
  const out: { name: string; rows: number; bytes: number }[] = [];
  for (const t of tables) {
    const r = await one<{ n: string }>(server, db, `SELECT count(*) AS n FROM "${t.name}"`);
    out.push({ name: t.name, rows: Number(r.n), bytes: Number(t.bytes) });
  }
  return out;
}

// --- LSNs -------------------------------------------------------------------------------------------

/** Current WAL insert LSN of the server (text form). */
export async function insertLsn(server: EmbeddedServer): Promise<string> {
  return (await one<{ l: string }>(server, 'postgres', 'SELECT pg_current_wal_insert_lsn()::text AS l')).l;
}

/** Bytes of WAL between two LSNs. */
export async function walBytes(server: EmbeddedServer, from: string, to: string): Promise<number> {
  const r = await one<{ b: string }>(
    server,
    'postgres',
    'SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn) AS b',
    [to, from],
  );
  return Number(r.b);
}

/**
 * End LSN of the last COMMIT record written after `since`: what a replication slot's
 * confirmed_flush_lsn must reach once the consumer applied every transaction so far. Read from the WAL
 * with pg_walinspect (PostgreSQL docs, "pg_walinspect"); pg_current_wal_insert_lsn() is not usable as
 * a target because records after the last commit (running-xacts, checkpoints) are never confirmed.
 * Needs quiescence (no other database committing meanwhile: the harness runs one thing at a time, and
 * the source runs with autovacuum off). pg_walinspect must be installed in the `postgres` database
 * beforehand (installing it here would itself commit a transaction).
 */
export async function lastCommitEndLsn(server: EmbeddedServer, since: string): Promise<string> {
  // pg_walinspect only reads WAL up to the flush LSN; with synchronous_commit=off the WAL writer
  // flushes within wal_writer_delay (200 ms).
  const deadline = Date.now() + 10_000;
  let flush: string;
  for (;;) {
    const r = await one<{ ins: string; fl: string; caught: boolean }>(
      server,
      'postgres',
      `SELECT pg_current_wal_insert_lsn()::text AS ins, pg_current_wal_flush_lsn()::text AS fl,
              pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn() AS caught`,
    );
    flush = r.fl;
    if (r.caught || Date.now() > deadline) break;
    await sleep(100);
  }
  // Scan at most the last 64 MB: the last commit is near the end.
  const r = await one<{ l: string | null }>(
    server,
    'postgres',
    `SELECT max(end_lsn)::text AS l FROM pg_get_wal_records_info(
        CASE WHEN pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn) > 67108864 THEN $2::pg_lsn - 67108864 ELSE $1::pg_lsn END,
        $2::pg_lsn)
     WHERE resource_manager = 'Transaction' AND record_type LIKE 'COMMIT%'`,
    [since, flush],
  );
  if (r.l === null) throw new Error(`no COMMIT record in the WAL between ${since} and ${flush}`);
  return r.l;
}

/** confirmed_flush_lsn and activity of a replication slot, or undefined when it does not exist. */
export async function slotState(
  server: EmbeddedServer,
  slot: string,
): Promise<{ confirmed: string | null; active: boolean } | undefined> {
  const rows = await server.query<{ confirmed: string | null; active: boolean }>(
    'postgres',
    'SELECT confirmed_flush_lsn::text AS confirmed, active FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return rows[0];
}

/**
 * Polls (every `pollMs`) until the slot's confirmed_flush_lsn ≥ `target`; returns the seconds waited.
 * @throws {Error} after `timeoutMs`, or as soon as `alive()` returns a reason to give up.
 */
export async function waitSlotReaches(
  server: EmbeddedServer,
  slot: string,
  target: string,
  opts: { timeoutMs?: number; pollMs?: number; alive?: () => string | undefined } = {},
): Promise<number> {
  const t0 = performance.now();
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000);
  for (;;) {
    const rows = await server.query<{ ok: boolean }>(
      'postgres',
      'SELECT confirmed_flush_lsn >= $2::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = $1',
      [slot, target],
    );
    if (rows[0]?.ok === true) return (performance.now() - t0) / 1000;
    const dead = opts.alive?.();
    if (dead !== undefined) throw new Error(dead);
    if (Date.now() > deadline) {
      const s = await slotState(server, slot);
      throw new Error(
        `timed out after ${(opts.timeoutMs ?? 600_000) / 1000} s waiting for slot ${slot} to confirm ${target} (at ${s?.confirmed ?? 'no slot'})`,
      );
    }
    await sleep(opts.pollMs ?? 50);
  }
}

/** Polls `check` every 200 ms until it returns true. @throws {Error} `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 600_000,
  alive?: () => string | undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    const dead = alive?.();
    if (dead !== undefined) throw new Error(dead);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A probe transaction (a no-op UPDATE of one pgbench_branches row, a real row change for logical
 * decoding) followed by its commit end LSN: once a slot confirms it, everything before was applied.
 */
export async function probeCommit(server: EmbeddedServer, db: string): Promise<string> {
  const before = await insertLsn(server);
  await server.query(db, 'UPDATE pgbench_branches SET bbalance = bbalance WHERE bid = 1');
  return lastCommitEndLsn(server, before);
}

// --- pgdts ------------------------------------------------------------------------------------------

/** Replication slot of a task: `pgdts_` + the task name with characters outside [a-z0-9_] replaced by `_`. */
export function pgdtsSlotName(task: string): string {
  return `pgdts_${task.replace(/[^a-z0-9_]/g, '_')}`;
}

/** Writes a task file for `pgdts run` copying the `public` schema of `srcDb` into `dstDb`. */
export function writeTaskFile(
  ctx: BenchContext,
  name: string,
  srcDb: string,
  dstDb: string,
  syncTypes: readonly ('schema' | 'full' | 'incremental')[],
  jobs = 2,
): string {
  const file = path.join(ctx.workDir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${name}`,
      `source: { type: postgresql, url: ${ctx.source.url(srcDb)} }`,
      `destination: { type: postgresql, url: ${ctx.destination.url(dstDb)} }`,
      `syncTypes: [${syncTypes.join(', ')}]`,
      'objects: [ { schema: public } ]',
      `full: { jobs: ${jobs} }`,
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * Starts `bin/pgdts run TASK_FILE` (the launcher users run, with its V8 flags) on the node running the
 * bench (first on PATH); its output goes to `<task file>.log`. `env` is added to the bench's environment
 * (e.g. PGDTS_NODE_OPTIONS for a CPU profile).
 */
export function startPgdts(
  ctx: BenchContext,
  taskFile: string,
  extraArgs: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Running {
  return start(path.join(ctx.repoDir, 'bin', 'pgdts'), ['run', ...extraArgs, taskFile], {
    cwd: ctx.repoDir,
    env: {
      ...process.env,
      ...env,
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    },
    logFile: `${taskFile}.log`,
  });
}

/**
 * Starts `bin/pgdts <args>` (another command than run: precheck, verify, release) like {@link startPgdts};
 * with `stdoutFile`, stdout goes there whole (e.g. a `--json` report) and only stderr to `logFile`.
 */
export function startPgdtsCommand(
  ctx: BenchContext,
  args: readonly string[],
  logFile: string,
  stdoutFile?: string,
): Running {
  return start(path.join(ctx.repoDir, 'bin', 'pgdts'), args, {
    cwd: ctx.repoDir,
    env: {
      ...process.env,
      PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`,
    },
    logFile,
    ...(stdoutFile !== undefined ? { stdoutFile } : {}),
  });
}

/** Describes why a subprocess that should still be running has exited, or undefined while it runs. */
export function exitReason(what: string, p: Running): string | undefined {
  const c = p.child;
  if (c.exitCode === null && c.signalCode === null) return undefined;
  return `${what} exited early (exit ${c.exitCode ?? c.signalCode}): ${lastError(p.stderr())}`;
}

/** The last stderr line that is not part of a stack trace (indented `at ...` lines), shortened. */
export function lastError(stderrTail: string): string {
  const lines = stderrTail.split('\n').filter((l) => l.trim() !== '' && !/^\s/.test(l));
  return (lines[lines.length - 1] ?? '').slice(0, 240);
}

/** Formats a failed process for the report: exit status and its last error line. */
export function failure(what: string, r: ProcResult): string {
  return `${what} exit ${r.code ?? r.signal}: ${lastError(r.stderrTail)}`;
}

// --- native logical replication -----------------------------------------------------------------------

/**
 * Native logical replication baseline: publication FOR ALL TABLES on `srcDb`, schema copied with
 * pg_dump --schema-only into the new `dstDb`, subscription with copy_data = true; resolves once every
 * table reached the `r` (ready) state and a probe transaction was confirmed. The subscription's slot is
 * named like the subscription.
 */
export async function startNativeReplication(
  ctx: BenchContext,
  srcDb: string,
  dstDb: string,
  name: string,
): Promise<void> {
  await ctx.destination.createDatabase(dstDb);
  await copySchema(ctx.source, srcDb, ctx.destination, dstDb);
  await ctx.source.query(srcDb, `CREATE PUBLICATION ${name} FOR ALL TABLES`);
  await ctx.destination.query(
    dstDb,
    `CREATE SUBSCRIPTION ${name} CONNECTION '${conninfo(ctx.source, srcDb)}' PUBLICATION ${name} WITH (copy_data = true)`,
  );
  await waitFor('the initial sync of the subscription', async () => {
    const r = await one<{ n: string }>(
      ctx.destination,
      dstDb,
      `SELECT count(*) AS n FROM pg_subscription_rel WHERE srsubstate <> 'r'`,
    );
    return Number(r.n) === 0;
  });
  await waitSlotReaches(ctx.source, name, await probeCommit(ctx.source, srcDb));
}

/** Drops the subscription (and with it its slot on the source). */
export async function dropNativeReplication(ctx: BenchContext, dstDb: string, name: string): Promise<void> {
  await ctx.destination.query(dstDb, `DROP SUBSCRIPTION IF EXISTS ${name}`).catch(() => undefined);
}

/** Runs pgbench TPC-B (no vacuum/truncate: `-n`) on `db` with extra arguments; returns tps and transactions. */
export async function pgbenchRun(
  server: EmbeddedServer,
  db: string,
  args: readonly string[],
): Promise<{ tps: number; transactions: number }> {
  const r = await run(TOOLS.pgbench, ['-n', ...args, db], { env: pgEnv(server) });
  if (r.code !== 0) throw new Error(`pgbench failed: ${r.stderrTail}`);
  const tps = /tps = ([\d.]+)/.exec(r.stdoutTail)?.[1];
  const tx = /number of transactions actually processed: (\d+)/.exec(r.stdoutTail)?.[1];
  return { tps: Number(tps ?? NaN), transactions: Number(tx ?? NaN) };
}
