/**
 * A data source of the control plane: a PostgreSQL server registered once and named by tasks, with
 * the fields of the OMS "PostgreSQL data source" form (../../../../shared/seeds/oms-postgresql-data-source.md).
 * These zod schemas are the one definition: they validate API input and generate the OpenAPI document.
 * Secrets (`password`, `clientKey`, `clientKeyPassword`) are write-only: accepted on input, stored
 * encrypted, answered as `passwordSet` / `clientKeySet` / `clientKeyPasswordSet`.
 */
import { z } from 'zod';
import { SSL_MODES } from '../../core/task-config.ts';

/** `primary`: a primary server; `primary+standby`: a primary with a standby; `standby`: a standby only. */
export const DATA_SOURCE_ATTRIBUTES = ['primary', 'primary+standby', 'standby'] as const;

/** One of {@link DATA_SOURCE_ATTRIBUTES}. */
export type DataSourceAttributes = (typeof DATA_SOURCE_ATTRIBUTES)[number];

/** Data source types; `kafka` comes with that destination. */
export const DATA_SOURCE_TYPES = ['postgresql'] as const;

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

/** The stored data source (secrets in plain text here, in memory only). */
export interface DataSource {
  readonly id: string;
  readonly type: (typeof DATA_SOURCE_TYPES)[number];
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
export function crossFieldProblems(d: DataSource): CrossRule[] {
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
function refineCross(d: DataSource, ctx: z.core.$RefinementCtx): void {
  for (const p of crossFieldProblems(d)) ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
}

/** Body of `POST /api/v1/data-sources`. */
export const createDataSourceSchema = z
  .strictObject({
    id: dataSourceId,
    type: z.enum(DATA_SOURCE_TYPES, { error: `must be ${DATA_SOURCE_TYPES.join(' or ')}` }),
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
  .meta({ id: 'DataSourceCreate' });

/**
 * Body of `PATCH /api/v1/data-sources/{id}`: any editable field; `null` clears an optional one (a
 * secret included). The merged result must pass the same rules as a new data source.
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
    remarks: editable.remarks.optional(),
  })
  .meta({ id: 'DataSourcePatch' });

/** A validated PATCH body. */
export type DataSourcePatch = z.output<typeof patchDataSourceSchema>;

/** Applies a PATCH to a stored data source (absent keys keep their value, `null` clears). */
export function mergePatch(d: DataSource, p: DataSourcePatch): DataSource {
  const defined = Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined));
  return { ...d, ...defined };
}

/** A data source as the API answers it: every field but the secrets, which say whether they are set. */
export const dataSourceViewSchema = z
  .object({
    id: z.string(),
    type: z.enum(DATA_SOURCE_TYPES),
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
  .meta({ id: 'DataSource' });

/** The API's view of a data source. */
export type DataSourceView = z.output<typeof dataSourceViewSchema>;

/** The view of `d` (never its secrets). */
export function viewOf(d: DataSource, times: { createdAt: Date; updatedAt: Date }): DataSourceView {
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
    createdAt: times.createdAt.toISOString(),
    updatedAt: times.updatedAt.toISOString(),
  };
}
