/**
 * The one retry helper of pgdts: exponential backoff with jitter for errors marked `retryable`
 * (server restarting, connection dropped, deadlock; see core/sqlstate.ts), each within the retry
 * window of its kind, as Alibaba DTS does: failures of the connection window (a server or network
 * that is away: task file `retry.connectionMinutes`) and of the other window (a failing statement, a
 * deadlock, a lock or lease held elsewhere, a spill write: `retry.otherMinutes`) are timed apart, each
 * from the first failure of its kind. Non-retryable errors and cancellation pass through at once. A
 * long-running step (incremental sync) reports progress, which restarts both windows and the
 * backoff: it failed after working, not while failing.
 *
 * The decisions are sans-I/O ({@link RetryState}: times in, decisions out); {@link withRetry} adds
 * the sleeping, through a {@link RetryClock} that tests replace to run hours of retries in moments.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CancelledError, isRetryable, type PgdtsError } from '../core/errors.ts';
import type { RetryWindow } from '../core/sqlstate.ts';

/** Time for {@link withRetry}: the system clock, or a fake one in tests. */
export interface RetryClock {
  /** Now, ms. Only differences are used. */
  now(): number;
  /**
   * Resolves after `ms` (ms).
   * @throws {CancelledError} as soon as `signal` aborts.
   */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** The clock of the process: `Date.now()` and timers. */
export const SYSTEM_CLOCK: RetryClock = { now: () => Date.now(), sleep: (ms, signal) => sleep(ms, signal) };

/** Retry windows and backoff, ms. A window of 0 never retries errors of its kind. */
export interface RetryPolicy {
  /** How long connection failures are retried, from the first one after the last progress, ms. */
  readonly connectionWindowMs: number;
  /** How long other retryable failures are retried, likewise, ms. */
  readonly otherWindowMs: number;
  /** First backoff delay, ms; doubles after each failure ... */
  readonly initialDelayMs: number;
  /** ... up to this, ms. */
  readonly maxDelayMs: number;
  /** Called before each wait with the error, the delay (ms), the step and the window that applies. */
  readonly onRetry?: (e: PgdtsError, delayMs: number, what: string, window: RetryWindow) => void;
  /**
   * Called when a window has run out, just before the error is thrown, with how long errors of that
   * window have been retried (ms).
   */
  readonly onGiveUp?: (e: PgdtsError, what: string, window: RetryWindow, failingForMs: number) => void;
  /** Default {@link SYSTEM_CLOCK}. */
  readonly clock?: RetryClock;
  /** Uniform random numbers in [0, 1) for the jitter; default Math.random. */
  readonly random?: () => number;
}

/** What {@link RetryState.failed} decided. */
export type RetryDecision =
  | { readonly retry: true; readonly window: RetryWindow; readonly delayMs: number }
  | { readonly retry: false; readonly window: RetryWindow; readonly failingForMs: number };

/**
 * Sans-I/O state of one retried step: when each window's failures began, and the next backoff.
 * Feed it the failures (with the time) and the progress; it says whether to retry and after how long.
 */
export class RetryState {
  private readonly since: Record<RetryWindow, number | undefined> = {
    connection: undefined,
    other: undefined,
  };
  private wait: number;

  constructor(
    private readonly policy: Pick<
      RetryPolicy,
      'connectionWindowMs' | 'otherWindowMs' | 'initialDelayMs' | 'maxDelayMs'
    >,
    private readonly random: () => number = Math.random,
  ) {
    this.wait = policy.initialDelayMs;
  }

  /** The step got work done: both windows and the backoff start again at the next failure. */
  progress(): void {
    this.since.connection = undefined;
    this.since.other = undefined;
    this.wait = this.policy.initialDelayMs;
  }

  /**
   * A retryable error of `window` happened at `now` (ms). Retry after `delayMs` when that wait still
   * ends inside the window (counted from its first failure since the last progress); else give up.
   */
  failed(window: RetryWindow, now: number): RetryDecision {
    const since = (this.since[window] ??= now);
    const limit = window === 'connection' ? this.policy.connectionWindowMs : this.policy.otherWindowMs;
    // Full jitter in the upper half: spreads reconnects of many workers, keeps a floor.
    const delayMs = Math.round(this.wait / 2 + (this.random() * this.wait) / 2);
    if (now - since + delayMs > limit) return { retry: false, window, failingForMs: now - since };
    this.wait = Math.min(this.policy.maxDelayMs, this.wait * 2);
    return { retry: true, window, delayMs };
  }
}

/**
 * Runs `fn`, retrying retryable failures within the window of each failure's kind (see
 * {@link RetryState}). `fn` may call `progress()` when it got work done: the windows and the backoff
 * then start again at the next failure.
 * @throws the last error when it is not retryable or its window has run out (after
 *   `policy.onGiveUp`); {@link CancelledError} on abort.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal,
  what: string,
  fn: (progress: () => void) => Promise<T>,
): Promise<T> {
  const clock = policy.clock ?? SYSTEM_CLOCK;
  const state = new RetryState(policy, policy.random);
  const progress = () => state.progress();
  for (;;) {
    try {
      return await fn(progress);
    } catch (e) {
      if (e instanceof CancelledError || signal.aborted)
        throw e instanceof CancelledError ? e : new CancelledError();
      if (!isRetryable(e)) throw e;
      const err = e as PgdtsError;
      const d = state.failed(err.retryWindow, clock.now());
      if (!d.retry) {
        policy.onGiveUp?.(err, what, d.window, d.failingForMs);
        throw e;
      }
      policy.onRetry?.(err, d.delayMs, what, d.window);
      await clock.sleep(d.delayMs, signal);
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
