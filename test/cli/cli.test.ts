/** The CLI's contract: exit codes, clear errors naming the key or the server, no password in output. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort } from '../../src/embedded/embedded-server.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

function taskFile(text: string): string {
  const f = path.join(mkdtempSync(path.join(tmpdir(), 'pgdts-cli-')), 'task.yaml');
  writeFileSync(f, text);
  return f;
}

test('--version and -V print the package.json version and exit 0', async () => {
  const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
    version: string;
  };
  for (const flag of ['--version', '-V']) {
    const r = await runCli([flag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${pkg.version}\n`);
  }
});

test('the launcher runs node with its V8 flags, which PGDTS_NODE_OPTIONS replaces (empty: none)', async () => {
  // A flag node refuses shows the variable reaches node's command line in place of the default.
  const bad = await runCli(['--version'], { PGDTS_NODE_OPTIONS: '--no-such-node-flag' });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--no-such-node-flag/);
  for (const flags of ['', '--max-semi-space-size=8', undefined]) {
    const r = await runCli(['--version'], flags === undefined ? {} : { PGDTS_NODE_OPTIONS: flags });
    assert.equal(r.code, 0, r.stderr);
  }
  // That the default flags reach the running process is checked by the 1M-row test [T8].
});

test('a command of a PostgreSQL task loads neither the Kafka client nor the API server (they cost seconds of start-up on a busy machine)', async () => {
  // A module resolve hook (node:module register) logs every import of the two libraries to a file;
  // PGDTS_NODE_OPTIONS hands it to the node the launcher starts.
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-imports-'));
  const log = path.join(dir, 'imports.log');
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier === '@platformatic/kafka' || specifier === 'fastify') appendFileSync(${JSON.stringify(log)}, specifier + '\\n');
  return next(specifier, context);
}`,
  );
  const register = path.join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const env = { PGDTS_NODE_OPTIONS: `--max-semi-space-size=16 --import ${register}` };
  const imported = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
  const s = testServer(15);
  const db = await freshDatabase(s, 'lazy_imports');
  await sql(s, db, 'CREATE TABLE public.t (id int PRIMARY KEY)');
  const pgTask = writeTaskFile({
    name: 'lazy-imports',
    source: { server: s, db },
    destination: { server: s, db },
    syncTypes: ['full'],
    objects: [{ table: 'public.t' }],
  });
  for (const args of [['--version'], ['precheck', pgTask]]) {
    const r = await runCli(args, env);
    assert.ok(r.code === 0 || r.code === 1, r.stdout + r.stderr);
    assert.equal(imported(), '', `pgdts ${args.join(' ')} imported them`);
  }
  // The hook does see them where they are needed: `pgdts serve --help` parses, a Kafka task's
  // precheck opens the Kafka sink.
  const kafkaTask = taskFile(
    `name: lazy-kafka\nsource: {type: postgresql, url: 'postgresql://u@127.0.0.1:1/db'}\ndestination: {type: kafka, bootstrapServers: ['127.0.0.1:1'], topic: t}\nsyncTypes: [full]\nobjects: [{table: public.t}]\n`,
  );
  await runCli(['precheck', kafkaTask], env);
  assert.match(imported(), /@platformatic\/kafka/);
});

test('a bad task file is refused before anything is touched, naming the key and the rule', async () => {
  const f = taskFile(
    `name: t\nsource: {type: postgresql, url: "postgresql://u:Sup3rSecret@127.0.0.1:1/x"}\ndestination: {type: postgresql, host: h}\nsyncTypes: [full]\nobjects: [{schema: public}]\nbogus: 1\n`,
  );
  const r = await runCli(['run', f]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /CONFIG_INVALID: bogus: unknown key/);
  assert.doesNotMatch(r.stdout + r.stderr, /Sup3rSecret/);
  const y = await runCli(['run', taskFile('name: [unclosed\n')]);
  assert.equal(y.code, 2);
  assert.match(y.stderr, /not valid YAML \(line/);
  const m = await runCli(['run', '/nonexistent/task.yaml']);
  assert.equal(m.code, 2);
  assert.match(m.stderr, /cannot read the task file/);
});

test('an unreachable server (retried as a connection failure) and a wrong password (not retried) give clear errors without the password', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'cli');
  const port = await freePort();
  const refused = taskFile(
    `name: t\nsource: {type: postgresql, url: "postgresql://postgres:Sup3rSecret@127.0.0.1:${port}/x", connectTimeoutMs: 2000}\ndestination: {type: postgresql, url: "postgresql://postgres:x@127.0.0.1:${port}/y"}\nsyncTypes: [full]\nobjects: [{schema: public}]\nretry: {initialDelayMs: 100, maxDelayMs: 200}\n`,
  );
  // Retried for retry.connectionMinutes (at least 10 minutes): the retry line shows the error, and
  // the operator stops the run.
  const r = startCli(['run', refused]);
  await r.waitFor(
    new RegExp(
      `connect: CONNECTION_FAILED: cannot connect to source 127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*; retrying in \\d+ ms \\(a connection failure: retried for up to 720 min, retry\\.connectionMinutes\\)`,
    ),
  );
  await stopCli(r);
  assert.doesNotMatch(r.output(), /Sup3rSecret/);
  const wrong = taskFile(
    `name: t\nsource: {type: postgresql, url: "postgresql://postgres:Wr0ngSecret@127.0.0.1:${s.port}/${db}"}\ndestination: {type: postgresql, url: "postgresql://postgres:x@127.0.0.1:${s.port}/${db}"}\nsyncTypes: [full]\nobjects: [{schema: public}]\n`,
  );
  const w = await runCli(['run', wrong]);
  assert.equal(w.code, 2);
  assert.match(
    w.stderr,
    new RegExp(`cannot connect to source 127\\.0\\.0\\.1:${s.port}.*password authentication failed`),
  );
  assert.doesNotMatch(w.stdout + w.stderr, /Wr0ngSecret/);
});

test('release drops slot, publication and bookkeeping, and is safe to run twice [S5]', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'rel_src');
  const dst = await freshDatabase(s, 'rel_dst');
  await sql(
    s,
    src,
    'CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10)',
  );
  const file = writeTaskFile({
    name: 'rel',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'public' }],
  });
  const run = startCli(['run', file]);
  await run.waitFor(/phase incremental/);
  run.child.kill('SIGTERM');
  const ended = await run.done;
  assert.equal(ended.code, 0, ended.stdout + ended.stderr);
  assert.equal(
    (await sql(s, src, `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgdts_rel'`)).length,
    1,
  );
  const r1 = await runCli(['release', file]);
  assert.equal(r1.code, 0, r1.stderr);
  assert.match(r1.stdout, /replication slot pgdts_rel: dropped/);
  assert.match(r1.stdout, /publication pgdts_rel: dropped/);
  assert.equal(
    (await sql(s, src, `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgdts_rel'`)).length,
    0,
  );
  assert.equal((await sql(s, dst, `SELECT 1 FROM pgdts.task WHERE name = 'rel'`)).length, 0);
  const r2 = await runCli(['release', file]);
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /replication slot pgdts_rel: not present/);
});

test('precheck exits 1 listing the failing check and its fix; verify exits 1 naming the differing table', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'pv_src');
  const dst = await freshDatabase(s, 'pv_dst');
  await sql(
    s,
    src,
    'CREATE TABLE public.keyed (id int PRIMARY KEY, v text); INSERT INTO public.keyed SELECT g, md5(g::text) FROM generate_series(1, 1000) g; CREATE TABLE public.nokey (x int)',
  );
  const inc = writeTaskFile({
    name: 'pv-inc',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'public' }],
  });
  const p = await runCli(['precheck', inc]);
  assert.equal(p.code, 1, p.stdout + p.stderr);
  assert.match(p.stdout, /FAIL\s+.*replica identity.*public\.nokey/i);
  assert.match(p.stdout, /fix: .*REPLICA IDENTITY FULL/);
  assert.match(p.stdout, /PASS\s+.*wal_level|PASS .*WAL level/i);
  const full = writeTaskFile({
    name: 'pv-full',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ table: 'public.keyed' }],
  });
  const ok = await runCli(['precheck', full]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.equal((await runCli(['run', full])).code, 0);
  assert.equal((await runCli(['verify', full])).code, 0);
  await sql(s, dst, `UPDATE public.keyed SET v = 'changed' WHERE id = 500`);
  const v = await runCli(['verify', full]);
  assert.equal(v.code, 1, v.stdout + v.stderr);
  assert.match(v.stdout, /DIFF\s+public\.keyed/);
});

test('a second run of a running task is refused, naming the holder; a SIGKILLed run frees the task at once', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'lease_src');
  const dst = await freshDatabase(s, 'lease_dst');
  await sql(s, src, 'CREATE TABLE public.t (id int PRIMARY KEY)');
  const file = writeTaskFile({
    name: 'lease',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'public' }],
  });
  const first = startCli(['run', file]);
  await first.waitFor(/streaming from/);
  const second = await runCli(['run', file]);
  assert.equal(second.code, 2, second.stdout + second.stderr);
  assert.match(
    second.stderr,
    /CHECKPOINT_CONFLICT: task lease is already running \(held by destination backend \d+, pgdts-lease\): one run of a task at a time/,
  );
  assert.equal(first.child.exitCode, null, 'the first run goes on');
  first.child.kill('SIGKILL');
  await first.done;
  const third = startCli(['run', file]);
  await third.waitFor(/streaming from/, 20_000);
  third.child.kill('SIGTERM');
  assert.equal((await third.done).code, 0);
  await runCli(['release', file]);
});
