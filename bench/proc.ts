/**
 * Subprocesses of the benchmark: runs a command (or a shell pipeline), times it, and samples the peak
 * resident set size of its whole process tree from /proc (so the parallel workers of `pg_dump -j` and
 * both sides of a `psql | psql` pipe count).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';

/** How a subprocess ended. */
export interface ProcResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Wall-clock time from spawn to exit, seconds. */
  readonly seconds: number;
  /** Peak RSS of the process tree, bytes (see {@link RssSampler}). */
  readonly peakRssBytes: number;
  /** Last 4000 characters of stderr, for error messages. */
  readonly stderrTail: string;
  /** Last 4000 characters of stdout. */
  readonly stdoutTail: string;
}

function readStatus(pid: number): { rssKb: number; hwmKb: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Pids of `root` and all its descendants, from the ppid field of /proc/<pid>/stat. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // comm may contain spaces and parentheses: the fields after the last ')' are fixed.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Samples a process tree every `intervalMs`: peak = max(largest sum of VmRSS over the tree at one
 * sample, largest VmHWM of a single process). VmHWM catches a short peak of one process between two
 * samples; the sum catches a tree of workers.
 */
export class RssSampler {
  private peakKb = 0;
  private phasePeakKb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  private sample(): void {
    let sum = 0;
    let hwm = 0;
    for (const p of processTree(this.pid)) {
      const s = readStatus(p);
      if (!s) continue;
      sum += s.rssKb;
      hwm = Math.max(hwm, s.hwmKb);
    }
    this.peakKb = Math.max(this.peakKb, sum, hwm);
    this.phasePeakKb = Math.max(this.phasePeakKb, sum);
  }

  /** Peak RSS since the start, bytes. */
  peakBytes(): number {
    this.sample();
    return this.peakKb * 1024;
  }

  /** Starts a new phase: {@link phasePeakBytes} then reports the RSS peak since now only. */
  resetPhase(): void {
    this.phasePeakKb = 0;
    this.sample();
  }

  /** Peak of the summed VmRSS since {@link resetPhase}, bytes. */
  phasePeakBytes(): number {
    this.sample();
    return this.phasePeakKb * 1024;
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }
}

/** A started subprocess. */
export interface Running {
  readonly child: ChildProcess;
  readonly rss: RssSampler;
  /** Resolves when it exits. */
  readonly done: Promise<ProcResult>;
  /** Last 4000 characters of stderr so far. */
  stderr(): string;
  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ProcResult>;
}

/** Options of {@link start}. */
export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** File receiving stdout and stderr. */
  readonly logFile?: string;
  /** File receiving stdout instead of `logFile` (for output read back whole, e.g. a JSON report). */
  readonly stdoutFile?: string;
  readonly cwd?: string;
}

/** Starts `command args` (no shell) with RSS sampling. */
export function start(command: string, args: readonly string[], opts: StartOptions = {}): Running {
  const t0 = performance.now();
  const child = spawn(command, args, {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  const rss = new RssSampler(child.pid ?? 0);
  const log = opts.logFile !== undefined ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const out = opts.stdoutFile !== undefined ? createWriteStream(opts.stdoutFile) : log;
  let tail = '';
  let outTail = '';
  child.stdout?.on('data', (b: Buffer) => {
    out?.write(b);
    outTail = (outTail + b.toString()).slice(-4000);
  });
  child.stderr?.on('data', (b: Buffer) => {
    log?.write(b);
    tail = (tail + b.toString()).slice(-4000);
  });
  const done = new Promise<ProcResult>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      const seconds = (performance.now() - t0) / 1000;
      rss.stop();
      log?.end();
      const result = (): ProcResult => ({
        code,
        signal,
        seconds,
        peakRssBytes: rss.peakBytes(),
        stderrTail: tail.trim(),
        stdoutTail: outTail,
      });
      if (out === log || out === undefined) {
        resolve(result());
        return;
      }
      // 'exit' can come before the last stdout data: the file is whole once the pipe closed and the
      // file stream flushed.
      const flush = () => out.end(() => resolve(result()));
      if (child.stdout === null || child.stdout.closed) flush();
      else child.stdout.once('close', flush);
    };
    child.once('error', (e) => {
      tail += `\n${e.message}`;
      finish(127, null);
    });
    child.once('exit', finish);
  });
  return {
    child,
    rss,
    done,
    stderr: () => tail,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 60_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const r = await done;
      clearTimeout(t);
      return r;
    },
  };
}

/** Runs `command args` to completion. */
export async function run(
  command: string,
  args: readonly string[],
  opts: StartOptions = {},
): Promise<ProcResult> {
  return start(command, args, opts).done;
}

/** Runs a bash pipeline (`set -o pipefail`, so a failure of any stage fails it). */
export async function runShell(script: string, opts: StartOptions = {}): Promise<ProcResult> {
  return run('/bin/bash', ['-c', `set -euo pipefail\n${script}`], opts);
}

/**
 * Runs to completion and throws when the exit code is not 0.
 * @throws {Error} naming the command and the tail of its stderr.
 */
export async function mustRun(
  what: string,
  command: string,
  args: readonly string[],
  opts: StartOptions = {},
): Promise<ProcResult> {
  const r = await run(command, args, opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code ?? r.signal}): ${r.stderrTail}`);
  return r;
}

/** {@link runShell} that throws when the pipeline fails. */
export async function mustRunShell(
  what: string,
  script: string,
  opts: StartOptions = {},
): Promise<ProcResult> {
  const r = await runShell(script, opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code ?? r.signal}): ${r.stderrTail}`);
  return r;
}

/** Single-quotes a word for bash. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
