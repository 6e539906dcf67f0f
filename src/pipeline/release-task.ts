/**
 * Removes everything a task created outside the copied data: the replication slot and publication on
 * the source, and the task's checkpoints in the destination. Idempotent: safe to run twice.
 */
import type { Sink } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import type { TaskConfig } from '../core/task-config.ts';

/** What {@link releaseTask} removed. */
export interface ReleaseReport {
  readonly slotDropped: boolean;
  readonly publicationDropped: boolean;
  /** The task's DDL capture (event trigger and function) was removed from the source. */
  readonly ddlCaptureDropped: boolean;
  /** The slot was not created by pgdts (incremental.existingSlot): left in place [S8]. */
  readonly slotKept: boolean;
  /** The publication was not created by pgdts (a DBA's): left in place [S7]. */
  readonly publicationKept: boolean;
  readonly slotName: string;
  readonly publicationName: string;
}

/**
 * Drops the task's DDL capture (event triggers, function), slot and publication (terminating a walsender still holding the slot [S5]) and
 * deletes its checkpoints. A publication pgdts did not create (a DBA's) is kept [S7], and so is a
 * slot it did not create [S8].
 * @throws {PgdtsError} CONNECTION_FAILED when a server cannot be reached.
 */
export async function releaseTask(
  task: TaskConfig,
  o: { source: Source; sink: Sink },
): Promise<ReleaseReport> {
  const checkpoint = await o.sink.checkpoints.readTask(task.name);
  // Recorded false: found, not made. Not recorded (older bookkeeping, or released already): dropped.
  const dropPublication = checkpoint?.publicationCreated !== false;
  // The task file says so even when nothing was recorded (never run, or released already).
  const dropSlot = task.incremental.existingSlot === undefined && checkpoint?.slotCreated !== false;
  const r = await o.source.changes.release({ dropSlot, dropPublication });
  await o.sink.checkpoints.deleteTask(task.name);
  return {
    ...r,
    slotKept: !dropSlot,
    publicationKept: !dropPublication,
    slotName: o.source.changes.slotName,
    publicationName: o.source.changes.publicationName,
  };
}
