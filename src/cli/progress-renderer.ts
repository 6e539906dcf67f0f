/**
 * What a person sees of a running task. Progress events become log lines ({@link eventLine}: phase
 * changes, finished tables, status ticks, warnings), and on a terminal a redrawn block of progress
 * bars ({@link ProgressDisplay}). The CLI writes the lines through the logger (pino, stdout) and draws
 * the block on stderr when stderr is a TTY; the demo writes both to stdout ({@link ProgressRenderer}).
 */
import type { ProgressEvent } from '../core/progress.ts';
import { EventLines, formatBytes, statusText } from '../log/event-lines.ts';

export { EventLines, formatBytes, type EventLine } from '../log/event-lines.ts';

interface TableLine {
  rows: number;
  bytes: number;
  estimatedRows: number;
  rangesDone: number;
  rangesTotal: number;
  done: boolean;
}

/** Most tables the block draws a bar for; the others are counted in one line. */
export const MAX_TABLE_BARS = 8;

/**
 * A block of progress bars, redrawn in place on a terminal: one per table being copied (at most
 * {@link MAX_TABLE_BARS}, the others counted in one line), the count of tables copied, and the
 * incremental status. Its size and drawing cost stay flat with thousands of tables: finished tables
 * are only counted. Does nothing when `out` is not a TTY.
 */
export class ProgressDisplay {
  /** Tables being copied (finished ones are removed and counted in {@link copied}). */
  private readonly tables = new Map<string, TableLine>();
  private readonly finished = new Set<string>();
  private readonly out: NodeJS.WriteStream;
  readonly active: boolean;
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;
  private status = '';
  private phase = '';

  constructor(out: NodeJS.WriteStream) {
    this.out = out;
    this.active = out.isTTY === true;
    if (this.active) this.timer = setInterval(() => this.draw(), 200);
  }

  /** Takes one event. */
  update(e: ProgressEvent): void {
    switch (e.kind) {
      case 'phase':
        this.phase = e.phase;
        return;
      case 'table':
        if (e.done) {
          this.tables.delete(e.table);
          this.finished.add(e.table);
        } else if (!this.finished.has(e.table)) {
          this.tables.set(e.table, { ...e });
        }
        return;
      case 'status':
        this.status = statusText(e);
        return;
      case 'log':
      case 'sample':
        return;
    }
  }

  /** Erases the block (call before writing a line to the same terminal). */
  clear(): void {
    if (!this.active || this.drawn === 0) return;
    this.out.write(`\x1b[${this.drawn}A\x1b[0J`);
    this.drawn = 0;
  }

  /** Draws the block again. */
  draw(): void {
    if (!this.active) return;
    this.clear();
    const lines: string[] = [];
    let shown = 0;
    for (const [name, t] of this.tables) {
      if (shown++ === MAX_TABLE_BARS) break;
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
    const more = this.tables.size - MAX_TABLE_BARS;
    if (more > 0) lines.push(`  ... and ${more} more table${more === 1 ? '' : 's'} being copied`);
    if (this.finished.size > 0 && (this.phase === 'full' || this.tables.size > 0)) {
      lines.push(`  ${this.finished.size} table${this.finished.size === 1 ? '' : 's'} copied`);
    }
    if (this.status && this.phase === 'incremental') lines.push(`  ${this.status}`);
    if (lines.length > 0) this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }

  /** Stops redrawing and erases the block. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.clear();
  }
}

/**
 * Lines with an ISO time and the display on one stream (stdout): what the demo shows. On a terminal
 * status ticks only update the display; elsewhere they are lines too.
 */
export class ProgressRenderer {
  private readonly out: NodeJS.WriteStream;
  private readonly lines = new EventLines();
  private readonly display: ProgressDisplay;

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.out = out;
    this.display = new ProgressDisplay(out);
  }

  /** Takes one event. */
  handle(e: ProgressEvent): void {
    this.display.update(e);
    const l = this.lines.line(e);
    if (l === undefined || (e.kind === 'status' && this.display.active)) return;
    this.print(e.kind === 'log' ? `${e.level}: ${l.message}` : l.message);
  }

  private print(line: string): void {
    this.display.clear();
    this.out.write(`${new Date().toISOString()} ${line}\n`);
    this.display.draw();
  }

  /** Stops redrawing. */
  close(): void {
    this.display.close();
  }
}
