/**
 * A one-shot task (schema + full, no incremental sync) through the API: the worker runs it to the end
 * and records `completed` ([S6]); a completed task is deleted without a release ([S8]); its copy is
 * identical to the source, and a task edited after its precheck must be prechecked again ([S2], [S4]).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { addDataSources, startServe } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';

const server = testServer(17);

test('a task without incremental sync completes; an edit after the precheck needs a new one', async () => {
  const srcDb = await freshDatabase(server, 'ctl_done_src');
  const dstDb = await freshDatabase(server, 'ctl_done_dst');
  const storeDb = await freshDatabase(server, 'ctl_done_store');
  await sql(
    server,
    srcDb,
    `CREATE TABLE public.a (id int PRIMARY KEY, v text);
     INSERT INTO public.a SELECT g, 'a' || g FROM generate_series(1, 5000) g;
     CREATE TABLE public.b (id int PRIMARY KEY, a_id int REFERENCES public.a, v numeric);
     INSERT INTO public.b SELECT g, g, g / 7.0 FROM generate_series(1, 3000) g;`,
  );
  const serve = await startServe(['--store', urlOf(server, storeDb), '--poll-ms', '200'], {
    PGDTS_API_TOKEN: `token-${randomBytes(8).toString('hex')}`,
  });
  try {
    await addDataSources(serve, [
      ['one', server, srcDb],
      ['two', server, dstDb],
    ]);
    const created = await serve.call('POST', '/api/v1/tasks', {
      body: {
        name: 'one-shot copy',
        source: { dataSource: 'one' },
        destination: { dataSource: 'two' },
        syncTypes: ['schema', 'full'],
        objects: [{ schema: 'public' }],
      },
    });
    const id = (created.body as { id: string }).id;
    const base = `/api/v1/tasks/${id}`;
    assert.equal(((await serve.call('POST', `${base}/precheck`)).body as { passed: boolean }).passed, true);
    // [S2][S4] An edit after the precheck sends the task back to created: no start.
    const edited = await serve.call('PATCH', base, { body: { full: { jobs: 2 } } });
    assert.equal((edited.body as { state: string }).state, 'created', edited.text);
    const refused = await serve.call('POST', `${base}/start`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(((await serve.call('POST', `${base}/precheck`)).body as { passed: boolean }).passed, true);
    assert.equal((await serve.call('POST', `${base}/start`)).status, 200);
    await until(
      'the task completed',
      async () => ((await serve.call('GET', base)).body as { state: string }).state === 'completed',
      120_000,
      () => serve.run.output(),
    );
    const status = (await serve.call('GET', `${base}/status`)).body as {
      phase: string;
      run: { full: { rows: number; tablesDone: number } };
    };
    assert.equal(status.phase, 'done');
    assert.equal(status.run.full.rows, 8000);
    assert.equal(status.run.full.tablesDone, 2);
    await assertSameData({ server, db: srcDb }, { server, db: dstDb }, ['public']);
    const logs = (await serve.call('GET', `${base}/logs`)).body as { items: { message: string }[] };
    assert.ok(logs.items.some((l) => l.message === 'task completed'));
    // [S8] Completed without incremental sync: no slot, deleted without a release.
    const slots = await sql(server, srcDb, `SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [
      `pgdts_${id}`,
    ]);
    assert.equal(slots.length, 0);
    assert.equal((await serve.call('DELETE', base)).status, 204);
  } finally {
    await serve.stop();
  }
});
