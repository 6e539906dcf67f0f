/**
 * A plain-data model of the schema objects pgdts replicates, independent of PostgreSQL catalogs (no
 * OIDs): the source connector fills it from pg_catalog, the sink turns it into DDL. Keeping it free of
 * catalog details lets later steps rename objects or target other engines.
 *
 * Expressions (defaults, checks, view queries, index and trigger definitions, function bodies) are
 * SQL text as PostgreSQL deparses them (pg_get_expr, pg_get_constraintdef, pg_get_viewdef,
 * pg_get_indexdef, pg_get_triggerdef, pg_get_functiondef) with every name schema-qualified.
 * Ownership and privileges are not part of the model: objects belong to the destination user.
 */
import type { QualifiedName } from './identifier.ts';

/**
 * A reference from one object to another object of the model, used to order creation (a view on a
 * view, a domain over a domain, a default calling a function). `name` of a routine is its signature
 * key (see {@link RoutineDef.signature}).
 */
export interface ObjectRef {
  readonly kind: 'type' | 'sequence' | 'table' | 'view' | 'routine';
  readonly schema: string;
  readonly name: string;
}

/** A schema (namespace). */
export interface SchemaDef {
  readonly kind: 'schema';
  readonly name: string;
  readonly comment: string | undefined;
}

/** An extension the selected objects use; created with IF NOT EXISTS, skipped when unavailable. */
export interface ExtensionDef {
  readonly kind: 'extension';
  readonly name: string;
  /** Schema its objects live in (`WITH SCHEMA`). */
  readonly schema: string;
  /** Version installed on the source (informational: the destination's default version is used). */
  readonly version: string;
}

/** `CREATE TYPE ... AS ENUM`: labels in sort order. */
export interface EnumTypeDef extends QualifiedName {
  readonly kind: 'enum';
  readonly labels: readonly string[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** One attribute of a composite type. */
export interface CompositeAttribute {
  readonly name: string;
  /** SQL type text (format_type), schema-qualified where needed. */
  readonly type: string;
  /** Collation when it differs from the type's default, as a qualified name. */
  readonly collation: QualifiedName | undefined;
}

/** `CREATE TYPE ... AS (...)`. */
export interface CompositeTypeDef extends QualifiedName {
  readonly kind: 'composite';
  readonly attributes: readonly CompositeAttribute[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** `CREATE TYPE ... AS RANGE`. Function names are qualified SQL text (regproc output). */
export interface RangeTypeDef extends QualifiedName {
  readonly kind: 'range';
  readonly subtype: string;
  /** Operator class of the subtype when not the default one, qualified SQL text. */
  readonly subtypeOpclass: string | undefined;
  readonly collation: QualifiedName | undefined;
  readonly subtypeDiff: string | undefined;
  /** Multirange type name (PostgreSQL 14+), only when it differs from the name derived by default. */
  readonly multirangeName: QualifiedName | undefined;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** A CHECK constraint of a domain. */
export interface DomainConstraint {
  readonly name: string;
  /** `CHECK (...)` text from pg_get_constraintdef (may end in `NOT VALID`). */
  readonly definition: string;
}

/** `CREATE DOMAIN`. */
export interface DomainTypeDef extends QualifiedName {
  readonly kind: 'domain';
  readonly baseType: string;
  readonly collation: QualifiedName | undefined;
  readonly default: string | undefined;
  readonly notNull: boolean;
  readonly constraints: readonly DomainConstraint[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** A user-defined type. */
export type TypeDef = EnumTypeDef | CompositeTypeDef | RangeTypeDef | DomainTypeDef;

/** Sequence parameters (PostgreSQL docs, CREATE SEQUENCE). Numbers as decimal text: they may exceed 2^53. */
export interface SequenceOptions {
  /** `smallint`, `integer` or `bigint`. */
  readonly type: string;
  readonly start: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly cache: string;
  readonly cycle: boolean;
}

/** A stand-alone sequence (identity sequences belong to their column instead). */
export interface SequenceDef extends QualifiedName {
  readonly kind: 'sequence';
  readonly options: SequenceOptions;
  /** `OWNED BY` table column, if any. */
  readonly ownedBy: { readonly table: QualifiedName; readonly column: string } | undefined;
  readonly comment: string | undefined;
}

/** Identity of a column: `GENERATED ALWAYS|BY DEFAULT AS IDENTITY (SEQUENCE NAME ... options)`. */
export interface ColumnIdentity {
  readonly generation: 'always' | 'by-default';
  readonly sequence: QualifiedName;
  readonly options: SequenceOptions;
}

/** One table column, in column order. */
export interface ColumnDef {
  readonly name: string;
  /** SQL type text (format_type with typmod), schema-qualified where needed. */
  readonly type: string;
  readonly collation: QualifiedName | undefined;
  /** Default expression; undefined for none (and for generated columns). */
  readonly default: string | undefined;
  readonly notNull: boolean;
  readonly identity: ColumnIdentity | undefined;
  /** `GENERATED ALWAYS AS (expr) STORED` expression. */
  readonly generated: string | undefined;
  readonly comment: string | undefined;
  /**
   * `ALTER COLUMN ... SET STORAGE`, only when it differs from the type's default (pg_attribute.attstorage
   * vs pg_type.typstorage). PostgreSQL docs, ALTER TABLE, "SET STORAGE".
   */
  readonly storage?: ColumnStorage | undefined;
  /** `ALTER COLUMN ... SET COMPRESSION` (PostgreSQL 14+), only when set on the column (not the default). */
  readonly compression?: 'pglz' | 'lz4' | undefined;
  /** `ALTER COLUMN ... SET STATISTICS n`, only when set on the column (not the default target). */
  readonly statistics?: number | undefined;
  /**
   * The column comes from the parents of {@link TableDef.inherits} only (pg_attribute.attislocal
   * false): `INHERITS` creates it, so the table's own column list leaves it out.
   */
  readonly inherited?: boolean | undefined;
}

/** A column's storage mode (pg_attribute.attstorage p, e, x, m). */
export type ColumnStorage = 'plain' | 'external' | 'extended' | 'main';

/** A table constraint created with the table (CHECK) or right after it (PRIMARY KEY, UNIQUE, EXCLUDE). */
export interface TableConstraintDef {
  readonly kind: 'check' | 'primary-key' | 'unique' | 'exclusion';
  readonly name: string;
  /** pg_get_constraintdef text, e.g. `CHECK ((qty > 0))`, `PRIMARY KEY (id)`. */
  readonly definition: string;
  /**
   * A CHECK a partition has from its parent (not local): PARTITION OF recreates it, a partition
   * created on its own needs it before ATTACH PARTITION.
   */
  readonly inherited: boolean;
  /** For index-backed constraints of a partition: the parent table's index it is attached to. */
  readonly parentIndex: QualifiedName | undefined;
  readonly comment: string | undefined;
}

/** A foreign key (created after the data load). */
export interface ForeignKeyDef {
  readonly kind: 'foreign-key';
  readonly name: string;
  /** pg_get_constraintdef text, `FOREIGN KEY (...) REFERENCES ...`. */
  readonly definition: string;
  readonly references: QualifiedName;
  readonly comment: string | undefined;
}

/** Partitioning of a table or its place in a parent. */
export interface PartitionOf {
  readonly parent: QualifiedName;
  /** `FOR VALUES ...` or `DEFAULT` (pg_get_expr of relpartbound). */
  readonly bound: string;
}

/** A table (plain, partitioned, or a partition). */
export interface TableDef extends QualifiedName {
  readonly kind: 'table';
  readonly unlogged: boolean;
  readonly columns: readonly ColumnDef[];
  /** CHECK, PRIMARY KEY, UNIQUE, EXCLUDE constraints defined on this table (inherited copies excluded). */
  readonly constraints: readonly TableConstraintDef[];
  readonly foreignKeys: readonly ForeignKeyDef[];
  /** `PARTITION BY` key text (pg_get_partkeydef), when partitioned. */
  readonly partitionBy: string | undefined;
  readonly partitionOf: PartitionOf | undefined;
  readonly replicaIdentity: 'default' | 'full' | 'nothing' | { readonly index: string };
  /** Storage parameters (`WITH (...)`), as `name=value` text. */
  readonly options: readonly string[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
  /**
   * Storage parameters of the table's TOAST table, as `name=value` text without the `toast.` prefix
   * (reloptions of pg_class.reltoastrelid). PostgreSQL docs, CREATE TABLE, "Storage Parameters".
   */
  readonly toastOptions?: readonly string[] | undefined;
  /**
   * `ALTER TABLE ... ENABLE ROW LEVEL SECURITY` (relrowsecurity) and `FORCE ROW LEVEL SECURITY`
   * (relforcerowsecurity); undefined when neither is set. PostgreSQL docs, "Row Security Policies".
   */
  readonly rowSecurity?: { readonly enabled: boolean; readonly forced: boolean } | undefined;
  /**
   * Parents of table inheritance (`INHERITS`, pg_inherits in inhseqno order; partitions excluded),
   * set only when every parent is in the model; otherwise the table is created on its own, with all
   * its columns and constraints. PostgreSQL docs, "Inheritance".
   */
  readonly inherits?: readonly QualifiedName[] | undefined;
  /**
   * A typed table (`CREATE TABLE ... OF type`, pg_class.reloftype): its columns come from the
   * composite type. PostgreSQL docs, CREATE TABLE, "OF type_name".
   */
  readonly ofType?: QualifiedName | undefined;
}

/**
 * A row-level security policy (pg_policy). PostgreSQL docs, CREATE POLICY. Expressions are
 * pg_get_expr text (names schema-qualified, columns of the table unqualified).
 */
export interface PolicyDef {
  readonly kind: 'policy';
  readonly name: string;
  readonly table: QualifiedName;
  readonly command: 'all' | 'select' | 'insert' | 'update' | 'delete';
  /** `AS PERMISSIVE` (true) or `AS RESTRICTIVE`. */
  readonly permissive: boolean;
  /** Role names the policy applies to, sorted; empty for PUBLIC. */
  readonly roles: readonly string[];
  /** `USING (...)` expression. */
  readonly using: string | undefined;
  /** `WITH CHECK (...)` expression. */
  readonly withCheck: string | undefined;
  readonly comment: string | undefined;
}

/**
 * A rewrite rule on a table (pg_rewrite, not the `_RETURN` rule of a view). PostgreSQL docs, CREATE
 * RULE, and chapter "The Rule System".
 */
export interface RuleDef {
  readonly kind: 'rule';
  readonly name: string;
  readonly table: QualifiedName;
  /** pg_get_ruledef text (`CREATE RULE ... AS ON ... DO ...`), without trailing semicolon. */
  readonly definition: string;
  /** pg_rewrite.ev_enabled: O origin (default), D disabled, R replica, A always. */
  readonly enabled: 'origin' | 'disabled' | 'replica' | 'always';
  readonly comment: string | undefined;
}

/** A secondary index (not backing a constraint). */
export interface IndexDef extends QualifiedName {
  readonly kind: 'index';
  readonly table: QualifiedName;
  /** pg_get_indexdef text (`CREATE [UNIQUE] INDEX ... ON [ONLY] ...`). */
  readonly definition: string;
  readonly unique: boolean;
  /** Index of the parent partitioned table this one is attached to. */
  readonly parentIndex: QualifiedName | undefined;
  readonly clustered: boolean;
  readonly comment: string | undefined;
}

/** A view or materialized view. */
export interface ViewDef extends QualifiedName {
  readonly kind: 'view' | 'materialized-view';
  /** The query (pg_get_viewdef), without trailing semicolon. */
  readonly query: string;
  /** Column names in order, with comments. */
  readonly columns: readonly { readonly name: string; readonly comment: string | undefined }[];
  /** reloptions (`security_barrier=true`, `check_option=local`...). */
  readonly options: readonly string[];
  /** Materialized views only: populated on the source, so REFRESH after the load. */
  readonly populated: boolean;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** A function or procedure. */
export interface RoutineDef extends QualifiedName {
  readonly kind: 'function' | 'procedure';
  /** `name(argtypes)`, input argument types as oidvectortypes prints them: unique within a schema. */
  readonly signature: string;
  /** Full `CREATE OR REPLACE ...` text from pg_get_functiondef. */
  readonly definition: string;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** A trigger (internal triggers of foreign keys and clones on partitions excluded). */
export interface TriggerDef {
  readonly kind: 'trigger';
  readonly name: string;
  readonly table: QualifiedName;
  /** pg_get_triggerdef text. */
  readonly definition: string;
  /** pg_trigger.tgenabled: O origin (default), D disabled, R replica, A always. */
  readonly enabled: 'origin' | 'disabled' | 'replica' | 'always';
  /** Trigger function, to order creation. */
  readonly function: ObjectRef;
  readonly comment: string | undefined;
}

/**
 * An extended statistics object (pg_statistic_ext): `CREATE STATISTICS`, with kinds ndistinct,
 * dependencies, mcv, and expressions from PostgreSQL 14. PostgreSQL docs, CREATE STATISTICS.
 */
export interface StatisticsDef extends QualifiedName {
  readonly kind: 'statistics';
  readonly table: QualifiedName;
  /** pg_get_statisticsobjdef text (`CREATE STATISTICS s.n (kinds) ON cols FROM s.t`). */
  readonly definition: string;
  /** `ALTER STATISTICS ... SET STATISTICS n`, only when set (not the default target). */
  readonly target: number | undefined;
  readonly comment: string | undefined;
}

/** Everything schema sync creates, each list sorted by schema and name. */
export interface SchemaModel {
  readonly schemas: readonly SchemaDef[];
  readonly extensions: readonly ExtensionDef[];
  readonly types: readonly TypeDef[];
  readonly sequences: readonly SequenceDef[];
  readonly tables: readonly TableDef[];
  readonly indexes: readonly IndexDef[];
  readonly views: readonly ViewDef[];
  readonly routines: readonly RoutineDef[];
  readonly triggers: readonly TriggerDef[];
  /** Row-level security policies, sorted by table and name (absent: none). */
  readonly policies?: readonly PolicyDef[];
  /** Rewrite rules on tables, sorted by table and name (absent: none). */
  readonly rules?: readonly RuleDef[];
  /** Extended statistics objects, sorted by schema and name (absent: none). */
  readonly statistics?: readonly StatisticsDef[];
}

/** Stable key of a referenced object, e.g. `table:Sales Dept.Order Items`. */
export function refKey(r: ObjectRef): string {
  return `${r.kind}:${r.schema}\u0000${r.name}`;
}
