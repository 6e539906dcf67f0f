/**
 * [V6] `POST /api/v1/tasks/{id}/verify` through the API on real servers: a completed task verifies
 * `passed`; after a row is deleted in the destination a new job is `failed` with that table's
 * difference; jobs are listed newest first; unknown tasks are 404; no password in the output.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { addDataSources, startServe, type Serve } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(17);

interface Job {
  id: string;
  status: string;
  mode: string;
  results:
    | { table: string; sourceRows: number; destinationRows: number; differences: number; status: string }[]
    | null;
}

async function finished(serve: Serve, base: string, job: Job): Promise<Job> {
  let last = job;
  await until(
    `verification ${job.id} finished`,
    async () => {
      last = (await serve.call('GET', `${base}/verifications/${job.id}`)).body as Job;
      return !['queued', 'running'].includes(last.status);
    },
    60_000,
    () => serve.run.output(),
  );
  return last;
}

test('[V6] a verify job through the API: passed, then failed with the deleted row counted', async () => {
  const srcDb = await freshDatabase(server, 'ctl_vfy_src');
  const dstDb = await freshDatabase(server, 'ctl_vfy_dst');
  const storeDb = await freshDatabase(server, 'ctl_vfy_store');
  await sql(
    server,
    srcDb,
    `CREATE TABLE public.a (id int PRIMARY KEY, v text);
     INSERT INTO public.a SELECT g, 'a' || g FROM generate_series(1, 2000) g;
     CREATE TABLE public.b (id int PRIMARY KEY, v numeric);
     INSERT INTO public.b SELECT g, g / 7.0 FROM generate_series(1, 500) g;`,
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
        name: 'verified copy',
        source: { dataSource: 'one' },
        destination: { dataSource: 'two' },
        syncTypes: ['schema', 'full'],
        objects: [{ schema: 'public' }],
      },
    });
    const id = (created.body as { id: string }).id;
    const base = `/api/v1/tasks/${id}`;
    assert.equal(((await serve.call('POST', `${base}/precheck`)).body as { passed: boolean }).passed, true);
    assert.equal((await serve.call('POST', `${base}/start`)).status, 200);
    await until(
      'the task completed',
      async () => ((await serve.call('GET', base)).body as { state: string }).state === 'completed',
      120_000,
      () => serve.run.output(),
    );

    const first = await serve.call('POST', `${base}/verify`, { body: {} });
    assert.equal(first.status, 202, first.text);
    const q = first.body as Job;
    assert.ok(['queued', 'running'].includes(q.status));
    assert.equal(q.mode, 'hash');
    const passed = await finished(serve, base, q);
    assert.equal(passed.status, 'passed', JSON.stringify(passed));
    assert.deepEqual(
      passed.results?.map((r) => [r.table, r.sourceRows, r.destinationRows, r.differences, r.status]),
      [
        ['public.a', 2000, 2000, 0, 'passed'],
        ['public.b', 500, 500, 0, 'passed'],
      ],
    );

    // [V6] One job of a task at a time, decided by the store: of two requests at once, one is 409.
    const both = await Promise.all(
      [0, 1].map(() => serve.call('POST', `${base}/verify`, { body: { mode: 'count' } })),
    );
    assert.deepEqual(both.map((r) => r.status).sort(), [202, 409], both.map((r) => r.text).join('\n'));
    const started = both.find((r) => r.status === 202);
    assert.ok(started !== undefined);
    const counted = await finished(serve, base, started.body as Job);
    assert.equal(counted.status, 'passed');

    await sql(server, dstDb, `DELETE FROM public.a WHERE id = 77`);
    const second = await serve.call('POST', `${base}/verify`, {
      body: { mode: 'rows', tables: ['public.a'] },
    });
    assert.equal(second.status, 202, second.text);
    const failed = await finished(serve, base, second.body as Job);
    assert.equal(failed.status, 'failed', JSON.stringify(failed));
    assert.equal(failed.results?.length, 1);
    assert.equal(failed.results?.[0]?.table, 'public.a');
    assert.equal(failed.results?.[0]?.differences, 1);
    assert.equal(failed.results?.[0]?.destinationRows, 1999);

    const list = (await serve.call('GET', `${base}/verifications`)).body as Job[];
    assert.deepEqual(
      list.map((j) => j.id),
      [failed.id, counted.id, passed.id],
    );
    assert.ok(!JSON.stringify(list).includes(server.password), 'no password in the output');

    const unknown = await serve.call('POST', `/api/v1/tasks/t000000000000/verify`, { body: {} });
    assert.equal(unknown.status, 404, unknown.text);
    const bad = await serve.call('POST', `${base}/verify`, { body: { mode: 'fast' } });
    assert.equal(bad.status, 400, bad.text);
    const doc = (await serve.call('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    for (const p of [
      '/api/v1/tasks/{id}/verify',
      '/api/v1/tasks/{id}/verifications',
      '/api/v1/tasks/{id}/verifications/{verificationId}',
    ]) {
      assert.ok(doc.paths[p], `OpenAPI has ${p}`);
    }
  } finally {
    await serve.stop();
  }
});
