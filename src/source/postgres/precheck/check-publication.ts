/**
 * Precheck: the task's publication will carry every change of the selection (incremental only).
 *
 * - An existing publication (one a DBA made, for least privilege) must publish every operation, and
 *   every selected table: without row filter (PostgreSQL 15+) unless the task filters that table's
 *   rows too (`where`: the publication's filter then applies to the changes, the task's to the copy),
 *   and without a column list leaving out a column the task keeps (it would never reach the
 *   destination). A selected table it lacks is added by pgdts when the
 *   user owns it, else the check fails with the ALTER PUBLICATION its owner runs. Publishing via the
 *   partition root is a warning: "TRUNCATE operations performed directly on partitions are not
 *   replicated".
 * - With `incremental.existingSlot`, the publication must exist and list every selected table
 *   already: pgdts neither creates nor completes it (existing-slot.ts says why).
 * - A missing publication is created by pgdts: that needs CREATE on the database and ownership of
 *   every selected table ("To create a publication, the invoking user must have the CREATE privilege
 *   for the current database... To add a table to a publication, the invoking user must have
 *   ownership rights on the table"; superusers bypass both). PostgreSQL docs, "CREATE PUBLICATION".
 */
import { displayName, quoteIdent, quoteQualified } from '../../../core/identifier.ts';
import { listShort } from '../../../core/precheck.ts';
import type { SelectedTable } from '../../../core/selected-table.ts';
import { publicationNameOf } from '../../../core/task-config.ts';
import { needed, type PgPrecheck, type PgSide } from '../../../pg/precheck-side.ts';
import { missingFromPublication, publicationTables } from '../publication-coverage.ts';
import { existingSlotPublicationProblem } from '../existing-slot.ts';
import { isIncremental } from './incremental.ts';

interface Published {
  readonly schema: string;
  readonly name: string;
  readonly rowFilter: string | null;
  readonly columns: readonly string[] | null;
}

async function published(s: PgSide, pub: string): Promise<Published[]> {
  // rowfilter and attnames exist from PostgreSQL 15.
  const extra =
    s.server.major >= 15
      ? 'rowfilter, attnames::text[] AS columns'
      : 'NULL::text AS rowfilter, NULL::text[] AS columns';
  const r = await s.client.query<{
    schemaname: string;
    tablename: string;
    rowfilter: string | null;
    columns: string[] | null;
  }>(`SELECT schemaname, tablename, ${extra} FROM pg_publication_tables WHERE pubname = $1`, [pub]);
  return r.rows.map((x) => ({
    schema: x.schemaname,
    name: x.tablename,
    rowFilter: x.rowfilter,
    columns: x.columns,
  }));
}

/** Publication operations, coverage, filters and the privileges to create or complete it. */
export const publicationCheck: PgPrecheck = {
  id: 'publication',
  title: 'Source publication',
  needs: ['tables', 'targets'],
  applies: isIncremental,
  run: async (s, ctx) => {
    const pub = publicationNameOf(ctx.task);
    const targetOf = new Map(needed(ctx.targets, 'targets').map((t) => [displayName(t.source), t]));
    const who = quoteIdent(s.server.user);
    const tables = needed(ctx.tables, 'tables');
    const roots = publicationTables(tables);
    const r = await s.client.query<{
      ins: boolean;
      upd: boolean;
      del: boolean;
      trunc: boolean;
      viaroot: boolean;
    }>(
      `SELECT pubinsert AS ins, pubupdate AS upd, pubdelete AS del, pubtruncate AS trunc, pubviaroot AS viaroot
         FROM pg_publication WHERE pubname = $1`,
      [pub],
    );
    const owned = await s.client.query<{ oid: number; owner: boolean; create: boolean }>(
      `SELECT c.oid::int AS oid, pg_has_role(c.relowner, 'USAGE') AS owner,
              has_database_privilege(current_database(), 'CREATE') AS create
         FROM pg_class c WHERE c.oid = ANY($1::oid[])`,
      [roots.map((t) => t.oid)],
    );
    const notOwned = roots.filter(
      (t) => !s.server.isSuperuser && owned.rows.find((o) => o.oid === t.oid)?.owner !== true,
    );
    const p = r.rows[0];
    const existingSlot = ctx.task.incremental.existingSlot;
    // A slot pgdts did not create needs the publication its changes were written under (existing-slot.ts).
    const forExistingSlot = (missing: readonly SelectedTable[] | undefined) => {
      const problem =
        existingSlot === undefined ? undefined : existingSlotPublicationProblem(existingSlot, pub, missing);
      return problem === undefined ? undefined : { status: 'fail' as const, ...problem };
    };
    if (p === undefined) {
      const refused = forExistingSlot(undefined);
      if (refused !== undefined) return refused;
      const canCreate = s.server.isSuperuser || owned.rows[0]?.create === true || roots.length === 0;
      if (canCreate && notOwned.length === 0) {
        return { status: 'pass', message: `publication ${pub} will be created for ${roots.length} table(s)` };
      }
      const lacks = [
        ...(canCreate ? [] : [`CREATE on database ${s.params.database}`]),
        ...(notOwned.length > 0 ? [`ownership of ${listShort(notOwned.map(displayName))}`] : []),
      ];
      return {
        status: 'fail',
        message: `publication ${pub} does not exist and ${s.server.user} cannot create it: it lacks ${lacks.join(' and ')}`,
        fix: `as the tables' owner (or a superuser): CREATE PUBLICATION ${quoteIdent(pub)} FOR TABLE ${roots.map(quoteQualified).join(', ')}; — see pgdts grants`,
      };
    }
    const missingOps = [
      ...(p.ins ? [] : ['insert']),
      ...(p.upd ? [] : ['update']),
      ...(p.del ? [] : ['delete']),
      ...(p.trunc ? [] : ['truncate']),
    ];
    if (missingOps.length > 0) {
      return {
        status: 'fail',
        message: `publication ${pub} does not publish ${missingOps.join(', ')}: those changes would never reach the destination`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} SET (publish = 'insert, update, delete, truncate');`,
      };
    }
    const listed = await published(s, pub);
    const key = (q: { schema: string; name: string }) => `${q.schema}\u0000${q.name}`;
    const byName = new Map(listed.map((x) => [key(x), x]));
    // A leaf is carried when listed itself (partitions by name) or through its root (via the root).
    const entryOf = (t: SelectedTable) =>
      byName.get(key(t)) ?? (t.partitionRoot !== undefined ? byName.get(key(t.partitionRoot)) : undefined);
    const leaves = tables.filter((t) => t.relkind === 'r');
    const filtered = leaves.filter((t) => {
      const e = entryOf(t);
      const target = targetOf.get(displayName(t));
      const kept = target?.columns.map((c) => c.source) ?? t.columns;
      return (
        e !== undefined &&
        ((e.rowFilter !== null && target?.where === undefined) ||
          (e.columns !== null && kept.some((c) => !e.columns?.includes(c))))
      );
    });
    if (filtered.length > 0) {
      return {
        status: 'fail',
        message: `publication ${pub} filters rows or columns of ${listShort(filtered.map(displayName))}: what it leaves out would never reach the destination`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} SET TABLE ${roots.map(quoteQualified).join(', ')}; (without WHERE or column lists)`,
      };
    }
    const toAdd = missingFromPublication(tables, listed);
    const refused = forExistingSlot(toAdd);
    if (refused !== undefined) return refused;
    const cannotAdd = toAdd.filter((t) => notOwned.includes(t));
    if (cannotAdd.length > 0) {
      return {
        status: 'fail',
        message: `publication ${pub} does not publish ${listShort(cannotAdd.map(displayName))}, and ${s.server.user} does not own ${cannotAdd.length === 1 ? 'it' : 'them'} to add ${cannotAdd.length === 1 ? 'it' : 'them'}`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${cannotAdd.map(quoteQualified).join(', ')}; (as the owner, or GRANT the owning role to ${who})`,
      };
    }
    if (p.viaroot && tables.some((t) => t.relkind === 'p')) {
      return {
        status: 'warn',
        message: `publication ${pub} publishes via the partition root: a TRUNCATE of a single partition is not replicated (changes are)`,
        fix: `ALTER PUBLICATION ${quoteIdent(pub)} SET (publish_via_partition_root = false);`,
      };
    }
    return {
      status: 'pass',
      message:
        toAdd.length > 0
          ? `publication ${pub} exists; pgdts adds ${listShort(toAdd.map(displayName))}`
          : `publication ${pub} exists and publishes every operation of the ${leaves.length} selected table(s)`,
    };
  },
};
