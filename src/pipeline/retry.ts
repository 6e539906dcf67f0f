/**
 * Retries with exponential backoff and full jitter for errors marked `retryable` (server restarting,
 * connection dropped, deadlock). Non-retryable errors and cancellation pass through at once.
 */
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
 * Runs `fn`, retrying retryable failures until `maxElapsedMs` has passed.
 * @throws the last error when it is not retryable or time is up; {@link CancelledError} on abort.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  const start = Date.now();
  let delay = policy.initialDelayMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof CancelledError || signal.aborted)
        throw e instanceof CancelledError ? e : new CancelledError();
      if (!isRetryable(e) || Date.now() - start + delay > policy.maxElapsedMs) throw e;
      const wait = Math.round(delay / 2 + (Math.random() * delay) / 2);
      policy.onRetry?.(e as PgdtsError, wait, what);
      await sleep(wait, signal);
      delay = Math.min(policy.maxDelayMs, delay * 2);
    }
  }
}

/** Sleeps `ms`, waking early (with CancelledError) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new CancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
