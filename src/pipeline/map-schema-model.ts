/**
 * Schema sync under a name mapping: rewrites the source {@link SchemaModel} into the model of what
 * the destination should hold — renamed schemas, tables and columns, left-out columns, merged tables —
 * before the sink plans DDL from it. Pure and sans I/O.
 *
 * Names in structured fields are mapped directly; names inside SQL text are rewritten token by token
 * (see rewrite-sql-names.ts). Where a rewrite cannot be shown to be right, the object is reported as
 * a {@link SchemaMappingProblem} instead of guessed: an `error` when the destination would otherwise
 * hold something wrong (the run refuses), a `warning` when the object is left out or changed in a way
 * an operator should know (a CHECK on a left-out column is not created).
 *
 * Where objects go: see schema-name-map.ts. Merged tables (`mergeInto`) are created once, from the
 * first source table of the merge in the targets' order; the other sources' tables, with their
 * indexes, constraints, triggers and owned sequences, are not created.
 */
import {
  displayName,
  parseIdentifierPath,
  quoteIdent,
  quoteLiteral,
  type QualifiedName,
} from '../core/identifier.ts';
import {
  refKey,
  type AggregateDef,
  type CastDef,
  type ColumnDef,
  type FunctionMember,
  type OperatorClassDef,
  type OperatorDef,
  type OperatorFamilyDef,
  type OperatorMember,
  type ForeignKeyDef,
  type IndexDef,
  type ObjectRef,
  type PolicyDef,
  type RoutineDef,
  type RuleDef,
  type SchemaDef,
  type SchemaModel,
  type SequenceDef,
  type StatisticsDef,
  type TableConstraintDef,
  type TableDef,
  type TriggerDef,
  type TypeDef,
  type ViewDef,
} from '../core/schema-model.ts';
import { isSignificant, lexSql, type SqlToken } from '../core/sql-lexer.ts';
import type { TableTarget } from '../core/table-targets.ts';
import type { TaskConfig } from '../core/task-config.ts';
import {
  rewriteSqlNames,
  type ColumnRenames,
  type RewriteOptions,
  type RewriteResult,
} from './rewrite-sql-names.ts';
import { buildSchemaNameMap, type SchemaNameMap } from './schema-name-map.ts';

/** The kind of object a mapping problem is about. */
export type SchemaObjectKind =
  | 'schema'
  | 'type'
  | 'sequence'
  | 'table'
  | 'column'
  | 'constraint'
  | 'foreign-key'
  | 'index'
  | 'view'
  | 'materialized-view'
  | 'function'
  | 'procedure'
  | 'trigger'
  | 'aggregate'
  | 'operator'
  | 'operator-family'
  | 'operator-class'
  | 'cast'
  | 'conversion'
  | 'text-search-parser'
  | 'text-search-template'
  | 'policy'
  | 'rule'
  | 'statistics';

/**
 * An object the mapping cannot carry over as it is. `error`: the destination would hold something
 * wrong or nothing usable (schema sync refuses the task); `warning`: the object is left out or
 * changed (schema sync goes on and says so).
 */
export interface SchemaMappingProblem {
  readonly level: 'error' | 'warning';
  readonly kind: SchemaObjectKind;
  /**
   * The source object: its schema and name; for a routine or aggregate the name is its signature; for a column,
   * constraint, foreign key or trigger, its own name in the schema of {@link table}.
   */
  readonly name: QualifiedName;
  /** The source table a column, constraint, foreign key, index or trigger belongs to. */
  readonly table: QualifiedName | undefined;
  /** Why, in one sentence: what it refers to and what to do. */
  readonly reason: string;
}

/** The destination's model and what could not be mapped. */
export interface MappedSchema {
  readonly model: SchemaModel;
  readonly problems: readonly SchemaMappingProblem[];
}

/** One line for a problem, e.g. `check constraint orders_qty_check on app.orders: ...`. */
export function describeSchemaMappingProblem(p: SchemaMappingProblem): string {
  const what = p.kind.replaceAll('-', ' ');
  const name =
    p.table !== undefined
      ? `${p.name.name} ${p.kind === 'column' ? 'of' : 'on'} ${displayName(p.table)}`
      : displayName(p.name);
  return `${what} ${name}: ${p.reason}`;
}

type Subject = Pick<SchemaMappingProblem, 'kind' | 'name' | 'table'>;

const key = (q: QualifiedName): string => `${q.schema}\u0000${q.name}`;

/**
 * Maps `model` (as read from the source) onto the destination names of `task`'s mapping, given the
 * planned `targets` of its tables. A mapping that renames nothing returns `model` itself.
 * @returns the destination model (lists sorted as the source connector sorts them) and the problems.
 */
export function mapSchemaModel(
  model: SchemaModel,
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  targets: readonly TableTarget[],
): MappedSchema {
  const names = buildSchemaNameMap(model, task, targets);
  if (names.identity) return { model, problems: [] };
  return new ModelMapper(model, task, names).map();
}

/**
 * Could `task` rename anything: a schema or table `as`, column options, mapping rules, or a target
 * whose destination table differs from its source? Cheap (no model needed): the schema-mapping
 * precheck runs only then; otherwise {@link mapSchemaModel} would return the model as it is.
 */
export function needsSchemaMapping(
  task: Pick<TaskConfig, 'objects' | 'mapping'>,
  targets: readonly TableTarget[],
): boolean {
  return (
    task.mapping.length > 0 ||
    task.objects.some(
      (o) =>
        o.as !== undefined ||
        (o.kind === 'table' && (o.columns !== undefined || o.excludeColumns !== undefined)),
    ) ||
    targets.some((t) => t.table.schema !== t.source.schema || t.table.name !== t.source.name)
  );
}

class ModelMapper {
  readonly problems: SchemaMappingProblem[] = [];
  /** Source keys of indexes and index-backed constraints left out. */
  readonly dropped = new Set<string>();

  constructor(
    readonly model: SchemaModel,
    readonly task: Pick<TaskConfig, 'objects' | 'mapping'>,
    readonly names: SchemaNameMap,
  ) {}

  map(): MappedSchema {
    const { model, names } = this;
    const types = model.types.map((t) => this.type(t));
    const sequences = model.sequences.flatMap((s) => this.sequence(s));
    // Indexes and constraints first: which are left out decides attachments and replica identity.
    const indexes = model.indexes.flatMap((i) => this.index(i));
    const tables = model.tables.flatMap((t) => this.table(t));
    const views = model.views.map((v) => this.view(v));
    const routines = model.routines.map((r) => this.routine(r));
    const triggers = model.triggers.flatMap((t) => this.trigger(t));
    const policies = (model.policies ?? []).flatMap((p) => this.policy(p));
    const rules = (model.rules ?? []).flatMap((r) => this.rule(r));
    const statistics = (model.statistics ?? []).flatMap((x) => this.statisticsObject(x));
    const extensions = model.extensions.map((e) => ({ ...e, schema: names.schema(e.schema) }));
    const aggregates = model.aggregates.map((a) => this.aggregate(a));
    const operators = model.operators.map((o) => this.operator(o));
    const operatorFamilies = model.operatorFamilies.map((f) => this.operatorFamily(f));
    const operatorClasses = model.operatorClasses.map((c) => this.operatorClass(c));
    const casts = model.casts.map((c) => this.cast(c));
    const collations = model.collations.map((c) => ({ ...c, schema: names.schema(c.schema) }));
    const conversions = model.conversions.map((c) => ({
      ...c,
      schema: names.schema(c.schema),
      function: this.text(c.function, { kind: 'conversion', name: c, table: undefined }),
      dependsOn: this.refs(c.dependsOn),
    }));
    const textSearchDictionaries = model.textSearchDictionaries.map((d) => ({
      ...d,
      schema: names.schema(d.schema),
      template: this.inSchema(d.template),
    }));
    const textSearchConfigurations = model.textSearchConfigurations.map((c) => ({
      ...c,
      schema: names.schema(c.schema),
      parser: this.inSchema(c.parser),
      mappings: c.mappings.map((m) => ({ ...m, dictionaries: m.dictionaries.map((d) => this.inSchema(d)) })),
    }));
    const textSearchParsers = model.textSearchParsers.map((x) => {
      const sub: Subject = { kind: 'text-search-parser', name: x, table: undefined };
      return {
        ...x,
        schema: names.schema(x.schema),
        start: this.text(x.start, sub),
        getToken: this.text(x.getToken, sub),
        end: this.text(x.end, sub),
        lexTypes: this.text(x.lexTypes, sub),
        headline: this.text(x.headline, sub),
        dependsOn: this.refs(x.dependsOn),
      };
    });
    const textSearchTemplates = model.textSearchTemplates.map((x) => {
      const sub: Subject = { kind: 'text-search-template', name: x, table: undefined };
      return {
        ...x,
        schema: names.schema(x.schema),
        init: this.text(x.init, sub),
        lexize: this.text(x.lexize, sub),
        dependsOn: this.refs(x.dependsOn),
      };
    });
    const refused = model.refused.map((r) => ({ ...r, schema: names.schema(r.schema) }));
    const out: SchemaModel = {
      schemas: this.schemas([
        ...types,
        ...sequences,
        ...tables,
        ...views,
        ...routines,
        ...aggregates,
        ...operators,
        ...operatorFamilies,
        ...operatorClasses,
        ...collations,
        ...conversions,
        ...textSearchDictionaries,
        ...textSearchConfigurations,
        ...textSearchParsers,
        ...textSearchTemplates,
      ]),
      extensions,
      types: types.sort(byName),
      sequences: sequences.sort(byName),
      tables: tables.map((t) => this.fixAttachments(t)).sort(byName),
      indexes: indexes
        .map((i) =>
          i.parentIndex && this.droppedDest.has(key(i.parentIndex)) ? { ...i, parentIndex: undefined } : i,
        )
        .sort(byName),
      views: views.sort(byName),
      routines: routines.sort((a, b) => cmp(a.schema, b.schema) || cmp(a.signature, b.signature)),
      triggers: triggers.sort(
        (a, b) =>
          cmp(a.table.schema, b.table.schema) || cmp(a.table.name, b.table.name) || cmp(a.name, b.name),
      ),
      aggregates: aggregates.sort((a, b) => cmp(a.schema, b.schema) || cmp(a.signature, b.signature)),
      operators: operators.sort((a, b) => cmp(a.schema, b.schema) || cmp(a.signature, b.signature)),
      operatorFamilies: operatorFamilies.sort((a, b) => byName(a, b) || cmp(a.method, b.method)),
      operatorClasses: operatorClasses.sort((a, b) => byName(a, b) || cmp(a.method, b.method)),
      casts: casts.sort((a, b) => cmp(a.source, b.source) || cmp(a.target, b.target)),
      collations: collations.sort(byName),
      conversions: conversions.sort(byName),
      textSearchDictionaries: textSearchDictionaries.sort(byName),
      textSearchConfigurations: textSearchConfigurations.sort(byName),
      textSearchParsers: textSearchParsers.sort(byName),
      textSearchTemplates: textSearchTemplates.sort(byName),
      refused: refused.sort(byName),
      ...(model.policies !== undefined ? { policies: policies.sort(byTableAndName) } : {}),
      ...(model.rules !== undefined ? { rules: rules.sort(byTableAndName) } : {}),
      ...(model.statistics !== undefined ? { statistics: statistics.sort(byName) } : {}),
      ...(model.defaultPrivileges !== undefined
        ? {
            defaultPrivileges: model.defaultPrivileges
              .map((d) => ({ ...d, schema: names.schema(d.schema) }))
              .sort((a, b) => cmp(a.schema, b.schema) || cmp(a.role, b.role) || cmp(a.objects, b.objects)),
          }
        : {}),
      ...(model.roles !== undefined ? { roles: model.roles } : {}),
    };
    this.collisions();
    return { model: out, problems: this.problems };
  }

  /** Destination keys of left-out indexes and constraints (attachments to them are dropped). */
  readonly droppedDest = new Set<string>();

  report(s: Subject, level: SchemaMappingProblem['level'], reason: string): void {
    const p: SchemaMappingProblem = { ...s, level, reason };
    const k = `${p.level}\u0000${describeSchemaMappingProblem(p)}`;
    if (this.reported.has(k)) return;
    this.reported.add(k);
    this.problems.push(p);
  }

  readonly reported = new Set<string>();

  /** Rewrites `text`, reporting what cannot be read or resolved; undefined when it cannot be read. */
  rewrite(
    text: string,
    s: Subject,
    o: RewriteOptions = {},
    needles?: Iterable<string>,
  ): RewriteResult | undefined {
    if (needles !== undefined && !this.mayName(text, needles)) return unchanged(text);
    let r: RewriteResult;
    try {
      r = rewriteSqlNames(text, this.names, o);
    } catch (e) {
      this.report(
        s,
        'error',
        `its SQL text cannot be read (${(e as Error).message}), so names in it cannot be mapped`,
      );
      return undefined;
    }
    if (r.ambiguous.length > 0) {
      this.report(
        s,
        'error',
        `cannot tell what ${listQuoted(r.ambiguous)} refers to (a schema the mapping renames, or a table alias, column or row of the same name): rename the alias or keep the schema name`,
      );
    }
    return r;
  }

  /**
   * Can `text` name a key schema or one of `needles` at all? A cheap substring test (case-insensitive,
   * quotes doubled) that spares lexing the many texts a mapping does not touch.
   */
  mayName(text: string, needles: Iterable<string>): boolean {
    const lower = text.toLowerCase();
    if (lower.includes('u&')) return true;
    const hit = (n: string) => {
      const x = n.toLowerCase();
      return lower.includes(x) || (x.includes('"') && lower.includes(x.replaceAll('"', '""')));
    };
    for (const n of this.names.keySchemas) if (hit(n)) return true;
    for (const n of needles) if (hit(n)) return true;
    return false;
  }

  text(text: string, s: Subject): string;
  text(text: string | undefined, s: Subject): string | undefined;
  text(text: string | undefined, s: Subject): string | undefined {
    return text === undefined ? undefined : (this.rewrite(text, s, {}, [])?.text ?? text);
  }

  refs(refs: readonly ObjectRef[]): ObjectRef[] {
    const seen = new Map<string, ObjectRef>();
    for (const r of refs) {
      const m = this.names.ref(r);
      seen.set(refKey(m), m);
    }
    return [...seen.values()];
  }

  type(t: TypeDef): TypeDef {
    const s: Subject = { kind: 'type', name: t, table: undefined };
    const base = { schema: this.names.schema(t.schema), name: t.name, dependsOn: this.refs(t.dependsOn) };
    switch (t.kind) {
      case 'enum':
        return { ...t, ...base };
      case 'composite':
        return {
          ...t,
          ...base,
          attributes: t.attributes.map((a) => ({
            ...a,
            type: this.text(a.type, s),
            collation: this.collation(a.collation),
          })),
        };
      case 'range':
        return {
          ...t,
          ...base,
          subtype: this.text(t.subtype, s),
          subtypeOpclass: this.text(t.subtypeOpclass, s),
          ...(t.canonical !== undefined ? { canonical: this.text(t.canonical, s) } : {}),
          subtypeDiff: this.text(t.subtypeDiff, s),
          collation: this.collation(t.collation),
          multirangeName: t.multirangeName && {
            schema: this.names.schema(t.multirangeName.schema),
            name: t.multirangeName.name,
          },
        };
      case 'domain':
        return {
          ...t,
          ...base,
          baseType: this.text(t.baseType, s),
          collation: this.collation(t.collation),
          default: this.text(t.default, s),
          constraints: t.constraints.map((c) => ({ ...c, definition: this.text(c.definition, s) })),
        };
      case 'base':
        return {
          ...t,
          ...base,
          input: this.text(t.input, s),
          output: this.text(t.output, s),
          receive: this.text(t.receive, s),
          send: this.text(t.send, s),
          typmodIn: this.text(t.typmodIn, s),
          typmodOut: this.text(t.typmodOut, s),
          analyze: this.text(t.analyze, s),
          subscript: this.text(t.subscript, s),
          element: this.text(t.element, s),
        };
    }
  }

  sequence(q: SequenceDef): SequenceDef[] {
    const owner = q.ownedBy !== undefined ? this.names.table(q.ownedBy.table) : undefined;
    if (owner?.duplicate) return [];
    let ownedBy = q.ownedBy;
    if (q.ownedBy !== undefined && owner !== undefined) {
      const to = owner.columns.get(q.ownedBy.column);
      if (to === null) {
        this.report(
          { kind: 'sequence', name: q, table: undefined },
          'warning',
          `is owned by column ${q.ownedBy.column} of ${displayName(q.ownedBy.table)}, which the task leaves out: created without OWNED BY`,
        );
        ownedBy = undefined;
      } else {
        ownedBy = { table: owner.to, column: to ?? q.ownedBy.column };
      }
    }
    return [{ ...q, ...this.names.object(q), ownedBy }];
  }

  index(i: IndexDef): IndexDef[] {
    const owner = this.names.table(i.table);
    if (owner?.duplicate) return [];
    const s: Subject = { kind: 'index', name: i, table: i.table };
    const r = this.rewrite(i.definition, s, scope(owner?.columns), owner?.columns.keys() ?? []);
    if (r !== undefined && r.excluded.length > 0) {
      this.leaveOut(s, i, r.excluded);
      return [];
    }
    return [
      {
        ...i,
        ...this.names.object(i),
        table: owner?.to ?? this.names.object(i.table),
        definition: r?.text ?? i.definition,
        parentIndex: i.parentIndex && this.names.object(i.parentIndex),
      },
    ];
  }

  leaveOut(s: Subject, index: QualifiedName | undefined, columns: readonly string[]): void {
    this.report(
      s,
      'warning',
      `uses ${plural(columns, 'column')} ${columns.join(', ')}, which the task leaves out: not created`,
    );
    if (index !== undefined) {
      this.dropped.add(key(index));
      this.droppedDest.add(key(this.names.object(index)));
    }
  }

  table(t: TableDef): TableDef[] {
    const m = this.names.table(t);
    if (m === undefined || m.duplicate) return [];
    const columns: ColumnDef[] = [];
    for (const c of t.columns) {
      const to = m.columns.get(c.name);
      if (to === null) continue;
      const s: Subject = { kind: 'column', name: { schema: t.schema, name: c.name }, table: t };
      let generated = c.generated;
      if (generated !== undefined) {
        const r = this.rewrite(generated, s, scope(m.columns), m.columns.keys());
        generated = r?.text ?? generated;
        if (r !== undefined && r.excluded.length > 0) {
          this.report(
            s,
            'error',
            `is generated from ${r.excluded.join(', ')}, which the task leaves out: leave this column out too (excludeColumns)`,
          );
        }
      }
      columns.push({
        ...c,
        name: to ?? c.name,
        type: this.text(c.type, s),
        collation: this.collation(c.collation),
        // A default cannot refer to columns (PostgreSQL forbids it): only qualified names change.
        default: this.text(c.default, s),
        generated,
        identity: c.identity && { ...c.identity, sequence: this.names.object(c.identity.sequence) },
      });
    }
    const constraints: TableConstraintDef[] = [];
    for (const c of t.constraints) {
      const s: Subject = { kind: 'constraint', name: { schema: t.schema, name: c.name }, table: t };
      const r = this.rewrite(c.definition, s, scope(m.columns), m.columns.keys());
      if (r !== undefined && r.excluded.length > 0) {
        if (c.kind === 'primary-key') {
          this.report(
            s,
            'error',
            `uses ${r.excluded.join(', ')}, which the task leaves out: a primary key column cannot be left out`,
          );
        } else {
          this.leaveOut(s, c.kind === 'check' ? undefined : { schema: t.schema, name: c.name }, r.excluded);
          continue;
        }
      }
      constraints.push({
        ...c,
        definition: r?.text ?? c.definition,
        parentIndex: c.parentIndex && this.names.object(c.parentIndex),
      });
    }
    const foreignKeys = t.foreignKeys.flatMap((fk) => this.foreignKey(t, m.columns, fk));
    let partitionBy = t.partitionBy;
    if (partitionBy !== undefined) {
      const s: Subject = { kind: 'table', name: t, table: undefined };
      const r = this.rewrite(partitionBy, s, scope(m.columns), m.columns.keys());
      partitionBy = r?.text ?? partitionBy;
      if (r !== undefined && r.excluded.length > 0) {
        this.report(
          s,
          'error',
          `is partitioned by ${r.excluded.join(', ')}, which the task leaves out: a partition key column cannot be left out`,
        );
      }
    }
    let replicaIdentity = t.replicaIdentity;
    if (
      typeof replicaIdentity === 'object' &&
      this.dropped.has(key({ schema: t.schema, name: replicaIdentity.index }))
    ) {
      this.report(
        { kind: 'table', name: t, table: undefined },
        'warning',
        `has REPLICA IDENTITY USING INDEX ${replicaIdentity.index}, which is not created: the default replica identity applies`,
      );
      replicaIdentity = 'default';
    }
    const ts: Subject = { kind: 'table', name: t, table: undefined };
    if (t.ofType !== undefined && m.columns.size > 0) {
      this.report(
        ts,
        'error',
        `is a typed table (OF ${displayName(t.ofType)}): its columns come from the type and cannot be renamed or left out`,
      );
    }
    return [
      {
        ...t,
        ...m.to,
        columns,
        constraints,
        foreignKeys,
        partitionBy,
        partitionOf: t.partitionOf && {
          parent: this.names.table(t.partitionOf.parent)?.to ?? this.names.object(t.partitionOf.parent),
          bound: this.text(t.partitionOf.bound, ts),
        },
        replicaIdentity,
        dependsOn: this.refs(t.dependsOn),
        ...(t.inherits !== undefined ? { inherits: this.inheritsFrom(t, t.inherits) } : {}),
        ...(t.ofType !== undefined
          ? { ofType: { schema: this.names.schema(t.ofType.schema), name: t.ofType.name } }
          : {}),
      },
    ];
  }

  /**
   * Destination parents of an inheritance child. A parent merged into another table is refused: the
   * child would inherit from a table that is not created.
   */
  inheritsFrom(t: TableDef, parents: readonly QualifiedName[]): QualifiedName[] {
    return parents.map((p) => {
      const m = this.names.table(p);
      if (m?.duplicate) {
        this.report(
          { kind: 'table', name: t, table: undefined },
          'error',
          `inherits from ${displayName(p)}, which the task merges into ${displayName(m.to)}: exclude one of them, or create the table by hand`,
        );
      }
      return m?.to ?? this.names.object(p);
    });
  }

  /** Drops attachments to parent indexes that are left out. */
  fixAttachments(t: TableDef): TableDef {
    if (!t.constraints.some((c) => c.parentIndex && this.droppedDest.has(key(c.parentIndex)))) return t;
    return {
      ...t,
      constraints: t.constraints.map((c) =>
        c.parentIndex && this.droppedDest.has(key(c.parentIndex)) ? { ...c, parentIndex: undefined } : c,
      ),
    };
  }

  foreignKey(t: TableDef, local: ColumnRenames, fk: ForeignKeyDef): ForeignKeyDef[] {
    const s: Subject = { kind: 'foreign-key', name: { schema: t.schema, name: fk.name }, table: t };
    const referenced = this.names.table(fk.references);
    const references = referenced?.to ?? this.names.object(fk.references);
    const remote = referenced?.columns ?? new Map<string, string | null>();
    if (!this.mayName(fk.definition, [...local.keys(), ...remote.keys()])) return [{ ...fk, references }];
    let tokens: SqlToken[];
    try {
      tokens = lexSql(fk.definition);
    } catch (e) {
      this.report(s, 'error', `its SQL text cannot be read (${(e as Error).message})`);
      return [fk];
    }
    // `FOREIGN KEY (local) REFERENCES s.t(referenced) ... ON DELETE SET NULL (local)`.
    const refList = referencedColumnList(tokens);
    const r = this.rewrite(fk.definition, s, {
      tokens,
      columnsAt: (i) => {
        const cols = refList !== undefined && i > refList[0] && i < refList[1] ? remote : local;
        return cols.size > 0 ? cols : undefined;
      },
    });
    if (r !== undefined && r.excluded.length > 0) {
      this.leaveOut(s, undefined, r.excluded);
      return [];
    }
    return [{ ...fk, definition: r?.text ?? fk.definition, references }];
  }

  view(v: ViewDef): ViewDef {
    const s: Subject = { kind: v.kind, name: v, table: undefined };
    const r = this.rewrite(v.query, s, { query: true });
    if (r !== undefined) {
      const read = uniqueNames([...v.dependsOn.filter((d) => d.kind === 'table'), ...r.relations]);
      const used = this.changedColumnsUsed(read, r.words);
      if (used.length > 0) {
        this.report(
          s,
          'error',
          `reads ${used.join('; ')}: column references in a query are not rewritten (they may go through aliases); keep the column's name, or exclude the view (objects[].exclude) and create it by hand`,
        );
      }
      for (const q of read) {
        const m = this.names.table(q);
        if (m?.merged) {
          this.report(
            s,
            'warning',
            `reads ${displayName(q)}, which is merged with other tables into ${displayName(m.to)}: the view shows the rows of all of them`,
          );
        }
      }
    }
    return { ...v, ...this.names.object(v), query: r?.text ?? v.query, dependsOn: this.refs(v.dependsOn) };
  }

  /** `qty of app.orders (renamed to quantity)` for each changed column of `tables` among `words`. */
  changedColumnsUsed(tables: readonly QualifiedName[], words: ReadonlySet<string>): string[] {
    const out: string[] = [];
    for (const q of tables) {
      const m = this.names.table(q);
      if (m === undefined) continue;
      for (const [c, to] of m.columns) {
        if (!words.has(c)) continue;
        out.push(`${c} of ${displayName(q)} (${to === null ? 'left out' : `renamed to ${to}`})`);
      }
    }
    return out;
  }

  routine(r: RoutineDef): RoutineDef {
    const names = this.names;
    const to = names.routineRef(r.schema, r.signature);
    const mapped = { ...r, schema: to.schema, signature: to.name, dependsOn: this.refs(r.dependsOn) };
    const s: Subject = { kind: r.kind, name: { schema: r.schema, name: r.signature }, table: undefined };
    let tokens: SqlToken[];
    try {
      tokens = lexSql(r.definition);
    } catch (e) {
      this.report(s, 'error', `its definition cannot be read (${(e as Error).message})`);
      return mapped;
    }
    const sig = tokens.flatMap((t, i) => (isSignificant(t) ? [i] : []));
    const language = routineLanguage(tokens, sig);
    const body = routineBody(tokens, sig);
    const header = this.rewrite(r.definition, s, { tokens, rangeNames: [r.name], query: true });
    if (header === undefined) return mapped;
    const edits = new Map(header.edits);
    const searchPath = this.searchPath(tokens, sig, edits);

    let analysis: RewriteResult | undefined;
    if (body?.kind === 'string') {
      const bodyToken = tokens[body.index]!;
      if (language === 'sql' || language === 'plpgsql') {
        analysis = this.rewrite(bodyToken.value ?? '', s, {
          rangeNames: [r.name, ...header.standalone],
          query: true,
        });
        if (analysis?.changed) edits.set(body.index, requote(bodyToken, analysis.text));
      } else if (language !== 'c' && language !== 'internal') {
        const text = tokens
          .slice(body.index)
          .filter((t) => t.kind === 'string')
          .map((t) => t.value ?? t.text)
          .join('\n');
        const hits = mentions(text, this.opaqueWords());
        if (hits.length > 0) {
          this.report(
            s,
            'error',
            `is written in ${language ?? 'an unknown language'}, whose body pgdts cannot rewrite, and mentions ${hits.join(', ')}, which the mapping renames: create it by hand`,
          );
        }
      }
    } else if (body?.kind === 'sql') {
      // A SQL-standard body (BEGIN ATOMIC ... END, RETURN ...) is deparsed: the header pass rewrote
      // it; look at the body alone for references.
      const start = tokens[body.index]!.start;
      try {
        analysis = rewriteSqlNames(r.definition.slice(start), names, {
          rangeNames: [r.name, ...header.standalone],
        });
      } catch {
        analysis = undefined;
      }
    }
    if (analysis !== undefined) this.checkRoutineBody(s, language, analysis, searchPath);
    const definition =
      edits.size === 0 ? r.definition : tokens.map((t, i) => edits.get(i) ?? t.text).join('');
    return { ...mapped, definition };
  }

  /**
   * An aggregate in its destination schema, with the qualified names of its support functions,
   * state types, argument types and sort operator mapped (structured fields and short SQL texts).
   */
  aggregate(a: AggregateDef): AggregateDef {
    const to = this.names.routineRef(a.schema, a.signature);
    const s: Subject = { kind: 'aggregate', name: { schema: a.schema, name: a.signature }, table: undefined };
    const m = a.moving;
    return {
      ...a,
      schema: to.schema,
      signature: to.name,
      arguments: this.text(a.arguments, s),
      stateFunction: this.text(a.stateFunction, s),
      stateType: this.text(a.stateType, s),
      finalFunction: this.text(a.finalFunction, s),
      combineFunction: this.text(a.combineFunction, s),
      serialFunction: this.text(a.serialFunction, s),
      deserialFunction: this.text(a.deserialFunction, s),
      moving: m && {
        ...m,
        stateFunction: this.text(m.stateFunction, s),
        inverseFunction: this.text(m.inverseFunction, s),
        stateType: this.text(m.stateType, s),
        finalFunction: this.text(m.finalFunction, s),
      },
      sortOperator: a.sortOperator && { ...a.sortOperator, schema: this.names.schema(a.sortOperator.schema) },
      dependsOn: this.refs(a.dependsOn),
    };
  }

  /** A column's, domain's or type's collation, in its destination schema. */
  collation(c: QualifiedName | undefined): QualifiedName | undefined {
    return c && this.names.schema(c.schema) !== c.schema ? this.inSchema(c) : c;
  }

  /** A schema-qualified name whose schema the mapping may move (an operator's, a family's). */
  inSchema(q: QualifiedName): QualifiedName {
    return { schema: this.names.schema(q.schema), name: q.name };
  }

  /**
   * An operator in its destination schema; its operand types, functions, commutator and negator
   * mapped. Its {@link OperatorDef.signature} stays the source's: it is a key only, and references
   * to the operator keep it too (see SchemaNameMap.ref).
   */
  operator(o: OperatorDef): OperatorDef {
    const s: Subject = { kind: 'operator', name: { schema: o.schema, name: o.signature }, table: undefined };
    return {
      ...o,
      schema: this.names.schema(o.schema),
      left: this.text(o.left, s),
      right: this.text(o.right, s),
      function: this.text(o.function, s),
      commutator: o.commutator && this.inSchema(o.commutator),
      negator: o.negator && this.inSchema(o.negator),
      restrict: this.text(o.restrict, s),
      join: this.text(o.join, s),
      dependsOn: this.refs(o.dependsOn),
    };
  }

  members(
    s: Subject,
    ops: readonly OperatorMember[],
    fns: readonly FunctionMember[],
  ): { operators: OperatorMember[]; functions: FunctionMember[] } {
    return {
      operators: ops.map((m) => ({
        ...m,
        operator: this.inSchema(m.operator),
        left: this.text(m.left, s),
        right: this.text(m.right, s),
        orderBy: m.orderBy && this.inSchema(m.orderBy),
      })),
      functions: fns.map((m) => ({
        ...m,
        left: this.text(m.left, s),
        right: this.text(m.right, s),
        function: this.text(m.function, s),
      })),
    };
  }

  /** An operator family and its loose members in the destination schemas. */
  operatorFamily(f: OperatorFamilyDef): OperatorFamilyDef {
    const s: Subject = { kind: 'operator-family', name: f, table: undefined };
    return {
      ...f,
      ...this.members(s, f.operators, f.functions),
      schema: this.names.schema(f.schema),
      dependsOn: this.refs(f.dependsOn),
    };
  }

  /** An operator class, its type, family, storage and members in the destination schemas. */
  operatorClass(c: OperatorClassDef): OperatorClassDef {
    const s: Subject = { kind: 'operator-class', name: c, table: undefined };
    return {
      ...c,
      ...this.members(s, c.operators, c.functions),
      schema: this.names.schema(c.schema),
      type: this.text(c.type, s),
      family: this.inSchema(c.family),
      storage: this.text(c.storage, s),
      dependsOn: this.refs(c.dependsOn),
    };
  }

  /** A cast between the destination's types, with its function mapped. */
  cast(c: CastDef): CastDef {
    const s: Subject = {
      kind: 'cast',
      name: { schema: '', name: `(${c.source} AS ${c.target})` },
      table: undefined,
    };
    return {
      ...c,
      source: this.text(c.source, s),
      target: this.text(c.target, s),
      function: this.text(c.function, s),
      dependsOn: this.refs(c.dependsOn),
    };
  }

  /** Words whose mention in an opaque routine body may refer to something renamed. */
  opaqueWords(): string[] {
    const n = this.names;
    return [...n.renamedSchemas, ...n.renamedRelationNames, ...n.changedColumnNames];
  }

  checkRoutineBody(
    s: Subject,
    language: string | undefined,
    a: RewriteResult,
    searchPath: ReadonlySet<string> | undefined,
  ): void {
    const n = this.names;
    const columns = n.changedColumns.filter((c) => a.words.has(c.column));
    if (columns.length > 0) {
      this.report(
        s,
        'error',
        `its body names ${columns.map((c) => `${c.column} (${c.to === null ? 'left out' : `renamed to ${c.to}`} in ${displayName(c.table)})`).join(', ')}: column references in routine bodies are not rewritten; rename them by hand after the sync, or keep the column's name`,
      );
    }
    const unqualified = [...a.standalone].filter((w) => n.renamedRelationNames.has(w));
    if (unqualified.length > 0) {
      this.report(
        s,
        'error',
        `its body names ${unqualified.join(', ')} without a schema, and the mapping renames ${unqualified.length > 1 ? 'these' : 'it'}: qualify the name on the source, or create the routine by hand`,
      );
    }
    const positional = this.positionalInserts(a);
    if (positional.length > 0) {
      this.report(
        s,
        'error',
        `its body inserts into ${positional.join(', ')} without a column list, and the task leaves out columns of it: the values would shift`,
      );
    }
    const viaPath = [...a.standalone].flatMap((w) => {
      const schemas = (n.movedNames.get(w) ?? []).filter(
        (x) => searchPath === undefined || !searchPath.has(x),
      );
      return schemas.length > 0 ? [`${w} (in ${schemas.join(', ')})`] : [];
    });
    if (viaPath.length > 0) {
      this.report(
        s,
        'warning',
        `its body names ${viaPath.join(', ')} without a schema, which the mapping moves to another schema: such names resolve through search_path at run time (set search_path on the routine, or qualify the names)`,
      );
    }
    const strings = mentions(a.strings.join('\n'), this.opaqueWords());
    if (strings.length > 0) {
      const dynamic = language === 'plpgsql' && a.words.has('execute');
      this.report(
        s,
        dynamic ? 'error' : 'warning',
        `a string constant in its body mentions ${strings.join(', ')}, which the mapping renames${dynamic ? ': dynamic SQL (EXECUTE) is not rewritten' : ' (left as it is)'}`,
      );
    }
  }

  /** Tables with left-out columns that the body inserts into without a column list. */
  positionalInserts(a: RewriteResult): string[] {
    const withExcluded = this.names.changedColumns.filter((c) => c.to === null).map((c) => c.table);
    if (withExcluded.length === 0) return [];
    const t = a.tokens.filter(isSignificant);
    const out = new Set<string>();
    for (let p = 0; p + 2 < t.length; p++) {
      if (t[p]?.value !== 'insert' || t[p + 1]?.value !== 'into' || t[p]?.kind !== 'ident') continue;
      const parts: string[] = [];
      let q = p + 2;
      while ((t[q]?.kind === 'ident' || t[q]?.kind === 'quoted-ident') && t[q]?.value !== undefined) {
        parts.push(t[q]!.value!);
        if (t[q + 1]?.value !== '.') break;
        q += 2;
      }
      q++;
      if (t[q]?.kind === 'ident' && t[q]?.value === 'as') q += 2;
      else if (
        t[q]?.kind === 'ident' &&
        !['values', 'select', 'default', 'with', 'overriding', 'table'].includes(t[q]?.value ?? '')
      )
        q++;
      if ((t[q]?.value === '(' && t[q]?.kind === 'punct') || t[q]?.value === 'default') continue;
      const name = parts[parts.length - 1];
      const hit = withExcluded.find(
        (x) => x.name === name && (parts.length === 1 || (parts.length === 2 && x.schema === parts[0])),
      );
      if (hit !== undefined) out.add(displayName(hit));
    }
    return [...out];
  }

  /**
   * Rewrites the schemas of a routine's `SET search_path TO 'a', 'b'`; returns the source schemas
   * listed (undefined when the routine sets none).
   */
  searchPath(
    tokens: readonly SqlToken[],
    sig: readonly number[],
    edits: Map<number, string>,
  ): Set<string> | undefined {
    for (let p = 0; p + 2 < sig.length; p++) {
      const t = (k: number) => tokens[sig[k]!];
      if (t(p)?.value !== 'set' || t(p + 1)?.value !== 'search_path') continue;
      if (t(p + 2)?.value !== 'to' && t(p + 2)?.value !== '=') continue;
      const listed = new Set<string>();
      for (let q = p + 3; t(q)?.kind === 'string'; q += 2) {
        const raw = (t(q)!.value ?? '').trim();
        let name: string | undefined;
        try {
          name = raw.startsWith('$') ? undefined : parseIdentifierPath(raw)[0];
        } catch {
          name = undefined;
        }
        if (name !== undefined) {
          listed.add(name);
          const to = this.names.schema(name);
          if (to !== name) edits.set(sig[q]!, quoteLiteral(quoteIdent(to)));
        }
        if (t(q + 1)?.value !== ',') break;
      }
      return listed;
    }
    return undefined;
  }

  trigger(tr: TriggerDef): TriggerDef[] {
    const owner = this.names.table(tr.table);
    if (owner?.duplicate) return [];
    const s: Subject = { kind: 'trigger', name: { schema: tr.table.schema, name: tr.name }, table: tr.table };
    const columns = owner?.columns ?? new Map<string, string | null>();
    const fn = tr.function === undefined ? undefined : this.names.ref(tr.function);
    const table = owner?.to ?? this.names.object(tr.table);
    if (!this.mayName(tr.definition, columns.keys())) return [{ ...tr, table, function: fn }];
    let tokens: SqlToken[];
    try {
      tokens = lexSql(tr.definition);
    } catch (e) {
      this.report(s, 'error', `its SQL text cannot be read (${(e as Error).message})`);
      return [tr];
    }
    // Columns stand in `UPDATE OF a, b` and, as new.a / old.a, in the WHEN clause.
    const ofList = updateOfList(tokens);
    const r = this.rewrite(tr.definition, s, {
      tokens,
      columnsAt: (i) =>
        ofList !== undefined && i > ofList[0] && i < ofList[1] && columns.size > 0 ? columns : undefined,
      rows: { qualifiers: new Set(['new', 'old']), columns },
    });
    if (r !== undefined && r.excluded.length > 0) {
      this.leaveOut(s, undefined, r.excluded);
      return [];
    }
    return [{ ...tr, table, definition: r?.text ?? tr.definition, function: fn }];
  }

  /**
   * A row-level security policy on the destination table. USING and WITH CHECK are rewritten with the
   * table's columns in scope; a policy whose expression holds a subquery while the table's columns
   * change, reads changed columns of another table, or uses a left-out column is an `error` (left
   * out, the destination would show rows the source hides).
   */
  policy(p: PolicyDef): PolicyDef[] {
    const owner = this.names.table(p.table);
    if (owner?.duplicate) return [];
    const s: Subject = { kind: 'policy', name: { schema: p.table.schema, name: p.name }, table: p.table };
    const columns = owner?.columns ?? new Map<string, string | null>();
    const expr = (text: string | undefined): string | undefined => {
      if (text === undefined) return undefined;
      const r = this.rewrite(text, s, scope(columns), columns.keys());
      if (r === undefined) return text;
      if (r.excluded.length > 0) {
        this.report(
          s,
          'error',
          `uses ${r.excluded.join(', ')}, which the task leaves out: leaving the policy out would show rows the source hides; keep the column, or create the policy by hand`,
        );
      }
      const others = r.relations.filter((q) => q.schema !== p.table.schema || q.name !== p.table.name);
      const used = this.changedColumnsUsed(others, r.words);
      if (used.length > 0 || (columns.size > 0 && /\bselect\b/i.test(text))) {
        this.report(
          s,
          'error',
          `has a subquery${used.length > 0 ? ` reading ${used.join('; ')}` : ''} while the mapping changes columns: column references in a subquery are not rewritten; keep the column names, or exclude the table's policies by creating them by hand`,
        );
      }
      return r.text;
    };
    return [
      {
        ...p,
        table: owner?.to ?? this.names.object(p.table),
        using: expr(p.using),
        withCheck: expr(p.withCheck),
      },
    ];
  }

  /**
   * A rule on the destination table. Its definition's qualified names are rewritten; a rule whose
   * text names a column the mapping changes (of its table or of a table it reads) is an `error`:
   * column references in a rule's action are not rewritten.
   */
  rule(ru: RuleDef): RuleDef[] {
    const owner = this.names.table(ru.table);
    if (owner?.duplicate) return [];
    const s: Subject = { kind: 'rule', name: { schema: ru.table.schema, name: ru.name }, table: ru.table };
    const table = owner?.to ?? this.names.object(ru.table);
    const r = this.rewrite(ru.definition, s, { query: true });
    if (r === undefined) return [{ ...ru, table }];
    const used = this.changedColumnsUsed(uniqueNames([ru.table, ...r.relations]), r.words);
    if (used.length > 0) {
      this.report(
        s,
        'error',
        `names ${used.join('; ')}: column references in a rule are not rewritten; keep the column's name, or create the rule by hand`,
      );
    }
    return [{ ...ru, table, definition: r.text }];
  }

  /**
   * An extended statistics object, in the destination schema of its own schema (like an index), its
   * columns and expressions rewritten with the table's columns in scope; one on a left-out column is
   * left out with a warning.
   */
  statisticsObject(x: StatisticsDef): StatisticsDef[] {
    const owner = this.names.table(x.table);
    if (owner?.duplicate) return [];
    const s: Subject = { kind: 'statistics', name: x, table: x.table };
    const r = this.rewrite(x.definition, s, scope(owner?.columns), owner?.columns.keys() ?? []);
    if (r !== undefined && r.excluded.length > 0) {
      this.leaveOut(s, undefined, r.excluded);
      return [];
    }
    return [
      {
        ...x,
        ...this.names.object(x),
        table: owner?.to ?? this.names.object(x.table),
        definition: r?.text ?? x.definition,
      },
    ];
  }

  /** Destination schemas: those of the selected schema entries and those objects live in. */
  schemas(objects: readonly { readonly schema: string }[]): SchemaDef[] {
    const used = new Set<string>();
    const inModel = new Set(this.model.schemas.map((s) => s.name));
    for (const o of this.task.objects)
      if (o.kind === 'schema' && inModel.has(o.schema)) used.add(this.names.schema(o.schema));
    for (const o of objects) used.add(o.schema);
    return [...used].sort(cmp).map((name) => {
      const from =
        this.model.schemas.find((s) => s.name === name && this.names.schema(s.name) === name) ??
        this.model.schemas.find((s) => this.names.schema(s.name) === name);
      // Owner and privileges of the source schema mapped here (of the first, when several meet).
      return {
        kind: 'schema',
        name,
        comment: from?.comment,
        ...(from?.access !== undefined ? { access: from.access } : {}),
      };
    });
  }

  /** Two source objects meeting under one destination name: refused. */
  collisions(): void {
    const n = this.names;
    type Entry = { readonly label: string; readonly subject: Subject };
    const relations = new Map<string, Entry[]>();
    const typeNames = new Map<string, Entry[]>();
    const routines = new Map<string, Entry[]>();
    const add = (into: Map<string, Entry[]>, to: QualifiedName, label: string, subject: Subject): void => {
      const k = key(to);
      into.set(k, [...(into.get(k) ?? []), { label, subject }]);
    };
    const kept = (q: QualifiedName) => !this.dropped.has(key(q));
    for (const t of this.model.tables) {
      const m = n.table(t);
      if (m === undefined || m.duplicate) continue;
      const subject: Subject = { kind: 'table', name: t, table: undefined };
      add(relations, m.to, `table ${displayName(t)}`, subject);
      add(typeNames, m.to, `table ${displayName(t)}`, subject);
      for (const c of t.columns) {
        if (c.identity === undefined || m.columns.get(c.name) === null) continue;
        add(
          relations,
          n.object(c.identity.sequence),
          `sequence ${displayName(c.identity.sequence)}`,
          subject,
        );
      }
      for (const c of t.constraints) {
        const q = { schema: t.schema, name: c.name };
        if (c.kind === 'check' || !kept(q)) continue;
        add(relations, n.object(q), `index ${displayName(q)}`, { kind: 'constraint', name: q, table: t });
      }
    }
    for (const i of this.model.indexes) {
      if (n.table(i.table)?.duplicate || !kept(i)) continue;
      add(relations, n.object(i), `index ${displayName(i)}`, { kind: 'index', name: i, table: i.table });
    }
    for (const q of this.model.sequences) {
      if (q.ownedBy !== undefined && n.table(q.ownedBy.table)?.duplicate) continue;
      add(relations, n.object(q), `sequence ${displayName(q)}`, {
        kind: 'sequence',
        name: q,
        table: undefined,
      });
    }
    for (const v of this.model.views) {
      const subject: Subject = { kind: v.kind, name: v, table: undefined };
      add(relations, n.object(v), `view ${displayName(v)}`, subject);
      add(typeNames, n.object(v), `view ${displayName(v)}`, subject);
    }
    for (const t of this.model.types) {
      add(typeNames, n.object(t), `type ${displayName(t)}`, { kind: 'type', name: t, table: undefined });
    }
    for (const r of this.model.routines) {
      add(routines, n.routineRef(r.schema, r.signature), `${r.kind} ${r.schema}.${r.signature}`, {
        kind: r.kind,
        name: { schema: r.schema, name: r.signature },
        table: undefined,
      });
    }
    // Aggregates share pg_proc's namespace with functions and procedures.
    for (const a of this.model.aggregates) {
      add(routines, n.routineRef(a.schema, a.signature), `aggregate ${a.schema}.${a.signature}`, {
        kind: 'aggregate',
        name: { schema: a.schema, name: a.signature },
        table: undefined,
      });
    }
    for (const map of [relations, typeNames, routines]) {
      for (const [k, list] of map) {
        const [first, ...others] = list;
        if (first === undefined) continue;
        const [schema, name] = k.split('\u0000') as [string, string];
        for (const o of others) {
          if (o.label === first.label) continue;
          this.report(
            o.subject,
            'error',
            `would be named ${displayName({ schema, name })} in the destination, as would ${first.label}: map them apart`,
          );
        }
      }
    }
  }
}

/** The result of a rewrite that had nothing to do. */
function unchanged(text: string): RewriteResult {
  return {
    text,
    changed: false,
    excluded: [],
    ambiguous: [],
    relations: [],
    words: new Set(),
    standalone: new Set(),
    strings: [],
    tokens: [],
    edits: new Map(),
  };
}

const byTableAndName = <T extends { table: QualifiedName; name: string }>(a: T, b: T): number =>
  cmp(a.table.schema, b.table.schema) || cmp(a.table.name, b.table.name) || cmp(a.name, b.name);

/** A column scope for a single-table expression, or none when nothing changes. */
function scope(columns: ColumnRenames | undefined): RewriteOptions {
  return columns !== undefined && columns.size > 0 ? { columnsAt: () => columns } : {};
}

/** Raw token indexes of the parentheses after `REFERENCES table`, or undefined. */
function referencedColumnList(tokens: readonly SqlToken[]): [number, number] | undefined {
  const sig = tokens.flatMap((t, i) => (isSignificant(t) ? [i] : []));
  const at = sig.findIndex((i) => tokens[i]?.kind === 'ident' && tokens[i]?.value === 'references');
  if (at < 0) return undefined;
  let p = at + 1;
  while (tokens[sig[p + 1] ?? -1]?.value === '.' && tokens[sig[p + 1] ?? -1]?.kind === 'punct') p += 2;
  return parenGroup(tokens, sig, p + 1);
}

/** Raw token indexes around the column list of `UPDATE OF a, b ON`, or undefined. */
function updateOfList(tokens: readonly SqlToken[]): [number, number] | undefined {
  const sig = tokens.flatMap((t, i) => (isSignificant(t) ? [i] : []));
  const w = (p: number) => (tokens[sig[p] ?? -1]?.kind === 'ident' ? tokens[sig[p]!]?.value : undefined);
  for (let p = 0; p + 1 < sig.length; p++) {
    if (w(p) !== 'update' || w(p + 1) !== 'of') continue;
    let q = p + 2;
    while (q < sig.length && !(w(q) === 'on' || w(q) === 'or')) q++;
    return [sig[p + 1]!, sig[q] ?? tokens.length];
  }
  return undefined;
}

/** The raw indexes of `(` at significant position `p` and its matching `)`. */
function parenGroup(
  tokens: readonly SqlToken[],
  sig: readonly number[],
  p: number,
): [number, number] | undefined {
  const isP = (q: number, v: string) =>
    tokens[sig[q] ?? -1]?.kind === 'punct' && tokens[sig[q]!]?.value === v;
  if (!isP(p, '(')) return undefined;
  let depth = 0;
  for (let q = p; q < sig.length; q++) {
    if (isP(q, '(')) depth++;
    else if (isP(q, ')') && --depth === 0) return [sig[p]!, sig[q]!];
  }
  return undefined;
}

/** `LANGUAGE x` of a routine definition, lower case. */
function routineLanguage(tokens: readonly SqlToken[], sig: readonly number[]): string | undefined {
  for (let p = 0; p + 1 < sig.length; p++) {
    const t = tokens[sig[p]!]!;
    if (t.kind !== 'ident' || t.value !== 'language') continue;
    const v = tokens[sig[p + 1]!]!;
    return v.value?.toLowerCase();
  }
  return undefined;
}

/**
 * Where a routine's body is: the string after `AS` (raw token index), or the first token of a
 * SQL-standard body (`BEGIN ATOMIC`, `RETURN`), at parenthesis depth 0.
 */
function routineBody(
  tokens: readonly SqlToken[],
  sig: readonly number[],
): { readonly kind: 'string' | 'sql'; readonly index: number } | undefined {
  let depth = 0;
  for (let p = 0; p < sig.length; p++) {
    const t = tokens[sig[p]!]!;
    if (t.kind === 'punct' && t.value === '(') depth++;
    else if (t.kind === 'punct' && t.value === ')') depth--;
    if (depth !== 0 || t.kind !== 'ident') continue;
    const next = tokens[sig[p + 1] ?? -1];
    if (t.value === 'as' && next?.kind === 'string') return { kind: 'string', index: sig[p + 1]! };
    if ((t.value === 'begin' && next?.kind === 'ident' && next.value === 'atomic') || t.value === 'return') {
      return { kind: 'sql', index: sig[p]! };
    }
  }
  return undefined;
}

/** The string token `t` with new contents, quoted the way it was when possible. */
function requote(t: SqlToken, contents: string): string {
  if (t.form === 'dollar') {
    let tag = t.tag ?? '';
    for (let n = 0; contents.includes(`$${tag}$`) || contents.endsWith(`$${tag}`); n++)
      tag = `pgdts${n || ''}`;
    return `$${tag}$${contents}$${tag}$`;
  }
  return quoteLiteral(contents);
}

/** Which of `words` occur in `text` as whole words, case-insensitively. */
function mentions(text: string, words: readonly string[]): string[] {
  if (text === '') return [];
  const lower = text.toLowerCase();
  return [...new Set(words)].filter((w) => {
    const needle = w.toLowerCase();
    for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, i + 1)) {
      const before = lower[i - 1];
      const after = lower[i + needle.length];
      if (!isWordChar(before) && !isWordChar(after)) return true;
    }
    return false;
  });
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}_$]/u.test(c);
}

function uniqueNames(qs: readonly QualifiedName[]): QualifiedName[] {
  return [...new Map(qs.map((q) => [key(q), { schema: q.schema, name: q.name }])).values()];
}

function listQuoted(items: readonly string[]): string {
  return [...new Set(items)].join(', ');
}

function plural(items: readonly unknown[], word: string): string {
  return items.length === 1 ? word : `${word}s`;
}

/** Code-unit order, as the source connector sorts. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName<T extends QualifiedName>(a: T, b: T): number {
  return cmp(a.schema, b.schema) || cmp(a.name, b.name);
}
