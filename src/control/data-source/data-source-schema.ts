/**
 * A data source of the control plane, registered once and named by tasks: a PostgreSQL server, with
 * the fields of the OMS "PostgreSQL data source" form (../../../../shared/seeds/oms-postgresql-data-source.md),
 * or a Kafka cluster (a destination only), with the connection keys of the Kafka destination
 * (bootstrapServers, sasl, tls: src/core/kafka-destination-config.ts). `type` tells them apart.
 * These zod schemas are the one definition: they validate API input and generate the OpenAPI document.
 * Secrets (`password`, `clientKey`, `clientKeyPassword`; Kafka's `sasl.password`, `tls.key`) are
 * write-only: accepted on input, stored encrypted, answered as `passwordSet` / `clientKeySet` /
 * `clientKeyPasswordSet` (`sasl.passwordSet`, `tls.keySet`).
 */
import { z } from 'zod';
import { hostPort, SASL_MECHANISMS, type SaslMechanism } from '../../core/kafka-destination-config.ts';
import { SSL_MODES } from '../../core/task-config.ts';

/** `primary`: a primary server; `primary+standby`: a primary with a standby; `standby`: a standby only. */
export const DATA_SOURCE_ATTRIBUTES = ['primary', 'primary+standby', 'standby'] as const;

/** One of {@link DATA_SOURCE_ATTRIBUTES}. */
export type DataSourceAttributes = (typeof DATA_SOURCE_ATTRIBUTES)[number];

/** Data source types: `postgresql` (a source or a destination), `kafka` (a destination only). */
export const DATA_SOURCE_TYPES = ['postgresql', 'kafka'] as const;

/** One of {@link DATA_SOURCE_TYPES}. */
export type DataSourceType = (typeof DATA_SOURCE_TYPES)[number];

const PEM = /-----BEGIN [A-Z0-9 ]+-----[\s\S]+-----END [A-Z0-9 ]+-----/;
const pem = (what: string) =>
  z
    .string()
    .max(65_536, { error: 'must be at most 64 KiB of PEM text' })
    .regex(PEM, { error: `must be PEM text (-----BEGIN ...----- ... -----END ...-----) of the ${what}` });

/** A host name or IP address (no scheme, no port, no spaces). */
const host = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(255, { error: 'must be at most 255 characters' })
  .regex(/^[^\s/:@]+$|^\[?[0-9a-fA-F:]+\]?$/, {
    error: 'must be a host name or IP address, without scheme, port or spaces',
  });
const port = z
  .int({ error: 'must be an integer' })
  .min(1, { error: 'must be between 1 and 65535' })
  .max(65535, { error: 'must be between 1 and 65535' });
/** A PostgreSQL name (NAMEDATALEN - 1 = 63 bytes; PostgreSQL docs, "Identifiers and Key Words"). */
const pgName = (what: string) =>
  z
    .string()
    .min(1, { error: `must name the ${what}` })
    .max(63, { error: 'must be at most 63 characters (PostgreSQL names are at most 63 bytes)' });

/** `id`: letters and digits only, no spaces, 1-32 characters (the OMS form's rule). */
export const dataSourceId = z
  .string()
  .regex(/^[A-Za-z0-9]{1,32}$/, { error: 'must be 1-32 letters and digits (no spaces or other characters)' })
  .meta({ description: 'unique name: letters and digits only, 1-32 characters', example: 'orders01' });

/** The standby of a `primary+standby` data source. */
const standby = z.strictObject({ host, port });

/** Fields of a data source other than `id` and `type`, each optional (the shape of PATCH). */
const editable = {
  region: z.string().min(1).max(64, { error: 'must be at most 64 characters' }).nullable(),
  attributes: z.enum(DATA_SOURCE_ATTRIBUTES, {
    error: `must be one of ${DATA_SOURCE_ATTRIBUTES.join(', ')}`,
  }),
  standby: standby.nullable().meta({ description: 'with attributes primary+standby: the standby server' }),
  heartbeat: z.boolean({ error: 'must be true or false' }).meta({
    description: 'on a primary, tasks write a heartbeat so that lag is measured on an idle source',
  }),
  host,
  port,
  username: pgName('user'),
  password: z
    .string()
    .min(1, { error: 'must not be empty' })
    .max(1024)
    .nullable()
    .meta({ description: 'write-only: stored encrypted, never returned (see passwordSet)', writeOnly: true }),
  database: pgName('database'),
  schema: pgName('schema')
    .nullable()
    .meta({ description: 'when set, only objects of this schema can be selected from this data source' }),
  sslmode: z.enum(SSL_MODES, { error: `must be one of ${SSL_MODES.join(', ')}` }),
  caCertificate: pem('CA certificate').nullable(),
  clientCertificate: pem('client certificate').nullable(),
  clientKey: pem('client private key').nullable().meta({ description: 'write-only', writeOnly: true }),
  clientKeyPassword: z
    .string()
    .min(1)
    .max(1024)
    .nullable()
    .meta({ description: 'write-only: passphrase of an encrypted clientKey', writeOnly: true }),
  remarks: z.string().max(1024, { error: 'must be at most 1024 characters' }).nullable(),
};

/** A stored data source (secrets in plain text here, in memory only), by type. */
export type DataSource = PostgresqlDataSource | KafkaDataSource;

/** A PostgreSQL server. */
export interface PostgresqlDataSource {
  readonly id: string;
  readonly type: 'postgresql';
  readonly region: string | null;
  readonly attributes: DataSourceAttributes;
  readonly standby: { readonly host: string; readonly port: number } | null;
  readonly heartbeat: boolean;
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string | null;
  readonly database: string;
  readonly schema: string | null;
  readonly sslmode: (typeof SSL_MODES)[number];
  readonly caCertificate: string | null;
  readonly clientCertificate: string | null;
  readonly clientKey: string | null;
  readonly clientKeyPassword: string | null;
  readonly remarks: string | null;
}

/** A rule across fields, checked on create and on the merged result of a PATCH. */
interface CrossRule {
  readonly path: string;
  readonly message: string;
}

/**
 * The rules that span fields: a standby exactly with `primary+standby`; no heartbeat on a standby
 * (it is written into the server); a CA certificate for
 * verify-ca / verify-full (libpq refuses those modes without a root certificate); a client key exactly
 * with a client certificate; a key password only with a key.
 */
export function crossFieldProblems(d: PostgresqlDataSource): CrossRule[] {
  const out: CrossRule[] = [];
  if (d.attributes === 'primary+standby' && d.standby === null) {
    out.push({ path: 'standby', message: 'is required with attributes primary+standby (host and port)' });
  }
  if (d.attributes !== 'primary+standby' && d.standby !== null) {
    out.push({
      path: 'standby',
      message: `is only allowed with attributes primary+standby, not ${d.attributes}`,
    });
  }
  if (d.heartbeat && d.attributes === 'standby') {
    // The heartbeat is a row written into the source (a standby is read-only).
    out.push({ path: 'heartbeat', message: 'needs a primary: a standby cannot be written to' });
  }
  if ((d.sslmode === 'verify-ca' || d.sslmode === 'verify-full') && d.caCertificate === null) {
    out.push({ path: 'caCertificate', message: `is required with sslmode ${d.sslmode}` });
  }
  if (d.sslmode === 'disable' && (d.caCertificate ?? d.clientCertificate ?? d.clientKey) !== null) {
    out.push({
      path: 'sslmode',
      message: 'is disable, but certificates or a key were given: they would be unused',
    });
  }
  if ((d.clientCertificate === null) !== (d.clientKey === null)) {
    out.push({
      path: d.clientKey === null ? 'clientKey' : 'clientCertificate',
      message: 'clientCertificate and clientKey go together: give both or neither',
    });
  }
  if (d.clientKeyPassword !== null && d.clientKey === null) {
    out.push({ path: 'clientKeyPassword', message: 'is only allowed with a clientKey' });
  }
  return out;
}

/** Adds the {@link crossFieldProblems} of a complete data source as zod issues. */
function refineCross(d: PostgresqlDataSource, ctx: z.core.$RefinementCtx): void {
  for (const p of crossFieldProblems(d)) ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
}

/** Body of `POST /api/v1/data-sources` with `type: postgresql`. */
export const createPostgresqlDataSourceSchema = z
  .strictObject({
    id: dataSourceId,
    type: z.literal('postgresql'),
    region: editable.region.default(null),
    attributes: editable.attributes.default('primary'),
    standby: editable.standby.default(null),
    heartbeat: editable.heartbeat.default(false),
    host: editable.host,
    port: editable.port.default(5432),
    username: editable.username,
    password: editable.password.default(null),
    database: editable.database,
    schema: editable.schema.default(null),
    sslmode: editable.sslmode.default('prefer'),
    caCertificate: editable.caCertificate.default(null),
    clientCertificate: editable.clientCertificate.default(null),
    clientKey: editable.clientKey.default(null),
    clientKeyPassword: editable.clientKeyPassword.default(null),
    remarks: editable.remarks.default(null),
  })
  .superRefine(refineCross)
  .meta({ id: 'PostgresqlDataSourceCreate' });

/** A Kafka cluster: a task destination only (its routing and delivery keys are the task's). */
export interface KafkaDataSource {
  readonly id: string;
  readonly type: 'kafka';
  readonly region: string | null;
  /** `host:port` of each bootstrap broker. */
  readonly bootstrapServers: readonly string[];
  readonly sasl: {
    readonly mechanism: SaslMechanism;
    readonly username: string;
    readonly password: string;
  } | null;
  /** TLS on every broker connection (PEM text); `{}` trusts the system's certificate authorities. */
  readonly tls: {
    readonly ca: string | null;
    readonly cert: string | null;
    readonly key: string | null;
    readonly serverName: string | null;
  } | null;
  readonly remarks: string | null;
}

const kafkaEditable = {
  bootstrapServers: z
    .array(hostPort, { error: 'must be a list of host:port' })
    .min(1, { error: 'must list at least one host:port' })
    .max(64, { error: 'at most 64 brokers' })
    .meta({ description: 'host:port of each bootstrap broker', example: ['10.0.0.7:9092'] }),
  mechanism: z.enum(SASL_MECHANISMS, { error: `must be one of ${SASL_MECHANISMS.join(', ')}` }),
  username: z
    .string({ error: 'must be a string' })
    .min(1, { error: 'must not be empty' })
    .max(255, { error: 'must be at most 255 characters' }),
  password: z
    .string({ error: 'is required with sasl (write-only: give it again when sasl changes)' })
    .min(1, { error: 'must not be empty' })
    .max(1024)
    .meta({ description: 'write-only: stored encrypted, never returned (see passwordSet)', writeOnly: true }),
  ca: pem('CA certificate')
    .nullable()
    .meta({ description: 'trusted CA certificates; null: the system ones' }),
  cert: pem('client certificate').nullable(),
  key: pem('client private key').nullable().meta({ description: 'write-only', writeOnly: true }),
  serverName: host
    .nullable()
    .meta({ description: 'name checked in the broker certificates; null: the host' }),
};

/** Adds the rules across the fields of a Kafka data source: tls.cert and tls.key go together. */
function refineKafka(
  d: { tls: { cert: string | null; key: string | null } | null },
  ctx: z.core.$RefinementCtx,
) {
  if (d.tls !== null && (d.tls.cert === null) !== (d.tls.key === null)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tls', d.tls.key === null ? 'key' : 'cert'],
      message: 'tls.cert and tls.key go together: give both or neither',
    });
  }
}

/** Body of `POST /api/v1/data-sources` with `type: kafka`. */
export const createKafkaDataSourceSchema = z
  .strictObject({
    id: dataSourceId,
    type: z.literal('kafka'),
    region: editable.region.default(null),
    bootstrapServers: kafkaEditable.bootstrapServers,
    sasl: z
      .strictObject({
        mechanism: kafkaEditable.mechanism,
        username: kafkaEditable.username,
        password: kafkaEditable.password,
      })
      .nullable()
      .default(null)
      .meta({ description: 'SASL login; null: none' }),
    tls: z
      .strictObject({
        ca: kafkaEditable.ca.default(null),
        cert: kafkaEditable.cert.default(null),
        key: kafkaEditable.key.default(null),
        serverName: kafkaEditable.serverName.default(null),
      })
      .nullable()
      .default(null)
      .meta({ description: 'TLS to the brokers; null: plaintext' }),
    remarks: editable.remarks.default(null),
  })
  .superRefine(refineKafka)
  .meta({ id: 'KafkaDataSourceCreate' });

/** Body of `POST /api/v1/data-sources`: the fields of its `type`. */
export const createDataSourceSchema = z
  .discriminatedUnion('type', [createPostgresqlDataSourceSchema, createKafkaDataSourceSchema], {
    error: `type must be ${DATA_SOURCE_TYPES.join(' or ')}`,
  })
  .meta({ id: 'DataSourceCreate' });

/** The fields only one type has, for the PATCH rule that a field must be of the stored type. */
const KAFKA_ONLY = ['bootstrapServers', 'sasl', 'tls'] as const;
const POSTGRESQL_ONLY = [
  'attributes',
  'standby',
  'heartbeat',
  'host',
  'port',
  'username',
  'password',
  'database',
  'schema',
  'sslmode',
  'caCertificate',
  'clientCertificate',
  'clientKey',
  'clientKeyPassword',
] as const;

/**
 * Body of `PATCH /api/v1/data-sources/{id}`: any editable field of the data source's type; `null`
 * clears an optional one (a secret included). For Kafka, `sasl` and `tls` replace the stored ones as
 * a whole, except that an absent `sasl.password` or `tls.key` keeps the stored secret. The merged
 * result must pass the same rules as a new data source.
 */
export const patchDataSourceSchema = z
  .strictObject({
    region: editable.region.optional(),
    attributes: editable.attributes.optional(),
    standby: editable.standby.optional(),
    heartbeat: editable.heartbeat.optional(),
    host: editable.host.optional(),
    port: editable.port.optional(),
    username: editable.username.optional(),
    password: editable.password.optional(),
    database: editable.database.optional(),
    schema: editable.schema.optional(),
    sslmode: editable.sslmode.optional(),
    caCertificate: editable.caCertificate.optional(),
    clientCertificate: editable.clientCertificate.optional(),
    clientKey: editable.clientKey.optional(),
    clientKeyPassword: editable.clientKeyPassword.optional(),
    bootstrapServers: kafkaEditable.bootstrapServers.optional(),
    sasl: z
      .strictObject({
        mechanism: kafkaEditable.mechanism,
        username: kafkaEditable.username,
        password: kafkaEditable.password.optional(),
      })
      .nullable()
      .optional(),
    tls: z
      .strictObject({
        ca: kafkaEditable.ca.optional(),
        cert: kafkaEditable.cert.optional(),
        key: kafkaEditable.key.optional(),
        serverName: kafkaEditable.serverName.optional(),
      })
      .nullable()
      .optional(),
    remarks: editable.remarks.optional(),
  })
  .meta({ id: 'DataSourcePatch' });

/** A validated PATCH body. */
export type DataSourcePatch = z.output<typeof patchDataSourceSchema>;

/** The fields of `p` that data sources of `d`'s type do not have. */
export function foreignPatchFields(d: DataSource, p: DataSourcePatch): CrossRule[] {
  const foreign: readonly string[] = d.type === 'kafka' ? POSTGRESQL_ONLY : KAFKA_ONLY;
  return Object.keys(p)
    .filter((k) => p[k as keyof DataSourcePatch] !== undefined && foreign.includes(k))
    .map((k) => ({ path: k, message: `is not a field of a ${d.type} data source` }));
}

/**
 * Applies a PATCH to a stored data source (absent keys keep their value, `null` clears); fields of the
 * other type are left out (see {@link foreignPatchFields}, checked before).
 */
export function mergePatch(d: DataSource, p: DataSourcePatch): DataSource {
  const own = (keys: readonly string[]) =>
    Object.fromEntries(Object.entries(p).filter(([k, v]) => v !== undefined && keys.includes(k)));
  switch (d.type) {
    case 'postgresql':
      return { ...d, ...own(['region', 'remarks', ...POSTGRESQL_ONLY]) };
    case 'kafka': {
      const sasl =
        p.sasl === undefined || p.sasl === null
          ? (p.sasl ?? d.sasl)
          : { ...p.sasl, password: p.sasl.password ?? d.sasl?.password };
      const tls =
        p.tls === undefined || p.tls === null
          ? (p.tls ?? d.tls)
          : {
              ca: p.tls.ca ?? null,
              cert: p.tls.cert ?? null,
              // An absent key keeps the stored one (it is write-only: the client cannot send it back).
              key: p.tls.key === undefined ? (d.tls?.key ?? null) : p.tls.key,
              serverName: p.tls.serverName ?? null,
            };
      return { ...d, ...own(['region', 'remarks', 'bootstrapServers']), sasl, tls } as KafkaDataSource;
    }
  }
}

/** A PostgreSQL data source as the API answers it: every field but the secrets, which say whether they are set. */
export const postgresqlDataSourceViewSchema = z
  .object({
    id: z.string(),
    type: z.literal('postgresql'),
    region: z.string().nullable(),
    attributes: z.enum(DATA_SOURCE_ATTRIBUTES),
    standby: z.object({ host: z.string(), port: z.int() }).nullable(),
    heartbeat: z.boolean(),
    host: z.string(),
    port: z.int(),
    username: z.string(),
    passwordSet: z.boolean(),
    database: z.string(),
    schema: z.string().nullable(),
    sslmode: z.enum(SSL_MODES),
    caCertificate: z.string().nullable(),
    clientCertificate: z.string().nullable(),
    clientKeySet: z.boolean(),
    clientKeyPasswordSet: z.boolean(),
    remarks: z.string().nullable(),
    createdAt: z.string().meta({ description: 'ISO 8601, UTC' }),
    updatedAt: z.string().meta({ description: 'ISO 8601, UTC' }),
  })
  .meta({ id: 'PostgresqlDataSource' });

/** A Kafka data source as the API answers it (`sasl.passwordSet`, `tls.keySet` for the secrets). */
export const kafkaDataSourceViewSchema = z
  .object({
    id: z.string(),
    type: z.literal('kafka'),
    region: z.string().nullable(),
    bootstrapServers: z.array(z.string()),
    sasl: z
      .object({ mechanism: z.enum(SASL_MECHANISMS), username: z.string(), passwordSet: z.boolean() })
      .nullable(),
    tls: z
      .object({
        ca: z.string().nullable(),
        cert: z.string().nullable(),
        keySet: z.boolean(),
        serverName: z.string().nullable(),
      })
      .nullable(),
    remarks: z.string().nullable(),
    createdAt: z.string().meta({ description: 'ISO 8601, UTC' }),
    updatedAt: z.string().meta({ description: 'ISO 8601, UTC' }),
  })
  .meta({ id: 'KafkaDataSource' });

/** A data source as the API answers it, by `type`. */
export const dataSourceViewSchema = z
  .discriminatedUnion('type', [postgresqlDataSourceViewSchema, kafkaDataSourceViewSchema])
  .meta({ id: 'DataSource' });

/** The API's view of a PostgreSQL data source. */
export type PostgresqlDataSourceView = z.output<typeof postgresqlDataSourceViewSchema>;

/**
 * The view of a PostgreSQL data source under the name the web console imports (console/src/api-client.ts):
 * the console's form knows PostgreSQL fields only; {@link AnyDataSourceView} is what the API answers.
 */
export type DataSourceView = PostgresqlDataSourceView;

/** The API's view of a Kafka data source. */
export type KafkaDataSourceView = z.output<typeof kafkaDataSourceViewSchema>;

/** The API's view of any data source. */
export type AnyDataSourceView = z.output<typeof dataSourceViewSchema>;

/** The view of `d` (never its secrets). */
export function viewOf(d: DataSource, times: { createdAt: Date; updatedAt: Date }): AnyDataSourceView {
  const stamps = { createdAt: times.createdAt.toISOString(), updatedAt: times.updatedAt.toISOString() };
  switch (d.type) {
    case 'kafka':
      return {
        id: d.id,
        type: d.type,
        region: d.region,
        bootstrapServers: [...d.bootstrapServers],
        sasl:
          d.sasl === null
            ? null
            : { mechanism: d.sasl.mechanism, username: d.sasl.username, passwordSet: d.sasl.password !== '' },
        tls:
          d.tls === null
            ? null
            : { ca: d.tls.ca, cert: d.tls.cert, keySet: d.tls.key !== null, serverName: d.tls.serverName },
        remarks: d.remarks,
        ...stamps,
      };
    case 'postgresql':
      return {
        id: d.id,
        type: d.type,
        region: d.region,
        attributes: d.attributes,
        standby: d.standby,
        heartbeat: d.heartbeat,
        host: d.host,
        port: d.port,
        username: d.username,
        passwordSet: d.password !== null,
        database: d.database,
        schema: d.schema,
        sslmode: d.sslmode,
        caCertificate: d.caCertificate,
        clientCertificate: d.clientCertificate,
        clientKeySet: d.clientKey !== null,
        clientKeyPasswordSet: d.clientKeyPassword !== null,
        remarks: d.remarks,
        ...stamps,
      };
  }
}
