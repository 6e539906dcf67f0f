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
import type { DataSourceView } from '../control/data-source/data-source-schema.ts';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_LEASE_TIMEOUT_MS,
  DEFAULT_LISTEN,
  DEFAULT_POLL_MS,
} from '../control/control-defaults.ts';
import { addTaskCommands } from './task-commands.ts';
import { client, printJson, table, type ClientOptions } from './api-command-helpers.ts';

/** The lines of `pgdts source show`. */
function describeSource(d: DataSourceView): string {
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

/** `--poll-ms` and `--lease-timeout`, checked. @throws {ConfigError} naming the option. */
function workerTimes(o: { pollMs: string; leaseTimeout: string }): {
  pollMs: number;
  leaseTimeoutMs: number;
} {
  const ms = (option: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(option, `must be an integer number of ms from ${min} to ${max}, got "${v}"`);
    }
    return n;
  };
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
    .option('--poll-ms <ms>', 'how often the worker looks at the store, ms', String(DEFAULT_POLL_MS))
    .option(
      '--lease-timeout <ms>',
      "within how long a lost worker's tasks are taken over, ms",
      String(DEFAULT_LEASE_TIMEOUT_MS),
    )
    .action(
      async (o: {
        listen: string;
        store?: string;
        dataDir: string;
        worker: boolean;
        pollMs: string;
        leaseTimeout: string;
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
      .description('register a PostgreSQL data source')
      .requiredOption('--host <host>', 'host name or IP address')
      .option('--port <port>', 'port', '5432')
      .requiredOption('--username <user>', 'database user')
      .option('--password-env <name>', 'environment variable holding the password')
      .requiredOption('--database <name>', 'database')
      .option('--schema <name>', 'only objects of this schema can be selected')
      .option('--region <region>', 'region')
      .option('--attributes <attributes>', 'primary, primary+standby or standby', 'primary')
      .option('--standby <host:port>', 'the standby (with primary+standby)')
      .option('--heartbeat', 'tasks write heartbeats into this primary')
      .option('--sslmode <mode>', 'disable, allow, prefer, require, verify-ca or verify-full', 'prefer')
      .option('--ca-certificate <file>', 'CA certificate (PEM file)')
      .option('--client-certificate <file>', 'client certificate (PEM file)')
      .option('--client-key <file>', 'client private key (PEM file)')
      .option('--client-key-password-env <name>', 'environment variable holding the client key passphrase')
      .option('--remarks <text>', 'remarks'),
  ).action(async (id: string, o: Record<string, string | boolean | undefined> & ClientOptions) => {
    const str = (k: string) => (typeof o[k] === 'string' ? o[k] : undefined);
    const standby = str('standby');
    const sm = standby === undefined ? undefined : /^(.+):(\d+)$/.exec(standby);
    if (standby !== undefined && (sm === null || sm === undefined)) {
      throw new ConfigError('--standby', `must be HOST:PORT, got "${standby}"`);
    }
    const body: Record<string, unknown> = {
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
      heartbeat: o.heartbeat === true,
      sslmode: str('sslmode'),
      caCertificate: fromFile('--ca-certificate', str('caCertificate')),
      clientCertificate: fromFile('--client-certificate', str('clientCertificate')),
      clientKey: fromFile('--client-key', str('clientKey')),
      clientKeyPassword: fromEnv('--client-key-password-env', str('clientKeyPasswordEnv')),
      remarks: str('remarks'),
    };
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
          items.map((d) => [
            d.id,
            d.type,
            d.attributes,
            `${d.host}:${d.port}`,
            d.database,
            d.username,
            d.region ?? '-',
            d.remarks ?? '',
          ]),
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
      .option('--role <role>', 'the role to check its prerequisites for: source or destination', 'source')
      .description(
        'connect to a data source and check network, TLS, authentication, version and privileges; exit 1 on a failed check',
      ),
  ).action(async (id: string, o: ClientOptions & { role: string }) => {
    if (o.role !== 'source' && o.role !== 'destination') {
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
