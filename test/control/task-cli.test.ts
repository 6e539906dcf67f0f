/**
 * The walk-through a new user follows in README, with the CLI only: `pgdts serve` on its embedded
 * store, `pgdts source add|test`, `pgdts task create|precheck|start|status|pause|resume|logs|list|
 * release|delete`, under writes; the destination ends identical, and no output holds a password.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { waitForCatchUp } from '../support/catch-up.ts';
import { startServe } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { runCli, type CliResult } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';
import { startWriteLoad } from '../support/write-load.ts';

const source = testServer(13);
const destination = testServer(15);

test('walk-through with the pgdts commands: serve, source add/test, task create/precheck/start/status/pause/resume/logs/release', async () => {
  const srcDb = await freshDatabase(source, 'ctl_cli_src');
  const dstDb = await freshDatabase(destination, 'ctl_cli_dst');
  await sql(
    source,
    srcDb,
    `CREATE SCHEMA crm;
     CREATE TABLE crm.customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO crm.customers (v) SELECT 'c' || g FROM generate_series(1, 5000) g;
     CREATE TABLE crm.visits (id bigint GENERATED ALWAYS AS IDENTITY, v text);
     ALTER TABLE crm.visits REPLICA IDENTITY FULL;
     INSERT INTO crm.visits (v) SELECT 'v' || g FROM generate_series(1, 500) g;`,
  );
  const tmp = mkdtempSync(path.join(tmpdir(), 'pgdts-task-cli-'));
  chmodSync(tmp, 0o755);
  const token = `token-${randomBytes(12).toString('hex')}`;
  const serve = await startServe(['--data-dir', path.join(tmp, 'state'), '--poll-ms', '200'], {
    PGDTS_API_TOKEN: token,
    PGDTS_SECRET_KEY: '',
  });
  const outputs: string[] = [];
  const env = { PGDTS_API_TOKEN: token, SRC_PW: source.password, DST_PW: destination.password };
  const cli = async (...args: string[]): Promise<CliResult> => {
    const r = await runCli([...args, '--server', serve.url], env);
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const ok = async (...args: string[]): Promise<string> => {
    const r = await cli(...args);
    assert.equal(r.code, 0, `pgdts ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  try {
    for (const [id, s, db, pw] of [
      ['crm', source, srcDb, 'SRC_PW'],
      ['replica', destination, dstDb, 'DST_PW'],
    ] as const) {
      await ok(
        'source',
        'add',
        id,
        '--host',
        s.host,
        '--port',
        String(s.port),
        '--username',
        s.user,
        '--password-env',
        pw,
        '--database',
        db,
      );
    }
    assert.match(await ok('source', 'test', 'crm'), /PASS/);
    assert.match(await ok('source', 'test', 'replica', '--role', 'destination'), /PASS/);

    const file = path.join(tmp, 'task.yaml');
    writeFileSync(
      file,
      stringify({
        name: 'crm replica',
        source: { dataSource: 'crm' },
        destination: { dataSource: 'replica' },
        syncTypes: ['schema', 'full', 'incremental'],
        objects: [{ schema: 'crm' }],
      }),
    );
    const created = JSON.parse(await ok('task', 'create', file, '--json')) as { id: string; state: string };
    assert.equal(created.state, 'created');
    const id = created.id;

    // The warning of the table without a primary key: the precheck does not pass until it is ignored.
    const pre = await cli('task', 'precheck', id);
    assert.equal(pre.code, 1, pre.stdout);
    assert.match(pre.stdout, /WARN\s+replica-identity: .*crm\.visits/);
    assert.match(pre.stdout, new RegExp(`ignorable: pgdts task precheck ${id} --ignore replica-identity`));
    assert.match(pre.stdout, /precheck did not pass: task \S+ is precheck-failed/);
    const refused = await cli('task', 'start', id);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /CONFLICT: .*needs a passed precheck/);
    // PostgreSQL 13 also warns that DDL is followed through Relation messages only.
    assert.match(pre.stdout, /WARN\s+ddl-capture: /);
    const passed = await ok('task', 'precheck', id, '--ignore', 'replica-identity', 'ddl-capture');
    assert.match(passed, /IGNORED replica-identity/);
    assert.match(passed, /precheck passed: task \S+ is precheck-passed/);

    const load = startWriteLoad(source, srcDb, ['crm.customers', 'crm.visits'], {
      updateModulo: 40,
      deletes: 1,
      pauseMs: 25,
    });
    try {
      assert.match(await ok('task', 'start', id), new RegExp(`task ${id}: running`));
      await until(
        'incremental sync',
        async () =>
          (JSON.parse(await ok('task', 'status', id, '--json')) as { phase: string | null }).phase ===
          'incremental',
        120_000,
        () => serve.run.output(),
      );
      const status = await ok('task', 'status', id, '--tables');
      assert.match(status, /state:\s+running/);
      assert.match(status, /phase:\s+incremental/);
      assert.match(status, /crm\.customers\s+streaming\s+\d+/);
      assert.match(
        await ok('task', 'list'),
        new RegExp(`${id}\\s+crm replica\\s+running\\s+crm\\s+replica\\s+schema,full,incremental`),
      );
      assert.match(await ok('task', 'pause', id), /paused/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.match(await ok('task', 'resume', id), /running/);
      await load.stop();
      await waitForCatchUp(source, srcDb, `pgdts_${id}`, 120_000, () => serve.run.output());
      await assertSameData({ server: source, db: srcDb }, { server: destination, db: dstDb }, ['crm']);
    } finally {
      await load.stop().catch(() => undefined);
    }
    const logs = await ok('task', 'logs', id);
    assert.match(logs, /INFO\s+\[incremental\] phase incremental/);
    assert.match(logs, /task stopped: its state is no longer running/);
    assert.match(await ok('task', 'release', id), /released \(replication slot dropped, publication dropped/);
    assert.match(await ok('task', 'delete', id), /deleted/);
    const gone = await cli('task', 'show', id);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /NOT_FOUND/);
  } finally {
    await serve.stop();
  }
  for (const o of [...outputs, serve.run.output()]) {
    assert.ok(!o.includes(source.password) && !o.includes(destination.password), 'no password in any output');
  }
});
