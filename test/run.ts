/**
 * Test entry point: starts the real PostgreSQL servers (13, 15, 17; wal_level=logical) once for the whole
 * run, hands their addresses to node's test runner through PGDTS_TEST_SERVERS, and stops them afterwards.
 * Usage: `node --import tsx test/run.ts [file-or-dir-filter ...] [--skip=fragment ...]`: the files
 * whose path contains a filter (all without one), less those whose path contains a `--skip` fragment. When a selected file is a Kafka
 * test, one Kafka broker is started too (test/support/kafka-broker.ts), its address handed over in
 * PGDTS_TEST_KAFKA.
 *
 * `--test-timeout` ({@link DEFAULT_TEST_TIMEOUT_MS}, or `PGDTS_TEST_TIMEOUT_MS`) makes a hang fail
 * instead of stalling CI until CI's own limit. Node 22 and later apply it to each test, and a test's
 * own `{ timeout }` overrides it; Node 20's runner applies it to each test file as a whole (a test's
 * own `{ timeout }` still applies inside), so it must stay well above the slowest file's run time.
 * Tests run with this script's node binary (`process.execPath`): running the script with another node
 * tests that node.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EmbeddedServer, type EmbeddedVersion } from '../src/embedded/embedded-server.ts';
import { KAFKA_ENV, KafkaBroker, needsKafka } from './support/kafka-broker.ts';

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) return f === 'support' ? [] : findTests(p);
    return f.endsWith('.test.ts') ? [p] : [];
  });
}

/** Default of `--test-timeout`, ms. The whole suite takes a few minutes; no test or file comes near. */
const DEFAULT_TEST_TIMEOUT_MS = 10 * 60_000;

function testTimeoutMs(): number {
  const raw = process.env.PGDTS_TEST_TIMEOUT_MS;
  if (raw === undefined || raw === '') return DEFAULT_TEST_TIMEOUT_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new Error(`PGDTS_TEST_TIMEOUT_MS=${raw}: expected a positive integer (ms)`);
  return ms;
}

const timeoutMs = testTimeoutMs();
const args = process.argv.slice(2);
const skips = args.filter((a) => a.startsWith('--skip=')).map((a) => a.slice('--skip='.length));
const filters = args.filter((a) => !a.startsWith('--skip='));
const files = findTests('test')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .filter((f) => !skips.some((x) => f.includes(x)))
  .sort();
const root = mkdtempSync(path.join(tmpdir(), 'pgdts-test-'));
const servers: EmbeddedServer[] = [];
let broker: KafkaBroker | undefined;
let code: number;
try {
  if (files.some(needsKafka)) broker = await KafkaBroker.start(path.join(root, 'kafka'));
  const versions: EmbeddedVersion[] = [13, 15, 17];
  for (const version of versions) {
    servers.push(
      await EmbeddedServer.start({
        version,
        dataDir: path.join(root, `pg${version}`),
        password: 'test-Secret-pw',
      }),
    );
  }
  const env = {
    ...process.env,
    PGDTS_TEST_ROOT: root,
    PGDTS_TEST_SERVERS: JSON.stringify(
      servers.map((s) => ({ version: s.version, port: s.port, password: s.password })),
    ),
    ...(broker !== undefined ? { [KAFKA_ENV]: broker.bootstrap } : {}),
  };
  code = await new Promise<number>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-concurrency=1',
        `--test-timeout=${timeoutMs}`,
        '--test-reporter=spec',
        ...files,
      ],
      { stdio: 'inherit', env },
    );
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
} finally {
  await broker?.stop();
  for (const s of servers) await s.stop().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}
process.exit(code);
