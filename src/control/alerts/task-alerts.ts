/**
 * The alert rules of control plane tasks (`alerts` of a task definition): evaluated by the worker
 * running a task, stored per task and rule (`pgdts_control.alert`), and POSTed as JSON to the task's
 * webhooks with retries. States, payload and invariants [A1]...[A10]: alerts.md.
 */
import { ConfigError } from '../../core/errors.ts';
import type { StoredAlert, StoredTask, TaskStore } from '../store/task-store.ts';
import type { StoredVerification, VerificationStore } from '../store/verification-store.ts';
import { alertsSchema, type AlertRule, type AlertsConfig } from '../task/task-definition-schema.ts';
import type { TaskState } from '../task/task-state.ts';

/** Severity of a line {@link TaskAlerts} logs. */
export type AlertLogLevel = 'info' | 'warn' | 'error';

/** Options of {@link TaskAlerts}; every one has a default. */
export interface TaskAlertsOptions {
  /** The clock (default `new Date()`): windows, `since` of a resolution, a payload's `time`. */
  readonly now?: () => Date;
  /** How webhooks are called (default the global fetch). */
  readonly fetchImpl?: typeof fetch;
  /** Waits before the 2nd, 3rd... attempt of a webhook, ms (default 500, 1000, 2000, 4000). */
  readonly retryDelaysMs?: readonly number[];
  /** Bound of one attempt, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Where failures and deliveries are reported (default: warn and error lines on stderr). */
  readonly log?: (level: AlertLogLevel, message: string) => void;
}

/** Default {@link TaskAlertsOptions.retryDelaysMs}. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [500, 1000, 2000, 4000];
/** Default {@link TaskAlertsOptions.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** Tables listed in a verification-failed payload and message (the job holds them all). */
export const VERIFICATION_TABLES_LISTED = 20;

/**
 * What a verification-failed payload says of the job it fired or resolved on: no row value, no
 * error text (a comparison's error may quote a value: the job has it, GET .../verifications/{id}).
 */
export interface VerificationAlertDetails {
  readonly id: string;
  readonly mode: StoredVerification['mode'];
  readonly status: 'passed' | 'failed' | 'error';
  /** ISO 8601. */
  readonly finishedAt: string;
  /** The tables that differ or could not be compared (at most VERIFICATION_TABLES_LISTED). */
  readonly tables: readonly {
    readonly table: string;
    readonly differences: number;
    readonly status: 'failed' | 'error';
  }[];
}

/** The JSON body POSTed to a webhook (alerts.md, "Delivery"). */
export interface AlertPayload {
  readonly version: 1;
  readonly task: { readonly id: string; readonly name: string };
  /** The rule with its defaults applied; `{type}` only for a rule removed since it fired (A10). */
  readonly rule: AlertRule | { readonly type: string };
  readonly state: StoredAlert['state'];
  /** ISO 8601: when the alert entered `state`. */
  readonly since: string;
  readonly message: string;
  /** ISO 8601: when the payload was built. */
  readonly time: string;
  /** verification-failed only: the job (left out when a stored transition is delivered again, A9). */
  readonly verification?: VerificationAlertDetails;
}

/** What a rule says about a task now. */
type Verdict =
  /** The condition holds (for its whole window): the alert must be firing. */
  | {
      readonly kind: 'fire';
      readonly since: Date;
      readonly message: string;
      readonly details?: VerificationAlertDetails;
    }
  /** The condition does not hold: a firing alert resolves. */
  | { readonly kind: 'clear'; readonly message: string; readonly details?: VerificationAlertDetails }
  /** Nothing to decide on (pending window, stale status): the alert stays as it is. */
  | { readonly kind: 'keep' };

/** An alert's state as decided: stored, or queued to be (A2). */
interface AlertSnapshot {
  readonly state: StoredAlert['state'];
  readonly since: Date;
  readonly message: string;
  /** Not stored: sent with the transition decided in this process only. */
  readonly details?: VerificationAlertDetails;
}

/** The deliveries queued for one task and rule (A3). */
interface Queue {
  tail: Promise<void>;
  /** The last transition queued: what the store will say once the queue drains (A2). */
  latest: AlertSnapshot | undefined;
  jobs: number;
}

/** One delivery: a transition to store and send, or a stored one to send again (A9). */
interface Job {
  readonly task: StoredTask;
  readonly rule: AlertPayload['rule'];
  readonly snapshot: AlertSnapshot;
  readonly webhooks: readonly string[];
  /** false when the store holds the transition already (A9). */
  readonly storeFirst: boolean;
}

/**
 * Evaluates the alert rules of the tasks a worker runs and delivers their transitions. One instance
 * per worker process; not shared between processes (A7's window lives in it).
 */
export class TaskAlerts {
  readonly #tasks: TaskStore;
  readonly #verifications: VerificationStore;
  readonly #now: () => Date;
  readonly #fetch: typeof fetch;
  readonly #delays: readonly number[];
  readonly #timeoutMs: number;
  readonly #log: (level: AlertLogLevel, message: string) => void;
  /** Delivery queues by alert key (task id and rule type), removed when drained. */
  readonly #queues = new Map<string, Queue>();
  /** Per alert key, how many queued jobs have ended: a read racing a drain is not trusted. */
  readonly #ended = new Map<string, number>();
  /** Since when a latency rule's lag has been above its threshold, by alert key (A7). */
  readonly #aboveSince = new Map<string, Date>();
  /** The evaluation of each task in progress (evaluations of one task run one at a time). */
  readonly #evaluating = new Map<string, Promise<void>>();
  /** Tasks (id and revision) whose stored `alerts` did not validate, logged once. */
  readonly #invalid = new Set<string>();

  /**
   * @param store the store's task and verification queries (a ControlStore).
   * @throws {ConfigError} when a retry delay is negative or not finite, or `timeoutMs` is not a
   *   positive number.
   */
  constructor(
    store: { readonly tasks: TaskStore; readonly verifications: VerificationStore },
    options: TaskAlertsOptions = {},
  ) {
    this.#tasks = store.tasks;
    this.#verifications = store.verifications;
    this.#now = options.now ?? (() => new Date());
    this.#fetch = options.fetchImpl ?? fetch;
    this.#delays = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#log =
      options.log ??
      ((level, message) => {
        if (level !== 'info') process.stderr.write(`pgdts alerts ${level}: ${message}\n`);
      });
    if (!this.#delays.every((d) => Number.isFinite(d) && d >= 0)) {
      throw new ConfigError('retryDelaysMs', 'must be finite numbers of ms, at least 0');
    }
    if (!(Number.isFinite(this.#timeoutMs) && this.#timeoutMs > 0)) {
      throw new ConfigError('timeoutMs', 'must be a positive number of ms');
    }
  }

  /**
   * Evaluates every alert rule of `task` (as just read from the store), or only those of the types
   * in `only`, and queues the deliveries of the transitions. Reads the task's stored alerts once
   * (and its newest finished verification job when it has a verification-failed rule). Never
   * throws: a failure is logged and the next evaluation tries again (A5). Evaluations of one task
   * run one after the other.
   */
  evaluate(task: StoredTask, only?: readonly AlertRule['type'][]): Promise<void> {
    const previous = this.#evaluating.get(task.id) ?? Promise.resolve();
    const mine = previous.then(() => this.#evaluate(task, only));
    const settled = mine.catch((e: unknown) => {
      this.#log('error', `alerts of task ${task.id}: ${describe(e)}`);
    });
    this.#evaluating.set(task.id, settled);
    void settled.then(() => {
      if (this.#evaluating.get(task.id) === settled) this.#evaluating.delete(task.id);
    });
    return settled;
  }

  /** Waits until every evaluation and delivery queued so far (and any they queue) has ended. */
  async flush(): Promise<void> {
    while (this.#evaluating.size > 0 || this.#queues.size > 0) {
      await Promise.all([...this.#evaluating.values(), ...[...this.#queues.values()].map((q) => q.tail)]);
    }
  }

  async #evaluate(task: StoredTask, only: readonly string[] | undefined): Promise<void> {
    const all = this.#configOf(task);
    const config = {
      ...all,
      rules: only === undefined ? all.rules : all.rules.filter((r) => only.includes(r.type)),
    };
    const endedBefore = new Map(this.#ended);
    const [alerts, newest] = await Promise.all([
      this.#tasks.alerts(task.id),
      config.rules.some((r) => r.type === 'verification-failed')
        ? this.#verifications.newestFinished([task.id]).then((m) => m.get(task.id) ?? null)
        : Promise.resolve(null),
    ]);
    const stored = new Map(
      alerts.filter((a) => only === undefined || only.includes(a.rule)).map((a) => [a.rule, a]),
    );
    const now = this.#now();
    // A6: the status counts only if written since the task entered its current state.
    const fresh =
      task.status !== null &&
      task.statusAt !== null &&
      task.statusAt.getTime() >= task.stateChangedAt.getTime();
    const ruleTypes = new Set<string>();
    for (const rule of config.rules) {
      ruleTypes.add(rule.type);
      const verdict = this.#verdict(task, rule, now, fresh, newest);
      this.#apply(task, rule, verdict, stored.get(rule.type), endedBefore, config.webhooks, now);
    }
    // A10: an alert still firing for a rule the definition no longer has resolves.
    for (const [type, a] of stored) {
      if (ruleTypes.has(type)) continue;
      this.#aboveSince.delete(keyOf(task.id, type));
      const verdict: Verdict = { kind: 'clear', message: `the ${type} rule was removed from the task` };
      this.#apply(task, { type }, verdict, a, endedBefore, config.webhooks, now);
    }
  }

  /** Decides and queues the transition of one alert (A2), or the redelivery of a stored one (A9). */
  #apply(
    task: StoredTask,
    rule: AlertPayload['rule'],
    verdict: Verdict,
    stored: StoredAlert | undefined,
    endedBefore: ReadonlyMap<string, number>,
    webhooks: readonly string[],
    now: Date,
  ): void {
    const key = keyOf(task.id, rule.type);
    const queued = this.#queues.get(key);
    // A delivery of this alert ended while the store was read: what was read may predate it. The
    // next evaluation (a poll later) decides on a fresh read.
    if (queued === undefined && (this.#ended.get(key) ?? 0) !== (endedBefore.get(key) ?? 0)) return;
    const current: AlertSnapshot | undefined = queued?.latest ?? stored;
    const firing = current?.state === 'firing';
    let next: AlertSnapshot | undefined;
    switch (verdict.kind) {
      case 'fire':
        if (!firing) next = { state: 'firing', since: verdict.since, message: verdict.message };
        break;
      case 'clear':
        if (firing) next = { state: 'resolved', since: now, message: verdict.message };
        break;
      case 'keep':
        break;
    }
    if (next !== undefined && verdict.kind !== 'keep' && verdict.details !== undefined) {
      next = { ...next, details: verdict.details };
    }
    if (next !== undefined) {
      this.#enqueue(key, { task, rule, snapshot: next, webhooks, storeFirst: true });
    } else if (
      queued === undefined &&
      stored !== undefined &&
      stored.deliveredAt === null &&
      stored.deliveryError === null
    ) {
      // A9: stored, never delivered: the runner that stored it stopped before it could deliver.
      this.#log('info', `alert ${rule.type} of task ${task.id}: delivering the stored ${stored.state} again`);
      const snapshot = { state: stored.state, since: stored.since, message: stored.message };
      this.#enqueue(key, { task, rule, snapshot, webhooks, storeFirst: false });
    }
  }

  /** What `rule` says of `task` at `now` (`newest`: its newest finished verification job, if read). */
  #verdict(
    task: StoredTask,
    rule: AlertRule,
    now: Date,
    fresh: boolean,
    newest: StoredVerification | null,
  ): Verdict {
    switch (rule.type) {
      case 'verification-failed':
        return verificationVerdict(newest);
      case 'task-failed':
        return taskFailedVerdict(task, rule.retryingMinutes, now, fresh);
      case 'latency': {
        const key = keyOf(task.id, rule.type);
        const v = latencyVerdict(task, rule, fresh);
        switch (v.kind) {
          case 'above': {
            const since = this.#aboveSince.get(key) ?? now;
            this.#aboveSince.set(key, since);
            // A7: pending until the lag has been above for the whole window.
            if (now.getTime() - since.getTime() < rule.forMinutes * 60_000) return { kind: 'keep' };
            return {
              kind: 'fire',
              since,
              message: `lag ${seconds(v.lagMs)} s above ${rule.thresholdSeconds} s since ${since.toISOString()}`,
            };
          }
          case 'below':
            this.#aboveSince.delete(key);
            return { kind: 'clear', message: v.message };
          case 'unknown':
            return { kind: 'keep' };
        }
      }
    }
  }

  /** The task's `alerts` with defaults; none when they do not validate (logged once per revision). */
  #configOf(task: StoredTask): AlertsConfig {
    const parsed = alertsSchema.safeParse(task.definition.alerts ?? {});
    if (parsed.success) return parsed.data;
    const mark = `${task.id}@${task.revision}`;
    if (!this.#invalid.has(mark)) {
      this.#invalid.add(mark);
      this.#log(
        'error',
        `alerts of task ${task.id} do not validate, not evaluated: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    }
    return { webhooks: [], rules: [] };
  }

  /** Queues `job` behind the other deliveries of its alert (A3). */
  #enqueue(key: string, job: Job): void {
    const q: Queue = this.#queues.get(key) ?? { tail: Promise.resolve(), latest: undefined, jobs: 0 };
    this.#queues.set(key, q);
    if (job.storeFirst) q.latest = job.snapshot;
    q.jobs += 1;
    q.tail = q.tail
      .then(() => this.#run(job))
      .catch((e: unknown) => {
        this.#log('error', `alert ${job.rule.type} of task ${job.task.id}: ${describe(e)}`);
      })
      .finally(() => {
        q.jobs -= 1;
        this.#ended.set(key, (this.#ended.get(key) ?? 0) + 1);
        if (q.jobs === 0 && this.#queues.get(key) === q) this.#queues.delete(key);
      });
  }

  /** Stores a transition, sends it to every webhook, stores the outcome. */
  async #run(job: Job): Promise<void> {
    const { task, rule, snapshot } = job;
    const row = {
      taskId: task.id,
      rule: rule.type,
      state: snapshot.state,
      since: snapshot.since,
      message: snapshot.message,
    };
    // Stored before it is sent: a worker taking the task over meanwhile does not send it again
    // (A2). When this write fails nothing is sent; the next evaluation decides again.
    if (job.storeFirst) await this.#tasks.setAlert({ ...row, deliveredAt: null, deliveryError: null });
    const payload: AlertPayload = {
      version: 1,
      task: { id: task.id, name: task.name },
      rule,
      state: snapshot.state,
      since: snapshot.since.toISOString(),
      message: snapshot.message,
      time: this.#now().toISOString(),
      ...(snapshot.details !== undefined ? { verification: snapshot.details } : {}),
    };
    const body = JSON.stringify(payload);
    const failures =
      job.webhooks.length === 0
        ? ['no webhook to deliver to']
        : (await Promise.all(job.webhooks.map((url, i) => this.#post(url, i, body)))).filter(
            (f) => f !== undefined,
          );
    const deliveryError = failures.length === 0 ? null : failures.join('; ');
    if (deliveryError === null) {
      this.#log('info', `alert ${rule.type} of task ${task.id}: ${snapshot.state} delivered`);
    } else {
      this.#log(
        'warn',
        `alert ${rule.type} of task ${task.id}: ${snapshot.state} not delivered: ${deliveryError}`,
      );
    }
    await this.#tasks.setAlert({
      ...row,
      deliveredAt: deliveryError === null ? this.#now() : null,
      deliveryError,
    });
  }

  /**
   * POSTs `body` to webhook number `index` with retries (A4).
   * @returns undefined when delivered, else why not (naming the webhook by number and host only).
   */
  async #post(url: string, index: number, body: string): Promise<string | undefined> {
    let last = '';
    let attempts = 0;
    for (let i = 0; i <= this.#delays.length; i++) {
      if (i > 0) await sleep(this.#delays[i - 1] ?? 0);
      attempts += 1;
      try {
        const res = await this.#fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'pgdts-alerts' },
          body,
          signal: AbortSignal.timeout(this.#timeoutMs),
        });
        // Read the answer so that the connection can be reused; its content does not matter.
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return undefined;
        last = `HTTP ${res.status}`;
        if (!retryableStatus(res.status)) break;
      } catch (e) {
        last =
          e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')
            ? `no answer within ${this.#timeoutMs} ms`
            : describe(e);
      }
    }
    return `webhook ${index + 1} (${hostOf(url)}): ${last} after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
  }
}

/**
 * The verification-failed rule (alerts.md): fires while the task's newest finished verification
 * job is `failed` (differences found) or `error`, since it finished; clears once the newest passed.
 */
function verificationVerdict(job: StoredVerification | null): Verdict {
  if (job === null) return { kind: 'clear', message: 'no verification has finished' };
  const status = job.status;
  switch (status) {
    case 'queued':
    case 'running':
    case 'cancelled':
      // newestFinished returns finished jobs only (a cancelled one is no outcome); an open one says nothing yet.
      return { kind: 'keep' };
    case 'passed':
      return {
        kind: 'clear',
        message: `verification ${job.id} (${job.mode}) passed`,
        details: verificationDetails(job, status),
      };
    case 'failed':
    case 'error': {
      const details = verificationDetails(job, status);
      const all = (job.results ?? []).filter((r) => r.status !== 'passed');
      const listed = details.tables
        .map((t) =>
          t.status === 'error'
            ? `${t.table} not compared (error)`
            : `${t.table} ${t.differences} difference${t.differences === 1 ? '' : 's'}`,
        )
        .join(', ');
      const more =
        all.length > details.tables.length ? ` and ${all.length - details.tables.length} more tables` : '';
      const what =
        status === 'failed'
          ? `found differences: ${listed}${more}`
          : all.length > 0
            ? `could not compare every table: ${listed}${more}`
            : 'could not run (its error is in the job)';
      return {
        kind: 'fire',
        since: job.finishedAt ?? job.createdAt,
        message: `verification ${job.id} (${job.mode}) ${what}`,
        details,
      };
    }
  }
}

function verificationDetails(
  job: StoredVerification,
  status: 'passed' | 'failed' | 'error',
): VerificationAlertDetails {
  return {
    id: job.id,
    mode: job.mode,
    status,
    finishedAt: (job.finishedAt ?? job.createdAt).toISOString(),
    tables: (job.results ?? [])
      .flatMap((r) =>
        r.status === 'passed' ? [] : [{ table: r.table, differences: r.differences, status: r.status }],
      )
      .slice(0, VERIFICATION_TABLES_LISTED),
  };
}

/** The task-failed rule (alerts.md): failed, or retrying for `retryingMinutes`. */
function taskFailedVerdict(task: StoredTask, retryingMinutes: number, now: Date, fresh: boolean): Verdict {
  const state: TaskState = task.state;
  switch (state) {
    case 'failed': {
      const e = task.lastError;
      return {
        kind: 'fire',
        since: task.stateChangedAt,
        message: e === null ? 'the task failed' : `the task failed: ${e.code}: ${e.message}`,
      };
    }
    case 'running': {
      if (!fresh || task.status === null) return { kind: 'keep' };
      const since = task.status.retryingSince === null ? null : new Date(task.status.retryingSince);
      if (since === null || Number.isNaN(since.getTime())) {
        return { kind: 'clear', message: 'the task is running and not retrying' };
      }
      if (now.getTime() - since.getTime() < retryingMinutes * 60_000) {
        return {
          kind: 'clear',
          message: `the task is running, retrying for less than ${retryingMinutes} min`,
        };
      }
      const r = task.status.lastRetry;
      return {
        kind: 'fire',
        since,
        message: `the task has been retrying since ${since.toISOString()}${r === null ? '' : `: ${r.code}: ${r.message}`}`,
      };
    }
    case 'created':
    case 'prechecking':
    case 'precheck-failed':
    case 'precheck-passed':
    case 'paused':
    case 'completed':
    case 'released':
      return { kind: 'clear', message: `the task is ${state}` };
  }
}

/** The latency rule's reading of the lag (the window is the caller's, A7). */
function latencyVerdict(
  task: StoredTask,
  rule: Extract<AlertRule, { type: 'latency' }>,
  fresh: boolean,
):
  | { readonly kind: 'above'; readonly lagMs: number }
  | { readonly kind: 'below'; readonly message: string }
  | { readonly kind: 'unknown' } {
  if (task.state !== 'running')
    return { kind: 'below', message: `the task is ${task.state}: no lag is measured` };
  if (!fresh || task.status === null) return { kind: 'unknown' };
  const lagMs = task.status.lagMs;
  if (lagMs === null) return { kind: 'below', message: 'no lag is measured (no incremental sync yet)' };
  if (lagMs > rule.thresholdSeconds * 1000) return { kind: 'above', lagMs };
  return { kind: 'below', message: `lag ${seconds(lagMs)} s is at or under ${rule.thresholdSeconds} s` };
}

/**
 * 408 (request timeout), 429 (too many requests) and 5xx may pass later (A4); another 4xx is the
 * receiver refusing the request, and a 3xx left after fetch followed the redirects is a receiver
 * that does not take POSTs: a retry changes neither.
 */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function keyOf(taskId: string, rule: string): string {
  return `${taskId}/${rule}`;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

/** The host of a webhook URL: its path and query often hold the receiver's secret (A8). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}

/** An error's message, with the socket code of fetch's cause ("fetch failed" says nothing). */
function describe(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? `${e.message} (${code})` : `${e.message} (${cause.message})`;
  }
  return e.message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
