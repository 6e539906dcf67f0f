/**
 * A Kafka destination on a secured broker (test/support/kafka-broker.ts, `startSecuredKafka`: SCRAM-
 * SHA-512 over SASL_SSL with a CA made by openssl, StandardAuthorizer), started by this file only
 * and stopped at its end: (a) a user granted what `pgdts grants` prints runs full and incremental
 * sync and the topic holds the source's rows; (b) the `kafka-acls` precheck names the ACLs a user
 * lacks, and its fix commands, run by the admin with Kafka's own AclCommand, make it pass (and a
 * full sync then runs under exactly-once); (c) a wrong password fails the precheck naming host:port,
 * and stops `pgdts run` at once instead of retrying, without printing any password.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitForCatchUp } from '../../support/catch-up.ts';
import { runKafkaAcls, startSecuredKafka, type SecuredKafka } from '../../support/kafka-broker.ts';
import { finalRows, readEvents, topicsStartingWith, type Envelope } from '../../support/kafka-events.ts';
import { writeKafkaTaskFile, type KafkaTaskFile } from '../../support/kafka-task.ts';
import { runCli, startCli, stopCli, type CliResult } from '../../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../../support/servers.ts';

const PASSWORDS = { pgdts: 'pgdts-Secret-pw-7', limited: 'limited-Secret-pw-8' } as const;
const WRONG_PASSWORD = 'wrong-Secret-pw-9';
let k: SecuredKafka;

before(async () => {
  k = await startSecuredKafka(Object.entries(PASSWORDS).map(([name, password]) => ({ name, password })));
});

after(async () => {
  await k?.broker.stop();
});

/** A task from `db` into the secured broker's SASL_SSL listener as `user`, password in $KAFKA_PW. */
function securedTask(o: {
  readonly name: string;
  readonly db: string;
  readonly user: string;
  readonly syncTypes: readonly string[];
  readonly destination?: Record<string, unknown>;
}): KafkaTaskFile {
  return writeKafkaTaskFile({
    name: o.name,
    server: testServer(15),
    db: o.db,
    syncTypes: o.syncTypes,
    objects: [{ schema: 'public' }],
    destination: {
      bootstrapServers: [k.saslSsl],
      sasl: { mechanism: 'scram-sha-512', username: o.user, passwordEnv: 'KAFKA_PW' },
      tls: { ca: k.caFile },
      ...o.destination,
    },
  });
}

/** The line of precheck item `title` (`PASS  title: ...`) and its fix line, if any. */
function item(r: CliResult, title: string): { line: string; fix: string | undefined } {
  const lines = r.stdout.split('\n');
  const i = lines.findIndex((l) => /^(PASS|WARN|FAIL) {2}/.test(l) && l.slice(6).startsWith(`${title}:`));
  assert.ok(i >= 0, `no precheck line "${title}" in:\n${r.stdout}${r.stderr}`);
  const next = lines[i + 1] ?? '';
  return { line: lines[i] ?? '', fix: next.startsWith('      fix: ') ? next.slice(11) : undefined };
}

/** `pgdts precheck` until `done` holds for its output (ACLs reach the authorizer within a moment), at most ~15 s. */
async function precheckUntil(
  file: string,
  env: NodeJS.ProcessEnv,
  done: (r: CliResult) => boolean,
): Promise<CliResult> {
  let r = await runCli(['precheck', file], env);
  for (let i = 0; i < 10 && !done(r); i++) {
    await new Promise((res) => setTimeout(res, 1_000));
    r = await runCli(['precheck', file], env);
  }
  return r;
}

const noPasswordIn = (text: string) => {
  for (const p of [...Object.values(PASSWORDS), WRONG_PASSWORD, k.adminPassword])
    assert.ok(!text.includes(p), `a password is printed:\n${text}`);
};

test('SCRAM-SHA-512 over SASL_SSL with the ACLs of pgdts grants: full and incremental sync, the topic holds the source rows', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_secured_a');
  await sql(
    s,
    db,
    `CREATE TABLE public.items (id int PRIMARY KEY, name text, qty int);
     INSERT INTO public.items SELECT g, 'item ' || g, g * 10 FROM generate_series(1, 50) g;`,
  );
  const task = securedTask({
    name: 'acl_a',
    db,
    user: 'pgdts',
    syncTypes: ['full', 'incremental'],
    destination: { tombstones: true },
  });
  const env = { KAFKA_PW: PASSWORDS.pgdts };
  const topic = `${task.topicPrefix}.public.items`;

  const grants = await runCli(['grants', task.file, '--side', 'destination'], env);
  assert.equal(grants.code, 0, grants.stdout + grants.stderr);
  const commands = grants.stdout.split('\n').filter((l) => l.startsWith('kafka-acls.sh '));
  assert.equal(commands.length, 4, grants.stdout); // the topic, the offsets topic, the transactional id, the cluster
  assert.ok(commands.some((c) => c.includes(`--topic ${topic}`)));
  for (const c of commands) runKafkaAcls(k, c);

  const pre = await precheckUntil(task.file, env, (r) =>
    item(r, 'Destination Kafka ACLs').line.startsWith('PASS'),
  );
  assert.equal(pre.code, 0, pre.stdout + pre.stderr);
  assert.match(
    item(pre, 'Destination Kafka ACLs').line,
    /^PASS {2}Destination Kafka ACLs: User:pgdts holds Describe, Write and Read on the 2 topics/,
  );
  noPasswordIn(pre.stdout + pre.stderr);

  const r = startCli(['run', task.file], env);
  try {
    await r.waitFor(/streaming from/, 120_000);
    // The check's probes of the transactional id leave the running task's writer alone (no fencing).
    const during = await runCli(['precheck', task.file], env);
    assert.match(item(during, 'Destination Kafka ACLs').line, /^PASS/, during.stdout);
    await sql(
      s,
      db,
      `INSERT INTO public.items VALUES (101, 'new', 1);
       UPDATE public.items SET name = 'renamed', qty = qty + 1 WHERE id % 10 = 0;
       DELETE FROM public.items WHERE id IN (3, 4);`,
    );
    await waitForCatchUp(s, db, task.slot, 60_000, () => r.output());
  } finally {
    await stopCli(r);
  }
  noPasswordIn(r.output());
  assert.doesNotMatch(r.output(), /CHECKPOINT_CONFLICT|fenced|retry/i, 'the precheck disturbed the run');

  assert.deepEqual(await topicsStartingWith(`${task.topicPrefix}.`, k.plaintext), [topic]);
  const events = await readEvents([topic], { readCommitted: false, bootstrap: k.plaintext });
  const ops = new Map<string, number>();
  for (const e of events)
    if (e.value !== null) ops.set((e.value as Envelope).op, (ops.get((e.value as Envelope).op) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(ops), { r: 50, c: 1, u: 5, d: 2 });
  const rows = finalRows(events, true);
  const source = await sql<{ id: number; name: string; qty: number }>(
    s,
    db,
    'SELECT id, name, qty FROM public.items ORDER BY id',
  );
  assert.equal(rows.size, source.length);
  for (const row of source) assert.deepEqual(rows.get(JSON.stringify({ id: row.id })), row, `row ${row.id}`);

  const rel = await runCli(['release', task.file], env);
  assert.equal(rel.code, 0, rel.stdout + rel.stderr);
});

test('kafka-acls names the missing Write on a topic and the transactional id, and its fix commands make it pass', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_secured_b');
  await sql(
    s,
    db,
    `CREATE TABLE public.items (id int PRIMARY KEY, name text);
     INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 20) g;`,
  );
  const task = securedTask({
    name: 'acl_b',
    db,
    user: 'limited',
    syncTypes: ['full'],
    destination: { deliveryGuarantee: 'exactly-once' },
  });
  const env = { KAFKA_PW: PASSWORDS.limited };
  const topic = `${task.topicPrefix}.public.items`;
  const allow = (ops: string, resource: string) =>
    runKafkaAcls(
      k,
      `kafka-acls.sh --bootstrap-server ${k.saslSsl} --add --allow-principal User:limited ${ops} ${resource}`,
    );
  // Everything but Write on the data topic and anything on the transactional id.
  allow('--operation Describe --operation Read --operation Create', `--topic ${topic}`);
  allow(
    '--operation Describe --operation Write --operation Read --operation Create',
    `--topic ${task.offsetsTopic}`,
  );
  const expected = `FAIL  Destination Kafka ACLs: User:limited lacks Write on topic ${topic}; Describe, Write on transactional-id pgdts-acl_b`;
  const failed = await precheckUntil(
    task.file,
    env,
    (r) => item(r, 'Destination Kafka ACLs').line === expected,
  );
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  const acls = item(failed, 'Destination Kafka ACLs');
  assert.equal(acls.line, expected);
  const fix = `kafka-acls.sh --bootstrap-server ${k.saslSsl} --add --allow-principal User:limited`;
  assert.equal(
    acls.fix,
    `${fix} --operation Write --topic ${topic}; ${fix} --operation Describe --operation Write --transactional-id pgdts-acl_b`,
  );
  assert.deepEqual(
    failed.stdout.split('\n').filter((l) => l.startsWith('FAIL')),
    [expected],
    'nothing else fails',
  );

  for (const c of (acls.fix ?? '').split('; ')) runKafkaAcls(k, c);
  const passed = await precheckUntil(task.file, env, (r) =>
    item(r, 'Destination Kafka ACLs').line.startsWith('PASS'),
  );
  assert.equal(passed.code, 0, passed.stdout + passed.stderr);
  assert.match(item(passed, 'Destination Kafka ACLs').line, /^PASS {2}.*User:limited holds/);

  // What the precheck asked for is what the task needs: a full sync under exactly-once runs.
  const run = await runCli(['run', task.file], env);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  const events = await readEvents([topic], { readCommitted: false, bootstrap: k.plaintext });
  assert.equal(events.filter((e) => (e.value as Envelope | null)?.op === 'r').length, 20);
  noPasswordIn(failed.stdout + failed.stderr + passed.stdout + passed.stderr + run.stdout + run.stderr);
});

test('a wrong SCRAM password: the precheck names the listener and the failed authentication, never a password', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'kafka_secured_c');
  await sql(s, db, 'CREATE TABLE public.items (id int PRIMARY KEY)');
  const task = securedTask({ name: 'acl_c', db, user: 'pgdts', syncTypes: ['full'] });
  const pre = await runCli(['precheck', task.file], { KAFKA_PW: WRONG_PASSWORD });
  assert.equal(pre.code, 1, pre.stdout + pre.stderr);
  const dest = item(pre, 'Destination reachable and authenticated');
  assert.ok(dest.line.startsWith('FAIL'), dest.line);
  assert.ok(dest.line.includes(k.saslSsl), dest.line);
  assert.match(dest.line, /SASL authentication failed/);
  // `pgdts run` with the same password stops at once with the same cause: a refused login is not
  // retried for the connection window (it would only fail the same way for minutes).
  const started = Date.now();
  const cli = startCli(['run', task.file], { KAFKA_PW: WRONG_PASSWORD });
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), 60_000);
  const run = await cli.done;
  clearTimeout(timer);
  assert.notEqual(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout + run.stderr, /SASL authentication failed/);
  assert.doesNotMatch(run.stdout + run.stderr, /retrying in/);
  assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
  noPasswordIn(pre.stdout + pre.stderr + run.stdout + run.stderr);
});
