/**
 * `POST /api/v1/data-sources/{id}/test`: connects to a data source and answers one line per check,
 * reusing the task prechecks (pipeline/precheck/check-connection.ts and the checks the source or
 * destination connector contributes). The connection attempt is reported as three steps: network
 * (TCP), TLS and authentication; the step that failed says host, port and cause, with the fix the
 * connector's error gives. Then the server version and, for the role asked, the connector's checks
 * that need no table selection (for a source: wal_level, replication slots, WAL senders, the
 * REPLICATION attribute, pgoutput streaming). With `primary+standby`, the standby's connection steps
 * follow (ids `standby-network`, `standby-tls`, `standby-authentication`).
 */
import { openSinkAt, openSourceAt } from '../../connectors/open-connectors.ts';
import { PgdtsError } from '../../core/errors.ts';
import type { PrecheckContext, PrecheckResult, PrecheckStatus } from '../../core/precheck.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import { parseTaskConfig, type TaskConfig } from '../../core/task-config.ts';
import { checkConnection } from '../../pipeline/precheck/check-connection.ts';
import { connectionParamsOf } from './connection-params-of.ts';
import type { DataSource, PostgresqlDataSource } from './data-source-schema.ts';
import { testKafkaDataSource } from './test-kafka-data-source.ts';

/** The role a data source is tested for. */
export const TEST_ROLES = ['source', 'destination'] as const;

/** One of {@link TEST_ROLES}. */
export type TestRole = (typeof TEST_ROLES)[number];

/** One line of a data source test: a precheck result (the `network` step of Kafka included). */
export type DataSourceCheck = PrecheckResult;

/** The answer of a data source test. */
export interface DataSourceTestReport {
  readonly id: string;
  readonly role: TestRole;
  /** `fail` when any check failed, else `warn` when any warned, else `pass`. */
  readonly status: PrecheckStatus;
  readonly checks: readonly DataSourceCheck[];
}

/**
 * Tests `d` for `role`. Never throws for a failed condition: that is a `fail` line.
 * @throws {PgdtsError} INTERNAL only for a bug (e.g. the synthetic task refused).
 */
export async function testDataSource(d: DataSource, role: TestRole): Promise<DataSourceTestReport> {
  switch (d.type) {
    case 'postgresql':
      return testPostgresqlDataSource(d, role);
    case 'kafka':
      return testKafkaDataSource(d, role);
  }
}

/** {@link testDataSource} of a PostgreSQL data source. */
async function testPostgresqlDataSource(
  d: PostgresqlDataSource,
  role: TestRole,
): Promise<DataSourceTestReport> {
  const task = probeTask(d);
  const params = connectionParamsOf(d);
  const conn = await checkConnection<Source | Sink>(role, () =>
    role === 'source' ? openSourceAt(task, params) : openSinkAt(task, params),
  );
  const checks: DataSourceCheck[] = [...connectionSteps(role, conn.result, conn.error, d)];
  try {
    if (conn.server !== undefined && conn.connector !== undefined) {
      const ctx: PrecheckContext = {
        task,
        tables: undefined,
        targets: undefined,
        source: role === 'source' ? conn.server : undefined,
        destination: role === 'destination' ? conn.server : undefined,
      };
      for (const check of conn.connector.prechecks()) {
        if (check.applies !== undefined && !check.applies(task)) continue;
        // Checks of a table selection belong to a task's precheck, not to a data source.
        if (!check.needs.every((n) => n === role)) continue;
        try {
          checks.push({ id: check.id, title: check.title, ...(await check.run(ctx)) });
        } catch (e) {
          const message = `check failed: ${e instanceof Error ? e.message : String(e)}`;
          checks.push({ id: check.id, title: check.title, status: 'fail', message });
        }
      }
    }
  } finally {
    await conn.connector?.close();
  }
  if (d.standby !== null) checks.push(...(await standbySteps(role, d, task)));
  const status = checks.some((c) => c.status === 'fail')
    ? 'fail'
    : checks.some((c) => c.status === 'warn')
      ? 'warn'
      : 'pass';
  return { id: d.id, role, status, checks };
}

/**
 * The network, TLS and authentication steps against the standby of a `primary+standby` data source
 * (ids prefixed `standby-`): a task falls back to it, so it must accept the same credentials.
 */
async function standbySteps(
  role: TestRole,
  d: PostgresqlDataSource,
  task: TaskConfig,
): Promise<DataSourceCheck[]> {
  if (d.standby === null) return [];
  const params = connectionParamsOf(d, 'standby');
  const conn = await checkConnection<Source | Sink>(role, () =>
    role === 'source' ? openSourceAt(task, params) : openSinkAt(task, params),
  );
  await conn.connector?.close();
  const standby: PostgresqlDataSource = { ...d, host: d.standby.host, port: d.standby.port };
  return connectionSteps(role, conn.result, conn.error, standby).map((c) => ({
    ...c,
    id: `standby-${c.id}`,
    title: `Standby: ${c.title}`,
  }));
}

/** The step of a connect that failed, from the cause's socket code or SQLSTATE. */
type ConnectStep = 'network' | 'tls' | 'authentication';

/**
 * Which step a connection error belongs to: socket and DNS errors (ECONNREFUSED, ENOTFOUND,
 * ETIMEDOUT...) and a timeout are the network; pgdts's TLS codes and node:tls errors (ERR_TLS_*,
 * certificate codes) are TLS; everything else the server answered (28P01 bad password, 28000 no
 * pg_hba.conf entry, 3D000 no such database, 53300 too many connections) is authentication.
 */
function failedStep(e: unknown): ConnectStep {
  const cause = e instanceof PgdtsError ? (e.cause ?? e) : e;
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code.startsWith('PGDTS_TLS_') || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_'))
      return 'tls';
    if (/CERT|SELF_SIGNED|UNABLE_TO_/.test(code)) return 'tls';
    if (/^E[A-Z_]+$/.test(code)) return 'network';
    if (/^[0-9A-Z]{5}$/.test(code)) return 'authentication';
  }
  if (e instanceof PgdtsError && e.code === 'CONFIG_INVALID') return 'authentication';
  // pg's "timeout expired" and "Connection terminated" carry no code: the server did not answer.
  return e instanceof PgdtsError && e.sqlState !== undefined ? 'authentication' : 'network';
}

/** The connection precheck, split into the network, TLS and authentication steps. */
function connectionSteps(
  role: TestRole,
  r: PrecheckResult,
  error: unknown,
  d: PostgresqlDataSource,
): DataSourceCheck[] {
  const where = `${d.host}:${d.port}`;
  const tlsPass: DataSourceCheck = {
    id: 'tls',
    title: 'TLS',
    status: 'pass',
    message:
      d.sslmode === 'disable'
        ? 'not used (sslmode disable)'
        : `sslmode ${d.sslmode}${d.caCertificate === null ? '' : ', server certificate verified against caCertificate'}${d.sslmode === 'verify-full' ? ' and host name' : ''}`,
  };
  const network = (status: PrecheckStatus, message: string, fix?: string): DataSourceCheck => ({
    id: 'network',
    title: `TCP connection to ${where}`,
    status,
    message,
    ...(fix !== undefined ? { fix } : {}),
  });
  if (r.status !== 'fail') {
    return [
      network('pass', `reached ${where}`),
      tlsPass,
      { ...r, id: 'authentication', title: `Authentication as ${d.username} to database ${d.database}` },
    ];
  }
  const failed: DataSourceCheck = { ...r, id: '', title: '' };
  switch (failedStep(error)) {
    case 'network':
      return [{ ...failed, id: 'network', title: `TCP connection to ${where}` }];
    case 'tls':
      return [network('pass', `reached ${where}`), { ...failed, id: 'tls', title: 'TLS' }];
    case 'authentication':
      return [
        network('pass', `reached ${where}`),
        tlsPass,
        {
          ...failed,
          id: 'authentication',
          title: `Authentication as ${d.username} to database ${d.database} (${role})`,
        },
      ];
  }
}

/**
 * A task that makes the connector's checks ask what a task using `d` for incremental sync needs:
 * full and incremental sync (replication slot, REPLICATION, wal_level), no DDL capture (that is a
 * task option), `d.schema` (or public) selected.
 */
function probeTask(d: PostgresqlDataSource): TaskConfig {
  const endpoint = { type: 'postgresql', host: d.host, port: d.port, user: d.username, database: d.database };
  try {
    return parseTaskConfig({
      name: `test-${d.id}`,
      source: endpoint,
      destination: endpoint,
      syncTypes: ['full', 'incremental'],
      objects: [{ schema: d.schema ?? 'public', operations: ['insert', 'update', 'delete', 'truncate'] }],
    });
  } catch (e) {
    throw new PgdtsError('INTERNAL', `the test task of data source ${d.id} was refused`, { cause: e });
  }
}
