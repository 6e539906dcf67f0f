/**
 * Alerts end to end (issue 9 item 7): a task run by the worker of a real `pgdts serve`, its alert
 * rules delivered to a real HTTP receiver on loopback. The latency alert fires when a throttle holds
 * the apply back under writes and resolves when the throttle is lifted while the task runs; the
 * task-failed alert fires when a row put in the destination by hand makes the apply fail, and resolves
 * once the row is gone and the task is resumed. `/metrics` and the task status show the alerts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { addDataSources, createPrecheckedTask, startServe, type Serve } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

const source = testServer(17);
const destination = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;

interface Delivered {
  readonly rule: { readonly type: string };
  readonly state: 'firing' | 'resolved';
  readonly task: { readonly id: string };
  readonly message: string;
}

let receiver: Server;
let receiverUrl: string;
const delivered: Delivered[] = [];
let serve: Serve;
let srcDb: string;
let dstDb: string;

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      delivered.push(JSON.parse(body) as Delivered);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  srcDb = await freshDatabase(source, 'ctl_alert_src');
  dstDb = await freshDatabase(destination, 'ctl_alert_dst');
  const storeDb = await freshDatabase(destination, 'ctl_alert_store');
  await sql(
    source,
    srcDb,
    `CREATE SCHEMA app;
     CREATE TABLE app.t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO app.t (v) SELECT 'r' || g FROM generate_series(1, 100) g;`,
  );
  serve = await startServe(
    [
      '--store',
      `postgresql://${destination.user}:${encodeURIComponent(destination.password)}@${destination.host}:${destination.port}/${storeDb}`,
      '--poll-ms',
      '200',
    ],
    { PGDTS_API_TOKEN: TOKEN },
  );
});

after(async () => {
  await serve?.stop();
  await new Promise((r) => receiver.close(r));
});

const seen = (type: string, state: string) =>
  delivered.filter((d) => d.rule.type === type && d.state === state).length;

test('latency and task-failed alerts fire and resolve, delivered to a webhook by the worker', async () => {
  await addDataSources(serve, [
    ['src', source, srcDb],
    ['dst', destination, dstDb],
  ]);
  const id = await createPrecheckedTask(serve, {
    name: 'alerted',
    source: { dataSource: 'src' },
    destination: { dataSource: 'dst' },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'app' }],
    incremental: { throttle: { rowsPerSecond: 20 } },
    alerts: {
      webhooks: [receiverUrl],
      rules: [
        { type: 'latency', thresholdSeconds: 2, forMinutes: 0 },
        { type: 'task-failed', retryingMinutes: 5 },
      ],
    },
  });
  const base = `/api/v1/tasks/${id}`;
  assert.equal((await serve.call('POST', `${base}/start`)).status, 200);
  await until(
    'incremental sync',
    async () =>
      ((await serve.call('GET', `${base}/status`)).body as { phase: string }).phase === 'incremental',
    120_000,
    () => serve.run.output(),
  );

  // 400 rows at 20 rows/s: the apply falls seconds behind.
  for (let i = 0; i < 20; i++)
    await sql(source, srcDb, `INSERT INTO app.t (v) SELECT 'w' || g FROM generate_series(1, 20) g`);
  await until(
    'the latency alert delivered',
    () => Promise.resolve(seen('latency', 'firing') === 1),
    60_000,
    () => serve.run.output(),
  );
  const status = (await serve.call('GET', `${base}/status`)).body as {
    alerts: { rule: string; state: string; deliveredAt: string | null }[];
  };
  assert.deepEqual(
    status.alerts.map((a) => [a.rule, a.state]),
    [['latency', 'firing']],
  );
  const metrics = await (
    await fetch(`${serve.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).text();
  assert.match(
    metrics,
    new RegExp(`pgdts_task_alert_firing\\{[^}]*task="${id}"[^}]*rule="latency"[^}]*\\} 1`),
  );

  // Lifting the throttle while running: the lag drains, the alert resolves.
  const lifted = await serve.call('PATCH', base, { body: { incremental: { throttle: null } } });
  assert.equal(lifted.status, 200, lifted.text);
  await until(
    'the latency alert resolved',
    () => Promise.resolve(seen('latency', 'resolved') === 1),
    60_000,
    () => serve.run.output(),
  );

  // A row put into the destination by hand: the next source insert of that key cannot apply.
  const next = await sql<{ id: string }>(source, srcDb, `SELECT (max(id) + 1)::text AS id FROM app.t`);
  await sql(
    destination,
    dstDb,
    `INSERT INTO app.t (id, v) OVERRIDING SYSTEM VALUE VALUES (${next[0]?.id}, 'in the way')`,
  );
  await sql(source, srcDb, `INSERT INTO app.t (v) VALUES ('blocked')`);
  await until(
    'the task failed',
    async () => ((await serve.call('GET', base)).body as { state: string }).state === 'failed',
    120_000,
    () => serve.run.output(),
  );
  await until(
    'the task-failed alert delivered',
    () => Promise.resolve(seen('task-failed', 'firing') === 1),
    30_000,
  );
  const failed = delivered.find((d) => d.rule.type === 'task-failed');
  assert.equal(failed?.task.id, id);
  assert.match(failed?.message ?? '', /APPLY/);

  await sql(destination, dstDb, `DELETE FROM app.t WHERE v = 'in the way'`);
  assert.equal((await serve.call('POST', `${base}/resume`)).status, 200);
  await until(
    'the task-failed alert resolved',
    () => Promise.resolve(seen('task-failed', 'resolved') === 1),
    60_000,
    () => serve.run.output(),
  );
  await until(
    'the blocked row applied',
    async () =>
      (
        await sql<{ n: number }>(
          destination,
          dstDb,
          `SELECT count(*)::int AS n FROM app.t WHERE v = 'blocked'`,
        )
      )[0]?.n === 1,
    60_000,
  );
  // Each transition delivered once, in order. After the resume the blocked transaction, committed
  // seconds before, may rightly raise the latency alert again (and resolve it): per rule, the states
  // alternate firing, resolved, ...
  assert.deepEqual(
    delivered.slice(0, 4).map((d) => `${d.rule.type}:${d.state}`),
    ['latency:firing', 'latency:resolved', 'task-failed:firing', 'task-failed:resolved'],
  );
  for (const rule of ['latency', 'task-failed']) {
    const states = delivered.filter((d) => d.rule.type === rule).map((d) => d.state);
    states.forEach((st, i) =>
      assert.equal(st, i % 2 === 0 ? 'firing' : 'resolved', `${rule}: ${states.join(', ')}`),
    );
  }
  assert.equal((await serve.call('POST', `${base}/release`)).status, 200);
});
