/** `pgdts source add|list|show|test|remove` against a real `pgdts serve`, with --json and as tables. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { freePort } from '../../src/embedded/embedded-server.ts';
import { startServe } from '../support/control-serve.ts';
import { runCli } from '../support/pgdts-cli.ts';
import { freshDatabase, testServer, urlOf } from '../support/servers.ts';

const server = testServer(15);

test('source add, list, show, test and remove round trip through the API', async () => {
  const db = await freshDatabase(server, 'ctl_cli');
  const token = `token-${randomBytes(12).toString('hex')}`;
  const serve = await startServe(['--store', urlOf(server, db)], { PGDTS_API_TOKEN: token });
  const env = { PGDTS_API_TOKEN: token, SRC_PASSWORD: server.password };
  const at = ['--server', serve.url];
  const cli = async (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(args, { ...env, ...extra });
  try {
    const add = await cli([
      'source',
      'add',
      'shop1',
      ...at,
      '--json',
      '--host',
      '127.0.0.1',
      '--port',
      String(server.port),
      '--username',
      'postgres',
      '--password-env',
      'SRC_PASSWORD',
      '--database',
      'postgres',
      '--region',
      'eu',
      '--remarks',
      'the shop',
    ]);
    assert.equal(add.code, 0, add.stderr);
    const added = JSON.parse(add.stdout) as { id: string; passwordSet: boolean };
    assert.equal(added.id, 'shop1');
    assert.equal(added.passwordSet, true);

    const refusedPort = await freePort();
    const add2 = await cli([
      'source',
      'add',
      'down1',
      ...at,
      '--host',
      '127.0.0.1',
      '--port',
      String(refusedPort),
      '--username',
      'postgres',
      '--database',
      'postgres',
    ]);
    assert.equal(add2.code, 0, add2.stderr);
    assert.equal(add2.stdout, 'data source down1 added\n');

    const list = await cli(['source', 'list', ...at, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { id: string }[]).map((d) => d.id),
      ['down1', 'shop1'],
    );
    const table = await cli(['source', 'list', ...at]);
    assert.match(table.stdout, /^ID\s+TYPE\s+ATTRIBUTES\s+HOST:PORT/);
    assert.match(
      table.stdout,
      new RegExp(
        `shop1\\s+postgresql\\s+primary\\s+127\\.0\\.0\\.1:${server.port}\\s+postgres\\s+postgres\\s+eu\\s+the shop`,
      ),
    );

    const show = await cli(['source', 'show', 'shop1', ...at]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /password:\s+set/);

    const ok = await cli(['source', 'test', 'shop1', ...at, '--json']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const report = JSON.parse(ok.stdout) as { status: string; checks: { id: string; status: string }[] };
    assert.notEqual(report.status, 'fail');
    assert.equal(report.checks.find((c) => c.id === 'authentication')?.status, 'pass');

    const down = await cli(['source', 'test', 'down1', ...at]);
    assert.equal(down.code, 1, 'a failed check exits 1');
    assert.match(
      down.stdout,
      new RegExp(`FAIL  TCP connection to 127\\.0\\.0\\.1:${refusedPort}: .*ECONNREFUSED`),
    );

    const dup = await cli([
      'source',
      'add',
      'shop1',
      ...at,
      '--host',
      'h',
      '--username',
      'u',
      '--database',
      'd',
    ]);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /pgdts: CONFLICT: data source shop1 exists already/);
    const bad = await cli([
      'source',
      'add',
      'bad1',
      ...at,
      '--host',
      'h',
      '--username',
      'u',
      '--database',
      'd',
      '--port',
      '0',
    ]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /pgdts: CONFIG_INVALID: port: must be between 1 and 65535/);
    const noToken = await cli(['source', 'list', ...at], { PGDTS_API_TOKEN: '' });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /pgdts: UNAUTHORIZED: /);

    for (const id of ['shop1', 'down1']) {
      const rm = await cli(['source', 'remove', id, ...at, '--json']);
      assert.equal(rm.code, 0, rm.stderr);
      assert.deepEqual(JSON.parse(rm.stdout), { id, removed: true });
    }
    const gone = await cli(['source', 'show', 'shop1', ...at]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /pgdts: NOT_FOUND: no data source shop1/);
    assert.deepEqual(JSON.parse((await cli(['source', 'list', ...at, '--json'])).stdout), []);

    const unreachable = await cli(['source', 'list', '--server', `http://127.0.0.1:${refusedPort}`]);
    assert.equal(unreachable.code, 2);
    assert.match(
      unreachable.stderr,
      new RegExp(`cannot reach pgdts serve at http://127\\.0\\.0\\.1:${refusedPort}: ECONNREFUSED`),
    );
  } finally {
    await serve.stop();
  }
  assert.ok(!serve.run.output().includes(server.password), 'serve logged the password');
});
