/**
 * `npm run demo` end to end: the real script as a child process, in a scratch working directory so
 * that its `.pgdts/demo/` lands there, run twice (the second run reuses the data directories).
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { runDemo } from '../support/demo-run.ts';

/** Workload transactions from the summary line `write workload  N transactions, M rows written`. */
function workloadTransactions(out: string): number {
  const m = /write workload\s+([\d,]+) transactions, ([\d,]+) rows written/.exec(out);
  assert.ok(m?.[1], `no workload line in:\n${out}`);
  return Number(m[1].replaceAll(',', ''));
}

test(
  'npm run demo syncs, streams a live workload, verifies identical and exits 0; a second run reuses the servers',
  {
    timeout: 150_000,
  },
  async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'pgdts-demo-'));
    // As root the servers run as `postgres`, which must be able to reach .pgdts/demo below this directory.
    chmodSync(cwd, 0o755);
    const demoDir = path.join(cwd, '.pgdts', 'demo');
    try {
      const first = await runDemo(cwd, { DEMO_ROWS: '20000', DEMO_SECONDS: '8' });
      const out = first.stdout + first.stderr;
      assert.equal(first.code, 0, out);
      for (const phase of ['schema', 'full', 'indexes', 'sequences', 'incremental']) {
        assert.match(first.stdout, new RegExp(`phase ${phase}\\n`), `phase ${phase} missing:\n${out}`);
      }
      assert.match(first.stdout, /table shop\.orders copied: \d+ rows/);
      // Task options: the mapped and the filtered table are synced (and verified) through them.
      assert.match(
        first.stdout,
        /billing\.payments as finance\.payments, audit\.page_views where customer_id IS NOT NULL/,
      );
      assert.match(first.stdout, /status lag [\d.]+ \w+ \/ \d+ ms, \d+ rows\/s, \d+ rows applied/);
      assert.match(first.stdout, /destination caught up [\d.]+ s after the workload stopped/);
      assert.match(first.stdout, /^identical: \d+ table\(s\), \d+ row\(s\) compared/m);
      assert.match(first.stdout, /verify\s+identical/);
      assert.ok(workloadTransactions(first.stdout) > 50, out);
      assert.match(first.stdout, /replication slot pgdts_demo dropped, publication pgdts_demo dropped/);

      // The task file is valid, points at the demo servers, and only its owner may read it.
      const taskFile = path.join(demoDir, 'task.yaml');
      const task = parseTaskConfig(parse(readFileSync(taskFile, 'utf8')));
      assert.equal(task.name, 'demo');
      assert.deepEqual(task.syncTypes, ['schema', 'full', 'incremental']);
      assert.equal(task.full.jobs, 2);
      assert.equal(statSync(taskFile).mode & 0o077, 0);
      assert.match(first.stdout, /task file: \.pgdts\/demo\/task\.yaml/);
      // The password is in the task file, never on the console.
      const password = readFileSync(path.join(demoDir, 'password'), 'utf8').trim();
      assert.ok(password.length >= 16);
      assert.ok(task.source.url?.includes(encodeURIComponent(password)));
      assert.ok(!out.includes(password), 'password printed');
      // Both servers were shut down (a clean shutdown removes postmaster.pid).
      for (const side of ['source', 'destination']) {
        assert.ok(existsSync(path.join(demoDir, side, 'PG_VERSION')), side);
        assert.ok(!existsSync(path.join(demoDir, side, 'postmaster.pid')), `${side} still running`);
      }

      // Second run: same data directories and password, fresh databases, nothing left over to drop.
      const second = await runDemo(cwd, { DEMO_ROWS: '20000', DEMO_SECONDS: '3' });
      const out2 = second.stdout + second.stderr;
      assert.equal(second.code, 0, out2);
      assert.doesNotMatch(out2, /left by a previous run/);
      assert.match(second.stdout, /^identical: /m);
      assert.match(second.stdout, /sample database\s+20,\d{3} rows/);
      assert.ok(workloadTransactions(second.stdout) > 0, out2);
      assert.equal(readFileSync(path.join(demoDir, 'password'), 'utf8').trim(), password);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);

test('the demo refuses a bad DEMO_ROWS with exit 2 before starting anything', async () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'pgdts-demo-'));
  try {
    const r = await runDemo(cwd, { DEMO_ROWS: 'many' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^demo: CONFIG_INVALID: DEMO_ROWS: must be an integer of at least 100$/m);
    assert.ok(!existsSync(path.join(cwd, '.pgdts')));
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
