/** Secrets at rest: AES-256-GCM with the key from PGDTS_SECRET_KEY or a 0600 key file. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadSecretKey, parseSecretKey, SecretBox } from '../../src/control/secrets/secret-box.ts';
import { runCli } from '../support/pgdts-cli.ts';

test('a key is 32 bytes as hex or base64; anything else is refused naming where it came from', () => {
  const key = randomBytes(32);
  assert.deepEqual(parseSecretKey(key.toString('hex'), 'K'), key);
  assert.deepEqual(parseSecretKey(key.toString('base64'), 'K'), key);
  assert.deepEqual(parseSecretKey(`${key.toString('base64')}\n`, 'K'), key);
  for (const bad of [
    '',
    'short',
    randomBytes(16).toString('hex'),
    randomBytes(31).toString('base64'),
    'g'.repeat(64),
  ]) {
    assert.throws(
      () => parseSecretKey(bad, 'PGDTS_SECRET_KEY'),
      /PGDTS_SECRET_KEY: must be 32 bytes written as 64 hex digits or base64/,
    );
  }
});

test('sealing uses a fresh IV each time; another key or a changed ciphertext is refused', () => {
  const box = new SecretBox(randomBytes(32));
  const a = box.seal('s3cret');
  const b = box.seal('s3cret');
  assert.equal(a.iv.length, 12);
  assert.equal(a.tag.length, 16);
  assert.notDeepEqual(a.iv, b.iv);
  assert.notDeepEqual(a.ciphertext, b.ciphertext);
  assert.equal(box.open(a, 'x'), 's3cret');
  assert.throws(
    () => new SecretBox(randomBytes(32)).open(a, 'password of data source d1'),
    /password of data source d1 cannot be decrypted/,
  );
  const changed = { ...a, ciphertext: Buffer.from(a.ciphertext.map((x, i) => (i === 0 ? x ^ 1 : x))) };
  assert.throws(() => box.open(changed, 'x'), /cannot be decrypted/);
  assert.equal(JSON.stringify({ box }), '{"box":"SecretBox"}');
});

test('without PGDTS_SECRET_KEY the key file is created once with mode 0600 and reused; a readable one is refused', () => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'pgdts-key-')), 'data');
  const first = loadSecretKey({}, dir);
  assert.equal(first.source.kind, 'file');
  assert.ok(first.source.kind === 'file' && first.source.created);
  const file = path.join(dir, 'secret.key');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const again = loadSecretKey({}, dir);
  assert.ok(again.source.kind === 'file' && !again.source.created);
  assert.deepEqual(again.key, first.key);
  assert.deepEqual(parseSecretKey(readFileSync(file, 'utf8'), file), first.key);
  const fromEnv = randomBytes(32);
  assert.deepEqual(loadSecretKey({ PGDTS_SECRET_KEY: fromEnv.toString('hex') }, dir).key, fromEnv);
  chmodSync(file, 0o644);
  assert.throws(() => loadSecretKey({}, dir), /must not be readable by group or others/);
});

test('pgdts serve refuses an invalid PGDTS_SECRET_KEY with a clear error, before anything starts', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-key-'));
  const r = await runCli(['serve', '--data-dir', dir, '--listen', '127.0.0.1:0'], {
    PGDTS_SECRET_KEY: 'not-a-key',
  });
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /pgdts: CONFIG_INVALID: PGDTS_SECRET_KEY: must be 32 bytes written as 64 hex digits or base64/,
  );
  const listen = await runCli(['serve', '--data-dir', dir, '--listen', 'nowhere']);
  assert.equal(listen.code, 2);
  assert.match(listen.stderr, /pgdts: CONFIG_INVALID: --listen: must be HOST:PORT/);
});
