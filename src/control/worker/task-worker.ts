/**
 * A worker of the control plane: claims the store's `running` tasks through its lock session, runs
 * each with the engine (runTask, as `pgdts run` does) on connections built from the tasks' data
 * sources, stops the ones that leave `running`, applies live throttle changes, writes what it
 * observes to the store once per poll, and records `completed` or `failed`. The protocol and its
 * invariants are in ../task/task-states.md ("Workers", S6, S9-S11).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { CancelledError, ConfigError, LeaseHeldError, PgdtsError } from '../../core/errors.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import { hasSyncType } from '../../core/task-config.ts';
import { TaskControl } from '../../pipeline/task-control.ts';
import { runTask } from '../../pipeline/task-runner.ts';
import { openSinkOf, openSourceOf } from '../data-source/open-data-source.ts';
import type { ControlStore } from '../store/control-store.ts';
import type { StoredTask } from '../store/task-store.ts';
import type { StoredTableVerification } from '../store/verification-store.ts';
import { VERIFY_ROWS_KEPT } from '../task/run-verification.ts';
import type { ProgressEvent } from '../../core/progress.ts';
import type { RowDifference } from '../../core/row-difference.ts';
import { engineTaskOf } from '../task/task-definition-schema.ts';
import type { LastError, TaskLogLine } from '../task/task-status.ts';
import { RunObserver } from './run-observer.ts';
import { DEFAULT_LEASE_TIMEOUT_MS, DEFAULT_POLL_MS } from '../control-defaults.ts';
import { TaskLockSession } from './task-lock-session.ts';

/** What a worker calls to evaluate a task's alert rules (control/alerts). */
export interface AlertHook {
  /** Evaluates the rules of `task` (its stored row); never throws. */
  evaluate(task: StoredTask): Promise<void>;
  /** Waits for deliveries in flight. */
  flush(): Promise<void>;
}

/** Options of {@link TaskWorker.start}. */
export interface WorkerOptions {
  readonly store: ControlStore;
  /** Default `<host>-<pid>-<random>`. */
  readonly workerId?: string;
  /** How often the worker looks at the store, ms (default 1000). */
  readonly pollMs?: number;
  /** Within how long a lost worker's tasks are taken over, ms (default 30 000; S10). */
  readonly leaseTimeoutMs?: number;
  /** The worker's own lines (never a secret). */
  readonly log: (level: TaskLogLine['level'], message: string) => void;
  readonly alerts?: AlertHook;
}

/** How long a task whose destination lease is held elsewhere is left alone, ms. */
const LEASE_HELD_BACKOFF_MS = 5_000;

interface Runner {
  readonly task: StoredTask;
  revision: number;
  readonly controller: AbortController;
  readonly observer: RunObserver;
  control: TaskControl | undefined;
  done: Promise<void>;
  /** Why it was stopped, for the log. */
  stopReason: string | undefined;
  /** When this run last stored a sample verification job, ms ([V9]: at most one a minute). */
  lastSampleJobAt?: number;
}

/** Least time between two sample verification jobs of one run, ms (a broken destination would otherwise add one a second). */
export const SAMPLE_JOB_EVERY_MS = 60_000;

/** A running worker. */
export class TaskWorker {
  readonly id: string;
  readonly #o: WorkerOptions;
  readonly #pollMs: number;
  readonly #leaseTimeoutMs: number;
  #locks: TaskLockSession;
  readonly #runners = new Map<string, Runner>();
  /** Tasks not to claim before the given time (ms), e.g. a destination lease held elsewhere. */
  readonly #backoff = new Map<string, number>();
  #stopping = false;
  readonly #loop: Promise<void>;
  #wake: (() => void) | undefined;

  private constructor(o: WorkerOptions, locks: TaskLockSession, id: string) {
    this.#o = o;
    this.id = id;
    this.#pollMs = o.pollMs ?? DEFAULT_POLL_MS;
    this.#leaseTimeoutMs = o.leaseTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS;
    this.#locks = locks;
    this.#loop = this.#run();
  }

  /**
   * Registers the worker in the store and starts polling.
   * @throws {PgdtsError} STORE_FAILED when the store cannot be reached.
   */
  static async start(o: WorkerOptions): Promise<TaskWorker> {
    const id = o.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const locks = await TaskLockSession.open(o.store.url, o.leaseTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS);
    try {
      await o.store.tasks.registerWorker(id, hostname(), process.pid);
    } catch (e) {
      await locks.close();
      throw e;
    }
    o.log(
      'info',
      `worker ${id} started (poll ${o.pollMs ?? DEFAULT_POLL_MS} ms, lease timeout ${o.leaseTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS} ms)`,
    );
    return new TaskWorker(o, locks, id);
  }

  /** Ids of the tasks this worker runs now. */
  get running(): string[] {
    return [...this.#runners.keys()];
  }

  /**
   * Stops every task cleanly (their state stays `running`: another worker takes them over, S11),
   * then ends the lock session. Never throws.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      try {
        await this.#tick();
      } catch (e) {
        this.#o.log('warn', `worker ${this.id}: ${(e as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#pollMs);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    await this.#stopAll('the worker is stopping');
    await this.#o.alerts?.flush().catch(() => undefined);
    await this.#o.store.tasks.seeWorker(this.id, true).catch(() => undefined);
    await this.#locks.close();
    this.#o.log('info', `worker ${this.id} stopped`);
  }

  async #tick(): Promise<void> {
    // [S10] A lock session that does not answer may have lost its locks: whatever runs here may be
    // claimed elsewhere already, so everything stops before the session is opened again.
    if (!(await this.#locks.check(Math.max(1000, this.#leaseTimeoutMs / 3)))) {
      this.#o.log('warn', `worker ${this.id}: the lock session on the store was lost; stopping its tasks`);
      await this.#stopAll('the worker lost its lock session');
      await this.#locks.close();
      this.#locks = await TaskLockSession.open(this.#o.store.url, this.#leaseTimeoutMs);
      return;
    }
    const running = await this.#o.store.tasks.running();
    const byId = new Map(running.map((t) => [t.id, t]));
    for (const [id, r] of this.#runners) {
      const t = byId.get(id);
      if (t === undefined) {
        this.#stopRunner(r, 'its state is no longer running');
      } else if (t.revision !== r.revision) {
        this.#applyLiveChange(r, t);
      }
    }
    const now = Date.now();
    for (const t of running) {
      if (this.#stopping || this.#runners.has(t.id) || (this.#backoff.get(t.id) ?? 0) > now) continue;
      if (!(await this.#locks.tryLock(t.lockKey))) continue;
      // Read again under the lock: a pause or edit between the list and the lock wins.
      const fresh = await this.#o.store.tasks.get(t.id);
      if (fresh?.state !== 'running') {
        await this.#locks.unlock(t.lockKey);
        continue;
      }
      this.#startRunner(fresh);
    }
    for (const r of this.#runners.values()) await this.#write(r);
    await this.#o.store.tasks.seeWorker(this.id);
  }

  #startRunner(t: StoredTask): void {
    const controller = new AbortController();
    const observer = new RunObserver();
    const r: Runner = {
      task: t,
      revision: t.revision,
      controller,
      observer,
      control: undefined,
      stopReason: undefined,
      done: Promise.resolve(),
    };
    this.#runners.set(t.id, r);
    r.done = this.#execute(r).finally(() => this.#runners.delete(t.id));
  }

  /** One run of a task, from claim to unlock. */
  async #execute(r: Runner): Promise<void> {
    const t = r.task;
    const store = this.#o.store;
    let source: Source | undefined;
    let sink: Sink | undefined;
    let outcome: 'completed' | 'failed' | 'stopped' | 'lease-held';
    let error: PgdtsError | undefined;
    try {
      await store.tasks.claim(t.id, this.id);
      r.observer.log('info', `worker ${this.id} runs the task`, { worker: this.id });
      const src = await store.getDataSource(t.sourceId);
      const dst = await store.getDataSource(t.destinationId);
      if (src === undefined || dst === undefined) {
        throw new ConfigError(
          src === undefined ? 'source.dataSource' : 'destination.dataSource',
          'the data source is gone',
        );
      }
      const task = engineTaskOf(t.id, t.definition, src.source, dst.source);
      r.control = new TaskControl(task);
      source = openSourceOf(task, src.source);
      sink = await openSinkOf(task, dst.source, src.source);
      const { signal } = r.controller;
      await runTask(task, {
        source,
        sink,
        signal,
        onProgress: (e) => r.observer.handle(e),
        control: r.control,
      });
      outcome = hasSyncType(task, 'incremental') && signal.aborted ? 'stopped' : 'completed';
    } catch (e) {
      if (e instanceof CancelledError || r.controller.signal.aborted) {
        outcome = 'stopped';
      } else if (e instanceof LeaseHeldError) {
        outcome = 'lease-held';
        error = e;
      } else {
        outcome = 'failed';
        error = e instanceof PgdtsError ? e : new PgdtsError('INTERNAL', (e as Error).message, { cause: e });
      }
    } finally {
      await Promise.all([source?.close(), sink?.close()]).catch(() => undefined);
    }
    try {
      switch (outcome) {
        case 'completed':
          r.observer.log('info', 'task completed');
          await this.#write(r);
          await store.tasks.transition(t.id, 'running', 'completed');
          break;
        case 'stopped': {
          r.observer.log('info', `task stopped: ${r.stopReason ?? 'on request'} (committed work is kept)`);
          await this.#write(r);
          // Paused or released: its firing alerts resolve (a hand-over leaves them to the next worker).
          const now = await store.tasks.get(t.id);
          if (now !== undefined && now.state !== 'running') await this.#o.alerts?.evaluate(now);
          break;
        }
        case 'lease-held':
          // Not the task's failure: another run holds the destination lease (S9). Try again later.
          r.observer.log('warn', `${error?.message ?? ''}; trying again in ${LEASE_HELD_BACKOFF_MS} ms`);
          this.#backoff.set(t.id, Date.now() + LEASE_HELD_BACKOFF_MS);
          await this.#write(r);
          break;
        case 'failed': {
          const e = error ?? new PgdtsError('INTERNAL', 'unknown failure');
          const lastError: LastError = {
            code: e.code,
            message: e.message,
            hint: e.hint ?? null,
            at: new Date().toISOString(),
          };
          r.observer.log('error', `${e.code}: ${e.message}`, {
            code: e.code,
            ...(e.hint !== undefined ? { hint: e.hint } : {}),
          });
          await this.#write(r);
          // [S6] Only while still running: a pause or release that came first is not overwritten.
          const failed = await store.tasks.transition(t.id, 'running', 'failed', { lastError });
          if (failed !== undefined) await this.#o.alerts?.evaluate(failed);
          break;
        }
      }
    } catch (e) {
      this.#o.log(
        'warn',
        `worker ${this.id}: task ${t.id}: cannot record the end of the run: ${(e as Error).message}`,
      );
    } finally {
      await this.#locks.unlock(t.lockKey).catch(() => undefined);
    }
  }

  /** Writes the observations of a run; kept for the next write when the store fails. */
  async #write(r: Runner): Promise<void> {
    const o = r.observer.take();
    try {
      await this.#o.store.tasks.writeObservations(r.task.id, o);
    } catch (e) {
      r.observer.restore(o);
      throw e;
    }
    // [V9] Sampled rows that differed become a failed verification: the API, /metrics and the
    // verification-failed alert rule (evaluated just below) see it like any other job.
    const due = Date.now() - (r.lastSampleJobAt ?? -Infinity) >= SAMPLE_JOB_EVERY_MS;
    const samples = due ? r.observer.takeSampleDifferences() : [];
    if (samples.length > 0) {
      r.lastSampleJobAt = Date.now();
      await this.#o.store.verifications
        .recordSample(r.task.id, sampleResultsOf(samples))
        .catch((e: unknown) =>
          this.#o.log(
            'warn',
            `task ${r.task.id}: cannot store a verification sample: ${(e as Error).message}`,
          ),
        );
    }
    if (this.#o.alerts !== undefined && !r.controller.signal.aborted) {
      const t = await this.#o.store.tasks.get(r.task.id);
      if (t !== undefined) await this.#o.alerts.evaluate(t);
    }
  }

  /** [S4] A live edit (throttle, alerts, name): the throttle applies at once, without a restart. */
  #applyLiveChange(r: Runner, t: StoredTask): void {
    r.revision = t.revision;
    if (r.control === undefined) return;
    try {
      const changes = r.control.updateThrottle({
        full: t.definition.full?.throttle ?? {},
        incremental: t.definition.incremental?.throttle ?? {},
      });
      for (const c of changes) {
        r.observer.log(
          'info',
          `${c.key}: ${c.from ?? 'no limit'} → ${c.to ?? 'no limit'} (applied while running)`,
        );
      }
    } catch (e) {
      r.observer.log('warn', `throttle change not applied: ${(e as Error).message}`);
    }
  }

  #stopRunner(r: Runner, reason: string): void {
    if (r.controller.signal.aborted) return;
    r.stopReason = reason;
    r.controller.abort();
  }

  async #stopAll(reason: string): Promise<void> {
    const runners = [...this.#runners.values()];
    for (const r of runners) this.#stopRunner(r, reason);
    await Promise.all(runners.map((r) => r.done));
  }
}

/**
 * The stored per-table results of sample checks that found differences ([V9]): per destination
 * table, the rows checked and the differing rows (at most {@link VERIFY_ROWS_KEPT} kept).
 */
export function sampleResultsOf(
  samples: readonly Extract<ProgressEvent, { kind: 'sample' }>[],
): StoredTableVerification[] {
  const byTable = new Map<string, StoredTableVerification>();
  for (const e of samples) {
    const had = byTable.get(e.table);
    const rows = [...((had?.differingRows as RowDifference[] | undefined) ?? []), ...e.differences];
    const differences = (had?.differences ?? 0) + e.differing;
    const checked = (had?.sourceRows ?? 0) + e.checked;
    byTable.set(e.table, {
      table: e.table,
      sourceRows: checked,
      destinationRows: checked,
      differences,
      differingRows: rows.slice(0, VERIFY_ROWS_KEPT),
      columns: e.columns,
      keyColumns: e.keyColumns,
      truncated: differences > Math.min(rows.length, VERIFY_ROWS_KEPT),
      durationMs: 0,
      status: 'failed',
    });
  }
  return [...byTable.values()];
}
