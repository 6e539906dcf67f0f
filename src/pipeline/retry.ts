/**
 * The one retry helper of pgdts: exponential backoff with jitter for errors marked `retryable`
 * (server restarting, connection dropped, deadlock; see core/sqlstate.ts), until a time budget runs
 * out. Non-retryable errors and cancellation pass through at once. A long-running step (incremental
 * sync) reports progress, which gives it a fresh budget: it failed after working, not while failing.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CancelledError, isRetryable, type PgdtsError } from '../core/errors.ts';

/** Backoff policy, ms. `maxElapsedMs` 0 disables retrying. */
export interface RetryPolicy {
  readonly maxElapsedMs: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Called before each wait with the error and the delay, ms. */
  readonly onRetry?: (e: PgdtsError, delayMs: number, what: string) => void;
}

/**
 * Runs `fn`, retrying retryable failures until `maxElapsedMs` has passed since the first failure
 * after the last progress. `fn` may call `progress()` when it got work done: the budget and the
 * backoff then start again at the next failure.
 * @throws the last error when it is not retryable or time is up; {@link CancelledError} on abort.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  what: string,
  fn: (progress: () => void) => Promise<T>,
): Promise<T> {
  let failingSince: number | undefined;
  let wait = policy.initialDelayMs;
  const progress = () => {
    failingSince = undefined;
    wait = policy.initialDelayMs;
  };
  for (;;) {
    try {
      return await fn(progress);
    } catch (e) {
      if (e instanceof CancelledError || signal.aborted)
        throw e instanceof CancelledError ? e : new CancelledError();
      failingSince ??= Date.now();
      if (!isRetryable(e) || Date.now() - failingSince + wait > policy.maxElapsedMs) throw e;
      // Full jitter in the upper half: spreads reconnects of many workers, keeps a floor.
      const ms = Math.round(wait / 2 + (Math.random() * wait) / 2);
      policy.onRetry?.(e as PgdtsError, ms, what);
      await sleep(ms, signal);
      wait = Math.min(policy.maxDelayMs, wait * 2);
    }
  }
}

/** Sleeps `ms`, waking early with {@link CancelledError} when `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (e) {
    if ((e as { name?: string }).name === 'AbortError') throw new CancelledError();
    throw e;
  }
}
