/** What a worker keeps of a run's progress events (src/control/worker/run-observer.ts), on a fake clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_TALLY } from '../../src/core/sink.ts';
import { RunObserver } from '../../src/control/worker/run-observer.ts';

const status = (rowsApplied: number) =>
  ({
    kind: 'status',
    lagBytes: 10,
    lagMs: 5,
    rowsPerSec: 100,
    bytesPerSec: 2048,
    retainedWalBytes: 4096,
    flushedLsn: '0/10',
    rowsApplied,
    tally: EMPTY_TALLY,
  }) as const;

test('status, tables, rates, retries and log lines of a run', () => {
  let now = 1_000_000;
  const o = new RunObserver(() => now);
  o.handle({ kind: 'phase', phase: 'full' });
  o.handle({
    kind: 'table',
    table: 's.a',
    rangesDone: 1,
    rangesTotal: 2,
    rows: 500,
    bytes: 5000,
    estimatedRows: 1000,
    done: false,
  });
  now += 1000;
  let t = o.take();
  assert.equal(t.status.phase, 'full');
  assert.deepEqual(t.status.full, {
    rows: 500,
    bytes: 5000,
    rowsPerSecond: 500,
    bytesPerSecond: 5000,
    tablesDone: 0,
    tablesTotal: 1,
  });
  assert.deepEqual(
    t.tables.map((x) => x.table),
    ['s.a'],
  );
  assert.deepEqual(
    t.logs.map((l) => [l.message, l.fields.phase]),
    [['phase full', 'full']],
  );
  // Nothing changed: no table rows to write again.
  now += 1000;
  assert.deepEqual(o.take().tables, []);

  // A retry starts a run of retries; progress ends it.
  o.handle({
    kind: 'log',
    level: 'warn',
    message: 'copy: COPY_FAILED: x; retrying in 500 ms',
    retry: { code: 'COPY_FAILED', window: 'other' },
  });
  o.handle({
    kind: 'log',
    level: 'warn',
    message: 'copy: COPY_FAILED: x; retrying in 1000 ms',
    retry: { code: 'COPY_FAILED', window: 'other' },
  });
  t = o.take();
  assert.equal(t.retries, 2);
  assert.equal(t.status.retryingSince, new Date(now).toISOString());
  assert.equal(t.status.lastRetry?.code, 'COPY_FAILED');
  o.handle({
    kind: 'table',
    table: 's.a',
    rangesDone: 2,
    rangesTotal: 2,
    rows: 1000,
    bytes: 10000,
    estimatedRows: 1000,
    done: true,
  });
  t = o.take();
  assert.equal(t.status.retryingSince, null);
  assert.equal(t.retries, 0);
  assert.ok(t.logs.some((l) => /table s\.a copied: 1000 rows/.test(l.message)));

  // Incremental: the status carries lag and rates; its line goes to the log once a minute.
  o.handle({ kind: 'phase', phase: 'incremental' });
  for (let i = 0; i < 120; i++) {
    now += 1000;
    o.handle(status(i));
  }
  t = o.take();
  assert.equal(t.status.lagBytes, 10);
  assert.deepEqual(t.status.incremental, { rowsApplied: 119, rowsPerSecond: 100, bytesPerSecond: 2048 });
  assert.equal(t.logs.filter((l) => l.message.startsWith('status ')).length, 2);
});

test('what a failed write took is written by the next one', () => {
  const o = new RunObserver(() => 0);
  o.handle({
    kind: 'table',
    table: 's.b',
    rangesDone: 0,
    rangesTotal: 1,
    rows: 1,
    bytes: 1,
    estimatedRows: 1,
    done: false,
  });
  o.log('info', 'one');
  const first = o.take();
  o.log('info', 'two');
  o.restore(first);
  const second = o.take();
  assert.deepEqual(
    second.logs.map((l) => l.message),
    ['one', 'two'],
  );
  assert.deepEqual(
    second.tables.map((x) => x.table),
    ['s.b'],
  );
});
