/**
 * `GET /api/v1/tasks` of the real API (buildApi on a real store in a fresh test database, listening
 * on loopback, called with fetch) carries each task's run summary (phase, lag in bytes and ms,
 * rows/s, status time) as its worker last wrote it, the same values `GET .../status` answers, so
 * the console's list needs one call instead of one per task; null before a worker wrote any. And
 * `GET /api/v1/tasks/{id}/alerts`: each state an alert entered, newest first, its delivery updated
 * in place, while /status shows only the current state.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/control/api/api-server.ts';
import { ApiToken } from '../../src/control/api/api-token.ts';
import type { ControlStore } from '../../src/control/store/control-store.ts';
import { createTask, startTask, storeWithDataSources, writeStatus } from '../support/control-task.ts';
import { testServer } from '../support/servers.ts';

const server = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;

let store: ControlStore;
let app: FastifyInstance;
let url: string;

before(async () => {
  store = await storeWithDataSources(server, 'ctl_task_list');
  app = await buildApi({
    store,
    token: await ApiToken.load({ PGDTS_API_TOKEN: TOKEN }, store),
    version: '0.0.0-test',
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app.close();
  await store.close();
});

async function get(route: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${url}${route}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, body: await res.json() };
}

interface Item {
  id: string;
  state: string;
  summary: {
    phase: string | null;
    lagBytes: number | null;
    lagMs: number | null;
    rowsPerSecond: number | null;
    statusAt: string | null;
  };
}

test('the list carries each task run summary, as /status answers it', async () => {
  const idle = await createTask(store, { name: 'not started' });
  const full = await createTask(store, { name: 'copying' });
  const inc = await createTask(store, { name: 'streaming' });
  await startTask(store, full.id);
  await startTask(store, inc.id);
  await writeStatus(store, full.id, {
    phase: 'full',
    full: {
      rows: 100,
      bytes: 6400,
      rowsPerSecond: 800,
      bytesPerSecond: 51_200,
      tablesDone: 0,
      tablesTotal: 1,
    },
  });
  await writeStatus(store, inc.id, {
    phase: 'incremental',
    full: { rows: 1000, bytes: 64_000, rowsPerSecond: 0, bytesPerSecond: 0, tablesDone: 2, tablesTotal: 2 },
    incremental: { rowsApplied: 500, rowsPerSecond: 120.5, bytesPerSecond: 9000 },
    lagBytes: 4096,
    lagMs: 2500,
  });

  const list = await get('/api/v1/tasks');
  assert.equal(list.status, 200);
  const items = new Map((list.body as { items: Item[] }).items.map((x) => [x.id, x]));
  assert.deepEqual(items.get(idle.id)?.summary, {
    phase: null,
    lagBytes: null,
    lagMs: null,
    rowsPerSecond: null,
    statusAt: null,
  });
  assert.equal(items.get(idle.id)?.state, 'created');
  const f = items.get(full.id)?.summary;
  assert.equal(f?.phase, 'full');
  assert.equal(f?.rowsPerSecond, 800, 'the full sync rate while copying');
  const i = items.get(inc.id)?.summary;
  assert.deepEqual(
    { ...i, statusAt: undefined },
    { phase: 'incremental', lagBytes: 4096, lagMs: 2500, rowsPerSecond: 120.5, statusAt: undefined },
  );
  assert.ok(i?.statusAt !== null && Date.now() - Date.parse(i?.statusAt ?? '') < 60_000);

  // The same values as the task's own status.
  for (const id of [full.id, inc.id]) {
    const s = (await get(`/api/v1/tasks/${id}/status`)).body as Record<string, unknown>;
    const summary = items.get(id)?.summary as Record<string, unknown>;
    for (const k of ['phase', 'lagBytes', 'lagMs', 'rowsPerSecond', 'statusAt']) {
      assert.deepEqual(summary[k], s[k], `${id} ${k}`);
    }
  }
});

test('the alert history: each state entered, newest first; /status has the current one', async () => {
  const t = await createTask(store, {
    name: 'alerting',
    alerts: { webhooks: ['http://127.0.0.1:9/hook'], rules: [{ type: 'latency', thresholdSeconds: 30 }] },
  });
  const at = (s: number) => new Date(Date.UTC(2026, 11, 2, 10, 0, s));
  const base = { taskId: t.id, rule: 'latency', deliveredAt: null, deliveryError: null };
  await store.tasks.setAlert({ ...base, state: 'firing', since: at(0), message: 'lag 40 s' });
  // The delivery of the same state updates its row, not a new one.
  await store.tasks.setAlert({
    ...base,
    state: 'firing',
    since: at(0),
    message: 'lag 40 s',
    deliveredAt: at(1),
  });
  await store.tasks.setAlert({ ...base, state: 'resolved', since: at(20), message: 'lag 2 s' });
  await store.tasks.setAlert({ ...base, state: 'firing', since: at(40), message: 'lag 50 s' });

  const h = await get(`/api/v1/tasks/${t.id}/alerts`);
  assert.equal(h.status, 200);
  const items = (
    h.body as { items: { state: string; since: string; message: string; deliveredAt: string | null }[] }
  ).items;
  assert.deepEqual(
    items.map((x) => [x.state, x.since, x.message, x.deliveredAt]),
    [
      ['firing', at(40).toISOString(), 'lag 50 s', null],
      ['resolved', at(20).toISOString(), 'lag 2 s', null],
      ['firing', at(0).toISOString(), 'lag 40 s', at(1).toISOString()],
    ],
  );
  const limited = (await get(`/api/v1/tasks/${t.id}/alerts?limit=1`)).body as { items: unknown[] };
  assert.equal(limited.items.length, 1);
  const status = (await get(`/api/v1/tasks/${t.id}/status`)).body as { alerts: { since: string }[] };
  assert.deepEqual(
    status.alerts.map((a) => a.since),
    [at(40).toISOString()],
  );
  assert.equal((await get('/api/v1/tasks/t000000000000/alerts')).status, 404);
  assert.equal((await get(`/api/v1/tasks/${t.id}/alerts?limit=0`)).status, 400);
});

test('the list item and the alert history are in the OpenAPI document', async () => {
  const doc = (await get('/openapi.json')).body as {
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, unknown> };
  };
  assert.ok(doc.components.schemas.TaskListItem);
  assert.ok(doc.paths['/api/v1/tasks/{id}/alerts']?.get);
});
