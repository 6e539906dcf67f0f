/**
 * A plain-data model of the schema objects pgdts replicates, independent of PostgreSQL catalogs (no
 * OIDs): the source connector fills it from pg_catalog, the sink turns it into DDL. Keeping it free of
 * catalog details lets later steps rename objects or target other engines.
 *
 * Expressions (defaults, checks, view queries, index and trigger definitions, function bodies) are
 * SQL text as PostgreSQL deparses them (pg_get_expr, pg_get_constraintdef, pg_get_viewdef,
 * pg_get_indexdef, pg_get_triggerdef, pg_get_functiondef) with every name schema-qualified.
 * Ownership and privileges ({@link ObjectAccess}, {@link DefaultPrivilegeDef}, {@link RoleDef}) are
 * read only when a task asks for them (`schema.owners`, `schema.privileges`); otherwise objects
 * belong to the destination user with PostgreSQL's default privileges.
 */
import { quoteIdent, quoteQualified, type QualifiedName } from './identifier.ts';

/**
 * A reference from one object to another object of the model, used to order creation (a view on a
 * view, a domain over a domain, a default calling a function). `name` of a routine (function,
 * procedure or aggregate) is its signature key (see {@link RoutineDef.signature}); of an operator its
 * {@link OperatorDef.signature}; of an operator class or family `name USING method`
 * ({@link operatorClassRefName}); of a collation its name.
 */
export interface ObjectRef {
  readonly kind:
    | 'type'
    | 'sequence'
    | 'table'
    | 'view'
    | 'routine'
    | 'operator'
    | 'operator-class'
    | 'operator-family'
    | 'collation';
  readonly schema: string;
  readonly name: string;
}

/** Who a privilege is granted to: PUBLIC (every role) or one role. */
export type Grantee = { readonly kind: 'public' } | { readonly kind: 'role'; readonly name: string };

/**
 * One privilege of an ACL, as `aclexplode` returns it (PostgreSQL docs, "5.8 Privileges", and
 * "System Information Functions", aclexplode). The grantor is not kept: statements run as the
 * destination user are recorded as granted by the object's owner.
 */
export interface PrivilegeGrant {
  readonly grantee: Grantee;
  /**
   * aclexplode's privilege_type, which is also the GRANT keyword: SELECT, INSERT, UPDATE, DELETE,
   * TRUNCATE, REFERENCES, TRIGGER, EXECUTE, USAGE, CREATE, MAINTAIN (PostgreSQL 17+).
   */
  readonly privilege: string;
  /** `WITH GRANT OPTION`. */
  readonly grantable: boolean;
}

/**
 * An object's privileges as the difference from its built-in default (acldefault: the owner holds
 * every privilege, PUBLIC holds EXECUTE on routines and USAGE on types): what to GRANT beyond it
 * and what of it to REVOKE. PostgreSQL docs, "5.8 Privileges", table "ACL Privilege Abbreviations"
 * and "Summary of Access Privileges".
 */
export interface ObjectPrivileges {
  readonly grants: readonly PrivilegeGrant[];
  /** Default privileges the source revoked (`REVOKE EXECUTE ... FROM PUBLIC`, an owner's own). */
  readonly revokes: readonly PrivilegeGrant[];
}

/**
 * Owner and privileges of an object, set only when a task asks (`schema.owners`,
 * `schema.privileges`); absent fields are left to the destination (its user owns what it creates).
 */
export interface ObjectAccess {
  /** Owner role name. */
  readonly owner?: string | undefined;
  /** Set when the source's ACL is not the default one (its acl column is not NULL). */
  readonly privileges?: ObjectPrivileges | undefined;
}

/** Object kinds `ALTER DEFAULT PRIVILEGES ... ON` takes inside a schema. */
export type DefaultPrivilegeObjects = 'tables' | 'sequences' | 'functions' | 'types';

/**
 * `ALTER DEFAULT PRIVILEGES FOR ROLE role IN SCHEMA schema GRANT ... ON objects TO ...`: one
 * pg_default_acl row of a selected schema (PostgreSQL docs, "ALTER DEFAULT PRIVILEGES", catalog
 * pg_default_acl). Per-schema entries only add to the global defaults, so they are grants only.
 */
export interface DefaultPrivilegeDef {
  readonly kind: 'default-privileges';
  /** defaclrole: the role whose future objects get the privileges. */
  readonly role: string;
  readonly schema: string;
  readonly objects: DefaultPrivilegeObjects;
  readonly grants: readonly PrivilegeGrant[];
}

/**
 * A role an owner or a privilege of the model names, with its attributes on the source (pg_roles;
 * PostgreSQL docs, "CREATE ROLE"): what a DBA needs to review a `CREATE ROLE` for a destination
 * that lacks it. Never a password.
 */
export interface RoleDef {
  readonly kind: 'role';
  readonly name: string;
  readonly login: boolean;
  readonly inherit: boolean;
  readonly createDb: boolean;
  readonly createRole: boolean;
  readonly superuser: boolean;
  readonly replication: boolean;
  readonly bypassRls: boolean;
  /** rolconnlimit; -1 for no limit. */
  readonly connectionLimit: number;
  /** Roles it is a member of (pg_auth_members), sorted. */
  readonly memberOf: readonly string[];
}

/** A schema (namespace). */
export interface SchemaDef {
  readonly kind: 'schema';
  readonly name: string;
  readonly comment: string | undefined;
  readonly access?: ObjectAccess | undefined;
}

/** An extension the selected objects use; created with IF NOT EXISTS, skipped when unavailable. */
export interface ExtensionDef {
  readonly kind: 'extension';
  readonly name: string;
  /** Schema its objects live in (`WITH SCHEMA`). */
  readonly schema: string;
  /** Version installed on the source (informational: the destination's default version is used). */
  readonly version: string;
  /**
   * Selected objects that use one of its types or routines, as `kind schema.name` labels, sorted
   * (absent or empty: it is there because its schema is selected).
   */
  readonly usedBy?: readonly string[];
}

/** `CREATE TYPE ... AS ENUM`: labels in sort order. */
export interface EnumTypeDef extends QualifiedName {
  readonly kind: 'enum';
  readonly labels: readonly string[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
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
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
}

/**
 * `CREATE TYPE ... AS RANGE` (PostgreSQL docs, "CREATE TYPE", range types; catalog pg_range).
 * Function names are qualified SQL text.
 */
export interface RangeTypeDef extends QualifiedName {
  readonly kind: 'range';
  readonly subtype: string;
  /** Operator class of the subtype when not the default one, qualified SQL text. */
  readonly subtypeOpclass: string | undefined;
  readonly collation: QualifiedName | undefined;
  /**
   * `CANONICAL` function (pg_range.rngcanonical), absent when none. It takes the range type itself,
   * so the plan creates a shell type (`CREATE TYPE name;`) first, then the function, then the range.
   */
  readonly canonical?: string | undefined;
  readonly subtypeDiff: string | undefined;
  /** Multirange type name (PostgreSQL 14+), only when it differs from the name derived by default. */
  readonly multirangeName: QualifiedName | undefined;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
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
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
}

/** pg_type.typalign as `CREATE TYPE ... ALIGNMENT` spells it. */
export type TypeAlignment = 'char' | 'int2' | 'int4' | 'double';

/**
 * A user-defined base type (pg_type.typtype `b`, not an array, not an extension's): `CREATE TYPE
 * name (INPUT = ..., OUTPUT = ..., ...)` (PostgreSQL docs, "CREATE TYPE", base types). Its support
 * functions take or return the type, so the plan creates a shell type (`CREATE TYPE name;`) first,
 * then those functions (usually `LANGUAGE c` or `internal`: {@link RoutineDef.native}), then the
 * type; its array type comes with it. Options follow pg_dump's dumpBaseType (each one only when it
 * differs from CREATE TYPE's default). Function names are regproc text (qualified but in pg_catalog).
 */
export interface BaseTypeDef extends QualifiedName {
  readonly kind: 'base';
  readonly input: string;
  readonly output: string;
  readonly receive: string | undefined;
  readonly send: string | undefined;
  readonly typmodIn: string | undefined;
  readonly typmodOut: string | undefined;
  readonly analyze: string | undefined;
  /** `SUBSCRIPT` (PostgreSQL 14+; pg_type.typsubscript), undefined when none. */
  readonly subscript: string | undefined;
  /** pg_type.typlen: bytes, `-1` for `variable`, `-2` for a null-terminated C string. */
  readonly internalLength: number;
  readonly passedByValue: boolean;
  readonly alignment: TypeAlignment;
  readonly storage: ColumnStorage;
  /** pg_type.typcategory, one character (`U`, user-defined, is the default). */
  readonly category: string;
  readonly preferred: boolean;
  /** `DEFAULT` as text (pg_type.typdefault: a base type's default is a literal), undefined for none. */
  readonly default: string | undefined;
  /** `ELEMENT`: the element type (format_type text) of a fixed-length array-like type. */
  readonly element: string | undefined;
  /** `DELIMITER` between array elements, one character (`,` is the default). */
  readonly delimiter: string;
  readonly collatable: boolean;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
}

/** A user-defined type. */
export type TypeDef = EnumTypeDef | CompositeTypeDef | RangeTypeDef | DomainTypeDef | BaseTypeDef;

/**
 * Does `t` need a shell type (`CREATE TYPE name;`) before the functions it is made of: a base type
 * (its I/O functions take or return it), a range type with a `CANONICAL` function (which takes it).
 * PostgreSQL docs, "CREATE TYPE" (shell types).
 */
export function needsShellType(t: TypeDef): boolean {
  switch (t.kind) {
    case 'base':
      return true;
    case 'range':
      return t.canonical !== undefined;
    case 'enum':
    case 'composite':
    case 'domain':
      return false;
  }
}

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
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
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
  /** Column privileges (attacl: `GRANT SELECT (col) ...`), only when the task asks for privileges. */
  readonly grants?: readonly PrivilegeGrant[] | undefined;
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
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
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
  /** pg_rewrite.ev_enabled. */
  readonly enabled: FiringState;
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
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
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
  /**
   * Set for a function in `LANGUAGE c` or `internal` (pg_proc.prolang; absent for every other
   * language): creating it needs a superuser on the destination, and for C the library there.
   */
  readonly native?: NativeCode | undefined;
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
}

/**
 * Where a `LANGUAGE c` or `internal` function's code is (PostgreSQL docs, "CREATE FUNCTION", `AS
 * 'obj_file', 'link_symbol'`; "C-Language Functions"; "Internal Functions").
 */
export type NativeCode =
  /** pg_proc.probin (e.g. `$libdir/foo`) and prosrc (the C symbol). */
  | { readonly language: 'c'; readonly library: string; readonly symbol: string }
  /** prosrc: the name of a function built into the server, e.g. `int4in`. */
  | { readonly language: 'internal'; readonly symbol: string };

/** A trigger (internal triggers of foreign keys and clones on partitions excluded). */
export interface TriggerDef {
  readonly kind: 'trigger';
  readonly name: string;
  readonly table: QualifiedName;
  /** pg_get_triggerdef text. */
  readonly definition: string;
  /** pg_trigger.tgenabled. */
  readonly enabled: FiringState;
  /**
   * Trigger function, to order creation; undefined for one the model does not carry: a built-in
   * (e.g. `tsvector_update_trigger`, `suppress_redundant_updates_trigger`) or an extension's, which
   * the destination has by itself or with the extension.
   */
  readonly function: ObjectRef | undefined;
  readonly comment: string | undefined;
}

/**
 * `FINALFUNC_MODIFY` / `MFINALFUNC_MODIFY` of an aggregate (pg_aggregate.aggfinalmodify: `r`, `s`,
 * `w`): whether the final function leaves the transition state untouched.
 */
export type AggregateFinalModify = 'read-only' | 'shareable' | 'read-write';

/**
 * A user-defined aggregate, created with `CREATE AGGREGATE` (PostgreSQL docs, "CREATE AGGREGATE";
 * catalog pg_aggregate). Plain (`kind: 'normal'`), ordered-set (`WITHIN GROUP`) and hypothetical-set
 * aggregates; the moving-aggregate (`MSFUNC`...) options when the aggregate has them.
 *
 * Function names are qualified SQL text (`"Sales Dept"."add one"`, `pg_catalog.int4pl`), types are
 * format_type text. An aggregate lives in pg_proc with the functions: references to it
 * ({@link ObjectRef}) use kind `routine` and its {@link signature}, as for functions, so a view calling
 * it or a default using it is ordered after it.
 */
export interface AggregateDef extends QualifiedName {
  readonly kind: 'aggregate';
  /** `name(argtypes)` as for {@link RoutineDef.signature} (oidvectortypes of all arguments). */
  readonly signature: string;
  /**
   * The argument list as pg_get_function_arguments prints it, e.g. `integer`,
   * `double precision ORDER BY anyelement`; empty for an aggregate over `*`.
   */
  readonly arguments: string;
  /** pg_aggregate.aggkind: `n` normal, `o` ordered-set, `h` hypothetical-set. */
  readonly aggregateKind: 'normal' | 'ordered-set' | 'hypothetical-set';
  readonly stateFunction: string;
  readonly stateType: string;
  /** `SSPACE`, bytes; undefined when 0 (the default estimate). */
  readonly stateSpace: number | undefined;
  readonly finalFunction: string | undefined;
  readonly finalExtra: boolean;
  readonly finalModify: AggregateFinalModify;
  readonly combineFunction: string | undefined;
  readonly serialFunction: string | undefined;
  readonly deserialFunction: string | undefined;
  /** `INITCOND` text, undefined for NULL. */
  readonly initialCondition: string | undefined;
  /** Moving-aggregate mode (`MSFUNC`, `MINVFUNC`, `MSTYPE`...); undefined when the aggregate has none. */
  readonly moving:
    | {
        readonly stateFunction: string;
        readonly inverseFunction: string;
        readonly stateType: string;
        readonly stateSpace: number | undefined;
        readonly finalFunction: string | undefined;
        readonly finalExtra: boolean;
        readonly finalModify: AggregateFinalModify;
        readonly initialCondition: string | undefined;
      }
    | undefined;
  /** `SORTOP`: the operator of a MIN/MAX-like aggregate, by schema and operator name. */
  readonly sortOperator: QualifiedName | undefined;
  /** pg_proc.proparallel. */
  readonly parallel: 'safe' | 'restricted' | 'unsafe';
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
  /** Owner and privileges (only when the task asks for them). */
  readonly access?: ObjectAccess | undefined;
}

/**
 * `CREATE OPERATOR` (PostgreSQL docs, "CREATE OPERATOR"; catalog pg_operator). `name` is the
 * operator's symbol, e.g. `===`. Types are format_type text, functions qualified names.
 */
export interface OperatorDef extends QualifiedName {
  readonly kind: 'operator';
  /** `name(left,right)` with `NONE` for a missing operand: unique within a schema (the ref name). */
  readonly signature: string;
  /** Left operand type; undefined for a prefix operator. */
  readonly left: string | undefined;
  /** Right operand type; undefined for a postfix operator (PostgreSQL 13 only). */
  readonly right: string | undefined;
  /** `FUNCTION`, qualified name. */
  readonly function: string;
  /** `COMMUTATOR`, by schema and symbol. */
  readonly commutator: QualifiedName | undefined;
  /** `NEGATOR`, by schema and symbol. */
  readonly negator: QualifiedName | undefined;
  /** `RESTRICT` selectivity estimator, qualified name. */
  readonly restrict: string | undefined;
  /** `JOIN` selectivity estimator, qualified name. */
  readonly join: string | undefined;
  readonly hashes: boolean;
  readonly merges: boolean;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** An operator of an operator class or family: `OPERATOR strategy op (left, right) [FOR ...]`. */
export interface OperatorMember {
  readonly strategy: number;
  /** The operator, by schema and symbol. */
  readonly operator: QualifiedName;
  readonly left: string;
  readonly right: string;
  /** `FOR ORDER BY` sort family (qualified name), undefined for `FOR SEARCH`. */
  readonly orderBy: QualifiedName | undefined;
}

/** A support function of an operator class or family: `FUNCTION number (left, right) fn(args)`. */
export interface FunctionMember {
  readonly number: number;
  readonly left: string;
  readonly right: string;
  /** The function with its argument types, qualified: `"s".cmp(integer, integer)`. */
  readonly function: string;
}

/**
 * `CREATE OPERATOR FAMILY name USING method` with the members that belong to the family and not to
 * one of its classes (`ALTER OPERATOR FAMILY ... ADD`). PostgreSQL docs, "CREATE OPERATOR FAMILY",
 * "ALTER OPERATOR FAMILY".
 */
export interface OperatorFamilyDef extends QualifiedName {
  readonly kind: 'operator-family';
  /** Index access method: `btree`, `hash`, `gist`... */
  readonly method: string;
  readonly operators: readonly OperatorMember[];
  readonly functions: readonly FunctionMember[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** `CREATE OPERATOR CLASS` (PostgreSQL docs, "CREATE OPERATOR CLASS"; catalog pg_opclass). */
export interface OperatorClassDef extends QualifiedName {
  readonly kind: 'operator-class';
  readonly method: string;
  /** `FOR TYPE`, format_type text. */
  readonly type: string;
  readonly default: boolean;
  /** `FAMILY`: the family it belongs to. */
  readonly family: QualifiedName;
  /** `STORAGE` type when it differs from {@link type}. */
  readonly storage: string | undefined;
  readonly operators: readonly OperatorMember[];
  readonly functions: readonly FunctionMember[];
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/** `name USING method`: the {@link ObjectRef} name of an operator class or family. */
export function operatorClassRefName(o: { readonly name: string; readonly method: string }): string {
  return `${o.name} USING ${o.method}`;
}

/** `CREATE CAST` (PostgreSQL docs, "CREATE CAST"; catalog pg_cast). Types are format_type text. */
export interface CastDef {
  readonly kind: 'cast';
  readonly source: string;
  readonly target: string;
  /** `WITH FUNCTION`, `WITHOUT FUNCTION` (binary coercible) or `WITH INOUT`. */
  readonly method: 'function' | 'binary' | 'inout';
  /** For `function`: the function with its argument types, qualified: `"s".to_b("s".a)`. */
  readonly function: string | undefined;
  /** `AS ASSIGNMENT`, `AS IMPLICIT`, or neither. */
  readonly context: 'explicit' | 'assignment' | 'implicit';
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/**
 * `CREATE COLLATION` (PostgreSQL docs, "CREATE COLLATION"; catalog pg_collation): libc (`lc_collate`,
 * `lc_ctype`), ICU (`locale`, `deterministic`, `rules` on PostgreSQL 16+) or, PostgreSQL 17+, the
 * builtin provider.
 */
export interface CollationDef extends QualifiedName {
  readonly kind: 'collation';
  readonly provider: 'libc' | 'icu' | 'builtin';
  /** libc: LC_COLLATE; undefined for ICU and builtin. */
  readonly lcCollate: string | undefined;
  /** libc: LC_CTYPE; undefined for ICU and builtin. */
  readonly lcCtype: string | undefined;
  /** ICU or builtin: the locale; undefined for libc. */
  readonly locale: string | undefined;
  readonly deterministic: boolean;
  /** ICU tailoring rules (PostgreSQL 16+), undefined for none. */
  readonly rules: string | undefined;
  readonly comment: string | undefined;
}

/** `CREATE [DEFAULT] CONVERSION` (PostgreSQL docs, "CREATE CONVERSION"; catalog pg_conversion). */
export interface ConversionDef extends QualifiedName {
  readonly kind: 'conversion';
  /** Source encoding name, e.g. `UTF8`. */
  readonly source: string;
  /** Destination encoding name, e.g. `LATIN1`. */
  readonly target: string;
  /** The conversion function, qualified name. */
  readonly function: string;
  readonly default: boolean;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/**
 * `CREATE TEXT SEARCH DICTIONARY` (PostgreSQL docs, "CREATE TEXT SEARCH DICTIONARY"; catalog
 * pg_ts_dict): a template and its options.
 */
export interface TextSearchDictionaryDef extends QualifiedName {
  readonly kind: 'text-search-dictionary';
  readonly template: QualifiedName;
  /** pg_ts_dict.dictinitoption, e.g. `stopwords = 'english', accept = 'false'`; undefined for none. */
  readonly options: string | undefined;
  readonly comment: string | undefined;
}

/**
 * `CREATE TEXT SEARCH CONFIGURATION ... (PARSER = ...)` and its `ADD MAPPING FOR token WITH dicts`
 * (PostgreSQL docs, "CREATE TEXT SEARCH CONFIGURATION", "ALTER TEXT SEARCH CONFIGURATION").
 */
export interface TextSearchConfigurationDef extends QualifiedName {
  readonly kind: 'text-search-configuration';
  readonly parser: QualifiedName;
  /** Token type alias → dictionaries in order, sorted by alias. */
  readonly mappings: readonly { readonly token: string; readonly dictionaries: readonly QualifiedName[] }[];
  readonly comment: string | undefined;
}

/**
 * `CREATE TEXT SEARCH PARSER` (PostgreSQL docs, "CREATE TEXT SEARCH PARSER"; catalog pg_ts_parser).
 * Its functions (usually `LANGUAGE c` or `internal`) are routines of the model; names are qualified.
 */
export interface TextSearchParserDef extends QualifiedName {
  readonly kind: 'text-search-parser';
  readonly start: string;
  readonly getToken: string;
  readonly end: string;
  readonly lexTypes: string;
  /** `HEADLINE`, undefined when none. */
  readonly headline: string | undefined;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/**
 * `CREATE TEXT SEARCH TEMPLATE` (PostgreSQL docs, "CREATE TEXT SEARCH TEMPLATE"; catalog
 * pg_ts_template). Function names are qualified.
 */
export interface TextSearchTemplateDef extends QualifiedName {
  readonly kind: 'text-search-template';
  /** `INIT`, undefined when none. */
  readonly init: string | undefined;
  readonly lexize: string;
  readonly comment: string | undefined;
  readonly dependsOn: readonly ObjectRef[];
}

/**
 * An object of a selected schema that schema sync does not create, reported as a warning. No kind
 * is refused today (text search parsers and templates, once refused, are created); the list stays
 * for a kind the model cannot carry.
 */
export interface RefusedObjectDef extends QualifiedName {
  readonly kind: 'text-search-parser' | 'text-search-template';
  /** Why, in one sentence, with what to do. */
  readonly reason: string;
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

/**
 * When a trigger or rule fires, by session_replication_role (pg_trigger.tgenabled,
 * pg_rewrite.ev_enabled: O origin, the default; D disabled; R replica; A always). PostgreSQL docs,
 * "ALTER TABLE" (ENABLE/DISABLE TRIGGER, RULE).
 */
export type FiringState = 'origin' | 'disabled' | 'replica' | 'always';

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
  /** User-defined aggregates (pg_proc.prokind `a`), sorted by schema and signature. */
  readonly aggregates: readonly AggregateDef[];
  /** User-defined operators, sorted by schema and signature. */
  readonly operators: readonly OperatorDef[];
  /** Operator families with their loose members, sorted by schema, name and method. */
  readonly operatorFamilies: readonly OperatorFamilyDef[];
  /** Operator classes, sorted by schema, name and method. */
  readonly operatorClasses: readonly OperatorClassDef[];
  /** Casts from or to a selected type, sorted by source and target type. */
  readonly casts: readonly CastDef[];
  /** User-defined collations, sorted by schema and name. */
  readonly collations: readonly CollationDef[];
  /** Encoding conversions, sorted by schema and name. */
  readonly conversions: readonly ConversionDef[];
  /** Text search dictionaries, sorted by schema and name. */
  readonly textSearchDictionaries: readonly TextSearchDictionaryDef[];
  /** Text search configurations, sorted by schema and name. */
  readonly textSearchConfigurations: readonly TextSearchConfigurationDef[];
  /** Text search parsers, sorted by schema and name. */
  readonly textSearchParsers: readonly TextSearchParserDef[];
  /** Text search templates, sorted by schema and name. */
  readonly textSearchTemplates: readonly TextSearchTemplateDef[];
  /** Objects of the selected schemas schema sync cannot create, with the reason, sorted by schema and name. */
  readonly refused: readonly RefusedObjectDef[];
  /** Row-level security policies, sorted by table and name (absent: none). */
  readonly policies?: readonly PolicyDef[];
  /** Rewrite rules on tables, sorted by table and name (absent: none). */
  readonly rules?: readonly RuleDef[];
  /** Extended statistics objects, sorted by schema and name (absent: none). */
  readonly statistics?: readonly StatisticsDef[];
  /** Default privileges of selected schemas, sorted by schema, role and objects (absent: none). */
  readonly defaultPrivileges?: readonly DefaultPrivilegeDef[];
  /** Roles owners and privileges name, sorted by name (absent: not read). */
  readonly roles?: readonly RoleDef[];
}

/** Stable key of a referenced object, e.g. `table:Sales Dept.Order Items`. */
export function refKey(r: ObjectRef): string {
  return `${r.kind}:${r.schema}\u0000${r.name}`;
}

/** A model without objects: the base of models built field by field. */
export const EMPTY_SCHEMA_MODEL: SchemaModel = {
  schemas: [],
  extensions: [],
  types: [],
  sequences: [],
  tables: [],
  indexes: [],
  views: [],
  routines: [],
  triggers: [],
  aggregates: [],
  operators: [],
  operatorFamilies: [],
  operatorClasses: [],
  casts: [],
  collations: [],
  conversions: [],
  textSearchDictionaries: [],
  textSearchConfigurations: [],
  textSearchParsers: [],
  textSearchTemplates: [],
  refused: [],
};

/** Options of reading a schema model: what to read besides the objects' definitions. */
export interface ReadSchemaOptions {
  /** Privileges (ACLs, column privileges, default privileges): `schema.privileges`. */
  readonly privileges?: boolean;
  /** Owners: `schema.owners`. */
  readonly owners?: boolean;
  /**
   * Tables outside the selectors that the destination has already (the task's synchronised tables,
   * when a table joins while streaming): foreign keys of selected tables referencing them are kept,
   * as foreign keys between selected tables are; others referencing unselected tables are left out.
   */
  readonly referenceable?: readonly QualifiedName[];
}

/** Role names a model's owners and privileges name (PUBLIC excluded), sorted. */
export function rolesNamedBy(model: SchemaModel): string[] {
  const names = new Set<string>();
  const grants = (gs: readonly PrivilegeGrant[] | undefined): void => {
    for (const g of gs ?? []) if (g.grantee.kind === 'role') names.add(g.grantee.name);
  };
  for (const a of accessOf(model)) {
    if (a.access.owner !== undefined) names.add(a.access.owner);
    grants(a.access.privileges?.grants);
    grants(a.access.privileges?.revokes);
  }
  for (const t of model.tables) for (const c of t.columns) grants(c.grants);
  for (const d of model.defaultPrivileges ?? []) {
    names.add(d.role);
    grants(d.grants);
  }
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** An object of the model that carries {@link ObjectAccess}, with a label for messages. */
export interface AccessHolder {
  /** e.g. `table "s"."t"`. */
  readonly label: string;
  readonly access: ObjectAccess;
}

/** Every object of `model` with owner or privileges set, in model order. */
export function accessOf(model: SchemaModel): AccessHolder[] {
  const q = quoteQualified;
  const out: AccessHolder[] = [];
  const add = (label: string, access: ObjectAccess | undefined): void => {
    if (access !== undefined) out.push({ label, access });
  };
  for (const s of model.schemas) add(`schema ${quoteIdent(s.name)}`, s.access);
  for (const t of model.types) add(`${t.kind === 'domain' ? 'domain' : 'type'} ${q(t)}`, t.access);
  for (const s of model.sequences) add(`sequence ${q(s)}`, s.access);
  for (const t of model.tables) add(`table ${q(t)}`, t.access);
  for (const v of model.views) add(`${v.kind.replace('-', ' ')} ${q(v)}`, v.access);
  for (const r of model.routines) add(`${r.kind} ${q(r)}${r.signature.slice(r.name.length)}`, r.access);
  for (const a of model.aggregates) add(`aggregate ${q(a)}${a.signature.slice(a.name.length)}`, a.access);
  return out;
}
