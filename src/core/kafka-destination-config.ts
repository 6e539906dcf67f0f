/**
 * The `destination` of a task whose `type` is `kafka` (README "Kafka destination"): where change
 * events go (brokers, topic and partition rules), how they look (Debezium's JsonConverter with or
 * without schemas, tombstones) and how they are delivered (at-least-once or exactly-once).
 * Validated with zod like the rest of the task file; every error names the key and the rule.
 */
import { z } from 'zod';
import zlib from 'node:zlib';
import { ConfigError } from './errors.ts';

/** Names a topic template may use, each written `#{name}`. */
export const TOPIC_PLACEHOLDERS = ['source_db_name', 'source_schema_name', 'source_table_name'] as const;

/** How records are spread over a topic's partitions. */
export const PARTITION_POLICIES = ['partition-0', 'table-hash', 'key-hash'] as const;

/** Record batch compression codecs (Kafka protocol, "Record Batch" attributes). */
export const COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

/** Debezium's placeholder for an unchanged TOASTed value (`unavailable.value.placeholder`). */
export const DEBEZIUM_UNAVAILABLE_VALUE = '__debezium_unavailable_value';

/**
 * The `properties.*` keys pgdts hands to the client, by the Java client's name (as the seed's Flink
 * connector takes them); any other `properties.` key is refused, never silently ignored.
 * - `linger.ms`: most time a record waits for others to share its produce request, ms;
 * - `batch.size`: most bytes of records in one produce request per batch;
 * - `compression.type`: same as `compression`;
 * - `client.id`: the client id the brokers log;
 * - `request.timeout.ms`: how long a request may wait for its answer, ms;
 * - `retries`, `retry.backoff.ms`: retries of a failed request and the delay between them;
 * - `transactional.id`: exactly-once only, the transactional id (default `pgdts-<task name>`);
 * - `transaction.timeout.ms`: how long a Kafka transaction may stay open, ms (default 900,000, the
 *   broker's default `transaction.max.timeout.ms`; at least 1,000): under exactly-once a big source
 *   transaction is sent in one Kafka transaction, which must not time out while it is sent.
 */
export const CLIENT_PROPERTIES = [
  'linger.ms',
  'batch.size',
  'compression.type',
  'client.id',
  'request.timeout.ms',
  'retries',
  'retry.backoff.ms',
  'transactional.id',
  'transaction.timeout.ms',
] as const;

const PROPERTY_PREFIX = 'properties.';

/** `host:port` of a broker (a name, an IPv4 address or a bracketed IPv6 address). */
export const hostPort = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'the port must be 1-65535');

/** Splits a {@link hostPort} `host:port` (a bracketed IPv6 host loses its brackets). */
export function splitHostPort(server: string): { host: string; port: number } {
  const at = server.lastIndexOf(':');
  return { host: server.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(server.slice(at + 1)) };
}

/** A Kafka topic name (Kafka `Topic.validate`: 1-249 of `[a-zA-Z0-9._-]`). */
const topicName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be 1-249 letters, digits, . _ - (a Kafka topic name)')
  .refine((t) => t !== '.' && t !== '..', 'must not be . or ..');

const topicTemplate = z
  .string()
  .min(1)
  .refine(
    (t) =>
      [...t.matchAll(/#\{([^}]*)\}/g)].every((m) =>
        (TOPIC_PLACEHOLDERS as readonly string[]).includes(m[1] ?? ''),
      ),
    `may use only #{${TOPIC_PLACEHOLDERS.join('}, #{')}}`,
  )
  .refine(
    (t) => /^[A-Za-z0-9._-]*$/.test(t.replace(/#\{[^}]*\}/g, '')),
    'outside its #{...} placeholders, only letters, digits, . _ - (a Kafka topic name)',
  );

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** SASL mechanisms (KIP-43 PLAIN, KIP-84 SCRAM). */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** One of {@link SASL_MECHANISMS}. */
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

const saslSchema = z
  .strictObject({
    mechanism: z.enum(SASL_MECHANISMS, {
      error: 'must be plain, scram-sha-256 or scram-sha-512',
    }),
    username: z.string().min(1),
    password: z.string().optional(),
    /** Name of an environment variable holding the password. */
    passwordEnv: envName.optional(),
  })
  .refine((s) => (s.password === undefined) !== (s.passwordEnv === undefined), {
    message: 'give exactly one of password and passwordEnv',
  });

const tlsSchema = z.strictObject({
  /** PEM file of the certificate authorities to trust; default the system's. */
  ca: z.string().min(1).optional(),
  /** PEM files of a client certificate and its key (mutual TLS). */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** Server name to check the broker's certificate against; default the host connected to. */
  serverName: z.string().min(1).optional(),
});

/** The keys that say where the cluster is and how to log in: a control plane data source holds them. */
export const KAFKA_CONNECTION_KEYS = ['bootstrapServers', 'sasl', 'tls'] as const;

/**
 * The keys of a Kafka destination besides `type` and {@link KAFKA_CONNECTION_KEYS}: topic and
 * partition rules, event format and delivery. A control plane task gives them in its `destination`
 * (task-definition-schema.ts), its data source the connection.
 */
export const kafkaDeliveryShape = {
  /** Fixed topic, or a template with #{source_db_name} #{source_schema_name} #{source_table_name}. */
  topic: topicTemplate.default('pgdts.#{source_schema_name}.#{source_table_name}'),
  partitionPolicy: z
    .enum(PARTITION_POLICIES, { error: `must be one of ${PARTITION_POLICIES.join(', ')}` })
    .default('key-hash'),
  /** Partitions of a topic pgdts creates. */
  newTopicPartitions: z.number().int().min(1).max(10_000).default(1),
  /** Replication factor of a topic pgdts creates; default the broker's `default.replication.factor`. */
  replicationFactor: z.number().int().min(1).max(32).optional(),
  deliveryGuarantee: z
    .enum(['at-least-once', 'exactly-once'], { error: 'must be at-least-once or exactly-once' })
    .default('at-least-once'),
  /** Debezium JsonConverter `schemas.enable`: each key and value as `{schema, payload}`. */
  schemas: z.boolean({ error: 'must be true or false' }).default(false),
  /** A record with the key and a null value after each delete (log compaction). */
  tombstones: z.boolean({ error: 'must be true or false' }).default(true),
  /** Topic of BEGIN/END transaction metadata events (Debezium `provide.transaction.metadata`). */
  transactionTopic: topicName.nullable().default(null),
  /** Written for an unchanged TOASTed value the source did not send. */
  unavailableValuePlaceholder: z.string().default(DEBEZIUM_UNAVAILABLE_VALUE),
  /** Compacted topic holding the tasks' checkpoints and positions. */
  offsetsTopic: topicName.default('pgdts.offsets'),
  compression: z.enum(COMPRESSIONS, { error: `must be one of ${COMPRESSIONS.join(', ')}` }).default('none'),
  /** Connect timeout, ms. */
  connectTimeoutMs: z.number().int().min(100).max(600_000).optional(),
};

/**
 * Refuses, as zod issues, the keys of `d` that are neither in `known` nor a supported
 * `properties.*` client property with a string, number or boolean value.
 */
export function refineKafkaPropertyKeys(
  d: Readonly<Record<string, unknown>>,
  known: Readonly<Record<string, true>>,
  ctx: z.core.$RefinementCtx,
): void {
  for (const [key, value] of Object.entries(d)) {
    if (key in known) continue;
    if (!key.startsWith(PROPERTY_PREFIX)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: 'unknown key (allowed keys are listed in README)',
      });
      continue;
    }
    const prop = key.slice(PROPERTY_PREFIX.length);
    if (!(CLIENT_PROPERTIES as readonly string[]).includes(prop)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `not a client property pgdts passes on; supported: ${CLIENT_PROPERTIES.map((p) => PROPERTY_PREFIX + p).join(', ')}`,
      });
    } else if (!['string', 'number', 'boolean'].includes(typeof value)) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'must be a string, number or boolean' });
    }
  }
}

const kafkaDestinationKnownKeys: Readonly<Record<string, true>> = Object.fromEntries(
  ['type', ...KAFKA_CONNECTION_KEYS, ...Object.keys(kafkaDeliveryShape)].map((k) => [k, true]),
);

/** zod schema of a Kafka `destination`. */
export const kafkaDestinationSchema = z
  .object({
    type: z.literal('kafka'),
    bootstrapServers: z.array(hostPort).min(1, 'must list at least one host:port'),
    ...kafkaDeliveryShape,
    sasl: saslSchema.optional(),
    tls: tlsSchema.optional(),
  })
  .catchall(z.unknown())
  .superRefine((d, ctx) => refineKafkaPropertyKeys(d, kafkaDestinationKnownKeys, ctx));

/** A validated Kafka destination (with `properties.*` keys as written). */
export type KafkaDestinationConfig = z.infer<typeof kafkaDestinationSchema>;

/** What the client gets from `properties.*`, parsed. */
export interface KafkaClientProperties {
  readonly lingerMs: number | undefined;
  readonly batchSize: number | undefined;
  readonly compression: (typeof COMPRESSIONS)[number] | undefined;
  readonly clientId: string | undefined;
  readonly requestTimeoutMs: number | undefined;
  readonly retries: number | undefined;
  readonly retryBackoffMs: number | undefined;
  readonly transactionalId: string | undefined;
  /** `transaction.timeout.ms`, ms (exactly-once and the checkpoint writer). */
  readonly transactionTimeoutMs: number | undefined;
}

function intProperty(d: KafkaDestinationConfig, prop: string, min: number): number | undefined {
  const key = PROPERTY_PREFIX + prop;
  const v = d[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min)
    throw new ConfigError(`destination.${key}`, `must be an integer >= ${min}`);
  return n;
}

function stringProperty(d: KafkaDestinationConfig, prop: string): string | undefined {
  const v = d[PROPERTY_PREFIX + prop];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/**
 * The `properties.*` keys of `d`, parsed.
 * @throws {ConfigError} naming the key when a value is not of its kind.
 */
export function kafkaClientProperties(d: KafkaDestinationConfig): KafkaClientProperties {
  const compression = stringProperty(d, 'compression.type');
  if (compression !== undefined && !(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw new ConfigError(
      `destination.properties.compression.type`,
      `must be one of ${COMPRESSIONS.join(', ')}`,
    );
  }
  return {
    lingerMs: intProperty(d, 'linger.ms', 0),
    batchSize: intProperty(d, 'batch.size', 1),
    compression: compression as KafkaClientProperties['compression'],
    clientId: stringProperty(d, 'client.id'),
    requestTimeoutMs: intProperty(d, 'request.timeout.ms', 1),
    retries: intProperty(d, 'retries', 0),
    retryBackoffMs: intProperty(d, 'retry.backoff.ms', 0),
    transactionalId: stringProperty(d, 'transactional.id'),
    transactionTimeoutMs: intProperty(d, 'transaction.timeout.ms', 1_000),
  };
}

/** Whether this Node.js has zstd in `node:zlib` (Node 22.15 / 23.8 and later). */
export function nodeHasZstd(): boolean {
  return typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';
}

/**
 * The rules across keys of a Kafka destination: zstd needs a Node.js that has it; the properties
 * parse; `transactional.id` only with exactly-once; the offsets and transaction topics differ.
 * @throws {ConfigError} naming the key and the rule.
 */
export function checkKafkaDestination(d: KafkaDestinationConfig, hasZstd: boolean = nodeHasZstd()): void {
  const props = kafkaClientProperties(d);
  const zstdKey =
    d.compression === 'zstd'
      ? 'destination.compression'
      : props.compression === 'zstd'
        ? 'destination.properties.compression.type'
        : undefined;
  if (zstdKey !== undefined && !hasZstd) {
    throw new ConfigError(
      zstdKey,
      `zstd needs Node.js 22.15 or later (this is Node.js ${process.versions.node}): use lz4, snappy or gzip, or run pgdts on Node.js 24`,
    );
  }
  if (props.compression !== undefined && d.compression !== 'none' && props.compression !== d.compression) {
    throw new ConfigError('destination.properties.compression.type', `differs from destination.compression`);
  }
  if (props.transactionalId !== undefined && d.deliveryGuarantee !== 'exactly-once') {
    throw new ConfigError(
      'destination.properties.transactional.id',
      'only with deliveryGuarantee: exactly-once',
    );
  }
  if (d.transactionTopic !== null && d.transactionTopic === d.offsetsTopic) {
    throw new ConfigError('destination.transactionTopic', 'must differ from destination.offsetsTopic');
  }
}
