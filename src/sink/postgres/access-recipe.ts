/**
 * `pgdts grants` for a PostgreSQL destination: the least a task's destination user needs
 * (PostgreSQL docs, "GRANT", "Client Connection Defaults"): CONNECT; CREATE on the database to
 * create the selected schemas (schema sync; it then owns what it creates) and the `pgdts`
 * bookkeeping schema; on tables and sequences that already exist, the DML and sequence privileges
 * the sync types use; for incremental sync, from PostgreSQL 15, SET on
 * `session_replication_role` (so triggers and foreign key checks do not run twice); and BYPASSRLS
 * when row-level security would apply to its writes (see row-security-subjects.ts).
 * With `schema.owners` / `schema.privileges`: membership in the owner roles (`OWNER TO` needs it,
 * and so do GRANTs on objects it then no longer owns, and `ALTER DEFAULT PRIVILEGES FOR ROLE`).
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import type { AccessRecipe } from '../../core/precheck.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { hasSyncType, type TaskConfig } from '../../core/task-config.ts';
import { describeEndpoint, type ConnectionParams } from '../../pg/connection.ts';
import { rowSecuritySubjects } from './row-security-subjects.ts';

/**
 * The destination recipe of `task` for the destination tables of `targets`, read through `client`;
 * `ownerRoles`: the roles of owners and default privileges schema sync sets (see the module doc).
 */
export async function destinationAccessRecipe(
  client: pg.Client,
  params: ConnectionParams,
  major: number,
  task: TaskConfig,
  targets: readonly TableTarget[],
  ownerRoles: readonly string[] = [],
): Promise<AccessRecipe> {
  const tables = targets.map((t) => t.table);
  const who = quoteIdent(params.user);
  const statements: string[] = [`GRANT CONNECT ON DATABASE ${quoteIdent(params.database)} TO ${who}`];
  const notes: string[] = [];
  const schemas = [...new Set(['pgdts', ...tables.map((t) => t.schema)])];
  const have = await client.query<{ nspname: string; owned: boolean }>(
    `SELECT nspname, pg_has_role(${quoteLiteralRole(params.user)}, nspowner, 'USAGE') AS owned
       FROM pg_namespace WHERE nspname = ANY($1::text[])`,
    [schemas],
  );
  const existingSchemas = new Set(have.rows.map((r) => r.nspname));
  // Missing schemas (and the bookkeeping schema) are created by the user: CREATE on the database.
  if (schemas.some((n) => !existingSchemas.has(n))) {
    statements.push(`GRANT CREATE ON DATABASE ${quoteIdent(params.database)} TO ${who}`);
  }
  const foreign = have.rows.filter((r) => !r.owned).map((r) => r.nspname);
  if (foreign.length > 0) {
    statements.push(`GRANT USAGE, CREATE ON SCHEMA ${foreign.map(quoteIdent).join(', ')} TO ${who}`);
  }
  const existing = await client.query<{ schema: string; name: string; kind: string; owned: boolean }>(
    `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
            pg_has_role(${quoteLiteralRole(params.user)}, c.relowner, 'USAGE') AS owned
       FROM unnest($1::text[], $2::text[]) AS s(schema, name)
       JOIN pg_namespace n ON n.nspname = s.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind IN ('r', 'p')`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const notOwned: QualifiedName[] = existing.rows.filter((r) => !r.owned);
  if (notOwned.length > 0) {
    // SELECT always: verify reads the tables (and so does the precheck, to see whether they hold rows).
    const dml = [
      'SELECT',
      ...(hasSyncType(task, 'full') ? ['INSERT', 'TRUNCATE'] : []),
      ...(hasSyncType(task, 'incremental') ? ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] : []),
    ];
    const privileges = [...new Set(dml)];
    if (privileges.length > 0) {
      statements.push(
        `GRANT ${privileges.join(', ')} ON TABLE ${notOwned.map(quoteQualified).join(', ')} TO ${who}`,
      );
    }
    const seqs = await client.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND n.nspname = ANY($1::text[]) AND NOT pg_has_role(${quoteLiteralRole(params.user)}, c.relowner, 'USAGE')`,
      [[...new Set(notOwned.map((t) => t.schema))]],
    );
    if (seqs.rows.length > 0) {
      statements.push(
        `GRANT SELECT, UPDATE ON SEQUENCE ${seqs.rows.map(quoteQualified).join(', ')} TO ${who}`,
      );
    }
    if (hasSyncType(task, 'schema')) {
      notes.push(
        `schema sync adds indexes, foreign keys and triggers only to tables ${params.user} owns: ${notOwned.map((t) => `${t.schema}.${t.name}`).join(', ')} must already have them`,
      );
    }
  }
  // Incremental sync, or a copy into existing tables that have foreign keys or triggers.
  const guarded = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM unnest($1::text[], $2::text[]) AS s(schema, name)
       JOIN pg_namespace n ON n.nspname = s.schema
       JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name
      WHERE EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f')
         OR EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const copyNeedsIt = hasSyncType(task, 'full') && (guarded.rows[0]?.n ?? 0) > 0;
  if (hasSyncType(task, 'incremental') || copyNeedsIt) {
    if (major >= 15) statements.push(`GRANT SET ON PARAMETER session_replication_role TO ${who}`);
    else {
      notes.push(
        `PostgreSQL ${major} lets only superusers set session_replication_role: changes are applied in source order with triggers and foreign key checks active (the precheck fails if the selection has triggers)`,
      );
    }
  }
  // Policies that would apply to the user's writes (FORCE ROW LEVEL SECURITY, or tables of another
  // owner): the writes would fail, so the user must bypass them.
  if (hasSyncType(task, 'full') || hasSyncType(task, 'incremental')) {
    const rls = await rowSecuritySubjects(client, task, targets);
    if (rls.kind === 'subject' && rls.tables.length > 0) {
      statements.push(`ALTER ROLE ${who} BYPASSRLS`);
      notes.push(
        `row-level security of ${rls.tables.join(', ')} would apply to ${params.user}'s writes (FORCE ROW LEVEL SECURITY, or another owner): BYPASSRLS lets them through`,
      );
    }
  }
  if (hasSyncType(task, 'schema') && (task.schema.owners || task.schema.privileges)) {
    // Roles are cluster-wide: only those the destination has can be granted; the others are skipped.
    const present = await client.query<{ n: string; member: boolean }>(
      `SELECT r.rolname AS n, pg_has_role(${quoteLiteralRole(params.user)}, r.oid, 'MEMBER') AS member
         FROM pg_roles r WHERE r.rolname = ANY($1::text[]) ORDER BY 1`,
      [ownerRoles],
    );
    const needed = present.rows.filter((r) => !r.member).map((r) => quoteIdent(r.n));
    if (needed.length > 0) statements.push(`GRANT ${needed.join(', ')} TO ${who}`);
    const missing = ownerRoles.filter((r) => !present.rows.some((x) => x.n === r));
    notes.push(
      `schema.owners / schema.privileges: ${params.user} hands objects to their owners (OWNER TO needs membership in the owner role, which also lets it GRANT on them) and sets default privileges FOR ROLE (membership again); it never creates roles${missing.length > 0 ? `: missing on the destination (ownerships and grants skipped, see pgdts precheck for CREATE ROLE statements): ${missing.join(', ')}` : ''}`,
    );
  }
  return {
    side: 'destination',
    target: describeEndpoint(params),
    runAs: 'a superuser',
    statements,
    notes,
  };
}

/** A role name as a SQL string literal (for pg_has_role). */
function quoteLiteralRole(role: string): string {
  return `'${role.replaceAll("'", "''")}'`;
}
