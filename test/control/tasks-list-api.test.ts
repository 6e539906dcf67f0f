/**
 * `GET /api/v1/tasks` of the real API (buildApi on a real store in a fresh test database, listening
 * on loopback, called with fetch) carries each task's run summary (phase, lag in bytes and ms,
 * rows/s, status time) as its worker last wrote it, the same values `GET .../status` answers, so
 * the console's list needs one call instead of one per task; null before a worker wrote any.
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
  return { status: res.status, body: (await res.json()) as unknown };
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

test('the list item is in the OpenAPI document', async () => {
  const doc = (await get('/openapi.json')).body as { components: { schemas: Record<string, unknown> } };
  assert.ok(doc.components.schemas.TaskListItem);
});
