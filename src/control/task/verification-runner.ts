/**
 * The verification jobs of one serve process ([V6], [V12]): runs the jobs its API creates, and every
 * `pollMs` takes over one job no live runner has (a heartbeat older than `leaseTimeoutMs`: its serve
 * process was killed or lost the store; or given up by a serve process that stopped), resuming it
 * from its stored progress. On stop, the jobs running here are aborted at their next statement and
 * given up (left `running` without a runner), so the next serve process takes them over at once.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_LEASE_TIMEOUT_MS, DEFAULT_POLL_MS } from '../control-defaults.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import type { ControlStore, StoredDataSource } from '../store/control-store.ts';
import type { StoredVerification } from '../store/verification-store.ts';
import { engineTaskOf } from './task-definition-schema.ts';
import { runVerification, type AfterVerification } from './run-verification.ts';

/** Options of {@link VerificationRunner}. */
export interface VerificationRunnerOptions {
  /** How often to look for jobs to take over, ms (default 1 000). */
  readonly pollMs?: number;
  /** A running job whose heartbeat is older than this is taken over, ms (default 30 000). */
  readonly leaseTimeoutMs?: number;
  /** Writes one line for the operator. */
  readonly log?: (level: 'info' | 'warn', message: string) => void;
  /** Called once each job's outcome is stored here (serve: the verification-failed alert rule). */
  readonly after?: AfterVerification;
}

/** Runs and takes over verification jobs for one serve process. */
export class VerificationRunner {
  /** This runner's id, stored in the jobs it runs. */
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly #store: ControlStore;
  readonly #pollMs: number;
  readonly #leaseTimeoutMs: number;
  readonly #heartbeatMs: number;
  readonly #log: (level: 'info' | 'warn', message: string) => void;
  readonly #after: AfterVerification | undefined;
  readonly #stop = new AbortController();
  readonly #running = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #claiming = false;

  constructor(store: ControlStore, o: VerificationRunnerOptions = {}) {
    this.#store = store;
    this.#pollMs = o.pollMs ?? DEFAULT_POLL_MS;
    this.#leaseTimeoutMs = o.leaseTimeoutMs ?? DEFAULT_LEASE_TIMEOUT_MS;
    // Several heartbeats per lease timeout: one late beat does not lose the job.
    this.#heartbeatMs = Math.min(1_000, Math.floor(this.#leaseTimeoutMs / 3));
    this.#log = o.log ?? (() => undefined);
    this.#after = o.after;
  }

  /**
   * Starts queued job `job` here, in the background; nothing when it was cancelled meanwhile.
   * @returns a promise settled once the job has ended here (never rejected: a failure to start
   *   leaves the job queued, to be taken over later).
   */
  startJob(
    job: StoredVerification,
    task: TaskConfig,
    src: StoredDataSource,
    dst: StoredDataSource,
  ): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.resolve();
    const p = this.#store.verifications
      .start(job.id, this.id)
      .then(async (running) => {
        if (running !== undefined) await this.#run(running, task, src, dst);
      })
      .catch(() => undefined);
    this.#track(p);
    return p;
  }

  /** Looks for jobs to take over every `pollMs`, until {@link stop}. */
  watch(): void {
    if (this.#timer !== undefined || this.#stop.signal.aborted) return;
    this.#timer = setInterval(() => void this.#claim(), this.#pollMs);
  }

  /** Stops looking, aborts the jobs running here and waits until they have given up. Never throws. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#stop.abort();
    await Promise.all([...this.#running]);
  }

  #track(p: Promise<void>): void {
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p));
  }

  #run(job: StoredVerification, task: TaskConfig, src: StoredDataSource, dst: StoredDataSource) {
    return runVerification(this.#store, job, task, src, dst, {
      runner: this.id,
      stop: this.#stop.signal,
      heartbeatMs: this.#heartbeatMs,
      ...(this.#after === undefined ? {} : { after: this.#after }),
    });
  }

  async #claim(): Promise<void> {
    if (this.#claiming || this.#stop.signal.aborted) return;
    this.#claiming = true;
    try {
      const job = await this.#store.verifications.claimStale(this.id, this.#leaseTimeoutMs);
      if (job === undefined) return;
      this.#log('info', `verification ${job.id} of task ${job.taskId}: taken over, resuming`);
      this.#track(this.#resume(job));
    } catch {
      // The store away: try again at the next poll.
    } finally {
      this.#claiming = false;
    }
  }

  /** Runs a taken-over job with the task's current definition and data sources. */
  async #resume(job: StoredVerification): Promise<void> {
    const jobs = this.#store.verifications;
    try {
      const t = await this.#store.tasks.get(job.taskId);
      if (t === undefined) throw new Error(`task ${job.taskId} is gone`);
      const src = await this.#store.getDataSource(t.sourceId);
      const dst = await this.#store.getDataSource(t.destinationId);
      if (src === undefined || dst === undefined) throw new Error(`a data source of task ${t.id} is gone`);
      await this.#run(job, engineTaskOf(t.id, t.definition, src.source, dst.source), src, dst);
    } catch (e) {
      await jobs
        .finish(job.id, this.id, 'error', null, e instanceof Error ? e.message : String(e))
        .catch(() => undefined);
    }
  }
}
