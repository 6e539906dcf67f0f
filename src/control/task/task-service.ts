/**
 * What the task routes do, apart from HTTP: create, edit, precheck, start, pause, resume, release and
 * delete a task through the lifecycle of task-state.ts, each transition one conditional UPDATE
 * (task-states.md S1). Errors are PgdtsErrors with the API's codes: NOT_FOUND, CONFLICT (a state that
 * does not allow it, with the state found), CONFIG_INVALID (a definition breaking a rule, naming it).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, PgdtsError } from '../../core/errors.ts';
import { runPrechecks } from '../../pipeline/precheck/index.ts';
import { releaseTask, type ReleaseReport } from '../../pipeline/release-task.ts';
import { invalidInput } from '../api/api-error.ts';
import { openSinkOf, openSourceOf } from '../data-source/open-data-source.ts';
import type { ControlStore, StoredDataSource } from '../store/control-store.ts';
import type { StoredPrecheckItem, StoredTask } from '../store/task-store.ts';
import type { StoredVerification, StoredVerifyMode } from '../store/verification-store.ts';
import { VerificationRunner } from './verification-runner.ts';
import { DEFAULT_LEASE_TIMEOUT_MS } from '../control-defaults.ts';
import { TaskLockSession } from '../worker/task-lock-session.ts';
import {
  checkAgainstDataSources,
  engineTaskOf,
  mergeDefinitionPatch,
  nonLiveChanges,
  parseTaskDefinition,
  type TaskDefinitionInput,
} from './task-definition-schema.ts';
import { transition, type TaskEvent, type TaskState } from './task-state.ts';

/** A new task id: `t` and 12 base-36 digits from 8 random bytes. */
export function newTaskId(): string {
  const n = randomBytes(8).readBigUInt64BE() % 36n ** 12n;
  return `t${n.toString(36).padStart(12, '0')}`;
}

/** The task id the engine task of a definition being validated gets (any valid id would do). */
const VALIDATION_TASK_ID = 't000000000000';

/** How long release waits for the worker of a paused task to let it go, ms. */
const RELEASE_WAIT_MS = 60_000;

/** The outcome of one precheck run. */
export interface PrecheckOutcomeView {
  readonly task: StoredTask;
  readonly items: readonly (StoredPrecheckItem & { readonly ignored: boolean })[];
  readonly passed: boolean;
}

/** The task operations of one store. */
export class TaskService {
  /**
   * @param runner runs this process's verification jobs (serve's, which also takes stale ones
   *   over); default one that only runs the jobs created here.
   */
  constructor(
    private readonly store: ControlStore,
    private readonly runner: VerificationRunner = new VerificationRunner(store),
  ) {}

  /**
   * Validates and stores a new task in state `created`.
   * @param input the definition as given (stored as such).
   * @throws {PgdtsError} CONFIG_INVALID naming the key (an unknown data source included).
   */
  async create(input: unknown): Promise<StoredTask> {
    const { def } = await this.#validate(input);
    return this.store.tasks.create({
      id: newTaskId(),
      name: def.name,
      sourceId: def.source.dataSource,
      destinationId: def.destination.dataSource,
      definition: input as TaskDefinitionInput,
    });
  }

  /** @throws {PgdtsError} NOT_FOUND */
  async get(id: string): Promise<StoredTask> {
    const t = await this.store.tasks.get(id);
    if (t === undefined) throw notFound(id);
    return t;
  }

  /**
   * Applies a JSON merge patch to the definition (S4): keys under LIVE_KEYS change in any state but
   * released (a running task takes them without a restart); any other key needs a stopped task and
   * moves it back to `created`.
   * @throws {PgdtsError} NOT_FOUND, CONFLICT, CONFIG_INVALID.
   */
  async patch(id: string, patch: unknown): Promise<StoredTask> {
    const t = await this.get(id);
    const merged = mergeDefinitionPatch(t.definition, patch) as TaskDefinitionInput;
    const { def } = await this.#validate(merged);
    if (def.source.dataSource !== t.sourceId || def.destination.dataSource !== t.destinationId) {
      if (t.startedAt !== null) {
        throw new PgdtsError('CONFLICT', `task ${id} has run: its source and destination cannot change`, {
          hint: 'create a new task',
        });
      }
    }
    const nonLive = nonLiveChanges(t.definition, merged);
    if (t.state === 'released' || t.state === 'completed') {
      throw conflict(id, t.state, { reason: `the task is ${t.state}`, hint: 'create a new task' });
    }
    let move: { fromState: TaskState; toState: TaskState } | undefined;
    if (nonLive.length > 0) {
      const tr = transition(t.state, { kind: 'edit' }, t.startedAt !== null);
      if (!tr.ok) throw conflict(id, t.state, tr, nonLive);
      move = { fromState: t.state, toState: tr.to === 'deleted' ? 'created' : tr.to };
    }
    const updated = await this.store.tasks.editDefinition(id, t.revision, merged, move);
    if (updated === undefined) throw raced(id);
    if (def.source.dataSource !== t.sourceId || def.destination.dataSource !== t.destinationId) {
      // Columns follow the definition (the foreign keys keep data sources in use from deletion).
      await this.store.tasks.setEndpoints(id, def.source.dataSource, def.destination.dataSource);
    }
    return (await this.store.tasks.get(id)) ?? updated;
  }

  /**
   * Runs the precheck of the current definition and stores its items (S2, S3): passed when no item
   * fails and every warning is ignored.
   * @throws {PgdtsError} NOT_FOUND, CONFLICT (the state does not allow a precheck, or the task was
   *   edited while it ran).
   */
  async precheck(id: string): Promise<PrecheckOutcomeView> {
    const t = await this.get(id);
    const tr = transition(t.state, { kind: 'precheck' }, t.startedAt !== null);
    if (!tr.ok) throw conflict(id, t.state, tr);
    const started = await this.store.tasks.transition(id, t.state, 'prechecking', {
      precheckRevision: t.revision,
      precheckStarted: true,
    });
    if (started === undefined || started.revision !== t.revision) throw raced(id);
    let items: StoredPrecheckItem[];
    try {
      const { src, dst } = await this.#dataSources(started);
      const task = engineTaskOf(id, started.definition, src.source, dst.source);
      const results = await runPrechecks(task, {
        openSource: () => openSourceOf(task, src.source),
        openSink: () => openSinkOf(task, dst.source, src.source),
      });
      items = results.map((r) => ({ ...r, ignorable: r.status === 'warn' }));
    } catch (e) {
      // The precheck itself could not run: record that as its one failed item.
      const err =
        e instanceof PgdtsError ? e : new PgdtsError('INTERNAL', (e as Error).message, { cause: e });
      items = [
        {
          id: 'precheck',
          title: 'Precheck',
          status: 'fail',
          message: `${err.code}: ${err.message}`,
          ...(err.hint !== undefined ? { fix: err.hint } : {}),
          ignorable: false,
        },
      ];
    }
    const ignored = new Set(started.ignoredItems);
    const passed = items.every((i) => i.status === 'pass' || (i.status === 'warn' && ignored.has(i.id)));
    const done = await this.store.tasks.finishPrecheck(id, started.revision, items, passed);
    if (done === undefined) {
      throw new PgdtsError('CONFLICT', `task ${id} was changed while its precheck ran: its result is stale`, {
        hint: 'run the precheck again',
      });
    }
    return { task: done, items: items.map((i) => ({ ...i, ignored: ignored.has(i.id) })), passed };
  }

  /** The last stored precheck of `id`. @throws {PgdtsError} NOT_FOUND */
  async precheckReport(id: string): Promise<PrecheckOutcomeView> {
    const t = await this.get(id);
    const items = await this.store.tasks.precheckItems(id);
    const ignored = new Set(t.ignoredItems);
    return {
      task: t,
      items: items.map((i) => ({ ...i, ignored: ignored.has(i.id) })),
      passed: t.state === 'precheck-passed',
    };
  }

  /**
   * Marks a warning of the last precheck ignored (S3); the next precheck counts it as passed.
   * @throws {PgdtsError} NOT_FOUND (task or item), CONFLICT (a fail, or a running task).
   */
  async ignore(id: string, item: string): Promise<StoredTask> {
    const t = await this.get(id);
    const items = await this.store.tasks.precheckItems(id);
    const it = items.find((i) => i.id === item);
    if (it === undefined) {
      throw new PgdtsError('NOT_FOUND', `the last precheck of task ${id} has no item ${item}`, {
        hint: `GET /api/v1/tasks/${id}/precheck lists them`,
      });
    }
    if (!it.ignorable) {
      throw new PgdtsError(
        'CONFLICT',
        `precheck item ${item} of task ${id} is ${it.status === 'fail' ? 'a failure, which cannot be ignored' : 'not a warning'}`,
        { hint: it.fix ?? 'fix what it reports, then run the precheck again' },
      );
    }
    if (t.state === 'running' || t.state === 'released' || t.state === 'completed') {
      throw conflict(id, t.state, { reason: `the task is ${t.state}`, hint: 'nothing to ignore now' });
    }
    const updated = await this.store.tasks.ignoreItem(id, item);
    if (updated === undefined) throw notFound(id);
    return updated;
  }

  /** start, pause, resume: one transition. @throws {PgdtsError} NOT_FOUND, CONFLICT */
  async act(id: string, kind: 'start' | 'pause' | 'resume'): Promise<StoredTask> {
    const t = await this.get(id);
    const event: TaskEvent = { kind };
    const tr = transition(t.state, event, t.startedAt !== null);
    if (!tr.ok) throw conflict(id, t.state, tr);
    if (tr.to === 'deleted') throw new PgdtsError('INTERNAL', 'unexpected transition');
    const updated = await this.store.tasks.transition(id, t.state, tr.to, {
      ...(kind === 'start' || kind === 'resume' ? { started: true, lastError: null } : {}),
    });
    if (updated === undefined) throw raced(id);
    return updated;
  }

  /**
   * Releases a task (S7): pauses it when running, waits until no worker holds it and holds its lock
   * meanwhile, drops the slot, the publication and the DDL capture on the source and the bookkeeping
   * in the destination (each only if pgdts made it), then moves it to `released`.
   * @throws {PgdtsError} NOT_FOUND, CONFLICT (released already, or the worker did not let go within
   *   60 s), and the connectors' errors (the task stays as it was: release again).
   */
  async release(id: string): Promise<{ task: StoredTask; report: ReleaseReport | undefined }> {
    let t = await this.get(id);
    if (t.state === 'running') t = await this.act(id, 'pause');
    const tr = transition(t.state, { kind: 'release' }, t.startedAt !== null);
    if (!tr.ok) throw conflict(id, t.state, tr);
    const locks = await TaskLockSession.open(this.store.url, DEFAULT_LEASE_TIMEOUT_MS);
    try {
      const deadline = Date.now() + RELEASE_WAIT_MS;
      while (!(await locks.tryLock(t.lockKey))) {
        if (Date.now() > deadline) {
          throw new PgdtsError(
            'CONFLICT',
            `task ${id} is still run by worker ${t.workerId ?? '?'} after ${RELEASE_WAIT_MS / 1000} s`,
            {
              hint: 'check that worker, then release again',
            },
          );
        }
        await sleep(250);
      }
      const fresh = await this.get(id);
      const again = transition(fresh.state, { kind: 'release' }, fresh.startedAt !== null);
      if (!again.ok) throw conflict(id, fresh.state, again);
      let report: ReleaseReport | undefined;
      if (fresh.startedAt !== null) {
        const { src, dst } = await this.#dataSources(fresh);
        const task = engineTaskOf(id, fresh.definition, src.source, dst.source);
        const sink = await openSinkOf(task, dst.source, src.source);
        const source = openSourceOf(task, src.source);
        try {
          report = await releaseTask(task, { source, sink });
        } finally {
          await Promise.all([source.close(), sink.close()]);
        }
      }
      const released = await this.store.tasks.transition(id, fresh.state, 'released', { workerId: null });
      if (released === undefined) throw raced(id);
      return { task: released, report };
    } finally {
      await locks.close();
    }
  }

  /** Deletes a task (S8). @throws {PgdtsError} NOT_FOUND, CONFLICT */
  async delete(id: string): Promise<void> {
    const t = await this.get(id);
    const tr = transition(t.state, { kind: 'delete' }, t.startedAt !== null);
    if (!tr.ok) throw conflict(id, t.state, tr);
    if (!(await this.store.tasks.delete(id, t.state))) throw raced(id);
  }

  /** Validates a definition as a whole and against its data sources. */
  async #validate(input: unknown): Promise<{ def: ReturnType<typeof parseTaskDefinition> }> {
    let def: ReturnType<typeof parseTaskDefinition>;
    try {
      def = parseTaskDefinition(input);
    } catch (e) {
      throw asInvalidInput(e);
    }
    const src = await this.store.getDataSource(def.source.dataSource);
    if (src === undefined)
      throw invalidInput([{ field: 'source.dataSource', rule: `no data source ${def.source.dataSource}` }]);
    const dst = await this.store.getDataSource(def.destination.dataSource);
    if (dst === undefined) {
      throw invalidInput([
        { field: 'destination.dataSource', rule: `no data source ${def.destination.dataSource}` },
      ]);
    }
    try {
      checkAgainstDataSources(def, src.source, dst.source);
      // The engine task's rules too (a Kafka destination's keys, e.g. transactional.id only with
      // exactly-once), so that a definition the worker would refuse is refused here, naming the key.
      engineTaskOf(VALIDATION_TASK_ID, input as TaskDefinitionInput, src.source, dst.source);
    } catch (e) {
      throw asInvalidInput(e);
    }
    return { def };
  }

  /**
   * Starts a verification job of task `id` ([V6]) in this process and returns it `queued`; it runs
   * in the background (`GET .../verifications/{id}` follows it).
   * @param tables destination `schema.table` names to compare; undefined: all the task's tables.
   * @param chunkRows rows per compared key chunk; undefined: the verify default (100 000).
   * @throws {PgdtsError} NOT_FOUND, CONFLICT (a job of this task is queued or running),
   *   CONFIG_INVALID (a data source is gone).
   */
  async verify(
    id: string,
    mode: StoredVerifyMode,
    tables?: readonly string[],
    chunkRows?: number,
  ): Promise<StoredVerification> {
    const t = await this.get(id);
    const { src, dst } = await this.#dataSources(t);
    const task = engineTaskOf(id, t.definition, src.source, dst.source);
    const job = await this.store.verifications.create(id, mode, tables ?? null, chunkRows ?? null);
    void this.runner.startJob(job, task, src, dst);
    return job;
  }

  /**
   * Cancels verification `vid` of task `id` [V12]: a queued job is `cancelled` at once (200), a
   * running one gets the cancel recorded (202) and ends `cancelled` within about a second, at its
   * runner's next heartbeat, keeping the results of the tables it finished.
   * @throws {PgdtsError} NOT_FOUND (task or job), CONFLICT (the job has ended).
   */
  async cancelVerification(id: string, vid: string): Promise<StoredVerification> {
    const v = await this.verification(id, vid);
    const c = await this.store.verifications.cancel(id, vid);
    if (c === undefined) {
      const now = (await this.store.verifications.get(id, vid)) ?? v;
      throw new PgdtsError('CONFLICT', `verification ${vid} has ended (${now.status})`, {
        hint: `GET /api/v1/tasks/${id}/verifications/${vid} shows its results`,
      });
    }
    return c;
  }

  /** The verification jobs of task `id`, newest first. @throws {PgdtsError} NOT_FOUND */
  async verifications(id: string): Promise<StoredVerification[]> {
    await this.get(id);
    return this.store.verifications.list(id);
  }

  /** Verification `vid` of task `id`. @throws {PgdtsError} NOT_FOUND (task or job) */
  async verification(id: string, vid: string): Promise<StoredVerification> {
    await this.get(id);
    const v = await this.store.verifications.get(id, vid);
    if (v === undefined) {
      throw new PgdtsError('NOT_FOUND', `task ${id} has no verification ${vid}`, {
        hint: `GET /api/v1/tasks/${id}/verifications lists them`,
      });
    }
    return v;
  }

  async #dataSources(t: StoredTask): Promise<{ src: StoredDataSource; dst: StoredDataSource }> {
    const src = await this.store.getDataSource(t.sourceId);
    const dst = await this.store.getDataSource(t.destinationId);
    if (src === undefined) throw new ConfigError('source.dataSource', `no data source ${t.sourceId}`);
    if (dst === undefined)
      throw new ConfigError('destination.dataSource', `no data source ${t.destinationId}`);
    return { src, dst };
  }
}

/** A ConfigError as the API's field issues (field = its key path). */
function asInvalidInput(e: unknown): unknown {
  if (!(e instanceof ConfigError)) return e;
  const issues = e.message.split('; ').map((part) => {
    const at = part.indexOf(': ');
    return at < 0 ? { field: e.path, rule: part } : { field: part.slice(0, at), rule: part.slice(at + 2) };
  });
  return invalidInput(issues);
}

function notFound(id: string): PgdtsError {
  return new PgdtsError('NOT_FOUND', `no task ${id}`, { hint: 'GET /api/v1/tasks lists them' });
}

function raced(id: string): PgdtsError {
  return new PgdtsError('CONFLICT', `task ${id} changed meanwhile (another request or its worker)`, {
    hint: `GET /api/v1/tasks/${id} shows its state; try again`,
  });
}

function conflict(
  id: string,
  state: TaskState,
  tr: { readonly reason: string; readonly hint: string },
  keys?: readonly string[],
): PgdtsError {
  return new PgdtsError(
    'CONFLICT',
    `task ${id}: ${tr.reason}${keys !== undefined ? ` (changed: ${keys.join(', ')})` : ''}`,
    { hint: `${tr.hint} (state ${state})` },
  );
}
