/**
 * Rate limits of a task (task file `full.throttle`, `incremental.throttle`): token buckets shared by
 * all workers of the task, one per limit, whose rates can change while the task runs.
 *
 * The maths is sans-I/O ({@link TokenBucket}: times in, waits out; tested on a fake clock). A bucket
 * lets a request through while its level is not negative and then takes the request's tokens, going
 * into debt for a request bigger than what it holds; the next request waits until the debt is paid
 * at the bucket's rate. So the long-run rate is exact whatever the request sizes, and a burst is at
 * most one request plus what the bucket gathers while idle ({@link BURST_MS} at its rate). A new rate
 * applies at once: the debt is repaid at the new rate from that moment.
 *
 * {@link RateLimiter} is the small async part: requests wait in arrival order (the workers share the
 * rate fairly), on timers that are replaced when the rate changes. {@link FlowLimiter} pairs a rows
 * and a bytes limiter and says how big a piece of a stream may pass at once, so that a stream is
 * paced smoothly rather than in bursts of whole chunks.
 */

/** What a bucket may gather while idle, as time at its rate, ms. */
export const BURST_MS = 100;

/** How much of a stream a {@link FlowLimiter} lets through at once, as time at its rates, ms. */
export const PIECE_MS = 50;

/** A level this close below zero counts as zero (float sums of refills). */
const EPSILON = 1e-6;

/**
 * A token bucket (sans-I/O): tokens arrive at `ratePerSecond` up to a capacity of {@link BURST_MS}
 * worth; `undefined` means no limit. Times are ms on any monotonic clock.
 */
export class TokenBucket {
  private level = 0;
  private last: number;
  private rate: number | undefined;

  constructor(ratePerSecond: number | undefined, now: number) {
    this.rate = ratePerSecond;
    this.last = now;
  }

  /** Tokens per second; undefined: no limit. */
  get ratePerSecond(): number | undefined {
    return this.rate;
  }

  /**
   * Changes the rate at `now` (ms): tokens gathered until now count at the old rate, the debt left
   * is repaid at the new one. `undefined` lifts the limit (and forgets the debt).
   */
  setRate(ratePerSecond: number | undefined, now: number): void {
    this.refill(now);
    this.rate = ratePerSecond;
    this.level = ratePerSecond === undefined ? 0 : Math.min(this.level, this.capacity());
  }

  /**
   * Asks for `n` tokens at `now` (ms). Returns 0 when they were taken (the level may go negative),
   * else the ms to wait before asking again (nothing was taken).
   */
  take(n: number, now: number): number {
    if (this.rate === undefined) return 0;
    this.refill(now);
    if (this.level < -EPSILON) return Math.max(1, Math.ceil((-this.level / this.rate) * 1000));
    this.level -= n;
    return 0;
  }

  private capacity(): number {
    return this.rate === undefined ? 0 : (this.rate * BURST_MS) / 1000;
  }

  private refill(now: number): void {
    if (this.rate !== undefined && now > this.last) {
      this.level = Math.min(this.capacity(), this.level + (this.rate * (now - this.last)) / 1000);
    }
    this.last = Math.max(this.last, now);
  }
}

/** Clock and timers of a {@link RateLimiter}; tests pass fake ones. */
export interface ThrottleTimers {
  /** Now, ms (monotonic). */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's monotonic clock and timers. */
export const SYSTEM_TIMERS: ThrottleTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Waiter {
  readonly n: number;
  readonly resolve: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** A {@link TokenBucket} shared by concurrent callers, who wait their turn in arrival order. */
export class RateLimiter {
  private readonly bucket: TokenBucket;
  private readonly queue: Waiter[] = [];
  private timer: unknown;

  /** @param ratePerSecond tokens per second; undefined: no limit. */
  constructor(
    ratePerSecond: number | undefined,
    private readonly timers: ThrottleTimers = SYSTEM_TIMERS,
  ) {
    this.bucket = new TokenBucket(ratePerSecond, timers.now());
  }

  /** Tokens per second; undefined: no limit. */
  get ratePerSecond(): number | undefined {
    return this.bucket.ratePerSecond;
  }

  /** Number of callers waiting. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Changes the rate now; waiting callers are timed again at the new rate. */
  setRate(ratePerSecond: number | undefined): void {
    this.bucket.setRate(ratePerSecond, this.timers.now());
    this.serve();
  }

  /**
   * Takes `n` tokens: `undefined` when they were available at once (no await needed on the hot
   * path), else a promise that resolves when they were taken — or at once when `signal` aborts,
   * without tokens (the caller checks its signal; a stop must not wait for a slow rate).
   */
  take(n: number, signal?: AbortSignal): Promise<void> | undefined {
    if (n <= 0 || signal?.aborted) return undefined;
    if (this.queue.length === 0 && this.bucket.take(n, this.timers.now()) === 0) return undefined;
    return new Promise<void>((resolve) => {
      const w: Waiter = {
        n,
        resolve,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(w);
          if (i === -1) return;
          this.queue.splice(i, 1);
          resolve();
          if (i === 0) this.serve();
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.queue.push(w);
      if (this.queue.length === 1) this.serve();
    });
  }

  /** Lets waiting callers through in order while tokens allow; sets a timer for the next one. */
  private serve(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (let w = this.queue[0]; w !== undefined; w = this.queue[0]) {
      const waitMs = this.bucket.take(w.n, this.timers.now());
      if (waitMs > 0) {
        this.timer = this.timers.setTimeout(() => {
          this.timer = undefined;
          this.serve();
        }, waitMs);
        return;
      }
      this.queue.shift();
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
  }
}

/** Rates of a {@link FlowLimiter}, per second; undefined: no limit. */
export interface FlowRates {
  readonly rowsPerSecond?: number | undefined;
  readonly bytesPerSecond?: number | undefined;
}

/** The rows and bytes limits of a flow of data (a COPY stream, the changes of incremental sync). */
export class FlowLimiter {
  readonly rows: RateLimiter;
  readonly bytes: RateLimiter;

  /** Rates per second; undefined: no limit. */
  constructor(rates: FlowRates, timers: ThrottleTimers = SYSTEM_TIMERS) {
    this.rows = new RateLimiter(rates.rowsPerSecond, timers);
    this.bytes = new RateLimiter(rates.bytesPerSecond, timers);
  }

  /** Changes both rates now (undefined: no limit). */
  setRates(rates: FlowRates): void {
    this.rows.setRate(rates.rowsPerSecond);
    this.bytes.setRate(rates.bytesPerSecond);
  }

  /**
   * Takes `rows` and `bytes` tokens; like {@link RateLimiter.take}: undefined when both were
   * available at once, else a promise resolving when both were taken (or `signal` aborted).
   */
  take(rows: number, bytes: number, signal?: AbortSignal): Promise<void> | undefined {
    const r = this.rows.take(rows, signal);
    const b = this.bytes.take(bytes, signal);
    if (r === undefined) return b;
    if (b === undefined) return r;
    return Promise.all([r, b]).then(() => undefined);
  }

  /**
   * The biggest piece of a stream worth letting through at once at the current rates: {@link PIECE_MS}
   * worth of rows and of bytes, at least 1 of each; Infinity where there is no limit.
   */
  pieceLimits(): { readonly rows: number; readonly bytes: number } {
    const piece = (rate: number | undefined) =>
      rate === undefined ? Infinity : Math.max(1, Math.floor((rate * PIECE_MS) / 1000));
    return { rows: piece(this.rows.ratePerSecond), bytes: piece(this.bytes.ratePerSecond) };
  }
}
