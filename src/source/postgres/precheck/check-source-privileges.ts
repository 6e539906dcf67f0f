/**
 * Precheck: the source user can read what the task reads — USAGE on each schema of the selection,
 * SELECT on each table (COPY and verify), and SELECT or USAGE on each selected sequence (without it
 * `pg_sequences` shows the value as NULL, like a sequence never used). PostgreSQL docs, "Privileges".
 * What incremental sync needs besides (REPLICATION, the publication) is checked by
 * check-replication-role.ts and check-publication.ts.
 */
import { quoteIdent, quoteQualified } from '../../../core/identifier.ts';
import { listShort } from '../../../core/precheck.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { listSelectedSequences } from '../sequences.ts';

/** USAGE on the schemas, SELECT on the tables and sequences of the selection. */
export const sourcePrivilegesCheck: PgPrecheck = {
  id: 'source-privileges',
  title: 'Source privileges',
  needs: ['tables'],
  run: async (s, ctx) => {
    const who = quoteIdent(s.server.user);
    const tables = needed(ctx.tables, 'tables');
    const r = await s.client.query<{ nspname: string; relname: string; usage: boolean; sel: boolean }>(
      `SELECT n.nspname, c.relname, has_schema_privilege(n.oid, 'USAGE') AS usage,
              has_table_privilege(c.oid, 'SELECT') AS sel
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = ANY($1::oid[])
        ORDER BY n.nspname, c.relname`,
      [tables.map((t) => t.oid)],
    );
    const sequences = await listSelectedSequences(s.client, ctx.task.objects);
    const problems: string[] = [];
    const fixes: string[] = [];
    const noUsage = [...new Set(r.rows.filter((x) => !x.usage).map((x) => x.nspname))];
    if (noUsage.length > 0) {
      problems.push(`no USAGE on schema ${listShort(noUsage)}`);
      fixes.push(...noUsage.map((n) => `GRANT USAGE ON SCHEMA ${quoteIdent(n)} TO ${who};`));
    }
    const noSelect = r.rows.filter((x) => !x.sel).map((x) => ({ schema: x.nspname, name: x.relname }));
    if (noSelect.length > 0) {
      problems.push(`no SELECT on ${listShort(noSelect.map((t) => `${t.schema}.${t.name}`))}`);
      fixes.push(`GRANT SELECT ON ${noSelect.map(quoteQualified).join(', ')} TO ${who};`);
    }
    const noSequence = sequences.filter((q) => !q.readable);
    if (noSequence.length > 0) {
      problems.push(
        `no SELECT on sequence ${listShort(noSequence.map((q) => `${q.schema}.${q.name}`))} (its value could not be copied)`,
      );
      fixes.push(`GRANT SELECT ON SEQUENCE ${noSequence.map(quoteQualified).join(', ')} TO ${who};`);
    }
    if (problems.length === 0) {
      return {
        status: 'pass',
        message: `${s.server.user} can read ${tables.length} table(s) and ${sequences.length} sequence(s)`,
      };
    }
    return { status: 'fail', message: `${s.server.user}: ${problems.join('; ')}`, fix: fixes.join(' ') };
  },
};
