/**
 * Precheck: the source user can read the selection and, for incremental sync, create the publication.
 * Reading needs USAGE on each schema and SELECT on each table. `CREATE PUBLICATION` needs CREATE on the
 * database, and adding a table to a publication needs ownership of it (PostgreSQL docs, "CREATE
 * PUBLICATION"); superusers bypass both.
 */
import { quoteIdent } from '../../../core/identifier.ts';
import { publicationNameOf } from '../../../core/task-config.ts';
import { isIncremental } from './incremental.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { listShort } from '../../../core/precheck.ts';

/** USAGE/SELECT on the selection; CREATE on the database and table ownership when incremental. */
export const sourcePrivilegesCheck: PgPrecheck = {
  id: 'source-privileges',
  title: 'Source privileges',
  needs: ['tables'],
  run: async (s, ctx) => {
    const who = quoteIdent(s.server.user);
    const tables = needed(ctx.tables, 'tables');
    const r = await s.client.query<{
      nspname: string;
      relname: string;
      usage: boolean;
      sel: boolean;
      owner: boolean;
    }>(
      `SELECT n.nspname, c.relname, has_schema_privilege(n.oid, 'USAGE') AS usage,
              has_table_privilege(c.oid, 'SELECT') AS sel, pg_has_role(c.relowner, 'USAGE') AS owner
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = ANY($1::oid[])
        ORDER BY n.nspname, c.relname`,
      [tables.map((t) => t.oid)],
    );
    const problems: string[] = [];
    const fixes: string[] = [];
    const noUsage = [...new Set(r.rows.filter((x) => !x.usage).map((x) => x.nspname))];
    if (noUsage.length > 0) {
      problems.push(`no USAGE on schema ${listShort(noUsage)}`);
      fixes.push(...noUsage.map((n) => `GRANT USAGE ON SCHEMA ${quoteIdent(n)} TO ${who};`));
    }
    const noSelectRows = r.rows.filter((x) => !x.sel);
    const noSelect = noSelectRows.map((x) => `${x.nspname}.${x.relname}`);
    if (noSelect.length > 0) {
      problems.push(`no SELECT on ${listShort(noSelect)}`);
      fixes.push(
        `GRANT SELECT ON ${noSelectRows.map((x) => `${quoteIdent(x.nspname)}.${quoteIdent(x.relname)}`).join(', ')} TO ${who};`,
      );
    }
    if (isIncremental(ctx.task) && !s.server.isSuperuser) {
      const pub = publicationNameOf(ctx.task);
      const p = await s.client.query<{ exists: boolean; create: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1) AS exists,
                has_database_privilege(current_database(), 'CREATE') AS create`,
        [pub],
      );
      if (p.rows[0]?.exists !== true && p.rows[0]?.create !== true) {
        problems.push(`no CREATE on database ${s.params.database} (needed for publication ${pub})`);
        fixes.push(`GRANT CREATE ON DATABASE ${quoteIdent(s.params.database)} TO ${who};`);
      }
      const notOwned = r.rows.filter((x) => !x.owner).map((x) => `${x.nspname}.${x.relname}`);
      if (notOwned.length > 0) {
        problems.push(`not the owner of ${listShort(notOwned)} (needed to add them to publication ${pub})`);
        fixes.push(`ALTER TABLE ... OWNER TO ${who}; or create publication ${pub} as the tables' owner`);
      }
    }
    if (problems.length === 0) {
      return {
        status: 'pass',
        message: `${s.server.user} can read ${tables.length} table(s)${isIncremental(ctx.task) ? ' and publish them' : ''}`,
      };
    }
    return { status: 'fail', message: `${s.server.user}: ${problems.join('; ')}`, fix: fixes.join(' ') };
  },
};
