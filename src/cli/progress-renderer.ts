/**
 * Renders progress events for a terminal: on a TTY a redrawn block with a bar per table being
 * copied; otherwise plain, greppable lines (one per finished table, phase change and status tick).
 */
import type { ProgressEvent } from '../core/progress.ts';

interface TableLine {
  rows: number;
  bytes: number;
  estimatedRows: number;
  rangesDone: number;
  rangesTotal: number;
  done: boolean;
}

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

/** Stateful renderer; call {@link ProgressRenderer.handle} with each event, {@link ProgressRenderer.close} at the end. */
export class ProgressRenderer {
  private readonly tables = new Map<string, TableLine>();
  private readonly out: NodeJS.WriteStream;
  private readonly tty: boolean;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private status = '';
  private phase = '';

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.out = out;
    this.tty = out.isTTY === true;
    if (this.tty) this.timer = setInterval(() => this.draw(), 200);
  }

  /** Takes one event. */
  handle(e: ProgressEvent): void {
    switch (e.kind) {
      case 'phase':
        this.phase = e.phase;
        this.print(`phase ${e.phase}${e.detail ? `: ${e.detail}` : ''}`);
        return;
      case 'log':
        this.print(`${e.level}: ${e.message}`);
        return;
      case 'table': {
        const prev = this.tables.get(e.table);
        this.tables.set(e.table, { ...e });
        if (e.done && !prev?.done) {
          this.print(
            `table ${e.table} copied: ${e.rows} rows, ${formatBytes(e.bytes)} (${e.rangesTotal} ranges)`,
          );
        }
        return;
      }
      case 'status': {
        this.status = `lag ${formatBytes(e.lagBytes)} / ${e.lagMs} ms, ${Math.round(e.rowsPerSec)} rows/s, ${e.rowsApplied} rows applied, flushed ${e.flushedLsn}, slot retains ${formatBytes(e.retainedWalBytes)}`;
        if (!this.tty) this.print(`status ${this.status}`);
        return;
      }
    }
  }

  private print(line: string): void {
    this.clear();
    this.out.write(`${new Date().toISOString()} ${line}\n`);
    this.draw();
  }

  private clear(): void {
    if (!this.tty || this.drawn === 0) return;
    this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  private draw(): void {
    if (!this.tty) return;
    this.clear();
    const lines: string[] = [];
    for (const [name, t] of this.tables) {
      if (t.done) continue;
      const frac =
        t.estimatedRows > 0
          ? Math.min(1, t.rows / t.estimatedRows)
          : t.rangesDone / Math.max(1, t.rangesTotal);
      const width = 24;
      const filled = Math.round(frac * width);
      lines.push(
        `  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${name} ${t.rows} rows ${formatBytes(t.bytes)}`,
      );
    }
    if (this.status && this.phase === 'incremental') lines.push(`  ${this.status}`);
    if (lines.length > 0) this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  /** Stops redrawing. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
}
