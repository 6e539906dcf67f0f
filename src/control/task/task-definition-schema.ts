/**
 * A task of the control plane: the task file's keys (src/core/task-config.ts, `taskBodyShape`, one
 * definition for both) with `source: {dataSource: ID}` and `destination: {dataSource: ID}` instead of
 * connection settings, a free `name` (1-64 characters, not unique: the task's generated id names its
 * slot, publication and bookkeeping), and `alerts`. These zod schemas validate API input and generate
 * the OpenAPI document.
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.ts';
import { heartbeatSchema } from '../../core/heartbeat-config.ts';
import {
  parseTaskConfig,
  parseTaskDocument,
  taskBodyShape,
  type ParsedTaskDocument,
  type TaskConfig,
} from '../../core/task-config.ts';
import { changedKeys } from '../../pipeline/task-control.ts';
import { kafkaDeliveryShape, refineKafkaPropertyKeys } from '../../core/kafka-destination-config.ts';
import {
  dataSourceId,
  type DataSource,
  type PostgresqlDataSource,
} from '../data-source/data-source-schema.ts';

/** A task id: `t` and 12 lower-case letters or digits, generated on create. */
export const TASK_ID = /^t[0-9a-z]{12}$/;

/** zod schema of a task id in a route. */
export const taskId = z
  .string()
  .regex(TASK_ID, { error: 'must be a task id (t and 12 lower-case letters or digits)' })
  .meta({ description: 'generated task id', example: 't3k9x0c2m4q8z' });

/**
 * Alert rule types (the DTS seed's "synchronization fails or the latency exceeds the threshold",
 * and a verification job that found differences or could not run).
 */
export const ALERT_RULE_TYPES = ['task-failed', 'latency', 'verification-failed'] as const;

/** One alert rule of a task. */
export const alertRuleSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      /** Fires when the task fails, or has been retrying an error for `retryingMinutes`. */
      type: z.literal('task-failed'),
      retryingMinutes: z
        .number({ error: 'must be a number of minutes' })
        .min(0.1, { error: 'must be at least 0.1 minutes' })
        .max(1440, { error: 'must be at most 1440 minutes' })
        .default(5)
        .meta({ description: 'also fire after retrying this long without progress, minutes' }),
    }),
    z.strictObject({
      /** Fires when the incremental lag stays above `thresholdSeconds` for `forMinutes`. */
      type: z.literal('latency'),
      thresholdSeconds: z
        .number({ error: 'must be a number of seconds' })
        .min(1, { error: 'must be at least 1 second' })
        .max(86_400, { error: 'must be at most 86400 seconds' }),
      forMinutes: z
        .number({ error: 'must be a number of minutes' })
        .min(0, { error: 'must be at least 0' })
        .max(1440, { error: 'must be at most 1440 minutes' })
        .default(0),
    }),
    z.strictObject({
      /**
       * Fires while the newest finished verification job of the task is `failed` (differences
       * found) or `error`; resolves when a newer job passes (alerts.md).
       */
      type: z.literal('verification-failed'),
    }),
  ],
  { error: `must have type ${ALERT_RULE_TYPES.join(', ')}` },
);

/** A validated alert rule. */
export type AlertRule = z.output<typeof alertRuleSchema>;

/** `alerts` of a task: rules, and the webhooks every alert is POSTed to. */
export const alertsSchema = z
  .strictObject({
    webhooks: z
      .array(
        z
          .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
          .max(2048, { error: 'must be at most 2048 characters' }),
      )
      .max(10, { error: 'at most 10 webhooks' })
      .default([]),
    rules: z
      .array(alertRuleSchema)
      .max(10, { error: 'at most 10 rules' })
      .refine((a) => new Set(a.map((r) => r.type)).size === a.length, {
        error: 'at most one rule of each type',
      })
      .default([]),
  })
  .refine((a) => a.rules.length === 0 || a.webhooks.length > 0, {
    path: ['webhooks'],
    error: 'alert rules need at least one webhook to deliver to',
  });

/** A validated `alerts`. */
export type AlertsConfig = z.output<typeof alertsSchema>;

/** The keys a task's `destination` takes besides `dataSource`: those of a Kafka destination's delivery. */
const KAFKA_TASK_KEYS: readonly string[] = Object.keys(kafkaDeliveryShape);

/**
 * `destination` of a task: its data source, and with a kafka data source the Kafka destination's
 * routing and delivery keys (topic, partitionPolicy, ..., `properties.*`), without their defaults
 * (the stored definition is the input; the engine task applies them). The data source's type is
 * only known in {@link checkAgainstDataSources}, which refuses these keys for a postgresql one.
 */
const destinationSchema = z
  .object({
    dataSource: dataSourceId,
    ...(Object.fromEntries(
      Object.entries(kafkaDeliveryShape).map(([k, v]) => [
        k,
        (v instanceof z.ZodDefault ? v.unwrap() : v).optional(),
      ]),
    ) as unknown as {
      [K in keyof typeof kafkaDeliveryShape]: z.ZodOptional<
        z.ZodType<z.output<(typeof kafkaDeliveryShape)[K]>, z.input<(typeof kafkaDeliveryShape)[K]>>
      >;
    }),
  })
  .catchall(z.unknown())
  .superRefine((d, ctx) =>
    refineKafkaPropertyKeys(
      d,
      Object.fromEntries(['dataSource', ...KAFKA_TASK_KEYS].map((k) => [k, true as const])),
      ctx,
    ),
  )
  .meta({
    description:
      'the destination data source; with a kafka one also the Kafka destination keys (topic, partitionPolicy, newTopicPartitions, replicationFactor, deliveryGuarantee, schemas, tombstones, transactionTopic, unavailableValuePlaceholder, offsetsTopic, compression, connectTimeoutMs, properties.*)',
  });

/** zod schema of a task definition (POST /api/v1/tasks). */
export const taskDefinitionSchema = z
  .strictObject({
    name: z
      .string({ error: 'must be a string' })
      .min(1, { error: 'must be 1-64 characters' })
      .max(64, { error: 'must be 1-64 characters' }),
    source: z.strictObject({
      dataSource: dataSourceId,
      /** As a task file's `source.heartbeat`; a data source with `heartbeat: true` implies the default. */
      heartbeat: heartbeatSchema.optional(),
    }),
    destination: destinationSchema,
    ...taskBodyShape,
    alerts: alertsSchema.default({ webhooks: [], rules: [] }),
  })
  .meta({ id: 'TaskDefinition' });

/** A task definition as given (before defaults): what is stored and answered. */
export type TaskDefinitionInput = z.input<typeof taskDefinitionSchema>;

/** A validated task definition. */
export type TaskDefinition = ParsedTaskDocument<z.output<typeof taskDefinitionSchema>>;

/**
 * Validates a task definition: zod's rules and the task file's cross-key rules (objects, mapping,
 * start position, heartbeat).
 * @throws {ConfigError} naming the first invalid key and its rule.
 */
export function parseTaskDefinition(doc: unknown): TaskDefinition {
  return parseTaskDocument(taskDefinitionSchema, doc);
}

/**
 * The keys a running task takes changes of (the seeds' "modify while running": throttling and alert
 * rules), plus its name, and `verify` (the pace and schedule of verification jobs, which the run
 * does not read). A change of any other key needs the task stopped and prechecked again.
 */
export const LIVE_KEYS = ['name', 'alerts', 'full.throttle', 'incremental.throttle', 'verify'] as const;

/**
 * The keys (dotted, `incremental.batchMaxRows`) that differ between two definitions and that a running
 * task cannot take (not under one of {@link LIVE_KEYS}).
 */
export function nonLiveChanges(a: TaskDefinitionInput, b: TaskDefinitionInput): string[] {
  // An absent object and one holding only live keys differ only in those keys.
  const [x, y] = alignObjects(a, b);
  return changedKeys(x, y).filter((k) => !LIVE_KEYS.some((l) => k === l || k.startsWith(`${l}.`)));
}

/** `a` and `b` with an absent key replaced by `{}` where the other side holds an object. */
function alignObjects(a: unknown, b: unknown): [unknown, unknown] {
  if (!isObject(a) && !isObject(b)) return [a, b];
  const ra = (isObject(a) ? a : a === undefined ? {} : a) as Record<string, unknown>;
  const rb = (isObject(b) ? b : b === undefined ? {} : b) as Record<string, unknown>;
  if (!isObject(ra) || !isObject(rb)) return [a, b];
  const oa: Record<string, unknown> = {};
  const ob: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(ra), ...Object.keys(rb)])) {
    [oa[k], ob[k]] = alignObjects(ra[k], rb[k]);
  }
  return [oa, ob];
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Applies a JSON merge patch (RFC 7396) to a stored definition: objects merge key by key, `null`
 * removes a key (its default applies again), anything else replaces.
 */
export function mergeDefinitionPatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergeDefinitionPatch(out[k], v);
  }
  return out;
}

/**
 * The rules a definition must meet against its data sources: both exist (the caller looked them
 * up), source and destination differ, the source is PostgreSQL (Kafka is a destination only), the
 * Kafka destination keys only with a kafka destination, and with a data source `schema` only that
 * schema's objects are selected from it.
 * @throws {ConfigError} naming the key.
 */
export function checkAgainstDataSources(
  def: TaskDefinition,
  source: DataSource,
  destination: DataSource,
): void {
  if (source.id === destination.id) {
    throw new ConfigError('destination.dataSource', 'must be another data source than source.dataSource');
  }
  const src = postgresqlSourceOf(source);
  if (src.attributes === 'standby' && def.syncTypes.includes('incremental')) {
    throw new ConfigError(
      'source.dataSource',
      `data source ${src.id} is a standby: incremental sync needs a primary (a logical replication slot on a standby needs PostgreSQL 16 and is not supported)`,
    );
  }
  switch (destination.type) {
    case 'postgresql': {
      if (destination.attributes === 'standby') {
        throw new ConfigError(
          'destination.dataSource',
          `data source ${destination.id} is a standby: a destination must accept writes`,
        );
      }
      const kafkaKey = Object.keys(def.destination).find((k) => k !== 'dataSource');
      if (kafkaKey !== undefined) {
        throw new ConfigError(
          `destination.${kafkaKey}`,
          `is a Kafka destination key, and data source ${destination.id} is postgresql`,
        );
      }
      break;
    }
    case 'kafka':
      break;
  }
  if (src.schema !== null) {
    def.objects.forEach((o, i) => {
      const schema = o.kind === 'schema' ? o.schema : o.table.schema;
      if (schema !== src.schema) {
        throw new ConfigError(
          `objects[${i}]`,
          `data source ${src.id} allows only objects of schema ${src.schema}, not ${schema}`,
        );
      }
    });
  }
}

/**
 * `d` as a task source.
 * @throws {ConfigError} `source.dataSource` when it is a kafka data source.
 */
export function postgresqlSourceOf(d: DataSource): PostgresqlDataSource {
  switch (d.type) {
    case 'postgresql':
      return d;
    case 'kafka':
      throw new ConfigError(
        'source.dataSource',
        `data source ${d.id} is kafka: Kafka is a destination only, a task reads from a postgresql data source`,
      );
  }
}

/**
 * The engine's task of a stored task: the task file shape with the data sources' addresses (no
 * password, SASL login or TLS material: connections take them from the data sources,
 * open-data-source.ts) and the task id as its name. A kafka destination gets the data source's
 * bootstrap servers and the definition's destination keys.
 * @throws {ConfigError} when the stored definition no longer validates (a newer rule), or its source
 *   is a kafka data source.
 */
export function engineTaskOf(
  id: string,
  input: TaskDefinitionInput,
  source: DataSource,
  destination: DataSource,
): TaskConfig {
  const { alerts: _alerts, source: src, destination: dst, name: _name, ...body } = input;
  const pgSource = postgresqlSourceOf(source);
  const heartbeat =
    src.heartbeat ?? (pgSource.heartbeat && pgSource.attributes !== 'standby' ? {} : undefined);
  const endpoint = (d: PostgresqlDataSource) => ({
    type: 'postgresql' as const,
    host: d.host,
    port: d.port,
    user: d.username,
    database: d.database,
  });
  const withHeartbeat =
    heartbeat !== undefined && body.syncTypes.includes('incremental') ? { heartbeat } : {};
  const { dataSource: _id, ...kafkaKeys } = dst;
  return parseTaskConfig({
    ...body,
    name: id,
    source: { ...endpoint(pgSource), ...withHeartbeat },
    destination:
      destination.type === 'postgresql'
        ? endpoint(destination)
        : { type: 'kafka', bootstrapServers: [...destination.bootstrapServers], ...kafkaKeys },
  });
}
