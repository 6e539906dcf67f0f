/**
 * Precheck: the slot named by `incremental.existingSlot` can be streamed as the task's slot: it
 * exists, is logical, uses pgoutput, belongs to the task's database, has kept its WAL and no other
 * consumer holds it (see existing-slot.ts). The run checks the same before it takes the slot over.
 */
import { applicationNameOf } from '../../../pg/connection.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';
import { describeExistingSlot, existingSlotProblem, readExistingSlot } from '../existing-slot.ts';
import { streamApplicationName } from '../replication-slot.ts';
import { streamsExistingSlot } from './incremental.ts';

/** The existing slot is a free pgoutput slot of the task's database (incremental.existingSlot only). */
export const existingSlotCheck: PgPrecheck = {
  id: 'existing-slot',
  title: 'Source existing replication slot',
  needs: [],
  applies: streamsExistingSlot,
  run: async (s, ctx) => {
    const name = ctx.task.incremental.existingSlot ?? '';
    const slot = await readExistingSlot(s.client, name);
    const problem = existingSlotProblem(name, slot, {
      database: s.params.database,
      ownApplicationName: applicationNameOf(s.params, {
        applicationName: streamApplicationName(ctx.task.name),
      }),
    });
    if (problem !== undefined) return { status: 'fail', ...problem };
    if (slot === undefined) return { status: 'fail', message: `replication slot ${name} vanished` };
    return { status: 'pass', message: describeExistingSlot(name, slot) };
  },
};
