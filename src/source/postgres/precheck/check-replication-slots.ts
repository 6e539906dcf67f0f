/**
 * Precheck: the source can hold the task's replication slot. Slots are limited by
 * `max_replication_slots` (PostgreSQL docs, "Replication Slots"); a slot left by an earlier run of the
 * same task is reused, so it needs no free entry, but it must be a pgoutput slot of the same database.
 */
import { slotNameOf } from '../../../core/task-config.ts';
import { createsSlot } from './incremental.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/**
 * A free replication slot, or the task's own slot already present (incremental only; a slot given
 * as incremental.existingSlot is check-existing-slot.ts's).
 */
export const replicationSlotsCheck: PgPrecheck = {
  id: 'replication-slots',
  title: 'Source replication slots',
  needs: [],
  applies: createsSlot,
  run: async (s, ctx) => {
    const slot = slotNameOf(ctx.task);
    const r = await s.client.query<{
      max: number;
      used: number;
      slot_type: string | null;
      plugin: string | null;
      database: string | null;
    }>(
      `SELECT current_setting('max_replication_slots')::int AS max,
              (SELECT count(*)::int FROM pg_replication_slots) AS used,
              own.slot_type, own.plugin, own.database
         FROM (SELECT 1) one
         LEFT JOIN pg_replication_slots own ON own.slot_name = $1`,
      [slot],
    );
    const row = r.rows[0];
    if (!row) return { status: 'fail', message: 'pg_replication_slots returned nothing' };
    if (row.slot_type !== null) {
      if (row.slot_type !== 'logical' || row.plugin !== 'pgoutput' || row.database !== s.params.database) {
        return {
          status: 'fail',
          message: `slot ${slot} exists but is a ${row.slot_type} slot${row.plugin ? ` of plugin ${row.plugin}` : ''}${row.database ? ` in database ${row.database}` : ''}, not a pgoutput slot of database ${s.params.database}`,
          fix: `drop it (SELECT pg_drop_replication_slot('${slot}')) or set incremental.slotName`,
        };
      }
      return { status: 'pass', message: `slot ${slot} exists and will be reused` };
    }
    const free = row.max - row.used;
    if (free >= 1) {
      return { status: 'pass', message: `${free} of max_replication_slots = ${row.max} free` };
    }
    return {
      status: 'fail',
      message: `no free replication slot: ${row.used} of max_replication_slots = ${row.max} in use`,
      fix: 'drop unused slots (SELECT pg_drop_replication_slot(name)) or raise max_replication_slots (restart needed)',
    };
  },
};
