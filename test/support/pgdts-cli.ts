/**
 * Runs the real `pgdts` CLI as a child process (so tests can SIGKILL it mid-run), and writes task files.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { urlOf, type TestServer } from './servers.ts';

/** The `pgdts` command a user runs: the shell launcher (it sets pgdts' V8 flags, then execs node). */
export const BIN = path.resolve(import.meta.dirname, '../../bin/pgdts');

/**
 * The environment the launcher runs in: the node running the tests first on PATH, so the launcher's
 * `exec node` picks it (CI runs the suite on Node 20, then on Node 24).
 */
export function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = { ...process.env, ...env };
  return { ...base, PATH: `${path.dirname(process.execPath)}${path.delimiter}${base.PATH ?? ''}` };
}

/** Writes a task file for source/destination databases and returns its path. */
export function writeTaskFile(o: {
  name: string;
  source: { server: TestServer; db: string };
  destination: { server: TestServer; db: string };
  syncTypes: string[];
  /** `objects` entries, with any of their options. */
  objects: Record<string, unknown>[];
  extra?: Record<string, unknown>;
}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-task-'));
  const file = path.join(dir, `${o.name}.yaml`);
  writeFileSync(
    file,
    stringify({
      name: o.name,
      source: { type: 'postgresql', url: urlOf(o.source.server, o.source.db) },
      destination: { type: 'postgresql', url: urlOf(o.destination.server, o.destination.db) },
      syncTypes: o.syncTypes,
      objects: o.objects,
      retry: { initialDelayMs: 200, maxDelayMs: 2_000 },
      ...o.extra,
    }),
  );
  return file;
}

/** A finished CLI run. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A CLI run in progress. */
export interface CliRun {
  readonly child: ChildProcess;
  readonly done: Promise<CliResult>;
  /** Output so far. */
  output(): string;
  /** Resolves when the output matches `re` (rejects after `timeoutMs` or when the process exits first). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `pgdts <args>`. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(BIN, args, {
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    for (const l of listeners) l();
  });
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
    for (const l of listeners) l();
  });
  const done = new Promise<CliResult>((resolve) =>
    child.on('exit', (code, signal) => {
      for (const l of listeners) l();
      resolve({ code, signal, stdout, stderr });
    }),
  );
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
            reject(new Error(`pgdts exited before printing ${re}:\n${stdout}\n${stderr}`));
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

/**
 * Stops a run as an operator would (SIGTERM) and asserts it stopped cleanly (exit 0, committed work
 * kept).
 */
export async function stopCli(r: CliRun): Promise<void> {
  r.child.kill('SIGTERM');
  const e = await r.done;
  assert.equal(e.code, 0, `pgdts should stop cleanly:\n${e.stdout}\n${e.stderr}`);
}

/** Runs `pgdts <args>` to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startCli(args, env).done;
}
