/**
 * [V12] Cancelling and resuming verification jobs through the API on real servers:
 * - a queued job (one a serve process stored and never started) is `cancelled` at once (200);
 * - a running job gets its cancel recorded (202) and ends `cancelled`, keeping the results of the
 *   tables it finished; an ended job cannot be cancelled (409);
 * - a job whose serve process is killed (SIGKILL) while it runs is taken over by exactly one of two
 *   new serve processes once its heartbeat is older than the lease timeout, resumed from its stored
 *   progress (its saved chunks kept), and ends with the same results as an uninterrupted job;
 * - a serve process stopped with SIGTERM gives its running job up, and the other one takes it over
 *   at its next poll.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, test } from 'node:test';
import { addDataSources, startServe, type Serve } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(17);
const env = {
  PGDTS_API_TOKEN: `token-${randomBytes(8).toString('hex')}`,
  PGDTS_SECRET_KEY: randomBytes(32).toString('hex'),
};
/** Lease timeout of the serve processes, ms: a killed one's job is taken over after it. */
const LEASE_MS = 3_000;
const serves: Serve[] = [];

interface TableResult {
  table: string;
  sourceRows: number;
  destinationRows: number;
  differences: number;
  status: string;
}
interface Job {
  id: string;
  status: string;
  error: string | null;
  chunkRows: number | null;
  cancelRequestedAt: string | null;
  results: TableResult[] | null;
}

async function serveOn(storeUrl: string): Promise<Serve> {
  const s = await startServe(
    ['--store', storeUrl, '--no-worker', '--poll-ms', '200', '--lease-timeout', String(LEASE_MS)],
    env,
  );
  serves.push(s);
  return s;
}

after(async () => {
  for (const s of serves) {
    if (s.run.child.exitCode === null && s.run.child.signalCode === null)
      await s.stop().catch(() => undefined);
  }
});

async function job(serve: Serve, base: string, id: string): Promise<Job> {
  return (await serve.call('GET', `${base}/verifications/${id}`)).body as Job;
}

async function ended(serve: Serve, base: string, id: string, timeoutMs = 90_000): Promise<Job> {
  let last: Job | undefined;
  await until(
    `verification ${id} ended`,
    async () => {
      last = await job(serve, base, id);
      return !['queued', 'running'].includes(last.status);
    },
    timeoutMs,
    () => serves.map((s) => s.run.output()).join('\n---\n'),
  );
  if (last === undefined) throw new Error('no job read');
  return last;
}

const figures = (j: Job) =>
  j.results?.map((r) => [r.table, r.sourceRows, r.destinationRows, r.differences, r.status]);

test("[V12] verification jobs: cancel of a queued and of a running job; a killed serve's job resumed by one new serve", async () => {
  const srcDb = await freshDatabase(server, 'ctl_vcan_src');
  const dstDb = await freshDatabase(server, 'ctl_vcan_dst');
  const storeDb = await freshDatabase(server, 'ctl_vcan_store');
  const storeUrl = urlOf(server, storeDb);
  for (const db of [srcDb, dstDb]) {
    await sql(
      server,
      db,
      `CREATE TABLE public.a_small (id int PRIMARY KEY);
       INSERT INTO public.a_small SELECT generate_series(1, 50);
       CREATE TABLE public.b_big (id int PRIMARY KEY, v text);
       INSERT INTO public.b_big SELECT g, 'v' || g FROM generate_series(1, 3000) g;`,
    );
  }
  await sql(server, dstDb, 'DELETE FROM public.b_big WHERE id IN (10, 2990)');
  const serve = await serveOn(storeUrl);
  await addDataSources(serve, [
    ['src', server, srcDb],
    ['dst', server, dstDb],
  ]);
  const created = await serve.call('POST', '/api/v1/tasks', {
    body: {
      name: 'cancelled verify',
      source: { dataSource: 'src' },
      destination: { dataSource: 'dst' },
      syncTypes: ['full'],
      objects: [{ schema: 'public' }],
      // 6 100 rows read at 1 500 rows/s: a job lasts about 4 s.
      verify: { rowsPerSecond: 1500 },
    },
  });
  assert.equal(created.status, 201, created.text);
  const taskId = (created.body as { id: string }).id;
  const base = `/api/v1/tasks/${taskId}`;

  // The uninterrupted job, for reference.
  const body = { mode: 'rows', chunkRows: 100 };
  const ref = await serve.call('POST', `${base}/verify`, { body });
  assert.equal(ref.status, 202, ref.text);
  assert.equal((ref.body as Job).chunkRows, 100);
  const whole = await ended(serve, base, (ref.body as Job).id);
  assert.equal(whole.status, 'failed', JSON.stringify(whole));
  assert.deepEqual(figures(whole), [
    ['public.a_small', 50, 50, 0, 'passed'],
    ['public.b_big', 3000, 2998, 2, 'failed'],
  ]);
  const ended409 = await serve.call('POST', `${base}/verifications/${whole.id}/cancel`);
  assert.equal(ended409.status, 409, ended409.text);
  const unknown = await serve.call('POST', `${base}/verifications/${randomUUID()}/cancel`);
  assert.equal(unknown.status, 404, unknown.text);
  const doc = (await serve.call('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
  assert.ok(
    doc.paths['/api/v1/tasks/{id}/verifications/{verificationId}/cancel'],
    'OpenAPI has the cancel route',
  );

  // A queued job no serve process started (as if its serve stopped at once): cancelled at once.
  const queuedId = randomUUID();
  await sql(
    server,
    storeDb,
    `INSERT INTO pgdts_control.verification (id, task_id, mode, status) VALUES ($1, $2, 'hash', 'queued')`,
    [queuedId, taskId],
  );
  const cq = await serve.call('POST', `${base}/verifications/${queuedId}/cancel`);
  assert.equal(cq.status, 200, cq.text);
  assert.equal((cq.body as Job).status, 'cancelled');
  assert.ok((cq.body as Job).cancelRequestedAt !== null);

  // A running job: cancelled after its first table finished; that table's result is kept.
  const run = await serve.call('POST', `${base}/verify`, { body });
  assert.equal(run.status, 202, run.text);
  const runId = (run.body as Job).id;
  await until(
    'the first table finished',
    async () => (await job(serve, base, runId)).results?.length === 1,
    60_000,
    () => serve.run.output(),
  );
  const cr = await serve.call('POST', `${base}/verifications/${runId}/cancel`);
  assert.equal(cr.status, 202, cr.text);
  assert.equal((cr.body as Job).status, 'running');
  const cancelled = await ended(serve, base, runId, 10_000);
  assert.equal(cancelled.status, 'cancelled', JSON.stringify(cancelled));
  assert.deepEqual(figures(cancelled), [['public.a_small', 50, 50, 0, 'passed']]);

  // A job whose serve process is killed while it runs: taken over and resumed from its progress.
  const next = await serve.call('POST', `${base}/verify`, { body });
  assert.equal(next.status, 202, next.text);
  const killedId = (next.body as Job).id;
  const savedChunks = async () =>
    Number(
      (
        await sql<{ chunks: string | null }>(
          server,
          storeDb,
          `SELECT progress->'partial'->>'chunks' AS chunks FROM pgdts_control.verification WHERE id = $1`,
          [killedId],
        )
      )[0]?.chunks ?? 0,
    );
  await until(
    'a few chunks of public.b_big saved',
    async () => (await savedChunks()) >= 5,
    60_000,
    () => serve.run.output(),
  );
  serve.run.child.kill('SIGKILL');
  await serve.run.done;
  const atKill = await savedChunks();
  assert.ok(atKill >= 5 && atKill < 31, `killed after ${atKill} of 31 chunks`);
  const [b, c] = await Promise.all([serveOn(storeUrl), serveOn(storeUrl)]);
  // Resumed, not restarted: the saved chunk count never goes back below where the kill left it.
  const seen: number[] = [];
  let taken: Job | undefined;
  await until(
    `verification ${killedId} ended`,
    async () => {
      const n = await savedChunks();
      if (n > 0) seen.push(n);
      taken = await job(b, base, killedId);
      return !['queued', 'running'].includes(taken.status);
    },
    90_000,
    () => [b, c].map((s) => s.run.output()).join('\n---\n'),
  );
  assert.ok(taken !== undefined);
  assert.ok(
    seen.every((n) => n >= atKill),
    `chunks saved after the take-over ${JSON.stringify(seen)}, at the kill ${atKill}`,
  );
  assert.ok(
    seen.some((n) => n > atKill),
    `the new serve saved further chunks: ${JSON.stringify(seen)}`,
  );
  assert.equal(taken.status, 'failed', JSON.stringify(taken));
  assert.deepEqual(figures(taken), figures(whole), 'the resumed job found what the uninterrupted one did');
  const takers = [b, c].filter((s) =>
    s.run.output().includes(`verification ${killedId} of task ${taskId}: taken over`),
  );
  assert.equal(takers.length, 1, 'exactly one serve process took the job over');
  assert.ok(!JSON.stringify(taken).includes(server.password));

  // A serve process stopped cleanly (SIGTERM) gives its running job up: the other takes it at once.
  const [runner, other] = takers[0] === b ? [b, c] : [c, b];
  const last = await runner.call('POST', `${base}/verify`, { body });
  assert.equal(last.status, 202, last.text);
  const lastId = (last.body as Job).id;
  const progressOf = async () =>
    (
      await sql<{ chunks: string | null; runner: string | null }>(
        server,
        storeDb,
        `SELECT progress->'partial'->>'chunks' AS chunks, runner FROM pgdts_control.verification WHERE id = $1`,
        [lastId],
      )
    )[0];
  await until(
    'the job runs in the serve to be stopped',
    async () => Number((await progressOf())?.chunks ?? 0) >= 3,
    60_000,
    () => runner.run.output(),
  );
  const pid = runner.run.child.pid;
  await runner.stop();
  // Given up (no runner), or already taken by the other serve process: not ended, not still ours.
  const given = await progressOf();
  assert.ok(
    given !== undefined && !(given.runner ?? '').includes(`-${pid}-`),
    `runner after the stop: ${given?.runner}`,
  );
  const handed = await ended(other, base, lastId);
  assert.equal(handed.status, 'failed', JSON.stringify(handed));
  assert.deepEqual(figures(handed), figures(whole));
  assert.match(other.run.output(), new RegExp(`verification ${lastId} of task ${taskId}: taken over`));
  await other.stop();
});
