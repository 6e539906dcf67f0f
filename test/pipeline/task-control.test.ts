/**
 * What a running task takes from a changed task file: the throttle, applied to the shared limiters;
 * every other changed key is named and refused; invalid throttle values are refused naming the key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/core/errors.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { changedKeys, refusedChangeMessage, TaskControl } from '../../src/pipeline/task-control.ts';

const doc = {
  name: 'ctl',
  source: { type: 'postgresql', url: 'postgresql://u:secret@127.0.0.1:5432/app' },
  destination: { type: 'postgresql', host: '127.0.0.1', port: 5433, user: 'u', database: 'app' },
  syncTypes: ['schema', 'full', 'incremental'],
  objects: [{ schema: 'public' }],
  full: { jobs: 2, throttle: { queriesPerSecond: 50, rowsPerSecond: 20_000 } },
  incremental: { throttle: { megabytesPerSecond: 2 } },
};

test('task file throttle keys: all optional, each more than 0, no other key', () => {
  const t = parseTaskConfig(doc);
  assert.deepEqual(t.full.throttle, { queriesPerSecond: 50, rowsPerSecond: 20_000 });
  assert.deepEqual(parseTaskConfig({ ...doc, full: {}, incremental: {} }).incremental.throttle, {});
  const refused = (d: unknown) => {
    try {
      parseTaskConfig(d);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
    assert.fail('expected a refusal');
  };
  assert.match(
    refused({ ...doc, full: { throttle: { rowsPerSecond: 0 } } }),
    /^full\.throttle\.rowsPerSecond: must be more than 0 rows per second/,
  );
  assert.match(
    refused({ ...doc, incremental: { throttle: { megabytesPerSecond: -1 } } }),
    /^incremental\.throttle\.megabytesPerSecond: must be more than 0 MB per second/,
  );
  assert.match(
    refused({ ...doc, incremental: { throttle: { queriesPerSecond: 5 } } }),
    /^incremental\.throttle\.queriesPerSecond: unknown key/,
  );
  assert.match(
    refused({ ...doc, full: { throttle: { rowsPerSecond: '100' } } }),
    /^full\.throttle\.rowsPerSecond: must be a number/,
  );
});

test('reload applies the throttle at once and refuses every other changed key by name', () => {
  const running = parseTaskConfig(doc);
  const control = new TaskControl(running);
  assert.equal(control.full.flow.rows.ratePerSecond, 20_000);
  assert.equal(control.incremental.bytes.ratePerSecond, 2 * 1024 * 1024);
  const next = parseTaskConfig({
    ...doc,
    source: { ...doc.source, url: 'postgresql://u:other-secret@127.0.0.1:5432/app' },
    full: { jobs: 2, throttle: { rowsPerSecond: 40_000, megabytesPerSecond: 10 } },
    incremental: { batchMaxRows: 500, throttle: { megabytesPerSecond: 2 } },
  });
  const r = control.reload(next);
  assert.deepEqual(r.refused, ['incremental.batchMaxRows', 'source.url']);
  assert.deepEqual(r.applied, [
    { key: 'full.throttle.megabytesPerSecond', from: undefined, to: 10 },
    { key: 'full.throttle.queriesPerSecond', from: 50, to: undefined },
    { key: 'full.throttle.rowsPerSecond', from: 20_000, to: 40_000 },
  ]);
  assert.equal(control.full.queries.ratePerSecond, undefined, 'a limit left out is lifted');
  assert.equal(control.full.flow.rows.ratePerSecond, 40_000);
  assert.equal(control.full.flow.bytes.ratePerSecond, 10 * 1024 * 1024);
  assert.equal(control.incremental.bytes.ratePerSecond, 2 * 1024 * 1024);
  assert.equal(
    refusedChangeMessage('incremental.batchMaxRows'),
    'incremental.batchMaxRows changed: only full.throttle and incremental.throttle can change while running; restart to apply',
  );
  // Refused keys stay refused: the running task keeps its values.
  assert.deepEqual(control.reload(next).refused, ['incremental.batchMaxRows', 'source.url']);
  assert.deepEqual(control.reload(next).applied, []);
  // No secret in what is reported: key names only.
  assert.doesNotMatch(JSON.stringify(r), /secret/);
});

test('updateThrottle (the control plane): one side at a time, invalid values refused naming the task file key', () => {
  const control = new TaskControl(parseTaskConfig(doc));
  assert.deepEqual(control.updateThrottle({ incremental: { rowsPerSecond: 100 } }), [
    { key: 'incremental.throttle.megabytesPerSecond', from: 2, to: undefined },
    { key: 'incremental.throttle.rowsPerSecond', from: undefined, to: 100 },
  ]);
  assert.equal(control.incremental.rows.ratePerSecond, 100);
  assert.equal(control.full.flow.rows.ratePerSecond, 20_000, 'the full side is kept');
  for (const [bad, message] of [
    [{ full: { rowsPerSecond: 0 } }, /^full\.throttle\.rowsPerSecond: must be more than 0/],
    [{ incremental: { queriesPerSecond: 1 } }, /^incremental\.throttle\.queriesPerSecond: unknown key/],
    [{ everything: {} }, /^everything: unknown key \(give full and\/or incremental\)/],
    [{ full: 5 }, /^full\.throttle: /],
  ] as const) {
    assert.throws(
      () => control.updateThrottle(bad),
      (e) => e instanceof ConfigError && message.test(e.message),
    );
  }
  assert.equal(control.incremental.rows.ratePerSecond, 100, 'nothing changed');
  assert.deepEqual(control.throttle, {
    full: { queriesPerSecond: 50, rowsPerSecond: 20_000 },
    incremental: { rowsPerSecond: 100 },
  });
});

test('changedKeys compares objects key by key and arrays as a whole', () => {
  assert.deepEqual(changedKeys({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 1, c: [2, 1] }, e: 1 }), [
    'a.c',
    'd',
    'e',
  ]);
  assert.deepEqual(changedKeys({ a: 1 }, { a: 1 }), []);
});
