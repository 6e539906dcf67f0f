/**
 * The lifecycle of a control plane task as a pure state machine (no I/O): which event moves which
 * state where. The store applies a transition with a conditional UPDATE (`WHERE state = <from>`), so
 * two requests racing on one task cannot both apply. States, events and invariants: task-states.md;
 * tests cite the invariants as [S1]...[S9].
 */

/** The states of a task, in the order a task usually passes them. */
export const TASK_STATES = [
  'created',
  'prechecking',
  'precheck-failed',
  'precheck-passed',
  'running',
  'paused',
  'completed',
  'failed',
  'released',
] as const;

/** One of {@link TASK_STATES}. */
export type TaskState = (typeof TASK_STATES)[number];

/** What happens to a task. */
export type TaskEvent =
  /** POST .../precheck: a precheck starts. */
  | { readonly kind: 'precheck' }
  /** The precheck ended: `passed` when no item fails and every warning is ignored. */
  | { readonly kind: 'precheck-done'; readonly passed: boolean }
  /** PATCH of a key a running task cannot take (see task-definition-schema.ts LIVE_KEYS). */
  | { readonly kind: 'edit' }
  /** POST .../start */
  | { readonly kind: 'start' }
  /** POST .../pause */
  | { readonly kind: 'pause' }
  /** POST .../resume */
  | { readonly kind: 'resume' }
  /** The worker running it finished a task without incremental sync. */
  | { readonly kind: 'complete' }
  /** The worker running it got an error its retry windows could not overcome. */
  | { readonly kind: 'fail' }
  /** POST .../release (the task is no longer run by any worker). */
  | { readonly kind: 'release' }
  /** DELETE (the task's row goes). */
  | { readonly kind: 'delete' };

/** Where an event leads: a state, or a refusal saying why and what to do. */
export type Transition =
  | { readonly ok: true; readonly to: TaskState | 'deleted' }
  | { readonly ok: false; readonly reason: string; readonly hint: string };

const refuse = (reason: string, hint: string): Transition => ({ ok: false, reason, hint });
const to = (s: TaskState | 'deleted'): Transition => ({ ok: true, to: s });

/** States from which a task has never run: nothing exists on the source yet. */
const NEVER_RAN: readonly TaskState[] = ['created', 'prechecking', 'precheck-failed', 'precheck-passed'];

/**
 * The transition of `event` in `state`. `ranBefore` says whether the task was ever started (then
 * it may own a slot, a publication and bookkeeping that only release removes) [S8].
 */
export function transition(state: TaskState, event: TaskEvent, ranBefore: boolean): Transition {
  switch (event.kind) {
    case 'precheck':
      // [S3] A precheck runs on a stopped task only: its result is for the definition as it stands.
      switch (state) {
        case 'created':
        case 'precheck-failed':
        case 'precheck-passed':
        case 'prechecking':
        case 'failed':
        case 'paused':
          return to('prechecking');
        case 'running':
          return refuse('the task is running', 'a running task passed its precheck already');
        case 'completed':
        case 'released':
          return refuse(`the task is ${state}`, 'create a new task');
      }
      break;
    case 'precheck-done':
      return state === 'prechecking'
        ? to(event.passed ? 'precheck-passed' : 'precheck-failed')
        : refuse(`the task is ${state}, not prechecking`, 'run the precheck again');
    case 'edit':
      // [S4] A definition change makes the last precheck stale: the task needs a new one.
      switch (state) {
        case 'created':
        case 'prechecking':
        case 'precheck-failed':
        case 'precheck-passed':
        case 'paused':
        case 'failed':
          return to('created');
        case 'running':
          return refuse(
            'the task is running: only name, alerts, full.throttle and incremental.throttle change while it runs',
            'pause it, change it, precheck it and start it again',
          );
        case 'completed':
        case 'released':
          return refuse(`the task is ${state}`, 'create a new task');
      }
      break;
    case 'start':
      // [S2] Only a passed precheck of the current definition starts a task.
      switch (state) {
        case 'precheck-passed':
          return to('running');
        case 'created':
        case 'prechecking':
        case 'precheck-failed':
          return refuse(
            `the task is ${state}: it needs a passed precheck of its current definition`,
            'POST .../precheck, ignore what may be ignored, precheck again until it passes',
          );
        case 'paused':
        case 'failed':
          return refuse(`the task is ${state}`, 'resume it (POST .../resume)');
        case 'running':
          return refuse('the task is running already', 'nothing to do');
        case 'completed':
        case 'released':
          return refuse(`the task is ${state}`, 'create a new task');
      }
      break;
    case 'pause':
      return state === 'running'
        ? to('paused')
        : refuse(`the task is ${state}, not running`, 'only a running task pauses');
    case 'resume':
      // [S5] A failed task keeps its checkpoint: resuming it continues where it stopped.
      return state === 'paused' || state === 'failed'
        ? to('running')
        : refuse(`the task is ${state}`, 'only a paused or failed task resumes; a new one starts');
    case 'complete':
    case 'fail':
      // [S6] Only the worker of a running task ends it: a pause or release meanwhile wins.
      return state === 'running'
        ? to(event.kind === 'complete' ? 'completed' : 'failed')
        : refuse(`the task is ${state}, not running`, 'nothing to do');
    case 'release':
      // [S7] Release runs while no worker runs the task (the releasing process holds its lock).
      return state === 'released'
        ? refuse('the task is released already', 'nothing to do')
        : state === 'running'
          ? refuse('the task is running', 'pause it first (the API does so on release)')
          : to('released');
    case 'delete':
      // [S8] A task that ran may own a slot and a publication on the source: release it first.
      return state === 'released' || (NEVER_RAN.includes(state) && !ranBefore) || state === 'completed'
        ? to('deleted')
        : refuse(
            `the task is ${state} and may own a replication slot and a publication on the source`,
            'release it first (POST .../release), then delete it',
          );
  }
}
