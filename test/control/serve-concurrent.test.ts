/** Two `pgdts serve` processes starting at once on one fresh store: both serve, one migrates, one token. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServe } from '../support/control-serve.ts';
import { freshDatabase, testServer, urlOf } from '../support/servers.ts';

test('two serve processes starting at once on a fresh store both start; exactly one migrates and generates the token', async () => {
  const server = testServer(13);
  const db = await freshDatabase(server, 'ctl_two');
  const env = { PGDTS_API_TOKEN: '' };
  const [a, b] = await Promise.all([
    startServe(['--store', urlOf(server, db)], env),
    startServe(['--store', urlOf(server, db)], env),
  ]);
  try {
    const outs = [a.run.output(), b.run.output()];
    assert.equal(
      outs.filter((o) => /store migrated to version \d+ \(applied 1(, \d+)*\)/.test(o)).length,
      1,
      outs.join('\n---\n'),
    );
    assert.equal(outs.filter((o) => /store at version \d+\n/.test(o)).length, 1, outs.join('\n---\n'));
    const generated = [a, b].filter((s) => s.token !== '');
    assert.equal(generated.length, 1, 'exactly one process generated and printed the token');
    const token = generated[0]?.token ?? '';
    // Both accept that token (the other one read its hash from the store).
    for (const s of [a, b])
      assert.equal((await s.call('GET', '/api/v1/data-sources', { token })).status, 200);
    const created = await a.call('POST', '/api/v1/data-sources', {
      token,
      body: { id: 'both1', type: 'postgresql', host: 'h1', username: 'u', database: 'd' },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal((await b.call('GET', '/api/v1/data-sources/both1', { token })).status, 200);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});
