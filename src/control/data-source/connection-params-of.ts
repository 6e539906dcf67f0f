/**
 * Connection parameters of a stored data source. Unlike a task file endpoint (resolved by libpq's
 * rules in pg/connection-settings.ts), a data source is complete by itself: no environment variable,
 * password file or ~/.postgresql certificate is consulted, and certificates are PEM text, not files.
 * The TLS options follow libpq's sslmode meanings (PostgreSQL docs, "SSL Support", table "SSL Mode
 * Descriptions") as connection-settings.ts does: a CA certificate makes the server certificate
 * verified; only verify-full checks the host name.
 */
import type { ConnectionOptions } from 'node:tls';
import type { ConnectionParams } from '../../pg/connection.ts';
import type { PostgresqlDataSource } from './data-source-schema.ts';

/** pgdts's default connect limit for a data source test, ms. */
const CONNECT_TIMEOUT_MS = 10_000;

/** The parameters to connect to `d` (its primary, or the standby when `server` says so). */
export function connectionParamsOf(
  d: PostgresqlDataSource,
  server: 'main' | 'standby' = 'main',
): ConnectionParams {
  const at = server === 'standby' && d.standby !== null ? d.standby : { host: d.host, port: d.port };
  return {
    host: at.host,
    port: at.port,
    user: d.username,
    database: d.database,
    password: d.password ?? undefined,
    sslMode: d.sslmode,
    ssl: d.sslmode === 'disable' ? false : tlsOptionsOf(d),
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    warnings: [],
  };
}

function tlsOptionsOf(d: PostgresqlDataSource): ConnectionOptions {
  const o: ConnectionOptions = {};
  if (d.caCertificate === null) {
    o.rejectUnauthorized = false;
  } else {
    o.rejectUnauthorized = true;
    o.ca = d.caCertificate;
  }
  if (d.sslmode !== 'verify-full') o.checkServerIdentity = () => undefined;
  if (d.clientCertificate !== null && d.clientKey !== null) {
    o.cert = d.clientCertificate;
    // Not enumerable, so that logging or spreading the options never copies the key (pg reads `key`
    // explicitly, pg/lib/connection.js). The passphrase must stay enumerable: pg copies the options
    // with Object.assign, which skips the others.
    Object.defineProperty(o, 'key', {
      value: d.clientKey,
      enumerable: false,
      writable: true,
      configurable: true,
    });
    if (d.clientKeyPassword !== null) o.passphrase = d.clientKeyPassword;
  }
  return o;
}
