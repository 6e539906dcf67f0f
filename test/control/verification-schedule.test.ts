/**
 * [V7] Scheduled verification (src/control/task/verification-scheduler.ts) on a real store and real
 * source and destination databases: the scheduler's clock is injected, so the interval is tested
 * without waiting minutes; its looks (`tick`) are called directly. Tasks are driven through their
 * states with the store's own methods, as the API and the worker do. The end-to-end test through
 * `pgdts serve` is in task-verify-api.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { SecretBox } from '../../src/control/secrets/secret-box.ts';
import { ControlStore } from '../../src/control/store/control-store.ts';
import type { StoredTask } from '../../src/control/store/task-store.ts';
import type { TaskDefinitionInput } from '../../src/control/task/task-definition-schema.ts';
import { parseTaskDefinition } from '../../src/control/task/task-definition-schema.ts';
import type { TaskState } from '../../src/control/task/task-state.ts';
import { scheduleEligibility, VerificationScheduler } from '../../src/control/task/verification-scheduler.ts';
import { mustGet, writeStatus } from '../support/control-task.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(17);

let store: ControlStore;
let storeUrl: string;
let key: Buffer;
let srcDb: string;
let dstDb: string;
/** Minutes the injected clock is ahead of the real one. */
let clockMinutes = 0;
const now = () => new Date(Date.now() + clockMinutes * 60_000);
const logged: string[] = [];

function scheduler(s: ControlStore = store): VerificationScheduler {
  return new VerificationScheduler({ store: s, now, log: (level, m) => logged.push(`${level} ${m}`) });
}

before(async () => {
  srcDb = await freshDatabase(server, 'ctl_sched_src');
  dstDb = await freshDatabase(server, 'ctl_sched_dst');
  const table = `CREATE TABLE public.a (id int PRIMARY KEY, v text);
     INSERT INTO public.a SELECT g, 'a' || g FROM generate_series(1, 300) g;`;
  await sql(server, srcDb, table);
  await sql(server, dstDb, table);
  storeUrl = urlOf(server, await freshDatabase(server, 'ctl_sched_store'));
  key = randomBytes(32);
  store = await ControlStore.open(storeUrl, new SecretBox(key));
  for (const [id, database] of [
    ['src1', srcDb],
    ['dst1', dstDb],
  ] as const) {
    await store.insertDataSource({
      id,
      type: 'postgresql',
      region: null,
      attributes: 'primary',
      standby: null,
      heartbeat: false,
      host: server.host,
      port: server.port,
      username: server.user,
      password: server.password,
      database,
      schema: null,
      sslmode: 'disable',
      caCertificate: null,
      clientCertificate: null,
      clientKey: null,
      clientKeyPassword: null,
      remarks: null,
    });
  }
});

after(async () => {
  await store.close();
  assert.ok(!logged.join('\n').includes(server.password), 'no password logged');
});

/** A task of public.a with `verify.schedule`, moved through `states` (from created). */
async function scheduledTask(
  name: string,
  schedule: unknown,
  states: readonly TaskState[],
  syncTypes: ('full' | 'incremental')[] = ['full'],
): Promise<StoredTask> {
  const definition: TaskDefinitionInput = {
    name,
    source: { dataSource: 'src1' },
    destination: { dataSource: 'dst1' },
    syncTypes,
    objects: [{ table: 'public.a' }],
    verify: { schedule } as TaskDefinitionInput['verify'],
  };
  parseTaskDefinition(definition);
  const id = `t${randomBytes(8).toString('hex').slice(0, 12)}`;
  let t = await store.tasks.create({ id, name, sourceId: 'src1', destinationId: 'dst1', definition });
  for (const to of states) {
    const moved = await store.tasks.transition(id, t.state, to, to === 'running' ? { started: true } : {});
    assert.ok(moved, `${t.state} → ${to}`);
    t = moved;
  }
  return t;
}

test('[V7] a due schedule queues and runs a job; none again before everyMinutes, one after', async () => {
  clockMinutes = 0;
  const t = await scheduledTask('every minute', { everyMinutes: 1, mode: 'count' }, [
    'prechecking',
    'precheck-passed',
    'running',
    'completed',
  ]);
  const s = scheduler();
  const first = await s.tick();
  const mine = first.filter((j) => j.taskId === t.id);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]?.mode, 'count');
  assert.equal(mine[0]?.status, 'queued');
  await s.idle();
  const done = await store.verifications.list(t.id);
  assert.deepEqual(
    done.map((j) => [j.status, j.results?.map((r) => [r.table, r.sourceRows, r.destinationRows])]),
    [['passed', [['public.a', 300, 300]]]],
  );
  // The job ended long before the interval did: nothing is queued again yet.
  for (const m of [0, 0.5, 0.95]) {
    clockMinutes = m;
    assert.equal((await s.tick()).filter((j) => j.taskId === t.id).length, 0, `at +${m} min`);
  }
  // A minute after the first job was created: the next one.
  clockMinutes = 1.05;
  await sql(server, dstDb, `DELETE FROM public.a WHERE id = 7`);
  const second = (await s.tick()).filter((j) => j.taskId === t.id);
  assert.equal(second.length, 1);
  await s.idle();
  const jobs = await store.verifications.list(t.id);
  assert.deepEqual(
    jobs.map((j) => j.status),
    ['failed', 'passed'],
  );
  assert.equal(jobs[0]?.results?.[0]?.differences, 1);
  await sql(server, dstDb, `INSERT INTO public.a VALUES (7, 'a7')`);
  await s.stop();
  clockMinutes = 0;
});

test('[V7] a due schedule while a job is open queues nothing, without an error', async () => {
  clockMinutes = 0;
  const t = await scheduledTask('busy', { everyMinutes: 1 }, [
    'prechecking',
    'precheck-passed',
    'running',
    'completed',
  ]);
  // A job POSTed an hour "ago" by the scheduler's clock is still queued.
  const open = await store.verifications.create(t.id, 'hash', null);
  clockMinutes = 60;
  const s = scheduler();
  assert.equal((await s.tick()).filter((j) => j.taskId === t.id).length, 0);
  assert.deepEqual(
    (await store.verifications.list(t.id)).map((j) => j.id),
    [open.id],
  );
  await store.verifications.start(open.id, 'test-runner');
  await store.verifications.finish(open.id, 'test-runner', 'passed', [], null);
  await s.stop();
  clockMinutes = 0;
});

test('[V7] two schedulers on two store connections (two serve processes) queue one job per due schedule', async () => {
  clockMinutes = 0;
  const tasks: StoredTask[] = [];
  for (let i = 0; i < 4; i++) {
    tasks.push(
      await scheduledTask(`twice ${i}`, { everyMinutes: 5, mode: 'count' }, [
        'prechecking',
        'precheck-passed',
        'running',
        'completed',
      ]),
    );
  }
  const other = await ControlStore.open(storeUrl, new SecretBox(key));
  try {
    const a = scheduler();
    const b = scheduler(other);
    // Twice each, at once: the store decides.
    const queued = (await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()])).flat();
    await Promise.all([a.idle(), b.idle()]);
    for (const t of tasks) {
      assert.equal(queued.filter((j) => j.taskId === t.id).length, 1, t.name);
      assert.equal((await store.verifications.list(t.id)).length, 1, t.name);
    }
    await Promise.all([a.stop(), b.stop()]);
    // The store's decision alone: eight conditional creates at once from both connections, the
    // jobs ending at once (as a fast job would), create one job.
    const t = tasks[0];
    assert.ok(t !== undefined);
    clockMinutes = 10;
    const schedule = { everyMinutes: 5, mode: 'count' as const };
    const made = await Promise.all(
      [store, other, store, other, store, other, store, other].map(async (s) => {
        const job = await s.verifications.createIfDue(t.id, schedule, now());
        if (job !== undefined) {
          await s.verifications.start(job.id, 'test-runner');
          await s.verifications.finish(job.id, 'test-runner', 'passed', [], null);
        }
        return job;
      }),
    );
    assert.equal(made.filter((j) => j !== undefined).length, 1);
    assert.equal((await store.verifications.list(t.id)).length, 2);
    clockMinutes = 0;
  } finally {
    await other.close();
  }
});

test('[V7] eligible states: running once in incremental sync, completed; not created, copying, paused, failed, released', async () => {
  clockMinutes = 0;
  const s = scheduler();
  const precheck: TaskState[] = ['prechecking', 'precheck-passed'];
  const created = await scheduledTask('created', { everyMinutes: 1 }, []);
  const passed = await scheduledTask('precheck passed', { everyMinutes: 1 }, precheck);
  const copying = await scheduledTask(
    'copying',
    { everyMinutes: 1 },
    [...precheck, 'running'],
    ['full', 'incremental'],
  );
  await writeStatus(store, copying.id, { phase: 'full' });
  const streaming = await scheduledTask(
    'streaming',
    { everyMinutes: 1 },
    [...precheck, 'running'],
    ['full', 'incremental'],
  );
  await writeStatus(store, streaming.id, { phase: 'incremental', lagMs: 10 });
  const paused = await scheduledTask(
    'paused',
    { everyMinutes: 1 },
    [...precheck, 'running', 'paused'],
    ['full', 'incremental'],
  );
  const failed = await scheduledTask('failed', { everyMinutes: 1 }, [...precheck, 'running', 'failed']);
  const released = await scheduledTask('released', { everyMinutes: 1 }, [
    ...precheck,
    'running',
    'paused',
    'released',
  ]);
  const queued = new Set((await s.tick()).map((j) => j.taskId));
  await s.idle();
  assert.ok(queued.has(streaming.id), 'a running task in incremental sync');
  for (const t of [created, passed, copying, paused, failed, released]) {
    assert.ok(!queued.has(t.id), t.name);
    const e = scheduleEligibility(await mustGet(store, t.id));
    assert.equal(e.eligible, false, t.name);
  }
  assert.deepEqual(scheduleEligibility(await mustGet(store, streaming.id)), { eligible: true });
  // A resumed task whose status is the last run's (written before it entered the state) waits for
  // its new run's status.
  await store.tasks.transition(streaming.id, 'running', 'paused');
  await store.tasks.transition(streaming.id, 'paused', 'running');
  assert.equal(scheduleEligibility(await mustGet(store, streaming.id)).eligible, false);
  await s.stop();
});
