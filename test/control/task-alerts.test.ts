/**
 * Task alerts (src/control/alerts/alerts.md, [A1]...[A10]) on a real store (a fresh test database),
 * delivered over real HTTP to a receiver on loopback: the task is driven through its states and
 * statuses with the store's own methods, as the API and the worker do, and evaluated as the worker
 * does after each poll.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TaskAlerts, type AlertPayload } from '../../src/control/alerts/task-alerts.ts';
import type { ControlStore } from '../../src/control/store/control-store.ts';
import type { StoredAlert } from '../../src/control/store/task-store.ts';
import type { StoredTableVerification } from '../../src/control/store/verification-store.ts';
import {
  createTask,
  mustGet,
  startTask,
  storeWithDataSources,
  writeStatus,
} from '../support/control-task.ts';
import { testServer } from '../support/servers.ts';

const server = testServer(17);

/** What the receiver got: path, content type, parsed body. */
interface Received {
  readonly path: string;
  readonly contentType: string | undefined;
  readonly body: AlertPayload;
  readonly raw: string;
}

/**
 * A webhook receiver on 127.0.0.1. Paths: `/ok` answers 204; `/flaky` 500 the first time for each task, then 200;
 * `/gone` 404; `/busy` 429 twice, then 200; `/slow` never answers.
 */
class Receiver {
  readonly got: Received[] = [];
  readonly #http: Server;
  /** Tasks whose first request to /flaky was answered 500. */
  readonly #flaky = new Set<string>();
  #busy = 0;
  url = '';

  constructor() {
    this.#http = createServer((req, res) => {
      void readBody(req).then((raw) => {
        const path = req.url ?? '';
        this.got.push({
          path,
          contentType: req.headers['content-type'],
          body: JSON.parse(raw) as AlertPayload,
          raw,
        });
        const route = path.split('?')[0];
        const task = this.got.at(-1)?.body.task.id ?? '';
        const status =
          route === '/flaky'
            ? this.#flaky.has(task)
              ? 200
              : (this.#flaky.add(task), 500)
            : route === '/busy'
              ? this.#busy++ < 2
                ? 429
                : 200
              : route === '/gone'
                ? 404
                : route === '/slow'
                  ? 0
                  : 204;
        if (status === 0) return;
        res.writeHead(status).end(status === 204 ? undefined : 'answer');
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  /** The bodies received for task `id`, in order. */
  of(id: string): Received[] {
    return this.got.filter((r) => r.body.task.id === id);
  }

  async stop(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise((resolve) => this.#http.close(resolve));
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

let store: ControlStore;
const receiver = new Receiver();
/** Lines the TaskAlerts instances logged. */
const logged: { level: string; message: string }[] = [];
/** Minutes added to the real clock by the `now` of the instances under test. */
let clockMinutes = 0;

function alertsUnderTest(): TaskAlerts {
  return new TaskAlerts(store, {
    now: () => new Date(Date.now() + clockMinutes * 60_000),
    retryDelaysMs: [50, 100, 150],
    timeoutMs: 300,
    log: (level, message) => logged.push({ level, message }),
  });
}

async function storedAlert(taskId: string, rule: string): Promise<StoredAlert | undefined> {
  return (await store.tasks.alerts(taskId)).find((a) => a.rule === rule);
}

before(async () => {
  store = await storeWithDataSources(server, 'ctl_alerts');
  await receiver.start();
});

after(async () => {
  await receiver.stop();
  await store.close();
  // [A8] No payload holds a data source's password or a webhook URL.
  for (const r of receiver.got) {
    assert.ok(!r.raw.includes('not-used-here'), r.raw);
    assert.ok(!r.raw.includes(receiver.url), r.raw);
  }
});

test('[A2][A3][A6] latency fires and resolves, task-failed fires on failure and resolves after resume', async () => {
  const t = await createTask(store, {
    name: 'alerting',
    alerts: {
      webhooks: [`${receiver.url}/ok`],
      rules: [{ type: 'latency', thresholdSeconds: 2, forMinutes: 0 }, { type: 'task-failed' }],
    },
  });
  const alerts = alertsUnderTest();
  await startTask(store, t.id);

  // Lag above 2 s: latency fires, once however often the worker evaluates [A2].
  let task = await writeStatus(store, t.id, { phase: 'incremental', lagBytes: 100_000, lagMs: 5000 });
  await alerts.evaluate(task);
  await alerts.evaluate(task);
  await alerts.flush();
  await alerts.evaluate(await mustGet(store, t.id));
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 1);
  const fired = receiver.of(t.id)[0];
  assert.equal(fired?.path, '/ok');
  assert.equal(fired.contentType, 'application/json');
  assert.deepEqual(Object.keys(fired.body).sort(), [
    'message',
    'rule',
    'since',
    'state',
    'task',
    'time',
    'version',
  ]);
  assert.equal(fired.body.version, 1);
  assert.deepEqual(fired.body.task, { id: t.id, name: 'alerting' });
  assert.deepEqual(fired.body.rule, { type: 'latency', thresholdSeconds: 2, forMinutes: 0 });
  assert.equal(fired.body.state, 'firing');
  assert.match(fired.body.message, /lag 5\.0 s above 2 s/);
  assert.ok(!Number.isNaN(Date.parse(fired.body.since)) && !Number.isNaN(Date.parse(fired.body.time)));
  const firingRow = await storedAlert(t.id, 'latency');
  assert.equal(firingRow?.state, 'firing');
  assert.equal(firingRow.since.toISOString(), fired.body.since);
  assert.ok(firingRow.deliveredAt !== null, 'delivered_at is set');
  assert.equal(firingRow.deliveryError, null);

  // Back under the threshold: resolved.
  task = await writeStatus(store, t.id, { phase: 'incremental', lagBytes: 10, lagMs: 300 });
  await alerts.evaluate(task);
  await alerts.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => [r.body.rule.type, r.body.state]),
    [
      ['latency', 'firing'],
      ['latency', 'resolved'],
    ],
  );
  assert.match(receiver.of(t.id)[1]?.body.message ?? '', /lag 0\.3 s is at or under 2 s/);

  // The worker records the failure, then evaluates the failed row: task-failed fires with the error.
  const failed = await store.tasks.transition(t.id, 'running', 'failed', {
    lastError: {
      code: 'REPLICATION_FAILED',
      message: 'the slot is gone',
      hint: null,
      at: new Date().toISOString(),
    },
  });
  assert.ok(failed);
  await alerts.evaluate(failed);
  await alerts.evaluate(failed);
  await alerts.flush();
  const third = receiver.of(t.id)[2];
  assert.equal(third?.body.rule.type, 'task-failed');
  assert.deepEqual(third.body.rule, { type: 'task-failed', retryingMinutes: 5 });
  assert.equal(third.body.state, 'firing');
  assert.equal(third.body.message, 'the task failed: REPLICATION_FAILED: the slot is gone');
  assert.equal(third.body.since, failed.stateChangedAt.toISOString());
  assert.equal(receiver.of(t.id).length, 3);

  // Resumed: until the new run writes a status, the failed run's status is no evidence [A6].
  const resumed = await store.tasks.transition(t.id, 'failed', 'running');
  assert.ok(resumed);
  await alerts.evaluate(resumed);
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 3, 'decided on the last run status');
  task = await writeStatus(store, t.id, { phase: 'incremental', lagBytes: 0, lagMs: 100 });
  await alerts.evaluate(task);
  await alerts.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => [r.body.rule.type, r.body.state]),
    [
      ['latency', 'firing'],
      ['latency', 'resolved'],
      ['task-failed', 'firing'],
      ['task-failed', 'resolved'],
    ],
  );
  assert.equal(receiver.of(t.id)[3]?.body.message, 'the task is running and not retrying');
  // [A1] One row per task and rule, both resolved and delivered.
  const rows = await store.tasks.alerts(t.id);
  assert.deepEqual(
    rows.map((a) => [a.rule, a.state, a.deliveredAt !== null, a.deliveryError]),
    [
      ['latency', 'resolved', true, null],
      ['task-failed', 'resolved', true, null],
    ],
  );
});

test('[A2][A7] retrying for retryingMinutes fires task-failed; a worker taking over sends nothing twice', async () => {
  clockMinutes = 0;
  const t = await createTask(store, {
    name: 'retrying',
    alerts: {
      webhooks: [`${receiver.url}/ok`],
      rules: [
        { type: 'task-failed', retryingMinutes: 1 },
        { type: 'latency', thresholdSeconds: 60, forMinutes: 2 },
      ],
    },
  });
  const first = alertsUnderTest();
  await startTask(store, t.id);
  const retryingSince = new Date().toISOString();
  let task = await writeStatus(store, t.id, {
    phase: 'incremental',
    lagMs: 90_000,
    retryingSince,
    lastRetry: {
      code: 'CONNECTION_FAILED',
      message: 'connect ECONNREFUSED 127.0.0.1:5432',
      at: retryingSince,
    },
  });
  await first.evaluate(task);
  await first.flush();
  assert.equal(receiver.of(t.id).length, 0, 'retrying for less than a minute, lag above for less than 2');

  clockMinutes = 1.5;
  await first.evaluate(task);
  await first.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => [r.body.rule.type, r.body.state]),
    [['task-failed', 'firing']],
  );
  const fired = receiver.of(t.id)[0];
  assert.equal(fired?.body.since, retryingSince);
  assert.match(fired.body.message, /retrying since .*: CONNECTION_FAILED: connect ECONNREFUSED/);

  // Another worker takes the task over: the firing alert is read back from the store [A2], and
  // its latency window starts again at its first evaluation [A7].
  const second = alertsUnderTest();
  await store.tasks.claim(t.id, 'w2');
  clockMinutes = 2.5;
  await second.evaluate(task);
  await second.flush();
  assert.equal(receiver.of(t.id).length, 1, 'nothing sent again, latency pending on the new worker');
  clockMinutes = 4.6;
  await second.evaluate(task);
  await second.flush();
  const latency = receiver.of(t.id)[1];
  assert.equal(latency?.body.rule.type, 'latency');
  assert.equal(latency.body.state, 'firing');
  assert.equal(
    new Date(latency.body.since).getTime() - Date.parse(fired.body.time) >= 60_000 * 0.9,
    true,
    'the window started on the new worker',
  );

  // The retries succeed: task-failed resolves.
  task = await writeStatus(store, t.id, { phase: 'incremental', lagMs: 90_000 });
  await second.evaluate(task);
  await second.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => [r.body.rule.type, r.body.state]),
    [
      ['task-failed', 'firing'],
      ['latency', 'firing'],
      ['task-failed', 'resolved'],
    ],
  );
  clockMinutes = 0;
});

test('[A4] a 500 and 429s are retried until delivered; a 404 is final; a timeout is retried, then reported', async () => {
  const t = await createTask(store, {
    name: 'retries',
    alerts: {
      webhooks: [`${receiver.url}/flaky`, `${receiver.url}/gone?token=hook-secret`, `${receiver.url}/busy`],
      rules: [{ type: 'latency', thresholdSeconds: 1 }],
    },
  });
  const alerts = alertsUnderTest();
  await startTask(store, t.id);
  const task = await writeStatus(store, t.id, { phase: 'incremental', lagMs: 3000 });
  await alerts.evaluate(task);
  await alerts.flush();
  const paths = receiver.of(t.id).map((r) => r.path);
  assert.equal(paths.filter((p) => p === '/flaky').length, 2, '500, then 200');
  assert.equal(paths.filter((p) => p.startsWith('/gone')).length, 1, '404 is not retried');
  assert.equal(paths.filter((p) => p === '/busy').length, 3, '429 twice, then 200');
  // Every attempt carried the same payload.
  assert.equal(new Set(receiver.of(t.id).map((r) => r.raw)).size, 1);
  const row = await storedAlert(t.id, 'latency');
  assert.equal(row?.state, 'firing');
  assert.equal(row.deliveredAt, null, 'not every webhook got it');
  // The failed webhook is named by number and host: its query holds the receiver's secret [A8].
  assert.equal(row.deliveryError, `webhook 2 (${new URL(receiver.url).host}): HTTP 404 after 1 attempt`);
  assert.ok(logged.every((l) => !l.message.includes('hook-secret')));

  const slow = await createTask(store, {
    name: 'slow receiver',
    alerts: { webhooks: [`${receiver.url}/slow`], rules: [{ type: 'latency', thresholdSeconds: 1 }] },
  });
  await startTask(store, slow.id);
  const started = Date.now();
  await alerts.evaluate(await writeStatus(store, slow.id, { phase: 'incremental', lagMs: 3000 }));
  assert.ok(Date.now() - started < 1000, 'evaluate does not wait for the delivery [A5]');
  await alerts.flush();
  assert.equal(receiver.of(slow.id).length, 4, 'one attempt and three retries');
  const slowRow = await storedAlert(slow.id, 'latency');
  assert.equal(slowRow?.deliveredAt, null);
  assert.match(
    slowRow.deliveryError ?? '',
    /^webhook 1 \(127\.0\.0\.1:\d+\): no answer within 300 ms after 4 attempts$/,
  );
});

test('[A3] a resolution queued while its firing is being retried reaches the receiver after it', async () => {
  const t = await createTask(store, {
    name: 'ordered',
    alerts: { webhooks: [`${receiver.url}/flaky`], rules: [{ type: 'latency', thresholdSeconds: 1 }] },
  });
  const alerts = alertsUnderTest();
  await startTask(store, t.id);
  await alerts.evaluate(await writeStatus(store, t.id, { phase: 'incremental', lagMs: 3000 }));
  // No flush: the firing is answered 500 and waits for its retry while the lag clears.
  await alerts.evaluate(await writeStatus(store, t.id, { phase: 'incremental', lagMs: 10 }));
  await alerts.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => r.body.state),
    ['firing', 'firing', 'resolved'],
  );
  const row = await storedAlert(t.id, 'latency');
  assert.equal(row?.state, 'resolved');
  assert.ok(row.deliveredAt);
});

test('[A9] a stored alert never delivered is delivered again; [A10] a removed rule resolves', async () => {
  const t = await createTask(store, {
    name: 'taken over',
    alerts: { webhooks: [`${receiver.url}/ok`], rules: [{ type: 'latency', thresholdSeconds: 1 }] },
  });
  await startTask(store, t.id);
  const task = await writeStatus(store, t.id, { phase: 'incremental', lagMs: 3000 });
  // The previous runner stored the transition and died before delivering it.
  const since = new Date(Date.now() - 30_000);
  await store.tasks.setAlert({
    taskId: t.id,
    rule: 'latency',
    state: 'firing',
    since,
    message: 'lag 3.0 s above 1 s since then',
    deliveredAt: null,
    deliveryError: null,
  });
  const alerts = alertsUnderTest();
  await alerts.evaluate(task);
  await alerts.flush();
  await alerts.evaluate(task);
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 1, 'delivered once');
  assert.equal(receiver.of(t.id)[0]?.body.since, since.toISOString());
  assert.equal(receiver.of(t.id)[0]?.body.message, 'lag 3.0 s above 1 s since then');
  assert.ok((await storedAlert(t.id, 'latency'))?.deliveredAt);

  // A live edit removes the rule: the firing alert resolves, sent to the webhooks of now.
  const edited = await store.tasks.editDefinition(
    t.id,
    task.revision,
    { ...task.definition, alerts: { webhooks: [`${receiver.url}/ok`], rules: [] } },
    undefined,
  );
  assert.ok(edited);
  await alerts.evaluate(edited);
  await alerts.flush();
  const resolved = receiver.of(t.id)[1];
  assert.equal(resolved?.body.state, 'resolved');
  assert.deepEqual(resolved.body.rule, { type: 'latency' });
  assert.equal(resolved.body.message, 'the latency rule was removed from the task');
  assert.equal((await storedAlert(t.id, 'latency'))?.state, 'resolved');
});

test('[A5] evaluate never throws: a store failure is logged', async () => {
  const other = await storeWithDataSources(server, 'ctl_alerts_closed');
  const t = await createTask(other, {
    name: 'closed store',
    alerts: { webhooks: [`${receiver.url}/ok`], rules: [{ type: 'task-failed' }] },
  });
  await other.close();
  const lines: string[] = [];
  const alerts = new TaskAlerts(other, { log: (level, m) => lines.push(`${level} ${m}`) });
  await alerts.evaluate(t);
  await alerts.flush();
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', new RegExp(`^error alerts of task ${t.id}: cannot read the alerts of task`));
});

test('bad options are refused with CONFIG_INVALID naming the option', () => {
  assert.throws(() => new TaskAlerts(store, { timeoutMs: 0 }), {
    code: 'CONFIG_INVALID',
    message: /^timeoutMs: must be a positive number of ms$/,
  });
  assert.throws(() => new TaskAlerts(store, { retryDelaysMs: [100, -1] }), {
    code: 'CONFIG_INVALID',
    message: /^retryDelaysMs: /,
  });
});

/** Stores a finished verification job of `taskId` as the job runner does ([V6]). */
async function finishedJob(
  taskId: string,
  status: 'passed' | 'failed' | 'error',
  results: StoredTableVerification[] | null,
  mode: 'count' | 'hash' | 'rows' = 'hash',
): Promise<string> {
  const job = await store.verifications.create(taskId, mode, null);
  await store.verifications.start(job.id, 'test-runner');
  await store.verifications.finish(
    job.id,
    'test-runner',
    status,
    results,
    status === 'error' && results === null ? 'boom' : null,
  );
  return job.id;
}

function tableResult(
  table: string,
  differences: number,
  extra: Partial<StoredTableVerification> = {},
): StoredTableVerification {
  return {
    table,
    sourceRows: 100,
    destinationRows: 100 - differences,
    differences,
    durationMs: 12,
    status: differences === 0 ? 'passed' : 'failed',
    ...extra,
  };
}

test('[A1][A2][A8][V7] verification-failed fires on a failed or error job, resolves when a newer one passes', async () => {
  const t = await createTask(store, {
    name: 'verified',
    alerts: { webhooks: [`${receiver.url}/ok`], rules: [{ type: 'verification-failed' }] },
  });
  await startTask(store, t.id);
  const alerts = alertsUnderTest();
  // No finished job: nothing to say.
  await alerts.evaluate(await mustGet(store, t.id));
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 0);
  // A job still open says nothing either.
  const open = await store.verifications.create(t.id, 'count', null);
  await alerts.evaluate(await mustGet(store, t.id));
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 0);
  await store.verifications.start(open.id, 'test-runner');
  await store.verifications.finish(open.id, 'test-runner', 'passed', [tableResult('public.a', 0)], null);
  await alerts.evaluate(await mustGet(store, t.id));
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 0, 'a passed job while not firing sends nothing');

  const failedId = await finishedJob(
    t.id,
    'failed',
    [
      tableResult('public.a', 0),
      tableResult('public.b', 3, {
        differingRows: [{ kind: 'different', key: { id: 7 }, values: 'row-value-not-for-alerts' }],
      }),
      tableResult('sales.c', 1),
    ],
    'rows',
  );
  await alerts.evaluate(await mustGet(store, t.id));
  await alerts.evaluate(await mustGet(store, t.id));
  await alerts.flush();
  assert.equal(receiver.of(t.id).length, 1, 'fired once [A2]');
  const fired = receiver.of(t.id)[0];
  assert.equal(fired?.body.state, 'firing');
  assert.deepEqual(fired.body.rule, { type: 'verification-failed' });
  assert.equal(
    fired.body.message,
    `verification ${failedId} (rows) found differences: public.b 3 differences, sales.c 1 difference`,
  );
  const job = await store.verifications.get(t.id, failedId);
  assert.equal(fired.body.since, job?.finishedAt?.toISOString(), 'since the job finished');
  assert.deepEqual(fired.body.verification, {
    id: failedId,
    mode: 'rows',
    status: 'failed',
    finishedAt: job?.finishedAt?.toISOString(),
    tables: [
      { table: 'public.b', differences: 3, status: 'failed' },
      { table: 'sales.c', differences: 1, status: 'failed' },
    ],
  });
  // [A8] No row value of the job in the payload.
  assert.ok(!fired.raw.includes('row-value-not-for-alerts'), fired.raw);

  // A newer failing job, then one that could not run: still firing, nothing sent again.
  await finishedJob(t.id, 'failed', [tableResult('public.b', 2)]);
  await alerts.evaluate(await mustGet(store, t.id));
  await finishedJob(t.id, 'error', null);
  // Another worker takes the task over: it reads the firing alert back [A2].
  const second = alertsUnderTest();
  await second.evaluate(await mustGet(store, t.id));
  await alerts.flush();
  await second.flush();
  assert.equal(receiver.of(t.id).length, 1);

  const passedId = await finishedJob(t.id, 'passed', [
    tableResult('public.a', 0),
    tableResult('public.b', 0),
  ]);
  await second.evaluate(await mustGet(store, t.id));
  await second.flush();
  const resolved = receiver.of(t.id)[1];
  assert.equal(resolved?.body.state, 'resolved');
  assert.equal(resolved.body.message, `verification ${passedId} (hash) passed`);
  assert.deepEqual(resolved.body.verification?.tables, []);
  assert.equal(resolved.body.verification?.status, 'passed');

  // A job that could not run at all fires again, naming no error text (it may quote a value).
  const errorId = await finishedJob(t.id, 'error', null, 'count');
  await second.evaluate(await mustGet(store, t.id));
  await second.flush();
  const again = receiver.of(t.id)[2];
  assert.equal(again?.body.state, 'firing');
  assert.equal(again.body.message, `verification ${errorId} (count) could not run (its error is in the job)`);
  // One table that could not be compared is listed as such.
  const partId = await finishedJob(t.id, 'error', [
    tableResult('public.a', 0),
    tableResult('public.b', 0, { status: 'error', error: 'value "x" out of range' }),
  ]);
  await finishedJob(t.id, 'passed', []);
  await second.evaluate(await mustGet(store, t.id));
  await second.flush();
  assert.equal(receiver.of(t.id).length, 4);
  assert.equal(receiver.of(t.id)[3]?.body.state, 'resolved');
  assert.ok(partId.length > 0);
  // [A1] One alert row for the rule.
  assert.deepEqual(
    (await store.tasks.alerts(t.id)).map((a) => [a.rule, a.state]),
    [['verification-failed', 'resolved']],
  );
});

test('[V7] a table that could not be compared is named; evaluate(task, only) decides only those rules', async () => {
  const t = await createTask(store, {
    name: 'verified partly',
    alerts: {
      webhooks: [`${receiver.url}/ok`],
      rules: [{ type: 'verification-failed' }, { type: 'latency', thresholdSeconds: 1 }],
    },
  });
  await startTask(store, t.id);
  const task = await writeStatus(store, t.id, { phase: 'incremental', lagMs: 5000 });
  const id = await finishedJob(t.id, 'error', [
    tableResult('public.a', 0),
    tableResult('public.b', 0, { status: 'error', error: 'value "x" out of range' }),
  ]);
  const alerts = alertsUnderTest();
  // What the process that finished the job does: this rule only (the latency one is the worker's).
  await alerts.evaluate(task, ['verification-failed']);
  await alerts.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => [r.body.rule.type, r.body.state]),
    [['verification-failed', 'firing']],
  );
  const body = receiver.of(t.id)[0]?.body;
  assert.equal(
    body?.message,
    `verification ${id} (hash) could not compare every table: public.b not compared (error)`,
  );
  assert.ok(!receiver.of(t.id)[0]?.raw.includes('out of range'), 'no error text');
  assert.deepEqual(body.verification?.tables, [{ table: 'public.b', differences: 0, status: 'error' }]);
  await alerts.evaluate(task);
  await alerts.flush();
  assert.deepEqual(
    receiver.of(t.id).map((r) => [r.body.rule.type, r.body.state]),
    [
      ['verification-failed', 'firing'],
      ['latency', 'firing'],
    ],
  );
});
