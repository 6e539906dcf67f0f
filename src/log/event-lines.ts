/**
 * Progress events as log lines (phase changes, finished tables, status ticks, warnings): what
 * `pgdts run` prints and what a control plane worker stores as a task's log.
 */
import type { ProgressEvent } from '../core/progress.ts';
import type { ApplyTally } from '../core/sink.ts';
import { OPERATIONS } from '../core/task-config.ts';

/** Formats bytes as B, KB, MB, GB (powers of 1024). */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A line of the log: level, text, and the event's fields for structured (JSON) logs. */
export interface EventLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Status text shown in lines and in the display. */
export function statusText(e: Extract<ProgressEvent, { kind: 'status' }>): string {
  const heartbeat = e.heartbeatLagMs === undefined ? '' : `, heartbeat lag ${e.heartbeatLagMs} ms`;
  return `lag ${formatBytes(e.lagBytes)} / ${e.lagMs} ms, ${Math.round(e.rowsPerSec)} rows/s, ${e.rowsApplied} rows applied, flushed ${e.flushedLsn}, slot retains ${formatBytes(e.retainedWalBytes)}${heartbeat}${tallyText(e.tally)}`;
}

/** `, skipped deletes: 3, missing deletes: 1`: only what is not zero. */
function tallyText(t: ApplyTally): string {
  const parts: string[] = [];
  for (const op of OPERATIONS) if (t.skipped[op] > 0) parts.push(`skipped ${op}s: ${t.skipped[op]}`);
  if (t.missingDeletes > 0) parts.push(`missing deletes: ${t.missingDeletes}`);
  return parts.map((p) => `, ${p}`).join('');
}

/**
 * Turns events into log lines. Stateful: a table's line is written once, when it finishes; copy
 * progress in between is only drawn.
 */
export class EventLines {
  private readonly finished = new Set<string>();
  /** When the last line of matching samples was written (ms); they get one a minute. */
  private lastSampleLine = -Infinity;

  /** @param now the clock (ms), for the pace of sample lines. */
  constructor(private readonly now: () => number = Date.now) {}

  /** The line of `e`, or undefined when it has none (a table still copying). */
  line(e: ProgressEvent): EventLine | undefined {
    switch (e.kind) {
      case 'phase':
        return { level: 'info', message: `phase ${e.phase}${e.detail ? `: ${e.detail}` : ''}`, fields: {} };
      case 'log':
        return {
          level: e.level,
          message: e.message,
          fields: e.retry !== undefined ? { retry: e.retry } : {},
        };
      case 'table': {
        if (!e.done || this.finished.has(e.table)) return undefined;
        this.finished.add(e.table);
        return {
          level: 'info',
          message: `table ${e.table} copied: ${e.rows} rows, ${formatBytes(e.bytes)} (${e.rangesTotal} ranges)`,
          fields: { table: e.table, rows: e.rows, bytes: e.bytes, ranges: e.rangesTotal },
        };
      }
      case 'status': {
        const { kind: _kind, ...fields } = e;
        return { level: 'info', message: `status ${statusText(e)}`, fields };
      }
      case 'sample': {
        const fields = {
          table: e.table,
          checked: e.checked,
          differing: e.differing,
          unsettled: e.unsettled,
          totalChecked: e.totalChecked,
          totalDiffering: e.totalDiffering,
          dropped: e.dropped,
        };
        if (e.differing > 0) {
          const first = e.differences
            .slice(0, 3)
            .map((d) => `${d.kind} (${(d.key ?? []).join(', ')})`)
            .join(', ');
          return {
            level: 'warn',
            message: `verification sample: ${e.differing} of ${e.checked} sampled rows of ${e.table} differ from the source: ${first}${e.differing > 3 ? ', ...' : ''}`,
            fields,
          };
        }
        if (this.now() - this.lastSampleLine < 60_000) return undefined;
        this.lastSampleLine = this.now();
        return {
          level: 'info',
          message: `verification samples: ${e.totalChecked} changed rows re-read from both sides, ${e.totalDiffering} differ${e.dropped > 0 ? `, ${e.dropped} samples dropped (checks behind)` : ''}`,
          fields,
        };
      }
    }
  }
}
