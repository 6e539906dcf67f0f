/**
 * Scheduled verification ([V7] in src/pipeline/verify/verify.md): `pgdts serve` looks at the tasks
 * whose definition has `verify.schedule` every tick, and queues and runs a verification job of each
 * eligible one whose schedule is due (no job of the task created in the last `everyMinutes`
 * minutes). The store decides "due" and "one open job per task" (VerificationStore.createIfDue), so
 * two serve processes never queue two jobs for one due schedule.
 */
import { verifyScheduleSchema, type VerifySchedule } from '../../core/throttle-config.ts';
import type { ControlStore } from '../store/control-store.ts';
import type { StoredTask } from '../store/task-store.ts';
import type { StoredVerification } from '../store/verification-store.ts';
import { engineTaskOf } from './task-definition-schema.ts';
import type { TaskState } from './task-state.ts';
import { DEFAULT_VERIFY_TICK_MS } from '../control-defaults.ts';
import type { AfterVerification } from './run-verification.ts';
import { VerificationRunner } from './verification-runner.ts';

/** The states {@link scheduleEligibility} may accept (the store's first filter). */
export const SCHEDULED_STATES = ['running', 'completed'] as const satisfies readonly TaskState[];

/** Whether a task's schedule queues jobs in its current state, and why not. */
export type ScheduleEligibility =
  { readonly eligible: true } | { readonly eligible: false; readonly reason: string };

/**
 * Whether the schedule of `t` runs now ([V7]): a `running` task once its current run streams
 * changes (phase `incremental` in a status written since it entered the state: the copy is done),
 * and a `completed` one (a full sync that ended: its copy should stay equal). Not before the copy
 * is done (every row not copied yet would be a difference), not `paused` or `failed` (the
 * destination lags by what the task has not applied: differences that are the lag, not faults;
 * `POST .../verify` verifies them on demand), not `released` (the task's bookkeeping is gone).
 */
export function scheduleEligibility(t: StoredTask): ScheduleEligibility {
  switch (t.state) {
    case 'running': {
      const fresh = t.statusAt !== null && t.statusAt.getTime() >= t.stateChangedAt.getTime();
      return fresh && t.status?.phase === 'incremental'
        ? { eligible: true }
        : { eligible: false, reason: 'the task runs and has not reached incremental sync yet' };
    }
    case 'completed':
      return { eligible: true };
    case 'created':
    case 'prechecking':
    case 'precheck-failed':
    case 'precheck-passed':
      return { eligible: false, reason: `the task is ${t.state}: nothing is copied yet` };
    case 'paused':
    case 'failed':
      return {
        eligible: false,
        reason: `the task is ${t.state}: the destination lags the source by what it has not applied`,
      };
    case 'released':
      return { eligible: false, reason: 'the task is released' };
  }
}

/** The schedule of a stored definition with defaults, or undefined (none, or it does not validate). */
export function scheduleOf(t: StoredTask): VerifySchedule | undefined {
  const raw = (t.definition.verify as { schedule?: unknown } | undefined)?.schedule;
  if (raw === undefined) return undefined;
  const parsed = verifyScheduleSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/** Options of {@link VerificationScheduler}. */
export interface VerificationSchedulerOptions {
  readonly store: ControlStore;
  /** Runs the queued jobs (serve's, shared with its API); default one of this scheduler's own. */
  readonly runner?: VerificationRunner;
  /** With no `runner`: called after each job's outcome is stored (the verification-failed alert rule). */
  readonly after?: AfterVerification;
  /** The scheduler's clock; default undefined: the store's `now()` decides and stamps jobs. */
  readonly now?: () => Date;
  /** Between two looks for due schedules, ms (default {@link DEFAULT_VERIFY_TICK_MS}). */
  readonly tickMs?: number;
  /** Lines for the operator: never a password (jobs and errors hold none). */
  readonly log?: (level: 'info' | 'warn', message: string) => void;
}

/** Queues and runs the due scheduled verifications of the store's tasks. */
export class VerificationScheduler {
  readonly #runner: VerificationRunner;
  readonly #o: VerificationSchedulerOptions;
  readonly #runs = new Set<Promise<void>>();
  /** Tasks (id and revision) whose job could not be built, logged once. */
  readonly #warned = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(o: VerificationSchedulerOptions) {
    this.#o = o;
    this.#runner =
      o.runner ?? new VerificationRunner(o.store, o.after === undefined ? {} : { after: o.after });
  }

  /** Starts ticking: a first look at once, then every `tickMs`. */
  start(): this {
    const every = this.#o.tickMs ?? DEFAULT_VERIFY_TICK_MS;
    const loop = () => {
      if (this.#stopped) return;
      this.#ticking = this.tick()
        .catch((e: unknown) => this.#log('warn', `verification schedules: ${(e as Error).message}`))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(loop, every);
        });
    };
    loop();
    return this;
  }

  /**
   * One look: queues a job for every eligible task whose schedule is due and starts running it in
   * this process.
   * @returns the jobs queued (their runs go on in the background; {@link idle} waits for them).
   * @throws {PgdtsError} STORE_FAILED when the tasks cannot be read.
   */
  async tick(): Promise<StoredVerification[]> {
    const queued: StoredVerification[] = [];
    for (const c of await this.#o.store.verifications.scheduledTasks(SCHEDULED_STATES)) {
      if (this.#stopped) break;
      const t = await this.#o.store.tasks.get(c.id);
      if (t === undefined) continue;
      const schedule = scheduleOf(t);
      if (schedule === undefined || !scheduleEligibility(t).eligible) continue;
      // Not due by the newest job read with the list: skip it without more reads.
      const now = this.#o.now?.() ?? c.storeNow;
      if (
        c.newestJobAt !== null &&
        c.newestJobAt.getTime() > now.getTime() - schedule.everyMinutes * 60_000
      ) {
        continue;
      }
      const src = await this.#o.store.getDataSource(t.sourceId);
      const dst = await this.#o.store.getDataSource(t.destinationId);
      let task;
      try {
        if (src === undefined || dst === undefined) throw new Error('a data source of the task is gone');
        task = engineTaskOf(t.id, t.definition, src.source, dst.source);
      } catch (e) {
        const mark = `${t.id}@${t.revision}`;
        if (!this.#warned.has(mark)) {
          this.#warned.add(mark);
          this.#log('warn', `scheduled verification of task ${t.id} not queued: ${(e as Error).message}`);
        }
        continue;
      }
      const job = await this.#o.store.verifications.createIfDue(t.id, schedule, this.#o.now?.());
      if (job === undefined || src === undefined || dst === undefined) continue;
      this.#log('info', `task ${t.id}: scheduled verification ${job.id} (${job.mode}) queued`);
      queued.push(job);
      const run = this.#runner.startJob(job, task, src, dst);
      this.#runs.add(run);
      void run.finally(() => this.#runs.delete(run));
    }
    return queued;
  }

  /** Waits until every job this scheduler started has ended. */
  async idle(): Promise<void> {
    while (this.#runs.size > 0) await Promise.all([...this.#runs]);
  }

  /**
   * Stops ticking and waits for the look in progress. Jobs running go on until they end or the
   * process exits (a job left `running` stays so: [V6]).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#ticking;
  }

  #log(level: 'info' | 'warn', message: string): void {
    (this.#o.log ?? ((l, m) => l === 'warn' && process.stderr.write(`pgdts verify ${l}: ${m}\n`)))(
      level,
      message,
    );
  }
}
