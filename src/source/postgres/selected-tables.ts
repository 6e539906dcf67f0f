/**
 * Resolves a task's object selection (whole schemas, single tables) into the list of tables on the
 * source, with what the copy and replication phases need to know about each.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import type { ReplicaIdentity } from '../../core/change.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import { entryOf } from '../../core/table-targets.ts';
import type { ObjectSelector } from '../../core/task-config.ts';

const RI: Record<string, ReplicaIdentity> = { d: 'default', n: 'nothing', f: 'full', i: 'index' };

/**
 * Lists the tables the selectors pick, ordered by schema and name. Partitioned tables are listed with
 * their partitions (data lives in the leaf partitions). A schema entry picks every table of its schema
 * but the excluded ones; a table entry one table, or every table of its schema whose name matches its
 * glob (none is fine: the glob may match later tables). Matching is core/table-targets.ts's, the one
 * the pipeline plans targets with.
 * @throws {PgdtsError} CONFIG_INVALID when a selected schema, or a table named exactly, does not exist.
 */
export async function listSelectedTables(
  client: pg.Client,
  objects: readonly ObjectSelector[],
): Promise<SelectedTable[]> {
  const schemas = objects.flatMap((o) => (o.kind === 'schema' ? [o.schema] : []));
  if (schemas.length > 0) {
    const found = await client.query<{ nspname: string }>(
      'SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])',
      [schemas],
    );
    const missing = schemas.filter((s) => !found.rows.some((r) => r.nspname === s));
    if (missing.length > 0) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `objects: schema ${missing.join(', ')} does not exist on the source`,
      );
    }
  }
  const candidates = await client.query<{ oid: string; nspname: string; relname: string }>(
    `SELECT c.oid::text, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1::text[])`,
    [[...new Set(objects.map((o) => (o.kind === 'schema' ? o.schema : o.table.schema)))]],
  );
  const exact = objects.flatMap((o) => (o.kind === 'table' && o.glob !== true ? [o.table] : []));
  const missing = exact.filter(
    (t) => !candidates.rows.some((x) => x.nspname === t.schema && x.relname === t.name),
  );
  if (missing.length > 0) {
    throw new PgdtsError(
      'CONFIG_INVALID',
      `objects: table ${missing.map((t) => `${t.schema}.${t.name}`).join(', ')} does not exist on the source`,
    );
  }
  const chosen = candidates.rows
    .filter((x) => entryOf(objects, { schema: x.nspname, name: x.relname }) !== undefined)
    .map((x) => x.oid);
  const r = await client.query<{
    oid: string;
    nspname: string;
    relname: string;
    relkind: 'r' | 'p';
    root_schema: string | null;
    root_name: string | null;
    pk: string[] | null;
    relreplident: string;
    ri_cols: string[] | null;
    size: string;
    bs: string;
    reltuples: string;
    cols: string[] | null;
    gen: string[] | null;
    triggers: number;
    rules: number;
    forced_rls: boolean;
  }>(
    `WITH sel AS (
       SELECT unnest($1::oid[]) AS oid
     ), withparts AS (
       -- Each selected table with its partitions at every level. pg_partition_tree lists nothing for
       -- a table that is neither partitioned nor a partition (PostgreSQL docs, "Partitioning
       -- Information Functions"); one call per selected table, not one per table and pg_inherits row.
       SELECT oid FROM sel
       UNION
       SELECT t.relid FROM sel CROSS JOIN LATERAL pg_partition_tree(sel.oid) AS t
     )
     SELECT c.oid::text, n.nspname, c.relname, c.relkind::text AS relkind,
            rn.nspname AS root_schema, rc.relname AS root_name,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint pk
               CROSS JOIN LATERAL unnest(pk.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE pk.conrelid = c.oid AND pk.contype = 'p') AS pk,
            c.relreplident::text AS relreplident,
            (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_index ix
               CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE ix.indrelid = c.oid AND ix.indisreplident) AS ri_cols,
            pg_relation_size(c.oid)::text AS size, current_setting('block_size') AS bs,
            c.reltuples::text AS reltuples,
            (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS cols,
            (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> '') AS gen,
            (SELECT count(*)::int FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal) AS triggers,
            (SELECT count(*)::int FROM pg_rewrite rw WHERE rw.ev_class = c.oid AND rw.rulename <> '_RETURN') AS rules,
            c.relrowsecurity AND c.relforcerowsecurity AS forced_rls
       FROM withparts w JOIN pg_class c ON c.oid = w.oid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_class rc ON rc.oid = (SELECT a.relid FROM pg_partition_ancestors(c.oid) a(relid)
                                           WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = a.relid)
                                             AND a.relid <> c.oid)
       LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      ORDER BY n.nspname, c.relname`,
    [chosen],
  );
  return r.rows.map((x) => {
    const sizeBytes = Number(x.size);
    return {
      oid: Number(x.oid),
      schema: x.nspname,
      name: x.relname,
      relkind: x.relkind,
      partitionRoot:
        x.root_schema !== null && x.root_name !== null
          ? { schema: x.root_schema, name: x.root_name }
          : undefined,
      primaryKey: x.pk ?? [],
      replicaIdentity: RI[x.relreplident] ?? 'default',
      replicaIdentityIndexColumns: x.ri_cols ?? [],
      sizeBytes,
      blocks: Math.ceil(sizeBytes / Number(x.bs)),
      estimatedRows: Number(x.reltuples),
      columns: x.cols ?? [],
      generatedColumns: x.gen ?? [],
      triggers: x.triggers,
      rules: x.rules,
      forcedRowSecurity: x.forced_rls,
    };
  });
}
