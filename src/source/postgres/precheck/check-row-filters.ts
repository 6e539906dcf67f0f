/**
 * Precheck: every row filter (`objects[].where`) is a condition the source accepts on its table, and,
 * with incremental sync, one whose verdict on an UPDATE or DELETE can be known from what the source
 * logs: it may reference only replica identity columns, unless the table has REPLICA IDENTITY FULL.
 * That is PostgreSQL's own rule for publication row filters, whose breach makes the source refuse
 * UPDATE and DELETE on the table (docs, "Logical Replication", Row Filters, "Expression
 * Restrictions" and "UPDATE Transformations"); pgdts applies it to sources that filter after
 * decoding too (13/14, partitioned tables), so a filter means the same on every source. On 15+
 * a filter that goes into the publication must also meet the publication's expression rules (only
 * built-in immutable functions and operators, no system columns).
 */
import { ConfigError } from '../../../core/errors.ts';
import { displayName, quoteQualified } from '../../../core/identifier.ts';
import { publicationNameOf } from '../../../core/task-config.ts';
import { needed, type PgPrecheck } from '../../../pg/precheck-side.ts';
import { rowFilterIdentityMessage, rowFilterIdentityProblem } from '../../../core/row-filter-identity.ts';
import { checkPublicationRowFilter, checkRowFilter } from '../row-filter.ts';

/** Row filters valid on the source and usable for incremental sync. */
export const rowFiltersCheck: PgPrecheck = {
  id: 'row-filters',
  title: 'Row filters',
  needs: ['targets'],
  applies: (task) => task.objects.some((o) => o.kind === 'table' && o.where !== undefined),
  run: async (s, ctx) => {
    const targets = needed(ctx.targets, 'targets').filter((t) => t.where !== undefined);
    const incremental = ctx.task.syncTypes.includes('incremental');
    const problems: string[] = [];
    const fixes: string[] = [];
    const referenced = new Map<number, readonly string[]>();
    const pub = await s.client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
      publicationNameOf(ctx.task),
    ]);
    for (const t of targets) {
      const where = t.where ?? '';
      const path = `objects[${t.entry}].where`;
      let columns = referenced.get(t.entry);
      if (columns === undefined) {
        const root = t.source.partitionRoot ?? t.source;
        try {
          columns = await checkRowFilter(s.client, root, where, path);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw e;
          problems.push(e.message);
          referenced.set(t.entry, []);
          continue;
        }
        referenced.set(t.entry, columns);
      }
      if (!incremental || t.source.relkind !== 'r') continue;
      const bad = rowFilterIdentityProblem(t.source, columns);
      if (bad !== undefined) {
        problems.push(`${path} ${rowFilterIdentityMessage(displayName(t.source), bad)}`);
        fixes.push(`ALTER TABLE ${quoteQualified(t.source)} REPLICA IDENTITY FULL;`);
        continue;
      }
      // The publication pgdts creates carries plain tables' filters (PostgreSQL 15+).
      if (s.server.major >= 15 && pub.rowCount === 0 && t.source.partitionRoot === undefined) {
        const verdict = await checkPublicationRowFilter(s.client, t.source, where);
        if (verdict.kind === 'refused') {
          problems.push(`${path} is not accepted as a publication row filter: ${verdict.message}`);
          fixes.push('use only columns, constants and built-in immutable functions and operators');
        }
      }
    }
    if (problems.length > 0) {
      return {
        status: 'fail',
        message: problems.join('; '),
        ...(fixes.length > 0 ? { fix: [...new Set(fixes)].join(' ') } : {}),
      };
    }
    return {
      status: 'pass',
      message: `${targets.length} table(s) filtered by row${
        incremental && s.server.major < 15 ? ' (filtered by pgdts after decoding: PostgreSQL 13/14)' : ''
      }`,
    };
  },
};
