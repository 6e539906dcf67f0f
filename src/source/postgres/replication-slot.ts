/**
 * Replication slot, publication and exported snapshot management on the source.
 *
 * Consistency rests on one PostgreSQL fact: `CREATE_REPLICATION_SLOT ... LOGICAL pgoutput EXPORT_SNAPSHOT`
 * on a replication connection returns the slot's consistent point and a snapshot that sees exactly the
 * transactions committed before it (PostgreSQL docs, "Streaming Replication Protocol" and "Exported
 * Snapshots"). Copy workers import that snapshot (`SET TRANSACTION SNAPSHOT`), so the copy plus the
 * changes streamed from the consistent point form the source exactly once. The snapshot lives only
 * while the creating connection stays open and idle: see slot-lifecycle.md.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import { quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import { parseLsn, type Lsn } from '../../core/lsn.ts';
import { connect, wrapPgError, type ConnectionParams } from '../../pg/connection.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { ExportedSnapshot } from './postgres-snapshot.ts';
import { missingFromPublication, publicationEntry, publicationTables } from './publication-coverage.ts';

/**
 * Creates the logical replication slot `slotName` (pgoutput) and exports its snapshot. With
 * `temporary`, the slot disappears when the connection closes: used to get a fresh snapshot with a
 * known LSN when resuming a copy whose first snapshot is gone.
 * @throws {PgdtsError} REPLICATION_FAILED (e.g. slot exists, no free slot, wal_level not logical).
 */
export async function createSlotWithSnapshot(
  params: ConnectionParams,
  slotName: string,
  opts: { temporary: boolean },
): Promise<ExportedSnapshot> {
  const client = await connect(params, {
    role: 'source',
    replication: 'database',
    applicationName: 'pgdts-snapshot',
  });
  try {
    // Old-style syntax: accepted by PostgreSQL 10 through 17.
    const r = await client.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(slotName)} ${opts.temporary ? 'TEMPORARY ' : ''}LOGICAL pgoutput EXPORT_SNAPSHOT`,
    );
    const row = r.rows[0];
    if (!row) throw new PgdtsError('REPLICATION_FAILED', 'CREATE_REPLICATION_SLOT returned no row');
    return {
      snapshotName: row.snapshot_name,
      lsn: parseLsn(row.consistent_point),
      release: () => client.end().catch(() => undefined),
    };
  } catch (e) {
    await client.end().catch(() => undefined);
    throw wrapPgError('REPLICATION_FAILED', `cannot create replication slot ${slotName}`, e);
  }
}

/**
 * Exports a plain snapshot (no slot) from a REPEATABLE READ transaction kept open: enough for a
 * consistent full sync without incremental (works with any wal_level).
 */
export async function exportPlainSnapshot(params: ConnectionParams): Promise<ExportedSnapshot> {
  const client = await connect(params, { role: 'source', applicationName: 'pgdts-snapshot' });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const r = await client.query<{ s: string }>('SELECT pg_export_snapshot() AS s');
    return {
      snapshotName: r.rows[0]?.s ?? '',
      lsn: undefined,
      release: () => client.end().catch(() => undefined),
    };
  } catch (e) {
    await client.end().catch(() => undefined);
    throw wrapPgError('COPY_FAILED', 'cannot export a snapshot', e);
  }
}

/** State of a replication slot (pg_replication_slots). */
export interface SlotState {
  readonly active: boolean;
  readonly activePid: number | undefined;
  readonly confirmedFlushLsn: Lsn | undefined;
  readonly restartLsn: Lsn | undefined;
  readonly database: string;
  readonly plugin: string;
}

/** Reads a slot's state, or undefined when it does not exist. */
export async function readSlot(client: pg.Client, slotName: string): Promise<SlotState | undefined> {
  const r = await client.query<{
    active: boolean;
    active_pid: number | null;
    confirmed_flush_lsn: string | null;
    restart_lsn: string | null;
    database: string;
    plugin: string;
  }>(
    `SELECT active, active_pid, confirmed_flush_lsn::text, restart_lsn::text, database, plugin
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slotName],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    active: row.active,
    activePid: row.active_pid ?? undefined,
    confirmedFlushLsn: row.confirmed_flush_lsn ? parseLsn(row.confirmed_flush_lsn) : undefined,
    restartLsn: row.restart_lsn ? parseLsn(row.restart_lsn) : undefined,
    database: row.database,
    plugin: row.plugin,
  };
}

/**
 * Drops a replication slot if it exists. A slot still held by a dying walsender (our previous process)
 * is released by terminating that backend first. Returns whether a slot was dropped.
 */
export async function dropSlot(client: pg.Client, slotName: string): Promise<boolean> {
  const s = await readSlot(client, slotName);
  if (!s) return false;
  if (s.activePid !== undefined) {
    await client.query('SELECT pg_terminate_backend($1)', [s.activePid]);
    for (let i = 0; i < 50 && (await readSlot(client, slotName))?.active; i++) await sleep(100);
  }
  try {
    await client.query('SELECT pg_drop_replication_slot($1)', [slotName]);
  } catch (e) {
    if ((e as { code?: string }).code === '42704') return false; // dropped meanwhile
    throw wrapPgError('REPLICATION_FAILED', `cannot drop replication slot ${slotName}`, e);
  }
  return true;
}

/**
 * Creates (or completes) the publication for the given tables, and `extra` tables of pgdts's own
 * (the heartbeat table). Partitioned tables publish their
 * changes under each partition's own name (`publish_via_partition_root = false`, the default), so
 * that a TRUNCATE of one partition is published too: with `true`, "TRUNCATE operations performed
 * directly on partitions are not replicated" (PostgreSQL docs, "CREATE PUBLICATION"). A row moving
 * between partitions arrives as a delete from one and an insert into the other.
 * Must exist before the slot is created: pgoutput reads publications with the historic snapshot.
 * @throws {PgdtsError} REPLICATION_FAILED (e.g. not the owner of a table).
 */
export async function ensurePublication(
  client: pg.Client,
  name: string,
  tables: readonly SelectedTable[],
  rowFilters: ReadonlyMap<string, string> = new Map(),
  major = 0,
  extra: readonly QualifiedName[] = [],
): Promise<{ created: boolean }> {
  const entry = (t: SelectedTable) => publicationEntry(t, rowFilters, major);
  const extraEntry = (x: QualifiedName) => quoteQualified(x);
  try {
    const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
    if (exists.rowCount === 0) {
      const list = [...publicationTables(tables).map(entry), ...extra.map(extraEntry)].join(', ');
      // Extended protocol: one statement, whatever a row filter's text holds.
      await client.query({
        text: `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${list}`,
        queryMode: 'extended',
      } as pg.QueryConfig);
      return { created: true };
    }
    const listed = await client.query<{ schema: string; name: string }>(
      'SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1',
      [name],
    );
    const missing: string[] = [
      ...missingFromPublication(tables, listed.rows).map(entry),
      ...extra
        .filter((x) => !listed.rows.some((l) => l.schema === x.schema && l.name === x.name))
        .map(extraEntry),
    ];
    if (missing.length > 0) {
      await client.query({
        text: `ALTER PUBLICATION ${quoteIdent(name)} ADD TABLE ${missing.join(', ')}`,
        queryMode: 'extended',
      } as pg.QueryConfig);
    }
    return { created: false };
  } catch (e) {
    throw wrapPgError('REPLICATION_FAILED', `cannot create publication ${name}`, e);
  }
}

/** application_name of a task's walsender (at most 63 bytes, as the server keeps it) [S6]. */
export function streamApplicationName(taskName: string): string {
  return `pgdts:${taskName}`.slice(0, 63);
}

/**
 * Makes sure no walsender of an earlier, killed run of this task still holds `slotName`: when the
 * slot is active and the holder's application_name is `applicationName` (this task's), that backend
 * is terminated and the slot awaited free for up to `waitMs`. A walsender of a killed client stays
 * until it notices the dead socket (up to wal_sender_timeout); without this, START_REPLICATION
 * fails with 55006 until then. A holder with another name is left alone (START_REPLICATION then
 * reports it). Terminating a backend of the same role needs no extra privilege (PostgreSQL docs,
 * "Server Signaling Functions").
 * @returns the pid terminated, if any.
 */
export async function freeSlotFromOrphan(
  client: pg.Client,
  slotName: string,
  applicationName: string,
  waitMs = 5000,
): Promise<number | undefined> {
  const r = await client.query<{ pid: number | null; app: string | null }>(
    `SELECT s.active_pid AS pid, a.application_name AS app
       FROM pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
      WHERE s.slot_name = $1`,
    [slotName],
  );
  const row = r.rows[0];
  // The server truncates application_name to NAMEDATALEN - 1 = 63 bytes.
  if (row?.pid == null || row.app !== applicationName.slice(0, 63)) return undefined;
  await client.query('SELECT pg_terminate_backend($1)', [row.pid]);
  const deadline = Date.now() + waitMs;
  while (Date.now() < deadline && (await readSlot(client, slotName))?.active) await sleep(50);
  return row.pid;
}

/** Drops the publication if it exists. */
export async function dropPublication(client: pg.Client, name: string): Promise<boolean> {
  const r = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name]);
  if (r.rowCount === 0) return false;
  await client.query(`DROP PUBLICATION ${quoteIdent(name)}`);
  return true;
}
