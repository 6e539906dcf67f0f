/**
 * The output of `pgdts run`: progress events as log lines through pino (stdout; `--log-format`,
 * `--log-level`), every line bound to the task's name and current phase, and the progress bars on
 * stderr when it is a terminal. Status ticks and finished tables are lines in JSON; in text they are
 * lines (finished tables at debug level) only when no bar block shows them.
 */
import type { Logger } from 'pino';
import type { ProgressEvent } from '../core/progress.ts';
import type { LogFormat } from '../log/logger.ts';
import { EventLines } from '../log/event-lines.ts';
import type { ProgressDisplay } from './progress-renderer.ts';

/** Routes a task's events to the logger and the display. */
export class TaskOutput {
  private readonly lines = new EventLines();
  private log: Logger;

  constructor(
    private readonly base: Logger,
    private readonly taskName: string,
    private readonly format: LogFormat,
    private readonly display: ProgressDisplay,
  ) {
    this.log = base.child({ task: taskName, phase: 'start' });
  }

  /** The logger of the task in its current phase. */
  get logger(): Logger {
    return this.log;
  }

  /** Takes one event. */
  handle(e: ProgressEvent): void {
    this.display.update(e);
    if (e.kind === 'phase') this.log = this.base.child({ task: this.taskName, phase: e.phase });
    const l = this.lines.line(e);
    if (l === undefined) return;
    if (e.kind === 'status' && this.display.active && this.format === 'pretty') return;
    // On a terminal the block counts copied tables: a line each would scroll thousands of lines
    // past; they stay in the log at debug level.
    if (e.kind === 'table' && this.display.active && this.format === 'pretty') {
      this.log.debug(l.fields, l.message);
      return;
    }
    this.log[l.level](l.fields, l.message);
  }

  /** Stops the display. */
  close(): void {
    this.display.close();
  }
}
