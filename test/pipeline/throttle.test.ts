/**
 * The throttle's token buckets on a fake clock (sans-I/O and the async limiter on fake timers):
 * workers sharing a bucket get the rate within 10% over every 10 s window whatever their request
 * sizes, share it in arrival order, follow a new rate at once, and a stop never waits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BURST_MS,
  FlowLimiter,
  RateLimiter,
  TokenBucket,
  type ThrottleTimers,
} from '../../src/pipeline/throttle.ts';

/** A deterministic random sequence (so a failure can be replayed). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/** Fake timers: time moves only in {@link FakeTimers.run}, from one due timer to the next. */
class FakeTimers implements ThrottleTimers {
  t = 0;
  private seq = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.due.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }
  /** Runs timers in time order until `until` (ms), letting promise callbacks run between them. */
  async run(until: number): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const next = [...this.due.entries()].sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (next === undefined || next[1].at > until) break;
      this.due.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = until;
  }
}

/** Rates of each `windowMs` window starting every `stepMs`, from `grants` [time ms, tokens]. */
function windowRates(grants: [number, number][], endMs: number, windowMs = 10_000, stepMs = 1_000): number[] {
  const out: number[] = [];
  for (let from = 0; from + windowMs <= endMs; from += stepMs) {
    const sum = grants.filter(([t]) => t >= from && t < from + windowMs).reduce((a, [, n]) => a + n, 0);
    out.push(sum / (windowMs / 1000));
  }
  return out;
}

function assertWithin(rates: number[], want: number, tolerance: number, what: string): void {
  assert.ok(rates.length > 0, what);
  for (const [i, r] of rates.entries()) {
    assert.ok(
      Math.abs(r - want) <= want * tolerance,
      `${what}: window ${i} at ${r.toFixed(0)}/s, want ${want}/s ±${tolerance * 100}%`,
    );
  }
}

test('a bucket gives two greedy workers with random request sizes the rate within 10% over every 10 s window', () => {
  for (const [rate, maxRequest] of [
    [20_000, 1_000], // rows/s, rows ending in a 64 KB piece
    [5 * 1024 * 1024, 65_536], // 5 MB/s in chunks of up to 64 KB
    [2, 1], // queries per second
    [50, 5], // requests bigger than the bucket (5 ms worth): it goes into debt
  ] as const) {
    const rnd = random(rate);
    const b = new TokenBucket(rate, 0);
    const grants: [number, number][] = [];
    // Each worker asks again as soon as it is served (or when told to wait, after that wait).
    const nextAt = [0, 0];
    const size = [1 + Math.floor(rnd() * maxRequest), 1 + Math.floor(rnd() * maxRequest)];
    const end = 60_000;
    for (;;) {
      const w = nextAt[0]! <= nextAt[1]! ? 0 : 1;
      const t = nextAt[w]!;
      if (t >= end) break;
      const wait = b.take(size[w]!, t);
      if (wait === 0) {
        grants.push([t, size[w]!]);
        size[w] = 1 + Math.floor(rnd() * maxRequest);
      } else nextAt[w] = t + wait;
    }
    const rates = windowRates(grants, end);
    // The tail of the first window holds the one burst (one request and BURST_MS of tokens at most).
    assertWithin(rates, rate, 0.1, `rate ${rate}/s, requests up to ${maxRequest}`);
    const total = grants.reduce((a, [, n]) => a + n, 0);
    assert.ok(total <= (rate * (end + BURST_MS)) / 1000 + 2 * maxRequest, `${total} tokens in ${end} ms`);
  }
});

test('a bucket that was idle lets through at most BURST_MS worth at once; a new rate applies at once', () => {
  const b = new TokenBucket(1_000, 0);
  assert.equal(b.take(1, 0), 0);
  // Idle for 10 s: only 100 ms worth was kept.
  let got = 0;
  while (b.take(1, 10_000) === 0) got++;
  assert.equal(got, 1 + (1_000 * BURST_MS) / 1000);
  // Owing one token: a wait of 1 ms; then a big request goes into debt, and the next waits for it.
  assert.equal(b.take(500, 10_000), 1);
  assert.equal(b.take(500, 10_001), 0);
  assert.equal(b.take(1, 10_001), 500);
  // Ten times the rate: the debt is repaid ten times faster, from now.
  b.setRate(10_000, 10_001);
  assert.equal(b.take(1, 10_001), 50);
  assert.equal(b.take(1, 10_051), 0);
  // No limit: everything passes and the debt is forgotten.
  b.setRate(undefined, 10_051);
  assert.equal(b.take(1e9, 10_051), 0);
  b.setRate(1, 10_051);
  assert.equal(b.take(1, 10_051), 0);
});

test('RateLimiter: workers share the rate in arrival order, follow a rate change within moments, and a stop never waits', async () => {
  const timers = new FakeTimers();
  const limiter = new RateLimiter(1_000, timers);
  const grants: [number, number][] = [];
  const perWorker = [0, 0];
  const stop = new AbortController();
  const worker = async (id: number, size: number) => {
    while (!stop.signal.aborted) {
      const w = limiter.take(size, stop.signal);
      if (w !== undefined) await w;
      if (stop.signal.aborted) return;
      grants.push([timers.now(), size]);
      perWorker[id] = (perWorker[id] ?? 0) + size;
    }
  };
  const workers = [worker(0, 10), worker(1, 50)];
  await timers.run(20_000);
  assertWithin(windowRates(grants, 20_000), 1_000, 0.1, 'two workers at 1000/s');
  // Arrival order: each waits its turn, so requests alternate and the big one gets more tokens.
  assert.ok(perWorker[1]! > 4 * perWorker[0]! && perWorker[0]! > 0, perWorker.join(' '));

  // Ten times the rate from 20 s on: the next windows follow within a second.
  limiter.setRate(10_000);
  grants.length = 0;
  await timers.run(40_000);
  const after = windowRates(
    grants.map(([t, n]) => [t - 20_000, n]),
    20_000,
    1_000,
  );
  assertWithin(after.slice(1), 10_000, 0.1, 'after the change');
  // Down to 100/s: the debt is at most one request, paid at the new rate.
  limiter.setRate(100);
  grants.length = 0;
  await timers.run(60_000);
  assertWithin(
    windowRates(
      grants.map(([t, n]) => [t - 40_000, n]),
      20_000,
    ),
    100,
    0.1,
    'slowed down',
  );

  // A stop wakes every waiter at once, without tokens.
  const before = timers.now();
  assert.ok(limiter.waiting > 0);
  stop.abort();
  await Promise.all(workers);
  assert.equal(limiter.waiting, 0);
  assert.equal(timers.now(), before);
  assert.equal(limiter.take(1e6, stop.signal), undefined, 'nothing waits once stopped');
});

test('FlowLimiter: rows and bytes limits together, pieces of 50 ms worth, no limit passes at once', async () => {
  const timers = new FakeTimers();
  const flow = new FlowLimiter({ rowsPerSecond: 20_000, bytesPerSecond: 1024 * 1024 }, timers);
  assert.deepEqual(flow.pieceLimits(), { rows: 1_000, bytes: 52_428 });
  let rows = 0;
  let bytes = 0;
  const stop = new AbortController();
  // 100-byte rows: the bytes limit (about 10486 rows/s) is the tighter one.
  const run = (async () => {
    while (!stop.signal.aborted) {
      const w = flow.take(100, 10_000, stop.signal);
      if (w !== undefined) await w;
      rows += 100;
      bytes += 10_000;
    }
  })();
  await timers.run(30_000);
  stop.abort();
  await run;
  assert.ok(Math.abs(bytes / 30 - 1024 * 1024) < 0.05 * 1024 * 1024, `${bytes / 30} bytes/s`);
  assert.ok(rows / 30 < 20_000);
  flow.setRates({});
  assert.deepEqual(flow.pieceLimits(), { rows: Infinity, bytes: Infinity });
  assert.equal(flow.take(1e9, 1e12), undefined);
  flow.setRates({ rowsPerSecond: 1 });
  assert.deepEqual(flow.pieceLimits(), { rows: 1, bytes: Infinity });
});
