/**
 * `pgdts serve` without --store: an embedded PostgreSQL in --data-dir, persistent across restarts,
 * with a secret key file of mode 0600 and an API token generated and printed on the first start only.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startServe } from '../support/control-serve.ts';

test('serve without --store keeps its data sources in an embedded store across a restart', async () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'pgdts-serve-'));
  // As root the store runs as the postgres OS user, which must be able to reach the data directory.
  chmodSync(tmp, 0o755);
  const dataDir = path.join(tmp, 'state');
  // No token or key from the environment: both are made on the first start.
  const env = { PGDTS_API_TOKEN: '', PGDTS_SECRET_KEY: '' };
  const first = await startServe(['--data-dir', dataDir], env);
  let token: string;
  try {
    assert.match(first.run.output(), /store: embedded PostgreSQL 17 in /);
    assert.match(first.run.output(), /API token \(shown once/);
    token = first.token;
    const created = await first.call('POST', '/api/v1/data-sources', {
      body: {
        id: 'kept1',
        type: 'postgresql',
        host: 'db.example.com',
        username: 'repl',
        password: 'embedded-secret-1',
        database: 'app',
      },
    });
    assert.equal(created.status, 201, created.text);
  } finally {
    await first.stop();
  }
  assert.match(first.run.output(), /stopped/);
  assert.ok(!existsSync(path.join(dataDir, 'store', 'postmaster.pid')), 'the embedded store was not stopped');
  assert.equal(statSync(path.join(dataDir, 'secret.key')).mode & 0o777, 0o600);

  const second = await startServe(['--data-dir', dataDir], env);
  try {
    assert.doesNotMatch(second.run.output(), /migrated|API token \(shown once/);
    // Without PGDTS_API_TOKEN the stored (hashed) token of the first start is the one accepted.
    const got = await second.call('GET', '/api/v1/data-sources/kept1', { token });
    assert.equal(got.status, 200, got.text);
    assert.equal((got.body as { passwordSet: boolean }).passwordSet, true);
    assert.equal((got.body as { host: string }).host, 'db.example.com');
  } finally {
    await second.stop();
  }
  // PGDTS_API_TOKEN, when set, is the token instead.
  const third = await startServe(['--data-dir', dataDir], { ...env, PGDTS_API_TOKEN: 'another-token-3' });
  try {
    assert.equal((await third.call('GET', '/api/v1/data-sources')).status, 200);
    assert.equal((await third.call('GET', '/api/v1/data-sources', { token })).status, 401);
  } finally {
    await third.stop();
  }
  for (const s of [first, second, third]) assert.ok(!s.run.output().includes('embedded-secret-1'));
});
