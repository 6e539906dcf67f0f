/**
 * `GET /metrics`: the control plane's Prometheus metrics (text exposition format 0.0.4, prom-client
 * 15), per task as the store holds it, plus prom-client's default process metrics. Each scrape reads
 * the store once (every task and every alert, then the newest finished verification of each task) and replaces all task series, so a deleted task's
 * series go with it and a renamed task is exposed under its new name only. The route needs the
 * bearer token like every route but `/healthz` (the API's onRequest hook). Names and units:
 * control-plane.md, "Metrics".
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControlStore } from '../store/control-store.ts';
import type { StoredAlert, StoredTask } from '../store/task-store.ts';
import type { StoredVerification } from '../store/verification-store.ts';
import { alertsSchema } from '../task/task-definition-schema.ts';
import { TASK_STATES } from '../task/task-state.ts';
import { RUN_PHASES } from '../task/task-status.ts';

/** The labels every task series carries: its id, and its (not unique) name. */
const TASK_LABELS = ['task', 'name'] as const;

type TaskLabels = Record<(typeof TASK_LABELS)[number], string>;

/** The task metrics of one registry. */
interface TaskMetrics {
  readonly state: Gauge<'task' | 'name' | 'state'>;
  readonly phase: Gauge<'task' | 'name' | 'phase'>;
  readonly rowsPerSecond: Gauge<'task' | 'name' | 'sync'>;
  readonly bytesPerSecond: Gauge<'task' | 'name' | 'sync'>;
  readonly lagBytes: Gauge<'task' | 'name'>;
  readonly lagSeconds: Gauge<'task' | 'name'>;
  readonly retainedWalBytes: Gauge<'task' | 'name'>;
  readonly errorsTotal: Counter<'task' | 'name'>;
  readonly retriesTotal: Counter<'task' | 'name'>;
  readonly alertFiring: Gauge<'task' | 'name' | 'rule'>;
  readonly statusAgeSeconds: Gauge<'task' | 'name'>;
  readonly verificationRows: Gauge<'task' | 'name' | 'table' | 'side'>;
  readonly verificationDifferences: Gauge<'task' | 'name' | 'table'>;
  readonly verificationDurationSeconds: Gauge<'task' | 'name' | 'table'>;
  readonly verificationLastFinished: Gauge<'task' | 'name' | 'status' | 'mode'>;
}

function taskMetrics(registry: Registry): TaskMetrics {
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, extra: readonly L[] = []) =>
    new Gauge<'task' | 'name' | L>({ name, help, labelNames: [...TASK_LABELS, ...extra], registers });
  // The totals are counted by the store (errors_total, retries_total): they only grow for a task,
  // so they are counters (TYPE counter, `_total` suffix) whose value is set from the store on each
  // scrape, not incremented here.
  const counter = (name: string, help: string) =>
    new Counter<'task' | 'name'>({ name, help, labelNames: [...TASK_LABELS], registers });
  return {
    state: gauge('pgdts_task_state', 'Task lifecycle state: 1 for the current one, 0 for the others', [
      'state',
    ]),
    phase: gauge(
      'pgdts_task_phase',
      'Phase of the task run last observed: 1 for the current one, 0 for the others',
      ['phase'],
    ),
    rowsPerSecond: gauge(
      'pgdts_task_rows_per_second',
      'Rows copied (full) or applied (incremental) per second; 0 unless the task is running',
      ['sync'],
    ),
    bytesPerSecond: gauge(
      'pgdts_task_bytes_per_second',
      'COPY bytes (full) or change bytes (incremental) per second; 0 unless the task is running',
      ['sync'],
    ),
    lagBytes: gauge('pgdts_task_lag_bytes', 'Source WAL position minus the flushed LSN, bytes'),
    lagSeconds: gauge(
      'pgdts_task_lag_seconds',
      'Now minus the commit time of the last applied transaction, seconds',
    ),
    retainedWalBytes: gauge(
      'pgdts_task_retained_wal_bytes',
      'WAL the replication slot of the task retains on the source, bytes',
    ),
    errorsTotal: counter('pgdts_task_errors_total', 'Runs of the task that ended failed'),
    retriesTotal: counter('pgdts_task_retries_total', 'Errors the task retried'),
    alertFiring: gauge('pgdts_task_alert_firing', 'Alert rule of the task: 1 firing, 0 not firing', ['rule']),
    statusAgeSeconds: gauge(
      'pgdts_task_status_age_seconds',
      'Seconds since the worker running the task last wrote its status (grows when a worker is stuck)',
    ),
    // [V7] Of the task's newest finished verification job only (one per task, bounded).
    verificationRows: gauge(
      'pgdts_verification_rows',
      'Rows the newest finished verification of the task compared in the table, per side',
      ['table', 'side'],
    ),
    verificationDifferences: gauge(
      'pgdts_verification_differences',
      'Differences the newest finished verification found in the table (rows mode: differing rows; count and hash: a lower bound)',
      ['table'],
    ),
    verificationDurationSeconds: gauge(
      'pgdts_verification_duration_seconds',
      'Seconds the newest finished verification took to compare the table',
      ['table'],
    ),
    verificationLastFinished: gauge(
      'pgdts_verification_last_finished_timestamp_seconds',
      'Unix time the newest finished verification of the task ended, with its status (passed, failed, error) and mode',
      ['status', 'mode'],
    ),
  };
}

/**
 * Adds `GET /metrics` to `app` (before it listens): Prometheus text (`text/plain; version=0.0.4`),
 * from a registry of its own (never prom-client's global one, so two APIs in one process do not
 * share series). Per task, labels `task` (id) and `name`:
 *
 * - `pgdts_task_state{state}`, `pgdts_task_phase{phase}`: 1 for the current value, 0 for every other
 *   one of TASK_STATES / RUN_PHASES (no phase series before the first status);
 * - `pgdts_task_rows_per_second{sync="full"|"incremental"}`, `pgdts_task_bytes_per_second{sync}`;
 * - `pgdts_task_lag_bytes`, `pgdts_task_lag_seconds`, `pgdts_task_retained_wal_bytes`: absent while
 *   unknown (no status, or null in it: before incremental sync);
 * - `pgdts_task_errors_total`, `pgdts_task_retries_total` (counters);
 * - `pgdts_task_alert_firing{rule}` per rule of the definition or stored alert (1 firing);
 * - `pgdts_task_status_age_seconds`: now minus the last status write;
 * - of the task's newest finished verification job ([V7]): `pgdts_verification_rows{table, side}`,
 *   `pgdts_verification_differences{table}`, `pgdts_verification_duration_seconds{table}`,
 *   `pgdts_verification_last_finished_timestamp_seconds{status, mode}`.
 *
 * A scrape whose store read fails answers 503 with the API's error shape `{code: STORE_FAILED,...}`
 * (the API's error handler), never a partial page.
 * @returns a promise that rejects (fastify's error) when `app` is listening already: routes are
 *   added before `listen`.
 */
export function registerMetricsRoute(app: FastifyInstance, store: ControlStore): Promise<void> {
  // Promise-returning like fastify's register, so that a later version may await set-up (a route
  // added after listen rejects rather than throws).
  try {
    addMetricsRoute(app, store);
    return Promise.resolve();
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

function addMetricsRoute(app: FastifyInstance, store: ControlStore): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const m = taskMetrics(registry);
  // Scrapes run one after the other: a scrape resets and sets every task series, and a second one
  // doing so while the first renders would mix two snapshots.
  let last: Promise<unknown> = Promise.resolve();
  const scrape = async (): Promise<string> => {
    const [tasks, alerts] = await Promise.all([store.tasks.list(), store.tasks.allAlerts()]);
    const verifications = await store.verifications.newestFinished(tasks.map((t) => t.id));
    setTaskMetrics(m, tasks, alerts, verifications, new Date());
    return registry.metrics();
  };
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const mine = last.then(scrape, scrape);
    last = mine.catch(() => undefined);
    const text = await mine;
    return reply.header('content-type', registry.contentType).send(text);
  });
  app.addHook('onClose', () => {
    registry.clear();
  });
}

/** Replaces every task series of `m` by those of `tasks` as of `now`. */
function setTaskMetrics(
  m: TaskMetrics,
  tasks: readonly StoredTask[],
  alerts: readonly StoredAlert[],
  verifications: ReadonlyMap<string, StoredVerification>,
  now: Date,
): void {
  for (const metric of Object.values(m) as (Gauge | Counter)[]) metric.reset();
  const alertsOf = new Map<string, StoredAlert[]>();
  for (const a of alerts) alertsOf.set(a.taskId, [...(alertsOf.get(a.taskId) ?? []), a]);
  for (const t of tasks) {
    const l: TaskLabels = { task: t.id, name: t.name };
    for (const s of TASK_STATES) m.state.set({ ...l, state: s }, s === t.state ? 1 : 0);
    m.errorsTotal.inc(l, t.errorsTotal);
    m.retriesTotal.inc(l, t.retriesTotal);
    const firing = new Map<string, boolean>();
    // Every rule of the definition has a series (0 until it fires); a stored alert of a rule since
    // removed shows as long as its row says firing.
    const rules = alertsSchema.safeParse(t.definition.alerts ?? {});
    if (rules.success) for (const r of rules.data.rules) firing.set(r.type, false);
    for (const a of alertsOf.get(t.id) ?? []) firing.set(a.rule, a.state === 'firing');
    for (const [rule, on] of firing) m.alertFiring.set({ ...l, rule }, on ? 1 : 0);
    const v = verifications.get(t.id);
    if (v !== undefined) setVerificationMetrics(m, l, v);
    if (t.statusAt !== null) {
      m.statusAgeSeconds.set(l, Math.max(0, (now.getTime() - t.statusAt.getTime()) / 1000));
    }
    const s = t.status;
    if (s === null) continue;
    for (const p of RUN_PHASES) m.phase.set({ ...l, phase: p }, p === s.phase ? 1 : 0);
    // The stored rates are those of the last interval the worker measured: a task that is not
    // running moves nothing, whatever its last status said.
    const moving = t.state === 'running';
    m.rowsPerSecond.set({ ...l, sync: 'full' }, moving ? s.full.rowsPerSecond : 0);
    m.rowsPerSecond.set({ ...l, sync: 'incremental' }, moving ? s.incremental.rowsPerSecond : 0);
    m.bytesPerSecond.set({ ...l, sync: 'full' }, moving ? s.full.bytesPerSecond : 0);
    m.bytesPerSecond.set({ ...l, sync: 'incremental' }, moving ? s.incremental.bytesPerSecond : 0);
    if (s.lagBytes !== null) m.lagBytes.set(l, s.lagBytes);
    if (s.lagMs !== null) m.lagSeconds.set(l, s.lagMs / 1000);
    if (s.retainedWalBytes !== null) m.retainedWalBytes.set(l, s.retainedWalBytes);
  }
}

/** The series of a task's newest finished verification job `v` ([V7]). */
function setVerificationMetrics(m: TaskMetrics, l: TaskLabels, v: StoredVerification): void {
  // newestFinished reads finished jobs only; an open one has no figures yet.
  if (v.finishedAt === null || v.status === 'queued' || v.status === 'running') return;
  m.verificationLastFinished.set({ ...l, status: v.status, mode: v.mode }, v.finishedAt.getTime() / 1000);
  for (const r of v.results ?? []) {
    const t = { ...l, table: r.table };
    m.verificationRows.set({ ...t, side: 'source' }, r.sourceRows);
    m.verificationRows.set({ ...t, side: 'destination' }, r.destinationRows);
    m.verificationDifferences.set(t, r.differences);
    m.verificationDurationSeconds.set(t, r.durationMs / 1000);
  }
}
