/**
 * SIGHUP for `pgdts run`: the task file is read again and its throttle applied to the running task
 * (src/pipeline/task-control.ts); a changed key of any other kind is refused in the log, and a file
 * that cannot be read or is invalid changes nothing.
 */
import type { Logger } from 'pino';
import { PgdtsError } from '../core/errors.ts';
import { refusedChangeMessage, type TaskControl, type ThrottleChange } from '../pipeline/task-control.ts';
import { loadTaskFile } from './load-task-file.ts';

const show = (v: number | undefined) => (v === undefined ? 'no limit' : String(v));

/** `incremental.throttle.rowsPerSecond 2000 → 10000`. */
export function formatThrottleChange(c: ThrottleChange): string {
  return `${c.key} ${show(c.from)} → ${show(c.to)}`;
}

/**
 * Reads `file` again and applies what may change to `control`, logging what was applied and each
 * refused key. Never throws: an unreadable or invalid file is logged and the running values stay.
 */
export function reloadTaskFile(file: string, control: TaskControl, log: Logger): void {
  let next;
  try {
    next = loadTaskFile(file);
  } catch (e) {
    const why = e instanceof PgdtsError ? `${e.code}: ${e.message}` : String(e);
    log.error(`SIGHUP: task file not applied, the running values stay: ${why}`);
    return;
  }
  const r = control.reload(next);
  for (const key of r.refused) log.warn({ key }, refusedChangeMessage(key));
  if (r.applied.length === 0) {
    log.info('SIGHUP: task file read again; throttle unchanged');
  } else {
    log.info(
      { throttle: control.throttle },
      `SIGHUP: throttle changed: ${r.applied.map(formatThrottleChange).join(', ')}`,
    );
  }
}
