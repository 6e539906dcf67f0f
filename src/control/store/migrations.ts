/**
 * The control plane's schema, as numbered migrations applied in order by {@link migrateStore}. A
 * migration is never edited once released: a change is a new migration with the next number. Every
 * object lives in schema {@link STORE_SCHEMA}.
 */

/** The schema holding every table of the control plane. */
export const STORE_SCHEMA = 'pgdts_control';

/** One migration: its number (1, 2, ...), a name for the bookkeeping row, and its SQL. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** 0001: data sources (secrets as AES-256-GCM ciphertext, IV and tag) and the API token's hash. */
const M0001_DATA_SOURCES = `
CREATE TABLE ${STORE_SCHEMA}.data_source (
  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9]{1,32}$'),
  type text NOT NULL CHECK (type IN ('postgresql')),
  region text,
  attributes text NOT NULL CHECK (attributes IN ('primary', 'primary+standby', 'standby')),
  standby_host text,
  standby_port integer,
  heartbeat boolean NOT NULL DEFAULT false,
  host text NOT NULL,
  port integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  username text NOT NULL,
  database text NOT NULL,
  schema_name text,
  sslmode text NOT NULL,
  ca_certificate text,
  client_certificate text,
  remarks text,
  -- Secrets: ciphertext, 12-byte IV and 16-byte GCM tag; all three NULL when not set.
  password_ciphertext bytea, password_iv bytea, password_tag bytea,
  client_key_ciphertext bytea, client_key_iv bytea, client_key_tag bytea,
  client_key_password_ciphertext bytea, client_key_password_iv bytea, client_key_password_tag bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((attributes = 'primary+standby') = (standby_host IS NOT NULL AND standby_port IS NOT NULL))
);

-- One row: the SHA-256 of the API bearer token (the token itself is never stored).
CREATE TABLE ${STORE_SCHEMA}.api_token (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  token_sha256 bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
`;

/** Every migration, in order; versions are 1, 2, 3... without gaps. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'data_sources', sql: M0001_DATA_SOURCES },
];
