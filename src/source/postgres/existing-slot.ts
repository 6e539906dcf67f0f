/**
 * A replication slot pgdts did not create, named by `incremental.existingSlot`: pgdts streams it from
 * its confirmed position and never drops it (slot-lifecycle.md S8). What makes a slot usable, from
 * pg_replication_slots (PostgreSQL docs, "pg_replication_slots" and "Replication Slots"): a logical
 * slot (a physical one carries WAL, not changes), of plugin pgoutput (pgdts decodes nothing else), of
 * the task's database (logical decoding reads one database's catalog), whose WAL is still there
 * (`wal_status` not `lost`), and no other consumer streaming it (only one walsender may hold a slot,
 * and two consumers would each confirm changes the other never saw). Shared by the precheck and by
 * the run that takes the slot over.
 */
import type pg from 'pg';
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts';
import { displayName, quoteLiteral, type QualifiedName } from '../../core/identifier.ts';
import { listShort } from '../../core/precheck.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import { missingFromPublication } from './publication-coverage.ts';

/** A slot as pg_replication_slots shows it. */
export interface ExistingSlot {
  /** `logical` or `physical`. */
  readonly slotType: string;
  readonly plugin: string | undefined;
  readonly database: string | undefined;
  /** The walsender holding the slot, if any, and its application_name. */
  readonly activePid: number | undefined;
  readonly activeApplicationName: string | undefined;
  readonly confirmedFlushLsn: Lsn | undefined;
  /** `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+). */
  readonly walStatus: string | undefined;
  /** WAL the slot keeps from being recycled, bytes. */
  readonly retainedWalBytes: number | undefined;
}

/** Reads slot `name`, or undefined when there is none. */
export async function readExistingSlot(client: pg.Client, name: string): Promise<ExistingSlot | undefined> {
  const r = await client.query<{
    slot_type: string;
    plugin: string | null;
    database: string | null;
    active_pid: number | null;
    app: string | null;
    confirmed: string | null;
    wal_status: string | null;
    retained: string | null;
  }>(
    `SELECT s.slot_type, s.plugin, s.database, s.active_pid, a.application_name AS app,
            s.confirmed_flush_lsn::text AS confirmed, s.wal_status,
            pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint::text AS retained
       FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name = $1`,
    [name],
  );
  const row = r.rows[0];
  if (row === undefined) return undefined;
  return {
    slotType: row.slot_type,
    plugin: row.plugin ?? undefined,
    database: row.database ?? undefined,
    activePid: row.active_pid ?? undefined,
    activeApplicationName: row.app ?? undefined,
    confirmedFlushLsn: row.confirmed === null ? undefined : parseLsn(row.confirmed),
    walStatus: row.wal_status ?? undefined,
    retainedWalBytes: row.retained === null ? undefined : Number(row.retained),
  };
}

/** Why a slot cannot be streamed, and what fixes it. */
export interface SlotProblem {
  readonly message: string;
  readonly fix: string;
}

/**
 * The first reason `slot` (named `name`) cannot be the task's slot, or undefined when it can.
 * `database` is the task's source database; a walsender named `ownApplicationName` (a run of this
 * task, e.g. one left by a killed run: slot-lifecycle.md S6) does not count as another consumer.
 */
export function existingSlotProblem(
  name: string,
  slot: ExistingSlot | undefined,
  o: { readonly database: string; readonly ownApplicationName: string },
): SlotProblem | undefined {
  const other =
    'name a logical pgoutput slot of this database in incremental.existingSlot, or remove the key (pgdts then creates a slot of its own)';
  if (slot === undefined) {
    return {
      message: `replication slot ${name} does not exist`,
      fix: `check the name, or create it: SELECT pg_create_logical_replication_slot(${quoteLiteral(name)}, 'pgoutput'); — or remove incremental.existingSlot`,
    };
  }
  if (slot.slotType !== 'logical') {
    return { message: `replication slot ${name} is a ${slot.slotType} slot, not a logical one`, fix: other };
  }
  if (slot.plugin !== 'pgoutput') {
    return {
      message: `replication slot ${name} decodes with plugin ${slot.plugin ?? '(none)'}, not pgoutput`,
      fix: other,
    };
  }
  if (slot.database !== o.database) {
    return {
      message: `replication slot ${name} decodes database ${slot.database ?? '(none)'}, not ${o.database}`,
      fix: `connect the task's source to database ${slot.database ?? '(none)'}, or ${other}`,
    };
  }
  if (slot.walStatus === 'lost') {
    return {
      message: `replication slot ${name} has lost WAL it needs (wal_status = lost): it can no longer be streamed`,
      fix: `drop it (SELECT pg_drop_replication_slot(${quoteLiteral(name)})) and remove incremental.existingSlot, then copy the data anew`,
    };
  }
  if (slot.activePid !== undefined && slot.activeApplicationName !== o.ownApplicationName.slice(0, 63)) {
    return {
      message: `replication slot ${name} is in use by process ${slot.activePid} (application_name ${slot.activeApplicationName ?? 'unknown'}): two consumers of one slot each lose what the other confirms`,
      fix: `stop that consumer first (or SELECT pg_terminate_backend(${slot.activePid}))`,
    };
  }
  return undefined;
}

/** One line on a usable slot, for the precheck. */
export function describeExistingSlot(name: string, slot: ExistingSlot): string {
  const at = slot.confirmedFlushLsn === undefined ? 'unknown' : formatLsn(slot.confirmedFlushLsn);
  const retained =
    slot.retainedWalBytes === undefined ? '' : `, ${slot.retainedWalBytes} bytes of WAL retained`;
  return `slot ${name} is a pgoutput slot of database ${slot.database ?? ''}; streaming starts at its confirmed position ${at}${retained}, and pgdts never drops it`;
}

/**
 * Why the publication cannot serve an existing slot, or undefined when it can. pgoutput reads the
 * publication with the historic snapshot of each change it decodes (PostgreSQL docs, "Logical
 * Decoding" > "Output Plugins", and "CREATE PUBLICATION"): a publication created after the slot's
 * confirmed position makes every change before it fail to decode ("publication ... does not
 * exist"), and a table added after that position silently misses its changes before the addition.
 * So, unlike for a slot pgdts creates, the publication must already exist and list every selected
 * table; pgdts neither creates nor completes it.
 * @param missing selected tables the publication lacks (publication-coverage.ts), undefined when it
 *   does not exist.
 */
export function existingSlotPublicationProblem(
  slot: string,
  publication: string,
  missing: readonly QualifiedName[] | undefined,
): SlotProblem | undefined {
  const why = `the changes slot ${slot} holds are decoded with the publication as it was when they were written`;
  if (missing === undefined) {
    return {
      message: `publication ${publication} does not exist: ${why}, so one created now cannot decode them`,
      fix: `set incremental.publicationName to the publication slot ${slot} was streamed with`,
    };
  }
  if (missing.length > 0) {
    return {
      message: `publication ${publication} does not publish ${listShort(missing.map(displayName))}: ${why}, so adding ${missing.length === 1 ? 'it' : 'them'} now would lose their earlier changes`,
      fix: `select only tables publication ${publication} publishes, or name a publication that lists them all in incremental.publicationName`,
    };
  }
  return undefined;
}

/**
 * The tables of `tables` publication `publication` lacks, or undefined when it does not exist
 * (pg_publication_tables lists every way a table gets in).
 */
export async function missingFromExistingPublication(
  client: pg.Client,
  publication: string,
  tables: readonly SelectedTable[],
): Promise<SelectedTable[] | undefined> {
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [publication]);
  if (exists.rowCount === 0) return undefined;
  const listed = await client.query<{ schema: string; name: string }>(
    'SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1',
    [publication],
  );
  return missingFromPublication(tables, listed.rows);
}
