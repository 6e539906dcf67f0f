/**
 * The PostgreSQL source connector: implements the core {@link Source} with the catalog readers, the
 * replication slot and publication, the exported snapshots and the pgoutput change stream of this
 * folder. One "main" session serves catalog queries and is reopened after it was lost; snapshots,
 * copy readers, streams and hashers have connections of their own.
 */
import type pg from 'pg';
import type { AccessRecipe, Precheck, ServerInfo } from '../../core/precheck.ts';
import { PgdtsError } from '../../core/errors.ts';
import { parseLsn, type Lsn } from '../../core/lsn.ts';
import type { ReadSchemaOptions, SchemaModel } from '../../core/schema-model.ts';
import type { SelectedTable, SequenceValue } from '../../core/selected-table.ts';
import type {
  ChangeCapture,
  ChangeStream,
  DdlCaptureState,
  OpenStreamOptions,
  RowFilterRequest,
  SlotInfo,
  SlotSnapshot,
  Snapshot,
  Source,
  SourceIdentity,
  SourcePosition,
} from '../../core/source.ts';
import type { TableHasher } from '../../core/table-hash.ts';
import type { HeartbeatConfig } from '../../core/heartbeat-config.ts';
import type { ObjectSelector, TaskConfig } from '../../core/task-config.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { sourceAccessRecipe } from './access-recipe.ts';
import {
  applicationNameOf,
  connect,
  describeEndpoint,
  wrapPgError,
  type ConnectionParams,
} from '../../pg/connection.ts';
import { bindPrechecks } from '../../pg/precheck-side.ts';
import { readServerInfo } from '../../pg/server-info.ts';
import { SessionClient } from '../../pg/session-client.ts';
import { PgTableHasher } from '../../pg/table-hash.ts';
import { PostgresChangeStream } from './change-stream.ts';
import { ddlCaptureUnavailable, dropDdlCapture, installDdlCapture } from './ddl-capture.ts';
import { MESSAGES_MIN_MAJOR, withoutTable } from './heartbeat.ts';
import { ensureHeartbeatTable } from './heartbeat-catalog.ts';
import {
  existingSlotProblem,
  existingSlotPublicationProblem,
  missingFromExistingPublication,
  readExistingSlot,
  type ExistingSlot,
} from './existing-slot.ts';
import { SOURCE_PRECHECKS } from './precheck/index.ts';
import { PostgresSnapshot } from './postgres-snapshot.ts';
import {
  createSlotWithSnapshot,
  dropPublication,
  dropSlot,
  ensurePublication,
  exportPlainSnapshot,
  freeSlotFromOrphan,
  readSlot,
  streamApplicationName,
} from './replication-slot.ts';
import { introspectSchema } from './schema/introspect-schema.ts';
import { listSelectedTables } from './selected-tables.ts';
import { readSequences } from './sequences.ts';
import { SpillDirectory } from './spill-directory.ts';
import { checkRowFilter, evaluateRowFilter, publicationRowFilters } from './row-filter.ts';
import { readRelationColumns } from './relation-columns.ts';
import type { SourceSchemaLookup } from '../../core/schema-change.ts';
import { displayName, type QualifiedName } from '../../core/identifier.ts';

/** Task-level settings of {@link PostgresSource}. */
export interface PostgresSourceOptions {
  /** Task name: part of the walsender's application_name, so a run recognises its own orphan. */
  readonly taskName: string;
  readonly slotName: string;
  readonly publicationName: string;
  /** Directory for spill files of streamed transactions (emptied when a stream opens). */
  readonly spillDir: string;
  /** Spill budget, bytes; 0 = no limit. */
  readonly spillMaxBytes: number;
  /** The slot is one pgdts did not create (incremental.existingSlot): its publication must exist. */
  readonly existingSlot: boolean;
  /** The task's heartbeat (source.heartbeat), if any. */
  readonly heartbeat: HeartbeatConfig | undefined;
  /** Schemas whose DDL the task captures (core/ddl.ts ddlSchemasOf); absent or empty: none. */
  readonly ddlSchemas?: readonly string[];
}

/** The PostgreSQL {@link Source}. */
export class PostgresSource implements Source {
  readonly description: string;
  readonly changes: ChangeCapture;
  private readonly params: ConnectionParams;
  private readonly main: SessionClient;
  private info: ServerInfo | undefined;
  /** The heartbeat table is never part of the selection, even when its schema is selected. */
  private readonly heartbeatTable: QualifiedName | undefined;

  constructor(params: ConnectionParams, o: PostgresSourceOptions) {
    this.params = params;
    this.description = describeEndpoint(params);
    this.main = new SessionClient(params, { role: 'source', applicationName: 'pgdts' });
    this.heartbeatTable = o.heartbeat?.table;
    this.changes = new PostgresChangeCapture(params, this.main, o, () => this.serverInfo());
  }

  async serverInfo(): Promise<ServerInfo> {
    if (this.info) return this.info;
    const client = await this.main.get();
    try {
      this.info = await readServerInfo(client, this.params);
      return this.info;
    } catch (e) {
      throw wrapPgError('SOURCE_UNSUPPORTED', `cannot read the version of source ${this.description}`, e);
    }
  }

  /**
   * From IDENTIFY_SYSTEM on a replication connection (PostgreSQL docs, "Streaming Replication
   * Protocol"), whose timeline is the current one; without replication access, from the control file
   * (pg_control_system, pg_control_checkpoint: the timeline of the last checkpoint).
   */
  async identity(): Promise<SourceIdentity> {
    try {
      const c = await connect(this.params, {
        role: 'source',
        replication: 'database',
        applicationName: 'pgdts-identify',
      });
      try {
        const r = await c.query<{ systemid: string; timeline: number }>('IDENTIFY_SYSTEM');
        const row = r.rows[0];
        if (row) return { systemId: String(row.systemid), timeline: Number(row.timeline) };
      } finally {
        await c.end().catch(() => undefined);
      }
    } catch (e) {
      if (e instanceof PgdtsError && e.retryable) throw e;
      // No replication access (28000): the control file tells as much.
    }
    try {
      const r = await this.main.query<{ id: string; tl: number }>(
        `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS id,
                (SELECT timeline_id FROM pg_control_checkpoint()) AS tl`,
      );
      return { systemId: r.rows[0]?.id ?? '', timeline: Number(r.rows[0]?.tl ?? 0) };
    } catch (e) {
      throw wrapPgError('SOURCE_UNSUPPORTED', `cannot identify source ${this.description}`, e);
    }
  }

  async listTables(objects: readonly ObjectSelector[]): Promise<SelectedTable[]> {
    try {
      const tables = await listSelectedTables(await this.main.get(), objects);
      const hb = this.heartbeatTable;
      return hb === undefined ? tables : tables.filter((t) => t.schema !== hb.schema || t.name !== hb.name);
    } catch (e) {
      throw wrapPgError('SOURCE_UNSUPPORTED', 'cannot list the selected tables', e);
    }
  }

  async readSchema(objects: readonly ObjectSelector[], options?: ReadSchemaOptions): Promise<SchemaModel> {
    const model = await introspectSchema(await this.main.get(), objects, options);
    return this.heartbeatTable === undefined ? model : withoutTable(model, this.heartbeatTable);
  }

  async readSequences(objects: readonly ObjectSelector[]): Promise<SequenceValue[]> {
    try {
      return await readSequences(await this.main.get(), objects);
    } catch (e) {
      throw wrapPgError('SOURCE_UNSUPPORTED', 'cannot read the source sequences', e);
    }
  }

  async createPlainSnapshot(): Promise<Snapshot> {
    return new PostgresSnapshot(this.params, await exportPlainSnapshot(this.params));
  }

  openHasher(): Promise<TableHasher> {
    return PgTableHasher.open(this.params, 'source', { snapshot: snapshotWalPosition });
  }

  async checkRowFilter(table: QualifiedName, where: string, path: string): Promise<readonly string[]> {
    try {
      return await checkRowFilter(await this.main.get(), table, where, path);
    } catch (e) {
      if (e instanceof PgdtsError) throw e;
      throw wrapPgError('CONNECTION_FAILED', `cannot check the row filter of ${displayName(table)}`, e);
    }
  }

  async evaluateRowFilter(req: RowFilterRequest): Promise<boolean[]> {
    return evaluateRowFilter(await this.main.get(), req);
  }

  readonly schemaLookup: SourceSchemaLookup = {
    relationColumns: async (table, columns) => {
      try {
        return await readRelationColumns(await this.main.get(), table, columns);
      } catch (e) {
        throw wrapPgError('REPLICATION_FAILED', `cannot read the columns of ${displayName(table)}`, e);
      }
    },
  };

  async accessRecipe(task: TaskConfig, targets: readonly TableTarget[]): Promise<AccessRecipe> {
    const { major } = await this.serverInfo();
    try {
      return await sourceAccessRecipe(await this.main.get(), this.params, major, task, targets);
    } catch (e) {
      throw wrapPgError('SOURCE_UNSUPPORTED', 'cannot read the source catalog for the grants', e);
    }
  }

  prechecks(): readonly Precheck[] {
    return bindPrechecks('source', SOURCE_PRECHECKS, this.main, () => this.serverInfo());
  }

  async close(): Promise<void> {
    await this.main.close();
  }
}

/** Slot, publication and stream of one task on a PostgreSQL source. */
class PostgresChangeCapture implements ChangeCapture {
  readonly slotName: string;
  readonly publicationName: string;

  constructor(
    private readonly params: ConnectionParams,
    private readonly main: SessionClient,
    private readonly o: PostgresSourceOptions,
    private readonly serverInfo: () => Promise<ServerInfo>,
  ) {
    this.slotName = o.slotName;
    this.publicationName = o.publicationName;
  }

  async checkOptions(): Promise<void> {
    const hb = this.o.heartbeat;
    if (hb === undefined || hb.table !== undefined) return;
    const { major, version } = await this.serverInfo();
    if (major < MESSAGES_MIN_MAJOR) {
      throw new PgdtsError(
        'SOURCE_UNSUPPORTED',
        `source.heartbeat: a heartbeat without table is a logical decoding message, which pgoutput sends from PostgreSQL ${MESSAGES_MIN_MAJOR} (option messages); the source runs ${version}`,
        { hint: 'set source.heartbeat.table (e.g. public.pgdts_heartbeat): pgdts then upserts a row there' },
      );
    }
  }

  async ensurePublication(
    tables: readonly SelectedTable[],
    rowFilters: ReadonlyMap<string, string>,
  ): Promise<{ created: boolean }> {
    const client = await this.main.get();
    const { major } = await this.serverInfo();
    // The heartbeat table first: the publication lists it (and must, before the slot exists: S1).
    const hb = this.o.heartbeat?.table;
    if (hb !== undefined) await ensureHeartbeatTable(client, hb);
    if (this.o.existingSlot) {
      let missing: SelectedTable[] | undefined;
      try {
        missing = await missingFromExistingPublication(client, this.publicationName, tables);
      } catch (e) {
        throw wrapPgError('REPLICATION_FAILED', `cannot read publication ${this.publicationName}`, e);
      }
      const problem = existingSlotPublicationProblem(this.slotName, this.publicationName, missing);
      if (problem !== undefined) {
        throw new PgdtsError('SOURCE_UNSUPPORTED', `incremental.existingSlot: ${problem.message}`, {
          hint: problem.fix,
        });
      }
      // Adding the heartbeat table now loses nothing: its earlier changes are never applied anyway.
      if (hb !== undefined) await ensurePublication(client, this.publicationName, [], new Map(), major, [hb]);
      return { created: false };
    }
    return ensurePublication(
      client,
      this.publicationName,
      tables,
      rowFilters,
      major,
      hb === undefined ? [] : [hb],
    );
  }

  async publicationRowFilters(): Promise<ReadonlyMap<string, string>> {
    const { major } = await this.serverInfo();
    try {
      return await publicationRowFilters(await this.main.get(), this.publicationName, major);
    } catch (e) {
      throw wrapPgError('REPLICATION_FAILED', `cannot read the row filters of ${this.publicationName}`, e);
    }
  }

  async readSlot(): Promise<SlotInfo | undefined> {
    try {
      const s = await readSlot(await this.main.get(), this.slotName);
      return s === undefined ? undefined : { confirmedFlushLsn: s.confirmedFlushLsn, active: s.active };
    } catch (e) {
      throw wrapPgError('REPLICATION_FAILED', `cannot read replication slot ${this.slotName}`, e);
    }
  }

  async createSlot(): Promise<SlotSnapshot> {
    return this.slotSnapshot(this.slotName, false);
  }

  /** The capture is on for this connector's streams (set by {@link ensureDdlCapture}). */
  private ddlCaptureOn = false;

  async ensureDdlCapture(): Promise<DdlCaptureState> {
    const schemas = this.o.ddlSchemas ?? [];
    if (schemas.length === 0) return { on: false, reason: 'no object has ddl in its operations' };
    const info = await this.serverInfo();
    const reason = ddlCaptureUnavailable(info.major, info.version, info.isSuperuser);
    if (reason !== undefined) return { on: false, reason };
    try {
      const installedNow = await installDdlCapture(await this.main.get(), this.o.taskName, schemas);
      this.ddlCaptureOn = true;
      return { on: true, installedNow };
    } catch (e) {
      throw wrapPgError(
        'REPLICATION_FAILED',
        `cannot install the DDL capture (event trigger) of task ${this.o.taskName}`,
        e,
      );
    }
  }

  async createTemporarySnapshot(): Promise<SlotSnapshot> {
    const name = `${this.slotName.slice(0, 50)}_r${Date.now() % 1_000_000}`;
    return this.slotSnapshot(name, true);
  }

  private async slotSnapshot(name: string, temporary: boolean): Promise<SlotSnapshot> {
    const exported = await createSlotWithSnapshot(this.params, name, { temporary });
    const lsn = exported.lsn;
    if (lsn === undefined) {
      await exported.release();
      throw new PgdtsError('INTERNAL', `replication slot ${name} returned no consistent point`);
    }
    return Object.assign(new PostgresSnapshot(this.params, exported), { lsn });
  }

  async openStream(so: OpenStreamOptions): Promise<ChangeStream> {
    const applicationName = streamApplicationName(this.o.taskName);
    const { major } = await this.serverInfo();
    try {
      // The name the walsender really has: a user-set application_name wins (libpq's rule).
      const actual = applicationNameOf(this.params, { applicationName });
      const pid = await freeSlotFromOrphan(await this.main.get(), this.slotName, actual);
      if (pid !== undefined) {
        so.onProgress({
          kind: 'log',
          level: 'warn',
          message: `terminated walsender ${pid}, left holding slot ${this.slotName} by an earlier run of this task`,
        });
      }
    } catch (e) {
      throw wrapPgError('REPLICATION_FAILED', `cannot check replication slot ${this.slotName}`, e);
    }
    return PostgresChangeStream.open(this.params, {
      slotName: this.slotName,
      publicationName: this.publicationName,
      startLsn: so.startLsn,
      skipBefore: so.skipBefore,
      skipCommittedBeforeMs: so.skipCommittedBeforeMs,
      heartbeat:
        this.o.heartbeat === undefined
          ? undefined
          : {
              taskName: this.o.taskName,
              intervalMs: this.o.heartbeat.intervalMs,
              table: this.o.heartbeat.table,
              onProgress: so.onProgress,
            },
      serverMajor: major,
      ...(this.ddlCaptureOn ? { ddlTask: this.o.taskName } : {}),
      applicationName,
      spill: new SpillDirectory(this.o.spillDir, { maxBytes: this.o.spillMaxBytes }),
    });
  }

  async position(): Promise<SourcePosition> {
    try {
      const r = await this.main.query<{ cur: string; retained: string | null }>(
        `SELECT pg_current_wal_lsn()::text AS cur,
                (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text
                   FROM pg_replication_slots WHERE slot_name = $1) AS retained`,
        [this.slotName],
      );
      const row = r.rows[0];
      return {
        currentLsn: parseLsn(row?.cur ?? '0/0'),
        retainedWalBytes: row?.retained == null ? undefined : Number(row.retained),
      };
    } catch (e) {
      throw wrapPgError('REPLICATION_FAILED', 'cannot read the source WAL position', e);
    }
  }

  async adoptSlot(): Promise<Lsn> {
    let slot: ExistingSlot | undefined;
    try {
      slot = await readExistingSlot(await this.main.get(), this.slotName);
    } catch (e) {
      throw wrapPgError('REPLICATION_FAILED', `cannot read replication slot ${this.slotName}`, e);
    }
    const problem = existingSlotProblem(this.slotName, slot, {
      database: this.params.database,
      ownApplicationName: applicationNameOf(this.params, {
        applicationName: streamApplicationName(this.o.taskName),
      }),
    });
    const lsn = slot?.confirmedFlushLsn;
    if (problem !== undefined || lsn === undefined) {
      throw new PgdtsError(
        'SOURCE_UNSUPPORTED',
        `incremental.existingSlot: ${problem?.message ?? `replication slot ${this.slotName} has no confirmed position`}`,
        { hint: problem?.fix ?? 'name a logical pgoutput slot in incremental.existingSlot' },
      );
    }
    return lsn;
  }

  async release(o: {
    dropSlot: boolean;
    dropPublication: boolean;
  }): Promise<{ slotDropped: boolean; publicationDropped: boolean; ddlCaptureDropped: boolean }> {
    try {
      const client = await this.main.get();
      // The capture first: with the slot gone, DDL messages would only fill the WAL.
      const ddlCaptureDropped = await dropDdlCapture(client, this.o.taskName);
      const slotDropped = o.dropSlot && (await dropSlot(client, this.slotName));
      const publicationDropped = o.dropPublication && (await dropPublication(client, this.publicationName));
      return { slotDropped, publicationDropped, ddlCaptureDropped };
    } catch (e) {
      throw wrapPgError('REPLICATION_FAILED', `cannot drop slot ${this.slotName} or its publication`, e);
    }
  }
}

/**
 * The first statement of a verify snapshot on the source: the WAL insert position, read after the
 * snapshot was taken, so every transaction the snapshot sees wrote its commit record below it
 * (a transaction's commit record is inserted before it becomes visible: PostgreSQL's
 * RecordTransactionCommit precedes ProcArrayEndTransaction). On a standby: the replay position.
 */
async function snapshotWalPosition(client: pg.Client): Promise<Lsn> {
  const r = await client.query<{ lsn: string }>(
    `SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END)::text AS lsn`,
  );
  return parseLsn(r.rows[0]?.lsn ?? '0/0');
}
