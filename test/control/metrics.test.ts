/**
 * GET /metrics of the real API (buildApi on a real store in a fresh test database, listening on
 * loopback, called with fetch): per-task series with their labels and values as the store holds
 * them, counters typed as counters, lag absent while unknown, the bearer token required, and a
 * deleted task's series gone on the next scrape.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/control/api/api-server.ts';
import { ApiToken } from '../../src/control/api/api-token.ts';
import type { ControlStore } from '../../src/control/store/control-store.ts';
import type { StoredTableVerification } from '../../src/control/store/verification-store.ts';
import { TASK_STATES } from '../../src/control/task/task-state.ts';
import { RUN_PHASES } from '../../src/control/task/task-status.ts';
import { createTask, startTask, storeWithDataSources, writeStatus } from '../support/control-task.ts';
import { testServer } from '../support/servers.ts';

const server = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;

let store: ControlStore;
let app: FastifyInstance;
let url: string;

before(async () => {
  store = await storeWithDataSources(server, 'ctl_metrics');
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

/** One sample of the exposition text. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text format 0.0.4: samples, and the TYPE of each metric. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type?.[1] !== undefined && type[2] !== undefined) types.set(type[1], type[2]);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m?.[1] !== undefined && m[3] !== undefined, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

async function scrape(token: string | null = TOKEN) {
  const res = await fetch(`${url}/metrics`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get('content-type'), text };
}

/** The value of `name` for task `task` with the extra labels, or undefined when absent. */
function valueOf(
  samples: readonly Sample[],
  name: string,
  task: string,
  extra: Record<string, string> = {},
): number | undefined {
  const found = samples.filter(
    (s) =>
      s.name === name && s.labels.task === task && Object.entries(extra).every(([k, v]) => s.labels[k] === v),
  );
  assert.ok(found.length <= 1, `${name} of ${task} ${JSON.stringify(extra)}: ${found.length} samples`);
  return found[0]?.value;
}

test('without the bearer token /metrics answers 401 in the API error shape', async () => {
  const none = await scrape(null);
  assert.equal(none.status, 401);
  assert.equal((JSON.parse(none.text) as { code: string }).code, 'UNAUTHORIZED');
  const wrong = await scrape('not-the-token');
  assert.equal(wrong.status, 401);
});

test('a running task: state, phase, rates, lag, retained WAL, totals, status age and alert rules', async () => {
  const t = await createTask(store, {
    name: 'orders "eu"',
    alerts: { webhooks: ['http://127.0.0.1:9/hook'], rules: [{ type: 'latency', thresholdSeconds: 30 }] },
  });
  await startTask(store, t.id);
  await writeStatus(
    store,
    t.id,
    {
      phase: 'incremental',
      full: { rows: 1000, bytes: 64_000, rowsPerSecond: 0, bytesPerSecond: 0, tablesDone: 2, tablesTotal: 2 },
      incremental: { rowsApplied: 500, rowsPerSecond: 120.5, bytesPerSecond: 9000 },
      lagBytes: 4096,
      lagMs: 2500,
      retainedWalBytes: 1_048_576,
    },
    3,
  );
  await store.tasks.setAlert({
    taskId: t.id,
    rule: 'latency',
    state: 'firing',
    since: new Date(),
    message: 'lag above 30 s',
    deliveredAt: null,
    deliveryError: null,
  });

  const r = await scrape();
  assert.equal(r.status, 200);
  assert.match(r.contentType ?? '', /^text\/plain; version=0\.0\.4/);
  const { samples, types } = parse(r.text);
  const labelled = samples.filter((s) => s.labels.task === t.id);
  assert.ok(labelled.length > 0);
  // The name label carries the task's name (escaped in the text, unescaped here).
  for (const s of labelled) assert.equal(s.labels.name, 'orders "eu"');

  for (const s of TASK_STATES) {
    assert.equal(valueOf(samples, 'pgdts_task_state', t.id, { state: s }), s === 'running' ? 1 : 0, s);
  }
  for (const p of RUN_PHASES) {
    assert.equal(valueOf(samples, 'pgdts_task_phase', t.id, { phase: p }), p === 'incremental' ? 1 : 0, p);
  }
  assert.equal(valueOf(samples, 'pgdts_task_rows_per_second', t.id, { sync: 'incremental' }), 120.5);
  assert.equal(valueOf(samples, 'pgdts_task_rows_per_second', t.id, { sync: 'full' }), 0);
  assert.equal(valueOf(samples, 'pgdts_task_bytes_per_second', t.id, { sync: 'incremental' }), 9000);
  assert.equal(valueOf(samples, 'pgdts_task_lag_bytes', t.id), 4096);
  assert.equal(valueOf(samples, 'pgdts_task_lag_seconds', t.id), 2.5);
  assert.equal(valueOf(samples, 'pgdts_task_retained_wal_bytes', t.id), 1_048_576);
  assert.equal(valueOf(samples, 'pgdts_task_retries_total', t.id), 3);
  assert.equal(valueOf(samples, 'pgdts_task_errors_total', t.id), 0);
  assert.equal(valueOf(samples, 'pgdts_task_alert_firing', t.id, { rule: 'latency' }), 1);
  const age = valueOf(samples, 'pgdts_task_status_age_seconds', t.id);
  assert.ok(age !== undefined && age >= 0 && age < 60, `status age ${age}`);

  // Counters are typed as counters (the `_total` names), the others as gauges.
  assert.equal(types.get('pgdts_task_errors_total'), 'counter');
  assert.equal(types.get('pgdts_task_retries_total'), 'counter');
  for (const g of ['pgdts_task_state', 'pgdts_task_lag_seconds', 'pgdts_task_status_age_seconds']) {
    assert.equal(types.get(g), 'gauge', g);
  }
  // prom-client's default process metrics come along.
  assert.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'));
  assert.ok(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'));

  // A failed run: errors_total counts it, the rates drop to 0 (nothing moves), the state follows.
  await store.tasks.transition(t.id, 'running', 'failed', {
    lastError: { code: 'COPY_FAILED', message: 'boom', hint: null, at: new Date().toISOString() },
  });
  const f = parse((await scrape()).text).samples;
  assert.equal(valueOf(f, 'pgdts_task_state', t.id, { state: 'failed' }), 1);
  assert.equal(valueOf(f, 'pgdts_task_state', t.id, { state: 'running' }), 0);
  assert.equal(valueOf(f, 'pgdts_task_errors_total', t.id), 1);
  assert.equal(valueOf(f, 'pgdts_task_rows_per_second', t.id, { sync: 'incremental' }), 0);
});

test('lag series are absent while unknown; a task without status has no phase or status age', async () => {
  const fresh = await createTask(store, { name: 'fresh' });
  const copying = await createTask(store, { name: 'copying' });
  await startTask(store, copying.id);
  await writeStatus(store, copying.id, {
    phase: 'full',
    full: { rows: 10, bytes: 640, rowsPerSecond: 10, bytesPerSecond: 640, tablesDone: 0, tablesTotal: 1 },
  });
  const { samples } = parse((await scrape()).text);
  assert.equal(valueOf(samples, 'pgdts_task_state', fresh.id, { state: 'created' }), 1);
  assert.equal(valueOf(samples, 'pgdts_task_phase', fresh.id, { phase: 'full' }), undefined);
  assert.equal(valueOf(samples, 'pgdts_task_status_age_seconds', fresh.id), undefined);
  assert.equal(valueOf(samples, 'pgdts_task_errors_total', fresh.id), 0);
  assert.equal(valueOf(samples, 'pgdts_task_rows_per_second', copying.id, { sync: 'full' }), 10);
  assert.equal(valueOf(samples, 'pgdts_task_bytes_per_second', copying.id, { sync: 'full' }), 640);
  for (const name of ['pgdts_task_lag_bytes', 'pgdts_task_lag_seconds', 'pgdts_task_retained_wal_bytes']) {
    assert.equal(valueOf(samples, name, copying.id), undefined, name);
    assert.equal(valueOf(samples, name, fresh.id), undefined, name);
  }
});

test('a deleted task disappears from the next scrape; a renamed one shows under its new name only', async () => {
  const gone = await createTask(store, { name: 'to-delete' });
  const kept = await createTask(store, { name: 'old-name' });
  const before1 = parse((await scrape()).text).samples;
  assert.ok(before1.some((s) => s.labels.task === gone.id));
  assert.ok(await store.tasks.delete(gone.id, 'created'));
  const renamed = await store.tasks.editDefinition(
    kept.id,
    kept.revision,
    { ...kept.definition, name: 'new-name' },
    undefined,
  );
  assert.ok(renamed);
  const after1 = parse((await scrape()).text).samples;
  assert.ok(!after1.some((s) => s.labels.task === gone.id), 'series of the deleted task remain');
  const names = new Set(after1.filter((s) => s.labels.task === kept.id).map((s) => s.labels.name));
  assert.deepEqual([...names], ['new-name']);
});

test('[V7] verification series: of the newest finished job per task only, per table and side', async () => {
  const t = await createTask(store, { name: 'verified' });
  const none = await createTask(store, { name: 'never verified' });
  const finish = async (
    status: 'passed' | 'failed' | 'error',
    mode: 'count' | 'hash' | 'rows',
    results: StoredTableVerification[] | null,
  ) => {
    const job = await store.verifications.create(t.id, mode, null);
    await store.verifications.start(job.id, 'test-runner');
    await store.verifications.finish(job.id, 'test-runner', status, results, null);
    return (await store.verifications.get(t.id, job.id))?.finishedAt;
  };
  const table = (name: string, src: number, dst: number, differences: number, durationMs: number) => ({
    table: name,
    sourceRows: src,
    destinationRows: dst,
    differences,
    durationMs,
    status: differences === 0 ? ('passed' as const) : ('failed' as const),
  });
  await finish('passed', 'hash', [table('public.old', 5, 5, 0, 100)]);
  const finishedAt = await finish('failed', 'rows', [
    table('public.a', 2000, 1999, 1, 1500),
    table('public.b', 500, 500, 0, 250),
  ]);
  // A newer job still running is not finished: the figures stay those of the last finished one.
  await store.verifications.create(t.id, 'count', null);

  const r = await scrape();
  assert.equal(r.status, 200);
  const { samples, types } = parse(r.text);
  const v = (name: string, extra: Record<string, string> = {}) => valueOf(samples, name, t.id, extra);
  assert.equal(v('pgdts_verification_rows', { table: 'public.a', side: 'source' }), 2000);
  assert.equal(v('pgdts_verification_rows', { table: 'public.a', side: 'destination' }), 1999);
  assert.equal(v('pgdts_verification_rows', { table: 'public.b', side: 'destination' }), 500);
  assert.equal(v('pgdts_verification_differences', { table: 'public.a' }), 1);
  assert.equal(v('pgdts_verification_differences', { table: 'public.b' }), 0);
  assert.equal(v('pgdts_verification_duration_seconds', { table: 'public.a' }), 1.5);
  assert.equal(v('pgdts_verification_duration_seconds', { table: 'public.b' }), 0.25);
  assert.equal(
    v('pgdts_verification_last_finished_timestamp_seconds', { status: 'failed', mode: 'rows' }),
    (finishedAt?.getTime() ?? 0) / 1000,
  );
  const mine = samples.filter((s) => s.labels.task === t.id && s.name.startsWith('pgdts_verification_'));
  assert.ok(!mine.some((s) => s.labels.table === 'public.old'), 'an older job is not exposed');
  assert.equal(mine.filter((s) => s.name === 'pgdts_verification_last_finished_timestamp_seconds').length, 1);
  for (const s of mine) assert.equal(s.labels.name, 'verified');
  assert.ok(!samples.some((s) => s.labels.task === none.id && s.name.startsWith('pgdts_verification_')));
  for (const g of [
    'pgdts_verification_rows',
    'pgdts_verification_differences',
    'pgdts_verification_duration_seconds',
    'pgdts_verification_last_finished_timestamp_seconds',
  ]) {
    assert.equal(types.get(g), 'gauge', g);
  }

  // The open job ends with an error before comparing anything: only its status and time remain.
  const open = (await store.verifications.list(t.id))[0];
  assert.ok(open !== undefined && open.status === 'queued');
  await store.verifications.start(open.id, 'test-runner');
  await store.verifications.finish(open.id, 'test-runner', 'error', null, 'a data source is unreachable');
  const after2 = parse((await scrape()).text).samples;
  const later = after2.filter((s) => s.labels.task === t.id && s.name.startsWith('pgdts_verification_'));
  assert.deepEqual(
    later.map((s) => [s.name, s.labels.status, s.labels.mode]),
    [['pgdts_verification_last_finished_timestamp_seconds', 'error', 'count']],
  );
});
