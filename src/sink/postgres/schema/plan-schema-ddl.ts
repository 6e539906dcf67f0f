/**
 * Turns a {@link SchemaModel} into ordered PostgreSQL DDL in two phases, as pg_dump splits a dump
 * (pg_dump's "pre-data" and "post-data" sections): `preData` before the data load, `postData` after it.
 * Ordering follows dependencies recorded in the model (a view on a view, a domain over a domain, a
 * default calling a function) with a fixed rank as tie-breaker, so functions a table's default or
 * check calls come before the table unless the function's signature needs the table itself.
 */
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from '../../../core/identifier.ts';
import {
  needsShellType,
  refKey,
  operatorClassRefName,
  type AggregateDef,
  type BaseTypeDef,
  type CastDef,
  type CollationDef,
  type ColumnDef,
  type CompositeAttribute,
  type FunctionMember,
  type NativeCode,
  type OperatorClassDef,
  type OperatorDef,
  type OperatorMember,
  type ColumnIdentity,
  type PolicyDef,
  type FiringState,
  type RuleDef,
  type SchemaModel,
  type SequenceOptions,
  type TableDef,
  type TypeDef,
  type ViewDef,
} from '../../../core/schema-model.ts';
import { planAccessDdl } from './plan-access-ddl.ts';

/** What a statement does, for logs and for deciding which errors mean "already exists". */
export type DdlKind =
  | 'schema'
  | 'extension'
  | 'type'
  | 'sequence'
  | 'routine'
  | 'aggregate'
  | 'operator'
  | 'operator-family'
  | 'operator-class'
  | 'cast'
  | 'collation'
  | 'conversion'
  | 'text-search'
  | 'table'
  | 'alter-table'
  | 'primary-key'
  | 'constraint'
  | 'attach-index'
  | 'view'
  | 'owned-by'
  | 'index'
  | 'foreign-key'
  | 'trigger'
  | 'policy'
  | 'rule'
  | 'statistics'
  | 'refresh'
  | 'comment'
  | 'owner'
  | 'grant'
  | 'default-privileges';

/** One DDL statement. */
export interface DdlStatement {
  /** Unique id within the plan, e.g. `index:Sales Dept.Order Items_qty_idx`. */
  readonly id: string;
  readonly kind: DdlKind;
  /** The object the statement creates or alters, for messages, e.g. `table "Sales Dept"."Order Items"`. */
  readonly object: string;
  /** One SQL statement, no trailing semicolon. */
  readonly sql: string;
  /**
   * Ids of statements that must have completed before this one. Within `postData` this is what a
   * parallel runner schedules by; ids of `preData` statements are always satisfied there.
   */
  readonly dependsOn: readonly string[];
  /** For `CREATE EXTENSION`: the extension name, so the runner can skip it when unavailable. */
  readonly extension?: string;
  /**
   * A query returning a row when the statement's effect is already there, for statements that
   * do not fail with a duplicate_* SQLSTATE on a re-run (ATTACH PARTITION of a table).
   */
  readonly skipIf?: string;
  /**
   * Roles the statement names (`CREATE POLICY ... TO role`): when one does not exist on the
   * destination, the runner skips the statement and reports it as refused (outcome `unavailable`).
   */
  readonly requiresRoles?: readonly string[];
  /**
   * For `CREATE FUNCTION` of a `LANGUAGE c` or `internal` function: where its code is. Creating it
   * needs a superuser (and for C the library) on the destination; when it is refused for that, the
   * runner reports it as refused (outcome `unavailable`) and refuses what {@link needsNative} it.
   */
  readonly native?: NativeCode;
  /**
   * A statement only a superuser may run (`CREATE TEXT SEARCH PARSER`, `TEMPLATE`): when the
   * destination user is not one, the runner reports it as refused, as for {@link native}.
   */
  readonly superuserOnly?: boolean;
  /**
   * Ids of the statements with {@link native} or {@link superuserOnly} this pre-data statement
   * needs, directly or through other objects (a base type's I/O functions, for the type, its
   * columns' tables and its casts; a template, for its dictionaries): refused when one of them was.
   */
  readonly needsNative?: readonly string[];
}

/** The DDL of a schema sync, in execution order. */
export interface SchemaDdlPlan {
  /**
   * Before the data load: schemas, extensions, types and domains (a base type, or a range with a
   * CANONICAL function, as a shell type before its support functions and the full CREATE TYPE after
   * them), sequences, functions and procedures,
   * aggregates (after their support functions), operators, operator families and classes, casts, collations, conversions, text
   * search parsers, templates, dictionaries and configurations,
   * tables (columns, defaults, identity, generated columns, NOT NULL, CHECK, collations, partitions),
   * views, materialized views (WITH NO DATA), sequence OWNED BY,
   * REPLICA IDENTITY FULL/NOTHING, UNLOGGED, storage parameters (also `toast.*`), INHERITS, column
   * storage / compression / statistics targets, comments. Run in order on one connection.
   */
  readonly preData: readonly DdlStatement[];
  /**
   * After the data load: primary keys and unique constraints, secondary indexes (and their ATTACH
   * PARTITION to parent indexes, CLUSTER ON),
   * exclusion constraints, CHECK constraints marked NOT VALID, foreign keys, REPLICA IDENTITY USING
   * INDEX, triggers (so they do not fire during the load) with their enabled state, row-level
   * security policies then ENABLE / FORCE ROW LEVEL SECURITY, rules with their enabled state,
   * extended statistics, REFRESH MATERIALIZED VIEW, comments on these. Listed in an order that works sequentially; also
   * independent units that may run in parallel in any order respecting `dependsOn`.
   */
  readonly postData: readonly DdlStatement[];
  /**
   * After post-data, on one connection in order: `ALTER ... OWNER TO`, then REVOKE / GRANT of
   * object and column privileges and `ALTER DEFAULT PRIVILEGES` (plan-access-ddl.ts); empty unless
   * the model carries owners or privileges (`schema.owners`, `schema.privileges`).
   */
  readonly privileges: readonly DdlStatement[];
}

interface Node {
  readonly id: string;
  readonly rank: number;
  readonly deps: readonly string[];
  readonly statements: DdlStatement[];
}

const RANK = {
  schema: 0,
  extension: 1,
  type: 2,
  sequence: 2,
  routine: 3,
  table: 4,
  constraint: 5,
  view: 6,
  late: 7,
} as const;

/**
 * Plans the DDL that recreates `model` on an empty PostgreSQL database. Pure: no I/O.
 * Names are always quoted. Owners and privileges are emitted when the model carries them.
 */
export function planSchemaDdl(model: SchemaModel): SchemaDdlPlan {
  const nodes: Node[] = [];
  const post: DdlStatement[] = [];
  const node = (id: string, rank: number, deps: readonly string[], statements: DdlStatement[]): void => {
    nodes.push({ id, rank, deps, statements });
  };
  const st = (
    id: string,
    kind: DdlKind,
    object: string,
    sql: string,
    dependsOn: readonly string[] = [],
  ): DdlStatement => ({ id, kind, object, sql, dependsOn });
  const comment = (id: string, target: string, object: string, text: string | undefined): DdlStatement[] =>
    text === undefined
      ? []
      : [st(`comment:${id}`, 'comment', object, `COMMENT ON ${target} IS ${quoteLiteral(text)}`, [id])];
  const schemaId = (s: string): string => `schema:${s}`;

  for (const s of model.schemas) {
    const id = schemaId(s.name);
    const obj = `schema ${quoteIdent(s.name)}`;
    node(
      id,
      RANK.schema,
      [],
      [
        st(id, 'schema', obj, `CREATE SCHEMA ${quoteIdent(s.name)}`),
        // A schema that already exists (public) may belong to another role: leave an equal comment alone.
        ...comment(id, `SCHEMA ${quoteIdent(s.name)}`, obj, s.comment).map((x) => ({
          ...x,
          skipIf: `SELECT 1 FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_description d ON d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass WHERE n.nspname = ${quoteLiteral(s.name)} AND d.description = ${quoteLiteral(s.comment ?? '')}`,
        })),
      ],
    );
  }
  for (const e of model.extensions) {
    const id = `extension:${e.name}`;
    node(
      id,
      RANK.extension,
      [schemaId(e.schema)],
      [
        {
          ...st(
            id,
            'extension',
            `extension ${quoteIdent(e.name)}`,
            `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e.name)} WITH SCHEMA ${quoteIdent(e.schema)}`,
          ),
          extension: e.name,
        },
      ],
    );
  }
  // A domain's CHECK or DEFAULT may apply a binary-coercible cast (WITHOUT FUNCTION), which
  // pg_depend does not record: a domain over a type with casts comes after them.
  const castsByType = new Map<string, string[]>();
  for (const c of model.casts) {
    const id = `cast:${c.source}\u0000${c.target}`;
    for (const end of [c.source, c.target]) castsByType.set(end, [...(castsByType.get(end) ?? []), id]);
  }
  const castsOfDomain = (t: TypeDef): string[] =>
    t.kind === 'domain' && (t.constraints.length > 0 || t.default !== undefined)
      ? t.dependsOn.filter((d) => d.kind === 'type').flatMap((d) => castsByType.get(quoteQualified(d)) ?? [])
      : [];
  // Types made of functions that take or return them (base types, ranges with a CANONICAL
  // function): a shell type first, which those functions use instead of the type, as pg_dump does.
  const shellOf = new Map<string, { readonly id: string; readonly deps: ReadonlySet<string> }>();
  for (const t of model.types) {
    if (!needsShellType(t)) continue;
    const id = refKey({ kind: 'type', schema: t.schema, name: t.name });
    const q = quoteQualified(t);
    shellOf.set(id, { id: `shell:${id}`, deps: new Set(t.dependsOn.map(refKey)) });
    node(
      `shell:${id}`,
      RANK.type,
      [schemaId(t.schema)],
      [
        {
          ...st(`shell:${id}`, 'type', `shell type ${q}`, `CREATE TYPE ${q}`),
          // A shell or a complete type of that name: nothing to do (CREATE TYPE name fails on both).
          skipIf: `SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ${quoteLiteral(t.schema)} AND t.typname = ${quoteLiteral(t.name)}`,
          // Shell and base types are a superuser's (typecmds.c DefineType: "must be superuser to
          // create a base type"), also the shell of a range.
          superuserOnly: true,
        },
      ],
    );
  }
  /** A routine's dependencies, a type it is a support function of taken as its shell type. */
  const routineDeps = (routineId: string, deps: readonly string[]): string[] =>
    deps.map((d) => {
      const shell = shellOf.get(d);
      return shell !== undefined && shell.deps.has(routineId) ? shell.id : d;
    });
  for (const t of model.types) {
    const id = refKey({ kind: 'type', schema: t.schema, name: t.name });
    const q = quoteQualified(t);
    const obj = `${t.kind === 'domain' ? 'domain' : 'type'} ${q}`;
    const stmts = [
      {
        ...st(id, 'type', obj, typeSql(t)),
        ...(t.kind === 'base'
          ? {
              superuserOnly: true,
              // CREATE TYPE of a base type checks for a superuser before it finds the type exists.
              skipIf: `SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ${quoteLiteral(t.schema)} AND t.typname = ${quoteLiteral(t.name)} AND t.typisdefined`,
            }
          : {}),
      },
    ];
    if (t.kind === 'domain') {
      for (const c of t.constraints.filter((x) => isNotValid(x.definition))) {
        stmts.push(
          st(
            `${id}:${c.name}`,
            'constraint',
            obj,
            `ALTER DOMAIN ${q} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`,
          ),
        );
      }
    }
    stmts.push(...comment(id, `${t.kind === 'domain' ? 'DOMAIN' : 'TYPE'} ${q}`, obj, t.comment));
    node(id, RANK.type, [schemaId(t.schema), ...t.dependsOn.map(refKey), ...castsOfDomain(t)], stmts);
  }
  for (const s of model.sequences) {
    const id = refKey({ kind: 'sequence', schema: s.schema, name: s.name });
    const q = quoteQualified(s);
    const obj = `sequence ${q}`;
    node(
      id,
      RANK.sequence,
      [schemaId(s.schema)],
      [
        st(id, 'sequence', obj, `CREATE SEQUENCE ${q} AS ${s.options.type} ${sequenceOptionsSql(s.options)}`),
        ...comment(id, `SEQUENCE ${q}`, obj, s.comment),
      ],
    );
    if (s.ownedBy) {
      const tid = refKey({ kind: 'table', ...s.ownedBy.table });
      node(
        `owned-by:${id}`,
        RANK.late,
        [id, tid],
        [
          st(
            `owned-by:${id}`,
            'owned-by',
            obj,
            `ALTER SEQUENCE ${q} OWNED BY ${quoteQualified(s.ownedBy.table)}.${quoteIdent(s.ownedBy.column)}`,
            [id, tid],
          ),
        ],
      );
    }
  }
  for (const r of model.routines) {
    const id = refKey({ kind: 'routine', schema: r.schema, name: r.signature });
    const args = r.signature.slice(r.name.length);
    const obj = `${r.kind} ${quoteQualified(r)}${args}`;
    node(
      id,
      RANK.routine,
      [schemaId(r.schema), ...routineDeps(id, r.dependsOn.map(refKey))],
      [
        {
          ...st(id, 'routine', obj, r.definition),
          ...(r.native !== undefined
            ? {
                native: r.native,
                // An equal function is left alone: replacing it would need a superuser again.
                // (By name, not to_regprocedure: before PostgreSQL 16 it fails on a missing schema.)
                skipIf: `SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ${quoteLiteral(r.schema)} AND p.proname = ${quoteLiteral(r.name)} AND pg_catalog.btrim(pg_catalog.pg_get_functiondef(p.oid), E' \\n\\t\\r') = ${quoteLiteral(r.definition)}`,
              }
            : {}),
        },
        ...comment(
          id,
          `${r.kind === 'function' ? 'FUNCTION' : 'PROCEDURE'} ${quoteQualified(r)}${args}`,
          obj,
          r.comment,
        ),
      ],
    );
  }

  for (const a of model.aggregates) {
    const id = refKey({ kind: 'routine', schema: a.schema, name: a.signature });
    const target = `AGGREGATE ${quoteQualified(a)}(${a.arguments === '' ? '*' : a.arguments})`;
    const obj = `aggregate ${quoteQualified(a)}(${a.arguments === '' ? '*' : a.arguments})`;
    // After its support functions and types (dependsOn), before views and tables using it.
    node(
      id,
      RANK.routine,
      [schemaId(a.schema), ...a.dependsOn.map(refKey)],
      [st(id, 'aggregate', obj, aggregateSql(a)), ...comment(id, target, obj, a.comment)],
    );
  }

  planObjectKinds(model, node, st, comment, schemaId);
  planTextObjects(model, node, st, comment, schemaId);
  for (const c of model.collations) {
    const id = refKey({ kind: 'collation', schema: c.schema, name: c.name });
    const obj = `collation ${quoteQualified(c)}`;
    // Before the types and tables whose columns use it (their dependsOn).
    node(
      id,
      RANK.type,
      [schemaId(c.schema)],
      [
        st(id, 'collation', obj, collationSql(c)),
        ...comment(id, `COLLATION ${quoteQualified(c)}`, obj, c.comment),
      ],
    );
  }

  // Index-backed objects by (schema, index name), for ALTER INDEX ... ATTACH PARTITION.
  const indexStmt = new Map<string, string>();
  const ixKey = (q: QualifiedName): string => `${q.schema}\u0000${q.name}`;
  const tablesByKey = new Map(model.tables.map((t) => [ixKey(t), t]));
  for (const t of model.tables) {
    for (const c of t.constraints) {
      if (c.kind === 'check') continue;
      indexStmt.set(ixKey({ schema: t.schema, name: c.name }), constraintId(t, c.name));
    }
  }
  for (const i of model.indexes) indexStmt.set(ixKey(i), `index:${ixKey(i)}`);

  // Tables some view reads (or whose root it reads): their keys stay in pre-data.
  const viewTables = new Set(
    model.views.flatMap((v) => v.dependsOn.filter((d) => d.kind === 'table').map((d) => ixKey(d))),
  );
  const keysNeededBeforeViews = (t: TableDef): boolean =>
    viewTables.has(ixKey(t)) || (t.partitionOf !== undefined && viewTables.has(ixKey(t.partitionOf.parent)));

  for (const t of model.tables) {
    const id = refKey({ kind: 'table', schema: t.schema, name: t.name });
    const q = quoteQualified(t);
    const obj = `table ${q}`;
    const parent = t.partitionOf ? tablesByKey.get(ixKey(t.partitionOf.parent)) : undefined;
    // PARTITION OF takes the parent's column order; a partition created on its own and attached
    // may have another, so it is recreated the same way.
    const sameColumns =
      parent !== undefined &&
      parent.columns.length === t.columns.length &&
      parent.columns.every((c, i) => c.name === t.columns[i]?.name);
    const stmts: DdlStatement[] = [st(id, 'table', obj, createTableSql(t, sameColumns ? parent : undefined))];
    if (t.partitionOf && parent && !sameColumns) {
      stmts.push({
        ...st(
          `${id}:attach`,
          'alter-table',
          obj,
          `ALTER TABLE ONLY ${quoteQualified(t.partitionOf.parent)} ATTACH PARTITION ${q} ${t.partitionOf.bound}`,
        ),
        skipIf: `SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = pg_catalog.to_regclass(${quoteLiteral(q)})`,
      });
    }
    if (t.partitionOf && parent && sameColumns) {
      // PARTITION OF copies the parent's columns; what the partition sets on its own comes after.
      for (const c of t.columns) {
        const pc = parent.columns.find((x) => x.name === c.name);
        if (c.default !== undefined && c.default !== pc?.default) {
          stmts.push(
            st(
              `${id}:default:${c.name}`,
              'alter-table',
              obj,
              `ALTER TABLE ONLY ${q} ALTER COLUMN ${quoteIdent(c.name)} SET DEFAULT ${c.default}`,
            ),
          );
        }
        if (c.notNull && !pc?.notNull) {
          stmts.push(
            st(
              `${id}:notnull:${c.name}`,
              'alter-table',
              obj,
              `ALTER TABLE ONLY ${q} ALTER COLUMN ${quoteIdent(c.name)} SET NOT NULL`,
            ),
          );
        }
      }
      for (const c of t.constraints.filter(
        (x) => x.kind === 'check' && !x.inherited && !isNotValid(x.definition),
      )) {
        stmts.push(
          st(
            constraintId(t, c.name),
            'constraint',
            obj,
            `ALTER TABLE ONLY ${q} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`,
          ),
        );
      }
    }
    if (t.replicaIdentity === 'full' || t.replicaIdentity === 'nothing') {
      stmts.push(
        st(
          `${id}:replica-identity`,
          'alter-table',
          obj,
          `ALTER TABLE ONLY ${q} REPLICA IDENTITY ${t.replicaIdentity.toUpperCase()}`,
        ),
      );
    }
    stmts.push(...columnAttributeStatements(t, id, obj));
    stmts.push(...comment(id, `TABLE ${q}`, obj, t.comment));
    for (const c of t.columns) {
      stmts.push(
        ...comment(`${id}:column:${c.name}`, `COLUMN ${q}.${quoteIdent(c.name)}`, obj, c.comment).map(
          (s) => ({ ...s, dependsOn: [id] }),
        ),
      );
    }
    for (const c of t.constraints.filter(
      (x) => x.kind === 'check' && !x.inherited && !isNotValid(x.definition),
    )) {
      stmts.push(
        ...comment(constraintId(t, c.name), `CONSTRAINT ${quoteIdent(c.name)} ON ${q}`, obj, c.comment),
      );
    }
    const deps = [schemaId(t.schema), ...t.dependsOn.map(refKey)];
    if (t.partitionOf) deps.push(refKey({ kind: 'table', ...t.partitionOf.parent }));
    for (const p of t.inherits ?? []) deps.push(refKey({ kind: 'table', ...p }));
    stmts.push(...inheritedColumnStatements(t, tablesByKey, id, obj));
    node(id, RANK.table, deps, stmts);

    for (const c of t.constraints) {
      const cid = constraintId(t, c.name);
      const cobj = `constraint ${quoteIdent(c.name)} on ${q}`;
      const add = st(
        cid,
        c.kind === 'primary-key' ? 'primary-key' : 'constraint',
        cobj,
        `ALTER TABLE ONLY ${q} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`,
        [id],
      );
      const notes = comment(cid, `CONSTRAINT ${quoteIdent(c.name)} ON ${q}`, cobj, c.comment);
      if (c.kind === 'check') {
        if (isNotValid(c.definition) && !c.inherited) post.push(add, ...notes);
        continue;
      }
      const attach: DdlStatement[] = [];
      if (c.parentIndex) {
        const pid = indexStmt.get(ixKey(c.parentIndex));
        if (pid !== undefined) {
          attach.push(
            st(
              `attach:${cid}`,
              'attach-index',
              cobj,
              `ALTER INDEX ${quoteQualified(c.parentIndex)} ATTACH PARTITION ${quoteQualified({ schema: t.schema, name: c.name })}`,
              [cid, pid],
            ),
          );
        }
      }
      if (c.kind === 'exclusion' || !keysNeededBeforeViews(t)) {
        // Keys are built after the load (as pg_restore and pgcopydb do): one index build over the
        // loaded rows is much cheaper than maintaining it row by row.
        post.push(add, ...attach, ...notes);
      } else {
        // A view may rely on this key (GROUP BY key, functional dependency): create it before views.
        node(cid, RANK.constraint, [id], [add, ...notes]);
        if (attach[0]) node(attach[0].id, RANK.constraint, attach[0].dependsOn, attach);
      }
    }
    if (typeof t.replicaIdentity === 'object') {
      const dep = indexStmt.get(ixKey({ schema: t.schema, name: t.replicaIdentity.index }));
      post.push(
        st(
          `${id}:replica-identity`,
          'alter-table',
          obj,
          `ALTER TABLE ONLY ${q} REPLICA IDENTITY USING INDEX ${quoteIdent(t.replicaIdentity.index)}`,
          dep !== undefined ? [dep] : [],
        ),
      );
    }
  }

  const matviewRefresh = new Map<string, string>();
  for (const v of model.views) {
    const id = refKey({ kind: 'view', schema: v.schema, name: v.name });
    const q = quoteQualified(v);
    const mat = v.kind === 'materialized-view';
    const obj = `${mat ? 'materialized view' : 'view'} ${q}`;
    const stmts = [st(id, 'view', obj, viewSql(v))];
    stmts.push(...comment(id, `${mat ? 'MATERIALIZED VIEW' : 'VIEW'} ${q}`, obj, v.comment));
    for (const c of v.columns) {
      stmts.push(
        ...comment(`${id}:column:${c.name}`, `COLUMN ${q}.${quoteIdent(c.name)}`, obj, c.comment).map(
          (s) => ({ ...s, dependsOn: [id] }),
        ),
      );
    }
    node(id, RANK.view, [schemaId(v.schema), ...v.dependsOn.map(refKey)], stmts);
    if (mat && v.populated) matviewRefresh.set(id, `refresh:${id}`);
  }
  // A materialized view reading another (directly or through views) is refreshed after it.
  const viewsById = new Map(
    model.views.map((v) => [refKey({ kind: 'view', schema: v.schema, name: v.name }), v]),
  );
  const upstreamMatviews = (v: ViewDef, seen = new Set<string>()): string[] =>
    v.dependsOn.flatMap((d) => {
      const k = refKey(d);
      const u = viewsById.get(k);
      if (!u || seen.has(k)) return [];
      seen.add(k);
      return matviewRefresh.has(k) ? [matviewRefresh.get(k)!] : upstreamMatviews(u, seen);
    });
  for (const v of model.views) {
    const id = refKey({ kind: 'view', schema: v.schema, name: v.name });
    const rid = matviewRefresh.get(id);
    if (rid === undefined) continue;
    post.push(
      st(
        rid,
        'refresh',
        `materialized view ${quoteQualified(v)}`,
        `REFRESH MATERIALIZED VIEW ${quoteQualified(v)}`,
        upstreamMatviews(v),
      ),
    );
  }

  for (const i of model.indexes) {
    const id = `index:${ixKey(i)}`;
    const obj = `index ${quoteQualified(i)}`;
    post.push(st(id, 'index', obj, i.definition));
    if (i.parentIndex) {
      const pid = indexStmt.get(ixKey(i.parentIndex));
      if (pid !== undefined) {
        post.push(
          st(
            `attach:${id}`,
            'attach-index',
            obj,
            `ALTER INDEX ${quoteQualified(i.parentIndex)} ATTACH PARTITION ${quoteQualified(i)}`,
            [id, pid],
          ),
        );
      }
    }
    if (i.clustered) {
      post.push(
        st(
          `${id}:cluster`,
          'alter-table',
          obj,
          `ALTER TABLE ONLY ${quoteQualified(i.table)} CLUSTER ON ${quoteIdent(i.name)}`,
          [id],
        ),
      );
    }
    post.push(...comment(id, `INDEX ${quoteQualified(i)}`, obj, i.comment));
  }

  // A foreign key needs the referenced table's unique indexes, including those attached across partitions.
  const uniqueOf = new Map<string, string[]>();
  const addUnique = (table: QualifiedName, id: string): void => {
    const k = ixKey(table);
    uniqueOf.set(k, [...(uniqueOf.get(k) ?? []), id]);
  };
  for (const t of model.tables) {
    for (const c of t.constraints) {
      if ((c.kind !== 'primary-key' && c.kind !== 'unique') || keysNeededBeforeViews(t)) continue;
      addUnique(t, constraintId(t, c.name));
      // A partition's key also serves foreign keys to its root once attached to the root's index.
      if (t.partitionOf && c.parentIndex && indexStmt.has(ixKey(c.parentIndex))) {
        addUnique(t.partitionOf.parent, `attach:${constraintId(t, c.name)}`);
      }
    }
  }
  for (const i of model.indexes) {
    if (!i.unique) continue;
    addUnique(i.table, `index:${ixKey(i)}`);
    if (i.parentIndex) {
      const owner = model.indexes.find((p) => ixKey(p) === ixKey(i.parentIndex!));
      if (owner) addUnique(owner.table, `attach:index:${ixKey(i)}`);
    }
  }
  for (const fkTable of model.tables) {
    for (const fk of fkTable.foreignKeys) {
      const q = quoteQualified(fkTable);
      const id = `foreign-key:${ixKey(fkTable)}\u0000${fk.name}`;
      const obj = `foreign key ${quoteIdent(fk.name)} on ${q}`;
      post.push(
        st(
          id,
          'foreign-key',
          obj,
          `ALTER TABLE ${q} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`,
          uniqueOf.get(ixKey(fk.references)) ?? [],
        ),
      );
      post.push(...comment(id, `CONSTRAINT ${quoteIdent(fk.name)} ON ${q}`, obj, fk.comment));
    }
  }

  for (const tr of model.triggers) {
    const q = quoteQualified(tr.table);
    const id = `trigger:${ixKey(tr.table)}\u0000${tr.name}`;
    const obj = `trigger ${quoteIdent(tr.name)} on ${q}`;
    post.push(st(id, 'trigger', obj, tr.definition));
    const enable = enableClause(tr.enabled);
    if (enable !== undefined) {
      post.push(
        st(`${id}:enabled`, 'alter-table', obj, `ALTER TABLE ${q} ${enable} TRIGGER ${quoteIdent(tr.name)}`, [
          id,
        ]),
      );
    }
    post.push(...comment(id, `TRIGGER ${quoteIdent(tr.name)} ON ${q}`, obj, tr.comment));
  }

  post.push(...rowSecurityStatements(model));
  post.push(...statisticsStatements(model));

  return {
    preData: orderNodes(withNeededNative(nodes)),
    postData: orderNodes(post.map((x) => ({ id: x.id, rank: 0, deps: x.dependsOn, statements: [x] }))),
    privileges: planAccessDdl(model),
  };
}

// ---- table attributes: column storage, compression, statistics; row-level security; rules

/**
 * `ALTER COLUMN ... SET STORAGE | SET COMPRESSION | SET STATISTICS` for the columns that set them, run
 * right after CREATE TABLE (pre-data). SET COMPRESSION is skipped on a destination before
 * PostgreSQL 14, which has no column compression (PostgreSQL docs, ALTER TABLE).
 */
function columnAttributeStatements(t: TableDef, id: string, obj: string): DdlStatement[] {
  const q = quoteQualified(t);
  const out: DdlStatement[] = [];
  const alter = (c: ColumnDef, what: string, sql: string): DdlStatement => ({
    id: `${id}:${what}:${c.name}`,
    kind: 'alter-table',
    object: obj,
    sql: `ALTER TABLE ONLY ${q} ALTER COLUMN ${quoteIdent(c.name)} ${sql}`,
    dependsOn: [id],
  });
  for (const c of t.columns) {
    if (c.storage !== undefined) out.push(alter(c, 'storage', `SET STORAGE ${c.storage.toUpperCase()}`));
    if (c.compression !== undefined) {
      out.push({
        ...alter(c, 'compression', `SET COMPRESSION ${c.compression}`),
        skipIf: "SELECT 1 WHERE pg_catalog.current_setting('server_version_num')::int < 140000",
      });
    }
    if (c.statistics !== undefined) out.push(alter(c, 'statistics', `SET STATISTICS ${c.statistics}`));
  }
  return out;
}

/**
 * What an inheritance child sets on columns it takes from its parents (INHERITS creates them with
 * the parents' defaults and NOT NULL): its own default and NOT NULL. PostgreSQL docs, "Inheritance".
 */
function inheritedColumnStatements(
  t: TableDef,
  tables: ReadonlyMap<string, TableDef>,
  id: string,
  obj: string,
): DdlStatement[] {
  if (t.inherits === undefined || t.inherits.length === 0) return [];
  const q = quoteQualified(t);
  const parents = t.inherits.map((p) => tables.get(`${p.schema}\u0000${p.name}`));
  const out: DdlStatement[] = [];
  for (const c of t.columns) {
    if (c.inherited !== true) continue;
    const from = parents.map((p) => p?.columns.find((x) => x.name === c.name)).filter((x) => x !== undefined);
    const alter = (what: string, sql: string): DdlStatement => ({
      id: `${id}:${what}:${c.name}`,
      kind: 'alter-table',
      object: obj,
      sql: `ALTER TABLE ONLY ${q} ALTER COLUMN ${quoteIdent(c.name)} ${sql}`,
      dependsOn: [id],
    });
    if (c.default !== undefined && !from.some((p) => p.default === c.default)) {
      out.push(alter('default', `SET DEFAULT ${c.default}`));
    } else if (c.default === undefined && c.identity === undefined && c.generated === undefined) {
      if (from.some((p) => p.default !== undefined)) out.push(alter('default', 'DROP DEFAULT'));
    }
    if (c.notNull && !from.some((p) => p.notNull)) out.push(alter('notnull', 'SET NOT NULL'));
  }
  return out;
}

/** Post-data id of a table's ENABLE/FORCE ROW LEVEL SECURITY statement. */
function rowSecurityId(t: QualifiedName): string {
  return `row-security:${t.schema}\u0000${t.name}`;
}

/**
 * Post-data statements of row-level security and rules, after the data load so neither the copy (COPY
 * FROM refuses tables whose policies apply to the session) nor the load sees them: CREATE POLICY,
 * then ENABLE / FORCE ROW LEVEL SECURITY once the table's policies exist, then CREATE RULE with its
 * enabled state. A policy naming a role the destination lacks is refused (see
 * {@link DdlStatement.requiresRoles}). PostgreSQL docs, CREATE POLICY, ALTER TABLE, CREATE RULE.
 */
function rowSecurityStatements(model: SchemaModel): DdlStatement[] {
  const out: DdlStatement[] = [];
  const key = (t: QualifiedName): string => `${t.schema}\u0000${t.name}`;
  const policiesOf = new Map<string, string[]>();
  for (const p of model.policies ?? []) {
    const q = quoteQualified(p.table);
    const id = `policy:${key(p.table)}\u0000${p.name}`;
    const obj = `policy ${quoteIdent(p.name)} on ${q}`;
    out.push({
      id,
      kind: 'policy',
      object: obj,
      sql: policySql(p),
      dependsOn: [],
      ...(p.roles.length > 0 ? { requiresRoles: p.roles } : {}),
    });
    if (p.comment !== undefined) {
      out.push({
        id: `comment:${id}`,
        kind: 'comment',
        object: obj,
        sql: `COMMENT ON POLICY ${quoteIdent(p.name)} ON ${q} IS ${quoteLiteral(p.comment)}`,
        dependsOn: [id],
      });
    }
    policiesOf.set(key(p.table), [...(policiesOf.get(key(p.table)) ?? []), id]);
  }
  for (const t of model.tables) {
    if (t.rowSecurity === undefined) continue;
    const parts = [
      ...(t.rowSecurity.enabled ? ['ENABLE ROW LEVEL SECURITY'] : []),
      ...(t.rowSecurity.forced ? ['FORCE ROW LEVEL SECURITY'] : []),
    ];
    out.push({
      id: rowSecurityId(t),
      kind: 'alter-table',
      object: `table ${quoteQualified(t)}`,
      sql: `ALTER TABLE ONLY ${quoteQualified(t)} ${parts.join(', ')}`,
      dependsOn: policiesOf.get(key(t)) ?? [],
    });
  }
  for (const r of model.rules ?? []) out.push(...ruleStatements(r));
  return out;
}

/**
 * Post-data CREATE STATISTICS (after the load: ANALYZE fills them), with ALTER STATISTICS ... SET
 * STATISTICS and comments. PostgreSQL docs, CREATE STATISTICS, ALTER STATISTICS.
 */
function statisticsStatements(model: SchemaModel): DdlStatement[] {
  const out: DdlStatement[] = [];
  for (const x of model.statistics ?? []) {
    const q = quoteQualified(x);
    const id = `statistics:${x.schema}\u0000${x.name}`;
    const obj = `statistics ${q}`;
    out.push({ id, kind: 'statistics', object: obj, sql: x.definition, dependsOn: [] });
    if (x.target !== undefined) {
      out.push({
        id: `${id}:target`,
        kind: 'statistics',
        object: obj,
        sql: `ALTER STATISTICS ${q} SET STATISTICS ${x.target}`,
        dependsOn: [id],
      });
    }
    if (x.comment !== undefined) {
      out.push({
        id: `comment:${id}`,
        kind: 'comment',
        object: obj,
        sql: `COMMENT ON STATISTICS ${q} IS ${quoteLiteral(x.comment)}`,
        dependsOn: [id],
      });
    }
  }
  return out;
}

function policySql(p: PolicyDef): string {
  let s = `CREATE POLICY ${quoteIdent(p.name)} ON ${quoteQualified(p.table)} AS ${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${p.command.toUpperCase()}`;
  s += ` TO ${p.roles.length > 0 ? p.roles.map(quoteIdent).join(', ') : 'PUBLIC'}`;
  if (p.using !== undefined) s += ` USING (${p.using})`;
  if (p.withCheck !== undefined) s += ` WITH CHECK (${p.withCheck})`;
  return s;
}

/** The ALTER TABLE clause that gives a trigger or rule its firing state; none for the default. */
export function enableClause(e: FiringState): string | undefined {
  switch (e) {
    case 'origin':
      return undefined;
    case 'disabled':
      return 'DISABLE';
    case 'replica':
      return 'ENABLE REPLICA';
    case 'always':
      return 'ENABLE ALWAYS';
  }
}

function ruleStatements(r: RuleDef): DdlStatement[] {
  const q = quoteQualified(r.table);
  const id = `rule:${r.table.schema}\u0000${r.table.name}\u0000${r.name}`;
  const obj = `rule ${quoteIdent(r.name)} on ${q}`;
  const out: DdlStatement[] = [{ id, kind: 'rule', object: obj, sql: r.definition, dependsOn: [] }];
  const enable = enableClause(r.enabled);
  if (enable !== undefined) {
    out.push({
      id: `${id}:enabled`,
      kind: 'alter-table',
      object: obj,
      sql: `ALTER TABLE ${q} ${enable} RULE ${quoteIdent(r.name)}`,
      dependsOn: [id],
    });
  }
  if (r.comment !== undefined) {
    out.push({
      id: `comment:${id}`,
      kind: 'comment',
      object: obj,
      sql: `COMMENT ON RULE ${quoteIdent(r.name)} ON ${q} IS ${quoteLiteral(r.comment)}`,
      dependsOn: [id],
    });
  }
  return out;
}

function constraintId(t: QualifiedName, name: string): string {
  return `constraint:${t.schema}\u0000${t.name}\u0000${name}`;
}

function isNotValid(definition: string): boolean {
  return /\sNOT VALID$/.test(definition);
}

/**
 * Marks each statement of a node that needs a `LANGUAGE c` / `internal` function or a superuser-only
 * node (directly or through other nodes) with their statement ids ({@link DdlStatement.needsNative}).
 * Iterative depth-first walk with memo; a dependency cycle just stops the walk.
 */
function withNeededNative(nodes: readonly Node[]): Node[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const nativeIds = new Set(
    nodes
      .filter((n) => n.statements.some((x) => x.native !== undefined || x.superuserOnly === true))
      .map((n) => n.id),
  );
  if (nativeIds.size === 0) return [...nodes];
  const memo = new Map<string, ReadonlySet<string>>();
  const visiting = new Set<string>();
  const needs = (id: string): ReadonlySet<string> => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id);
    if (n === undefined || visiting.has(id)) return new Set();
    visiting.add(id);
    const out = new Set<string>();
    for (const d of n.deps) {
      if (d === id) continue;
      if (nativeIds.has(d)) out.add(d);
      for (const x of needs(d)) out.add(x);
    }
    visiting.delete(id);
    memo.set(id, out);
    return out;
  };
  return nodes.map((n) => {
    const ids = [...needs(n.id)].filter((x) => x !== n.id).sort();
    // The comment on a native function needs the function itself.
    const own = nativeIds.has(n.id) ? [n.id] : [];
    if (ids.length === 0 && own.length === 0) return n;
    return {
      ...n,
      statements: n.statements.map((x) => {
        const all = x.native !== undefined || x.superuserOnly === true ? ids : [...own, ...ids];
        return all.length > 0 ? { ...x, needsNative: all } : x;
      }),
    };
  });
}

/**
 * Kahn's algorithm; among ready nodes the lowest rank, then the earliest planned, goes first.
 * O((n + edges) log n), so schemas with tens of thousands of objects plan quickly.
 */
function orderNodes(nodes: readonly Node[]): DdlStatement[] {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const waiting = nodes.map(() => 0);
  const dependents = nodes.map((): number[] => []);
  nodes.forEach((n, i) => {
    for (const d of new Set(n.deps)) {
      const j = index.get(d);
      if (j === undefined || j === i) continue;
      waiting[i]!++;
      dependents[j]!.push(i);
    }
  });
  const before = (a: number, b: number): boolean =>
    nodes[a]!.rank < nodes[b]!.rank || (nodes[a]!.rank === nodes[b]!.rank && a < b);
  const heap: number[] = [];
  // Not a destructuring swap: that allocates an array per step until the optimiser removes it
  // (~20 MB at 10,000 tables, in the heap profile of W1-M).
  const swap = (a: number, b: number): void => {
    const t = heap[a]!;
    heap[a] = heap[b]!;
    heap[b] = t;
  };
  const push = (i: number): void => {
    heap.push(i);
    for (let k = heap.length - 1; k > 0;) {
      const p = (k - 1) >> 1;
      if (!before(heap[k]!, heap[p]!)) break;
      swap(k, p);
      k = p;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let k = 0; ;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === k) break;
        swap(k, m);
        k = m;
      }
    }
    return top;
  };
  nodes.forEach((_, i) => {
    if (waiting[i] === 0) push(i);
  });
  const emitted = nodes.map(() => false);
  const out: DdlStatement[] = [];
  let count = 0;
  while (count < nodes.length) {
    let i: number;
    if (heap.length > 0) {
      i = pop();
    } else {
      // A dependency cycle (rare: a function whose signature uses a table whose default calls it):
      // take the lowest-ranked node left and let the server report what it cannot resolve.
      i = -1;
      for (let k = 0; k < nodes.length; k++) if (!emitted[k] && (i < 0 || before(k, i))) i = k;
      waiting[i] = 0;
    }
    if (emitted[i]) continue;
    emitted[i] = true;
    count++;
    out.push(...nodes[i]!.statements);
    for (const j of dependents[i]!) {
      if (emitted[j]) continue;
      waiting[j]!--;
      if (waiting[j] === 0) push(j);
    }
  }
  return out;
}

/** `INCREMENT BY ... NO CYCLE`: the parameters of CREATE / ALTER SEQUENCE (without AS). */
export function sequenceOptionsSql(o: SequenceOptions): string {
  return `INCREMENT BY ${o.increment} MINVALUE ${o.min} MAXVALUE ${o.max} START WITH ${o.start} CACHE ${o.cache} ${o.cycle ? 'CYCLE' : 'NO CYCLE'}`;
}

function identitySql(i: ColumnIdentity): string {
  return `GENERATED ${i.generation === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY (SEQUENCE NAME ${quoteQualified(i.sequence)} ${sequenceOptionsSql(i.options)})`;
}

function columnSql(c: ColumnDef): string {
  let s = `${quoteIdent(c.name)} ${c.type}`;
  if (c.collation) s += ` COLLATE ${quoteQualified(c.collation)}`;
  if (c.generated !== undefined) s += ` GENERATED ALWAYS AS (${c.generated}) STORED`;
  if (c.default !== undefined) s += ` DEFAULT ${c.default}`;
  if (c.notNull) s += ' NOT NULL';
  if (c.identity) s += ` ${identitySql(c.identity)}`;
  return s;
}

function createTableSql(t: TableDef, parent: TableDef | undefined): string {
  const head = `CREATE ${t.unlogged ? 'UNLOGGED ' : ''}TABLE ${quoteQualified(t)}`;
  const options = [...t.options, ...(t.toastOptions ?? []).map((o) => `toast.${o}`)];
  const tail = `${t.partitionBy !== undefined ? ` PARTITION BY ${t.partitionBy}` : ''}${options.length > 0 ? ` WITH (${options.join(', ')})` : ''}`;
  if (t.partitionOf && parent) {
    return `${head} PARTITION OF ${quoteQualified(t.partitionOf.parent)} ${t.partitionOf.bound}${tail}`;
  }
  if (t.ofType !== undefined) return typedTableSql(t, head, tail);
  const inherits = t.inherits !== undefined && t.inherits.length > 0;
  const items = [
    // INHERITS brings the parents' columns and CHECK constraints: only the table's own are listed.
    ...t.columns.filter((c) => !inherits || c.inherited !== true).map(columnSql),
    ...t.constraints
      .filter((c) => c.kind === 'check' && !isNotValid(c.definition) && !(inherits && c.inherited))
      .map((c) => `CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`),
  ];
  const inh = inherits ? ` INHERITS (${t.inherits.map(quoteQualified).join(', ')})` : '';
  return `${head} (${items.length > 0 ? `\n    ${items.join(',\n    ')}\n` : ''})${inh}${tail}`;
}

/**
 * `CREATE TABLE ... OF type (col WITH OPTIONS ..., CONSTRAINT ...)`: the columns come from the type,
 * the table adds defaults, NOT NULL, identity and CHECK constraints. PostgreSQL docs, CREATE TABLE.
 */
function typedTableSql(t: TableDef, head: string, tail: string): string {
  const items: string[] = [];
  for (const c of t.columns) {
    let s = '';
    if (c.generated !== undefined) s += ` GENERATED ALWAYS AS (${c.generated}) STORED`;
    if (c.default !== undefined) s += ` DEFAULT ${c.default}`;
    if (c.notNull) s += ' NOT NULL';
    if (c.identity) s += ` ${identitySql(c.identity)}`;
    if (s !== '') items.push(`${quoteIdent(c.name)} WITH OPTIONS${s}`);
  }
  for (const c of t.constraints.filter((x) => x.kind === 'check' && !isNotValid(x.definition))) {
    items.push(`CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`);
  }
  const list = items.length > 0 ? ` (\n    ${items.join(',\n    ')}\n)` : '';
  return `${head} OF ${quoteQualified(t.ofType!)}${list}${tail}`;
}

/** `name type [COLLATE c]`: an attribute of CREATE TYPE ... AS (...) or ALTER TYPE ... ADD ATTRIBUTE. */
export function compositeAttributeSql(a: CompositeAttribute): string {
  return `${quoteIdent(a.name)} ${a.type}${a.collation ? ` COLLATE ${quoteQualified(a.collation)}` : ''}`;
}

function typeSql(t: TypeDef): string {
  const q = quoteQualified(t);
  switch (t.kind) {
    case 'enum':
      return `CREATE TYPE ${q} AS ENUM (${t.labels.map(quoteLiteral).join(', ')})`;
    case 'composite':
      return `CREATE TYPE ${q} AS (${t.attributes.map(compositeAttributeSql).join(', ')})`;
    case 'range': {
      const opts = [`SUBTYPE = ${t.subtype}`];
      if (t.subtypeOpclass !== undefined) opts.push(`SUBTYPE_OPCLASS = ${t.subtypeOpclass}`);
      if (t.collation) opts.push(`COLLATION = ${quoteQualified(t.collation)}`);
      if (t.canonical !== undefined) opts.push(`CANONICAL = ${t.canonical}`);
      if (t.subtypeDiff !== undefined) opts.push(`SUBTYPE_DIFF = ${t.subtypeDiff}`);
      if (t.multirangeName) opts.push(`MULTIRANGE_TYPE_NAME = ${quoteQualified(t.multirangeName)}`);
      return `CREATE TYPE ${q} AS RANGE (${opts.join(', ')})`;
    }
    case 'domain': {
      let s = `CREATE DOMAIN ${q} AS ${t.baseType}`;
      if (t.collation) s += ` COLLATE ${quoteQualified(t.collation)}`;
      if (t.default !== undefined) s += ` DEFAULT ${t.default}`;
      if (t.notNull) s += ' NOT NULL';
      for (const c of t.constraints.filter((x) => !isNotValid(x.definition))) {
        s += ` CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`;
      }
      return s;
    }
    case 'base':
      return baseTypeSql(t);
  }
}

const ALIGNMENT_SQL = { char: 'char', int2: 'int2', int4: 'int4', double: 'double' } as const;

/**
 * `CREATE TYPE name (INPUT = ..., ...)` of a base type, over its shell type: the options pg_dump's
 * dumpBaseType writes, each only when not CREATE TYPE's default (PostgreSQL docs, "CREATE TYPE",
 * base types). SUBSCRIPT exists from PostgreSQL 14: a 13 destination warns and ignores it.
 */
export function baseTypeSql(t: BaseTypeDef): string {
  const o = [
    `INTERNALLENGTH = ${t.internalLength === -1 ? 'variable' : String(t.internalLength)}`,
    `INPUT = ${t.input}`,
    `OUTPUT = ${t.output}`,
  ];
  if (t.receive !== undefined) o.push(`RECEIVE = ${t.receive}`);
  if (t.send !== undefined) o.push(`SEND = ${t.send}`);
  if (t.typmodIn !== undefined) o.push(`TYPMOD_IN = ${t.typmodIn}`);
  if (t.typmodOut !== undefined) o.push(`TYPMOD_OUT = ${t.typmodOut}`);
  if (t.analyze !== undefined) o.push(`ANALYZE = ${t.analyze}`);
  if (t.subscript !== undefined) o.push(`SUBSCRIPT = ${t.subscript}`);
  if (t.collatable) o.push('COLLATABLE = true');
  if (t.default !== undefined) o.push(`DEFAULT = ${quoteLiteral(t.default)}`);
  if (t.element !== undefined) o.push(`ELEMENT = ${t.element}`);
  if (t.category !== 'U') o.push(`CATEGORY = ${quoteLiteral(t.category)}`);
  if (t.preferred) o.push('PREFERRED = true');
  if (t.delimiter !== ',') o.push(`DELIMITER = ${quoteLiteral(t.delimiter)}`);
  o.push(`ALIGNMENT = ${ALIGNMENT_SQL[t.alignment]}`, `STORAGE = ${t.storage}`);
  if (t.passedByValue) o.push('PASSEDBYVALUE');
  return `CREATE TYPE ${quoteQualified(t)} (\n    ${o.join(',\n    ')}\n)`;
}

/**
 * Operators, operator families (with their loose members) and classes, and casts: each one node
 * after what it references (functions, types, the operators and functions of a family's members),
 * before tables, views and indexes using them.
 */
function planObjectKinds(
  model: SchemaModel,
  node: (id: string, rank: number, deps: readonly string[], statements: DdlStatement[]) => void,
  st: (id: string, kind: DdlKind, object: string, sql: string) => DdlStatement,
  comment: (id: string, target: string, object: string, text: string | undefined) => DdlStatement[],
  schemaId: (s: string) => string,
): void {
  for (const o of model.operators) {
    const id = refKey({ kind: 'operator', schema: o.schema, name: o.signature });
    const head = `${quoteIdent(o.schema)}.${o.name} (${o.left ?? 'NONE'}, ${o.right ?? 'NONE'})`;
    const obj = `operator ${head}`;
    node(
      id,
      RANK.routine,
      [schemaId(o.schema), ...o.dependsOn.map(refKey)],
      [st(id, 'operator', obj, operatorSql(o)), ...comment(id, `OPERATOR ${head}`, obj, o.comment)],
    );
  }
  for (const f of model.operatorFamilies) {
    const id = refKey({ kind: 'operator-family', schema: f.schema, name: operatorClassRefName(f) });
    const target = `OPERATOR FAMILY ${quoteQualified(f)} USING ${quoteIdent(f.method)}`;
    const obj = `operator family ${quoteQualified(f)} using ${f.method}`;
    // One statement per loose member: a re-run skips those already added (duplicate_object).
    const members = [
      ...f.operators.map((m) => `ADD OPERATOR ${memberOperatorSql(m)}`),
      ...f.functions.map((m) => `ADD FUNCTION ${memberFunctionSql(m)}`),
    ].map((add, i) => st(`${id}:member:${i}`, 'operator-family', obj, `ALTER ${target} ${add}`));
    node(
      id,
      RANK.routine,
      [schemaId(f.schema), ...f.dependsOn.map(refKey)],
      [
        st(id, 'operator-family', obj, `CREATE ${target}`),
        ...members,
        ...comment(id, target, obj, f.comment),
      ],
    );
  }
  for (const c of model.operatorClasses) {
    const id = refKey({ kind: 'operator-class', schema: c.schema, name: operatorClassRefName(c) });
    const target = `OPERATOR CLASS ${quoteQualified(c)} USING ${quoteIdent(c.method)}`;
    const obj = `operator class ${quoteQualified(c)} using ${c.method}`;
    node(
      id,
      RANK.routine,
      [schemaId(c.schema), ...c.dependsOn.map(refKey)],
      [st(id, 'operator-class', obj, operatorClassSql(c)), ...comment(id, target, obj, c.comment)],
    );
  }
  for (const c of model.casts) {
    const id = `cast:${c.source}\u0000${c.target}`;
    const head = `(${c.source} AS ${c.target})`;
    const obj = `cast ${head}`;
    node(id, RANK.routine, c.dependsOn.map(refKey), [
      st(id, 'cast', obj, castSql(c)),
      ...comment(id, `CAST ${head}`, obj, c.comment),
    ]);
  }
}

/**
 * Conversions, text search dictionaries and configurations (each mapping its own statement, skipped
 * on a re-run when the token type already has a mapping). Before views and tables that use them.
 */
function planTextObjects(
  model: SchemaModel,
  node: (id: string, rank: number, deps: readonly string[], statements: DdlStatement[]) => void,
  st: (id: string, kind: DdlKind, object: string, sql: string) => DdlStatement,
  comment: (id: string, target: string, object: string, text: string | undefined) => DdlStatement[],
  schemaId: (s: string) => string,
): void {
  for (const c of model.conversions) {
    const id = `conversion:${c.schema}\u0000${c.name}`;
    const q = quoteQualified(c);
    const obj = `conversion ${q}`;
    const sql = `CREATE ${c.default ? 'DEFAULT ' : ''}CONVERSION ${q} FOR ${quoteLiteral(c.source)} TO ${quoteLiteral(c.target)} FROM ${c.function}`;
    node(
      id,
      RANK.routine,
      [schemaId(c.schema), ...c.dependsOn.map(refKey)],
      [st(id, 'conversion', obj, sql), ...comment(id, `CONVERSION ${q}`, obj, c.comment)],
    );
  }
  const templateId = (t: QualifiedName): string => `text-search-template:${t.schema}\u0000${t.name}`;
  const parserId = (p: QualifiedName): string => `text-search-parser:${p.schema}\u0000${p.name}`;
  // An existing parser or template fails with unique_violation, not duplicate_object: skipIf.
  const exists = (catalog: string, nsCol: string, nameCol: string, o: QualifiedName): string =>
    `SELECT 1 FROM pg_catalog.${catalog} x JOIN pg_catalog.pg_namespace n ON n.oid = x.${nsCol} WHERE n.nspname = ${quoteLiteral(o.schema)} AND x.${nameCol} = ${quoteLiteral(o.name)}`;
  for (const p of model.textSearchParsers) {
    const id = parserId(p);
    const q = quoteQualified(p);
    const obj = `text search parser ${q}`;
    const opts = [
      `START = ${p.start}`,
      `GETTOKEN = ${p.getToken}`,
      `END = ${p.end}`,
      `LEXTYPES = ${p.lexTypes}`,
      ...(p.headline !== undefined ? [`HEADLINE = ${p.headline}`] : []),
    ];
    node(
      id,
      RANK.routine,
      [schemaId(p.schema), ...p.dependsOn.map(refKey)],
      [
        {
          ...st(id, 'text-search', obj, `CREATE TEXT SEARCH PARSER ${q} (${opts.join(', ')})`),
          skipIf: exists('pg_ts_parser', 'prsnamespace', 'prsname', p),
          superuserOnly: true,
        },
        ...comment(id, `TEXT SEARCH PARSER ${q}`, obj, p.comment),
      ],
    );
  }
  for (const t of model.textSearchTemplates) {
    const id = templateId(t);
    const q = quoteQualified(t);
    const obj = `text search template ${q}`;
    const opts = [...(t.init !== undefined ? [`INIT = ${t.init}`] : []), `LEXIZE = ${t.lexize}`];
    node(
      id,
      RANK.routine,
      [schemaId(t.schema), ...t.dependsOn.map(refKey)],
      [
        {
          ...st(id, 'text-search', obj, `CREATE TEXT SEARCH TEMPLATE ${q} (${opts.join(', ')})`),
          skipIf: exists('pg_ts_template', 'tmplnamespace', 'tmplname', t),
          superuserOnly: true,
        },
        ...comment(id, `TEXT SEARCH TEMPLATE ${q}`, obj, t.comment),
      ],
    );
  }
  const dictId = (d: QualifiedName): string => `text-search-dictionary:${d.schema}\u0000${d.name}`;
  for (const d of model.textSearchDictionaries) {
    const id = dictId(d);
    const q = quoteQualified(d);
    const obj = `text search dictionary ${q}`;
    const opts = [
      `TEMPLATE = ${quoteQualified(d.template)}`,
      ...(d.options !== undefined ? [d.options] : []),
    ];
    node(
      id,
      RANK.routine,
      [schemaId(d.schema), templateId(d.template)],
      [
        {
          ...st(id, 'text-search', obj, `CREATE TEXT SEARCH DICTIONARY ${q} (${opts.join(', ')})`),
          // An existing dictionary or configuration fails with unique_violation, not duplicate_object.
          skipIf: `SELECT 1 FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_namespace n ON n.oid = d.dictnamespace WHERE n.nspname = ${quoteLiteral(d.schema)} AND d.dictname = ${quoteLiteral(d.name)}`,
        },
        ...comment(id, `TEXT SEARCH DICTIONARY ${q}`, obj, d.comment),
      ],
    );
  }
  for (const c of model.textSearchConfigurations) {
    const id = `text-search-configuration:${c.schema}\u0000${c.name}`;
    const q = quoteQualified(c);
    const obj = `text search configuration ${q}`;
    const maps = c.mappings.map((m) => ({
      ...st(
        `${id}:${m.token}`,
        'text-search',
        obj,
        `ALTER TEXT SEARCH CONFIGURATION ${q} ADD MAPPING FOR ${quoteIdent(m.token)} WITH ${m.dictionaries.map(quoteQualified).join(', ')}`,
      ),
      // ADD MAPPING of a token type already mapped fails with unique_violation, not duplicate_object.
      skipIf: `SELECT 1 FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace JOIN pg_catalog.pg_ts_config_map m ON m.mapcfg = c.oid JOIN pg_catalog.ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype WHERE n.nspname = ${quoteLiteral(c.schema)} AND c.cfgname = ${quoteLiteral(c.name)} AND t.alias = ${quoteLiteral(m.token)}`,
    }));
    node(
      id,
      RANK.routine,
      [schemaId(c.schema), parserId(c.parser), ...c.mappings.flatMap((m) => m.dictionaries.map(dictId))],
      [
        {
          ...st(
            id,
            'text-search',
            obj,
            `CREATE TEXT SEARCH CONFIGURATION ${q} (PARSER = ${quoteQualified(c.parser)})`,
          ),
          skipIf: `SELECT 1 FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace WHERE n.nspname = ${quoteLiteral(c.schema)} AND c.cfgname = ${quoteLiteral(c.name)}`,
        },
        ...maps,
        ...comment(id, `TEXT SEARCH CONFIGURATION ${q}`, obj, c.comment),
      ],
    );
  }
}

/** `CREATE COLLATION` (PostgreSQL docs, "CREATE COLLATION"). */
export function collationSql(c: CollationDef): string {
  const opts = [`provider = ${c.provider}`];
  if (c.provider === 'libc') {
    opts.push(
      `lc_collate = ${quoteLiteral(c.lcCollate ?? '')}`,
      `lc_ctype = ${quoteLiteral(c.lcCtype ?? '')}`,
    );
  } else {
    opts.push(`locale = ${quoteLiteral(c.locale ?? '')}`);
  }
  if (!c.deterministic) opts.push('deterministic = false');
  if (c.rules !== undefined) opts.push(`rules = ${quoteLiteral(c.rules)}`);
  return `CREATE COLLATION ${quoteQualified(c)} (${opts.join(', ')})`;
}

/** `OPERATOR(schema.op)`, as options of CREATE OPERATOR and CREATE AGGREGATE take it. */
function operatorRef(q: QualifiedName): string {
  return `OPERATOR(${quoteIdent(q.schema)}.${q.name})`;
}

/** `CREATE OPERATOR` (PostgreSQL docs, "CREATE OPERATOR"). */
export function operatorSql(o: OperatorDef): string {
  const opts = [`FUNCTION = ${o.function}`];
  if (o.left !== undefined) opts.push(`LEFTARG = ${o.left}`);
  if (o.right !== undefined) opts.push(`RIGHTARG = ${o.right}`);
  if (o.commutator) opts.push(`COMMUTATOR = ${operatorRef(o.commutator)}`);
  if (o.negator) opts.push(`NEGATOR = ${operatorRef(o.negator)}`);
  if (o.restrict !== undefined) opts.push(`RESTRICT = ${o.restrict}`);
  if (o.join !== undefined) opts.push(`JOIN = ${o.join}`);
  if (o.hashes) opts.push('HASHES');
  if (o.merges) opts.push('MERGES');
  return `CREATE OPERATOR ${quoteIdent(o.schema)}.${o.name} (${opts.join(', ')})`;
}

function memberOperatorSql(m: OperatorMember): string {
  const purpose = m.orderBy ? ` FOR ORDER BY ${quoteQualified(m.orderBy)}` : '';
  return `${m.strategy} ${quoteIdent(m.operator.schema)}.${m.operator.name}(${m.left}, ${m.right})${purpose}`;
}

function memberFunctionSql(m: FunctionMember): string {
  return `${m.number} (${m.left}, ${m.right}) ${m.function}`;
}

/** `CREATE OPERATOR CLASS ... FAMILY ... AS ...` (PostgreSQL docs, "CREATE OPERATOR CLASS"). */
export function operatorClassSql(c: OperatorClassDef): string {
  const items = [
    ...c.operators.map((m) => `OPERATOR ${memberOperatorSql(m)}`),
    ...c.functions.map((m) => `FUNCTION ${memberFunctionSql(m)}`),
  ];
  if (c.storage !== undefined || items.length === 0) items.push(`STORAGE ${c.storage ?? c.type}`);
  return `CREATE OPERATOR CLASS ${quoteQualified(c)}${c.default ? ' DEFAULT' : ''} FOR TYPE ${c.type} USING ${quoteIdent(c.method)} FAMILY ${quoteQualified(c.family)} AS\n    ${items.join(',\n    ')}`;
}

/** `CREATE CAST` (PostgreSQL docs, "CREATE CAST"). */
export function castSql(c: CastDef): string {
  const how =
    c.method === 'function'
      ? `WITH FUNCTION ${c.function ?? ''}`
      : c.method === 'inout'
        ? 'WITH INOUT'
        : 'WITHOUT FUNCTION';
  const context =
    c.context === 'assignment' ? ' AS ASSIGNMENT' : c.context === 'implicit' ? ' AS IMPLICIT' : '';
  return `CREATE CAST (${c.source} AS ${c.target}) ${how}${context}`;
}

const MODIFY_SQL = { 'read-only': 'READ_ONLY', shareable: 'SHAREABLE', 'read-write': 'READ_WRITE' } as const;

/**
 * `CREATE AGGREGATE name (args) (SFUNC = ..., STYPE = ..., ...)` of an aggregate (PostgreSQL docs,
 * "CREATE AGGREGATE"): the ordered-set form when `args` holds `ORDER BY`, `HYPOTHETICAL` for a
 * hypothetical-set aggregate, the moving-aggregate options when it has a moving mode.
 */
export function aggregateSql(a: AggregateDef): string {
  const o = [`SFUNC = ${a.stateFunction}`, `STYPE = ${a.stateType}`];
  if (a.stateSpace !== undefined) o.push(`SSPACE = ${a.stateSpace}`);
  if (a.finalFunction !== undefined) {
    o.push(`FINALFUNC = ${a.finalFunction}`);
    if (a.finalExtra) o.push('FINALFUNC_EXTRA');
    o.push(`FINALFUNC_MODIFY = ${MODIFY_SQL[a.finalModify]}`);
  }
  if (a.combineFunction !== undefined) o.push(`COMBINEFUNC = ${a.combineFunction}`);
  if (a.serialFunction !== undefined) o.push(`SERIALFUNC = ${a.serialFunction}`);
  if (a.deserialFunction !== undefined) o.push(`DESERIALFUNC = ${a.deserialFunction}`);
  if (a.initialCondition !== undefined) o.push(`INITCOND = ${quoteLiteral(a.initialCondition)}`);
  const m = a.moving;
  if (m !== undefined) {
    o.push(`MSFUNC = ${m.stateFunction}`, `MINVFUNC = ${m.inverseFunction}`, `MSTYPE = ${m.stateType}`);
    if (m.stateSpace !== undefined) o.push(`MSSPACE = ${m.stateSpace}`);
    if (m.finalFunction !== undefined) {
      o.push(`MFINALFUNC = ${m.finalFunction}`);
      if (m.finalExtra) o.push('MFINALFUNC_EXTRA');
      o.push(`MFINALFUNC_MODIFY = ${MODIFY_SQL[m.finalModify]}`);
    }
    if (m.initialCondition !== undefined) o.push(`MINITCOND = ${quoteLiteral(m.initialCondition)}`);
  }
  if (a.sortOperator !== undefined) {
    o.push(`SORTOP = OPERATOR(${quoteIdent(a.sortOperator.schema)}.${a.sortOperator.name})`);
  }
  if (a.parallel !== 'unsafe') o.push(`PARALLEL = ${a.parallel.toUpperCase()}`);
  if (a.aggregateKind === 'hypothetical-set') o.push('HYPOTHETICAL');
  return `CREATE AGGREGATE ${quoteQualified(a)} (${a.arguments === '' ? '*' : a.arguments}) (\n    ${o.join(',\n    ')}\n)`;
}

function viewSql(v: ViewDef): string {
  const q = quoteQualified(v);
  const withOpts = v.options.length > 0 ? ` WITH (${v.options.join(', ')})` : '';
  return v.kind === 'view'
    ? `CREATE VIEW ${q}${withOpts} AS\n${v.query}`
    : `CREATE MATERIALIZED VIEW ${q}${withOpts} AS\n${v.query}\nWITH NO DATA`;
}
