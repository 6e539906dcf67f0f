/**
 * Schema changes followed during incremental sync: what the source's DDL capture reports (a
 * {@link DdlMessage}, written by an event trigger into the WAL with `pg_logical_emit_message`), and
 * the structured changes (a {@link DdlChange}) the pipeline asks a sink to make. Sans I/O.
 *
 * The message carries, besides the command text, a snapshot of each affected object's definition as
 * of the DDL (taken inside the DDL's transaction with the catalog functions the schema introspection
 * uses), so the pipeline never reads a source catalog that may be newer than the change it applies.
 * PostgreSQL docs: "Event Triggers", "Event Trigger Functions" (pg_event_trigger_ddl_commands,
 * pg_event_trigger_dropped_objects), "pg_logical_emit_message".
 */
import { PgdtsError } from './errors.ts';
import type { QualifiedName } from './identifier.ts';
import type { Lsn } from './lsn.ts';
import type {
  CompositeAttribute,
  DomainConstraint,
  FiringState,
  IndexDef,
  RoutineDef,
  SequenceDef,
  TriggerDef,
  TypeDef,
  ViewDef,
} from './schema-model.ts';
import type { ObjectSelector, TaskConfig } from './task-config.ts';

/** Prefix of the logical decoding messages of pgdts's DDL capture. */
export const DDL_MESSAGE_PREFIX = 'pgdts.ddl';

/** One column of a table snapshot (pg_attribute, not dropped, attnum > 0). */
export interface DdlColumn {
  /** Stable across renames and type changes: changes are matched by it. */
  readonly attnum: number;
  readonly name: string;
  /** format_type(atttypid, atttypmod). */
  readonly type: string;
  /** pg_get_expr of the default; null when none (and for generated columns). */
  readonly default: string | null;
  readonly notNull: boolean;
  /** attidentity: '' none, 'a' always, 'd' by default. */
  readonly identity: string;
  /** Generation expression of a stored generated column; null otherwise. */
  readonly generated: string | null;
}

/** A constraint of a table snapshot (pg_constraint: primary key, unique, check, foreign key, exclusion). */
export interface DdlConstraint {
  readonly name: string;
  /** contype: 'p', 'u', 'c', 'f', 'x'. */
  readonly type: string;
  /** pg_get_constraintdef. */
  readonly definition: string;
  /** The referenced table of a foreign key. */
  readonly references: QualifiedName | undefined;
}

/** A trigger's firing state in a table snapshot (pg_trigger.tgenabled). */
export interface DdlTriggerState {
  readonly name: string;
  readonly enabled: FiringState;
}

/** A table as of the DDL, and as the capture last knew it before (undefined for a new table). */
export interface DdlTableSnapshot {
  readonly relid: number;
  readonly schema: string;
  readonly name: string;
  /** relkind: 'r' plain, 'p' partitioned. */
  readonly relkind: string;
  readonly columns: readonly DdlColumn[];
  readonly constraints: readonly DdlConstraint[];
  /** Its triggers' firing states (internal triggers and partition clones left out), by name. */
  readonly triggers?: readonly DdlTriggerState[] | undefined;
  readonly previous:
    | {
        readonly schema: string;
        readonly name: string;
        readonly columns: readonly DdlColumn[];
        readonly constraints: readonly DdlConstraint[];
        /** Undefined when the snapshot was taken by a capture that did not record them. */
        readonly triggers?: readonly DdlTriggerState[] | undefined;
      }
    | undefined;
}

/**
 * A user-defined type as of a DDL: its schema-model definition (as introspect-schema.ts reads it,
 * without comment and dependencies) and the stable keys of its parts, in the order of its lists:
 * pg_enum OIDs of an enum's labels, attnums of a composite's attributes, pg_constraint OIDs of a
 * domain's constraints (none for a range). A part keeps its key across RENAME VALUE, RENAME
 * ATTRIBUTE, ALTER ATTRIBUTE TYPE and RENAME CONSTRAINT.
 */
export interface DdlTypeVersion {
  readonly def: TypeDef;
  readonly keys: readonly number[];
}

/** One object the DDL created, altered or dropped. */
export type DdlObject =
  | { readonly kind: 'table'; readonly identity: string; readonly table: DdlTableSnapshot }
  | {
      readonly kind: 'index';
      readonly identity: string;
      readonly index: Pick<IndexDef, 'schema' | 'name' | 'table' | 'definition' | 'unique'>;
      /** The index backs a constraint (created with it): followed through the constraint. */
      readonly constraint: boolean;
      /** Its name as the capture last recorded it (absent: new, or not known). */
      readonly previous?: QualifiedName;
    }
  | {
      readonly kind: 'view';
      readonly identity: string;
      readonly view: Pick<ViewDef, 'schema' | 'name' | 'query' | 'columns'>;
      readonly previous?: QualifiedName;
    }
  | {
      readonly kind: 'routine';
      readonly identity: string;
      readonly routine: Pick<RoutineDef, 'kind' | 'schema' | 'name' | 'signature' | 'definition'>;
      readonly previous?: Pick<RoutineDef, 'schema' | 'name' | 'signature'>;
    }
  | {
      readonly kind: 'type';
      readonly identity: string;
      readonly type: DdlTypeVersion;
      /** As the capture last recorded it; undefined for a new type (or one it did not know). */
      readonly previous: DdlTypeVersion | undefined;
    }
  | {
      readonly kind: 'sequence';
      readonly identity: string;
      readonly sequence: SequenceDef;
      /** An identity column's sequence: it follows its column, not a DDL of its own. */
      readonly identityColumn: boolean;
      readonly previous: SequenceDef | undefined;
    }
  | {
      readonly kind: 'trigger';
      readonly identity: string;
      /** pg_get_triggerdef and tgenabled as of the DDL; `function.name` is its signature. */
      readonly trigger: TriggerDef;
      readonly previous: Pick<TriggerDef, 'name' | 'table'> | undefined;
    }
  | {
      readonly kind: 'dropped';
      readonly identity: string;
      /** object_type of pg_event_trigger_dropped_objects ('table', 'index', 'view', 'function'...). */
      readonly objectType: string;
      readonly schema: string;
      readonly name: string;
      /** Argument types of a routine (address_args), for its signature. */
      readonly args: readonly string[];
      /** address_names: for a trigger schema, table and trigger name (absent: not sent). */
      readonly names?: readonly string[];
      /** Named by the DROP itself (not dropped along with something else). */
      readonly original: boolean;
    }
  /** An object of a kind pgdts does not follow (a base type, a rule, a policy...), for a warning. */
  | {
      readonly kind: 'other';
      readonly identity: string;
      readonly objectType: string;
      readonly schema: string;
    };

/** What the DDL capture wrote for one DDL command (one event trigger firing). */
export interface DdlMessage {
  /** The task whose capture wrote it (several tasks may capture one database). */
  readonly task: string;
  /** `ddl_command_end` or `sql_drop`. */
  readonly event: 'ddl_command_end' | 'sql_drop';
  /** Command tag, e.g. `ALTER TABLE`. */
  readonly tag: string;
  /** current_query(): the statement as the client sent it (possibly several). */
  readonly query: string;
  /** The search_path the statement ran with. */
  readonly searchPath: string;
  readonly objects: readonly DdlObject[];
}

/** A DDL message where it stands in the change stream. */
export interface DdlEventPayload {
  readonly message: DdlMessage;
  /** WAL position of the message. */
  readonly lsn: Lsn;
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new PgdtsError('DECODE_FAILED', `DDL message: ${what} is not a string`);
  return v;
};
const num = (v: unknown, what: string): number => {
  if (typeof v !== 'number') throw new PgdtsError('DECODE_FAILED', `DDL message: ${what} is not a number`);
  return v;
};
const nullable = (v: unknown, what: string): string | null =>
  v === null || v === undefined ? null : str(v, what);
const obj = (v: unknown, what: string): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new PgdtsError('DECODE_FAILED', `DDL message: ${what} is not an object`);
  return v as Record<string, unknown>;
};
const arr = (v: unknown, what: string): unknown[] => {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new PgdtsError('DECODE_FAILED', `DDL message: ${what} is not an array`);
  return v;
};

function columnsOf(v: unknown): DdlColumn[] {
  return arr(v, 'columns').map((c) => {
    const o = obj(c, 'column');
    return {
      attnum: num(o['attnum'], 'attnum'),
      name: str(o['name'], 'column name'),
      type: str(o['type'], 'column type'),
      default: nullable(o['default'], 'default'),
      notNull: o['not_null'] === true,
      identity: typeof o['identity'] === 'string' ? o['identity'] : '',
      generated: nullable(o['generated'], 'generated'),
    };
  });
}

function constraintsOf(v: unknown): DdlConstraint[] {
  return arr(v, 'constraints').map((c) => {
    const o = obj(c, 'constraint');
    const rs = nullable(o['references_schema'], 'references_schema');
    const rn = nullable(o['references_name'], 'references_name');
    return {
      name: str(o['name'], 'constraint name'),
      type: str(o['type'], 'constraint type'),
      definition: str(o['definition'], 'constraint definition'),
      references: rs !== null && rn !== null ? { schema: rs, name: rn } : undefined,
    };
  });
}

const FIRING: Readonly<Record<string, FiringState>> = {
  O: 'origin',
  D: 'disabled',
  R: 'replica',
  A: 'always',
};
const firing = (v: unknown): FiringState => (typeof v === 'string' ? FIRING[v] : undefined) ?? 'origin';

function triggerStatesOf(v: unknown): DdlTriggerState[] {
  return arr(v, 'triggers').map((t) => {
    const o = obj(t, 'trigger state');
    return { name: str(o['name'], 'trigger name'), enabled: firing(o['enabled']) };
  });
}

const qualified = (schema: unknown, name: unknown, what: string): QualifiedName | undefined => {
  const s = nullable(schema, `${what} schema`);
  const n = nullable(name, `${what} name`);
  return s !== null && n !== null ? { schema: s, name: n } : undefined;
};

/** A type snapshot of the capture (typeSnapshotSql in ddl-capture.ts); undefined for another typtype. */
function typeOf(v: unknown): DdlTypeVersion | undefined {
  const t = obj(v, 'type');
  const schema = str(t['schema'], 'type schema');
  const name = str(t['name'], 'type name');
  const base = { schema, name, comment: undefined, dependsOn: [] };
  const keyed = (field: string) =>
    arr(t[field], field).map((x) => {
      const o = obj(x, field);
      return { key: num(o['key'], `${field} key`), o };
    });
  switch (t['typtype']) {
    case 'e': {
      const labels = keyed('labels');
      return {
        def: { kind: 'enum', ...base, labels: labels.map((l) => str(l.o['label'], 'enum label')) },
        keys: labels.map((l) => l.key),
      };
    }
    case 'c': {
      const attributes = keyed('attributes');
      return {
        def: {
          kind: 'composite',
          ...base,
          attributes: attributes.map((a): CompositeAttribute => ({
            name: str(a.o['name'], 'attribute name'),
            type: str(a.o['type'], 'attribute type'),
            collation: qualified(a.o['collation_schema'], a.o['collation_name'], 'collation'),
          })),
        },
        keys: attributes.map((a) => a.key),
      };
    }
    case 'd': {
      const constraints = keyed('constraints');
      return {
        def: {
          kind: 'domain',
          ...base,
          baseType: str(t['base_type'], 'domain base type'),
          collation: qualified(t['collation_schema'], t['collation_name'], 'collation'),
          default: nullable(t['default'], 'domain default') ?? undefined,
          notNull: t['not_null'] === true,
          constraints: constraints.map((c): DomainConstraint => ({
            name: str(c.o['name'], 'constraint name'),
            definition: str(c.o['definition'], 'constraint definition'),
          })),
        },
        keys: constraints.map((c) => c.key),
      };
    }
    case 'r': {
      // The multirange's name only when it is not the one CREATE TYPE derives (as introspect-schema.ts).
      const derived = name.includes('range') ? name.replace('range', 'multirange') : `${name}_multirange`;
      const mr = qualified(t['multirange_schema'], t['multirange_name'], 'multirange');
      return {
        def: {
          kind: 'range',
          ...base,
          subtype: str(t['subtype'], 'range subtype'),
          subtypeOpclass: nullable(t['subtype_opclass'], 'subtype_opclass') ?? undefined,
          collation: undefined,
          subtypeDiff: nullable(t['subtype_diff'], 'subtype_diff') ?? undefined,
          multirangeName: mr !== undefined && (mr.name !== derived || mr.schema !== schema) ? mr : undefined,
        },
        keys: [],
      };
    }
    default:
      return undefined;
  }
}

/** A sequence snapshot of the capture (sequenceSnapshotSql in ddl-capture.ts). */
function sequenceOf(v: unknown): { sequence: SequenceDef; identityColumn: boolean } {
  const q = obj(v, 'sequence');
  const owner = qualified(q['owned_schema'], q['owned_table'], 'owner');
  const column = nullable(q['owned_column'], 'owner column');
  const identityColumn = q['identity'] === true;
  return {
    sequence: {
      kind: 'sequence',
      schema: str(q['schema'], 'sequence schema'),
      name: str(q['name'], 'sequence name'),
      options: {
        type: str(q['type'], 'sequence type'),
        start: str(q['start'], 'start'),
        increment: str(q['increment'], 'increment'),
        min: str(q['min'], 'min'),
        max: str(q['max'], 'max'),
        cache: str(q['cache'], 'cache'),
        cycle: q['cycle'] === true,
      },
      ownedBy:
        owner !== undefined && column !== null && !identityColumn ? { table: owner, column } : undefined,
      comment: undefined,
    },
    identityColumn,
  };
}

/** A trigger snapshot of the capture (triggerSnapshotSql in ddl-capture.ts). */
function triggerOf(v: unknown): TriggerDef {
  const t = obj(v, 'trigger');
  return {
    kind: 'trigger',
    name: str(t['name'], 'trigger name'),
    table: { schema: str(t['table_schema'], 'table schema'), name: str(t['table_name'], 'table name') },
    definition: str(t['definition'], 'trigger definition'),
    enabled: firing(t['enabled']),
    function: {
      kind: 'routine',
      schema: str(t['function_schema'], 'function schema'),
      name: str(t['function_signature'], 'function signature'),
    },
    comment: undefined,
  };
}

/** `{ previous }` of a view or index when the capture sent its last recorded name, else nothing. */
function previousName(v: unknown): { previous?: QualifiedName } {
  if (v === undefined || v === null) return {};
  const p = obj(v, 'previous');
  return { previous: { schema: str(p['schema'], 'schema'), name: str(p['name'], 'name') } };
}

function objectOf(v: unknown): DdlObject {
  const o = obj(v, 'object');
  const identity = str(o['identity'], 'identity');
  const type = str(o['object_type'], 'object_type');
  const schema = nullable(o['schema'], 'schema') ?? '';
  if (o['dropped'] === true) {
    return {
      kind: 'dropped',
      identity,
      objectType: type,
      schema,
      name: str(o['name'], 'name'),
      args: arr(o['args'], 'args').map((a) => str(a, 'argument type')),
      ...(o['names'] === undefined
        ? {}
        : { names: arr(o['names'], 'names').map((a) => str(a, 'address name')) }),
      original: o['original'] === true,
    };
  }
  if (o['table'] !== undefined && o['table'] !== null) {
    const t = obj(o['table'], 'table');
    const p =
      o['previous'] === null || o['previous'] === undefined ? undefined : obj(o['previous'], 'previous');
    return {
      kind: 'table',
      identity,
      table: {
        relid: num(t['relid'], 'relid'),
        schema: str(t['schema'], 'table schema'),
        name: str(t['name'], 'table name'),
        relkind: str(t['relkind'], 'relkind'),
        columns: columnsOf(t['columns']),
        constraints: constraintsOf(t['constraints']),
        ...(t['triggers'] === undefined ? {} : { triggers: triggerStatesOf(t['triggers']) }),
        previous:
          p === undefined
            ? undefined
            : {
                schema: str(p['schema'], 'schema'),
                name: str(p['name'], 'name'),
                columns: columnsOf(p['columns']),
                constraints: constraintsOf(p['constraints']),
                ...(p['triggers'] === undefined ? {} : { triggers: triggerStatesOf(p['triggers']) }),
              },
      },
    };
  }
  if (o['index'] !== undefined && o['index'] !== null) {
    const i = obj(o['index'], 'index');
    return {
      kind: 'index',
      identity,
      index: {
        schema: str(i['schema'], 'index schema'),
        name: str(i['name'], 'index name'),
        table: { schema: str(i['table_schema'], 'table schema'), name: str(i['table_name'], 'table name') },
        definition: str(i['definition'], 'index definition'),
        unique: i['unique'] === true,
      },
      constraint: i['constraint'] === true,
      ...previousName(o['previous']),
    };
  }
  if (o['view'] !== undefined && o['view'] !== null) {
    const w = obj(o['view'], 'view');
    return {
      kind: 'view',
      identity,
      view: {
        schema: str(w['schema'], 'view schema'),
        name: str(w['name'], 'view name'),
        query: str(w['query'], 'view query').replace(/;\s*$/u, ''),
        columns: arr(w['columns'], 'view columns').map((c) => ({
          name: str(c, 'view column'),
          comment: undefined,
        })),
      },
      ...previousName(o['previous']),
    };
  }
  if (o['routine'] !== undefined && o['routine'] !== null) {
    const r = obj(o['routine'], 'routine');
    return {
      kind: 'routine',
      identity,
      routine: {
        kind: r['prokind'] === 'p' ? 'procedure' : 'function',
        schema: str(r['schema'], 'routine schema'),
        name: str(r['name'], 'routine name'),
        signature: str(r['signature'], 'routine signature'),
        definition: str(r['definition'], 'routine definition'),
      },
      ...(o['previous'] === undefined || o['previous'] === null
        ? {}
        : (() => {
            const p = obj(o['previous'], 'previous');
            return {
              previous: {
                schema: str(p['schema'], 'schema'),
                name: str(p['name'], 'name'),
                signature: str(p['signature'], 'signature'),
              },
            };
          })()),
    };
  }
  const previous = o['previous'] === null || o['previous'] === undefined ? undefined : o['previous'];
  if (o['type'] !== undefined && o['type'] !== null) {
    const now = typeOf(o['type']);
    if (now !== undefined) {
      return {
        kind: 'type',
        identity,
        type: now,
        previous: previous === undefined ? undefined : typeOf(previous),
      };
    }
  }
  if (o['sequence'] !== undefined && o['sequence'] !== null) {
    const { sequence, identityColumn } = sequenceOf(o['sequence']);
    return {
      kind: 'sequence',
      identity,
      sequence,
      identityColumn,
      previous: previous === undefined ? undefined : sequenceOf(previous).sequence,
    };
  }
  if (o['trigger'] !== undefined && o['trigger'] !== null) {
    return {
      kind: 'trigger',
      identity,
      trigger: triggerOf(o['trigger']),
      previous: previous === undefined ? undefined : triggerOf(previous),
    };
  }
  return { kind: 'other', identity, objectType: type, schema };
}

/**
 * Parses the content of a `pgdts.ddl` logical decoding message (JSON written by the capture's
 * trigger function, see source/postgres/ddl-capture.ts).
 * @throws {PgdtsError} DECODE_FAILED (not retryable) when it is not such a message.
 */
export function parseDdlMessage(content: string): DdlMessage {
  let doc: unknown;
  try {
    doc = JSON.parse(content);
  } catch (e) {
    throw new PgdtsError('DECODE_FAILED', `DDL message is not JSON: ${(e as Error).message}`);
  }
  const o = obj(doc, 'message');
  const event = str(o['event'], 'event');
  if (event !== 'ddl_command_end' && event !== 'sql_drop') {
    throw new PgdtsError('DECODE_FAILED', `DDL message: unknown event ${event}`);
  }
  return {
    task: str(o['task'], 'task'),
    event,
    tag: str(o['tag'], 'tag'),
    query: typeof o['query'] === 'string' ? o['query'] : '',
    searchPath: typeof o['search_path'] === 'string' ? o['search_path'] : '',
    objects: arr(o['objects'], 'objects').map(objectOf),
  };
}

/** A column as a {@link DdlChange} adds it, with destination names. */
export interface DdlColumnSpec {
  readonly name: string;
  readonly type: string;
  readonly default: string | undefined;
  readonly notNull: boolean;
  readonly identity: 'always' | 'by-default' | undefined;
  readonly generated: string | undefined;
}

/**
 * One change a sink makes to follow a source DDL, with destination names (mapped by the pipeline).
 * Each must be idempotent when applied again (resume after a crash or a manual fix): the sink skips
 * what is there already.
 */
export type DdlChange =
  | { readonly kind: 'add-column'; readonly table: QualifiedName; readonly column: DdlColumnSpec }
  | { readonly kind: 'drop-column'; readonly table: QualifiedName; readonly column: string }
  | {
      readonly kind: 'rename-column';
      readonly table: QualifiedName;
      readonly from: string;
      readonly to: string;
    }
  | {
      readonly kind: 'alter-column-type';
      readonly table: QualifiedName;
      readonly column: string;
      readonly type: string;
    }
  | {
      readonly kind: 'set-default';
      readonly table: QualifiedName;
      readonly column: string;
      /** undefined: DROP DEFAULT. */
      readonly default: string | undefined;
    }
  | {
      readonly kind: 'set-not-null';
      readonly table: QualifiedName;
      readonly column: string;
      readonly notNull: boolean;
    }
  | { readonly kind: 'rename-table'; readonly table: QualifiedName; readonly to: string }
  | { readonly kind: 'drop-table'; readonly table: QualifiedName }
  | {
      readonly kind: 'add-constraint';
      readonly table: QualifiedName;
      readonly name: string;
      /** pg_get_constraintdef text, mapped. */
      readonly definition: string;
    }
  | { readonly kind: 'drop-constraint'; readonly table: QualifiedName; readonly name: string }
  | { readonly kind: 'create-index'; readonly index: QualifiedName; readonly definition: string }
  | { readonly kind: 'drop-index'; readonly index: QualifiedName }
  | { readonly kind: 'replace-view'; readonly view: QualifiedName; readonly query: string }
  | { readonly kind: 'drop-view'; readonly view: QualifiedName }
  | { readonly kind: 'replace-routine'; readonly routine: QualifiedName; readonly definition: string }
  | {
      readonly kind: 'drop-routine';
      readonly routine: QualifiedName;
      readonly routineKind: 'function' | 'procedure';
      /** `name(argtypes)` without schema. */
      readonly signature: string;
    }
  /** ALTER VIEW / INDEX ... RENAME TO. */
  | {
      readonly kind: 'rename-relation';
      readonly relation: 'view' | 'index';
      readonly name: QualifiedName;
      readonly to: string;
    }
  /** ALTER FUNCTION / PROCEDURE ... RENAME TO. */
  | {
      readonly kind: 'rename-routine';
      readonly routine: QualifiedName;
      readonly routineKind: 'function' | 'procedure';
      /** The argument types as oidvectortypes prints them, e.g. `integer, text`. */
      readonly args: string;
      readonly to: string;
    }
  /** CREATE TYPE / CREATE DOMAIN, rendered by schema sync's planner (plan-schema-ddl.ts). */
  | { readonly kind: 'create-type'; readonly type: TypeDef }
  | { readonly kind: 'drop-type'; readonly type: QualifiedName; readonly domain: boolean }
  | {
      readonly kind: 'rename-type';
      readonly type: QualifiedName;
      readonly domain: boolean;
      readonly to: string;
    }
  /** `ALTER TYPE ... ADD VALUE IF NOT EXISTS`, before or after a neighbour (at the end when none). */
  | {
      readonly kind: 'add-enum-value';
      readonly type: QualifiedName;
      readonly value: string;
      readonly before: string | undefined;
      readonly after: string | undefined;
    }
  | {
      readonly kind: 'rename-enum-value';
      readonly type: QualifiedName;
      readonly from: string;
      readonly to: string;
    }
  | { readonly kind: 'add-attribute'; readonly type: QualifiedName; readonly attribute: CompositeAttribute }
  | { readonly kind: 'drop-attribute'; readonly type: QualifiedName; readonly name: string }
  | {
      readonly kind: 'rename-attribute';
      readonly type: QualifiedName;
      readonly from: string;
      readonly to: string;
    }
  | {
      readonly kind: 'alter-attribute-type';
      readonly type: QualifiedName;
      readonly attribute: CompositeAttribute;
    }
  | {
      readonly kind: 'set-domain-default';
      readonly domain: QualifiedName;
      /** undefined: DROP DEFAULT. */
      readonly default: string | undefined;
    }
  | { readonly kind: 'set-domain-not-null'; readonly domain: QualifiedName; readonly notNull: boolean }
  | {
      readonly kind: 'add-domain-constraint';
      readonly domain: QualifiedName;
      readonly constraint: DomainConstraint;
    }
  | { readonly kind: 'drop-domain-constraint'; readonly domain: QualifiedName; readonly name: string }
  | {
      readonly kind: 'rename-domain-constraint';
      readonly domain: QualifiedName;
      readonly from: string;
      readonly to: string;
    }
  /** CREATE SEQUENCE (and OWNED BY), rendered by schema sync's planner. */
  | { readonly kind: 'create-sequence'; readonly sequence: SequenceDef }
  /** ALTER SEQUENCE with every parameter and OWNED BY (or OWNED BY NONE). */
  | { readonly kind: 'alter-sequence'; readonly sequence: SequenceDef }
  | { readonly kind: 'rename-sequence'; readonly sequence: QualifiedName; readonly to: string }
  | { readonly kind: 'drop-sequence'; readonly sequence: QualifiedName }
  /**
   * DROP TRIGGER IF EXISTS, then CREATE TRIGGER and its firing state as schema sync renders them (a
   * destination before PostgreSQL 14 has no CREATE OR REPLACE TRIGGER).
   */
  | { readonly kind: 'replace-trigger'; readonly trigger: TriggerDef }
  | { readonly kind: 'drop-trigger'; readonly table: QualifiedName; readonly name: string }
  | {
      readonly kind: 'rename-trigger';
      readonly table: QualifiedName;
      readonly from: string;
      readonly to: string;
    }
  /** ALTER TABLE ... ENABLE [REPLICA | ALWAYS] / DISABLE TRIGGER. */
  | {
      readonly kind: 'set-trigger-state';
      readonly table: QualifiedName;
      readonly name: string;
      readonly enabled: FiringState;
    };

/**
 * What a DDL changes in the task's bookkeeping (copy progress, kept under source names), committed
 * with the DDL: a renamed source table keeps its progress, a dropped one loses it.
 */
export type DdlBookkeeping =
  | { readonly kind: 'rename-table'; readonly from: QualifiedName; readonly to: QualifiedName }
  | { readonly kind: 'forget-table'; readonly table: QualifiedName };

/** Where a DDL stood on the source, for the sink's messages. */
export interface DdlOrigin {
  /** The statement as sent on the source. */
  readonly statement: string;
  readonly lsn: Lsn;
}

/** Is `ddl` on for the entry at `entry` of `objects` (on when its `operations` are not given)? */
export function ddlEnabled(objects: readonly ObjectSelector[], entry: number): boolean {
  const ops = objects[entry]?.operations;
  return ops === undefined || ops.includes('ddl');
}

/**
 * The source schemas whose DDL the task captures: those of the entries with `ddl` on (a schema
 * entry's schema, a table entry's schema). Sorted, no repeats; empty: no capture.
 */
export function ddlSchemasOf(task: Pick<TaskConfig, 'objects' | 'syncTypes'>): string[] {
  if (!task.syncTypes.includes('incremental')) return [];
  const out = new Set<string>();
  task.objects.forEach((o, i) => {
    if (!ddlEnabled(task.objects, i)) return;
    out.add(o.kind === 'schema' ? o.schema : o.table.schema);
  });
  return [...out].sort();
}
