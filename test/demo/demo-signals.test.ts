/**
 * The demo's servers never outlive it: SIGTERM and SIGHUP stop it as Ctrl-C does (servers stopped),
 * Ctrl-C's SIGINT to the whole process group reaches the demo only (its servers run detached),
 * a second demo on a directory in use is refused without harming the first, and the servers a
 * SIGKILLed demo leaves behind are stopped and replaced by the next run in the same directory.
 * Small samples and short runs keep this quick.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  killPostgresOf,
  postgresProcessesOf,
  postmasterPid,
  runDemo,
  startDemo,
} from '../support/demo-run.ts';

const SMALL = { DEMO_ROWS: '2000' };

/** A scratch working directory for the demo and the data directories it will create there. */
function scratch(): { cwd: string; dataDirs: string[] } {
  const cwd = mkdtempSync(path.join(tmpdir(), 'pgdts-demo-sig-'));
  // As root the servers run as `postgres`, which must be able to reach .pgdts/demo below this directory.
  chmodSync(cwd, 0o755);
  return { cwd, dataDirs: ['source', 'destination'].map((side) => path.join(cwd, '.pgdts', 'demo', side)) };
}

function assertNoServers(dataDirs: readonly string[], out: string): void {
  assert.deepEqual(postgresProcessesOf(dataDirs), [], `postgres processes left running:\n${out}`);
  for (const d of dataDirs) assert.ok(!existsSync(path.join(d, 'postmaster.pid')), `${d} still locked`);
}

test(
  'SIGTERM stops the demo as Ctrl-C does, servers included; a second demo on the same directory is refused meanwhile',
  { timeout: 120_000 },
  async () => {
    const { cwd, dataDirs } = scratch();
    try {
      const demo = startDemo(cwd, SMALL);
      await demo.waitFor(/write workload started/);

      // Both directories are in use by a running demo: a second one must not stop its servers.
      const second = await runDemo(cwd, SMALL);
      assert.equal(second.code, 2, second.stdout + second.stderr);
      assert.match(
        second.stderr,
        /CONFIG_INVALID: data directory .*\/\.pgdts\/demo\/(source|destination) is in use: its PostgreSQL server \(PID \d+\) was started by process \d+, which is still running/,
      );
      assert.equal(postgresProcessesOf(dataDirs).length > 0, true, 'the first demo lost its servers');

      demo.child.kill('SIGTERM');
      const r = await demo.done;
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 0, out);
      assert.match(r.stdout, /stopping: SIGTERM received/);
      assert.match(r.stdout, /verify\s+identical/);
      assert.match(r.stdout, /servers stopped/);
      assertNoServers(dataDirs, out);
    } finally {
      await killPostgresOf(dataDirs);
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);

test(
  'Ctrl-C (SIGINT to the whole foreground process group) reaches only the demo, which verifies and stops its servers',
  { timeout: 120_000 },
  async () => {
    const { cwd, dataDirs } = scratch();
    try {
      const demo = startDemo(cwd, SMALL, { processGroup: true });
      await demo.waitFor(/write workload started/);
      // What the terminal does on Ctrl-C: servers in the demo's group would shut down at once, under
      // the catch-up and verify that still need them.
      process.kill(-(demo.child.pid ?? 0), 'SIGINT');
      const r = await demo.done;
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 0, out);
      assert.match(r.stdout, /stopping: SIGINT received/);
      assert.match(r.stdout, /verify\s+identical/);
      assert.doesNotMatch(out, /shutting down/);
      assertNoServers(dataDirs, out);
    } finally {
      await killPostgresOf(dataDirs);
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);

test(
  'SIGHUP after the terminal is gone still stops the demo and its servers',
  { timeout: 120_000 },
  async () => {
    const { cwd, dataDirs } = scratch();
    try {
      const demo = startDemo(cwd, SMALL);
      await demo.waitFor(/write workload started/);
      const before = demo.output();
      // A closed terminal: every later write of the demo fails (EPIPE here, EIO on a real terminal).
      demo.child.stdout?.destroy();
      demo.child.stderr?.destroy();
      demo.child.kill('SIGHUP');
      const r = await demo.done;
      assert.equal(r.signal, null, before);
      assert.equal(r.code, 0, before);
      assertNoServers(dataDirs, before);
    } finally {
      await killPostgresOf(dataDirs);
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);

test(
  'the servers a SIGKILLed demo leaves running are stopped and replaced by the next run, which works',
  { timeout: 120_000 },
  async () => {
    const { cwd, dataDirs } = scratch();
    try {
      const killed = startDemo(cwd, SMALL);
      await killed.waitFor(/write workload started/);
      killed.child.kill('SIGKILL');
      await killed.done;
      const orphans = dataDirs.map((d) => postmasterPid(d));
      for (const [i, pid] of orphans.entries()) {
        assert.ok(pid !== undefined && postgresProcessesOf([dataDirs[i] ?? '']).includes(pid), 'no orphan');
      }

      const next = await runDemo(cwd, { ...SMALL, DEMO_SECONDS: '2' });
      const out = next.stdout + next.stderr;
      assert.equal(next.code, 0, out);
      assert.match(
        next.stdout,
        new RegExp(`stopped the source server \\(PID ${orphans[0]}\\) that a killed demo`),
      );
      assert.match(
        next.stdout,
        new RegExp(`stopped the destination server \\(PID ${orphans[1]}\\) that a killed demo`),
      );
      assert.match(next.stdout, /dropped replication slot pgdts_demo left by a previous run/);
      assert.match(next.stdout, /verify\s+identical/);
      assertNoServers(dataDirs, out);
    } finally {
      await killPostgresOf(dataDirs);
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);
