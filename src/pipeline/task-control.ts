/**
 * What may change in a running task, and the one way to change it: the throttle (`full.throttle`,
 * `incremental.throttle`). `pgdts run` calls {@link TaskControl.reload} with the re-read task file on
 * SIGHUP; a control plane calls {@link TaskControl.updateThrottle}. New rates apply at once to the
 * buckets every worker shares (throttle.ts). Every other key needs a restart: a reload names each
 * changed one and leaves it as it was.
 */
import {
  BYTES_PER_MEGABYTE,
  parseThrottleUpdate,
  type FullThrottleConfig,
  type IncrementalThrottleConfig,
} from '../core/throttle-config.ts';
import type { TaskConfig } from '../core/task-config.ts';
import { FlowLimiter, RateLimiter, SYSTEM_TIMERS, type FlowRates, type ThrottleTimers } from './throttle.ts';

/** The limiters of the full sync, shared by its workers. */
export interface FullSyncThrottle {
  /** Statements sent to the source: each COPY and each query planning the ranges. */
  readonly queries: RateLimiter;
  /** Rows and COPY bytes handed to the destination. */
  readonly flow: FlowLimiter;
}

/** One throttle value that changed, for the log. */
export interface ThrottleChange {
  /** Task file key, e.g. `incremental.throttle.rowsPerSecond`. */
  readonly key: string;
  /** Old and new value; undefined: no limit. */
  readonly from: number | undefined;
  readonly to: number | undefined;
}

/** What {@link TaskControl.reload} did. */
export interface ReloadResult {
  /** Throttle values now in force that differ from before. */
  readonly applied: readonly ThrottleChange[];
  /** Keys that differ from the running task but cannot change while it runs (left as they were). */
  readonly refused: readonly string[];
}

/** The keys a running task takes changes of. */
const CHANGEABLE = ['full.throttle', 'incremental.throttle'] as const;

/** The message for a changed key that needs a restart. */
export function refusedChangeMessage(key: string): string {
  return `${key} changed: only full.throttle and incremental.throttle can change while running; restart to apply`;
}

/** The throttle of one running task (create it from the task, pass it to runTask, change it). */
export class TaskControl {
  /** The limiters of the full sync. */
  readonly full: FullSyncThrottle;
  /** The rows and bytes limits of the changes applied by incremental sync. */
  readonly incremental: FlowLimiter;
  private fullConfig: FullThrottleConfig;
  private incrementalConfig: IncrementalThrottleConfig;

  /** @param task the running task; its throttle keys are the starting rates. */
  constructor(
    private readonly task: TaskConfig,
    timers: ThrottleTimers = SYSTEM_TIMERS,
  ) {
    this.fullConfig = task.full.throttle;
    this.incrementalConfig = task.incremental.throttle;
    this.full = {
      queries: new RateLimiter(task.full.throttle.queriesPerSecond, timers),
      flow: new FlowLimiter(flowRates(task.full.throttle), timers),
    };
    this.incremental = new FlowLimiter(flowRates(task.incremental.throttle), timers);
  }

  /** The throttle values in force. */
  get throttle(): { readonly full: FullThrottleConfig; readonly incremental: IncrementalThrottleConfig } {
    return { full: this.fullConfig, incremental: this.incrementalConfig };
  }

  /**
   * Replaces the limits of each side given (`{ full: {...}, incremental: {...}}`, as the task file's
   * `full.throttle` and `incremental.throttle`; a limit left out is lifted, a side left out is kept).
   * Rates in rows/s, queries/s, MB/s (1 MB = 1024 * 1024 bytes).
   * @returns the values that changed.
   * @throws {ConfigError} naming the key (`full.throttle.rowsPerSecond`) and its rule; nothing changes.
   */
  updateThrottle(update: unknown): ThrottleChange[] {
    const u = parseThrottleUpdate(update);
    const changes = [
      ...(u.full !== undefined ? diffThrottle('full.throttle', this.fullConfig, u.full) : []),
      ...(u.incremental !== undefined
        ? diffThrottle('incremental.throttle', this.incrementalConfig, u.incremental)
        : []),
    ];
    if (u.full !== undefined) {
      this.fullConfig = u.full;
      this.full.queries.setRate(u.full.queriesPerSecond);
      this.full.flow.setRates(flowRates(u.full));
    }
    if (u.incremental !== undefined) {
      this.incrementalConfig = u.incremental;
      this.incremental.setRates(flowRates(u.incremental));
    }
    return changes;
  }

  /**
   * Takes what may change from `next` (the task file read again): its throttle applies at once;
   * every other key that differs from the running task is refused and stays as it was.
   */
  reload(next: TaskConfig): ReloadResult {
    const refused = changedKeys(this.task, next).filter(
      (k) => !CHANGEABLE.some((c) => k === c || k.startsWith(`${c}.`)),
    );
    const applied = this.updateThrottle({ full: next.full.throttle, incremental: next.incremental.throttle });
    return { applied, refused };
  }
}

/** The flow limiter rates of a throttle config: rows/s, and MB/s in bytes/s. */
function flowRates(t: {
  readonly rowsPerSecond?: number | undefined;
  readonly megabytesPerSecond?: number | undefined;
}): FlowRates {
  return {
    rowsPerSecond: t.rowsPerSecond,
    bytesPerSecond:
      t.megabytesPerSecond === undefined ? undefined : t.megabytesPerSecond * BYTES_PER_MEGABYTE,
  };
}

function diffThrottle(
  at: string,
  from: Record<string, number | undefined>,
  to: Record<string, number | undefined>,
) {
  const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
  return keys
    .filter((k) => from[k] !== to[k])
    .map((k): ThrottleChange => ({ key: `${at}.${k}`, from: from[k], to: to[k] }));
}

/**
 * The key paths (`incremental.batchMaxRows`, `source.url`) whose values differ between `a` and `b`:
 * objects are compared key by key, arrays and values as a whole. Values are never returned (they may
 * hold passwords).
 */
export function changedKeys(a: unknown, b: unknown, at = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedKeys(a[k], b[k], at === '' ? k : `${at}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at === '' ? '(root)' : at];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
