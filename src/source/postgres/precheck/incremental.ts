/** Which checks only matter for incremental sync (logical decoding on the source). */
import { hasSyncType, type TaskConfig } from '../../../core/task-config.ts';

/** Does the task stream changes (so the source needs logical decoding)? */
export function isIncremental(task: TaskConfig): boolean {
  return hasSyncType(task, 'incremental');
}
