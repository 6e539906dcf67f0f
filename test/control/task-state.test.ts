/** The task lifecycle state machine (src/control/task/task-state.ts), every state × event, against task-states.md. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  TASK_STATES,
  transition,
  type TaskEvent,
  type TaskState,
} from '../../src/control/task/task-state.ts';

const EVENTS: readonly TaskEvent[] = [
  { kind: 'precheck' },
  { kind: 'precheck-done', passed: true },
  { kind: 'precheck-done', passed: false },
  { kind: 'edit' },
  { kind: 'start' },
  { kind: 'pause' },
  { kind: 'resume' },
  { kind: 'complete' },
  { kind: 'fail' },
  { kind: 'release' },
  { kind: 'delete' },
];

/** Where each event may lead from each state, as the table of task-states.md says. */
function expected(state: TaskState, e: TaskEvent, ranBefore: boolean): TaskState | 'deleted' | undefined {
  switch (e.kind) {
    case 'precheck':
      return ['created', 'prechecking', 'precheck-failed', 'precheck-passed', 'paused', 'failed'].includes(
        state,
      )
        ? 'prechecking'
        : undefined;
    case 'precheck-done':
      return state === 'prechecking' ? (e.passed ? 'precheck-passed' : 'precheck-failed') : undefined;
    case 'edit':
      return ['created', 'prechecking', 'precheck-failed', 'precheck-passed', 'paused', 'failed'].includes(
        state,
      )
        ? 'created'
        : undefined;
    case 'start':
      return state === 'precheck-passed' ? 'running' : undefined;
    case 'pause':
      return state === 'running' ? 'paused' : undefined;
    case 'resume':
      return state === 'paused' || state === 'failed' ? 'running' : undefined;
    case 'complete':
      return state === 'running' ? 'completed' : undefined;
    case 'fail':
      return state === 'running' ? 'failed' : undefined;
    case 'release':
      return state === 'running' || state === 'released' ? undefined : 'released';
    case 'delete':
      return state === 'released' ||
        state === 'completed' ||
        (!ranBefore && ['created', 'prechecking', 'precheck-failed', 'precheck-passed'].includes(state))
        ? 'deleted'
        : undefined;
  }
}

test('every state × event follows the table of task-states.md; refusals say why and what to do', () => {
  for (const ran of [false, true]) {
    for (const s of TASK_STATES) {
      for (const e of EVENTS) {
        const t = transition(s, e, ran);
        const want = expected(s, e, ran);
        if (want === undefined) {
          assert.equal(t.ok, false, `${s} --${e.kind}--> should be refused`);
          if (!t.ok) {
            assert.ok(t.reason.length > 0 && t.hint.length > 0, `${s} ${e.kind}: reason and hint`);
          }
        } else {
          assert.deepEqual(t, { ok: true, to: want }, `${s} --${e.kind}${ran ? ' (ran)' : ''}-->`);
        }
      }
    }
  }
});

test('[S2] only a passed precheck leads to running from a task that never ran', () => {
  // Breadth-first over the transitions from created, without precheck-done passed: running is not reached.
  const reachable = new Set<TaskState>(['created']);
  const queue: TaskState[] = ['created'];
  while (queue.length > 0) {
    const s = queue.shift() as TaskState;
    for (const e of EVENTS) {
      if (e.kind === 'precheck-done' && e.passed) continue;
      const t = transition(s, e, false);
      if (t.ok && t.to !== 'deleted' && !reachable.has(t.to)) {
        reachable.add(t.to);
        queue.push(t.to);
      }
    }
  }
  assert.ok(!reachable.has('running'), [...reachable].join(', '));
  assert.ok(!reachable.has('precheck-passed'));
});

test('[S6] [S7] [S8] terminal and guarded states', () => {
  // released is terminal: nothing but delete leaves it.
  for (const e of EVENTS) {
    const t = transition('released', e, true);
    assert.equal(t.ok && t.to !== 'deleted', false, `released --${e.kind}-->`);
  }
  // A task that ran is deleted only once released (or completed).
  for (const s of TASK_STATES) {
    const t = transition(s, { kind: 'delete' }, true);
    assert.equal(t.ok, s === 'released' || s === 'completed', s);
  }
  // No release of a running task (the API pauses it first).
  assert.equal(transition('running', { kind: 'release' }, true).ok, false);
});
