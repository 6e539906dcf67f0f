/**
 * The `source.heartbeat` task option (README "Task file reference"): while the source has sent no
 * change for `intervalMs`, pgdts writes the time into the source itself, so the slot's confirmed
 * position keeps moving (retained WAL stays flat) and the lag is measured even without traffic.
 * With `table`, an upsert of the task's row in that table (published with the task's tables, never
 * copied or applied); without, a transactional logical decoding message (PostgreSQL 14+).
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { displayName, parseIdentifierPath, type QualifiedName } from './identifier.ts';
import type { ObjectSelector } from './task-config.ts';

/** Default and least heartbeat interval, ms. */
export const HEARTBEAT_INTERVAL_MS = { default: 10_000, min: 1_000 } as const;

/** Parses `text` like `objects[].table`: `schema.table`, quoted parts keep their case. */
function qualifiedTable(text: string): QualifiedName {
  const parts = parseIdentifierPath(text);
  const [schema, name] = parts;
  if (parts.length !== 2 || schema === undefined || name === undefined) {
    throw new RangeError('must be schema.table');
  }
  return { schema, name };
}

/** zod schema of `source.heartbeat`; `table` comes out parsed. */
export const heartbeatSchema = z.strictObject({
  /** Write a heartbeat after this long without a change from the source, ms. */
  intervalMs: z.number().int().min(HEARTBEAT_INTERVAL_MS.min).default(HEARTBEAT_INTERVAL_MS.default),
  /** The table pgdts upserts `(task_name, beat_at)` into; absent: a logical decoding message. */
  table: z
    .string()
    .min(1)
    .transform((text, ctx): QualifiedName => {
      try {
        return qualifiedTable(text);
      } catch (e) {
        ctx.issues.push({ code: 'custom', message: (e as Error).message, input: text });
        return z.NEVER;
      }
    })
    .optional(),
});

/** A validated `source.heartbeat`. */
export type HeartbeatConfig = z.infer<typeof heartbeatSchema>;

/**
 * The rules across keys: a heartbeat needs `incremental` in syncTypes (it exists for the slot), and
 * its table is never one of the selected tables (pgdts writes it on the source and never copies it).
 * @throws {ConfigError} naming the key and the rule.
 */
export function checkHeartbeat(
  task: {
    readonly syncTypes: readonly string[];
    readonly source: { readonly heartbeat?: HeartbeatConfig | undefined };
  },
  objects: readonly ObjectSelector[],
): void {
  const hb = task.source.heartbeat;
  if (hb === undefined) return;
  if (!task.syncTypes.includes('incremental')) {
    throw new ConfigError(
      'source.heartbeat',
      'needs incremental in syncTypes (it keeps the replication slot moving)',
    );
  }
  const table = hb.table;
  if (table === undefined) return;
  const i = objects.findIndex(
    (o) =>
      o.kind === 'table' && o.glob !== true && o.table.schema === table.schema && o.table.name === table.name,
  );
  if (i >= 0) {
    throw new ConfigError(
      'source.heartbeat.table',
      `must not be a selected table (objects[${i}].table is ${displayName(table)}): pgdts writes it on the source and never copies it`,
    );
  }
}
