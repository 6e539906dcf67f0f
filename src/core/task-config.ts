/**
 * The task file contract (YAML): what to copy, from where, to where, and how. Validated with zod before
 * anything is touched; every error names the key path and the rule. See README "Task file reference".
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { checkHeartbeat, heartbeatSchema } from './heartbeat-config.ts';
import { parseIdentifierPath, type QualifiedName } from './identifier.ts';
import { checkStartPosition, existingSlotSchema, startTimeSchema } from './start-position.ts';

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

/** The source takes the endpoint keys and what only a source has (refinements kept). */
const sourceSchema = endpointSchema.safeExtend({
  /** Heartbeat writes while the source is idle (see heartbeat-config.ts). */
  heartbeat: heartbeatSchema.optional(),
});

const objectSchema = z.union([
  z.strictObject({ schema: z.string().min(1) }),
  z.strictObject({ table: z.string().min(1) }),
]);

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
   * Directory for spill files of large streamed transactions; default: a folder of the task in the
   * user's state directory ($XDG_STATE_HOME/pgdts/spill/<task>, else ~/.local/state/pgdts/spill/<task>).
   */
  spillDir: z.string().min(1).optional(),
  /** Most bytes the spill files may hold together; 0 = no limit. */
  spillMaxBytes: z.number().int().min(0).default(0),
});

const retrySchema = z.strictObject({
  /** Give up after retrying for this long, ms. 0 = never retry. */
  maxElapsedMs: z.number().int().min(0).default(600_000),
  initialDelayMs: z.number().int().min(10).default(500),
  maxDelayMs: z.number().int().min(10).default(30_000),
});

/** zod schema of a task file. */
export const taskConfigSchema = z.strictObject({
  name: z
    .string()
    .min(1, 'must be 1-64 characters')
    .max(64, 'must be 1-64 characters')
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only, starting with a letter or digit'),
  source: sourceSchema,
  destination: endpointSchema,
  syncTypes: z
    .array(syncType)
    .min(1, 'must list at least one of schema, full, incremental')
    .refine((a) => new Set(a).size === a.length, 'must not repeat an entry'),
  objects: z.array(objectSchema).min(1, 'must select at least one schema or table'),
  full: fullSchema.default(fullSchema.parse({})),
  incremental: incrementalSchema.default(incrementalSchema.parse({})),
  retry: retrySchema.default(retrySchema.parse({})),
});

type RawTaskConfig = z.infer<typeof taskConfigSchema>;

/** A selected object: a whole schema, or one table. Names are exact (case folded / unquoted). */
export type ObjectSelector =
  | { readonly kind: 'schema'; readonly schema: string }
  | { readonly kind: 'table'; readonly table: QualifiedName };

/** Connection settings of one side, with the password resolved (never print this object). */
export type EndpointConfig = RawTaskConfig['destination'];

/** A validated task. */
export interface TaskConfig extends Omit<RawTaskConfig, 'objects'> {
  readonly objects: readonly ObjectSelector[];
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
  const r = taskConfigSchema.safeParse(doc);
  if (!r.success) {
    const issues = r.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        return {
          path: pathOf([...i.path, i.keys[0] ?? '']),
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
  const objects = r.data.objects.map((o, i): ObjectSelector => {
    try {
      if ('schema' in o) {
        const parts = parseIdentifierPath(o.schema);
        if (parts.length !== 1 || parts[0] === undefined) throw new RangeError('must be one schema name');
        return { kind: 'schema', schema: parts[0] };
      }
      const parts = parseIdentifierPath(o.table);
      if (parts.length !== 2 || parts[0] === undefined || parts[1] === undefined) {
        throw new RangeError('must be schema.table');
      }
      return { kind: 'table', table: { schema: parts[0], name: parts[1] } };
    } catch (e) {
      throw new ConfigError(`objects[${i}].${'schema' in o ? 'schema' : 'table'}`, (e as Error).message);
    }
  });
  checkStartPosition(r.data);
  checkHeartbeat(r.data, objects);
  return { ...r.data, objects };
}
