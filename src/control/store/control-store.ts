/**
 * The control plane's state in a PostgreSQL database (schema `pgdts_control`, see migrations.ts):
 * data sources, their secrets encrypted by a {@link SecretBox}, and the API token's hash. Opening the
 * store applies the migrations (migrate-store.ts). Every failure is a PgdtsError: STORE_FAILED for the
 * database, CONFLICT for a duplicate id.
 */
import pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import { wrapPgError } from '../../pg/connection.ts';
import type { SaslMechanism } from '../../core/kafka-destination-config.ts';
import type { DataSource, KafkaDataSource, PostgresqlDataSource } from '../data-source/data-source-schema.ts';
import type { Sealed, SecretBox } from '../secrets/secret-box.ts';
import { migrateStore, type MigrationOutcome } from './migrate-store.ts';
import { STORE_SCHEMA } from './migrations.ts';
import { VerificationStore } from './verification-store.ts';
import { TaskStore } from './task-store.ts';

/** A data source as stored, with its timestamps. */
export interface StoredDataSource {
  readonly source: DataSource;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The secret fields of a PostgreSQL data source, and the column prefix of each. */
const SECRETS = [
  ['password', 'password'],
  ['clientKey', 'client_key'],
  ['clientKeyPassword', 'client_key_password'],
] as const satisfies readonly (readonly [keyof PostgresqlDataSource, string])[];

/** The columns of both types, in insert order, with the field each holds. */
const SHARED_COLUMNS = [
  ['id', 'id'],
  ['type', 'type'],
  ['region', 'region'],
  ['remarks', 'remarks'],
] as const satisfies readonly (readonly [keyof DataSource, string])[];

/** The plain columns of a PostgreSQL data source, in insert order, with the field each holds. */
const COLUMNS = [
  ['attributes', 'attributes'],
  ['heartbeat', 'heartbeat'],
  ['host', 'host'],
  ['port', 'port'],
  ['username', 'username'],
  ['database', 'database'],
  ['schema', 'schema_name'],
  ['sslmode', 'sslmode'],
  ['caCertificate', 'ca_certificate'],
  ['clientCertificate', 'client_certificate'],
] as const satisfies readonly (readonly [keyof PostgresqlDataSource, string])[];

/** The column prefixes of a Kafka data source's secrets (sasl.password, tls.key). */
const KAFKA_SECRETS = ['sasl_password', 'tls_key'] as const;

/** What column `kafka` holds: a Kafka data source's settings without its secrets. */
interface KafkaColumn {
  readonly bootstrapServers: readonly string[];
  readonly sasl: { readonly mechanism: SaslMechanism; readonly username: string } | null;
  readonly tls: {
    readonly ca: string | null;
    readonly cert: string | null;
    readonly serverName: string | null;
  } | null;
}

type Row = Record<string, unknown>;

/** The store. Create with {@link ControlStore.open}; {@link close} when done. */
export class ControlStore {
  readonly #pool: pg.Pool;
  readonly #box: SecretBox;
  /** What opening the store migrated. */
  readonly migration: MigrationOutcome;
  /** The task queries. */
  readonly tasks: TaskStore;
  /** The verification job queries ([V6]). */
  readonly verifications: VerificationStore;
  /** The store's URL (with its password: never log it; describeUrl shows it). */
  readonly url: string;

  private constructor(pool: pg.Pool, box: SecretBox, migration: MigrationOutcome, url: string) {
    this.#pool = pool;
    this.#box = box;
    this.migration = migration;
    this.tasks = new TaskStore(pool);
    this.verifications = new VerificationStore(pool);
    this.url = url;
  }

  /**
   * Connects to the store database and applies pending migrations (one process at a time: see
   * migrate-store.ts).
   * @param url a `postgresql://` URL (its password never appears in errors).
   * @throws {PgdtsError} STORE_FAILED naming the server (without password) and the cause.
   */
  static async open(url: string, box: SecretBox): Promise<ControlStore> {
    const pool = new pg.Pool({ connectionString: url, max: 5, application_name: 'pgdts-control' });
    // An idle client whose server went away emits 'error' on the pool; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        const migration = await migrateStore(client);
        return new ControlStore(pool, box, migration, url);
      } finally {
        client.release();
      }
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw storeError(`cannot open the store ${describeUrl(url)}`, e);
    }
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#pool.end();
  }

  /** Every data source, by id. */
  async listDataSources(): Promise<StoredDataSource[]> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.data_source ORDER BY id`,
      [],
      'list data sources',
    );
    return r.rows.map((row) => this.#fromRow(row));
  }

  /** The data source `id`, or undefined. */
  async getDataSource(id: string): Promise<StoredDataSource | undefined> {
    const r = await this.#query(
      `SELECT * FROM ${STORE_SCHEMA}.data_source WHERE id = $1`,
      [id],
      `read data source ${id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : this.#fromRow(row);
  }

  /**
   * Stores a new data source, its secrets encrypted.
   * @throws {PgdtsError} CONFLICT when the id exists.
   */
  async insertDataSource(d: DataSource): Promise<StoredDataSource> {
    const { names, values } = this.#columnsOf(d);
    const params = values.map((_, i) => `$${i + 1}`).join(', ');
    try {
      const r = await this.#pool.query<Row>(
        `INSERT INTO ${STORE_SCHEMA}.data_source (${names.join(', ')}) VALUES (${params}) RETURNING *`,
        values,
      );
      return this.#fromRow(r.rows[0] ?? {});
    } catch (e) {
      if ((e as { code?: unknown }).code === '23505') {
        throw new PgdtsError('CONFLICT', `data source ${d.id} exists already`, {
          cause: e,
          hint: `choose another id, or change it with PATCH /api/v1/data-sources/${d.id}`,
        });
      }
      throw storeError(`cannot store data source ${d.id}`, e);
    }
  }

  /** Replaces the stored fields of `d.id`; undefined when it does not exist. */
  async updateDataSource(d: DataSource): Promise<StoredDataSource | undefined> {
    const { names, values } = this.#columnsOf(d);
    const sets = names.map((n, i) => `${n} = $${i + 1}`).filter((_, i) => names[i] !== 'id');
    const r = await this.#query(
      `UPDATE ${STORE_SCHEMA}.data_source SET ${sets.join(', ')}, updated_at = now()
        WHERE id = $1 RETURNING *`,
      values,
      `update data source ${d.id}`,
    );
    const row = r.rows[0];
    return row === undefined ? undefined : this.#fromRow(row);
  }

  /**
   * Deletes `id`; false when it did not exist.
   * @throws {PgdtsError} CONFLICT when a task names it.
   */
  async deleteDataSource(id: string): Promise<boolean> {
    try {
      const r = await this.#pool.query(`DELETE FROM ${STORE_SCHEMA}.data_source WHERE id = $1`, [id]);
      return (r.rowCount ?? 0) > 0;
    } catch (e) {
      if ((e as { code?: unknown }).code === '23503') {
        const tasks = await this.tasks.usingDataSource(id);
        throw new PgdtsError('CONFLICT', `data source ${id} is used by task ${tasks.join(', ')}`, {
          cause: e,
          hint: 'release and delete those tasks first',
        });
      }
      throw storeError(`cannot delete data source ${id}`, e);
    }
  }

  /** The SHA-256 of the API token, or undefined before one was set. */
  async apiTokenHash(): Promise<Buffer | undefined> {
    const r = await this.#query(
      `SELECT token_sha256 FROM ${STORE_SCHEMA}.api_token`,
      [],
      'read the API token',
    );
    const v = r.rows[0]?.token_sha256;
    return Buffer.isBuffer(v) ? v : undefined;
  }

  /**
   * Records the API token's hash unless one is recorded (two processes starting at once: the first
   * wins). @returns whether this call recorded it.
   */
  async setApiTokenHashOnce(hash: Buffer): Promise<boolean> {
    const r = await this.#query(
      `INSERT INTO ${STORE_SCHEMA}.api_token (token_sha256) VALUES ($1) ON CONFLICT DO NOTHING`,
      [hash],
      'store the API token',
    );
    return (r.rowCount ?? 0) > 0;
  }

  async #query(text: string, values: unknown[], what: string): Promise<pg.QueryResult<Row>> {
    try {
      return await this.#pool.query<Row>(text, values);
    } catch (e) {
      throw storeError(`cannot ${what}`, e);
    }
  }

  /**
   * Column names and values of `d`: the shared columns, then by type: PostgreSQL's plain columns, the
   * standby and each secret sealed; Kafka's settings as JSON and its secrets sealed. The other type's
   * columns are NULL, so that an UPDATE clears nothing it should keep.
   */
  #columnsOf(d: DataSource): { names: string[]; values: unknown[] } {
    const names: string[] = SHARED_COLUMNS.map(([, c]) => c);
    const values: unknown[] = SHARED_COLUMNS.map(([f]) => d[f]);
    const sealed = (col: string, plain: string | null) => {
      const x = plain === null ? null : this.#box.seal(plain);
      names.push(`${col}_ciphertext`, `${col}_iv`, `${col}_tag`);
      values.push(x?.ciphertext ?? null, x?.iv ?? null, x?.tag ?? null);
    };
    switch (d.type) {
      case 'postgresql': {
        names.push(...COLUMNS.map(([, c]) => c), 'standby_host', 'standby_port', 'kafka');
        values.push(...COLUMNS.map(([f]) => d[f]), d.standby?.host ?? null, d.standby?.port ?? null, null);
        for (const [field, col] of SECRETS) sealed(col, d[field]);
        for (const col of KAFKA_SECRETS) sealed(col, null);
        break;
      }
      case 'kafka': {
        const kafka: KafkaColumn = {
          bootstrapServers: d.bootstrapServers,
          sasl: d.sasl === null ? null : { mechanism: d.sasl.mechanism, username: d.sasl.username },
          tls: d.tls === null ? null : { ca: d.tls.ca, cert: d.tls.cert, serverName: d.tls.serverName },
        };
        names.push(...COLUMNS.map(([, c]) => c), 'standby_host', 'standby_port', 'kafka');
        values.push(...COLUMNS.map(([f]) => (f === 'heartbeat' ? false : null)), null, null, kafka);
        for (const [, col] of SECRETS) sealed(col, null);
        sealed('sasl_password', d.sasl?.password ?? null);
        sealed('tls_key', d.tls?.key ?? null);
        break;
      }
    }
    return { names, values };
  }

  #fromRow(row: Row): StoredDataSource {
    const open = (col: string, what: string) => {
      const s = sealedOf(row, col);
      return s === undefined ? null : this.#box.open(s, `${what} of data source ${String(row.id)}`);
    };
    const shared = {
      id: String(row.id),
      region: (row.region as string | null) ?? null,
      remarks: (row.remarks as string | null) ?? null,
    };
    const times = { createdAt: row.created_at as Date, updatedAt: row.updated_at as Date };
    if (row.type === 'kafka') {
      const k = row.kafka as KafkaColumn;
      const password = open('sasl_password', 'sasl.password');
      const source: KafkaDataSource = {
        ...shared,
        type: 'kafka',
        bootstrapServers: k.bootstrapServers,
        sasl: k.sasl === null ? null : { ...k.sasl, password: password ?? '' },
        tls: k.tls === null ? null : { ...k.tls, key: open('tls_key', 'tls.key') },
      };
      return { source, ...times };
    }
    const plain = Object.fromEntries(COLUMNS.map(([f, c]) => [f, row[c] ?? null]));
    const secrets = Object.fromEntries(SECRETS.map(([f, c]) => [f, open(c, f)]));
    const standby =
      typeof row.standby_host === 'string'
        ? { host: row.standby_host, port: Number(row.standby_port) }
        : null;
    return {
      source: {
        ...shared,
        type: 'postgresql',
        ...plain,
        ...secrets,
        standby,
      } as unknown as PostgresqlDataSource,
      ...times,
    };
  }
}

function sealedOf(row: Row, col: string): Sealed | undefined {
  const ciphertext = row[`${col}_ciphertext`];
  const iv = row[`${col}_iv`];
  const tag = row[`${col}_tag`];
  if (!Buffer.isBuffer(ciphertext) || !Buffer.isBuffer(iv) || !Buffer.isBuffer(tag)) return undefined;
  return { ciphertext, iv, tag };
}

/** `user@host:port/database` of a URL, never its password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${decodeURIComponent(u.username) || '(default user)'}@${u.host || 'localhost'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

function storeError(what: string, e: unknown): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const w = wrapPgError('STORE_FAILED', what, e);
  return w;
}
