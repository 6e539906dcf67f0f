/** Which checks only matter for incremental sync (logical decoding on the source). */
import { hasSyncType, type TaskConfig } from '../../../core/task-config.ts';

/** Does the task stream changes (so the source needs logical decoding)? */
export function isIncremental(task: TaskConfig): boolean {
  return hasSyncType(task, 'incremental');
}

/** Does the task stream a slot it did not create (`incremental.existingSlot`)? */
export function streamsExistingSlot(task: TaskConfig): boolean {
  return isIncremental(task) && task.incremental.existingSlot !== undefined;
}

/** Does the task create its own slot (incremental without `incremental.existingSlot`)? */
export function createsSlot(task: TaskConfig): boolean {
  return isIncremental(task) && task.incremental.existingSlot === undefined;
}
