/**
 * Precheck: the destination user can create and write what the task needs. The `pgdts` bookkeeping
 * schema and any selected schema missing on the destination need CREATE on the database; tables schema
 * sync creates need CREATE on their schema; existing tables need USAGE on their schema and the DML the
 * sync types use (full: INSERT and TRUNCATE; incremental: INSERT, UPDATE, DELETE, TRUNCATE), and
 * SELECT (verify reads them, an UPDATE or DELETE with a WHERE clause reads the key, and the precheck
 * looks whether they hold rows). PostgreSQL docs, "Privileges".
 */
import { quoteIdent, quoteQualified } from '../../../core/identifier.ts';
import { hasSyncType } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { listShort } from '../../../core/precheck.ts';

/** Name of the bookkeeping schema pgdts keeps in the destination. */
const BOOKKEEPING_SCHEMA = 'pgdts';

/** CREATE on the database/schemas, DML on existing tables of the destination. */
export const destinationPrivilegesCheck: PgPrecheck = {
  id: 'destination-privileges',
  title: 'Destination privileges',
  needs: ['targets'],
  run: async (d, ctx) => {
    const tables = needed(ctx.targets, 'targets').map((t) => t.table);
    if (d.server.isSuperuser) return { status: 'pass', message: `${d.server.user} is superuser` };
    const who = quoteIdent(d.server.user);
    const schemas = [...new Set([BOOKKEEPING_SCHEMA, ...tables.map((t) => t.schema)])];
    const sr = await d.client.query<{ nspname: string; usage: boolean; create: boolean }>(
      `SELECT nspname, has_schema_privilege(oid, 'USAGE') AS usage, has_schema_privilege(oid, 'CREATE') AS create
         FROM pg_namespace WHERE nspname = ANY($1::text[])`,
      [schemas],
    );
    const db = await d.client.query<{ create: boolean }>(
      "SELECT has_database_privilege(current_database(), 'CREATE') AS create",
    );
    // SELECT always: verify reads the tables, and the precheck must see whether they hold rows.
    const dml = [
      'SELECT',
      ...(hasSyncType(ctx.task, 'full') ? ['INSERT', 'TRUNCATE'] : []),
      ...(hasSyncType(ctx.task, 'incremental') ? ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] : []),
    ];
    const privileges = [...new Set(dml)];
    const tr = await d.client.query<{ schema: string; name: string; exists: boolean; missing: string[] }>(
      `SELECT s.schema, s.name, c.oid IS NOT NULL AS exists,
              coalesce((SELECT array_agg(p) FROM unnest($3::text[]) p
                         WHERE c.oid IS NOT NULL AND NOT has_table_privilege(c.oid, p)), '{}') AS missing
         FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         LEFT JOIN pg_namespace n ON n.nspname = s.schema
         LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name AND c.relkind IN ('r', 'p')`,
      [tables.map((t) => t.schema), tables.map((t) => t.name), privileges],
    );
    const problems: string[] = [];
    const fixes: string[] = [];
    const missingSchemas = schemas.filter((n) => !sr.rows.some((x) => x.nspname === n));
    if (missingSchemas.length > 0 && db.rows[0]?.create !== true) {
      problems.push(
        `no CREATE on database ${d.params.database} to create schema ${listShort(missingSchemas)}`,
      );
      fixes.push(`GRANT CREATE ON DATABASE ${quoteIdent(d.params.database)} TO ${who};`);
    }
    const creates = hasSyncType(ctx.task, 'schema');
    const needCreateIn = new Set([
      BOOKKEEPING_SCHEMA,
      ...(creates ? tr.rows.filter((t) => !t.exists).map((t) => t.schema) : []),
    ]);
    for (const s of sr.rows) {
      const needCreate = needCreateIn.has(s.nspname);
      if (!s.usage || (needCreate && !s.create)) {
        problems.push(`no ${needCreate ? 'USAGE and CREATE' : 'USAGE'} on schema ${s.nspname}`);
        fixes.push(
          `GRANT ${needCreate ? 'USAGE, CREATE' : 'USAGE'} ON SCHEMA ${quoteIdent(s.nspname)} TO ${who};`,
        );
      }
    }
    const lacking = tr.rows.filter((t) => t.missing.length > 0);
    if (lacking.length > 0) {
      problems.push(
        `missing ${[...new Set(lacking.flatMap((t) => t.missing))].join(', ')} on ${listShort(lacking.map((t) => `${t.schema}.${t.name}`))}`,
      );
      fixes.push(
        ...lacking.slice(0, 3).map((t) => `GRANT ${t.missing.join(', ')} ON ${quoteQualified(t)} TO ${who};`),
      );
    }
    if (problems.length === 0) {
      return {
        status: 'pass',
        message: `${d.server.user} can create the bookkeeping schema and write the selection`,
      };
    }
    return { status: 'fail', message: `${d.server.user}: ${problems.join('; ')}`, fix: fixes.join(' ') };
  },
};
