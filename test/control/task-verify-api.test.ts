/**
 * [V6] `POST /api/v1/tasks/{id}/verify` through the API on real servers: a completed task verifies
 * `passed`; after a row is deleted in the destination a new job is `failed` with that table's
 * difference (rows mode: the missing row with its column and key names); jobs are listed newest
 * first; unknown tasks are 404; no password in the output.
 * [V7] A task with `verify.schedule` gets a job queued and run by serve without a POST, and a failed
 * job fires its verification-failed alert and shows in /metrics.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { addDataSources, createPrecheckedTask, startServe, type Serve } from '../support/control-serve.ts';
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

/** An alert payload as the tests read it. */
interface Delivered {
  state: string;
  message: string;
  verification?: { id: string; tables: unknown[] };
}

/** A webhook receiver on a free port keeping every payload delivered to it. */
async function webhookReceiver(): Promise<{ got: Delivered[]; receiver: Server; hook: string }> {
  const got: Delivered[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Delivered);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  return { got, receiver, hook: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` };
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
    // [V10] The differing row with the names of its values and key (what the console shows).
    const r = failed.results?.[0] as Record<string, unknown> | undefined;
    assert.deepEqual(
      [r?.columns, r?.keyColumns, r?.truncated, r?.differingRows],
      [
        ['id', 'v'],
        ['id'],
        false,
        [{ kind: 'missing', key: ['77'], source: ['77', 'a77'], copies: { source: 1, destination: 0 } }],
      ],
    );

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

test('[V7] pgdts serve runs a scheduled verification without a POST; a failed job fires verification-failed; /metrics shows it', async () => {
  const srcDb = await freshDatabase(server, 'ctl_vsch_src');
  const dstDb = await freshDatabase(server, 'ctl_vsch_dst');
  const storeDb = await freshDatabase(server, 'ctl_vsch_store');
  await sql(
    server,
    srcDb,
    `CREATE TABLE public.a (id int PRIMARY KEY, v text);
     INSERT INTO public.a SELECT g, 'a' || g FROM generate_series(1, 1000) g;`,
  );
  const { got, receiver, hook } = await webhookReceiver();
  const serve = await startServe(
    ['--store', urlOf(server, storeDb), '--poll-ms', '200', '--verify-tick-ms', '300'],
    { PGDTS_API_TOKEN: `token-${randomBytes(8).toString('hex')}` },
  );
  try {
    await addDataSources(serve, [
      ['one', server, srcDb],
      ['two', server, dstDb],
    ]);
    const definition = {
      name: 'scheduled copy',
      source: { dataSource: 'one' },
      destination: { dataSource: 'two' },
      syncTypes: ['schema', 'full'],
      objects: [{ schema: 'public' }],
      alerts: { webhooks: [hook], rules: [{ type: 'verification-failed' }] },
    };
    // The API validates the schedule, naming the field.
    const bad = await serve.call('POST', '/api/v1/tasks', {
      body: { ...definition, verify: { schedule: { everyMinutes: 0 } } },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.ok(
      (bad.body as { details: { issues: { field: string }[] } }).details.issues.some(
        (i) => i.field === 'verify.schedule.everyMinutes',
      ),
      bad.text,
    );
    const created = await serve.call('POST', '/api/v1/tasks', {
      body: { ...definition, verify: { schedule: { everyMinutes: 1, mode: 'count' } } },
    });
    assert.equal(created.status, 201, created.text);
    const id = (created.body as { id: string }).id;
    const base = `/api/v1/tasks/${id}`;
    type Schedule = { everyMinutes: number; mode: string; tables: null; active: boolean };
    const schedule = (created.body as { verifySchedule: Schedule }).verifySchedule;
    assert.deepEqual(
      { ...schedule, inactiveReason: undefined },
      { everyMinutes: 1, mode: 'count', tables: null, active: false, inactiveReason: undefined },
    );
    assert.equal(((await serve.call('POST', `${base}/precheck`)).body as { passed: boolean }).passed, true);
    // Nothing is copied yet: no job was queued meanwhile.
    assert.deepEqual((await serve.call('GET', `${base}/verifications`)).body, []);
    assert.equal((await serve.call('POST', `${base}/start`)).status, 200);
    await until(
      'the task completed',
      async () => ((await serve.call('GET', base)).body as { state: string }).state === 'completed',
      120_000,
      () => serve.run.output(),
    );
    // No POST: serve queues the job once the schedule is due (at once: no job yet), and runs it.
    let jobs: Job[] = [];
    await until(
      'the scheduled verification finished',
      async () => {
        jobs = (await serve.call('GET', `${base}/verifications`)).body as Job[];
        return jobs.length > 0 && !['queued', 'running'].includes(jobs[0]?.status ?? '');
      },
      60_000,
      () => serve.run.output(),
    );
    assert.deepEqual(
      jobs.map((j) => [j.mode, j.status, j.results?.map((r) => [r.table, r.sourceRows, r.destinationRows])]),
      [['count', 'passed', [['public.a', 1000, 1000]]]],
    );
    assert.match(
      serve.run.output(),
      new RegExp(`task ${id}: scheduled verification ${jobs[0]?.id} \\(count\\) queued`),
    );
    const view = (await serve.call('GET', base)).body as { verifySchedule: Schedule };
    assert.equal(view.verifySchedule.active, true);

    // A row goes missing; a verification (POSTed here) finds it: the alert fires with the job.
    await sql(server, dstDb, `DELETE FROM public.a WHERE id = 500`);
    const posted = await serve.call('POST', `${base}/verify`, { body: { mode: 'rows' } });
    assert.equal(posted.status, 202, posted.text);
    const failed = await finished(serve, base, posted.body as Job);
    assert.equal(failed.status, 'failed');
    await until(
      'the alert was delivered',
      () => Promise.resolve(got.length > 0),
      30_000,
      () => serve.run.output(),
    );
    assert.equal(got[0]?.state, 'firing');
    assert.equal(got[0]?.verification?.id, failed.id);
    assert.deepEqual(got[0]?.verification?.tables, [{ table: 'public.a', differences: 1, status: 'failed' }]);
    assert.match(got[0]?.message ?? '', /found differences: public\.a 1 difference$/);

    const metrics = await fetch(`${serve.url}/metrics`, {
      headers: { authorization: `Bearer ${serve.token}` },
    });
    const text = await metrics.text();
    assert.match(
      text,
      new RegExp(
        `pgdts_verification_differences\\{task="${id}",name="scheduled copy",table="public.a"\\} 1\\n`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `pgdts_verification_rows\\{task="${id}",name="scheduled copy",table="public.a",side="destination"\\} 999\\n`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `pgdts_verification_last_finished_timestamp_seconds\\{task="${id}",name="scheduled copy",status="failed",mode="rows"\\} \\d`,
      ),
    );
    // The last job was created less than a minute ago: serve queues no other one meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(((await serve.call('GET', `${base}/verifications`)).body as Job[]).length, 2);
    assert.ok(!serve.run.output().includes(server.password), 'no password in the output');
  } finally {
    await serve.stop();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  }
});

test('[V9] continuous verification through serve: sampled rows the destination got wrong become a failed sample job, fire verification-failed and show in the status', async () => {
  const srcDb = await freshDatabase(server, 'ctl_vsmp_src');
  const dstDb = await freshDatabase(server, 'ctl_vsmp_dst');
  const storeDb = await freshDatabase(server, 'ctl_vsmp_store');
  await sql(
    server,
    srcDb,
    `CREATE TABLE public.a (id int PRIMARY KEY, v text);
     INSERT INTO public.a SELECT g, 'a' || g FROM generate_series(1, 500) g;`,
  );
  const { got, receiver, hook } = await webhookReceiver();
  const serve = await startServe(['--store', urlOf(server, storeDb), '--poll-ms', '200'], {
    PGDTS_API_TOKEN: `token-${randomBytes(8).toString('hex')}`,
  });
  try {
    await addDataSources(serve, [
      ['one', server, srcDb],
      ['two', server, dstDb],
    ]);
    const id = await createPrecheckedTask(serve, {
      name: 'sampled copy',
      source: { dataSource: 'one' },
      destination: { dataSource: 'two' },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
      verify: { continuous: true, sampleRate: 1 },
      alerts: { webhooks: [hook], rules: [{ type: 'verification-failed' }] },
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
    // The destination spoils every 100th updated row, even for the applier (ALWAYS).
    await sql(
      server,
      dstDb,
      `CREATE FUNCTION public.spoil() RETURNS trigger LANGUAGE plpgsql AS
         $$BEGIN IF NEW.id % 100 = 0 THEN NEW.v := NEW.v || '#'; END IF; RETURN NEW; END$$;
       CREATE TRIGGER spoil BEFORE UPDATE ON public.a FOR EACH ROW EXECUTE FUNCTION public.spoil();
       ALTER TABLE public.a ENABLE ALWAYS TRIGGER spoil;`,
    );
    await sql(server, srcDb, `UPDATE public.a SET v = v || '+' WHERE id <= 250`);
    type SampleJob = Omit<Job, 'results'> & {
      trigger: string;
      results: { table: string; differences: number; differingRows?: { kind: string; key: string[] }[] }[];
    };
    let sample: SampleJob | undefined;
    await until(
      'a sample job',
      async () => {
        const jobs = (await serve.call('GET', `${base}/verifications`)).body as SampleJob[];
        sample = jobs.find((j) => j.trigger === 'sample');
        return sample !== undefined;
      },
      60_000,
      () => serve.run.output(),
    );
    assert.equal(sample?.status, 'failed');
    assert.equal(sample?.mode, 'rows');
    const found = sample?.results.flatMap((r) =>
      (r.differingRows ?? []).map((d) => [r.table, d.kind, d.key[0]]),
    );
    assert.deepEqual(found, [
      ['public.a', 'different', '100'],
      ['public.a', 'different', '200'],
    ]);
    await until(
      'the alert was delivered',
      () => Promise.resolve(got.some((g) => g.state === 'firing' && g.verification?.id === sample?.id)),
      30_000,
      () => serve.run.output(),
    );
    const status = (await serve.call('GET', `${base}/status`)).body as {
      run: { sampling: { checkedRows: number; differingRows: number } | null };
    };
    assert.equal(status.run.sampling?.differingRows, 2);
    assert.ok((status.run.sampling?.checkedRows ?? 0) >= 250, JSON.stringify(status.run.sampling));
    assert.equal((await serve.call('POST', `${base}/release`)).status, 200);
  } finally {
    await serve.stop();
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
  }
});
