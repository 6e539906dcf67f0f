/**
 * Runs `npm run demo` (src/demo/main.ts) as a child process in a scratch working directory, and finds
 * the PostgreSQL processes of its data directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = path.resolve(import.meta.dirname, '../../src/demo/main.ts');
// `--import tsx` would resolve tsx from the child's working directory, which is not the project.
const TSX = fileURLToPath(import.meta.resolve('tsx'));

/** A finished demo run. */
export interface DemoResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A demo run in progress. */
export interface DemoRun {
  readonly child: ChildProcess;
  /** Resolves when the process has exited and its output pipes are closed. */
  readonly done: Promise<DemoResult>;
  /** Output so far. */
  output(): string;
  /** Resolves when the output matches `re`; rejects after `timeoutMs` or when the demo exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * Starts the demo in `cwd` (its `.pgdts/demo/` goes there) with extra environment `env`. With
 * `processGroup`, the demo leads a process group of its own, as a terminal's foreground job does, so
 * that a test can signal the whole group the way Ctrl-C does (`process.kill(-pid, 'SIGINT')`). `args`: the
 * demo's arguments (`--kafka`).
 */
export function startDemo(
  cwd: string,
  env: Record<string, string>,
  options: { processGroup?: boolean; args?: readonly string[] } = {},
): DemoRun {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...(options.args ?? [])], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.processGroup ?? false,
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    notify();
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    notify();
  });
  const done = new Promise<DemoResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', notify);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    done,
    output: () => stdout + stderr,
    waitFor: (re, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(stdout + stderr)) {
            listeners.delete(check);
            clearTimeout(t);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check);
            clearTimeout(t);
            reject(new Error(`the demo exited before printing ${re}:\n${stdout}\n${stderr}`));
          }
        };
        const t = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re}:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
  };
}

/** Runs the demo to completion, with `args` (`--kafka` for the Kafka demo). */
export function runDemo(
  cwd: string,
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<DemoResult> {
  return startDemo(cwd, env, { args }).done;
}

/**
 * PIDs of the running (not zombie) processes whose working directory is one of `dataDirs`: every
 * PostgreSQL process of a data directory has it as its working directory (the postmaster changes
 * into it and its children inherit it), whatever process title it shows.
 */
export function postgresProcessesOf(dataDirs: readonly string[]): number[] {
  const dirs = new Set(dataDirs.map((d) => path.resolve(d)));
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!dirs.has(readlinkSync(`/proc/${name}/cwd`))) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** The postmaster PID in `<dataDir>/postmaster.pid`, or undefined without that file. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n', 1)[0]);
  } catch {
    return undefined;
  }
}

/** Kills whatever still runs in `dataDirs` (after a failed test), so that no server outlives it. */
export async function killPostgresOf(dataDirs: readonly string[]): Promise<void> {
  for (const dir of dataDirs) {
    const pid = postmasterPid(dir);
    // SIGQUIT: the postmaster takes its children down with it.
    if (pid !== undefined && postgresProcessesOf([dir]).includes(pid)) process.kill(pid, 'SIGQUIT');
  }
  const deadline = Date.now() + 10_000;
  while (postgresProcessesOf(dataDirs).length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const pid of postgresProcessesOf(dataDirs)) process.kill(pid, 'SIGKILL');
}
