/**
 * What the heartbeat (heartbeat.ts) needs on a PostgreSQL source, read from the catalog, and the
 * setup pgdts does itself: the precheck, `pgdts grants` and the run share these facts.
 *
 * - Messages (no table): EXECUTE on `pg_logical_emit_message` (granted to PUBLIC by default) and
 *   PostgreSQL 14+ (pgoutput option `messages`).
 * - A table: either CREATE (and USAGE) on its schema, for pgdts to create it, or the table made
 *   beforehand (as the tables' owner, so that a DBA's publication can list it) with SELECT, INSERT
 *   and UPDATE for the upsert (INSERT ... ON CONFLICT DO UPDATE reads the conflicting row: PostgreSQL
 *   docs, "INSERT"). It must be in the task's publication: adding it needs ownership of the
 *   publication and of the table (docs, "ALTER PUBLICATION"), and creating a publication that lists
 *   it, ownership of the table ("CREATE PUBLICATION").
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import { displayName, quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import { wrapPgError } from '../../pg/connection.ts';
import { heartbeatTableDdl } from './heartbeat.ts';

/** The heartbeat table and its publication as the session user sees them. */
export interface HeartbeatTableFacts {
  readonly schemaExists: boolean;
  /** USAGE and CREATE on the schema (pgdts may create the table). */
  readonly canCreate: boolean;
  readonly usage: boolean;
  readonly tableExists: boolean;
  /** A plain table with `task_name` text and `beat_at` timestamptz. */
  readonly shapeOk: boolean;
  /** A unique index on exactly `task_name` (the upsert's conflict target). */
  readonly keyed: boolean;
  /** SELECT, INSERT and UPDATE on it. */
  readonly canWrite: boolean;
  readonly owner: boolean;
  readonly publicationExists: boolean;
  readonly publicationOwner: boolean;
  /** Listed in pg_publication_tables of the publication (FOR TABLE, FOR ALL TABLES...). */
  readonly published: boolean;
}

/** Reads the facts of heartbeat table `table` and publication `publication`. */
export async function heartbeatTableFacts(
  client: pg.Client,
  table: QualifiedName,
  publication: string,
): Promise<HeartbeatTableFacts> {
  const r = await client.query<{
    schema_exists: boolean;
    usage: boolean | null;
    create: boolean | null;
    table_exists: boolean;
    relkind: string | null;
    task_type: string | null;
    beat_type: string | null;
    keyed: boolean | null;
    sel: boolean | null;
    ins: boolean | null;
    upd: boolean | null;
    owner: boolean | null;
    pub_exists: boolean;
    pub_owner: boolean | null;
    published: boolean;
  }>(
    `SELECT n.oid IS NOT NULL AS schema_exists,
            has_schema_privilege(n.oid, 'USAGE') AS usage, has_schema_privilege(n.oid, 'CREATE') AS create,
            c.oid IS NOT NULL AS table_exists, c.relkind::text AS relkind,
            (SELECT a.atttypid::regtype::text FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attname = 'task_name' AND NOT a.attisdropped) AS task_type,
            (SELECT a.atttypid::regtype::text FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attname = 'beat_at' AND NOT a.attisdropped) AS beat_type,
            EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                     WHERE i.indrelid = c.oid AND i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL
                       AND i.indexprs IS NULL AND a.attname = 'task_name') AS keyed,
            has_table_privilege(c.oid, 'SELECT') AS sel, has_table_privilege(c.oid, 'INSERT') AS ins,
            has_table_privilege(c.oid, 'UPDATE') AS upd, pg_has_role(c.relowner, 'USAGE') AS owner,
            p.oid IS NOT NULL AS pub_exists, pg_has_role(p.pubowner, 'USAGE') AS pub_owner,
            EXISTS (SELECT 1 FROM pg_publication_tables pt
                     WHERE pt.pubname = $3 AND pt.schemaname = $1 AND pt.tablename = $2) AS published
       FROM (SELECT 1) one
       LEFT JOIN pg_namespace n ON n.nspname = $1
       LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = $2
       LEFT JOIN pg_publication p ON p.pubname = $3`,
    [table.schema, table.name, publication],
  );
  const x = r.rows[0];
  if (x === undefined) throw new PgdtsError('INTERNAL', 'the heartbeat table query returned no row');
  return {
    schemaExists: x.schema_exists,
    canCreate: x.usage === true && x.create === true,
    usage: x.usage === true,
    tableExists: x.table_exists,
    shapeOk:
      x.relkind === 'r' &&
      (x.task_type === 'text' || x.task_type === 'character varying') &&
      x.beat_type === 'timestamp with time zone',
    keyed: x.keyed === true,
    canWrite: x.sel === true && x.ins === true && x.upd === true,
    owner: x.owner === true,
    publicationExists: x.pub_exists,
    publicationOwner: x.pub_owner === true,
    published: x.published,
  };
}

/** Why the heartbeat table cannot be written or published by `user`, with the fix; undefined when fine. */
export function heartbeatTableProblem(
  table: QualifiedName,
  publication: string,
  user: string,
  superuser: boolean,
  f: HeartbeatTableFacts,
): { readonly message: string; readonly fix: string } | undefined {
  const t = quoteQualified(table);
  const who = quoteIdent(user);
  const precreate = `${heartbeatTableDdl(table)}; GRANT SELECT, INSERT, UPDATE ON TABLE ${t} TO ${who}; (as the tables' owner, see pgdts grants)`;
  if (!f.schemaExists) {
    return {
      message: `schema ${table.schema} of the heartbeat table does not exist`,
      fix: `CREATE SCHEMA ${quoteIdent(table.schema)}; then ${precreate}, or set source.heartbeat.table`,
    };
  }
  if (!f.tableExists) {
    if (!f.canCreate && !superuser) {
      return {
        message: `heartbeat table ${displayName(table)} does not exist and ${user} may not create it (no USAGE and CREATE on schema ${table.schema})`,
        fix: `${precreate} — or GRANT USAGE, CREATE ON SCHEMA ${quoteIdent(table.schema)} TO ${who};`,
      };
    }
  } else {
    if (!f.shapeOk || !f.keyed) {
      return {
        message: `${displayName(table)} is not a heartbeat table: it needs task_name text with a primary key or unique index on it alone, and beat_at timestamptz`,
        fix: `set source.heartbeat.table to a table of its own (pgdts creates it as ${heartbeatTableDdl(table)})`,
      };
    }
    if (!f.canWrite && !superuser) {
      return {
        message: `${user} cannot upsert the heartbeat row into ${displayName(table)} (needs SELECT, INSERT, UPDATE)`,
        fix: `GRANT USAGE ON SCHEMA ${quoteIdent(table.schema)} TO ${who}; GRANT SELECT, INSERT, UPDATE ON TABLE ${t} TO ${who};`,
      };
    }
  }
  // pgdts creates the table when missing, so it then owns it.
  const ownsTable = superuser || !f.tableExists || f.owner;
  if (f.publicationExists && !f.published && !(superuser || (f.publicationOwner && ownsTable))) {
    return {
      message: `publication ${publication} does not publish heartbeat table ${displayName(table)}, and ${user} may not add it (it needs to own the publication and the table)`,
      fix: `ALTER PUBLICATION ${quoteIdent(publication)} ADD TABLE ${t}; (as their owner)`,
    };
  }
  if (!f.publicationExists && !ownsTable) {
    return {
      message: `${user} cannot create publication ${publication} with heartbeat table ${displayName(table)}, which it does not own`,
      fix: `create the publication with the heartbeat table as their owner (see pgdts grants)`,
    };
  }
  return undefined;
}

/**
 * Creates the heartbeat table when it does not exist. The existence is checked first: CREATE TABLE
 * IF NOT EXISTS asks for CREATE on the schema even when the table is there.
 * @throws {PgdtsError} SOURCE_UNSUPPORTED when it cannot be created (privileges: see the precheck).
 */
export async function ensureHeartbeatTable(client: pg.Client, table: QualifiedName): Promise<void> {
  try {
    const r = await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [
      quoteQualified(table),
    ]);
    if (r.rows[0]?.ok === true) return;
    await client.query(heartbeatTableDdl(table));
  } catch (e) {
    const code = (e as { code?: string }).code;
    // Another task created it at the same moment: it exists now.
    if (code === '42P07' || code === '23505') return;
    const err = wrapPgError('SOURCE_UNSUPPORTED', `cannot create heartbeat table ${displayName(table)}`, e);
    throw new PgdtsError(err.code, err.message, {
      cause: e,
      hint: 'create it beforehand (see pgdts grants) or set source.heartbeat.table; pgdts precheck says what is missing',
    });
  }
}

/** Can the session user call `pg_logical_emit_message` (revoked from PUBLIC by some DBAs)? */
export async function canEmitMessages(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ ok: boolean | null }>(
    `SELECT bool_and(has_function_privilege(p.oid, 'EXECUTE')) AS ok FROM pg_proc p
      WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = 'pg_logical_emit_message'
        AND p.proargtypes[2] = 'text'::regtype`,
  );
  return r.rows[0]?.ok === true;
}

/** The GRANT that lets `user` emit messages (the text variant; PostgreSQL 17 adds a `flush` argument). */
export function emitMessageGrant(user: string, major: number): string {
  const args = major >= 17 ? 'boolean, text, text, boolean' : 'boolean, text, text';
  return `GRANT EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(${args}) TO ${quoteIdent(user)}`;
}

/** The heartbeat's part of `pgdts grants` (see {@link heartbeatRecipe}). */
export interface HeartbeatRecipe {
  /** To run before the publication statements. */
  readonly statements: readonly string[];
  readonly notes: readonly string[];
  /** The heartbeat table, when the task's publication does not list it yet. */
  readonly toPublish: QualifiedName | undefined;
}

/**
 * What a DBA runs so that `user` can write the heartbeat: for messages, EXECUTE on
 * pg_logical_emit_message when it was revoked; for a table, the table made beforehand (so that the
 * DBA's publication lists it, and the user needs no CREATE on its schema) with SELECT, INSERT and
 * UPDATE on it. `grantedSchemas`: schemas already given USAGE by the recipe.
 */
export async function heartbeatRecipe(
  client: pg.Client,
  o: {
    readonly user: string;
    readonly major: number;
    readonly table: QualifiedName | undefined;
    readonly intervalMs: number;
    readonly publication: string;
    readonly grantedSchemas: readonly string[];
  },
): Promise<HeartbeatRecipe> {
  const who = quoteIdent(o.user);
  const when = `after ${o.intervalMs} ms without changes`;
  const table = o.table;
  if (table === undefined) {
    if (o.major < 14) {
      return {
        statements: [],
        notes: [
          `heartbeat: PostgreSQL ${o.major} sends no logical decoding messages through pgoutput: set source.heartbeat.table`,
        ],
        toPublish: undefined,
      };
    }
    return {
      statements: (await canEmitMessages(client)) ? [] : [emitMessageGrant(o.user, o.major)],
      notes: [
        `heartbeat: pgdts emits a logical decoding message ${when} (EXECUTE on pg_logical_emit_message)`,
      ],
      toPublish: undefined,
    };
  }
  const f = await heartbeatTableFacts(client, table, o.publication);
  const statements: string[] = [];
  if (!f.schemaExists) statements.push(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(table.schema)}`);
  if (!f.tableExists) statements.push(heartbeatTableDdl(table));
  if (!o.grantedSchemas.includes(table.schema)) {
    statements.push(`GRANT USAGE ON SCHEMA ${quoteIdent(table.schema)} TO ${who}`);
  }
  statements.push(`GRANT SELECT, INSERT, UPDATE ON TABLE ${quoteQualified(table)} TO ${who}`);
  return {
    statements,
    notes: [
      `heartbeat: pgdts upserts its row into ${displayName(table)} ${when}; the table is published with the task's tables but never copied or applied`,
    ],
    toPublish: f.published ? undefined : table,
  };
}
