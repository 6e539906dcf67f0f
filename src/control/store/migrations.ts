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

/**
 * 0002: tasks (definition, lifecycle state, the status their worker observed), precheck items, per-table
 * progress, log lines, workers and alerts. See src/control/task/task-states.md.
 */
const M0002_TASKS = `
CREATE TABLE ${STORE_SCHEMA}.task (
  id text PRIMARY KEY CHECK (id ~ '^t[0-9a-z]{12}$'),
  -- The second key of the task's advisory lock (task-states.md S9).
  lock_key integer GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
  source_id text NOT NULL REFERENCES ${STORE_SCHEMA}.data_source (id),
  destination_id text NOT NULL REFERENCES ${STORE_SCHEMA}.data_source (id),
  -- The definition as given (no secret: endpoints name data sources).
  definition jsonb NOT NULL,
  revision integer NOT NULL DEFAULT 1,
  state text NOT NULL CHECK (state IN ('created', 'prechecking', 'precheck-failed', 'precheck-passed',
    'running', 'paused', 'completed', 'failed', 'released')),
  state_changed_at timestamptz NOT NULL DEFAULT now(),
  precheck_revision integer,
  precheck_started_at timestamptz,
  precheck_finished_at timestamptz,
  ignored_items text[] NOT NULL DEFAULT '{}',
  -- First start: from then on the task may own a slot and a publication on the source.
  started_at timestamptz,
  worker_id text,
  run_started_at timestamptz,
  status jsonb,
  status_at timestamptz,
  last_error jsonb,
  errors_total bigint NOT NULL DEFAULT 0,
  retries_total bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON ${STORE_SCHEMA}.task (state);

CREATE TABLE ${STORE_SCHEMA}.precheck_item (
  task_id text NOT NULL REFERENCES ${STORE_SCHEMA}.task (id) ON DELETE CASCADE,
  item text NOT NULL,
  position integer NOT NULL,
  title text NOT NULL,
  status text NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
  message text NOT NULL,
  fix text,
  ignorable boolean NOT NULL,
  PRIMARY KEY (task_id, item)
);

CREATE TABLE ${STORE_SCHEMA}.task_table (
  task_id text NOT NULL REFERENCES ${STORE_SCHEMA}.task (id) ON DELETE CASCADE,
  table_name text NOT NULL,
  rows bigint NOT NULL,
  bytes bigint NOT NULL,
  estimated_rows bigint NOT NULL,
  ranges_done integer NOT NULL,
  ranges_total integer NOT NULL,
  done boolean NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, table_name)
);

CREATE TABLE ${STORE_SCHEMA}.task_log (
  task_id text NOT NULL REFERENCES ${STORE_SCHEMA}.task (id) ON DELETE CASCADE,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  time timestamptz NOT NULL,
  level text NOT NULL,
  message text NOT NULL,
  fields jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (task_id, seq)
);

CREATE TABLE ${STORE_SCHEMA}.worker (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);

CREATE TABLE ${STORE_SCHEMA}.alert (
  task_id text NOT NULL REFERENCES ${STORE_SCHEMA}.task (id) ON DELETE CASCADE,
  rule text NOT NULL,
  state text NOT NULL CHECK (state IN ('firing', 'resolved')),
  since timestamptz NOT NULL,
  message text NOT NULL,
  delivered_at timestamptz,
  delivery_error text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (task_id, rule)
);
`;

/**
 * 0003: Kafka data sources. PostgreSQL's connection columns become nullable (a check keeps them
 * required for type postgresql); the Kafka settings without secrets go into `kafka` (JSON:
 * bootstrapServers, sasl {mechanism, username}, tls {ca, cert, serverName}), the SASL password and
 * the TLS client key into sealed columns like the PostgreSQL secrets.
 */
const M0003_KAFKA_DATA_SOURCES = `
ALTER TABLE ${STORE_SCHEMA}.data_source DROP CONSTRAINT data_source_type_check;
ALTER TABLE ${STORE_SCHEMA}.data_source
  ADD CONSTRAINT data_source_type_check CHECK (type IN ('postgresql', 'kafka')),
  ALTER COLUMN attributes DROP NOT NULL,
  ALTER COLUMN host DROP NOT NULL,
  ALTER COLUMN port DROP NOT NULL,
  ALTER COLUMN username DROP NOT NULL,
  ALTER COLUMN database DROP NOT NULL,
  ALTER COLUMN sslmode DROP NOT NULL,
  ADD CONSTRAINT data_source_postgresql_fields CHECK (type <> 'postgresql' OR (
    attributes IS NOT NULL AND host IS NOT NULL AND port IS NOT NULL AND username IS NOT NULL
    AND database IS NOT NULL AND sslmode IS NOT NULL)),
  ADD COLUMN kafka jsonb,
  ADD CONSTRAINT data_source_kafka_fields CHECK ((type = 'kafka') = (kafka IS NOT NULL)),
  ADD COLUMN sasl_password_ciphertext bytea, ADD COLUMN sasl_password_iv bytea,
  ADD COLUMN sasl_password_tag bytea,
  ADD COLUMN tls_key_ciphertext bytea, ADD COLUMN tls_key_iv bytea, ADD COLUMN tls_key_tag bytea;
`;

/**
 * 0004: the alert history. `alert` holds one row per task and rule (its current state); each state
 * an alert entered (firing or resolved, at `since`) is also kept here for the task page's history
 * (`GET /api/v1/tasks/{id}/alerts`), the newest {@link ALERT_EVENTS_KEPT} per task and rule. The
 * current rows are copied in as the first events.
 */
const M0004_ALERT_EVENTS = `
CREATE TABLE ${STORE_SCHEMA}.alert_event (
  task_id text NOT NULL REFERENCES ${STORE_SCHEMA}.task (id) ON DELETE CASCADE,
  rule text NOT NULL,
  state text NOT NULL CHECK (state IN ('firing', 'resolved')),
  since timestamptz NOT NULL,
  message text NOT NULL,
  delivered_at timestamptz,
  delivery_error text,
  PRIMARY KEY (task_id, rule, since, state)
);
INSERT INTO ${STORE_SCHEMA}.alert_event (task_id, rule, state, since, message, delivered_at, delivery_error)
  SELECT task_id, rule, state, since, message, delivered_at, delivery_error FROM ${STORE_SCHEMA}.alert;
`;

/**
 * 0005: verification jobs of a task ([V6]): one row per `POST /api/v1/tasks/{id}/verify`, its
 * per-table results (the verify report's tables, without passwords: they hold none) once finished.
 */
const M0005_VERIFICATIONS = `
CREATE TABLE ${STORE_SCHEMA}.verification (
  id text PRIMARY KEY,
  task_id text NOT NULL REFERENCES ${STORE_SCHEMA}.task (id) ON DELETE CASCADE,
  mode text NOT NULL CHECK (mode IN ('count', 'hash', 'rows')),
  tables jsonb,
  status text NOT NULL CHECK (status IN ('queued', 'running', 'passed', 'failed', 'error')),
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  error text,
  results jsonb
);
CREATE INDEX verification_task_created ON ${STORE_SCHEMA}.verification (task_id, created_at DESC);
-- One job of a task queued or running at a time, also between two serve processes.
CREATE UNIQUE INDEX verification_one_open ON ${STORE_SCHEMA}.verification (task_id)
  WHERE status IN ('queued', 'running');
`;

/**
 * 0006: cancelling and resuming verification jobs ([V12]). A job may end `cancelled`; a cancel of a
 * running job is asked for in `cancel_requested_at` (its serve process sees it at its next
 * heartbeat); `runner` names the serve process running it and `heartbeat_at` is renewed by it about
 * every second, so a job whose runner stopped is taken over once its heartbeat is older than the lease
 * timeout; `progress` holds the finished tables and the partly compared table (JSON of
 * src/pipeline/verify/verify-progress.ts) a taken-over job resumes from; `chunk_rows` the rows per
 * compared key chunk asked for (null: the verify default).
 */
const M0006_VERIFICATION_RESUME = `
ALTER TABLE ${STORE_SCHEMA}.verification DROP CONSTRAINT verification_status_check;
ALTER TABLE ${STORE_SCHEMA}.verification
  ADD CONSTRAINT verification_status_check
    CHECK (status IN ('queued', 'running', 'passed', 'failed', 'error', 'cancelled')),
  ADD COLUMN cancel_requested_at timestamptz,
  ADD COLUMN runner text,
  ADD COLUMN heartbeat_at timestamptz,
  ADD COLUMN progress jsonb,
  ADD COLUMN chunk_rows integer CHECK (chunk_rows > 0);
`;

/**
 * 0007: what made a verification job ([V7], [V9]): a request (`POST .../verify`), the task's schedule,
 * or continuous sampling (a check of sampled rows that found differences, stored already finished).
 */
const M0007_VERIFICATION_TRIGGER = `
ALTER TABLE ${STORE_SCHEMA}.verification
  ADD COLUMN trigger text NOT NULL DEFAULT 'request' CHECK (trigger IN ('request', 'schedule', 'sample'));
`;

/** Alert history rows kept per task and rule (older ones are deleted as new ones come). */
export const ALERT_EVENTS_KEPT = 100;

/** Every migration, in order; versions are 1, 2, 3... without gaps. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'data_sources', sql: M0001_DATA_SOURCES },
  { version: 2, name: 'tasks', sql: M0002_TASKS },
  { version: 3, name: 'kafka_data_sources', sql: M0003_KAFKA_DATA_SOURCES },
  { version: 4, name: 'alert_events', sql: M0004_ALERT_EVENTS },
  { version: 5, name: 'verifications', sql: M0005_VERIFICATIONS },
  { version: 6, name: 'verification_resume', sql: M0006_VERIFICATION_RESUME },
  { version: 7, name: 'verification_trigger', sql: M0007_VERIFICATION_TRIGGER },
];
