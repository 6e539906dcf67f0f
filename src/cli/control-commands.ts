/**
 * The control plane commands: `pgdts serve` (the API and its store) and `pgdts source
 * add|list|show|test|remove`, which talk to a serve process over its API (`--server`, token from
 * PGDTS_API_TOKEN). Human tables by default, `--json` for scripts. Exit codes as elsewhere: 0 done, 1
 * a test found a failing check, 2 an error.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../core/errors.ts';
import { formatPrecheckReport } from '../pipeline/precheck/format-precheck-report.ts';
import { DEFAULT_SERVER } from '../control/client/api-client.ts';
import type { AnyDataSourceView } from '../control/data-source/data-source-schema.ts';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_LEASE_TIMEOUT_MS,
  DEFAULT_LISTEN,
  DEFAULT_POLL_MS,
  DEFAULT_VERIFY_TICK_MS,
} from '../control/control-defaults.ts';
import { addTaskCommands } from './task-commands.ts';
import { client, printJson, table, type ClientOptions } from './api-command-helpers.ts';

/** The lines of `pgdts source show`. */
function describeSource(d: AnyDataSourceView): string {
  if (d.type === 'kafka') {
    const kafkaRows: [string, string][] = [
      ['id', d.id],
      ['type', d.type],
      ['region', d.region ?? '-'],
      ['bootstrapServers', d.bootstrapServers.join(', ')],
      ['sasl', d.sasl === null ? '-' : `${d.sasl.mechanism} as ${d.sasl.username}`],
      ['saslPassword', d.sasl?.passwordSet === true ? 'set' : 'not set'],
      ['tls', d.tls === null ? 'not used' : d.tls.ca === null ? 'system CAs' : 'ca set'],
      ['tlsClientCert', d.tls?.cert != null ? 'set' : 'not set'],
      ['tlsClientKey', d.tls?.keySet === true ? 'set' : 'not set'],
      ['remarks', d.remarks ?? '-'],
      ['createdAt', d.createdAt],
      ['updatedAt', d.updatedAt],
    ];
    return kafkaRows.map(([k, v]) => `${`${k}:`.padEnd(19)}${v}`).join('\n');
  }
  const rows: [string, string][] = [
    ['id', d.id],
    ['type', d.type],
    ['region', d.region ?? '-'],
    ['attributes', d.attributes],
    ['standby', d.standby === null ? '-' : `${d.standby.host}:${d.standby.port}`],
    ['heartbeat', String(d.heartbeat)],
    ['host', d.host],
    ['port', String(d.port)],
    ['username', d.username],
    ['password', d.passwordSet ? 'set' : 'not set'],
    ['database', d.database],
    ['schema', d.schema ?? '-'],
    ['sslmode', d.sslmode],
    ['caCertificate', d.caCertificate === null ? 'not set' : 'set'],
    ['clientCertificate', d.clientCertificate === null ? 'not set' : 'set'],
    ['clientKey', d.clientKeySet ? 'set' : 'not set'],
    ['clientKeyPassword', d.clientKeyPasswordSet ? 'set' : 'not set'],
    ['remarks', d.remarks ?? '-'],
    ['createdAt', d.createdAt],
    ['updatedAt', d.updatedAt],
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(19)}${v}`).join('\n');
}

/** The value of the environment variable an option names (a secret never goes on a command line). */
function fromEnv(option: string, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const v = process.env[name];
  if (v === undefined || v === '') throw new ConfigError(option, `environment variable ${name} is not set`);
  return v;
}

function fromFile(option: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(option, `cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * An integer number of ms option from `min` to `max`.
 * @throws {ConfigError} naming the option.
 */
function intOption(option: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(option, `must be an integer number of ms from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

/** `--poll-ms` and `--lease-timeout`, checked. @throws {ConfigError} naming the option. */
function workerTimes(o: { pollMs: string; leaseTimeout: string }): {
  pollMs: number;
  leaseTimeoutMs: number;
} {
  const ms = intOption;
  return {
    pollMs: ms('--poll-ms', o.pollMs, 100, 60_000),
    leaseTimeoutMs: ms('--lease-timeout', o.leaseTimeout, 3_000, 3_600_000),
  };
}

/** SIGINT/SIGTERM stop cleanly (once), then exit 0. */
function stopOnSignals(out: (line: string) => void, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (sig: string) => {
    if (stopping) return;
    stopping = true;
    out(`${sig} received, stopping`);
    void stop().then(() => {
      out('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}

/** Adds `serve`, `worker`, `source` and `task` to the program. */
export function addControlCommands(program: Command, version: string): void {
  program
    .command('serve')
    .description(
      'run the control plane: the REST API on --listen, its state in --store or an embedded PostgreSQL',
    )
    .option('--listen <host:port>', 'address of the API', DEFAULT_LISTEN)
    .option(
      '--store <url>',
      'postgresql:// URL of the store database (default: embedded PostgreSQL in --data-dir)',
    )
    .option('--data-dir <dir>', 'embedded store and secret key file', DEFAULT_DATA_DIR)
    .option('--no-worker', 'serve the API only: tasks run on `pgdts worker` processes')
    .option(
      '--poll-ms <ms>',
      'how often the worker (and the verification jobs) look at the store, ms',
      String(DEFAULT_POLL_MS),
    )
    .option(
      '--lease-timeout <ms>',
      "within how long a lost worker's tasks, and a stopped serve's running verification jobs, are taken over, ms",
      String(DEFAULT_LEASE_TIMEOUT_MS),
    )
    .option(
      '--verify-tick-ms <ms>',
      'how often due verification schedules (verify.schedule) are looked for, ms',
      String(DEFAULT_VERIFY_TICK_MS),
    )
    .action(
      async (o: {
        listen: string;
        store?: string;
        dataDir: string;
        worker: boolean;
        pollMs: string;
        leaseTimeout: string;
        verifyTickMs: string;
      }) => {
        const out = (line: string) => process.stderr.write(`pgdts serve: ${line}\n`);
        // Loaded here, not at the top: the API server and the worker are heavy to import (see
        // control-defaults.ts) and only these two commands need them.
        const { startServe } = await import('../control/serve.ts');
        const running = await startServe({
          listen: o.listen,
          store: o.store,
          dataDir: o.dataDir,
          env: process.env,
          version,
          out,
          worker: o.worker,
          ...workerTimes(o),
          verifyTickMs: intOption('--verify-tick-ms', o.verifyTickMs, 100, 3_600_000),
        });
        stopOnSignals(out, () => running.stop());
      },
    );

  program
    .command('worker')
    .description('run tasks of a shared store (the one of `pgdts serve --store`), without the API')
    .requiredOption('--store <url>', 'postgresql:// URL of the store database')
    .option(
      '--data-dir <dir>',
      'where the secret key file is, unless PGDTS_SECRET_KEY is set',
      DEFAULT_DATA_DIR,
    )
    .option('--poll-ms <ms>', 'how often the worker looks at the store, ms', String(DEFAULT_POLL_MS))
    .option(
      '--lease-timeout <ms>',
      "within how long a lost worker's tasks are taken over, ms",
      String(DEFAULT_LEASE_TIMEOUT_MS),
    )
    .action(async (o: { store: string; dataDir: string; pollMs: string; leaseTimeout: string }) => {
      const out = (line: string) => process.stderr.write(`pgdts worker: ${line}\n`);
      const { startWorkerProcess } = await import('../control/serve.ts');
      const running = await startWorkerProcess({
        store: o.store,
        dataDir: o.dataDir,
        env: process.env,
        out,
        ...workerTimes(o),
      });
      stopOnSignals(out, () => running.stop());
    });

  addTaskCommands(program);

  const source = program.command('source').description('data sources registered in a pgdts serve (its API)');
  const withClient = (c: Command) =>
    c.option('--server <url>', 'the pgdts serve API', DEFAULT_SERVER).option('--json', 'print JSON');

  withClient(
    source
      .command('add')
      .argument('<id>', 'letters and digits, 1-32 characters')
      .description(
        'register a data source: a PostgreSQL server, or a Kafka cluster (--type kafka, a destination)',
      )
      .option('--type <type>', 'postgresql or kafka', 'postgresql')
      .option('--host <host>', 'postgresql: host name or IP address (required)')
      .option('--port <port>', 'postgresql: port', '5432')
      .option('--username <user>', 'postgresql: database user (required)')
      .option('--password-env <name>', 'postgresql: environment variable holding the password')
      .option('--database <name>', 'postgresql: database (required)')
      .option('--schema <name>', 'postgresql: only objects of this schema can be selected')
      .option('--region <region>', 'region')
      .option('--attributes <attributes>', 'postgresql: primary, primary+standby or standby', 'primary')
      .option('--standby <host:port>', 'postgresql: the standby (with primary+standby)')
      .option('--heartbeat', 'postgresql: tasks write heartbeats into this primary')
      .option(
        '--sslmode <mode>',
        'postgresql: disable, allow, prefer, require, verify-ca or verify-full',
        'prefer',
      )
      .option('--ca-certificate <file>', 'postgresql: CA certificate (PEM file)')
      .option('--client-certificate <file>', 'postgresql: client certificate (PEM file)')
      .option('--client-key <file>', 'postgresql: client private key (PEM file)')
      .option(
        '--client-key-password-env <name>',
        'postgresql: environment variable holding the client key passphrase',
      )
      .option('--bootstrap-servers <list>', 'kafka: host:port of the brokers, comma-separated (required)')
      .option('--sasl-mechanism <mechanism>', 'kafka: plain, scram-sha-256 or scram-sha-512')
      .option('--sasl-username <user>', 'kafka: SASL user (with --sasl-mechanism)')
      .option('--sasl-password-env <name>', 'kafka: environment variable holding the SASL password')
      .option('--tls', 'kafka: TLS to the brokers (implied by the --tls-* options)')
      .option('--tls-ca <file>', 'kafka: CA certificates to trust (PEM file); default the system ones')
      .option('--tls-cert <file>', 'kafka: client certificate (PEM file)')
      .option('--tls-key <file>', 'kafka: client private key (PEM file)')
      .option('--tls-server-name <name>', 'kafka: name checked in the broker certificates')
      .option('--remarks <text>', 'remarks'),
  ).action(async (id: string, o: Record<string, string | boolean | undefined> & ClientOptions) => {
    const str = (k: string) => (typeof o[k] === 'string' ? o[k] : undefined);
    const type = str('type');
    let body: Record<string, unknown>;
    switch (type) {
      case 'postgresql':
        body = postgresqlBody(id, str, o.heartbeat === true);
        break;
      case 'kafka':
        body = kafkaBody(id, str, o.tls === true);
        break;
      default:
        throw new ConfigError('--type', `must be postgresql or kafka, got "${type ?? ''}"`);
    }
    const created = await client(o).createDataSource(
      Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)),
    );
    if (o.json === true) printJson(created);
    else process.stdout.write(`data source ${created.id} added\n`);
    process.exit(0);
  });

  withClient(source.command('list').description('list the data sources')).action(async (o: ClientOptions) => {
    const items = await client(o).listDataSources();
    if (o.json === true) printJson(items);
    else {
      process.stdout.write(
        `${table(
          ['ID', 'TYPE', 'ATTRIBUTES', 'HOST:PORT', 'DATABASE', 'USERNAME', 'REGION', 'REMARKS'],
          items.map((d) =>
            d.type === 'kafka'
              ? [
                  d.id,
                  d.type,
                  '-',
                  d.bootstrapServers.join(','),
                  '-',
                  d.sasl?.username ?? '-',
                  d.region ?? '-',
                  d.remarks ?? '',
                ]
              : [
                  d.id,
                  d.type,
                  d.attributes,
                  `${d.host}:${d.port}`,
                  d.database,
                  d.username,
                  d.region ?? '-',
                  d.remarks ?? '',
                ],
          ),
        )}\n`,
      );
    }
    process.exit(0);
  });

  withClient(source.command('show').argument('<id>').description('show one data source')).action(
    async (id: string, o: ClientOptions) => {
      const d = await client(o).getDataSource(id);
      if (o.json === true) printJson(d);
      else process.stdout.write(`${describeSource(d)}\n`);
      process.exit(0);
    },
  );

  withClient(
    source
      .command('test')
      .argument('<id>')
      .option(
        '--role <role>',
        'the role to check its prerequisites for: source or destination (default source; destination for kafka)',
      )
      .description(
        'connect to a data source and check network, TLS, authentication, version and privileges; exit 1 on a failed check',
      ),
  ).action(async (id: string, o: ClientOptions & { role?: string }) => {
    if (o.role !== undefined && o.role !== 'source' && o.role !== 'destination') {
      throw new ConfigError('--role', `must be source or destination, got "${o.role}"`);
    }
    const report = await client(o).testDataSource(id, o.role);
    if (o.json === true) printJson(report);
    else process.stdout.write(`${formatPrecheckReport(report.checks)}\n`);
    process.exit(report.status === 'fail' ? 1 : 0);
  });

  withClient(source.command('remove').argument('<id>').description('remove a data source')).action(
    async (id: string, o: ClientOptions) => {
      await client(o).deleteDataSource(id);
      if (o.json === true) printJson({ id, removed: true });
      else process.stdout.write(`data source ${id} removed\n`);
      process.exit(0);
    },
  );
}

/** The body of `source add` for a PostgreSQL data source. */
function postgresqlBody(
  id: string,
  str: (k: string) => string | undefined,
  heartbeat: boolean,
): Record<string, unknown> {
  for (const [k, option] of [
    ['host', '--host'],
    ['username', '--username'],
    ['database', '--database'],
  ] as const) {
    if (str(k) === undefined) throw new ConfigError(option, 'is required for a postgresql data source');
  }
  const standby = str('standby');
  const sm = standby === undefined ? undefined : /^(.+):(\d+)$/.exec(standby);
  if (standby !== undefined && (sm === null || sm === undefined)) {
    throw new ConfigError('--standby', `must be HOST:PORT, got "${standby}"`);
  }
  return {
    id,
    type: 'postgresql',
    host: str('host'),
    port: Number(str('port')),
    username: str('username'),
    password: fromEnv('--password-env', str('passwordEnv')),
    database: str('database'),
    schema: str('schema'),
    region: str('region'),
    attributes: str('attributes'),
    standby: sm === undefined || sm === null ? undefined : { host: sm[1], port: Number(sm[2]) },
    heartbeat,
    sslmode: str('sslmode'),
    caCertificate: fromFile('--ca-certificate', str('caCertificate')),
    clientCertificate: fromFile('--client-certificate', str('clientCertificate')),
    clientKey: fromFile('--client-key', str('clientKey')),
    clientKeyPassword: fromEnv('--client-key-password-env', str('clientKeyPasswordEnv')),
    remarks: str('remarks'),
  };
}

/** The body of `source add --type kafka`: brokers, SASL (password from the environment), TLS files. */
function kafkaBody(
  id: string,
  str: (k: string) => string | undefined,
  tls: boolean,
): Record<string, unknown> {
  const servers = str('bootstrapServers');
  if (servers === undefined)
    throw new ConfigError('--bootstrap-servers', 'is required for a kafka data source');
  const mechanism = str('saslMechanism');
  const username = str('saslUsername');
  if ((mechanism === undefined) !== (username === undefined)) {
    throw new ConfigError('--sasl-mechanism', '--sasl-mechanism and --sasl-username go together');
  }
  const tlsFiles = {
    ca: fromFile('--tls-ca', str('tlsCa')),
    cert: fromFile('--tls-cert', str('tlsCert')),
    key: fromFile('--tls-key', str('tlsKey')),
    serverName: str('tlsServerName'),
  };
  const withTls = tls || Object.values(tlsFiles).some((v) => v !== undefined);
  return {
    id,
    type: 'kafka',
    bootstrapServers: servers.split(',').map((x) => x.trim()),
    sasl:
      mechanism === undefined
        ? undefined
        : { mechanism, username, password: fromEnv('--sasl-password-env', str('saslPasswordEnv')) },
    tls: withTls
      ? Object.fromEntries(Object.entries(tlsFiles).filter(([, v]) => v !== undefined))
      : undefined,
    region: str('region'),
    remarks: str('remarks'),
  };
}
