/**
 * Where an incremental-only task starts streaming (README "Task file reference"):
 * - by default at the consistent point of the slot pgdts creates;
 * - `incremental.existingSlot`: at the confirmed position of a pgoutput slot someone else created,
 *   which pgdts streams but never drops;
 * - `incremental.startTime`: transactions committed before that time are skipped (by the commit
 *   time pgoutput sends with Begin and Stream Commit).
 * Both only make sense without `full`: a full sync copies under the snapshot of a slot it creates,
 * and the stream must start exactly there.
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';

/** PostgreSQL's rule for slot names (ReplicationSlotValidateName): at most NAMEDATALEN - 1 bytes. */
export const SLOT_NAME = {
  pattern: /^[a-z0-9_]{1,63}$/,
  rule: 'lower-case letters, digits and _ only, at most 63 characters',
} as const;

/** zod schema of `incremental.existingSlot`. */
export const existingSlotSchema = z.string().regex(SLOT_NAME.pattern, SLOT_NAME.rule);

/** zod schema of `incremental.startTime`: ISO 8601 with a UTC offset, so it names one instant. */
export const startTimeSchema = z.iso.datetime({
  offset: true,
  error: 'must be an ISO 8601 date and time with a UTC offset, e.g. 2026-11-30T12:00:00Z',
});

/** What {@link checkStartPosition} reads of a task. */
interface StartPositionKeys {
  readonly syncTypes: readonly string[];
  readonly incremental: {
    readonly slotName?: string | undefined;
    readonly existingSlot?: string | undefined;
    readonly startTime?: string | undefined;
  };
}

/**
 * The rules across keys: `existingSlot` and `startTime` need `incremental` and no `full` in
 * syncTypes; `existingSlot` replaces `slotName`.
 * @throws {ConfigError} naming the key and the rule.
 */
export function checkStartPosition(task: StartPositionKeys): void {
  for (const key of ['existingSlot', 'startTime'] as const) {
    if (task.incremental[key] === undefined) continue;
    if (!task.syncTypes.includes('incremental')) {
      throw new ConfigError(`incremental.${key}`, 'needs incremental in syncTypes');
    }
    if (task.syncTypes.includes('full')) {
      throw new ConfigError(
        `incremental.${key}`,
        'only for tasks without full in syncTypes (a full sync streams from the consistent point of the slot it creates): remove full, or this key',
      );
    }
  }
  if (task.incremental.existingSlot !== undefined && task.incremental.slotName !== undefined) {
    throw new ConfigError(
      'incremental.existingSlot',
      'give existingSlot (a slot to stream) or slotName (the slot pgdts creates), not both',
    );
  }
}

/** `incremental.startTime` as ms since the Unix epoch, or undefined when not set. */
export function startTimeMsOf(task: {
  readonly incremental: { readonly startTime?: string | undefined };
}): number | undefined {
  const t = task.incremental.startTime;
  return t === undefined ? undefined : Date.parse(t);
}
