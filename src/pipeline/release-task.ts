/**
 * Removes everything a task created outside the copied data: the replication slot and publication on
 * the source, and the task's bookkeeping in the destination. Idempotent: safe to run twice.
 */
import { publicationNameOf, slotNameOf, type TaskConfig } from '../core/task-config.ts';
import { connect, resolveEndpoint } from '../pg/connection.ts';
import { dropPublication, dropSlot } from '../source/postgres/replication-slot.ts';
import { deleteTaskBookkeeping } from '../sink/postgres/bookkeeping.ts';

/** What {@link releaseTask} removed. */
export interface ReleaseReport {
  readonly slotDropped: boolean;
  readonly publicationDropped: boolean;
  readonly slotName: string;
  readonly publicationName: string;
}

/**
 * Drops the task's slot and publication and deletes its bookkeeping rows.
 * @throws {PgdtsError} CONNECTION_FAILED when a server cannot be reached.
 */
export async function releaseTask(task: TaskConfig): Promise<ReleaseReport> {
  const slotName = slotNameOf(task);
  const publicationName = publicationNameOf(task);
  const src = await connect(resolveEndpoint(task.source, process.env, 'source'), { role: 'source' });
  let slotDropped: boolean;
  let publicationDropped: boolean;
  try {
    slotDropped = await dropSlot(src, slotName);
    publicationDropped = await dropPublication(src, publicationName);
  } finally {
    await src.end().catch(() => undefined);
  }
  const dst = await connect(resolveEndpoint(task.destination, process.env, 'destination'), {
    role: 'destination',
  });
  try {
    await deleteTaskBookkeeping(dst, task.name);
  } finally {
    await dst.end().catch(() => undefined);
  }
  return { slotDropped, publicationDropped, slotName, publicationName };
}
