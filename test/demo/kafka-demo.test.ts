/**
 * `npm run demo -- --kafka` end to end: the real script as a child process in a scratch working
 * directory, with its own PostgreSQL 17 source and Kafka broker. It must stream the live workload,
 * catch up, and find every keyed topic equal to its table (live keys per table, shop.orders key for
 * key), then release the task and stop both servers.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runDemo } from '../support/demo-run.ts';

test(
  'npm run demo -- --kafka streams a live workload into Kafka, catches up, the topics match the source, exit 0',
  { timeout: 180_000 },
  async () => {
    const cwd = mkdtempSync(path.join(tmpdir(), 'pgdts-kafka-demo-'));
    // As root the source runs as `postgres`, which must be able to reach .pgdts/demo below this directory.
    chmodSync(cwd, 0o755);
    const demoDir = path.join(cwd, '.pgdts', 'demo');
    try {
      const r = await runDemo(cwd, { DEMO_ROWS: '3000', DEMO_SECONDS: '6' }, ['--kafka']);
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 0, out);
      assert.match(r.stdout, /phase full\n/, out);
      assert.match(r.stdout, /phase incremental\n/, out);
      assert.match(r.stdout, /write workload stopped: [\d,]+ transactions/);
      assert.match(r.stdout, /every change is in Kafka \(the slot confirmed the last one\)/);
      const m = /read back demo\.shop\.orders: [\d,]+ records: ([\d,]+) read \(full sync\)/.exec(r.stdout);
      assert.ok(m?.[1] !== undefined && Number(m[1].replaceAll(',', '')) > 0, out);
      assert.match(r.stdout, /topics match the source: \d+ keyed topics/, out);
      assert.match(r.stdout, /replication slot pgdts_demo_kafka dropped/);
      assert.match(r.stdout, /servers stopped/);
      const password = readFileSync(path.join(demoDir, 'password'), 'utf8').trim();
      assert.ok(!out.includes(password), 'password printed');
      assert.ok(!existsSync(path.join(demoDir, 'source', 'postmaster.pid')), 'source still running');
      assert.ok(!existsSync(path.join(demoDir, 'kafka.pid')), 'broker still running');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  },
);
