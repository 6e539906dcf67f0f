/**
 * Workers sharing a store (task-states.md S9-S11): `pgdts serve --no-worker` serves the API, two
 * `pgdts worker` processes run tasks. The worker running a task is SIGKILLed under write load while
 * the task copies, and again while it streams: each time the other worker takes it over within the
 * lease timeout and resumes from the checkpoints; a worker stopped with SIGTERM hands its task over.
 * The destination ends identical to the source, and at no time do two workers run the task.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { addDataSources, createPrecheckedTask, startServe, type Serve } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { startCli, type CliRun } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';
import { startWriteLoad } from '../support/write-load.ts';

const source = testServer(15);
const destination = testServer(17);
const env = {
  PGDTS_API_TOKEN: `token-${randomBytes(12).toString('hex')}`,
  PGDTS_SECRET_KEY: randomBytes(32).toString('hex'),
};
/** The lease timeout given to the workers, ms: a lost worker's task moves within it (S10). */
const LEASE_TIMEOUT_MS = 30_000;

let serve: Serve;
let storeUrl: string;
let srcDb: string;
let dstDb: string;
const workers: CliRun[] = [];
/** Worker id → its process. */
const byWorkerId = new Map<string, CliRun>();

async function startWorker(): Promise<{ run: CliRun; id: string }> {
  const run = startCli(
    ['worker', '--store', storeUrl, '--poll-ms', '200', '--lease-timeout', String(LEASE_TIMEOUT_MS)],
    env,
  );
  workers.push(run);
  await run.waitFor(/worker (\S+) started/, 60_000);
  const id = /worker (\S+) started/.exec(run.output())?.[1] ?? '';
  byWorkerId.set(id, run);
  return { run, id };
}

before(async () => {
  srcDb = await freshDatabase(source, 'ctl_take_src');
  dstDb = await freshDatabase(destination, 'ctl_take_dst');
  const storeDb = await freshDatabase(destination, 'ctl_take_store');
  storeUrl = urlOf(destination, storeDb);
  await sql(
    source,
    srcDb,
    `CREATE SCHEMA shop;
     CREATE TABLE shop.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO shop.items (v) SELECT repeat('x', 200) || g FROM generate_series(1, 300000) g;
     CREATE TABLE shop.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO shop.notes (v) SELECT 'n' || g FROM generate_series(1, 1000) g;`,
  );
  serve = await startServe(['--store', storeUrl, '--no-worker'], env);
});

after(async () => {
  for (const w of workers)
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  await serve?.stop();
});

test('the worker running a task is SIGKILLed under writes, twice: the other takes over, the destination ends identical', async () => {
  await addDataSources(serve, [
    ['src', source, srcDb],
    ['dst', destination, dstDb],
  ]);
  const id = await createPrecheckedTask(serve, {
    name: 'take-over',
    source: { dataSource: 'src' },
    destination: { dataSource: 'dst' },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'shop' }],
    // Slow the copy so that a kill lands in the middle of it.
    full: { jobs: 1, throttle: { rowsPerSecond: 40000 } },
  });
  const base = `/api/v1/tasks/${id}`;

  const a = await startWorker();
  const b = await startWorker();
  const byId = new Map([
    [a.id, a],
    [b.id, b],
  ]);
  const holder = async () => {
    const s = (await serve.call('GET', `${base}/status`)).body as {
      workerId: string | null;
      phase: string | null;
    };
    return s;
  };
  /** [S9] At most one destination lease session of the task at any time. */
  const leaseHolders = async () =>
    (
      await sql<{ n: number }>(
        destination,
        dstDb,
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted
            AND classid = hashtext('pgdts.task')::oid AND objid = hashtext($1)::oid`,
        [id],
      )
    )[0]?.n ?? 0;

  const load = startWriteLoad(source, srcDb, ['shop.items', 'shop.notes'], {
    updateModulo: 100,
    deletes: 2,
    pauseMs: 20,
  });
  try {
    assert.equal((await serve.call('POST', `${base}/start`)).status, 200);
    // Kill 1: during the full copy.
    await until(
      'a worker copying',
      async () => {
        const s = await holder();
        return s.workerId !== null && s.phase === 'full';
      },
      120_000,
    );
    const first = byId.get((await holder()).workerId ?? '');
    assert.ok(first, 'the task runs on one of the two workers');
    assert.ok((await leaseHolders()) <= 1);
    first.run.child.kill('SIGKILL');
    const killedAt = Date.now();
    const other = first === a ? b : a;
    await until(
      'the other worker taking the task over',
      async () => (await holder()).workerId === other.id,
      LEASE_TIMEOUT_MS,
      () => other.run.output(),
    );
    assert.ok(Date.now() - killedAt < LEASE_TIMEOUT_MS);
    assert.ok((await leaseHolders()) <= 1);

    // Kill 2: while streaming, with a fresh worker standing by.
    const c = await startWorker();
    byId.set(c.id, c);
    await until(
      'incremental sync',
      async () => (await holder()).phase === 'incremental',
      240_000,
      () => other.run.output(),
    );
    other.run.child.kill('SIGKILL');
    const killed2 = Date.now();
    await until(
      'worker c taking the task over',
      async () => (await holder()).workerId === c.id,
      LEASE_TIMEOUT_MS,
      () => c.run.output(),
    );
    assert.ok(Date.now() - killed2 < LEASE_TIMEOUT_MS);
    await until(
      'streaming again',
      async () => {
        const r = await sql<{ active: boolean }>(
          source,
          srcDb,
          'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
          [`pgdts_${id}`],
        );
        return r[0]?.active === true;
      },
      60_000,
      () => c.run.output(),
    );

    // [S11] SIGTERM hands over: a new worker d takes the task, c exits 0.
    const d = await startWorker();
    c.run.child.kill('SIGTERM');
    const cExit = await c.run.done;
    assert.equal(cExit.code, 0, c.run.output());
    await until(
      'worker d taking the task over',
      async () => (await holder()).workerId === d.id,
      LEASE_TIMEOUT_MS,
      () => d.run.output(),
    );
    assert.equal(((await serve.call('GET', base)).body as { state: string }).state, 'running');
    await load.stop();
    await waitForCatchUp(source, srcDb, `pgdts_${id}`, 120_000, () => d.run.output());
    await assertSameData({ server: source, db: srcDb }, { server: destination, db: dstDb }, ['shop']);
    assert.equal(await leaseHolders(), 1);
  } finally {
    await load.stop().catch(() => undefined);
  }
  const released = await serve.call('POST', `${base}/release`);
  assert.equal(released.status, 200, released.text);
});

test('[S10] a worker whose lock session on the store is cut stops its task; another worker takes it over', async () => {
  const src2 = await freshDatabase(source, 'ctl_cut_src');
  const dst2 = await freshDatabase(destination, 'ctl_cut_dst');
  await sql(
    source,
    src2,
    `CREATE TABLE public.kv (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO public.kv (v) SELECT 'k' || g FROM generate_series(1, 2000) g;`,
  );
  await addDataSources(serve, [
    ['src2', source, src2],
    ['dst2', destination, dst2],
  ]);
  const id = await createPrecheckedTask(serve, {
    name: 'cut',
    source: { dataSource: 'src2' },
    destination: { dataSource: 'dst2' },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ table: 'public.kv' }],
  });
  const base = `/api/v1/tasks/${id}`;
  // Two workers at least (the first test leaves one running).
  await startWorker();
  await startWorker();
  assert.equal((await serve.call('POST', `${base}/start`)).status, 200);
  const status = async () =>
    (await serve.call('GET', `${base}/status`)).body as { workerId: string | null; phase: string | null };
  await until('streaming', async () => (await status()).phase === 'incremental', 120_000);
  const load = startWriteLoad(source, src2, ['public.kv'], { updateModulo: 20, deletes: 1, pauseMs: 20 });
  try {
    const holderId = (await status()).workerId ?? '';
    const holderRun = byWorkerId.get(holderId);
    assert.ok(holderRun, `the task runs on a worker of this test: ${holderId}`);
    // Cut that worker's lock session (as a network partition or a store restart would): the store
    // frees its locks at once, so the worker must stop the task before another may run it.
    const storeDb = storeUrl.split('/').at(-1) ?? '';
    const session = await sql<{ pid: number }>(
      destination,
      storeDb,
      `SELECT l.pid FROM pg_locks l JOIN pgdts_control.task t ON l.objid = t.lock_key::oid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = hashtext('pgdts.control.task')::oid AND t.id = $1`,
      [id],
    );
    assert.equal(session.length, 1, 'one session holds the task lock');
    await sql(destination, storeDb, 'SELECT pg_terminate_backend($1)', [session[0]?.pid]);
    await holderRun.waitFor(/lock session on the store was lost; stopping its tasks/, 30_000);
    await until(
      'another worker taking the task over',
      async () => {
        const w = (await status()).workerId;
        return w !== null && w !== holderId;
      },
      LEASE_TIMEOUT_MS,
    );
    await load.stop();
    await waitForCatchUp(source, src2, `pgdts_${id}`, 120_000);
    await assertSameData({ server: source, db: src2 }, { server: destination, db: dst2 }, ['public']);
    assert.match(holderRun.output(), /lock session on the store was lost/);
  } finally {
    await load.stop().catch(() => undefined);
  }
  assert.equal((await serve.call('POST', `${base}/release`)).status, 200);
});
