/**
 * The PostgreSQL sink connector: implements the core {@link Sink} with the `pgdts` bookkeeping
 * schema as checkpoint store, DDL from the schema model, COPY loading and the change applier of this
 * folder. One "main" session serves bookkeeping, status and sequences and is reopened after it was
 * lost; appliers, row writers, DDL workers and the lease have connections of their own.
 */
import type pg from 'pg';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PgdtsError } from '../../core/errors.ts';
import { displayName, quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { AccessRecipe, Precheck, ServerInfo } from '../../core/precheck.ts';
import type { SchemaModel } from '../../core/schema-model.ts';
import type { SequenceValue } from '../../core/selected-table.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import { destinationAccessRecipe } from './access-recipe.ts';
import type {
  AppliedPosition,
  ChangeApplier,
  CheckpointStore,
  LoadMode,
  OpenApplierOptions,
  RowLoader,
  RowWriter,
  SchemaEvent,
  SchemaReportRow,
  SchemaWriter,
  ExtensionAvailability,
  SequenceWriter,
  Sink,
  StatusRow,
  TableRestart,
  TableSyncRow,
  TaskCheckpoint,
  TaskLease,
  TaskPhase,
} from '../../core/sink.ts';
import type { CopyUnit, SourceIdentity } from '../../core/source.ts';
import type { TableHasher } from '../../core/table-hash.ts';
import type { OpenHasherOptions } from '../../core/sink.ts';
import type { RowRepairer } from '../../core/row-repairer.ts';
import { connect, describeEndpoint, wrapPgError, type ConnectionParams } from '../../pg/connection.ts';
import { bindPrechecks } from '../../pg/precheck-side.ts';
import { readServerInfo } from '../../pg/server-info.ts';
import { SessionClient } from '../../pg/session-client.ts';
import { PgRowRepairer } from '../../pg/pg-row-repairer.ts';
import { PgTableHasher } from '../../pg/table-hash.ts';
import { readAppliedPosition } from './apply/applied-position.ts';
import { PostgresChangeApplier } from './apply/postgres-change-applier.ts';
import {
  createTask,
  deleteTaskBookkeeping,
  ensureBookkeeping,
  finishRangesAndCommit,
  readSchemaReport,
  readTableSync,
  readTask,
  readTaskPosition,
  setPublicationCreated,
  setSourceIdentity,
  setTaskError,
  setTaskPhase,
  setTaskSlot,
  startTableSyncs,
  writeSchemaReport,
  writeStatus,
} from './bookkeeping.ts';
import { allTablesEmpty, copyIn, foreignKeyLinks, truncateTables } from './copy-in.ts';
import { restartChunks } from './restart-chunks.ts';
import { mayUseReplicaRole } from './replica-role.ts';
import { DESTINATION_PRECHECKS } from './precheck/index.ts';
import {
  applySchemaDdl,
  applySchemaDdlParallel,
  inspectNativeStatements,
  planSchemaDdl,
} from './schema/index.ts';
import { setSequences } from './sequences.ts';
import { PostgresTaskLease } from './task-lease.ts';
import { PostgresVerifyProgressBook } from './postgres-verify-progress-book.ts';

/** The PostgreSQL {@link Sink}. */
export class PostgresSink implements Sink {
  readonly description: string;
  readonly checkpoints: CheckpointStore;
  readonly schema: SchemaWriter;
  readonly rows: RowLoader;
  readonly sequences: SequenceWriter;
  readonly openHasher: (o?: OpenHasherOptions) => Promise<TableHasher>;
  readonly openRepairer: () => Promise<RowRepairer>;
  readonly verifyProgress: PostgresVerifyProgressBook;
  private readonly params: ConnectionParams;
  private readonly main: SessionClient;
  private info: ServerInfo | undefined;

  constructor(params: ConnectionParams) {
    this.params = params;
    this.description = describeEndpoint(params);
    this.main = new SessionClient(params, { role: 'destination', applicationName: 'pgdts' });
    this.checkpoints = new PostgresCheckpointStore(params, this.main);
    this.schema = new PostgresSchemaWriter(params, this.main);
    this.rows = new PostgresRowLoader(params, this.main);
    this.sequences = {
      setSequences: async (values: readonly SequenceValue[]) => {
        try {
          return await setSequences(await this.main.get(), values);
        } catch (e) {
          throw wrapPgError('APPLY_FAILED', 'cannot set the destination sequences', e);
        }
      },
    };
    this.openHasher = (o) => {
      const task = o?.taskName;
      return PgTableHasher.open(params, 'destination', {
        snapshot: async (c) => (task === undefined ? undefined : (await readTaskPosition(c, task))?.position),
        ...(task === undefined ? {} : { task: (c: pg.Client) => readTaskPosition(c, task) }),
      });
    };
    this.openRepairer = () => PgRowRepairer.open(params);
    this.verifyProgress = new PostgresVerifyProgressBook(this.main);
  }

  async serverInfo(): Promise<ServerInfo> {
    if (this.info) return this.info;
    const client = await this.main.get();
    try {
      this.info = await readServerInfo(client, this.params);
      return this.info;
    } catch (e) {
      throw wrapPgError('DESTINATION_UNSUPPORTED', `cannot read the version of ${this.description}`, e);
    }
  }

  openApplier(taskName: string, o: OpenApplierOptions = {}): Promise<ChangeApplier> {
    return PostgresChangeApplier.open(this.params, {
      taskName,
      ...(o.singleRowUpTo !== undefined ? { singleRowUpTo: o.singleRowUpTo } : {}),
      ...(o.onConflict !== undefined ? { onConflict: o.onConflict } : {}),
    });
  }

  async accessRecipe(
    task: TaskConfig,
    targets: readonly TableTarget[],
    ownerRoles: readonly string[] = [],
  ): Promise<AccessRecipe> {
    const { major } = await this.serverInfo();
    try {
      return await destinationAccessRecipe(
        await this.main.get(),
        this.params,
        major,
        task,
        targets,
        ownerRoles,
      );
    } catch (e) {
      throw wrapPgError('DESTINATION_UNSUPPORTED', 'cannot read the destination catalog for the grants', e);
    }
  }

  prechecks(): readonly Precheck[] {
    return bindPrechecks('destination', DESTINATION_PRECHECKS, this.main, () => this.serverInfo());
  }

  async close(): Promise<void> {
    await this.main.close();
  }
}

/** Bookkeeping calls on the main session, with their errors wrapped. */
class PostgresCheckpointStore implements CheckpointStore {
  constructor(
    private readonly params: ConnectionParams,
    private readonly main: SessionClient,
  ) {}

  private async on<T>(what: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.main.get());
    } catch (e) {
      throw wrapPgError('CHECKPOINT_CONFLICT', what, e);
    }
  }

  async ensure(): Promise<void> {
    await ensureBookkeeping(await this.main.get());
  }

  acquireLease(taskName: string): Promise<TaskLease> {
    return PostgresTaskLease.acquire(this.params, taskName);
  }

  readTask(taskName: string): Promise<TaskCheckpoint | undefined> {
    return this.on(`cannot read task ${taskName}`, (c) => readTask(c, taskName));
  }

  createTask(taskName: string): Promise<void> {
    return this.on(`cannot create task ${taskName}`, (c) => createTask(c, taskName));
  }

  setSourceIdentity(taskName: string, identity: SourceIdentity): Promise<void> {
    return this.on(`cannot record the source of task ${taskName}`, (c) =>
      setSourceIdentity(c, taskName, identity),
    );
  }

  setPhase(taskName: string, phase: TaskPhase): Promise<void> {
    return this.on(`cannot record phase ${phase} of task ${taskName}`, (c) =>
      setTaskPhase(c, taskName, phase),
    );
  }

  setSlot(
    taskName: string,
    slot: { slotName: string; publicationName: string; slotLsn: Lsn; slotCreated: boolean },
  ): Promise<void> {
    return this.on(`cannot record the slot of task ${taskName}`, (c) => setTaskSlot(c, taskName, slot));
  }

  setPublicationCreated(taskName: string, publication: string, created: boolean): Promise<void> {
    return this.on(`cannot record the publication of task ${taskName}`, (c) =>
      setPublicationCreated(c, taskName, publication, created),
    );
  }

  setError(taskName: string, message: string): Promise<void> {
    return this.on(`cannot record the error of task ${taskName}`, (c) => setTaskError(c, taskName, message));
  }

  readTableSync(taskName: string): Promise<TableSyncRow[]> {
    return this.on(`cannot read the copy progress of task ${taskName}`, (c) => readTableSync(c, taskName));
  }

  readAppliedPosition(taskName: string): Promise<AppliedPosition | undefined> {
    return this.on(`cannot read the applied position of task ${taskName}`, async (c) => {
      const r = await c.query<{ ok: boolean }>(
        "SELECT to_regclass('pgdts.applied_position') IS NOT NULL AS ok",
      );
      return r.rows[0]?.ok ? readAppliedPosition(c, taskName) : undefined;
    });
  }

  writeStatus(taskName: string, status: StatusRow): Promise<void> {
    return this.on(`cannot write the status of task ${taskName}`, (c) => writeStatus(c, taskName, status));
  }

  deleteTask(taskName: string): Promise<void> {
    return this.on(`cannot delete the bookkeeping of task ${taskName}`, (c) =>
      deleteTaskBookkeeping(c, taskName),
    );
  }

  writeSchemaReport(taskName: string, rows: readonly SchemaReportRow[]): Promise<void> {
    return this.on(`cannot record the schema report of task ${taskName}`, (c) =>
      writeSchemaReport(c, taskName, rows),
    );
  }

  readSchemaReport(taskName: string): Promise<SchemaReportRow[]> {
    return this.on(`cannot read the schema report of task ${taskName}`, (c) => readSchemaReport(c, taskName));
  }
}

/** Schema sync on the destination: pre-data on the main session, post-data on `jobs` sessions. */
class PostgresSchemaWriter implements SchemaWriter {
  constructor(
    private readonly params: ConnectionParams,
    private readonly main: SessionClient,
  ) {}

  async applyPreData(model: SchemaModel, onEvent: (e: SchemaEvent) => void): Promise<void> {
    const plan = planSchemaDdl(model);
    await applySchemaDdl(await this.main.get(), plan.preData, { onStatement: onEvent });
  }

  async applyPostData(model: SchemaModel, jobs: number, onEvent: (e: SchemaEvent) => void): Promise<void> {
    const plan = planSchemaDdl(model);
    const clients: pg.Client[] = [];
    try {
      for (let i = 0; i < jobs; i++) {
        clients.push(await connect(this.params, { role: 'destination', applicationName: 'pgdts-ddl' }));
      }
      await applySchemaDdlParallel(clients, plan.postData, { onStatement: onEvent });
      // Owners and grants last, once every object (indexes, triggers included) exists: post-data
      // statements build on tables the destination user still owns.
      const first = clients[0];
      if (plan.privileges.length > 0 && first !== undefined) {
        await applySchemaDdl(first, plan.privileges, { onStatement: onEvent });
      }
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  }

  async inspectRoles(names: readonly string[]): Promise<{ missing: string[]; notMember: string[] }> {
    try {
      // pg_has_role MEMBER: a superuser is a member of every role (PostgreSQL docs, "System
      // Information Functions", pg_has_role); OWNER TO needs it (ALTER TABLE, "OWNER TO").
      const r = await (
        await this.main.get()
      ).query<{ n: string; present: boolean; member: boolean }>(
        `SELECT n, r.oid IS NOT NULL AS present,
                coalesce(pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'), false) AS member
           FROM unnest($1::text[]) n LEFT JOIN pg_catalog.pg_roles r ON r.rolname = n ORDER BY n`,
        [names],
      );
      return {
        missing: r.rows.filter((x) => !x.present).map((x) => x.n),
        notMember: r.rows.filter((x) => x.present && !x.member).map((x) => x.n),
      };
    } catch (e) {
      throw wrapPgError('CONNECTION_FAILED', `cannot list the roles of ${this.params.database}`, e);
    }
  }

  async inspectExtensions(names: readonly string[]): Promise<ExtensionAvailability[]> {
    try {
      // A trusted extension needs CREATE on the database; an untrusted one a superuser (PostgreSQL
      // docs, "CREATE EXTENSION"; pg_available_extension_versions.trusted exists from 13).
      const r = await (
        await this.main.get()
      ).query<{ n: string; installed: string | null; available: string | null; may: boolean }>(
        `SELECT n, e.extversion AS installed, a.default_version AS available,
                (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
                  OR (coalesce(v.trusted, false) AND has_database_privilege(current_database(), 'CREATE')) AS may
           FROM unnest($1::text[]) n
           LEFT JOIN pg_catalog.pg_extension e ON e.extname = n
           LEFT JOIN pg_catalog.pg_available_extensions a ON a.name = n
           LEFT JOIN pg_catalog.pg_available_extension_versions v ON v.name = n AND v.version = a.default_version
          ORDER BY n`,
        [names],
      );
      return r.rows.map((x): ExtensionAvailability => {
        if (x.installed !== null) return { name: x.n, state: 'installed', version: x.installed };
        if (x.available === null) return { name: x.n, state: 'unavailable' };
        return { name: x.n, state: x.may ? 'creatable' : 'not-creatable', version: x.available };
      });
    } catch (e) {
      throw wrapPgError('CONNECTION_FAILED', `cannot list the extensions of ${this.params.database}`, e);
    }
  }

  async inspectNativeObjects(
    model: SchemaModel,
  ): Promise<{ readonly object: string; readonly reason: string }[]> {
    try {
      return await inspectNativeStatements(await this.main.get(), planSchemaDdl(model).preData);
    } catch (e) {
      throw wrapPgError(
        'CONNECTION_FAILED',
        `cannot check the C and internal functions of the schema on ${this.params.database}`,
        e,
      );
    }
  }
}

/** Full-sync loading with COPY, each unit committed with its range marker (task invariant T1). */
class PostgresRowLoader implements RowLoader {
  readonly formats = ['binary', 'text'] as const;

  constructor(
    private readonly params: ConnectionParams,
    private readonly main: SessionClient,
  ) {}

  async restartTables(
    taskName: string,
    tables: readonly TableRestart[],
    snapshotLsn: Lsn | undefined,
    mode: LoadMode,
  ): Promise<void> {
    const c = await this.main.get();
    let links: [QualifiedName, QualifiedName][] = [];
    if (!mode.keepExisting && tables.length > 1) {
      try {
        links = await foreignKeyLinks(
          c,
          tables.map((t) => t.target),
        );
      } catch (e) {
        throw wrapPgError('COPY_FAILED', 'cannot read the foreign keys of the tables to copy', e);
      }
    }
    // One transaction per chunk, each emptying its tables and resetting their progress together
    // (T2); a crash between chunks leaves every table either reset or as it was, and not done.
    for (const chunk of restartChunks(tables, links)) {
      try {
        await c.query('BEGIN');
        if (!mode.keepExisting) {
          // One statement per chunk: foreign keys among its tables do not block the TRUNCATE. A
          // destination table several source tables merge into is emptied once. A chunk whose
          // tables are all empty (a first copy into tables schema sync just created) is left as it
          // is: T2 only needs no row left, and one table with rows empties the whole chunk, so
          // tables linked by a foreign key are still truncated together.
          const targets = [...new Map(chunk.map((t) => [displayName(t.target), t.target])).values()];
          if (!(await allTablesEmpty(c, targets))) await truncateTables(c, targets);
        }
        await startTableSyncs(
          c,
          taskName,
          chunk.map((t) => ({ schema: t.table.schema, name: t.table.name, rangesTotal: t.rangesTotal })),
          snapshotLsn,
          mode.keepExisting,
        );
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw wrapPgError('COPY_FAILED', 'cannot reset the tables to copy', e);
      }
    }
  }

  async missingTables(tables: readonly QualifiedName[]): Promise<QualifiedName[]> {
    try {
      const r = await (
        await this.main.get()
      ).query<{ present: boolean }>(
        `SELECT c.oid IS NOT NULL AS present
           FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(schema, name, i)
           LEFT JOIN pg_namespace n ON n.nspname = s.schema
           LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind IN ('r', 'p')
          ORDER BY s.i`,
        [tables.map((t) => t.schema), tables.map((t) => t.name)],
      );
      return tables.filter((_, i) => r.rows[i]?.present !== true);
    } catch (e) {
      throw wrapPgError('COPY_FAILED', 'cannot read the destination tables', e);
    }
  }

  async openWriter(): Promise<RowWriter> {
    const client = await connect(this.params, { role: 'destination', applicationName: 'pgdts-copy' });
    try {
      return new PostgresRowWriter(client, await mayUseReplicaRole(client));
    } catch (e) {
      await client.end().catch(() => undefined);
      throw wrapPgError('COPY_FAILED', 'cannot prepare the copy session', e);
    }
  }
}

class PostgresRowWriter implements RowWriter {
  /**
   * @param replicaRole the session may set session_replication_role = replica: triggers and foreign
   *   key checks of existing destination tables then do not run on copied rows (ranges load in
   *   parallel, in no order between tables).
   */
  constructor(
    private readonly client: pg.Client,
    private readonly replicaRole: boolean,
  ) {}

  async load(
    taskName: string,
    unit: CopyUnit,
    data: Readable,
    onBytes: (bytesSoFar: number) => void,
    mode: LoadMode,
  ): Promise<{ rows: number; bytes: number; tableDone: boolean }> {
    const [r] = await this.loadBatch(
      taskName,
      [unit],
      () => Promise.resolve(data),
      (_u, b) => onBytes(b),
      mode,
    );
    if (r === undefined) throw new PgdtsError('INTERNAL', `copy of ${displayName(unit.table)}: no result`);
    return r;
  }

  async loadBatch(
    taskName: string,
    units: readonly CopyUnit[],
    open: (unit: CopyUnit) => Promise<Readable>,
    onBytes: (unit: CopyUnit, bytesSoFar: number) => void,
    mode: LoadMode,
  ): Promise<{ rows: number; bytes: number; tableDone: boolean }[]> {
    const dst = this.client;
    let current: CopyUnit | undefined;
    try {
      // Losing an un-flushed commit on a destination crash loses its range markers with it, so the
      // copy may skip waiting for the WAL flush (PostgreSQL docs, "Asynchronous Commit").
      await dst.query(
        // row_security = off: a policy that would apply to the copy fails it loudly.
        `BEGIN; SET LOCAL synchronous_commit = off; SET LOCAL row_security = off${this.replicaRole ? '; SET LOCAL session_replication_role = replica' : ''}`,
      );
      const loaded: { unit: CopyUnit; rows: number; bytes: number }[] = [];
      for (const [i, unit] of units.entries()) {
        current = unit;
        const { rows, bytes } = await this.copyOne(unit, await open(unit), i, onBytes, mode);
        loaded.push({ unit, rows, bytes });
      }
      current = undefined;
      // One progress write for the whole batch, committed with its rows (T1).
      const done = await finishRangesAndCommit(
        dst,
        taskName,
        loaded.map(({ unit, rows, bytes }) => ({
          schema: unit.table.schema,
          name: unit.table.name,
          rangeNo: unit.rangeNo,
          rows,
          bytes,
        })),
      );
      return loaded.map(({ unit, rows, bytes }) => ({
        rows,
        bytes,
        tableDone: done.has(`${unit.table.schema}\0${unit.table.name}`),
      }));
    } catch (e) {
      await dst.query('ROLLBACK').catch(() => undefined);
      if (e instanceof PgdtsError) throw e;
      const what =
        current !== undefined
          ? `copy of ${displayName(current.table)}`
          : `copy of ${units.map((u) => displayName(u.table)).join(', ')}`;
      throw wrapPgError('COPY_FAILED', what, e);
    }
  }

  /**
   * COPYs one unit's data into its target inside the open transaction.
   * @param index the unit's place in its batch: names its staging table, so the units of one batch
   *   (different targets) never share one.
   * @returns rows loaded and COPY bytes passed.
   */
  private async copyOne(
    unit: CopyUnit,
    data: Readable,
    index: number,
    onBytes: (unit: CopyUnit, bytesSoFar: number) => void,
    mode: LoadMode,
  ): Promise<{ rows: number; bytes: number }> {
    const dst = this.client;
    const columns = unit.columns.map((c) => c.target);
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        onBytes(unit, bytes);
        cb(null, chunk);
      },
    });
    if (mode.keepExisting) {
      // Rows whose key the destination has already are kept: COPY into a staging table shaped like
      // the target, then insert what does not conflict.
      const stage = `pgdts_stage${index === 0 ? '' : `_${index}`}`;
      await dst.query(
        `CREATE TEMP TABLE IF NOT EXISTS ${stage} (LIKE ${quoteQualified(unit.target)}) ON COMMIT DROP`,
      );
      const sink = copyIn(dst, { schema: 'pg_temp', name: stage }, columns, unit.format);
      await pipeline(data, counter, sink);
      const list = columns.map(quoteIdent).join(', ');
      const r = await dst.query(
        `INSERT INTO ${quoteQualified(unit.target)} (${list}) SELECT ${list} FROM pg_temp.${stage} ON CONFLICT DO NOTHING`,
      );
      return { rows: r.rowCount ?? 0, bytes };
    }
    const sink = copyIn(dst, unit.target, columns, unit.format);
    await pipeline(data, counter, sink);
    return { rows: sink.rowCount ?? 0, bytes };
  }

  close(): Promise<void> {
    return this.client.end().catch(() => undefined);
  }
}
