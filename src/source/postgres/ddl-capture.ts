/**
 * The DDL capture of a task on a PostgreSQL source: an event trigger on `ddl_command_end` and one on
 * `sql_drop` (PostgreSQL docs, "Event Triggers"), both calling a PL/pgSQL function of the task in
 * pgdts's own schema `pgdts_ddl`. Inside the DDL's transaction, the function writes one
 * transactional logical decoding message (`pg_logical_emit_message(true, 'pgdts.ddl', json)`;
 * docs, "pg_logical_emit_message") with the command tag, `current_query()`, the `search_path`, and for
 * each affected object of the task's schemas its identity and a snapshot of its definition as of
 * this DDL (pg_attribute/format_type/pg_get_expr for a table, pg_get_indexdef, pg_get_viewdef,
 * pg_get_functiondef: the catalog functions of schema/introspect-schema.ts). pgoutput delivers the
 * message at commit, in order with the transaction's rows, when the stream asks for `messages`
 * (PostgreSQL 14+).
 *
 * To tell a RENAME COLUMN from a DROP + ADD, the function keeps the last snapshot of each table in a
 * state table of the task (`pgdts_ddl.state_<key>`, filled at installation) and sends it along as
 * `previous`: columns are matched by attnum, which survives renames and type changes. Types,
 * sequences and triggers (and the names of views, indexes and routines, for RENAME) are kept the
 * same way in `pgdts_ddl.objects_<key>` (by catalog and OID):
 * enum labels are matched by their pg_enum OID (RENAME VALUE), composite attributes by attnum, domain
 * constraints by OID, and a changed name is a RENAME. Their snapshots are what
 * schema/introspect-schema.ts reads: pg_enum labels in sort order, format_type of attributes and
 * base types, pg_get_expr of a domain default, pg_get_constraintdef, pg_range, pg_sequence with its
 * OWNED BY column (pg_depend), pg_get_triggerdef with pg_trigger.tgenabled.
 *
 * Everything is per task (function, triggers, state table named after the task), so releasing one
 * task removes only its own; the message names the task and each task ignores the others'. Event
 * triggers need a superuser (docs, "CREATE EVENT TRIGGER"); the function is SECURITY DEFINER, so a
 * DDL by any user can write the state table and the message. It reads the caller's search_path first,
 * then runs with `pg_catalog, pg_temp` and restores it (a definer's function must not resolve names
 * through the caller's path).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { DDL_MESSAGE_PREFIX } from '../../core/ddl.ts';
import { quoteIdent, quoteLiteral } from '../../core/identifier.ts';

/** pgdts's schema on the source for DDL capture objects. */
export const DDL_CAPTURE_SCHEMA = 'pgdts_ddl';

/** Lowest server major version whose pgoutput sends logical decoding messages (option `messages`). */
export const DDL_CAPTURE_MIN_MAJOR = 14;

/** Names of a task's capture objects. */
export interface DdlCaptureNames {
  readonly function: string;
  readonly snapshotFunction: string;
  readonly stateTable: string;
  /** Last snapshots of the task's types, sequences and triggers, by (classid, objid). */
  readonly objectStateTable: string;
  readonly endTrigger: string;
  readonly dropTrigger: string;
}

/**
 * Names of the capture objects of task `taskName`: its lower-cased name (other characters as `_`,
 * at most 32) and 8 hex digits of its SHA-1, so distinct tasks never share objects (event trigger
 * names are database-wide and 63 bytes at most).
 */
export function ddlCaptureNames(taskName: string): DdlCaptureNames {
  const key = `${taskName
    .toLowerCase()
    .replace(/[^a-z0-9_]/gu, '_')
    .slice(0, 32)}_${createHash('sha1').update(taskName).digest('hex').slice(0, 8)}`;
  return {
    function: `capture_${key}`,
    snapshotFunction: `snapshot_${key}`,
    stateTable: `state_${key}`,
    objectStateTable: `objects_${key}`,
    endTrigger: `pgdts_ddl_${key}_end`,
    dropTrigger: `pgdts_ddl_${key}_drop`,
  };
}

const q = (name: string) => `${quoteIdent(DDL_CAPTURE_SCHEMA)}.${quoteIdent(name)}`;

/**
 * A user-defined type as of now (`oidExpr`): enum labels with their pg_enum OIDs, composite
 * attributes with their attnums, a domain's base type, default, NOT NULL and CHECK constraints (with
 * OIDs), a range's subtype, operator class, subtype_diff and multirange (PostgreSQL 14+, the
 * capture's minimum); NULL for a type of another kind (base, shell, a table's row type).
 */
function typeSnapshotSql(oidExpr: string): string {
  // No alias `r` or `o`: inside the capture function they would name its PL/pgSQL variables.
  return `(SELECT jsonb_build_object(
    'schema', n.nspname::text, 'name', t.typname::text, 'typtype', t.typtype::text,
    'labels', (SELECT jsonb_agg(jsonb_build_object('key', e.oid::int8, 'label', e.enumlabel::text)
                                ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
    'attributes', (SELECT jsonb_agg(jsonb_build_object('key', a.attnum::int8, 'name', a.attname::text,
                     'type', format_type(a.atttypid, a.atttypmod),
                     'collation_schema', CASE WHEN a.attcollation <> at.typcollation THEN acn.nspname::text END,
                     'collation_name', CASE WHEN a.attcollation <> at.typcollation THEN aco.collname::text END)
                     ORDER BY a.attnum)
                     FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                     LEFT JOIN pg_collation aco ON aco.oid = a.attcollation
                     LEFT JOIN pg_namespace acn ON acn.oid = aco.collnamespace
                    WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
    'base_type', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
    'default', CASE WHEN t.typtype = 'd' THEN pg_get_expr(t.typdefaultbin, 0) END,
    'not_null', t.typnotnull,
    'collation_schema', CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN cn.nspname::text END,
    'collation_name', CASE WHEN t.typtype = 'd' AND t.typcollation <> bt.typcollation THEN co.collname::text END,
    'constraints', (SELECT jsonb_agg(jsonb_build_object('key', k.oid::int8, 'name', k.conname::text,
                      'definition', pg_get_constraintdef(k.oid)) ORDER BY k.conname)
                      FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c'),
    'subtype', format_type(rg.rngsubtype, NULL),
    'subtype_opclass', CASE WHEN rg.rngsubopc IS NOT NULL AND NOT oc.opcdefault
                            THEN quote_ident(ocn.nspname) || '.' || quote_ident(oc.opcname) END,
    'subtype_diff', CASE WHEN rg.rngsubdiff <> 0 THEN rg.rngsubdiff::regproc::text END,
    'multirange_schema', mn.nspname::text, 'multirange_name', mt.typname::text)
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
    LEFT JOIN pg_collation co ON co.oid = t.typcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
    LEFT JOIN pg_range rg ON rg.rngtypid = t.oid
    LEFT JOIN pg_opclass oc ON oc.oid = rg.rngsubopc LEFT JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
    LEFT JOIN pg_type mt ON mt.oid = rg.rngmultitypid LEFT JOIN pg_namespace mn ON mn.oid = mt.typnamespace
   WHERE t.oid = ${oidExpr} AND (t.typtype IN ('e', 'd', 'r')
         OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')))`;
}

/**
 * A sequence as of now (`oidExpr`): pg_sequence's parameters, its owning column (pg_depend `a`, as
 * OWNED BY sets it) and whether it is an identity column's (`i`).
 */
function sequenceSnapshotSql(oidExpr: string): string {
  return `(SELECT jsonb_build_object(
    'schema', n.nspname::text, 'name', c.relname::text, 'type', format_type(s.seqtypid, NULL),
    'start', s.seqstart::text, 'increment', s.seqincrement::text, 'min', s.seqmin::text,
    'max', s.seqmax::text, 'cache', s.seqcache::text, 'cycle', s.seqcycle,
    'owned_schema', tn.nspname::text, 'owned_table', tc.relname::text, 'owned_column', a.attname::text,
    'identity', COALESCE(d.deptype = 'i', false))
    FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
         AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    LEFT JOIN pg_class tc ON tc.oid = d.refobjid LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
   WHERE s.seqrelid = ${oidExpr})`;
}

/**
 * A trigger as of now (`oidExpr`): pg_get_triggerdef, tgenabled, its table and function; NULL for an
 * internal trigger (foreign keys) or a partition's clone (tgparentid), as schema sync leaves them.
 */
function triggerSnapshotSql(oidExpr: string): string {
  return `(SELECT jsonb_build_object(
    'table_schema', tn.nspname::text, 'table_name', c.relname::text, 'name', t.tgname::text,
    'definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled::text,
    'function_schema', fn.nspname::text, 'function_name', p.proname::text,
    'function_signature', p.proname::text || '(' || oidvectortypes(p.proargtypes) || ')')
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace tn ON tn.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = p.pronamespace
   WHERE t.oid = ${oidExpr} AND NOT t.tgisinternal AND t.tgparentid = 0)`;
}

/** A relation's name as of now (`oidExpr`): views and indexes are kept by name only, for RENAME. */
function relationNameSql(oidExpr: string): string {
  return `(SELECT jsonb_build_object('schema', n.nspname::text, 'name', c.relname::text)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ${oidExpr})`;
}

/** A function's or procedure's name and signature as of now (`oidExpr`), for RENAME. */
function routineNameSql(oidExpr: string): string {
  return `(SELECT jsonb_build_object('schema', n.nspname::text, 'name', p.proname::text,
                     'signature', p.proname::text || '(' || oidvectortypes(p.proargtypes) || ')')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = ${oidExpr} AND p.prokind IN ('f', 'p'))`;
}

/** The SQL installing (or refreshing) the capture of `taskName` for `schemas`, as one script. */
export function ddlCaptureInstallSql(taskName: string, schemas: readonly string[]): string {
  const n = ddlCaptureNames(taskName);
  const schemaArray = `ARRAY[${schemas.map(quoteLiteral).join(', ')}]::text[]`;
  const snap = q(n.snapshotFunction);
  const state = q(n.stateTable);
  const objects = q(n.objectStateTable);
  // Takes object `key` of catalog `cls` now (`snap`) and as last recorded (`prev`), then records `snap`.
  const recordSnapshot = (cls: string, key: string, snapshot: string) => `
          snap := ${snapshot};
          SELECT s.snapshot INTO prev FROM ${objects} s WHERE s.classid = '${cls}'::regclass AND s.objid = ${key};
          IF snap IS NOT NULL THEN
            INSERT INTO ${objects} (classid, objid, snapshot) VALUES ('${cls}'::regclass, ${key}, snap)
              ON CONFLICT (classid, objid) DO UPDATE SET snapshot = EXCLUDED.snapshot;
          END IF;`;
  // The snapshot of object `key` of catalog `cls` with its previous one (then recorded), into `o`.
  const withPrevious = (
    cls: string,
    key: string,
    field: string,
    snapshot: string,
  ) => `${recordSnapshot(cls, key, snapshot)}
          o := o || jsonb_build_object('${field}', snap, 'previous', prev);`;
  // The name of object `key` of catalog `cls` as the capture last recorded it (then recorded anew).
  const previousName = (cls: string, key: string, snapshot: string) => `${recordSnapshot(cls, key, snapshot)}
          o := o || jsonb_build_object('previous', prev);`;
  return `
CREATE SCHEMA IF NOT EXISTS ${quoteIdent(DDL_CAPTURE_SCHEMA)};
CREATE TABLE IF NOT EXISTS ${state} (relid oid PRIMARY KEY, snapshot jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS ${objects} (classid oid, objid oid, snapshot jsonb NOT NULL, PRIMARY KEY (classid, objid));
CREATE OR REPLACE FUNCTION ${snap}(rel oid) RETURNS jsonb LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $snap$
  SELECT jsonb_build_object(
    'relid', c.oid::int8, 'schema', n.nspname::text, 'name', c.relname::text, 'relkind', c.relkind::text,
    'columns', COALESCE((
      SELECT jsonb_agg(jsonb_build_object(
               'attnum', a.attnum::int, 'name', a.attname::text,
               'type', format_type(a.atttypid, a.atttypmod),
               'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
               'not_null', a.attnotnull, 'identity', a.attidentity::text,
               'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END)
             ORDER BY a.attnum)
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::jsonb),
    'constraints', COALESCE((
      SELECT jsonb_agg(jsonb_build_object(
               'name', k.conname::text, 'type', k.contype::text, 'definition', pg_get_constraintdef(k.oid),
               'references_schema', rn.nspname::text, 'references_name', rc.relname::text)
             ORDER BY k.conname)
        FROM pg_constraint k
        LEFT JOIN pg_class rc ON rc.oid = k.confrelid
        LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
       WHERE k.conrelid = c.oid AND k.contype IN ('p', 'u', 'c', 'f', 'x') AND k.conparentid = 0
         AND NOT (k.contype = 'c' AND k.coninhcount > 0)), '[]'::jsonb),
    'triggers', COALESCE((
      SELECT jsonb_agg(jsonb_build_object('name', t.tgname::text, 'enabled', t.tgenabled::text) ORDER BY t.tgname)
        FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal AND t.tgparentid = 0), '[]'::jsonb))
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = rel
$snap$;
CREATE OR REPLACE FUNCTION ${q(n.function)}() RETURNS event_trigger LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
  caller_path text := pg_catalog.current_setting('search_path');
  schemas text[] := ${schemaArray};
  objs jsonb := '[]'::jsonb;
  r record;
  o jsonb;
  rk text;
  sch text;
  tid oid;
  snap jsonb;
  prev jsonb;
BEGIN
  PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
  IF TG_EVENT = 'ddl_command_end' THEN
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
      sch := r.schema_name;
      -- A trigger has no schema of its own: it goes with its table's.
      IF r.classid = 'pg_trigger'::regclass THEN
        SELECT tn.nspname INTO sch FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace tn ON tn.oid = c.relnamespace WHERE t.oid = r.objid;
      END IF;
      CONTINUE WHEN sch IS NULL OR NOT (sch = ANY (schemas)) OR r.in_extension;
      o := jsonb_build_object('object_type', r.object_type, 'schema', sch,
                              'identity', r.object_identity);
      IF r.classid = 'pg_class'::regclass THEN
        SELECT c.relkind::text, c.reltype INTO rk, tid FROM pg_class c WHERE c.oid = r.objid;
        IF rk IN ('r', 'p') THEN
          snap := ${snap}(r.objid);
          SELECT s.snapshot INTO prev FROM ${state} s WHERE s.relid = r.objid;
          INSERT INTO ${state} (relid, snapshot) VALUES (r.objid, snap)
            ON CONFLICT (relid) DO UPDATE SET snapshot = EXCLUDED.snapshot;
          o := o || jsonb_build_object('table', snap, 'previous', prev);
        ELSIF rk IN ('i', 'I') THEN
          o := o || jsonb_build_object('index', (
            SELECT jsonb_build_object('schema', n.nspname::text, 'name', ic.relname::text,
                     'table_schema', tn.nspname::text, 'table_name', t.relname::text,
                     'definition', pg_get_indexdef(i.indexrelid), 'unique', i.indisunique,
                     'constraint', EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                             AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')))
              FROM pg_index i
              JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
              JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
             WHERE i.indexrelid = r.objid));${previousName('pg_class', 'r.objid', relationNameSql('r.objid'))}
          -- A renamed constraint index renames its constraint: the table's snapshot follows.
          IF TG_TAG = 'ALTER INDEX' THEN
            UPDATE ${state} s SET snapshot = ${snap}(s.relid)
             WHERE s.relid = (SELECT i.indrelid FROM pg_index i WHERE i.indexrelid = r.objid);
          END IF;
        ELSIF rk = 'v' THEN
          o := o || jsonb_build_object('view', (
            SELECT jsonb_build_object('schema', n.nspname::text, 'name', c.relname::text,
                     'query', pg_get_viewdef(c.oid),
                     'columns', (SELECT jsonb_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
                                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.objid));${previousName('pg_class', 'r.objid', relationNameSql('r.objid'))}
        ELSIF rk = 'S' THEN${withPrevious('pg_class', 'r.objid', 'sequence', sequenceSnapshotSql('r.objid'))}
        ELSIF rk = 'c' THEN
          -- ALTER TYPE ... ADD / DROP / RENAME / ALTER ATTRIBUTE works on the type's relation.${withPrevious('pg_type', 'tid', 'type', typeSnapshotSql('tid'))}
        END IF;
      ELSIF r.classid = 'pg_type'::regclass THEN${withPrevious('pg_type', 'r.objid', 'type', typeSnapshotSql('r.objid'))}
      ELSIF r.classid = 'pg_constraint'::regclass THEN
        -- ALTER DOMAIN ... RENAME CONSTRAINT names the constraint: the domain's snapshot follows it.
        SELECT k.contypid INTO tid FROM pg_constraint k WHERE k.oid = r.objid;
        IF tid IS NOT NULL AND tid <> 0 THEN${withPrevious('pg_type', 'tid', 'type', typeSnapshotSql('tid'))}
        END IF;
      ELSIF r.classid = 'pg_trigger'::regclass THEN${withPrevious('pg_trigger', 'r.objid', 'trigger', triggerSnapshotSql('r.objid'))}
        -- The table's trigger states as of now, so its next ALTER TABLE compares ENABLE states with
        -- them; only for a trigger's own DDL (in an ALTER TABLE the table's row must keep its previous).
        IF TG_TAG IN ('CREATE TRIGGER', 'ALTER TRIGGER') THEN
          UPDATE ${state} s SET snapshot = ${snap}(s.relid)
           WHERE s.relid = (SELECT t.tgrelid FROM pg_trigger t WHERE t.oid = r.objid);
        END IF;
      ELSIF r.classid = 'pg_proc'::regclass THEN
        o := o || jsonb_build_object('routine', (
          SELECT jsonb_build_object('schema', n.nspname::text, 'name', p.proname::text,
                   'prokind', p.prokind::text,
                   'signature', p.proname::text || '(' || oidvectortypes(p.proargtypes) || ')',
                   'definition', pg_get_functiondef(p.oid))
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE p.oid = r.objid AND p.prokind IN ('f', 'p')));${previousName('pg_proc', 'r.objid', routineNameSql('r.objid'))}
      END IF;
      objs := objs || jsonb_build_array(o);
    END LOOP;
  ELSE
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
      CONTINUE WHEN r.schema_name IS NULL OR NOT (r.schema_name = ANY (schemas)) OR r.is_temporary;
      IF r.object_type = 'table' THEN
        DELETE FROM ${state} WHERE relid = r.objid;
      END IF;
      DELETE FROM ${objects} WHERE classid = r.classid AND objid = r.objid;
      objs := objs || jsonb_build_array(jsonb_build_object(
        'dropped', true, 'object_type', r.object_type, 'schema', r.schema_name,
        'name', COALESCE(r.object_name, r.address_names[array_upper(r.address_names, 1)]),
        'args', to_jsonb(r.address_args), 'names', to_jsonb(r.address_names),
        'identity', r.object_identity, 'original', r.original));
    END LOOP;
  END IF;
  IF jsonb_array_length(objs) > 0 THEN
    PERFORM pg_logical_emit_message(true, ${quoteLiteral(DDL_MESSAGE_PREFIX)}, jsonb_build_object(
      'task', ${quoteLiteral(taskName)}, 'event', TG_EVENT, 'tag', TG_TAG, 'query', current_query(),
      'search_path', caller_path, 'objects', objs)::text);
  END IF;
  PERFORM pg_catalog.set_config('search_path', caller_path, true);
END
$fn$;
INSERT INTO ${state} (relid, snapshot)
  SELECT c.oid, ${snap}(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = ANY (${schemaArray}) AND c.relkind IN ('r', 'p')
  ON CONFLICT (relid) DO NOTHING;
INSERT INTO ${objects} (classid, objid, snapshot)
  SELECT x.classid, x.objid, x.snapshot FROM (
    -- Outer aliases differ from the snapshots' own (ot, oc, on_), which would shadow them.
    SELECT 'pg_type'::regclass AS classid, ot.oid AS objid, ${typeSnapshotSql('ot.oid')} AS snapshot
      FROM pg_type ot JOIN pg_namespace on_ ON on_.oid = ot.typnamespace
     WHERE on_.nspname = ANY (${schemaArray}) AND ot.typtype IN ('e', 'c', 'd', 'r')
    UNION ALL
    SELECT 'pg_class'::regclass, oc.oid, ${sequenceSnapshotSql('oc.oid')}
      FROM pg_class oc JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
     WHERE on_.nspname = ANY (${schemaArray}) AND oc.relkind = 'S'
    UNION ALL
    SELECT 'pg_class'::regclass, oc.oid, ${relationNameSql('oc.oid')}
      FROM pg_class oc JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
     WHERE on_.nspname = ANY (${schemaArray}) AND oc.relkind IN ('v', 'i', 'I')
    UNION ALL
    SELECT 'pg_proc'::regclass, op.oid, ${routineNameSql('op.oid')}
      FROM pg_proc op JOIN pg_namespace on_ ON on_.oid = op.pronamespace
     WHERE on_.nspname = ANY (${schemaArray}) AND op.prokind IN ('f', 'p')
    UNION ALL
    SELECT 'pg_trigger'::regclass, ot.oid, ${triggerSnapshotSql('ot.oid')}
      FROM pg_trigger ot JOIN pg_class oc ON oc.oid = ot.tgrelid JOIN pg_namespace on_ ON on_.oid = oc.relnamespace
     WHERE on_.nspname = ANY (${schemaArray})) x
   WHERE x.snapshot IS NOT NULL
  ON CONFLICT (classid, objid) DO NOTHING;
DO $do$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = ${quoteLiteral(n.endTrigger)}) THEN
    CREATE EVENT TRIGGER ${quoteIdent(n.endTrigger)} ON ddl_command_end EXECUTE FUNCTION ${q(n.function)}();
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = ${quoteLiteral(n.dropTrigger)}) THEN
    CREATE EVENT TRIGGER ${quoteIdent(n.dropTrigger)} ON sql_drop EXECUTE FUNCTION ${q(n.function)}();
  END IF;
END $do$`;
}

/** Is the capture of `taskName` installed (both event triggers there)? */
export async function ddlCaptureInstalled(client: pg.Client, taskName: string): Promise<boolean> {
  const n = ddlCaptureNames(taskName);
  const r = await client.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM pg_event_trigger WHERE evtname = ANY ($1::text[])`,
    [[n.endTrigger, n.dropTrigger]],
  );
  return r.rows[0]?.n === '2';
}

/**
 * Installs the capture of `taskName` for `schemas`, in one transaction (a failure leaves nothing
 * half made), or refreshes its function and state when it is there.
 * @returns whether it was missing before.
 */
export async function installDdlCapture(
  client: pg.Client,
  taskName: string,
  schemas: readonly string[],
): Promise<boolean> {
  const before = await ddlCaptureInstalled(client, taskName);
  await client.query('BEGIN');
  try {
    await client.query(ddlCaptureInstallSql(taskName, schemas));
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return !before;
}

/**
 * Drops the capture of `taskName`: its event triggers, functions and state tables; the schema too
 * when nothing else is left in it. Safe twice.
 * @returns whether the event triggers were there.
 */
export async function dropDdlCapture(client: pg.Client, taskName: string): Promise<boolean> {
  const n = ddlCaptureNames(taskName);
  const was = await ddlCaptureInstalled(client, taskName);
  const fnExists = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [DDL_CAPTURE_SCHEMA]);
  await client.query(
    [
      `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(n.endTrigger)}`,
      `DROP EVENT TRIGGER IF EXISTS ${quoteIdent(n.dropTrigger)}`,
      ...(fnExists.rowCount === 0
        ? []
        : [
            `DROP FUNCTION IF EXISTS ${q(n.function)}()`,
            `DROP FUNCTION IF EXISTS ${q(n.snapshotFunction)}(oid)`,
            `DROP TABLE IF EXISTS ${q(n.stateTable)}`,
            `DROP TABLE IF EXISTS ${q(n.objectStateTable)}`,
            `DO $do$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_namespace s ON d.refobjid = s.oid
                               WHERE s.nspname = ${quoteLiteral(DDL_CAPTURE_SCHEMA)} AND d.refclassid = 'pg_namespace'::regclass) THEN
                 DROP SCHEMA IF EXISTS ${quoteIdent(DDL_CAPTURE_SCHEMA)};
               END IF;
             END $do$`,
          ]),
    ].join(';\n'),
  );
  return was;
}

/**
 * Why the DDL capture cannot be installed on a server of `major` (`version` text) by a user who is
 * (not) a superuser, or undefined when it can. Shared by the precheck and the run.
 */
export function ddlCaptureUnavailable(
  major: number,
  version: string,
  isSuperuser: boolean,
): string | undefined {
  if (major < DDL_CAPTURE_MIN_MAJOR) {
    return `DDL capture needs logical decoding messages in pgoutput (PostgreSQL ${DDL_CAPTURE_MIN_MAJOR}+, option messages); the source runs ${version}: no event trigger is installed, and schema changes follow the Relation-message fallback`;
  }
  if (!isSuperuser) {
    return `DDL capture needs an event trigger, which only a superuser may create: no event trigger is installed, and schema changes follow the Relation-message fallback`;
  }
  return undefined;
}
