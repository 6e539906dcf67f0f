import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { passwordFromFile, passwordFromLines, type PasswordFileTarget } from '../../src/pg/password-file.ts';

const target: PasswordFileTarget = { host: 'db.example', port: 5432, database: 'app', user: 'alice' };
const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-pgpass-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the first matching line wins; * matches any field', () => {
  const text = [
    'other.example:5432:app:alice:wrong-host',
    'db.example:5433:app:alice:wrong-port',
    'db.example:5432:app:bob:wrong-user',
    'db.example:*:app:alice:first',
    '*:*:*:*:second',
  ].join('\n');
  assert.equal(passwordFromLines(text, target), 'first');
  assert.equal(passwordFromLines('*:*:*:*:any', target), 'any');
  assert.equal(passwordFromLines('db.example:5432:other:alice:x', target), undefined);
});

test('comments, blank lines and CRLF line ends', () => {
  const text = '# db.example:5432:app:alice:commented\r\n\r\n  \ndb.example:5432:app:alice:crlf\r\n';
  assert.equal(passwordFromLines(text, target), 'crlf');
  // Only a line starting with # is a comment (as in libpq): ' #...' is an ordinary, non-matching line.
  assert.equal(passwordFromLines(' #db.example:5432:app:alice:x', target), undefined);
});

test('backslash escapes : and \\ in fields and in the password', () => {
  const t = { ...target, user: 'a:b', database: 'c\\d' };
  assert.equal(passwordFromLines('db.example:5432:c\\\\d:a\\:b:p\\:w\\\\d', t), 'p:w\\d');
  // An escaped backslash before the separator ends the field: "c\\" then ":".
  assert.equal(
    passwordFromLines('db.example:5432:c\\\\:x:y', { ...target, database: 'c\\', user: 'x' }),
    'y',
  );
  // An unescaped colon ends the password; a literal * must be escaped to match only "*".
  assert.equal(passwordFromLines('db.example:5432:app:alice:pw:trailing', target), 'pw');
  assert.equal(passwordFromLines('db.example:5432:app:\\*:star', { ...target, user: '*' }), 'star');
  assert.equal(passwordFromLines('db.example:5432:app:\\*:star', target), undefined);
  // A field is compared whole: a prefix does not match.
  assert.equal(passwordFromLines('db.example:5432:ap:alice:x', target), undefined);
  assert.equal(passwordFromLines('db.example:5432:appx:alice:x', target), undefined);
});

test('localhost matches a connection without host and through the default socket directory /tmp', () => {
  const line = 'localhost:5432:app:alice:local';
  assert.equal(passwordFromLines(line, { ...target, host: '' }), 'local');
  assert.equal(passwordFromLines(line, { ...target, host: '/tmp' }), 'local');
  assert.equal(passwordFromLines(line, { ...target, host: '/run/postgresql' }), undefined);
  assert.equal(
    passwordFromLines('/run/postgresql:5432:app:alice:sock', { ...target, host: '/run/postgresql' }),
    'sock',
  );
  assert.equal(passwordFromLines('\\:\\:1:5432:app:alice:v6', { ...target, host: '::1' }), 'v6');
});

test('a file group or world can access is ignored with a warning, without its contents', () => {
  const file = path.join(dir, 'pgpass-open');
  writeFileSync(file, 'db.example:5432:app:alice:s3cret-from-file\n');
  chmodSync(file, 0o644);
  const open = passwordFromFile(file, target);
  assert.equal(open.kind, 'ignored');
  assert.ok(open.kind === 'ignored' && open.warning.includes('group or world access'));
  assert.ok(open.kind === 'ignored' && !open.warning.includes('s3cret'));
  chmodSync(file, 0o640);
  assert.equal(passwordFromFile(file, target).kind, 'ignored');
  chmodSync(file, 0o600);
  assert.deepEqual(passwordFromFile(file, target), { kind: 'found', password: 's3cret-from-file' });
  chmodSync(file, 0o400);
  assert.deepEqual(passwordFromFile(file, target), { kind: 'found', password: 's3cret-from-file' });
  assert.deepEqual(passwordFromFile(file, { ...target, user: 'bob' }), { kind: 'no-match' });
});

test('a missing file is skipped silently; a directory is ignored with a warning', () => {
  assert.deepEqual(passwordFromFile(path.join(dir, 'nope'), target), { kind: 'absent' });
  const sub = path.join(dir, 'a-directory');
  mkdirSync(sub, { mode: 0o700 });
  const r = passwordFromFile(sub, target);
  assert.ok(r.kind === 'ignored' && r.warning.includes('not a plain file'));
});
