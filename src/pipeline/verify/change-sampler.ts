/**
 * Continuous verification (verify.md [V9]): while incremental sync runs, a sample of the rows that
 * its changes wrote (`verify.sampleRate` of them, 1 % by default) is re-read from both sides at a
 * consistent point once the destination transaction holding them committed, with the same re-check
 * as live verification (live-recheck.ts, [V8]). Each checked batch is reported as a `sample` progress
 * event; a confirmed difference is a warning, which the control plane turns into a failed
 * verification (and its alert rule into an alert).
 *
 * It never slows or fails the task: checks run one at a time beside the apply loop, on their own
 * sessions; keys sampled while one runs wait (at most {@link MAX_PENDING_KEYS}; beyond, samples are
 * dropped and counted); a check that fails is logged and its keys are dropped.
 */
import type { Change, Datum, Relation } from '../../core/change.ts';
import { displayName } from '../../core/identifier.ts';
import type { ProgressListener } from '../../core/progress.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import type { TableHasher } from '../../core/table-hash.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { OPERATIONS, type TaskConfig } from '../../core/task-config.ts';
import { recheckKeys, type LiveSessions } from './live-recheck.ts';
import { DEFAULT_CATCH_UP_TIMEOUT_MS, hashSettings, hashTargets, type HashSettings } from './verify-task.ts';

/** Keys waiting for a check, over all tables; more samples are dropped until a check takes them. */
export const MAX_PENDING_KEYS = 10_000;

/** Differences carried by one `sample` event (all are counted). */
const DIFFERENCES_REPORTED = 100;

interface Pending {
  readonly target: TableTarget;
  readonly keys: Map<string, readonly string[]>;
}

/** Inputs of {@link ChangeSampler}. */
export interface ChangeSamplerOptions {
  readonly task: TaskConfig;
  readonly source: Source;
  readonly sink: Sink;
  /** Share of changed rows sampled, in (0, 1]. */
  readonly rate: number;
  readonly onProgress: ProgressListener;
  /** Uniform in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

/** Samples changed rows and re-checks them on both sides (module comment). */
export class ChangeSampler {
  readonly #o: ChangeSamplerOptions;
  readonly #random: () => number;
  /** Per source table (`schema.name`): its target, or undefined when it cannot be sampled. */
  readonly #targets = new Map<string, TableTarget | undefined>();
  #pending = new Map<string, Pending>();
  #pendingKeys = 0;
  #dropped = 0;
  #running: Promise<void> | undefined;
  #sessions: { source: TableHasher; destination: TableHasher; hashing: HashSettings } | undefined;
  readonly #stop = new AbortController();
  /** Rows checked and differences confirmed since the task started. */
  #checked = 0;
  #differing = 0;

  constructor(o: ChangeSamplerOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
  }

  /** The tables that can be sampled: keyed plain tables or leaf partitions, all operations applied, not merged. */
  setTargets(targets: readonly TableTarget[]): void {
    this.#targets.clear();
    const byDestination = new Map<string, number>();
    for (const t of targets) {
      const k = displayName(t.table);
      byDestination.set(k, (byDestination.get(k) ?? 0) + 1);
    }
    for (const t of targets) {
      const keyed = t.source.primaryKey.length > 0 || t.source.replicaIdentityIndexColumns.length > 0;
      const ok =
        t.source.relkind === 'r' &&
        keyed &&
        byDestination.get(displayName(t.table)) === 1 &&
        OPERATIONS.every((op) => t.operations.has(op));
      this.#targets.set(displayName(t.source), ok ? t : undefined);
    }
  }

  /** Offers a source change that is about to be applied; a sampled one's key is kept for the next check. */
  offer(c: Change): void {
    if (c.kind === 'truncate') return;
    if (this.#random() >= this.#o.rate) return;
    const target = this.#targets.get(displayName(c.relation));
    if (target === undefined) return;
    const tuple = c.kind === 'delete' ? c.oldTuple : c.newTuple;
    const key = keyOf(c.relation, tuple, target);
    if (key === undefined) return;
    if (this.#pendingKeys >= MAX_PENDING_KEYS) {
      this.#dropped++;
      return;
    }
    const id = displayName(target.source);
    let p = this.#pending.get(id);
    if (p === undefined) {
      p = { target, keys: new Map() };
      this.#pending.set(id, p);
    }
    const kid = JSON.stringify(key);
    if (!p.keys.has(kid)) {
      p.keys.set(kid, key);
      this.#pendingKeys++;
    }
  }

  /** Called once a destination transaction committed: starts a check of the kept keys unless one runs. */
  afterCommit(): void {
    if (this.#running !== undefined || this.#pendingKeys === 0 || this.#stop.signal.aborted) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.#pendingKeys = 0;
    this.#running = this.#check(batch).finally(() => {
      this.#running = undefined;
    });
  }

  /** Stops: ends a running check's wait, closes the sessions. Never throws. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#running?.catch(() => undefined);
    const s = this.#sessions;
    this.#sessions = undefined;
    if (s !== undefined) await Promise.all([s.source.close(), s.destination.close()]);
  }

  async #open(): Promise<{ source: TableHasher; destination: TableHasher; hashing: HashSettings }> {
    if (this.#sessions !== undefined) return this.#sessions;
    const openHasher = this.#o.sink.openHasher;
    if (openHasher === undefined) throw new Error(`${this.#o.sink.description} cannot be verified`);
    const source = await this.#o.source.openHasher();
    let destination: TableHasher;
    try {
      destination = await openHasher({ taskName: this.#o.task.name });
    } catch (e) {
      await source.close();
      throw e;
    }
    this.#sessions = { source, destination, hashing: await hashSettings(source, destination) };
    return this.#sessions;
  }

  async #check(batch: ReadonlyMap<string, Pending>): Promise<void> {
    for (const p of batch.values()) {
      if (this.#stop.signal.aborted) return;
      try {
        const s = await this.#open();
        const live: LiveSessions = {
          source: s.source,
          destination: s.destination,
          catchUpTimeoutMs: DEFAULT_CATCH_UP_TIMEOUT_MS,
          pace: () => Promise.resolve(),
          signal: this.#stop.signal,
        };
        const h = hashTargets(p.target, s.hashing);
        const keys = [...p.keys.values()];
        const r = await recheckKeys(live, h.source, h.destination, keys);
        this.#checked += keys.length - r.unsettled.length;
        this.#differing += r.confirmed.length;
        this.#o.onProgress({
          kind: 'sample',
          table: displayName(p.target.table),
          checked: keys.length - r.unsettled.length,
          unsettled: r.unsettled.length,
          differences: r.confirmed.slice(0, DIFFERENCES_REPORTED),
          differing: r.confirmed.length,
          columns: h.destination.columns,
          keyColumns: h.destination.key,
          totalChecked: this.#checked,
          totalDiffering: this.#differing,
          dropped: this.#dropped,
        });
      } catch (e) {
        if (this.#stop.signal.aborted) return;
        this.#o.onProgress({
          kind: 'log',
          level: 'warn',
          message: `verification sample of ${displayName(p.target.table)} not checked: ${e instanceof Error ? e.message : String(e)}`,
        });
        // A lost session is opened again for the next check.
        const s = this.#sessions;
        this.#sessions = undefined;
        if (s !== undefined) await Promise.all([s.source.close(), s.destination.close()]);
      }
    }
  }
}

/** The key of a changed row as text, in key column order; undefined when a key value is not in the tuple. */
function keyOf(rel: Relation, tuple: readonly Datum[], t: TableTarget): string[] | undefined {
  const columns = t.source.primaryKey.length > 0 ? t.source.primaryKey : t.source.replicaIdentityIndexColumns;
  const key: string[] = [];
  for (const name of columns) {
    const i = rel.columns.findIndex((c) => c.name === name);
    const v = i < 0 ? undefined : tuple[i];
    if (typeof v !== 'string') return undefined;
    key.push(v);
  }
  return key;
}
