/**
 * The retry windows (task file `retry.connectionMinutes`, `retry.otherMinutes`) on a fake clock:
 * each window is timed from the first failure of its kind, progress restarts both, a window that
 * runs out ends the step with the last error. Sans-I/O: hours of retrying take milliseconds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CancelledError, PgdtsError } from '../../src/core/errors.ts';
import type { RetryWindow } from '../../src/core/sqlstate.ts';
import { RetryState, withRetry, type RetryClock, type RetryPolicy } from '../../src/pipeline/retry.ts';

const MIN = 60_000;

/** A clock whose sleeps pass at once, advancing its time. */
class FakeClock implements RetryClock {
  t = 1_000_000;
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw new CancelledError();
    this.sleeps.push(ms);
    this.t += ms;
    await Promise.resolve();
  }
}

const base = {
  connectionWindowMs: 720 * MIN,
  otherWindowMs: 10 * MIN,
  initialDelayMs: 500,
  maxDelayMs: 30_000,
};

function failure(window: RetryWindow, what: string = window): PgdtsError {
  return new PgdtsError('APPLY_FAILED', `${what} failure`, { retryable: true, retryWindow: window });
}

interface Outcome {
  error: unknown;
  attempts: number;
  elapsedMs: number;
  gaveUp: { window: RetryWindow; failingForMs: number } | undefined;
  retries: RetryWindow[];
  sleeps: number[];
}

/** Runs withRetry over `attempt` (called with its number, from 0) on a fake clock. */
async function run(
  attempt: (n: number, progress: () => void, clock: FakeClock) => void,
  policy: Partial<RetryPolicy> = {},
  signal = new AbortController().signal,
): Promise<Outcome> {
  const clock = new FakeClock();
  const start = clock.t;
  let attempts = 0;
  let gaveUp: Outcome['gaveUp'];
  const retries: RetryWindow[] = [];
  let error: unknown;
  try {
    await withRetry(
      {
        ...base,
        ...policy,
        clock,
        random: () => 0.5,
        onRetry: (_e, _ms, _what, w) => retries.push(w),
        onGiveUp: (_e, _what, window, failingForMs) => (gaveUp = { window, failingForMs }),
      },
      signal,
      'test step',
      (progress) => {
        attempt(attempts++, progress, clock);
        return Promise.resolve();
      },
    );
  } catch (e) {
    error = e;
  }
  return { error, attempts, elapsedMs: clock.t - start, gaveUp, retries, sleeps: clock.sleeps };
}

test('an error of the other window is retried for retry.otherMinutes, then the last error ends the step', async () => {
  let last: PgdtsError | undefined;
  const r = await run((n) => {
    last = failure('other', `deadlock ${n}`);
    throw last;
  });
  assert.equal(r.error, last, 'the last error, unchanged');
  assert.equal(r.gaveUp?.window, 'other');
  // The last wait still ended inside the window; one more would not have.
  assert.ok(r.elapsedMs <= 10 * MIN && r.elapsedMs > 10 * MIN - 30_000, `${r.elapsedMs} ms`);
  assert.equal(r.gaveUp?.failingForMs, r.elapsedMs);
  assert.ok(r.retries.every((w) => w === 'other'));
  // Backoff: 500 ms doubling up to 30 s, jitter at its middle (3/4 of the wait): 6 waits make 23.6 s,
  // then 22.5 s each.
  assert.equal(r.attempts, 1 + 6 + Math.floor((10 * MIN - 23_625) / 22_500));
  assert.deepEqual(r.sleeps.slice(0, 8), [375, 750, 1500, 3000, 6000, 12000, 22500, 22500]);
});

test('a connection failure is retried for retry.connectionMinutes (12 hours by default)', async () => {
  const r = await run(() => {
    throw failure('connection');
  });
  assert.equal(r.gaveUp?.window, 'connection');
  assert.ok(r.elapsedMs <= 720 * MIN && r.elapsedMs > 720 * MIN - 30_000, `${r.elapsedMs} ms`);
  const short = await run(
    () => {
      throw failure('connection');
    },
    { connectionWindowMs: 10 * MIN },
  );
  assert.ok(short.elapsedMs <= 10 * MIN && short.elapsedMs > 10 * MIN - 30_000);
});

test('each window is timed from the first failure of its kind: connection failures do not use up the other window', async () => {
  // 9 minutes of connection failures, then other errors: those get their own 10 minutes.
  const r = await run((_n, _p, clock) => {
    throw failure(clock.t - 1_000_000 < 9 * MIN ? 'connection' : 'other');
  });
  assert.equal(r.gaveUp?.window, 'other');
  assert.ok(r.elapsedMs > 18 * MIN && r.elapsedMs <= 19 * MIN + 30_000, `${r.elapsedMs} ms`);
  // An other error now and then among connection failures: its window keeps counting from the first,
  // and ends the step at the first other error that would wait past it (every 5th attempt here).
  const mixed = await run((n) => {
    throw failure(n % 5 === 0 ? 'other' : 'connection');
  });
  assert.equal(mixed.gaveUp?.window, 'other');
  assert.ok(mixed.elapsedMs <= 10 * MIN + 5 * 22_500, `${mixed.elapsedMs} ms`);
});

test('progress restarts both windows and the backoff', async () => {
  // Fails for 8 minutes, works a little, fails again: never 10 minutes in a row.
  let sinceProgress = 0;
  const r = await run((n, progress, clock) => {
    if (n === 200) return;
    if (clock.t - sinceProgress >= 8 * MIN) {
      sinceProgress = clock.t;
      progress();
    }
    throw failure(n % 2 === 0 ? 'other' : 'connection');
  });
  assert.equal(r.error, undefined, 'succeeded at attempt 200');
  assert.ok(r.elapsedMs > 60 * MIN, `${r.elapsedMs} ms: outlived both windows many times over`);

  const s = new RetryState({ ...base, otherWindowMs: 10_000 }, () => 0.5);
  assert.deepEqual(s.failed('other', 0), { retry: true, window: 'other', delayMs: 375 });
  assert.deepEqual(s.failed('other', 375), { retry: true, window: 'other', delayMs: 750 });
  assert.deepEqual(s.failed('other', 9_500), { retry: false, window: 'other', failingForMs: 9_500 });
  s.progress();
  assert.deepEqual(s.failed('other', 9_600), { retry: true, window: 'other', delayMs: 375 });
});

test('a non-retryable error passes at once; a stop during the wait is a CancelledError', async () => {
  const fatal = new PgdtsError('APPLY_CONFLICT', 'no row');
  const r = await run(() => {
    throw fatal;
  });
  assert.equal(r.error, fatal);
  assert.equal(r.attempts, 1);
  assert.equal(r.gaveUp, undefined);
  const stop = new AbortController();
  const c = await run(
    (n) => {
      if (n === 3) stop.abort();
      throw failure('connection');
    },
    {},
    stop.signal,
  );
  assert.ok(c.error instanceof CancelledError, String(c.error));
  // A retryable PgdtsError made without a window counts as other.
  assert.equal(new PgdtsError('SPILL_FAILED', 'x', { retryable: true }).retryWindow, 'other');
});
