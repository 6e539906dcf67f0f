/**
 * Catalog reading for the object kinds beyond relations, types and routines: operators
 * (pg_operator), operator families and classes with their members (pg_opfamily, pg_opclass, pg_amop,
 * pg_amproc), casts (pg_cast), collations (pg_collation), conversions (pg_conversion) and text
 * search objects (pg_ts_dict, pg_ts_config, pg_ts_parser, pg_ts_template). PostgreSQL docs, chapter
 * "System Catalogs", and "Interfacing Extensions to Indexes" for how members belong to a class or,
 * loosely, to a family. Used by
 * introspect-schema.ts, which decides what is selected; this module only reads and builds.
 */
import type pg from 'pg';
import type { QualifiedName } from '../../../core/identifier.ts';
import {
  operatorClassRefName,
  type CastDef,
  type CollationDef,
  type ConversionDef,
  type FunctionMember,
  type TextSearchConfigurationDef,
  type TextSearchDictionaryDef,
  type TextSearchParserDef,
  type TextSearchTemplateDef,
  type ObjectRef,
  type OperatorClassDef,
  type OperatorDef,
  type OperatorFamilyDef,
  type OperatorMember,
} from '../../../core/schema-model.ts';

const SYSTEM_SCHEMA = `(n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\\_toast%' OR n.nspname LIKE 'pg\\_temp\\_%')`;

const notExtensionMember = (catalog: string, oidExpr: string): string =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oidExpr} AND e.deptype = 'e')`;

const COMMENT = (catalog: string, oidExpr: string): string =>
  `(SELECT description FROM pg_description WHERE classoid = '${catalog}'::regclass AND objoid = ${oidExpr} AND objsubid = 0)`;

/** `schema.name` of a pg_proc OID column, always qualified (also pg_catalog); NULL for 0. */
export const PROC_NAME = (col: string): string =>
  `(SELECT quote_ident(fn.nspname) || '.' || quote_ident(fp.proname) FROM pg_proc fp JOIN pg_namespace fn ON fn.oid = fp.pronamespace WHERE fp.oid = ${col})`;

/** Catalog classes a dependency of the new kinds can be between, as {@link KindDepRow} names them. */
export type KindClass = 'class' | 'type' | 'proc' | 'operator' | 'opclass' | 'opfamily' | 'collation';

/** A pg_depend row (deptype `n`) involving an operator, operator class or family, or collation. */
export interface KindDepRow {
  readonly owner_cls: KindClass;
  readonly owner_oid: number;
  readonly ref_cls: KindClass;
  readonly ref_oid: number;
}

interface OperatorRow {
  oid: number;
  nspname: string;
  oprname: string;
  lefttype: string | null;
  righttype: string | null;
  fn: string;
  com_schema: string | null;
  com_name: string | null;
  neg_schema: string | null;
  neg_name: string | null;
  rest: string | null;
  join_fn: string | null;
  oprcanhash: boolean;
  oprcanmerge: boolean;
  comment: string | null;
}

interface FamilyRow {
  oid: number;
  nspname: string;
  name: string;
  amname: string;
  comment: string | null;
}

interface ClassRow extends FamilyRow {
  type: string;
  opcdefault: boolean;
  family: number;
  storage: string | null;
}

interface AmopRow {
  family: number;
  in_class: boolean;
  owner: number;
  strategy: number;
  opschema: string;
  opname: string;
  lefttype: string;
  righttype: string;
  purpose: string;
  sort_schema: string | null;
  sort_name: string | null;
}

interface AmprocRow {
  family: number;
  in_class: boolean;
  owner: number;
  num: number;
  lefttype: string;
  righttype: string;
  fn: string;
}

interface CollationRow {
  oid: number;
  nspname: string;
  collname: string;
  collprovider: string;
  collcollate: string | null;
  collctype: string | null;
  locale: string | null;
  collisdeterministic: boolean;
  rules: string | null;
  comment: string | null;
}

interface ConversionRow {
  oid: number;
  nspname: string;
  name: string;
  source: string;
  target: string;
  fn: string;
  fn_oid: number;
  condefault: boolean;
  comment: string | null;
}

interface DictRow {
  nspname: string;
  name: string;
  tmpl_schema: string;
  tmpl_name: string;
  options: string | null;
  comment: string | null;
}

interface ConfigRow {
  nspname: string;
  name: string;
  parser_schema: string;
  parser_name: string;
  mappings: { token: string; dicts: [string, string][] }[] | null;
  comment: string | null;
}

interface ParserRow {
  oid: number;
  nspname: string;
  name: string;
  start: string;
  gettoken: string;
  end: string;
  lextypes: string;
  headline: string | null;
  /** OIDs of its functions (0 for no HEADLINE). */
  fn_oids: number[];
  comment: string | null;
}

interface TemplateRow {
  oid: number;
  nspname: string;
  name: string;
  init: string | null;
  lexize: string;
  fn_oids: number[];
  comment: string | null;
}

interface CastRow {
  oid: number;
  source_oid: number;
  target_oid: number;
  func_oid: number;
  source: string;
  target: string;
  source_schema: string;
  target_schema: string;
  castmethod: string;
  fn: string | null;
  castcontext: string;
  comment: string | null;
}

/** What {@link readObjectKinds} reads: rows by catalog. */
export interface ObjectKindRows {
  readonly operators: readonly OperatorRow[];
  readonly families: readonly FamilyRow[];
  readonly classes: readonly ClassRow[];
  readonly amops: readonly AmopRow[];
  readonly amprocs: readonly AmprocRow[];
  readonly casts: readonly CastRow[];
  readonly collations: readonly CollationRow[];
  readonly conversions: readonly ConversionRow[];
  readonly dictionaries: readonly DictRow[];
  readonly configurations: readonly ConfigRow[];
  readonly parsers: readonly ParserRow[];
  readonly templates: readonly TemplateRow[];
  readonly deps: readonly KindDepRow[];
}

async function q<R extends pg.QueryResultRow>(client: pg.Client, text: string): Promise<R[]> {
  return (await client.query<R>(text)).rows;
}

/**
 * Reads the user-defined operators, operator families and classes, collations, conversions, text
 * search dictionaries, configurations, parsers and templates (outside system schemas and
 * extensions), all user casts (OID of a user object, neither an extension's nor one a type made for
 * itself) and the dependencies among
 * these and the other objects. Expects the caller's empty search_path, so type and function names
 * are qualified. Runs in the caller's transaction.
 * @throws the driver's error when a query fails (the caller wraps it).
 */
export async function readObjectKinds(client: pg.Client): Promise<ObjectKindRows> {
  const operators = await q<OperatorRow>(
    client,
    `SELECT o.oid::int8::float8 AS oid, n.nspname, o.oprname,
            CASE WHEN o.oprleft <> 0 THEN format_type(o.oprleft, NULL) END AS lefttype,
            CASE WHEN o.oprright <> 0 THEN format_type(o.oprright, NULL) END AS righttype,
            ${PROC_NAME('o.oprcode')} AS fn,
            cn.nspname AS com_schema, co.oprname AS com_name, nn.nspname AS neg_schema, ng.oprname AS neg_name,
            ${PROC_NAME('o.oprrest')} AS rest, ${PROC_NAME('o.oprjoin')} AS join_fn, o.oprcanhash, o.oprcanmerge,
            ${COMMENT('pg_operator', 'o.oid')} AS comment
       FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
       LEFT JOIN pg_operator co ON co.oid = o.oprcom LEFT JOIN pg_namespace cn ON cn.oid = co.oprnamespace
       LEFT JOIN pg_operator ng ON ng.oid = o.oprnegate LEFT JOIN pg_namespace nn ON nn.oid = ng.oprnamespace
      WHERE o.oprcode <> 0 AND NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_operator', 'o.oid')}`,
  );
  const families = await q<FamilyRow>(
    client,
    `SELECT f.oid::int8::float8 AS oid, n.nspname, f.opfname AS name, am.amname,
            ${COMMENT('pg_opfamily', 'f.oid')} AS comment
       FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace JOIN pg_am am ON am.oid = f.opfmethod
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_opfamily', 'f.oid')}`,
  );
  const classes = await q<ClassRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, n.nspname, c.opcname AS name, am.amname,
            format_type(c.opcintype, NULL) AS type, c.opcdefault, c.opcfamily::int8::float8 AS family,
            CASE WHEN c.opckeytype <> 0 AND c.opckeytype <> c.opcintype THEN format_type(c.opckeytype, NULL) END AS storage,
            ${COMMENT('pg_opclass', 'c.oid')} AS comment
       FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am am ON am.oid = c.opcmethod
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_opclass', 'c.oid')}`,
  );
  // A member belongs to its class (internal dependency) or, loosely, to its family (auto).
  const amops = await q<AmopRow>(
    client,
    `SELECT ao.amopfamily::int8::float8 AS family, d.refclassid = 'pg_opclass'::regclass AS in_class,
            d.refobjid::int8::float8 AS owner, ao.amopstrategy::int AS strategy, opn.nspname AS opschema, o.oprname AS opname,
            format_type(ao.amoplefttype, NULL) AS lefttype, format_type(ao.amoprighttype, NULL) AS righttype,
            ao.amoppurpose::text AS purpose, sn.nspname AS sort_schema, sf.opfname AS sort_name
       FROM pg_amop ao
       JOIN pg_depend d ON d.classid = 'pg_amop'::regclass AND d.objid = ao.oid
            AND d.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass) AND d.deptype IN ('a', 'i')
       JOIN pg_operator o ON o.oid = ao.amopopr JOIN pg_namespace opn ON opn.oid = o.oprnamespace
       LEFT JOIN pg_opfamily sf ON sf.oid = ao.amopsortfamily LEFT JOIN pg_namespace sn ON sn.oid = sf.opfnamespace
      ORDER BY ao.amopstrategy, 7, 8`,
  );
  const amprocs = await q<AmprocRow>(
    client,
    `SELECT ap.amprocfamily::int8::float8 AS family, d.refclassid = 'pg_opclass'::regclass AS in_class,
            d.refobjid::int8::float8 AS owner, ap.amprocnum::int AS num,
            format_type(ap.amproclefttype, NULL) AS lefttype, format_type(ap.amprocrighttype, NULL) AS righttype,
            ap.amproc::regprocedure::text AS fn
       FROM pg_amproc ap
       JOIN pg_depend d ON d.classid = 'pg_amproc'::regclass AND d.objid = ap.oid
            AND d.refclassid IN ('pg_opclass'::regclass, 'pg_opfamily'::regclass) AND d.deptype IN ('a', 'i')
      ORDER BY ap.amprocnum, 5, 6`,
  );
  const casts = await q<CastRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, c.castsource::int8::float8 AS source_oid, c.casttarget::int8::float8 AS target_oid,
            c.castfunc::int8::float8 AS func_oid,
            format_type(c.castsource, NULL) AS source, format_type(c.casttarget, NULL) AS target,
            sn.nspname AS source_schema, tn.nspname AS target_schema, c.castmethod::text AS castmethod,
            CASE WHEN c.castfunc <> 0 THEN c.castfunc::regprocedure::text END AS fn, c.castcontext::text AS castcontext,
            ${COMMENT('pg_cast', 'c.oid')} AS comment
       FROM pg_cast c
       JOIN pg_type st ON st.oid = c.castsource JOIN pg_namespace sn ON sn.oid = st.typnamespace
       JOIN pg_type tt ON tt.oid = c.casttarget JOIN pg_namespace tn ON tn.oid = tt.typnamespace
      WHERE c.oid >= 16384 AND ${notExtensionMember('pg_cast', 'c.oid')}
        -- Casts a type creates for itself (range to multirange, 14+) belong to it (deptype i).
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype = 'i')`,
  );
  // The ICU locale moved: collcollate (13, 14), colliculocale (15, 16), colllocale (17).
  const collations = await q<CollationRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, n.nspname, c.collname, c.collprovider::text AS collprovider,
            c.collcollate, c.collctype,
            COALESCE(to_jsonb(c) ->> 'colllocale', to_jsonb(c) ->> 'colliculocale',
                     CASE WHEN c.collprovider = 'i' THEN c.collcollate END) AS locale,
            c.collisdeterministic, to_jsonb(c) ->> 'collicurules' AS rules,
            ${COMMENT('pg_collation', 'c.oid')} AS comment
       FROM pg_collation c JOIN pg_namespace n ON n.oid = c.collnamespace
      WHERE c.collprovider IN ('c', 'i', 'b') AND NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_collation', 'c.oid')}`,
  );
  const conversions = await q<ConversionRow>(
    client,
    `SELECT c.oid::int8::float8 AS oid, n.nspname, c.conname AS name, pg_encoding_to_char(c.conforencoding) AS source,
            pg_encoding_to_char(c.contoencoding) AS target, ${PROC_NAME('c.conproc')} AS fn,
            c.conproc::int8::float8 AS fn_oid, c.condefault, ${COMMENT('pg_conversion', 'c.oid')} AS comment
       FROM pg_conversion c JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_conversion', 'c.oid')}`,
  );
  const dictionaries = await q<DictRow>(
    client,
    `SELECT n.nspname, d.dictname AS name, tn.nspname AS tmpl_schema, t.tmplname AS tmpl_name,
            d.dictinitoption AS options, ${COMMENT('pg_ts_dict', 'd.oid')} AS comment
       FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace
       JOIN pg_ts_template t ON t.oid = d.dicttemplate JOIN pg_namespace tn ON tn.oid = t.tmplnamespace
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_ts_dict', 'd.oid')}`,
  );
  const configurations = await q<ConfigRow>(
    client,
    `SELECT n.nspname, c.cfgname AS name, pn.nspname AS parser_schema, p.prsname AS parser_name,
            (SELECT json_agg(json_build_object('token', x.alias, 'dicts', x.dicts) ORDER BY x.alias)
               FROM (SELECT t.alias, json_agg(json_build_array(dn.nspname, dd.dictname) ORDER BY m.mapseqno) AS dicts
                       FROM pg_ts_config_map m JOIN ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype
                       JOIN pg_ts_dict dd ON dd.oid = m.mapdict JOIN pg_namespace dn ON dn.oid = dd.dictnamespace
                      WHERE m.mapcfg = c.oid GROUP BY t.alias) x) AS mappings,
            ${COMMENT('pg_ts_config', 'c.oid')} AS comment
       FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace
       JOIN pg_ts_parser p ON p.oid = c.cfgparser JOIN pg_namespace pn ON pn.oid = p.prsnamespace
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_ts_config', 'c.oid')}`,
  );
  const parsers = await q<ParserRow>(
    client,
    `SELECT p.oid::int8::float8 AS oid, n.nspname, p.prsname AS name,
            ${PROC_NAME('p.prsstart')} AS start, ${PROC_NAME('p.prstoken')} AS gettoken, ${PROC_NAME('p.prsend')} AS "end",
            ${PROC_NAME('p.prslextype')} AS lextypes, ${PROC_NAME('p.prsheadline')} AS headline,
            ARRAY[p.prsstart::oid::int8, p.prstoken::oid::int8, p.prsend::oid::int8, p.prslextype::oid::int8, p.prsheadline::oid::int8]::float8[] AS fn_oids,
            ${COMMENT('pg_ts_parser', 'p.oid')} AS comment
       FROM pg_ts_parser p JOIN pg_namespace n ON n.oid = p.prsnamespace
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_ts_parser', 'p.oid')}`,
  );
  const templates = await q<TemplateRow>(
    client,
    `SELECT t.oid::int8::float8 AS oid, n.nspname, t.tmplname AS name,
            ${PROC_NAME('t.tmplinit')} AS init, ${PROC_NAME('t.tmpllexize')} AS lexize,
            ARRAY[t.tmplinit::oid::int8, t.tmpllexize::oid::int8]::float8[] AS fn_oids,
            ${COMMENT('pg_ts_template', 't.oid')} AS comment
       FROM pg_ts_template t JOIN pg_namespace n ON n.oid = t.tmplnamespace
      WHERE NOT ${SYSTEM_SCHEMA} AND ${notExtensionMember('pg_ts_template', 't.oid')}`,
  );
  const deps = await q<KindDepRow>(
    client,
    `SELECT CASE WHEN d.classid = 'pg_type'::regclass OR con.contypid <> 0 THEN 'type'
                 WHEN d.classid = 'pg_proc'::regclass THEN 'proc'
                 WHEN d.classid = 'pg_operator'::regclass THEN 'operator'
                 WHEN d.classid = 'pg_opclass'::regclass THEN 'opclass'
                 WHEN d.classid IN ('pg_opfamily'::regclass, 'pg_amop'::regclass, 'pg_amproc'::regclass) THEN 'opfamily'
                 WHEN d.classid = 'pg_collation'::regclass THEN 'collation' ELSE 'class' END AS owner_cls,
            COALESCE(r.ev_class, ad.adrelid, NULLIF(con.conrelid, 0), NULLIF(con.contypid, 0), ao.amopfamily,
                     ap.amprocfamily, d.objid)::int8::float8 AS owner_oid,
            CASE d.refclassid WHEN 'pg_class'::regclass THEN 'class' WHEN 'pg_type'::regclass THEN 'type'
                 WHEN 'pg_proc'::regclass THEN 'proc' WHEN 'pg_operator'::regclass THEN 'operator'
                 WHEN 'pg_opclass'::regclass THEN 'opclass' WHEN 'pg_opfamily'::regclass THEN 'opfamily'
                 ELSE 'collation' END AS ref_cls,
            d.refobjid::int8::float8 AS ref_oid
       FROM pg_depend d
       LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
       LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
       LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid
       LEFT JOIN pg_amop ao ON d.classid = 'pg_amop'::regclass AND ao.oid = d.objid
       LEFT JOIN pg_amproc ap ON d.classid = 'pg_amproc'::regclass AND ap.oid = d.objid
      WHERE d.deptype = 'n'
        AND (d.refclassid IN ('pg_operator'::regclass, 'pg_opclass'::regclass, 'pg_opfamily'::regclass, 'pg_collation'::regclass)
             OR d.classid IN ('pg_operator'::regclass, 'pg_opclass'::regclass, 'pg_opfamily'::regclass, 'pg_amop'::regclass,
                              'pg_amproc'::regclass, 'pg_collation'::regclass))
        AND d.refclassid IN ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass, 'pg_operator'::regclass,
                             'pg_opclass'::regclass, 'pg_opfamily'::regclass, 'pg_collation'::regclass)
        AND d.classid IN ('pg_class'::regclass, 'pg_type'::regclass, 'pg_proc'::regclass, 'pg_rewrite'::regclass,
                          'pg_attrdef'::regclass, 'pg_constraint'::regclass, 'pg_operator'::regclass, 'pg_opclass'::regclass,
                          'pg_opfamily'::regclass, 'pg_amop'::regclass, 'pg_amproc'::regclass, 'pg_collation'::regclass)
        AND (d.classid <> 'pg_constraint'::regclass OR con.contype = 'c')`,
  );
  return {
    operators,
    families,
    classes,
    amops,
    amprocs,
    casts,
    collations,
    conversions,
    dictionaries,
    configurations,
    parsers,
    templates,
    deps,
  };
}

/** `name(left,right)`, `NONE` for a missing operand: the {@link OperatorDef.signature}. */
export function operatorSignature(name: string, left: string | undefined, right: string | undefined): string {
  return `${name}(${left ?? 'NONE'},${right ?? 'NONE'})`;
}

/** Model references of the operators, families and classes read, by `cls:oid`. */
export function objectKindRefs(rows: ObjectKindRows): Map<string, ObjectRef> {
  const refs = new Map<string, ObjectRef>();
  for (const o of rows.operators) {
    refs.set(`operator:${o.oid}`, {
      kind: 'operator',
      schema: o.nspname,
      name: operatorSignature(o.oprname, o.lefttype ?? undefined, o.righttype ?? undefined),
    });
  }
  for (const f of rows.families) {
    refs.set(`opfamily:${f.oid}`, {
      kind: 'operator-family',
      schema: f.nspname,
      name: operatorClassRefName({ name: f.name, method: f.amname }),
    });
  }
  for (const c of rows.collations) {
    refs.set(`collation:${c.oid}`, { kind: 'collation', schema: c.nspname, name: c.collname });
  }
  for (const c of rows.classes) {
    refs.set(`opclass:${c.oid}`, {
      kind: 'operator-class',
      schema: c.nspname,
      name: operatorClassRefName({ name: c.name, method: c.amname }),
    });
  }
  return refs;
}

const qname = (schema: string | null, name: string | null): QualifiedName | undefined =>
  schema !== null && name !== null ? { schema, name } : undefined;

function operatorMember(a: AmopRow): OperatorMember {
  return {
    strategy: a.strategy,
    operator: { schema: a.opschema, name: a.opname },
    left: a.lefttype,
    right: a.righttype,
    orderBy: a.purpose === 'o' ? qname(a.sort_schema, a.sort_name) : undefined,
  };
}

function functionMember(a: AmprocRow): FunctionMember {
  return { number: a.num, left: a.lefttype, right: a.righttype, function: a.fn };
}

/**
 * The selected (`take`) operators, families, classes and collations; `dependsOn` gives their
 * references.
 */
export function buildObjectKinds(
  rows: ObjectKindRows,
  refs: ReadonlyMap<string, ObjectRef>,
  take: (ref: ObjectRef) => boolean,
  dependsOn: (ref: ObjectRef) => ObjectRef[],
): {
  operators: OperatorDef[];
  operatorFamilies: OperatorFamilyDef[];
  operatorClasses: OperatorClassDef[];
  collations: CollationDef[];
} {
  const operators: OperatorDef[] = [];
  for (const o of rows.operators) {
    const ref = refs.get(`operator:${o.oid}`)!;
    if (!take(ref)) continue;
    operators.push({
      kind: 'operator',
      schema: o.nspname,
      name: o.oprname,
      signature: ref.name,
      left: o.lefttype ?? undefined,
      right: o.righttype ?? undefined,
      function: o.fn,
      commutator: qname(o.com_schema, o.com_name),
      negator: qname(o.neg_schema, o.neg_name),
      restrict: o.rest ?? undefined,
      join: o.join_fn ?? undefined,
      hashes: o.oprcanhash,
      merges: o.oprcanmerge,
      comment: o.comment ?? undefined,
      dependsOn: dependsOn(ref),
    });
  }
  const familyById = new Map(rows.families.map((f) => [f.oid, f]));
  const operatorFamilies: OperatorFamilyDef[] = [];
  for (const f of rows.families) {
    const ref = refs.get(`opfamily:${f.oid}`)!;
    if (!take(ref)) continue;
    operatorFamilies.push({
      kind: 'operator-family',
      schema: f.nspname,
      name: f.name,
      method: f.amname,
      operators: rows.amops.filter((a) => !a.in_class && a.owner === f.oid).map(operatorMember),
      functions: rows.amprocs.filter((a) => !a.in_class && a.owner === f.oid).map(functionMember),
      comment: f.comment ?? undefined,
      dependsOn: dependsOn(ref),
    });
  }
  const operatorClasses: OperatorClassDef[] = [];
  for (const c of rows.classes) {
    const ref = refs.get(`opclass:${c.oid}`)!;
    const fam = familyById.get(c.family);
    if (!take(ref) || !fam) continue;
    const famRef = refs.get(`opfamily:${fam.oid}`)!;
    operatorClasses.push({
      kind: 'operator-class',
      schema: c.nspname,
      name: c.name,
      method: c.amname,
      type: c.type,
      default: c.opcdefault,
      family: { schema: fam.nspname, name: fam.name },
      storage: c.storage ?? undefined,
      operators: rows.amops.filter((a) => a.in_class && a.owner === c.oid).map(operatorMember),
      functions: rows.amprocs.filter((a) => a.in_class && a.owner === c.oid).map(functionMember),
      comment: c.comment ?? undefined,
      // Its members' operators and functions are dependencies of the family.
      dependsOn: [...dependsOn(ref), famRef, ...dependsOn(famRef)],
    });
  }
  const collations: CollationDef[] = [];
  for (const c of rows.collations) {
    if (!take(refs.get(`collation:${c.oid}`)!)) continue;
    const provider = c.collprovider === 'i' ? 'icu' : c.collprovider === 'b' ? 'builtin' : 'libc';
    collations.push({
      kind: 'collation',
      schema: c.nspname,
      name: c.collname,
      provider,
      lcCollate: provider === 'libc' ? (c.collcollate ?? undefined) : undefined,
      lcCtype: provider === 'libc' ? (c.collctype ?? undefined) : undefined,
      locale: provider === 'libc' ? undefined : (c.locale ?? undefined),
      deterministic: c.collisdeterministic,
      rules: c.rules ?? undefined,
      comment: c.comment ?? undefined,
    });
  }
  return { operators, operatorFamilies, operatorClasses, collations };
}

/** The casts from or to a type of `schemas` (pg_cast), each with the references it needs. */
export function selectedCasts(
  rows: ObjectKindRows,
  schemas: ReadonlySet<string>,
  typeRef: (oid: number) => ObjectRef | undefined,
  procRef: (oid: number) => ObjectRef | undefined,
): { readonly cast: Omit<CastDef, 'dependsOn'>; readonly needs: ObjectRef[] }[] {
  const METHOD = { f: 'function', b: 'binary', i: 'inout' } as const;
  const CONTEXT = { e: 'explicit', a: 'assignment', i: 'implicit' } as const;
  return rows.casts
    .filter((c) => schemas.has(c.source_schema) || schemas.has(c.target_schema))
    .map((c) => ({
      cast: {
        kind: 'cast',
        source: c.source,
        target: c.target,
        method: METHOD[c.castmethod as keyof typeof METHOD] ?? 'function',
        function: c.fn ?? undefined,
        context: CONTEXT[c.castcontext as keyof typeof CONTEXT] ?? 'explicit',
        comment: c.comment ?? undefined,
      },
      needs: [typeRef(c.source_oid), typeRef(c.target_oid), procRef(c.func_oid)].filter(
        (r): r is ObjectRef => r !== undefined,
      ),
    }));
}

/**
 * The conversions, text search dictionaries, configurations, parsers and templates of `schemas`, and
 * the parsers and templates of other (non-system) schemas the selected dictionaries and configurations
 * use. `needs` lists the functions these call (a conversion's, a parser's or template's: usually
 * `LANGUAGE c` or `internal`), to bring them along. PostgreSQL docs, "CREATE CONVERSION", "CREATE
 * TEXT SEARCH PARSER", "CREATE TEXT SEARCH TEMPLATE".
 * @param procRef the model reference of a function, by OID.
 */
export function schemaTextObjects(
  rows: ObjectKindRows,
  schemas: ReadonlySet<string>,
  procRef: (oid: number) => ObjectRef | undefined,
): {
  conversions: ConversionDef[];
  textSearchDictionaries: TextSearchDictionaryDef[];
  textSearchConfigurations: TextSearchConfigurationDef[];
  textSearchParsers: TextSearchParserDef[];
  textSearchTemplates: TextSearchTemplateDef[];
  needs: ObjectRef[];
} {
  const refsOf = (oids: readonly number[]): ObjectRef[] =>
    oids.flatMap((o) => {
      const r = o !== 0 ? procRef(o) : undefined;
      return r ? [r] : [];
    });
  const conv = rows.conversions.filter((c) => schemas.has(c.nspname));
  const dicts = rows.dictionaries.filter((d) => schemas.has(d.nspname));
  const configs = rows.configurations.filter((c) => schemas.has(c.nspname));
  const key = (schema: string, name: string): string => `${schema}\u0000${name}`;
  const usedTemplates = new Set(dicts.map((d) => key(d.tmpl_schema, d.tmpl_name)));
  const usedParsers = new Set(configs.map((c) => key(c.parser_schema, c.parser_name)));
  const parsers = rows.parsers.filter(
    (p) => schemas.has(p.nspname) || usedParsers.has(key(p.nspname, p.name)),
  );
  const templates = rows.templates.filter(
    (t) => schemas.has(t.nspname) || usedTemplates.has(key(t.nspname, t.name)),
  );
  const needs = [
    ...refsOf(conv.map((c) => c.fn_oid)),
    ...refsOf(parsers.flatMap((p) => p.fn_oids)),
    ...refsOf(templates.flatMap((t) => t.fn_oids)),
  ];
  return {
    conversions: conv.map((c) => ({
      kind: 'conversion',
      schema: c.nspname,
      name: c.name,
      source: c.source,
      target: c.target,
      function: c.fn,
      default: c.condefault,
      comment: c.comment ?? undefined,
      dependsOn: refsOf([c.fn_oid]),
    })),
    textSearchDictionaries: dicts.map((d) => ({
      kind: 'text-search-dictionary',
      schema: d.nspname,
      name: d.name,
      template: { schema: d.tmpl_schema, name: d.tmpl_name },
      options: d.options ?? undefined,
      comment: d.comment ?? undefined,
    })),
    textSearchConfigurations: configs.map((c) => ({
      kind: 'text-search-configuration',
      schema: c.nspname,
      name: c.name,
      parser: { schema: c.parser_schema, name: c.parser_name },
      mappings: (c.mappings ?? []).map((m) => ({
        token: m.token,
        dictionaries: m.dicts.map(([schema, name]) => ({ schema, name })),
      })),
      comment: c.comment ?? undefined,
    })),
    textSearchParsers: parsers.map((p) => ({
      kind: 'text-search-parser',
      schema: p.nspname,
      name: p.name,
      start: p.start,
      getToken: p.gettoken,
      end: p.end,
      lexTypes: p.lextypes,
      headline: p.headline ?? undefined,
      comment: p.comment ?? undefined,
      dependsOn: refsOf(p.fn_oids),
    })),
    textSearchTemplates: templates.map((t) => ({
      kind: 'text-search-template',
      schema: t.nspname,
      name: t.name,
      init: t.init ?? undefined,
      lexize: t.lexize,
      comment: t.comment ?? undefined,
      dependsOn: refsOf(t.fn_oids),
    })),
    needs,
  };
}
