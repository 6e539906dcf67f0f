/**
 * Reads the selected part of a source database's schema from pg_catalog into a {@link SchemaModel}.
 * Works on PostgreSQL 13 to 17: columns added later (pg_range.rngmultitypid, 14) are read through
 * to_jsonb so one query fits all versions. Catalog reference: PostgreSQL docs, chapter "System
 * Catalogs" (pg_class, pg_attribute, pg_constraint, pg_depend, pg_index, pg_trigger, pg_type...).
 */
import type pg from 'pg';
import { PgdtsError } from '../../../core/errors.ts';
import type { QualifiedName } from '../../../core/identifier.ts';
import {
  refKey,
  type AggregateDef,
  type AggregateFinalModify,
  type CastDef,
  type ColumnDef,
  type ColumnStorage,
  type ExtensionDef,
  type FiringState,
  type ForeignKeyDef,
  type IndexDef,
  type NativeCode,
  type ObjectRef,
  type PolicyDef,
  type ReadSchemaOptions,
  type RuleDef,
  type RoutineDef,
  type SchemaDef,
  type SchemaModel,
  type SequenceDef,
  type SequenceOptions,
  type StatisticsDef,
  type TableConstraintDef,
  type TableDef,
  type TriggerDef,
  type TypeAlignment,
  type TypeDef,
  type ViewDef,
} from '../../../core/schema-model.ts';
import { selects } from '../../../core/table-targets.ts';
import type { ObjectSelector } from '../../../core/task-config.ts';
import { wrapPgError } from '../../../pg/connection.ts';
import { introspectAccess } from './introspect-access.ts';
import {
  buildObjectKinds,
  objectKindRefs,
  PROC_NAME,
  readObjectKinds,
  schemaTextObjects,
  selectedCasts,
  type KindClass,
} from './introspect-object-kinds.ts';

const SYSTEM_SCHEMA = `(n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\\_toast%' OR n.nspname LIKE 'pg\\_temp\\_%')`;

function notExtensionMember(catalog: string, oidExpr: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oidExpr} AND e.deptype = 'e')`;
}

interface RelRow {
  oid: number;
  nspname: string;
  relname: string;
  relkind: 'r' | 'p' | 'v' | 'm' | 'S' | 'c';
  relpersistence: string;
  relreplident: string;
  reloptions: string[] | null;
  parent: number | null;
  bound: string | null;
  partkey: string | null;
  viewdef: string | null;
  relispopulated: boolean;
  reltype: number;
  typarray: number | null;
  comment: string | null;
  toastoptions: string[] | null;
  relrowsecurity: boolean;
  relforcerowsecurity: boolean;
  oftype_schema: string | null;
  oftype_name: string | null;
}

interface ColRow {
  attrelid: number;
  attislocal: boolean;
  attname: string;
  type: string;
  attnotnull: boolean;
  attidentity: string;
  attgenerated: string;
  def: string | null;
  collschema: string | null;
  collname: string | null;
  comment: string | null;
  storage: string | null;
  compression: string | null;
  stattarget: number | null;
}

interface SeqRow {
  oid: number;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  owner_rel: number | null;
  owner_col: string | null;
  deptype: string | null;
}

interface ConRow {
  oid: number;
  conname: string;
  contype: string;
  conrelid: number;
  contypid: number;
  confrelid: number;
  def: string;
  conislocal: boolean;
  coninhcount: number;
  conparentid: number;
  parent_index: number | null;
  comment: string | null;
}

interface IdxRow {
  oid: number;
  nspname: string;
  relname: string;
  indrelid: number;
  def: string;
  indisunique: boolean;
  indisclustered: boolean;
  indisreplident: boolean;
  constraint_backed: boolean;
  parent_index: number | null;
  comment: string | null;
}

interface TypeRow {
  oid: number;
  nspname: string;
  typname: string;
  typtype: string;
  typarray: number;
  labels: string[] | null;
  basetype: string | null;
  typdefault: string | null;
  typnotnull: boolean;
  collschema: string | null;
  collname: string | null;
  rngsubtype: string | null;
  rngopc: string | null;
  rngsubdiff: string | null;
  mr_schema: string | null;
  mr_name: string | null;
  rngcanonical: string | null;
  /** Base types (typtype `b`) only: the CREATE TYPE options, as pg_dump's dumpBaseType reads them. */
  typinput: string | null;
  typoutput: string | null;
  typreceive: string | null;
  typsend: string | null;
  typmodin: string | null;
  typmodout: string | null;
  typanalyze: string | null;
  typsubscript: string | null;
  typlen: number;
  typbyval: boolean;
  typalign: string;
  typstorage: string;
  typcategory: string;
  typispreferred: boolean;
  typdefault_text: string | null;
  typelem_type: string | null;
  typdelim: string;
  typcollatable: boolean;
  comment: string | null;
}

interface ProcRow {
  oid: number;
  nspname: string;
  proname: string;
  prokind: string;
  args: string;
  /** pg_get_functiondef text; null for an aggregate (it has none). */
  def: string | null;
  /** `c` or `internal` for a function in those languages, else null; with probin and prosrc then. */
  native_lang: 'c' | 'internal' | null;
  probin: string | null;
  prosrc: string | null;
  comment: string | null;
}

interface AggRow {
  oid: number;
  arguments: string;
  aggkind: string;
  transfn: string;
  transtype: string;
  transspace: number;
  finalfn: string | null;
  finalextra: boolean;
  finalmodify: string;
  combinefn: string | null;
  serialfn: string | null;
  deserialfn: string | null;
  initval: string | null;
  mtransfn: string | null;
  minvtransfn: string | null;
  mtranstype: string | null;
  mtransspace: number;
  mfinalfn: string | null;
  mfinalextra: boolean;
  mfinalmodify: string;
  minitval: string | null;
  sortop_schema: string | null;
  sortop_name: string | null;
  proparallel: string;
}

interface TrigRow {
  tgrelid: number;
  tgname: string;
  def: string;
  tgenabled: string;
  tgfoid: number;
  comment: string | null;
}

interface DepRow {
  owner_cls: 'class' | 'type' | 'proc';
  owner_oid: number;
  ref_cls: 'class' | 'type' | 'proc';
  ref_oid: number;
}

/**
 * A base type's support function (pg_type column `col`) as regproc text (qualified unless in
 * pg_catalog, as pg_dump prints it), NULL when none or for another kind of type.
 */
const BASE_TYPE_OPTION = (col: string): string =>
  `CASE WHEN t.typtype = 'b' AND t.${col} <> 0 THEN t.${col}::regproc::text END`;

const COMMENT = (catalog: string, oidExpr: string, sub = '0'): string =>
  `(SELECT description FROM pg_description WHERE classoid = '${catalog}'::regclass AND objoid = ${oidExpr} AND objsubid = ${sub})`;

/**
 * Introspects the objects the selectors pick.
 *
 * - `{kind:'schema'}` takes every table, partition, view, materialized view, sequence, type (base
 *   types included), function, procedure, aggregate, operator, operator family and class, collation,
 *   conversion, text search dictionary, configuration, parser and template of the schema, the casts
 *   from or to its types, with indexes, constraints and triggers of its tables, plus the types,
 *   sequences and functions these need from other schemas (and the text search parsers and templates
 *   its configurations and dictionaries use; never tables or views: a view on an unselected table
 *   makes the DDL fail, naming the view).
 * - `{kind:'table'}` takes the table with its partitions, the sequences it owns or its defaults use,
 *   the user types of its columns, the functions its defaults, checks and triggers call (transitively),
 *   and the schemas all of those live in.
 *
 * With `options` (`schema.owners`, `schema.privileges`), owners, privileges, the selected schemas'
 * default privileges and the roles they name are read too (introspect-access.ts).
 *
 * Objects that belong to an extension (pg_depend deptype `e`) are skipped; the extensions themselves
 * are recorded when they live in a selected schema or own a type or function the selection uses.
 * Names in SQL texts are schema-qualified: the session's search_path is emptied while reading and
 * restored afterwards. Runs in the caller's transaction, so a snapshot set by the caller applies.
 * @throws {PgdtsError} CONFIG_INVALID when a selected schema or table does not exist; SCHEMA_SYNC_FAILED
 *   when a catalog query fails.
 */
export async function introspectSchema(
  client: pg.Client,
  objects: readonly ObjectSelector[],
  options: ReadSchemaOptions = {},
): Promise<SchemaModel> {
  const saved = (await client.query<{ p: string }>("SELECT current_setting('search_path') AS p")).rows[0]?.p;
  await client.query("SELECT set_config('search_path', '', false)");
  try {
    return await introspectAccess(client, await read(client, objects, options.referenceable ?? []), options);
  } catch (e) {
    const err = wrapPgError('SCHEMA_SYNC_FAILED', 'reading the source schema', e);
    // Catalog functions (pg_get_indexdef, pg_get_expr, format_type...) look objects up as of now,
    // not as of the query's snapshot: a DDL committed meanwhile on the live source makes them fail
    // with XX000 ("could not open relation", "cache lookup failed"), as pg_dump can. Read again.
    if (err.sqlState === 'XX000') {
      throw new PgdtsError(
        'SCHEMA_SYNC_FAILED',
        `${err.message}; a concurrent DDL on the source, read again`,
        {
          cause: e,
          retryable: true,
          retryWindow: 'other',
          sqlState: 'XX000',
        },
      );
    }
    throw err;
  } finally {
    await client.query("SELECT set_config('search_path', $1, false)", [saved ?? '"$user", public']);
  }
}

async function q<R extends pg.QueryResultRow>(client: pg.Client, text: string): Promise<R[]> {
  return (await client.query<R>(text)).rows;
}

async function read(
  client: pg.Client,
  objects: readonly ObjectSelector[],
  referenceableTables: readonly QualifiedName[],
): Promise<SchemaModel> {
  const serverVersion = Number(
    (await q<{ v: string }>(client, "SELECT current_setting('server_version_num') AS v"))[0]?.v ?? 0,
  );
  const nsRows = await q<{ oid: number; nspname: string; comment: string | null }>(
    client,
    `SELECT n.oid::int8::float8 AS oid, n.nspname, ${COMMENT('pg_namespace', 'n.oid')} AS comment
       FROM pg_namespace n WHERE NOT ${SYSTEM_SCHEMA}`,
  );
  const rels = await q<RelRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, n.nspname, c.relname, c.relkind::text AS relkind,
            c.relpersistence::text AS relpersistence, c.relreplident::text AS relreplident, c.reloptions::text[] AS reloptions,
            (SELECT i.inhparent::int8::float8 FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition) AS parent,
            CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
            CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partkey,
            CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS viewdef,
            c.relispopulated, c.reltype::int8::float8 AS reltype,
            (SELECT t.typarray::int8::float8 FROM pg_type t WHERE t.oid = c.reltype) AS typarray,
            ${COMMENT('pg_class', 'c.oid')} AS comment,
            (SELECT tc.reloptions::text[] FROM pg_class tc WHERE tc.oid = c.reltoastrelid) AS toastoptions,
            c.relrowsecurity, c.relforcerowsecurity,
            (SELECT tn.nspname FROM pg_type ot JOIN pg_namespace tn ON tn.oid = ot.typnamespace WHERE ot.oid = c.reloftype) AS oftype_schema,
            (SELECT ot.typname FROM pg_type ot WHERE ot.oid = c.reloftype) AS oftype_name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'c') AND NOT ${SYSTEM_SCHEMA}
        AND ${notExtensionMember('pg_class', 'c.oid')}`,
  );
  const relById = new Map(rels.map((r) => [r.oid, r]));
  const cols = await q<ColRow & { attrelid: number }>(
    client,
    `SELECT a.attrelid::int8::float8 AS attrelid, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull, a.attislocal, a.attidentity::text AS attidentity, a.attgenerated::text AS attgenerated,
            pg_get_expr(d.adbin, d.adrelid) AS def,
            CASE WHEN a.attcollation <> t.typcollation THEN cn.nspname END AS collschema,
            CASE WHEN a.attcollation <> t.typcollation THEN co.collname END AS collname,
            ${COMMENT('pg_class', 'a.attrelid', 'a.attnum')} AS comment,
            CASE WHEN a.attstorage <> t.typstorage THEN a.attstorage::text END AS storage,
            ${serverVersion >= 140000 ? "NULLIF(a.attcompression::text, '')" : 'NULL::text'} AS compression,
            CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::int END AS stattarget
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'c') AND a.attnum > 0 AND NOT a.attisdropped AND NOT ${SYSTEM_SCHEMA}
      ORDER BY a.attrelid, a.attnum`,
  );
  const colsByRel = groupBy(cols, (c) => c.attrelid);
  // Table inheritance (not partitioning): parents of each child, in inhseqno order.
  const inhRows = await q<{ child: number; parent: number }>(
    client,
    `SELECT i.inhrelid::int8::float8 AS child, i.inhparent::int8::float8 AS parent
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE NOT c.relispartition AND c.relkind = 'r' AND p.relkind = 'r'
      ORDER BY i.inhrelid, i.inhseqno`,
  );
  const parentsOf = groupBy(inhRows, (x) => x.child);
  const seqs = await q<SeqRow>(
    client,
    `SELECT s.seqrelid::int8::float8 AS oid, format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start,
            s.seqincrement::text AS increment, s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache,
            s.seqcycle AS cycle, d.refobjid::int8::float8 AS owner_rel, a.attname AS owner_col, d.deptype::text AS deptype
       FROM pg_sequence s
       LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid`,
  );
  const seqById = new Map(seqs.map((s) => [s.oid, s]));
  const cons = await q<ConRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, c.conname, c.contype::text AS contype, c.conrelid::int8::float8 AS conrelid,
            c.contypid::int8::float8 AS contypid, c.confrelid::int8::float8 AS confrelid,
            pg_get_constraintdef(c.oid) AS def, c.conislocal, c.coninhcount, c.conparentid::int8::float8 AS conparentid,
            (SELECT i.inhparent::int8::float8 FROM pg_inherits i WHERE i.inhrelid = c.conindid AND c.contype IN ('p', 'u', 'x')) AS parent_index,
            ${COMMENT('pg_constraint', 'c.oid')} AS comment
       FROM pg_constraint c WHERE c.contype IN ('c', 'p', 'u', 'x', 'f')
      ORDER BY c.conname`,
  );
  const idx = await q<IdxRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, n.nspname, c.relname, x.indrelid::int8::float8 AS indrelid,
            pg_get_indexdef(c.oid) AS def, x.indisunique, x.indisclustered, x.indisreplident,
            EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid AND k.contype IN ('p', 'u', 'x')
                      AND k.conrelid = x.indrelid) AS constraint_backed,
            (SELECT i.inhparent::int8::float8 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS parent_index,
            ${COMMENT('pg_class', 'c.oid')} AS comment
       FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT ${SYSTEM_SCHEMA}`,
  );
  const types = await q<TypeRow>(
    client,
    `SELECT t.oid::int8::float8 AS oid, n.nspname, t.typname, t.typtype::text AS typtype, t.typarray::int8::float8 AS typarray,
            (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels,
                        CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS basetype,
            CASE WHEN t.typtype = 'd' THEN pg_get_expr(t.typdefaultbin, 0) END AS typdefault, t.typnotnull,
            CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN cn.nspname END AS collschema,
            CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN co.collname END AS collname,
            format_type(r.rngsubtype, NULL) AS rngsubtype,
            CASE WHEN r.rngsubopc IS NOT NULL AND NOT oc.opcdefault THEN quote_ident(ocn.nspname) || '.' || quote_ident(oc.opcname) END AS rngopc,
            CASE WHEN r.rngsubdiff <> 0 THEN r.rngsubdiff::regproc::text END AS rngsubdiff,
            mn.nspname AS mr_schema, mt.typname AS mr_name,
            CASE WHEN r.rngcanonical <> 0 THEN r.rngcanonical::regproc::text END AS rngcanonical,
            ${BASE_TYPE_OPTION('typinput')} AS typinput, ${BASE_TYPE_OPTION('typoutput')} AS typoutput,
            ${BASE_TYPE_OPTION('typreceive')} AS typreceive, ${BASE_TYPE_OPTION('typsend')} AS typsend,
            ${BASE_TYPE_OPTION('typmodin')} AS typmodin, ${BASE_TYPE_OPTION('typmodout')} AS typmodout,
            ${BASE_TYPE_OPTION('typanalyze')} AS typanalyze,
            ${serverVersion >= 140000 ? BASE_TYPE_OPTION('typsubscript') : 'NULL::text'} AS typsubscript,
            t.typlen::int AS typlen, t.typbyval, t.typalign::text AS typalign, t.typstorage::text AS typstorage,
            t.typcategory::text AS typcategory, t.typispreferred, t.typdefault AS typdefault_text,
            CASE WHEN t.typtype = 'b' AND t.typelem <> 0 THEN format_type(t.typelem, NULL) END AS typelem_type,
            t.typdelim::text AS typdelim, t.typcollation <> 0 AS typcollatable,
            ${COMMENT('pg_type', 't.oid')} AS comment
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
       LEFT JOIN pg_collation co ON co.oid = t.typcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
       LEFT JOIN pg_range r ON r.rngtypid = t.oid
       LEFT JOIN pg_opclass oc ON oc.oid = r.rngsubopc LEFT JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
       LEFT JOIN pg_type mt ON mt.oid = (to_jsonb(r) ->> 'rngmultitypid')::oid
       LEFT JOIN pg_namespace mn ON mn.oid = mt.typnamespace
      WHERE NOT ${SYSTEM_SCHEMA} AND (t.typtype IN ('e', 'r', 'd')
             OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
             -- A base type, not the array type made for one (it comes with its element type).
             OR (t.typtype = 'b' AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)))
        AND ${notExtensionMember('pg_type', 't.oid')}`,
  );
  const domainCons = await q<{ contypid: number; conname: string; def: string }>(
    client,
    `SELECT c.contypid::int8::float8 AS contypid, c.conname, pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c WHERE c.contypid <> 0 AND c.contype = 'c' ORDER BY c.conname`,
  );
  const compositeAttrs = await q<{
    typoid: number;
    name: string;
    type: string;
    collschema: string | null;
    collname: string | null;
  }>(
    client,
    `SELECT t.oid::int8::float8 AS typoid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN a.attcollation <> at.typcollation THEN cn.nspname END AS collschema,
            CASE WHEN a.attcollation <> at.typcollation THEN co.collname END AS collname
       FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       JOIN pg_type at ON at.oid = a.atttypid
       LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
      ORDER BY t.oid, a.attnum`,
  );
  const procs = await q<ProcRow>(
    client,
    `SELECT p.oid::int8::float8 AS oid, n.nspname, p.proname, p.prokind::text AS prokind,
            oidvectortypes(p.proargtypes) AS args,
            CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END AS def,
            CASE WHEN l.lanname IN ('c', 'internal') THEN l.lanname::text END AS native_lang,
            CASE WHEN l.lanname = 'c' THEN p.probin END AS probin,
            CASE WHEN l.lanname IN ('c', 'internal') THEN p.prosrc END AS prosrc,
            ${COMMENT('pg_proc', 'p.oid')} AS comment
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
      WHERE p.prokind IN ('f', 'p', 'a') AND NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_proc', 'p.oid')}
        -- Constructors of range and multirange types belong to their type (deptype i).
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'i')`,
  );
  const aggs = await readAggregates(client);
  const trigs = await q<TrigRow>(
    client,
    `SELECT t.tgrelid::int8::float8 AS tgrelid, t.tgname, pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS tgenabled,
            t.tgfoid::int8::float8 AS tgfoid, ${COMMENT('pg_trigger', 't.oid')} AS comment
       FROM pg_trigger t WHERE NOT t.tgisinternal AND t.tgparentid = 0`,
  );
  const deps = await q<DepRow>(
    client,
    `SELECT CASE WHEN d.classid = 'pg_type'::regclass OR con.contypid <> 0 THEN 'type'
                 WHEN d.classid = 'pg_proc'::regclass THEN 'proc' ELSE 'class' END AS owner_cls,
            COALESCE(r.ev_class, ad.adrelid, NULLIF(con.conrelid, 0), NULLIF(con.contypid, 0), d.objid)::int8::float8 AS owner_oid,
            CASE d.refclassid WHEN 'pg_class'::regclass THEN 'class' WHEN 'pg_type'::regclass THEN 'type' ELSE 'proc' END AS ref_cls,
            d.refobjid::int8::float8 AS ref_oid
       FROM pg_depend d
       LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
       LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
       LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid
      WHERE d.deptype = 'n'
        AND d.refclassid IN ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass)
        AND (d.classid IN ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass, 'pg_rewrite'::regclass, 'pg_attrdef'::regclass)
             OR (d.classid = 'pg_constraint'::regclass AND con.contype = 'c'))
        -- A table's own rules (created in post-data) may read other tables: no order among tables.
        AND NOT (d.classid = 'pg_rewrite'::regclass AND r.rulename <> '_RETURN' AND d.refclassid = 'pg_class'::regclass)`,
  );
  const kinds = await readObjectKinds(client);
  const extRows = await q<{ extname: string; nspname: string; extversion: string }>(
    client,
    `SELECT e.extname, n.nspname, e.extversion FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace`,
  );
  const extMembers = await q<{ cls: 'type' | 'proc'; oid: number; extname: string }>(
    client,
    `SELECT CASE d.classid WHEN 'pg_type'::regclass THEN 'type' ELSE 'proc' END AS cls, d.objid::int8::float8 AS oid, e.extname
       FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
      WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass AND d.classid IN ('pg_type'::regclass, 'pg_proc'::regclass)
     UNION ALL
     SELECT 'type', t.typarray::int8::float8, e.extname
       FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid JOIN pg_type t ON t.oid = d.objid
      WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass AND d.classid = 'pg_type'::regclass AND t.typarray <> 0`,
  );

  // ---- references: catalog OIDs → model objects
  const classRef = new Map<number, ObjectRef>();
  const typeRef = new Map<number, ObjectRef>();
  const procRef = new Map<number, ObjectRef>();
  const typeRows = new Map(types.map((t) => [t.oid, t]));
  for (const t of types) {
    const ref: ObjectRef = { kind: 'type', schema: t.nspname, name: t.typname };
    typeRef.set(t.oid, ref);
    if (t.typarray !== 0) typeRef.set(t.typarray, ref);
  }
  for (const r of rels) {
    let ref: ObjectRef;
    if (r.relkind === 'c') {
      const t = typeRows.get(r.reltype);
      if (!t) continue;
      ref = { kind: 'type', schema: t.nspname, name: t.typname };
    } else {
      const kind = r.relkind === 'S' ? 'sequence' : r.relkind === 'v' || r.relkind === 'm' ? 'view' : 'table';
      ref = { kind, schema: r.nspname, name: r.relname };
      if (r.relkind !== 'S') {
        typeRef.set(r.reltype, ref);
        if (r.typarray !== null && r.typarray !== 0) typeRef.set(r.typarray, ref);
      }
    }
    classRef.set(r.oid, ref);
  }
  for (const p of procs) procRef.set(p.oid, { kind: 'routine', schema: p.nspname, name: signatureOf(p) });
  const resolve = (cls: 'class' | 'type' | 'proc', oid: number): ObjectRef | undefined =>
    cls === 'class' ? classRef.get(oid) : cls === 'type' ? typeRef.get(oid) : procRef.get(oid);
  // Operators, operator classes and families (introspect-object-kinds.ts).
  const kindRefs = objectKindRefs(kinds);
  const resolveAny = (cls: KindClass, oid: number): ObjectRef | undefined =>
    cls === 'class' || cls === 'type' || cls === 'proc' ? resolve(cls, oid) : kindRefs.get(`${cls}:${oid}`);
  const extOf = new Map(extMembers.map((m) => [`${m.cls}:${m.oid}`, m.extname]));

  const depsOf = new Map<string, Map<string, ObjectRef>>();
  const extDepsOf = new Map<string, Set<string>>();
  for (const d of deps) {
    const owner = resolve(d.owner_cls, d.owner_oid);
    if (!owner) continue;
    const ok = refKey(owner);
    const target = resolve(d.ref_cls, d.ref_oid);
    if (target) {
      if (refKey(target) === ok) continue;
      // A sequence used by a default is created before tables anyway; keeping it as a dependency
      // lets a table selector bring the sequence along.
      const list = depsOf.get(ok) ?? new Map<string, ObjectRef>();
      list.set(refKey(target), target);
      depsOf.set(ok, list);
    } else if (d.ref_cls !== 'class') {
      const ext = extOf.get(`${d.ref_cls}:${d.ref_oid}`);
      if (ext !== undefined) extDepsOf.set(ok, (extDepsOf.get(ok) ?? new Set()).add(ext));
    }
  }

  for (const d of kinds.deps) {
    const owner = resolveAny(d.owner_cls, d.owner_oid);
    const target = resolveAny(d.ref_cls, d.ref_oid);
    if (!owner || !target || refKey(owner) === refKey(target)) continue;
    const list = depsOf.get(refKey(owner)) ?? new Map<string, ObjectRef>();
    list.set(refKey(target), target);
    depsOf.set(refKey(owner), list);
  }

  // ---- selection
  const selectedSchemas = new Set(objects.flatMap((o) => (o.kind === 'schema' ? [o.schema] : [])));
  const missingSchemas = [...selectedSchemas].filter((s) => !nsRows.some((n) => n.nspname === s));
  if (missingSchemas.length > 0) {
    throw new PgdtsError(
      'CONFIG_INVALID',
      `objects: schema ${missingSchemas.join(', ')} does not exist on the source`,
    );
  }
  const included = new Set<string>();
  const includedRelOids = new Set<number>();
  const bySchema: ObjectRef[] = [];
  const take = (ref: ObjectRef): void => {
    included.add(refKey(ref));
    bySchema.push(ref);
  };
  // A schema entry's exclusions name relations (tables, views, sequences); a partition goes with its root.
  const rootOf = (r: RelRow): RelRow => {
    let x = r;
    for (let i = 0; i < 64 && x.parent !== null; i++) x = relById.get(x.parent) ?? x;
    return x;
  };
  const schemaSelected = (r: RelRow): boolean => {
    const root = rootOf(r);
    return objects.some(
      (o) => o.kind === 'schema' && selects(o, { schema: root.nspname, name: root.relname }),
    );
  };
  for (const r of rels) {
    const ref = classRef.get(r.oid);
    if (ref && selectedSchemas.has(r.nspname) && schemaSelected(r)) {
      take(ref);
      includedRelOids.add(r.oid);
    }
  }
  for (const t of types) if (selectedSchemas.has(t.nspname)) take(typeRef.get(t.oid)!);
  for (const p of procs) if (selectedSchemas.has(p.nspname)) take(procRef.get(p.oid)!);
  for (const ref of kindRefs.values()) if (selectedSchemas.has(ref.schema)) take(ref);

  const childrenOf = groupBy(
    rels.filter((r) => r.parent !== null),
    (r) => r.parent!,
  );
  const seqsByOwner = groupBy(seqs, (x) => x.owner_rel);
  const trigsByRel = groupBy(trigs, (x) => x.tgrelid);
  const relByName = new Map(
    rels.map((r) => [`${r.relkind === 'S' ? 'S' : ''}${r.nspname}\u0000${r.relname}`, r]),
  );
  const queue: ObjectRef[] = [...bySchema];
  for (const t of trigs) {
    const f = includedRelOids.has(t.tgrelid) ? procRef.get(t.tgfoid) : undefined;
    if (f && !included.has(refKey(f))) {
      included.add(refKey(f));
      queue.push(f);
    }
  }
  const addRel = (oid: number): void => {
    const ref = classRef.get(oid);
    if (!ref || includedRelOids.has(oid)) return;
    includedRelOids.add(oid);
    included.add(refKey(ref));
    queue.push(ref);
    for (const c of childrenOf.get(oid) ?? []) addRel(c.oid);
    for (const s of seqsByOwner.get(oid) ?? []) if (s.deptype === 'a') addRel(s.oid);
    for (const t of trigsByRel.get(oid) ?? []) {
      const f = procRef.get(t.tgfoid);
      if (f && !included.has(refKey(f))) {
        included.add(refKey(f));
        queue.push(f);
      }
    }
  };
  for (const o of objects) {
    if (o.kind !== 'table') continue;
    const matching = rels.filter(
      (x) => (x.relkind === 'r' || x.relkind === 'p') && selects(o, { schema: x.nspname, name: x.relname }),
    );
    if (matching.length === 0 && o.glob !== true) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `objects: table ${o.table.schema}.${o.table.name} does not exist on the source`,
      );
    }
    for (const r of matching) addRel(r.oid);
  }
  // Casts from or to a type of a selected schema, with the types and function they need.
  const castSel = selectedCasts(
    kinds,
    selectedSchemas,
    (oid) => typeRef.get(oid),
    (oid) => procRef.get(oid),
  );
  const textObjects = schemaTextObjects(kinds, selectedSchemas, (oid) => procRef.get(oid));
  for (const c of [...castSel, textObjects]) {
    for (const r of c.needs) {
      if (r.kind === 'table' || r.kind === 'view' || included.has(refKey(r))) continue;
      included.add(refKey(r));
      queue.push(r);
    }
  }
  // What the selected objects need from elsewhere: types, sequences and routines, transitively (never
  // tables or views: a view on an unselected table fails on the destination, naming the view).
  while (queue.length > 0) {
    const ref = queue.pop()!;
    for (const d of depsOf.get(refKey(ref))?.values() ?? []) {
      if (d.kind === 'table' || d.kind === 'view' || included.has(refKey(d))) continue;
      included.add(refKey(d));
      if (d.kind === 'sequence') {
        const s = relByName.get(`S${d.schema}\u0000${d.name}`);
        if (s) includedRelOids.add(s.oid);
      }
      queue.push(d);
    }
  }
  const isIn = (ref: ObjectRef | undefined): boolean => ref !== undefined && included.has(refKey(ref));
  const depsFor = (ref: ObjectRef): ObjectRef[] =>
    sortRefs([...(depsOf.get(refKey(ref))?.values() ?? [])].filter(isIn));

  // Tables the destination has already, outside the selectors (options.referenceable).
  const referenceable = new Set(
    referenceableTables.flatMap((t) => {
      const r = relByName.get(`${t.schema}\u0000${t.name}`);
      return r !== undefined && (r.relkind === 'r' || r.relkind === 'p') ? [r.oid] : [];
    }),
  );

  // ---- build the model
  const idxById = new Map(idx.map((i) => [i.oid, i]));
  const idxByRel = groupBy(idx, (i) => i.indrelid);
  const consByRel = groupBy(cons, (c) => c.conrelid);
  const attrsByType = groupBy(compositeAttrs, (a) => a.typoid);
  const consByType = groupBy(domainCons, (c) => c.contypid);
  const identitySeq = new Map(
    seqs.filter((x) => x.deptype === 'i').map((x) => [`${x.owner_rel}\u0000${x.owner_col}`, x]),
  );
  const coll = (s: string | null, n: string | null): QualifiedName | undefined =>
    s !== null && n !== null ? { schema: s, name: n } : undefined;
  const qn = (oid: number): QualifiedName => {
    const r = relById.get(oid);
    if (r) return { schema: r.nspname, name: r.relname };
    const i = idxById.get(oid);
    if (i) return { schema: i.nspname, name: i.relname };
    throw new PgdtsError('INTERNAL', `relation ${oid} vanished while reading the catalog`);
  };
  const seqOptions = (s: SeqRow): SequenceOptions => ({
    type: s.type,
    start: s.start,
    increment: s.increment,
    min: s.min,
    max: s.max,
    cache: s.cache,
    cycle: s.cycle,
  });

  const typeDefs: TypeDef[] = [];
  for (const t of types) {
    const ref = typeRef.get(t.oid)!;
    if (!isIn(ref)) continue;
    const base = {
      schema: t.nspname,
      name: t.typname,
      comment: t.comment ?? undefined,
      dependsOn: depsFor(ref),
    };
    switch (t.typtype) {
      case 'e':
        typeDefs.push({ kind: 'enum', ...base, labels: t.labels ?? [] });
        break;
      case 'c':
        typeDefs.push({
          kind: 'composite',
          ...base,
          attributes: (attrsByType.get(t.oid) ?? []).map((a) => ({
            name: a.name,
            type: a.type,
            collation: coll(a.collschema, a.collname),
          })),
        });
        break;
      case 'r': {
        const derived = t.typname.includes('range')
          ? t.typname.replace('range', 'multirange')
          : `${t.typname}_multirange`;
        const mr =
          t.mr_name !== null && t.mr_schema !== null && (t.mr_name !== derived || t.mr_schema !== t.nspname)
            ? { schema: t.mr_schema, name: t.mr_name }
            : undefined;
        typeDefs.push({
          kind: 'range',
          ...base,
          subtype: t.rngsubtype ?? 'text',
          subtypeOpclass: t.rngopc ?? undefined,
          collation: coll(t.collschema, t.collname),
          ...(t.rngcanonical !== null ? { canonical: t.rngcanonical } : {}),
          subtypeDiff: t.rngsubdiff ?? undefined,
          multirangeName: mr,
        });
        break;
      }
      case 'b':
        typeDefs.push({
          kind: 'base',
          ...base,
          input: t.typinput ?? '',
          output: t.typoutput ?? '',
          receive: t.typreceive ?? undefined,
          send: t.typsend ?? undefined,
          typmodIn: t.typmodin ?? undefined,
          typmodOut: t.typmodout ?? undefined,
          analyze: t.typanalyze ?? undefined,
          subscript: t.typsubscript ?? undefined,
          internalLength: t.typlen,
          passedByValue: t.typbyval,
          alignment: ALIGNMENT[t.typalign] ?? 'int4',
          storage: STORAGE[t.typstorage] ?? 'plain',
          category: t.typcategory,
          preferred: t.typispreferred,
          default: t.typdefault_text ?? undefined,
          element: t.typelem_type ?? undefined,
          delimiter: t.typdelim,
          collatable: t.typcollatable,
        });
        break;
      case 'd':
        typeDefs.push({
          kind: 'domain',
          ...base,
          baseType: t.basetype ?? 'text',
          collation: coll(t.collschema, t.collname),
          default: t.typdefault ?? undefined,
          notNull: t.typnotnull,
          constraints: (consByType.get(t.oid) ?? []).map((c) => ({ name: c.conname, definition: c.def })),
        });
        break;
      default:
        break;
    }
  }

  const sequenceDefs: SequenceDef[] = [];
  const tableDefs: TableDef[] = [];
  const viewDefs: ViewDef[] = [];
  for (const r of rels) {
    if (!includedRelOids.has(r.oid) || r.relkind === 'c') continue;
    const ref = classRef.get(r.oid)!;
    const comment = r.comment ?? undefined;
    if (r.relkind === 'S') {
      const s = seqById.get(r.oid);
      if (!s || s.deptype === 'i') continue;
      const ownedBy =
        s.deptype === 'a' && s.owner_rel !== null && s.owner_col !== null && includedRelOids.has(s.owner_rel)
          ? { table: qn(s.owner_rel), column: s.owner_col }
          : undefined;
      sequenceDefs.push({
        kind: 'sequence',
        schema: r.nspname,
        name: r.relname,
        options: seqOptions(s),
        ownedBy,
        comment,
      });
      continue;
    }
    const columns = colsByRel.get(r.oid) ?? [];
    if (r.relkind === 'v' || r.relkind === 'm') {
      viewDefs.push({
        kind: r.relkind === 'v' ? 'view' : 'materialized-view',
        schema: r.nspname,
        name: r.relname,
        query: (r.viewdef ?? '').trim().replace(/;$/, ''),
        columns: columns.map((c) => ({ name: c.attname, comment: c.comment ?? undefined })),
        options: r.reloptions ?? [],
        populated: r.relkind === 'm' && r.relispopulated,
        comment,
        dependsOn: depsFor(ref),
      });
      continue;
    }
    const parentIn = r.parent !== null && includedRelOids.has(r.parent);
    const inhParents = (parentsOf.get(r.oid) ?? []).map((x) => x.parent);
    const inherits = inhParents.length > 0 && inhParents.every((p) => includedRelOids.has(p));
    const columnDefs: ColumnDef[] = columns.map((c) => {
      let identity: ColumnDef['identity'];
      if (c.attidentity === 'a' || c.attidentity === 'd') {
        const s = identitySeq.get(`${r.oid}\u0000${c.attname}`);
        if (s) {
          identity = {
            generation: c.attidentity === 'a' ? 'always' : 'by-default',
            sequence: qn(s.oid),
            options: seqOptions(s),
          };
        }
      }
      const generated = c.attgenerated === 's' ? (c.def ?? undefined) : undefined;
      return {
        name: c.attname,
        type: c.type,
        collation: coll(c.collschema, c.collname),
        default: generated === undefined && identity === undefined ? (c.def ?? undefined) : undefined,
        notNull: c.attnotnull,
        identity,
        generated,
        comment: c.comment ?? undefined,
        storage: c.storage !== null ? STORAGE[c.storage] : undefined,
        compression: c.compression === 'l' ? 'lz4' : c.compression === 'p' ? 'pglz' : undefined,
        statistics: c.stattarget ?? undefined,
        inherited: inherits && !c.attislocal ? true : undefined,
      };
    });
    const constraints: TableConstraintDef[] = [];
    const foreignKeys: ForeignKeyDef[] = [];
    for (const c of consByRel.get(r.oid) ?? []) {
      // Foreign keys cloned onto partitions (conparentid) are recreated by PostgreSQL itself.
      if (c.contype === 'f') {
        if (c.conparentid !== 0 || !(includedRelOids.has(c.confrelid) || referenceable.has(c.confrelid)))
          continue;
        foreignKeys.push({
          kind: 'foreign-key',
          name: c.conname,
          definition: c.def,
          references: qn(c.confrelid),
          comment: c.comment ?? undefined,
        });
        continue;
      }
      const kind =
        c.contype === 'c'
          ? 'check'
          : c.contype === 'p'
            ? 'primary-key'
            : c.contype === 'u'
              ? 'unique'
              : 'exclusion';
      constraints.push({
        kind,
        name: c.conname,
        definition: c.def,
        inherited: c.contype === 'c' && !c.conislocal && (parentIn || inherits),
        parentIndex: c.parent_index !== null && parentIn ? qn(c.parent_index) : undefined,
        comment: c.comment ?? undefined,
      });
    }
    const riIndex = (idxByRel.get(r.oid) ?? []).find((i) => i.indisreplident);
    tableDefs.push({
      kind: 'table',
      schema: r.nspname,
      name: r.relname,
      unlogged: r.relpersistence === 'u',
      columns: columnDefs,
      constraints,
      foreignKeys,
      partitionBy: r.partkey ?? undefined,
      partitionOf: parentIn && r.bound !== null ? { parent: qn(r.parent!), bound: r.bound } : undefined,
      replicaIdentity:
        r.relreplident === 'f'
          ? 'full'
          : r.relreplident === 'n'
            ? 'nothing'
            : r.relreplident === 'i' && riIndex
              ? { index: riIndex.relname }
              : 'default',
      options: r.reloptions ?? [],
      comment,
      dependsOn: depsFor(ref),
      toastOptions: r.toastoptions ?? [],
      inherits: inherits ? inhParents.map(qn) : undefined,
      ofType: coll(r.oftype_schema, r.oftype_name),
      rowSecurity:
        r.relrowsecurity || r.relforcerowsecurity
          ? { enabled: r.relrowsecurity, forced: r.relforcerowsecurity }
          : undefined,
    });
  }

  const indexDefs: IndexDef[] = idx
    .filter((i) => includedRelOids.has(i.indrelid) && !i.constraint_backed)
    .map((i) => ({
      kind: 'index',
      schema: i.nspname,
      name: i.relname,
      table: qn(i.indrelid),
      definition: i.def,
      unique: i.indisunique,
      parentIndex:
        i.parent_index !== null && includedRelOids.has(idxById.get(i.parent_index)?.indrelid ?? 0)
          ? qn(i.parent_index)
          : undefined,
      clustered: i.indisclustered,
      comment: i.comment ?? undefined,
    }));

  const routineDefs: RoutineDef[] = procs
    .filter((p) => p.prokind !== 'a' && isIn(procRef.get(p.oid)))
    .map((p) => ({
      kind: p.prokind === 'p' ? 'procedure' : 'function',
      schema: p.nspname,
      name: p.proname,
      signature: signatureOf(p),
      definition: (p.def ?? '').trim(),
      comment: p.comment ?? undefined,
      dependsOn: depsFor(procRef.get(p.oid)!),
      ...withNative(nativeCode(p)),
    }));

  const aggregateDefs = buildAggregates(
    procs.filter((p) => p.prokind === 'a' && isIn(procRef.get(p.oid))),
    aggs,
    (p) => depsFor(procRef.get(p.oid)!),
  );

  const kindDefs = buildObjectKinds(kinds, kindRefs, isIn, depsFor);
  // Casts of types brought from elsewhere (by a table selector, or as a dependency): a domain's
  // CHECK or a default applying a binary-coercible cast leaves no pg_depend row to follow. Those
  // whose types and function are all in the model or built in.
  const castKey = (c: { readonly cast: Omit<CastDef, 'dependsOn'> }): string =>
    `${c.cast.source}\u0000${c.cast.target}`;
  const schemaCasts = new Set(castSel.map(castKey));
  const typeCasts = selectedCasts(
    kinds,
    new Set(kinds.casts.flatMap((c) => [c.source_schema, c.target_schema])),
    (oid) => typeRef.get(oid),
    (oid) => procRef.get(oid),
  ).filter(
    (c) =>
      !schemaCasts.has(castKey(c)) &&
      c.needs.some((r) => r.kind === 'type' && isIn(r)) &&
      c.needs.every((r) => isIn(r) || r.kind === 'table'),
  );
  const castDefs: CastDef[] = [...castSel, ...typeCasts].map((c) => ({
    ...c.cast,
    dependsOn: sortRefs(c.needs.filter((r) => isIn(r) || r.kind === 'table')),
  }));

  const triggerDefs: TriggerDef[] = [];
  /** Extensions whose functions triggers call (no other dependency records them). */
  const triggerExtensions: { ext: string; label: string }[] = [];
  for (const t of trigs) {
    // A trigger calling a built-in or extension function has no reference: it is kept all the same
    // (pg_dump does), created after its table like every trigger.
    if (!includedRelOids.has(t.tgrelid)) continue;
    const fn = procRef.get(t.tgfoid);
    const ext = fn === undefined ? extOf.get(`proc:${t.tgfoid}`) : undefined;
    if (ext !== undefined) {
      const tn = qn(t.tgrelid);
      triggerExtensions.push({ ext, label: `trigger ${t.tgname} on ${tn.schema}.${tn.name}` });
    }
    triggerDefs.push({
      kind: 'trigger',
      name: t.tgname,
      table: qn(t.tgrelid),
      definition: t.def,
      enabled: firingState(t.tgenabled),
      function: fn,
      comment: t.comment ?? undefined,
    });
  }

  const { policies, rules } = await readPoliciesAndRules(client, includedRelOids, qn);
  const statistics = await readStatistics(client, includedRelOids, qn);

  const schemaNames = new Set<string>(selectedSchemas);
  for (const o of [...typeDefs, ...sequenceDefs, ...tableDefs, ...viewDefs, ...routineDefs, ...aggregateDefs])
    schemaNames.add(o.schema);
  for (const o of [
    ...kindDefs.operators,
    ...kindDefs.operatorFamilies,
    ...kindDefs.operatorClasses,
    ...kindDefs.collations,
    ...textObjects.textSearchParsers,
    ...textObjects.textSearchTemplates,
  ])
    schemaNames.add(o.schema);
  const schemas: SchemaDef[] = nsRows
    .filter((n) => schemaNames.has(n.nspname))
    .map((n) => ({ kind: 'schema', name: n.nspname, comment: n.comment ?? undefined }));

  const usedExt = new Set<string>();
  const extUsers = new Map<string, string[]>();
  for (const e of extRows) if (selectedSchemas.has(e.nspname)) usedExt.add(e.extname);
  for (const k of included) {
    for (const e of extDepsOf.get(k) ?? []) {
      usedExt.add(e);
      // refKey is `kind:schema\0name`: a label for the precheck naming who needs the extension.
      const [kind = '', rest = ''] = k.split(/:(.*)/su);
      extUsers.set(e, [...(extUsers.get(e) ?? []), `${kind} ${rest.replace('\u0000', '.')}`]);
    }
  }
  for (const { ext, label } of triggerExtensions) {
    usedExt.add(ext);
    extUsers.set(ext, [...(extUsers.get(ext) ?? []), label]);
  }
  const extensions: ExtensionDef[] = extRows
    .filter((e) => usedExt.has(e.extname))
    .map((e) => ({
      kind: 'extension',
      name: e.extname,
      schema: e.nspname,
      version: e.extversion,
      usedBy: [...new Set(extUsers.get(e.extname) ?? [])].sort(),
    }));

  const byName = <T extends { schema: string; name: string }>(a: T, b: T): number =>
    cmp(a.schema, b.schema) || cmp(a.name, b.name);
  return {
    schemas: schemas.sort((a, b) => cmp(a.name, b.name)),
    extensions: extensions.sort((a, b) => cmp(a.name, b.name)),
    types: typeDefs.sort(byName),
    sequences: sequenceDefs.sort(byName),
    tables: tableDefs.sort(byName),
    indexes: indexDefs.sort(byName),
    views: viewDefs.sort(byName),
    routines: routineDefs.sort((a, b) => cmp(a.schema, b.schema) || cmp(a.signature, b.signature)),
    triggers: triggerDefs.sort(
      (a, b) => cmp(a.table.schema, b.table.schema) || cmp(a.table.name, b.table.name) || cmp(a.name, b.name),
    ),
    aggregates: aggregateDefs.sort((a, b) => cmp(a.schema, b.schema) || cmp(a.signature, b.signature)),
    operators: kindDefs.operators.sort((a, b) => cmp(a.schema, b.schema) || cmp(a.signature, b.signature)),
    operatorFamilies: kindDefs.operatorFamilies.sort((a, b) => byName(a, b) || cmp(a.method, b.method)),
    operatorClasses: kindDefs.operatorClasses.sort((a, b) => byName(a, b) || cmp(a.method, b.method)),
    casts: castDefs.sort((a, b) => cmp(a.source, b.source) || cmp(a.target, b.target)),
    collations: kindDefs.collations.sort(byName),
    conversions: textObjects.conversions.sort(byName),
    textSearchDictionaries: textObjects.textSearchDictionaries.sort(byName),
    textSearchConfigurations: textObjects.textSearchConfigurations.sort(byName),
    textSearchParsers: textObjects.textSearchParsers.sort(byName),
    textSearchTemplates: textObjects.textSearchTemplates.sort(byName),
    refused: [],
    policies,
    rules,
    statistics,
  };
}

// ---- aggregates (PostgreSQL docs, "CREATE AGGREGATE" and catalog pg_aggregate)

async function readAggregates(client: pg.Client): Promise<AggRow[]> {
  return q<AggRow>(
    client,
    `SELECT a.aggfnoid::int8::float8 AS oid, pg_get_function_arguments(a.aggfnoid) AS arguments,
            a.aggkind::text AS aggkind, ${PROC_NAME('a.aggtransfn')} AS transfn,
            format_type(a.aggtranstype, NULL) AS transtype, a.aggtransspace AS transspace,
            ${PROC_NAME('a.aggfinalfn')} AS finalfn, a.aggfinalextra AS finalextra, a.aggfinalmodify::text AS finalmodify,
            ${PROC_NAME('a.aggcombinefn')} AS combinefn, ${PROC_NAME('a.aggserialfn')} AS serialfn,
            ${PROC_NAME('a.aggdeserialfn')} AS deserialfn, a.agginitval AS initval,
            ${PROC_NAME('a.aggmtransfn')} AS mtransfn, ${PROC_NAME('a.aggminvtransfn')} AS minvtransfn,
            CASE WHEN a.aggmtranstype <> 0 THEN format_type(a.aggmtranstype, NULL) END AS mtranstype,
            a.aggmtransspace AS mtransspace, ${PROC_NAME('a.aggmfinalfn')} AS mfinalfn,
            a.aggmfinalextra AS mfinalextra, a.aggmfinalmodify::text AS mfinalmodify, a.aggminitval AS minitval,
            on_.nspname AS sortop_schema, o.oprname AS sortop_name, p.proparallel::text AS proparallel
       FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid JOIN pg_namespace n ON n.oid = p.pronamespace
       LEFT JOIN pg_operator o ON o.oid = a.aggsortop LEFT JOIN pg_namespace on_ ON on_.oid = o.oprnamespace
      WHERE NOT ${SYSTEM_SCHEMA}`,
  );
}

const FIRING_STATES = { O: 'origin', D: 'disabled', R: 'replica', A: 'always' } as const;

/** A trigger's tgenabled or a rule's ev_enabled letter as a {@link FiringState}. */
const firingState = (c: string): FiringState => FIRING_STATES[c as keyof typeof FIRING_STATES] ?? 'origin';

const FINAL_MODIFY = { r: 'read-only', s: 'shareable', w: 'read-write' } as const;
const PARALLEL = { s: 'safe', r: 'restricted', u: 'unsafe' } as const;

/** The model of the aggregates `procs` (rows of prokind `a`), from their pg_aggregate rows. */
function buildAggregates(
  procs: readonly ProcRow[],
  rows: readonly AggRow[],
  dependsOn: (p: ProcRow) => ObjectRef[],
): AggregateDef[] {
  const byOid = new Map(rows.map((r) => [r.oid, r]));
  const fm = (c: string): AggregateFinalModify => FINAL_MODIFY[c as keyof typeof FINAL_MODIFY] ?? 'read-only';
  const space = (n: number): number | undefined => (n > 0 ? n : undefined);
  return procs.flatMap((p): AggregateDef[] => {
    const a = byOid.get(p.oid);
    if (!a) return [];
    return [
      {
        kind: 'aggregate',
        schema: p.nspname,
        name: p.proname,
        signature: signatureOf(p),
        arguments: a.arguments,
        aggregateKind: a.aggkind === 'o' ? 'ordered-set' : a.aggkind === 'h' ? 'hypothetical-set' : 'normal',
        stateFunction: a.transfn,
        stateType: a.transtype,
        stateSpace: space(a.transspace),
        finalFunction: a.finalfn ?? undefined,
        finalExtra: a.finalextra,
        finalModify: fm(a.finalmodify),
        combineFunction: a.combinefn ?? undefined,
        serialFunction: a.serialfn ?? undefined,
        deserialFunction: a.deserialfn ?? undefined,
        initialCondition: a.initval ?? undefined,
        moving:
          a.mtransfn !== null && a.minvtransfn !== null && a.mtranstype !== null
            ? {
                stateFunction: a.mtransfn,
                inverseFunction: a.minvtransfn,
                stateType: a.mtranstype,
                stateSpace: space(a.mtransspace),
                finalFunction: a.mfinalfn ?? undefined,
                finalExtra: a.mfinalextra,
                finalModify: fm(a.mfinalmodify),
                initialCondition: a.minitval ?? undefined,
              }
            : undefined,
        sortOperator:
          a.sortop_schema !== null && a.sortop_name !== null
            ? { schema: a.sortop_schema, name: a.sortop_name }
            : undefined,
        parallel: PARALLEL[a.proparallel as keyof typeof PARALLEL] ?? 'unsafe',
        comment: p.comment ?? undefined,
        dependsOn: dependsOn(p),
      },
    ];
  });
}

/**
 * Extended statistics objects on the included tables (pg_statistic_ext), sorted by schema and name.
 * PostgreSQL docs, CREATE STATISTICS. stxstattarget is -1 for the default before 17, NULL from 17.
 */
async function readStatistics(
  client: pg.Client,
  tables: ReadonlySet<number>,
  qn: (oid: number) => QualifiedName,
): Promise<StatisticsDef[]> {
  const rows = await q<{
    stxrelid: number;
    nspname: string;
    stxname: string;
    def: string;
    target: number | null;
    comment: string | null;
  }>(
    client,
    `SELECT s.stxrelid::int8::float8 AS stxrelid, n.nspname, s.stxname, pg_get_statisticsobjdef(s.oid) AS def,
            CASE WHEN s.stxstattarget >= 0 THEN s.stxstattarget::int END AS target,
            ${COMMENT('pg_statistic_ext', 's.oid')} AS comment
       FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace`,
  );
  return rows
    .filter((r) => tables.has(r.stxrelid))
    .map((r): StatisticsDef => ({
      kind: 'statistics',
      schema: r.nspname,
      name: r.stxname,
      table: qn(r.stxrelid),
      definition: r.def.trim(),
      target: r.target ?? undefined,
      comment: r.comment ?? undefined,
    }))
    .sort((a, b) => cmp(a.schema, b.schema) || cmp(a.name, b.name));
}

const STORAGE: Record<string, ColumnStorage> = { p: 'plain', e: 'external', x: 'extended', m: 'main' };

/** pg_type.typalign letters. */
const ALIGNMENT: Record<string, TypeAlignment> = { c: 'char', s: 'int2', i: 'int4', d: 'double' };

/** A `LANGUAGE c` or `internal` function's code, from its pg_proc row. */
function nativeCode(p: ProcRow): NativeCode | undefined {
  if (p.native_lang === 'c') return { language: 'c', library: p.probin ?? '', symbol: p.prosrc ?? '' };
  if (p.native_lang === 'internal') return { language: 'internal', symbol: p.prosrc ?? '' };
  return undefined;
}

const byTableAndName = <T extends { table: QualifiedName; name: string }>(a: T, b: T): number =>
  cmp(a.table.schema, b.table.schema) || cmp(a.table.name, b.table.name) || cmp(a.name, b.name);

/**
 * Row-level security policies (pg_policy) and rewrite rules (pg_rewrite, but the `_RETURN` rules of
 * views) of the included tables, sorted by table and name. PostgreSQL docs, CREATE POLICY, CREATE RULE.
 */
async function readPoliciesAndRules(
  client: pg.Client,
  tables: ReadonlySet<number>,
  qn: (oid: number) => QualifiedName,
): Promise<{ policies: PolicyDef[]; rules: RuleDef[] }> {
  const pols = await q<{
    polrelid: number;
    polname: string;
    polcmd: string;
    polpermissive: boolean;
    roles: string[];
    qual: string | null;
    withcheck: string | null;
    comment: string | null;
  }>(
    client,
    `SELECT p.polrelid::int8::float8 AS polrelid, p.polname, p.polcmd::text AS polcmd, p.polpermissive,
            ARRAY(SELECT r.rolname::text FROM pg_roles r WHERE r.oid = ANY (p.polroles)) AS roles,
            pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS withcheck,
            ${COMMENT('pg_policy', 'p.oid')} AS comment
       FROM pg_policy p`,
  );
  const COMMAND = { '*': 'all', r: 'select', a: 'insert', w: 'update', d: 'delete' } as const;
  const policies: PolicyDef[] = pols
    .filter((p) => tables.has(p.polrelid))
    .map((p) => ({
      kind: 'policy',
      name: p.polname,
      table: qn(p.polrelid),
      command: COMMAND[p.polcmd as keyof typeof COMMAND] ?? 'all',
      permissive: p.polpermissive,
      roles: [...p.roles].sort(cmp),
      using: p.qual ?? undefined,
      withCheck: p.withcheck ?? undefined,
      comment: p.comment ?? undefined,
    }));
  const rws = await q<{
    ev_class: number;
    rulename: string;
    def: string;
    ev_enabled: string;
    comment: string | null;
  }>(
    client,
    `SELECT r.ev_class::int8::float8 AS ev_class, r.rulename, pg_get_ruledef(r.oid) AS def,
            r.ev_enabled::text AS ev_enabled, ${COMMENT('pg_rewrite', 'r.oid')} AS comment
       FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
      WHERE r.rulename <> '_RETURN' AND c.relkind IN ('r', 'p')`,
  );
  const rules: RuleDef[] = rws
    .filter((r) => tables.has(r.ev_class))
    .map((r) => ({
      kind: 'rule',
      name: r.rulename,
      table: qn(r.ev_class),
      definition: r.def.trim().replace(/;$/, ''),
      enabled: firingState(r.ev_enabled),
      comment: r.comment ?? undefined,
    }));
  return { policies: policies.sort(byTableAndName), rules: rules.sort(byTableAndName) };
}

/** `{ native }` when set: left out otherwise, so models of other routines compare as before. */
function withNative(native: NativeCode | undefined): { native?: NativeCode } {
  return native !== undefined ? { native } : {};
}

function signatureOf(p: { proname: string; args: string }): string {
  return `${p.proname}(${p.args})`;
}

/** Code-unit order: the same on every server, whatever its collation. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortRefs(refs: ObjectRef[]): ObjectRef[] {
  return [...refs].sort((a, b) => cmp(refKey(a), refKey(b)));
}

function groupBy<T, K>(items: readonly T[], key: (t: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const i of items) {
    const k = key(i);
    const list = m.get(k);
    if (list) list.push(i);
    else m.set(k, [i]);
  }
  return m;
}
