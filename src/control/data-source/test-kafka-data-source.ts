/**
 * `POST /api/v1/data-sources/{id}/test` of a Kafka data source: one line per check, like the
 * PostgreSQL test (test-data-source.ts). Checks, in order:
 * - `role`: only as a destination (pgdts reads changes from PostgreSQL only);
 * - `network`: a TCP connection to each bootstrap server (5 s each); fails when none answers;
 * - `tls`: with `tls`, a TLS handshake with the first server that answered (its CA, client
 *   certificate and server name);
 * - `authentication`: with `sasl`, the SASL login (part of the metadata request);
 * - `metadata`: a Metadata request (Kafka protocol, API key 3) answered by the cluster, with its id
 *   and brokers; a warning when an advertised broker cannot be reached (its `advertised.listeners`
 *   name an address this machine cannot reach: producing would fail there).
 * Never throws for a failed condition: that is a `fail` line.
 */
import { Admin } from '@platformatic/kafka';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { PrecheckStatus } from '../../core/precheck.ts';
import { kafkaBaseOptions, kafkaError } from '../../sink/kafka/kafka-client.ts';
import { kafkaDestinationSchema, splitHostPort } from '../../core/kafka-destination-config.ts';
import type { KafkaDataSource } from './data-source-schema.ts';
import { kafkaConnectionOfSource } from './kafka-connection-of-source.ts';
import type { DataSourceCheck, DataSourceTestReport, TestRole } from './test-data-source.ts';

/** How long one connection attempt of the test may take, ms. */
const CONNECT_TIMEOUT_MS = 5_000;

/** Tests the Kafka data source `d` for `role` (see the file comment). */
export async function testKafkaDataSource(d: KafkaDataSource, role: TestRole): Promise<DataSourceTestReport> {
  const checks: DataSourceCheck[] = [];
  if (role === 'source') {
    checks.push({
      id: 'role',
      title: 'Role',
      status: 'fail',
      message: `data source ${d.id} is kafka: a task reads changes from a postgresql data source only`,
      fix: 'use it as a task destination (test it with role=destination)',
    });
  }
  const reached: string[] = [];
  const unreachable: string[] = [];
  for (const server of d.bootstrapServers) {
    const r = await tcpProbe(server);
    if (r === undefined) reached.push(server);
    else unreachable.push(`${server}: ${r}`);
  }
  const servers = d.bootstrapServers.join(', ');
  if (reached.length === 0) {
    checks.push({
      id: 'network',
      title: `TCP connection to ${servers}`,
      status: 'fail',
      message: `no bootstrap server answered: ${unreachable.join('; ')}`,
      fix: 'check that a broker listens on that host:port (its listeners), and firewalls between here and there',
    });
    return report(d, role, checks);
  }
  checks.push({
    id: 'network',
    title: `TCP connection to ${servers}`,
    status: unreachable.length === 0 ? 'pass' : 'warn',
    message:
      unreachable.length === 0
        ? `reached ${reached.join(', ')}`
        : `reached ${reached.join(', ')}; not ${unreachable.join('; ')}`,
    ...(unreachable.length > 0
      ? { fix: 'check the brokers that did not answer, or remove them from bootstrapServers' }
      : {}),
  });
  const first = reached[0] ?? '';
  if (d.tls === null) {
    checks.push({ id: 'tls', title: 'TLS', status: 'pass', message: 'not used (no tls: plaintext)' });
  } else {
    const r = await tlsProbe(first, d);
    checks.push(
      r === undefined
        ? {
            id: 'tls',
            title: 'TLS',
            status: 'pass',
            message: `handshake with ${first}, broker certificate verified against ${d.tls.ca === null ? 'the system CAs' : 'tls.ca'}`,
          }
        : {
            id: 'tls',
            title: 'TLS',
            status: 'fail',
            message: `TLS handshake with ${first} failed: ${r}`,
            fix: 'check tls.ca (the CA that signed the broker certificates), tls.serverName, and that this listener speaks TLS',
          },
    );
    if (r !== undefined) return report(d, role, checks);
  }
  checks.push(...(await metadataChecks(d)));
  return report(d, role, checks);
}

function report(d: KafkaDataSource, role: TestRole, checks: DataSourceCheck[]): DataSourceTestReport {
  const status: PrecheckStatus = checks.some((c) => c.status === 'fail')
    ? 'fail'
    : checks.some((c) => c.status === 'warn')
      ? 'warn'
      : 'pass';
  return { id: d.id, role, status, checks };
}

/** The authentication (with SASL) and metadata checks: one Metadata request through the client. */
async function metadataChecks(d: KafkaDataSource): Promise<DataSourceCheck[]> {
  // The client options come from the destination's own code path, so the test connects as a task would.
  const dest = kafkaDestinationSchema.parse({
    type: 'kafka',
    bootstrapServers: d.bootstrapServers,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
  });
  const base = kafkaBaseOptions(dest, `test-${d.id}`, kafkaConnectionOfSource(d));
  const admin = new Admin({ ...base, retries: 0, requestTimeout: 10_000 });
  const out: DataSourceCheck[] = [];
  const authTitle =
    d.sasl === null ? 'Authentication' : `SASL ${d.sasl.mechanism} authentication as ${d.sasl.username}`;
  try {
    const m = await admin.metadata({ topics: [] });
    out.push({
      id: 'authentication',
      title: authTitle,
      status: 'pass',
      message: d.sasl === null ? 'not used (no sasl)' : 'logged in',
    });
    const brokers = [...m.brokers.values()].map((b) => `${b.host}:${b.port}`);
    const down: string[] = [];
    for (const b of brokers) {
      const r = await tcpProbe(b);
      if (r !== undefined) down.push(`${b}: ${r}`);
    }
    out.push({
      id: 'metadata',
      title: 'Cluster metadata',
      status: down.length === 0 ? 'pass' : 'warn',
      message: `cluster ${m.id}, ${brokers.length} broker(s): ${brokers.join(', ')}${down.length > 0 ? `; advertised but not reachable from here: ${down.join('; ')}` : ''}`,
      ...(down.length > 0
        ? { fix: "set the brokers' advertised.listeners to addresses this machine can reach" }
        : {}),
    });
  } catch (e) {
    const err = kafkaError('CONNECTION_FAILED', `metadata from ${d.bootstrapServers.join(',')}`, e);
    const auth = /SASL|authenticat/i.test(err.message);
    if (auth && d.sasl !== null) {
      out.push({
        id: 'authentication',
        title: authTitle,
        status: 'fail',
        message: err.message,
        fix: `check sasl.username and sasl.password, and that the broker's listener enables ${d.sasl.mechanism.toUpperCase()}`,
      });
    } else {
      out.push({
        id: 'metadata',
        title: 'Cluster metadata',
        status: 'fail',
        message: err.message,
        fix: 'check that bootstrapServers are Kafka brokers, and whether the listener needs tls or sasl',
      });
    }
  } finally {
    await admin.close().catch(() => undefined);
  }
  return out;
}

/** undefined when a TCP connection to `server` opens within the timeout, else the reason. */
function tcpProbe(server: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tcpConnect(splitHostPort(server));
    s.setTimeout(CONNECT_TIMEOUT_MS, () => {
      s.destroy();
      resolve(`no answer within ${CONNECT_TIMEOUT_MS} ms`);
    });
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** undefined when a TLS handshake with `server` succeeds with `d`'s TLS settings, else the reason. */
function tlsProbe(server: string, d: KafkaDataSource): Promise<string | undefined> {
  const { host, port } = splitHostPort(server);
  const t = d.tls;
  return new Promise((resolve) => {
    const s = tlsConnect({
      host,
      port,
      servername: t?.serverName ?? host,
      ...(t?.ca != null ? { ca: t.ca } : {}),
      ...(t?.cert != null ? { cert: t.cert } : {}),
      ...(t?.key != null ? { key: t.key } : {}),
    });
    s.setTimeout(CONNECT_TIMEOUT_MS, () => {
      s.destroy();
      resolve(`no handshake within ${CONNECT_TIMEOUT_MS} ms`);
    });
    s.once('secureConnect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(`${e.code ?? ''} ${e.message}`.trim()));
  });
}
