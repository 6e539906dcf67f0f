/**
 * Structured logs: the redact list covers every secret-bearing key of the task file schema, so no
 * password reaches a log line in either format; `pgdts run --log-format json` writes one JSON object
 * per line, each with the task's name and phase.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTaskConfig, taskConfigSchema } from '../../src/core/task-config.ts';
import { createLogger, LOG_FORMATS } from '../../src/log/logger.ts';
import { SECRET_ENDPOINT_KEYS, SECRET_PATHS } from '../../src/log/redact.ts';
import { runCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

/** Every key path of a zod object schema, `a.b.c`, descending into nested objects. */
function keyPaths(schema: unknown, at = ''): string[] {
  let s = schema as {
    shape?: Record<string, unknown>;
    unwrap?: () => unknown;
    def?: { innerType?: unknown };
  };
  // Optional, default and similar wrappers keep the object inside.
  for (let i = 0; i < 5 && s.shape === undefined && s.def?.innerType !== undefined; i++) {
    s = s.def.innerType as typeof s;
  }
  if (s.shape === undefined) return [];
  return Object.entries(s.shape).flatMap(([k, v]) => {
    const p = at === '' ? k : `${at}.${k}`;
    return [p, ...keyPaths(v, p)];
  });
}

test('every key of the task file that can hold a secret is censored by the redact list', () => {
  const paths = keyPaths(taskConfigSchema);
  assert.ok(paths.includes('source.password') && paths.includes('incremental.spillDir'), paths.join(' '));
  // A key holds a secret when its name says so; passwordEnv names a variable, sslkey a file.
  const secretish = paths.filter((p) => /password|secret|token|url|sasl/i.test(p.split('.').at(-1) ?? ''));
  const notSecret = new Set(['passwordEnv']);
  for (const p of secretish) {
    const key = p.split('.').at(-1) ?? '';
    if (notSecret.has(key)) continue;
    assert.ok(SECRET_ENDPOINT_KEYS.includes(key), `${p} holds a secret but is not in SECRET_ENDPOINT_KEYS`);
    assert.ok(SECRET_PATHS.includes(p) && SECRET_PATHS.includes(`config.${p}`), `${p} is not redacted`);
  }
});

test('no password reaches a log line, in pretty or JSON format, whatever object carries it', () => {
  const task = parseTaskConfig({
    name: 'secrets',
    source: { type: 'postgresql', url: 'postgresql://app:Url-Secret-1@db.example:5432/app' },
    destination: { type: 'postgresql', host: 'dst.example', user: 'u', password: 'Key-Secret-2' },
    syncTypes: ['full'],
    objects: [{ schema: 'public' }],
  });
  for (const format of LOG_FORMATS) {
    let out = '';
    const log = createLogger({ format, level: 'trace', colorize: false, write: (l) => (out += l) });
    const t = log.child({ task: task.name, phase: 'start' });
    t.info({ config: task }, 'task loaded');
    t.info({ source: task.source, destination: task.destination }, 'endpoints');
    t.info({ url: task.source.url, password: task.destination.password }, 'bare');
    t.debug({ endpoint: task.destination }, 'one endpoint');
    assert.doesNotMatch(out, /Url-Secret-1|Key-Secret-2/, out);
    if (format === 'json') {
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, 4);
      for (const l of lines) assert.deepEqual([l.task, l.phase], ['secrets', 'start']);
      const config = lines[0]?.config as {
        source: { url: string };
        destination: { password: string; host: string };
      };
      // A URL keeps where it points, without its password.
      assert.equal(config.source.url, 'postgresql://app:****@db.example:5432/app');
      assert.equal(config.destination.password, '****');
      assert.equal(config.destination.host, 'dst.example');
    }
  }
});

test('pgdts --log-format json run: one JSON object per line with task and phase, no password', async () => {
  const s = testServer(15);
  const src = await freshDatabase(s, 'log_src');
  const dst = await freshDatabase(s, 'log_dst');
  await sql(
    s,
    src,
    'CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10)',
  );
  const file = writeTaskFile({
    name: 'logs',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema', 'full'],
    objects: [{ schema: 'public' }],
  });
  const r = await runCli(['--log-format', 'json', '--log-level', 'debug', 'run', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(!(r.stdout + r.stderr).includes(s.password), 'the password appears nowhere');
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(lines.length >= 5);
  for (const l of lines) {
    assert.equal(l.task, 'logs', JSON.stringify(l));
    assert.equal(typeof l.phase, 'string');
    assert.equal(typeof l.time, 'string');
    assert.ok(['debug', 'info', 'warn'].includes(String(l.level)), JSON.stringify(l));
  }
  const copied = lines.find((l) => String(l.msg).startsWith('table public.t copied: 10 rows'));
  assert.ok(copied, r.stdout);
  assert.deepEqual([copied.phase, copied.table, copied.rows], ['full', 'public.t', 10]);
  assert.ok(lines.some((l) => l.phase === 'done'));
  const bad = await runCli(['--log-level', 'loud', 'run', file]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /CONFIG_INVALID: --log-level: must be one of trace, debug, info, warn, error, fatal/,
  );
});
