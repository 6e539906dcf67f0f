/**
 * The task file contract (YAML): what to copy, from where, to where, and how. Validated with zod before
 * anything is touched; every error names the key path and the rule. See README "Task file reference".
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { checkHeartbeat, heartbeatSchema } from './heartbeat-config.ts';
import { checkKafkaDestination, kafkaDestinationSchema } from './kafka-destination-config.ts';
import { parseIdentifierPath, type QualifiedName } from './identifier.ts';
import { checkStartPosition, existingSlotSchema, startTimeSchema } from './start-position.ts';
import { fullThrottleSchema, incrementalThrottleSchema, verifySchema } from './throttle-config.ts';

/** libpq's sslmode values (PostgreSQL docs, "SSL Support", table "SSL Mode Descriptions"), weakest first. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

/** One of {@link SSL_MODES}. */
export type SslMode = (typeof SSL_MODES)[number];

const sslMode = z.enum(SSL_MODES, { error: `must be one of ${SSL_MODES.join(', ')}` });

const endpointSchema = z
  .strictObject({
    type: z.literal('postgresql'),
    url: z.string().min(1).optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    /** Name of an environment variable holding the password. */
    passwordEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional(),
    database: z.string().min(1).optional(),
    sslmode: sslMode.optional(),
    sslrootcert: z.string().min(1).optional(),
    sslcert: z.string().min(1).optional(),
    sslkey: z.string().min(1).optional(),
    /** Connect timeout, ms. */
    connectTimeoutMs: z.number().int().min(100).max(600_000).optional(),
    /** application_name of every session; default pgdts's own name per purpose (`pgdts-apply`...). */
    applicationName: z
      .string()
      .min(1, 'must be 1-63 characters')
      .max(63, 'must be 1-63 characters')
      .optional(),
  })
  .refine((e) => e.url !== undefined || e.host !== undefined, {
    message: 'give either url or host (with port, user, database)',
  })
  .refine((e) => !(e.url !== undefined && (e.host !== undefined || e.port !== undefined)), {
    message: 'give url or host/port, not both',
  });

/** Operations incremental sync can apply, as `objects[].operations` names them. */
export const OPERATIONS = ['insert', 'update', 'delete', 'truncate'] as const;

/** One of {@link OPERATIONS}. */
export type Operation = (typeof OPERATIONS)[number];

/**
 * What `objects[].operations` may list: the row operations and `ddl` (schema changes followed during
 * incremental sync, see pipeline/ddl-sync.ts). All of them when `operations` is absent.
 */
export const OBJECT_OPERATIONS = [...OPERATIONS, 'ddl'] as const;

/** One of {@link OBJECT_OPERATIONS}. */
export type ObjectOperation = (typeof OBJECT_OPERATIONS)[number];

const operationsSchema = z
  .array(z.enum(OBJECT_OPERATIONS, { error: `must be one of ${OBJECT_OPERATIONS.join(', ')}` }))
  .min(1, `must list at least one of ${OBJECT_OPERATIONS.join(', ')}`)
  .refine((a) => new Set(a).size === a.length, 'must not repeat an entry');

const name = z.string().min(1);

/** A schema entry of `objects`. */
const schemaEntrySchema = z.strictObject({
  schema: name,
  /** Table names (or `*`/`?` globs) of the schema left out. */
  exclude: z.array(name).optional(),
  /** Destination schema. */
  as: name.optional(),
  operations: operationsSchema.optional(),
});

/** A table entry of `objects`. */
const tableEntrySchema = z.strictObject({
  /** `schema.table`; an unquoted table part may hold `*` and `?` globs. */
  table: name,
  /** Destination `schema.table`. */
  as: name.optional(),
  /** Source column name → destination column name. */
  columns: z.record(name, name).optional(),
  excludeColumns: z.array(name).optional(),
  operations: operationsSchema.optional(),
  /** SQL condition on the source columns: only rows meeting it are copied and applied. */
  where: name.optional(),
  /** Several source tables merge into one destination table (identical columns and keys). */
  mergeInto: z.boolean().optional(),
});

/** A bulk name mapping rule: `schema.table` patterns, `*` captures. */
const mappingRuleSchema = z.strictObject({ from: name, to: name });
/** The source takes the endpoint keys and what only a source has (refinements kept). */
const sourceSchema = endpointSchema.safeExtend({
  /** Heartbeat writes while the source is idle (see heartbeat-config.ts). */
  heartbeat: heartbeatSchema.optional(),
});

const syncType = z.enum(['schema', 'full', 'incremental']);

const fullSchema = z.strictObject({
  /** Parallel copy workers (connections on each side). */
  jobs: z.number().int().min(1).max(64).default(4),
  /** Tables larger than this many bytes are split into ranges copied in parallel. */
  splitTablesLargerThanBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .default(256 * 1024 * 1024),
  /** Target size of one range, bytes. */
  rangeSizeBytes: z
    .number()
    .int()
    .min(1024 * 1024)
    .default(128 * 1024 * 1024),
  /** Parallel index and foreign key builders after the load. */
  indexJobs: z.number().int().min(1).max(64).default(2),
  /** Limits on queries, rows and MB per second (src/core/throttle-config.ts). */
  throttle: fullThrottleSchema.default({}),
});

const incrementalSchema = z.strictObject({
  /** Replication slot on the source; default `pgdts_<task name>`. */
  slotName: z
    .string()
    .regex(/^[a-z0-9_]{1,63}$/, 'lower-case letters, digits and _ only, at most 63 characters')
    .optional(),
  /**
   * An existing pgoutput slot to stream instead of creating one; pgdts never drops it. Only
   * without `full` (see start-position.ts).
   */
  existingSlot: existingSlotSchema.optional(),
  /** Skip transactions committed before this instant (ISO 8601 with offset). Only without `full`. */
  startTime: startTimeSchema.optional(),
  /** Publication on the source; default `pgdts_<task name>`. */
  publicationName: z.string().min(1).max(63).optional(),
  /** Close a destination transaction after this many rows. */
  batchMaxRows: z.number().int().min(1).max(1_000_000).default(10_000),
  /** ... or this many bytes of change data. */
  batchMaxBytes: z
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  /** ... or this many ms after the batch's first change. */
  batchMaxMs: z.number().int().min(1).max(60_000).default(100),
  /** How often sequences are copied during incremental sync, ms. */
  sequenceSyncIntervalMs: z.number().int().min(100).default(10_000),
  /** How often status is written to the pgdts schema, ms. */
  statusIntervalMs: z.number().int().min(100).default(1_000),
  /**
   * How often the selection is listed again while streaming, ms: a table created since in a selected
   * schema, or matching a table glob, joins the sync (see src/pipeline/new-tables.ts).
   */
  newTableCheckIntervalMs: z.number().int().min(1000).default(10_000),
  /**
   * Directory for spill files of large streamed transactions; default: a folder of the task in the
   * user's state directory ($XDG_STATE_HOME/pgdts/spill/<task>, else ~/.local/state/pgdts/spill/<task>).
   */
  spillDir: z.string().min(1).optional(),
  /** Most bytes the spill files may hold together; 0 = no limit. */
  spillMaxBytes: z.number().int().min(0).default(0),
  /** Limits on changes and MB per second passed to the destination (src/core/throttle-config.ts). */
  throttle: incrementalThrottleSchema.default({}),
});

const retrySchema = z
  .strictObject({
    /** How long connection failures (source or destination away) are retried, minutes. */
    connectionMinutes: z.number().int().min(10).max(1440).default(720),
    /** How long other retryable errors (deadlock, failing statement, spill write...) are retried, minutes. */
    otherMinutes: z.number().int().min(1).max(1440).default(10),
    /** First backoff delay, ms. */
    initialDelayMs: z.number().int().min(10).default(500),
    /** Longest backoff delay, ms. */
    maxDelayMs: z.number().int().min(10).default(30_000),
  })
  .refine((r) => r.otherMinutes < r.connectionMinutes, {
    path: ['otherMinutes'],
    message: 'must be less than retry.connectionMinutes',
  });

const flag = z.boolean({ error: 'must be true or false' });

/** What schema sync carries besides the objects' definitions (README "schema"). */
const schemaOptionsSchema = z.strictObject({
  /**
   * GRANTs on schemas, tables, columns, sequences, routines and types, and the selected schemas'
   * default privileges, for grantees the destination has.
   */
  privileges: flag.default(false),
  /** `ALTER ... OWNER TO` the source's owner, for owners the destination has. */
  owners: flag.default(false),
});

/** Keys that were replaced: the message says by what. */
const REPLACED_KEYS: Readonly<Record<string, string>> = {
  'retry.maxElapsedMs': 'replaced by retry.connectionMinutes and retry.otherMinutes (see README)',
};

/** The task name of a task file: it names the slot, the publication and the bookkeeping rows. */
export const taskNameSchema = z
  .string()
  .min(1, 'must be 1-64 characters')
  .max(64, 'must be 1-64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only, starting with a letter or digit');

/**
 * The keys of a task other than `name`, `source` and `destination`: one definition for a task file
 * and for a control plane task (src/control/task/task-definition-schema.ts), whose endpoints name
 * data sources instead.
 */
export const taskBodyShape = {
  syncTypes: z
    .array(syncType)
    .min(1, 'must list at least one of schema, full, incremental')
    .refine((a) => new Set(a).size === a.length, 'must not repeat an entry'),
  // Entries are checked one by one below: a schema entry and a table entry allow different keys.
  objects: z.array(z.unknown()).min(1, 'must select at least one schema or table').meta({
    description:
      '{schema, exclude?, as?, operations?} or {table, as?, columns?, excludeColumns?, operations?, where?, mergeInto?} entries (README "Task file reference")',
  }),
  mapping: z.array(mappingRuleSchema).default([]),
  /** A selected table that already exists in the destination: a precheck error, or used as it is. */
  conflictingTables: z
    .enum(['precheck-error', 'ignore'], { error: 'must be precheck-error or ignore' })
    .default('precheck-error'),
  /** A key conflict in incremental apply: stop with an error, or overwrite (upsert). */
  onConflict: z.enum(['error', 'overwrite'], { error: 'must be error or overwrite' }).default('error'),
  full: fullSchema.default(fullSchema.parse({})),
  incremental: incrementalSchema.default(incrementalSchema.parse({})),
  retry: retrySchema.default(retrySchema.parse({})),
  schema: schemaOptionsSchema.default(schemaOptionsSchema.parse({})),
  /** Pace of `pgdts verify` (src/core/throttle-config.ts). */
  verify: verifySchema.prefault({}),
};

/** zod schema of a task file. */
export const taskConfigSchema = z.strictObject({
  name: taskNameSchema,
  source: sourceSchema,
  destination: z.discriminatedUnion('type', [endpointSchema, kafkaDestinationSchema], {
    error: 'must be postgresql or kafka',
  }),
  ...taskBodyShape,
});

type RawTaskConfig = z.infer<typeof taskConfigSchema>;

/**
 * A name part of a selection: exact (`orders`, `"Order Items"`) or a glob (`order_*`, `tmp_?`, from an
 * unquoted part holding `*` or `?`).
 */
export interface NamePattern {
  readonly text: string;
  readonly glob: boolean;
}

/** What a selected table becomes in the destination and which of its changes move. */
export interface ObjectOptions {
  /** Destination schema (schema entry) or table (table entry). */
  readonly as?: string | QualifiedName;
  /** Source column → destination column. */
  readonly columns?: Readonly<Record<string, string>>;
  readonly excludeColumns?: readonly string[];
  /** Operations incremental sync applies (rows and `ddl`); all of them when absent. */
  readonly operations?: readonly ObjectOperation[];
  readonly where?: string;
  readonly mergeInto?: boolean;
}

/**
 * A selected object: a whole schema (minus `exclude`d tables), or one table, or the tables of a
 * schema whose names match a glob. Names are exact (case folded / unquoted) unless a glob.
 */
export type ObjectSelector =
  | ({
      readonly kind: 'schema';
      readonly schema: string;
      readonly exclude?: readonly NamePattern[];
    } & ObjectOptions)
  | ({ readonly kind: 'table'; readonly table: QualifiedName; readonly glob?: boolean } & ObjectOptions);

/** A bulk mapping rule, parsed: each part a pattern whose `*`s capture, in order. */
export interface MappingRule {
  readonly from: { readonly schema: string; readonly name: string };
  readonly to: { readonly schema: string; readonly name: string };
}

/** Connection settings of a PostgreSQL side, with the password resolved (never print this object). */
export type EndpointConfig = z.infer<typeof endpointSchema>;

/** A validated task. */
export interface TaskConfig extends Omit<RawTaskConfig, 'objects' | 'mapping'> {
  readonly objects: readonly ObjectSelector[];
  readonly mapping: readonly MappingRule[];
}

/** A task's sync types as a set-like helper. */
export function hasSyncType(
  task: Pick<TaskConfig, 'syncTypes'>,
  t: 'schema' | 'full' | 'incremental',
): boolean {
  return task.syncTypes.includes(t);
}

/** The slot pgdts creates for a task (explicit or derived: lower-cased, non-alnum → `_`). */
function ownSlotNameOf(task: Pick<TaskConfig, 'name' | 'incremental'>): string {
  return (
    task.incremental.slotName ?? `pgdts_${task.name.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63)
  );
}

/** Replication slot name of a task: `incremental.existingSlot`, else the slot pgdts creates. */
export function slotNameOf(task: Pick<TaskConfig, 'name' | 'incremental'>): string {
  return task.incremental.existingSlot ?? ownSlotNameOf(task);
}

/**
 * Publication name of a task: explicit, else the name of the slot pgdts would create (an existing
 * slot's name belongs to someone else's setup, not to a publication pgdts makes).
 */
export function publicationNameOf(task: Pick<TaskConfig, 'name' | 'incremental'>): string {
  return task.incremental.publicationName ?? ownSlotNameOf(task);
}

function pathOf(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
      .join('.')
      .replaceAll('.[', '[') || '(root)'
  );
}

/**
 * Validates a parsed task document.
 * @throws {ConfigError} naming the first invalid key and its rule (all problems are listed in the message).
 */
export function parseTaskConfig(doc: unknown): TaskConfig {
  const task = parseTaskDocument(taskConfigSchema, doc);
  if (task.destination.type === 'kafka') checkKafkaDestination(task.destination);
  return task;
}

/** A document of a schema made with {@link taskBodyShape}, its objects and mapping parsed. */
export type ParsedTaskDocument<T extends { objects: unknown[]; mapping: { from: string; to: string }[] }> =
  Omit<T, 'objects' | 'mapping'> & {
    readonly objects: readonly ObjectSelector[];
    readonly mapping: readonly MappingRule[];
  };

/**
 * Validates `doc` with `schema` (a task file's, or another one built from {@link taskBodyShape})
 * and the rules zod cannot express: each `objects` entry, the mapping rules, the start position and
 * the heartbeat.
 * @throws {ConfigError} naming the first invalid key and its rule (all problems are listed in the message).
 */
export function parseTaskDocument<
  S extends z.ZodType<{
    objects: unknown[];
    mapping: { from: string; to: string }[];
    syncTypes: ('schema' | 'full' | 'incremental')[];
    full: unknown;
    incremental: z.output<typeof incrementalSchema>;
    source: { heartbeat?: z.output<typeof heartbeatSchema> | undefined };
  }>,
>(schema: S, doc: unknown): ParsedTaskDocument<z.output<S>> {
  const r = schema.safeParse(doc);
  if (!r.success) {
    const issues = r.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        const paths = i.keys.map((k) => pathOf([...i.path, k]));
        const replaced = paths.find((p) => REPLACED_KEYS[p] !== undefined);
        if (replaced !== undefined) return { path: replaced, rule: REPLACED_KEYS[replaced] ?? '' };
        return {
          path: paths[0] ?? pathOf(i.path),
          rule: `unknown key (allowed keys are listed in README)`,
        };
      }
      return { path: pathOf(i.path), rule: i.message };
    });
    const first = issues[0] ?? { path: '(root)', rule: 'invalid' };
    const err = new ConfigError(first.path, first.rule);
    if (issues.length > 1) err.message = issues.map((i) => `${i.path}: ${i.rule}`).join('; ');
    throw err;
  }
  const data = r.data;
  const objects = data.objects.map((o, i) => parseObject(o, `objects[${i}]`));
  const mapping = data.mapping.map((m, i) => parseMappingRule(m, `mapping[${i}]`));
  checkStartPosition(data);
  checkHeartbeat(data, objects);
  return { ...data, objects, mapping };
}

function zodIssues(e: z.ZodError, at: string): ConfigError {
  const issues = e.issues.map((i) =>
    i.code === 'unrecognized_keys'
      ? {
          path: `${at}.${pathOf([...i.path, i.keys[0] ?? ''])}`,
          rule: 'unknown key (allowed keys are listed in README)',
        }
      : { path: i.path.length > 0 ? `${at}.${pathOf(i.path)}` : at, rule: i.message },
  );
  const first = issues[0] ?? { path: at, rule: 'invalid' };
  const err = new ConfigError(first.path, first.rule);
  if (issues.length > 1) err.message = issues.map((x) => `${x.path}: ${x.rule}`).join('; ');
  return err;
}

/** One name part: unquoted parts holding `*` or `?` are globs (folded to lower case), quoted parts exact. */
function namePattern(text: string, at: string): NamePattern {
  const globbing = /^[^"]*[*?][^"]*$/.test(text.trim());
  if (globbing) {
    const t = text.trim();
    if (!/^[\p{L}\p{N}_$*?]+$/u.test(t))
      throw new ConfigError(at, `"${t}" has characters a name pattern cannot`);
    return { text: t.toLowerCase(), glob: true };
  }
  const parts = parseIdentifierPathAt(text, at);
  if (parts.length !== 1 || parts[0] === undefined) throw new ConfigError(at, 'must be one name');
  return { text: parts[0], glob: false };
}

function parseIdentifierPathAt(text: string, at: string): string[] {
  try {
    return parseIdentifierPath(text);
  } catch (e) {
    throw new ConfigError(at, (e as Error).message);
  }
}

/** `schema.table`, the table part possibly a glob. */
function tablePattern(text: string, at: string): { table: QualifiedName; glob: boolean } {
  const dot = text.lastIndexOf('.');
  const quotedEnd = text.trim().endsWith('"');
  if (!quotedEnd && dot > 0 && /[*?]/.test(text.slice(dot + 1))) {
    const schema = parseIdentifierPathAt(text.slice(0, dot), at);
    if (schema.length !== 1 || schema[0] === undefined) throw new ConfigError(at, 'must be schema.table');
    const p = namePattern(text.slice(dot + 1), at);
    return { table: { schema: schema[0], name: p.text }, glob: p.glob };
  }
  const parts = parseIdentifierPathAt(text, at);
  if (parts.length !== 2 || parts[0] === undefined || parts[1] === undefined) {
    throw new ConfigError(at, 'must be schema.table');
  }
  return { table: { schema: parts[0], name: parts[1] }, glob: false };
}

function columnName(text: string, at: string): string {
  const parts = parseIdentifierPathAt(text, at);
  if (parts.length !== 1 || parts[0] === undefined) throw new ConfigError(at, 'must be one column name');
  return parts[0];
}

function parseObject(o: unknown, at: string): ObjectSelector {
  const isObject = typeof o === 'object' && o !== null;
  if (isObject && 'schema' in o) {
    const r = schemaEntrySchema.safeParse(o);
    if (!r.success) throw zodIssues(r.error, at);
    const schema = parseIdentifierPathAt(r.data.schema, `${at}.schema`);
    if (schema.length !== 1 || schema[0] === undefined)
      throw new ConfigError(`${at}.schema`, 'must be one schema name');
    const as = r.data.as === undefined ? undefined : parseIdentifierPathAt(r.data.as, `${at}.as`);
    if (as !== undefined && (as.length !== 1 || as[0] === undefined)) {
      throw new ConfigError(
        `${at}.as`,
        'on a schema entry, must be one schema name (the destination schema)',
      );
    }
    return {
      kind: 'schema',
      schema: schema[0],
      ...(r.data.exclude !== undefined
        ? { exclude: r.data.exclude.map((x, j) => namePattern(x, `${at}.exclude[${j}]`)) }
        : {}),
      ...(as?.[0] !== undefined ? { as: as[0] } : {}),
      ...(r.data.operations !== undefined ? { operations: r.data.operations } : {}),
    };
  }
  if (isObject && 'table' in o) {
    const r = tableEntrySchema.safeParse(o);
    if (!r.success) throw zodIssues(r.error, at);
    const { table, glob } = tablePattern(r.data.table, `${at}.table`);
    let as: QualifiedName | undefined;
    if (r.data.as !== undefined) {
      if (glob)
        throw new ConfigError(
          `${at}.as`,
          'a table pattern selects several tables: map them with mapping rules',
        );
      const parts = parseIdentifierPathAt(r.data.as, `${at}.as`);
      if (parts.length !== 2 || parts[0] === undefined || parts[1] === undefined) {
        throw new ConfigError(`${at}.as`, 'on a table entry, must be schema.table (the destination table)');
      }
      as = { schema: parts[0], name: parts[1] };
    }
    const columns =
      r.data.columns === undefined
        ? undefined
        : Object.fromEntries(
            Object.entries(r.data.columns).map(([k, v]) => [
              columnName(k, `${at}.columns`),
              columnName(v, `${at}.columns.${k}`),
            ]),
          );
    if (columns !== undefined && new Set(Object.values(columns)).size !== Object.keys(columns).length) {
      throw new ConfigError(
        `${at}.columns`,
        'two source columns must not map to the same destination column',
      );
    }
    const excludeColumns = r.data.excludeColumns?.map((c, j) => columnName(c, `${at}.excludeColumns[${j}]`));
    if (columns !== undefined && excludeColumns !== undefined) {
      const both = excludeColumns.filter((c) => c in columns);
      if (both.length > 0)
        throw new ConfigError(`${at}.excludeColumns`, `${both.join(', ')} is also renamed in columns`);
    }
    return {
      kind: 'table',
      table,
      ...(glob ? { glob } : {}),
      ...(as !== undefined ? { as } : {}),
      ...(columns !== undefined ? { columns } : {}),
      ...(excludeColumns !== undefined ? { excludeColumns } : {}),
      ...(r.data.operations !== undefined ? { operations: r.data.operations } : {}),
      ...(r.data.where !== undefined ? { where: r.data.where } : {}),
      ...(r.data.mergeInto !== undefined ? { mergeInto: r.data.mergeInto } : {}),
    };
  }
  throw new ConfigError(at, 'must be {schema: ...} or {table: ...}');
}

/** A mapping rule part: `schema.table`, each part a pattern of name characters and `*`. */
function rulePart(text: string, at: string): { schema: string; name: string } {
  const parts = text.split('.');
  if (parts.length !== 2 || parts.some((p) => !/^[\p{L}\p{N}_$*]+$/u.test(p))) {
    throw new ConfigError(at, 'must be schema.table, each part letters, digits, _ and * (unquoted)');
  }
  return { schema: (parts[0] ?? '').toLowerCase(), name: (parts[1] ?? '').toLowerCase() };
}

function parseMappingRule(m: { from: string; to: string }, at: string): MappingRule {
  const from = rulePart(m.from, `${at}.from`);
  const to = rulePart(m.to, `${at}.to`);
  const stars = (p: { schema: string; name: string }) => (p.schema + p.name).split('*').length - 1;
  if (stars(to) > stars(from)) {
    throw new ConfigError(`${at}.to`, `uses ${stars(to)} * but from captures only ${stars(from)}`);
  }
  return { from, to };
}
