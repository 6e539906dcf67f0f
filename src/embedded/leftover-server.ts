/**
 * Finding and stopping a PostgreSQL server that a killed process left running on a data directory.
 *
 * An {@link EmbeddedServer}'s postmaster is a child of the process that started it and outlives it
 * when that process is SIGKILLed (or dies before its exit hook runs). The next start on the same data
 * directory must not just delete `postmaster.pid` and start a second server next to the first: it
 * stops the first, but only when the process that started it is gone, so that two runs sharing a
 * directory by mistake fail clearly instead of killing each other's servers.
 *
 * Linux only (it reads /proc), like the embedded binaries themselves.
 */
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { PgdtsError } from '../core/errors.ts';

/**
 * Environment variable set on every embedded postmaster: the PID of the process that started it.
 * It travels with the server process (readable in /proc/PID/environ), so no extra file in the data
 * directory can go stale.
 */
export const OWNER_ENV = 'PGDTS_EMBEDDED_OWNER';

/** How long a leftover server gets for a fast shutdown before an immediate one, ms. */
const FAST_SHUTDOWN_MS = 30_000;
/** How long an immediate shutdown may take before giving up, ms. */
const IMMEDIATE_SHUTDOWN_MS = 10_000;

/** What /proc tells about a process. */
interface ProcessInfo {
  /** One-letter state from /proc/PID/stat (`R`, `S`, `Z` for a zombie, ...). */
  readonly state: string;
  readonly ppid: number;
  readonly argv: readonly string[];
  /** Working directory, undefined when not readable (another user's process). */
  readonly cwd: string | undefined;
  /** {@link OWNER_ENV} of the process, undefined when unset or not readable. */
  readonly owner: number | undefined;
}

function processInfo(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "PID (comm) STATE PPID ...": comm may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const optional = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      return undefined;
    }
  };
  const argv = optional(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean));
  const env = optional(() => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'));
  const ownerEntry = env?.find((e) => e.startsWith(`${OWNER_ENV}=`));
  const owner = ownerEntry === undefined ? undefined : Number(ownerEntry.slice(OWNER_ENV.length + 1));
  return {
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    argv: argv ?? [],
    cwd: optional(() => readlinkSync(`/proc/${pid}/cwd`)),
    owner: owner !== undefined && Number.isInteger(owner) ? owner : undefined,
  };
}

/** Is `pid` a running process? A zombie has exited (it only waits for its parent to reap it). */
function isRunning(pid: number): boolean {
  const info = processInfo(pid);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

function sameDir(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/**
 * Is `info` a postmaster of `dataDir`? Its program is `postgres`, and its working directory is the
 * data directory (the postmaster changes into it at start-up) or, when that cannot be read, its
 * `-D` argument names it. A PID reused by an unrelated process matches neither.
 */
function isPostmasterOf(info: ProcessInfo, dataDir: string): boolean {
  if (path.basename(info.argv[0] ?? '') !== 'postgres') return false;
  if (info.cwd !== undefined) return sameDir(info.cwd, dataDir);
  const d = info.argv.indexOf('-D');
  const arg = d >= 0 ? info.argv[d + 1] : undefined;
  return arg !== undefined && sameDir(arg, dataDir);
}

/**
 * The PID in the first line of `<dataDir>/postmaster.pid` (PostgreSQL docs, "Database File Layout":
 * the postmaster's PID, then the data directory, start time, port, ...), or undefined when there is
 * no such file or no number in it. A single-user backend writes its PID negated: taken as is.
 */
function postmasterPid(dataDir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Math.abs(Number(text.split('\n', 1)[0]?.trim()));
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/**
 * Stops a server left running on `dataDir` by a process that no longer runs: a fast shutdown
 * (SIGINT: disconnect clients, checkpoint, exit), then an immediate one (SIGQUIT) if it takes more
 * than 30 s. Does nothing when `postmaster.pid` is absent or names no live postmaster of `dataDir`
 * (a stale file after a crash, or a PID since reused by another process); the caller removes it.
 * @returns the PID of the server that was stopped, or undefined when none was running.
 * @throws {PgdtsError} `CONFIG_INVALID` when the server's starting process still runs (the directory
 *   is in use; this process included) or when it belongs to another user and cannot be signalled;
 *   `INTERNAL` when it does not exit after an immediate shutdown.
 */
export async function stopLeftoverServer(dataDir: string): Promise<number | undefined> {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return undefined;
  const info = processInfo(pid);
  if (info === undefined || info.state === 'Z' || !isPostmasterOf(info, dataDir)) return undefined;
  // A child's parent PID changes only when its parent exits: if the server's parent is still the
  // process that started it, that process is alive and using the directory.
  if (info.owner !== undefined && info.ppid === info.owner) {
    throw new PgdtsError(
      'CONFIG_INVALID',
      `data directory ${dataDir} is in use: its PostgreSQL server (PID ${pid}) was started by ` +
        `${info.owner === process.pid ? 'this process' : `process ${info.owner}`}, which is still running; ` +
        'stop that first or use another directory',
    );
  }
  try {
    process.kill(pid, 'SIGINT');
    if (!(await waitForExit(pid, FAST_SHUTDOWN_MS))) {
      process.kill(pid, 'SIGQUIT');
      if (!(await waitForExit(pid, IMMEDIATE_SHUTDOWN_MS))) {
        throw new PgdtsError(
          'INTERNAL',
          `the PostgreSQL server (PID ${pid}) left running on ${dataDir} did not exit after SIGINT and SIGQUIT`,
        );
      }
    }
  } catch (e) {
    if (e instanceof PgdtsError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return pid; // exited between the check and the signal
    throw new PgdtsError(
      'CONFIG_INVALID',
      `a PostgreSQL server (PID ${pid}) left running on ${dataDir} cannot be stopped by this user (${code}); stop it by hand`,
      { cause: e },
    );
  }
  return pid;
}
