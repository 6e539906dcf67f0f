/**
 * The whole walk-through through the REST API of a real `pgdts serve` (store, API and worker in one
 * process, as a laptop runs it): two data sources, a task created, prechecked, a warning ignored,
 * prechecked again, started; status, tables and logs watched; the throttle changed while it runs;
 * paused and resumed under writes; the destination identical to the source; released and deleted.
 * Lifecycle refusals cite task-states.md.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { startServe, type Serve } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';
import { startWriteLoad } from '../support/write-load.ts';

const source = testServer(15);
const destination = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;

let serve: Serve;
let srcDb: string;
let dstDb: string;
const bodies: string[] = [];

async function call(method: string, route: string, body?: unknown) {
  const r = await serve.call(method, route, body === undefined ? {} : { body });
  bodies.push(r.text);
  return r;
}

/** Asserts a `{code, message, details}` answer with `status` and `code`. */
function assertError(r: { status: number; body: unknown }, status: number, code: string, message?: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  const b = r.body as { code: string; message: string };
  assert.equal(b.code, code);
  if (message !== undefined) assert.match(b.message, message);
}

before(async () => {
  srcDb = await freshDatabase(source, 'ctl_task_src');
  dstDb = await freshDatabase(destination, 'ctl_task_dst');
  const storeDb = await freshDatabase(destination, 'ctl_task_store');
  await sql(
    source,
    srcDb,
    `CREATE SCHEMA app;
     CREATE TABLE app.orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO app.orders (v) SELECT 'o' || g FROM generate_series(1, 20000) g;
     -- No primary key, replica identity full: the precheck warns (ignorable).
     CREATE TABLE app.events (id bigint GENERATED ALWAYS AS IDENTITY, v text);
     ALTER TABLE app.events REPLICA IDENTITY FULL;
     INSERT INTO app.events (v) SELECT 'e' || g FROM generate_series(1, 3000) g;`,
  );
  serve = await startServe(['--store', urlOf(destination, storeDb), '--poll-ms', '200'], {
    PGDTS_API_TOKEN: TOKEN,
  });
});

after(async () => {
  await serve?.stop();
});

test('walk-through: data sources, task created, prechecked, started, watched, paused, resumed, released', async () => {
  for (const [id, s, db] of [
    ['src', source, srcDb],
    ['dst', destination, dstDb],
  ] as const) {
    const r = await call('POST', '/api/v1/data-sources', {
      id,
      type: 'postgresql',
      host: s.host,
      port: s.port,
      username: s.user,
      password: s.password,
      database: db,
    });
    assert.equal(r.status, 201, r.text);
    const t = await call(
      'POST',
      `/api/v1/data-sources/${id}/test?role=${id === 'src' ? 'source' : 'destination'}`,
    );
    assert.equal((t.body as { status: string }).status, 'pass', t.text);
  }

  const definition = {
    name: 'orders to the new cluster',
    source: { dataSource: 'src' },
    destination: { dataSource: 'dst' },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: 'app' }],
  };
  const created = await call('POST', '/api/v1/tasks', definition);
  assert.equal(created.status, 201, created.text);
  const task = created.body as { id: string; state: string; definition: unknown };
  assert.match(task.id, /^t[0-9a-z]{12}$/);
  assert.equal(task.state, 'created');
  assert.deepEqual(task.definition, definition, 'the definition is stored as given');
  const base = `/api/v1/tasks/${task.id}`;

  // [S2] No start without a passed precheck.
  assertError(await call('POST', `${base}/start`), 409, 'CONFLICT', /needs a passed precheck/);

  // [S3] The warning blocks the precheck until it is ignored; a pass or fail cannot be ignored.
  const first = await call('POST', `${base}/precheck`);
  assert.equal(first.status, 200, first.text);
  const report = first.body as {
    passed: boolean;
    state: string;
    items: { id: string; status: string; ignorable: boolean; ignored: boolean }[];
  };
  assert.equal(report.passed, false, first.text);
  assert.equal(report.state, 'precheck-failed');
  const warn = report.items.find((i) => i.id === 'replica-identity');
  assert.equal(warn?.status, 'warn', first.text);
  assert.equal(warn.ignorable, true);
  assert.deepEqual(
    report.items.filter((i) => i.status === 'fail'),
    [],
    'nothing fails',
  );
  assert.deepEqual(
    report.items.filter((i) => i.status === 'warn').map((i) => i.id),
    ['replica-identity'],
  );
  const passItem = report.items.find((i) => i.status === 'pass');
  assert.ok(passItem);
  assertError(await call('POST', `${base}/precheck/items/${passItem.id}/ignore`), 409, 'CONFLICT');
  assertError(await call('POST', `${base}/precheck/items/no-such-item/ignore`), 404, 'NOT_FOUND');
  const ignored = await call('POST', `${base}/precheck/items/replica-identity/ignore`);
  assert.deepEqual((ignored.body as { ignoredItems: string[] }).ignoredItems, ['replica-identity']);
  const second = await call('POST', `${base}/precheck`);
  assert.equal((second.body as { passed: boolean }).passed, true, second.text);
  const stored = await call('GET', `${base}/precheck`);
  assert.equal(
    (stored.body as { items: { id: string; ignored: boolean }[] }).items.find(
      (i) => i.id === 'replica-identity',
    )?.ignored,
    true,
  );

  const load = startWriteLoad(source, srcDb, ['app.orders', 'app.events'], {
    updateModulo: 50,
    deletes: 2,
    pauseMs: 20,
  });
  try {
    const started = await call('POST', `${base}/start`);
    assert.equal((started.body as { state: string }).state, 'running', started.text);

    // The worker of serve takes it; status reaches incremental sync, tables are copied.
    await until(
      'incremental sync',
      async () => {
        const s = (await call('GET', `${base}/status`)).body as {
          phase: string | null;
          workerId: string | null;
        };
        return s.phase === 'incremental' && s.workerId !== null;
      },
      120_000,
      () => serve.run.output(),
    );
    const tables = (await call('GET', `${base}/tables`)).body as {
      items: { table: string; phase: string; rows: number; progress: number | null }[];
    };
    assert.deepEqual(
      tables.items.map((t) => [t.table, t.phase, t.progress]),
      [
        ['app.events', 'streaming', 1],
        ['app.orders', 'streaming', 1],
      ],
    );
    assert.ok((tables.items[1]?.rows ?? 0) >= 20000);
    await until('a status with lag figures', async () => {
      const s = (await call('GET', `${base}/status`)).body as {
        lagBytes: number | null;
        rowsPerSecond: number | null;
      };
      return s.lagBytes !== null && s.rowsPerSecond !== null;
    });

    // [S4] Live keys change while running, others are refused naming them.
    const throttled = await call('PATCH', base, { incremental: { throttle: { rowsPerSecond: 100000 } } });
    assert.equal(throttled.status, 200, throttled.text);
    assert.equal((throttled.body as { state: string }).state, 'running');
    assertError(
      await call('PATCH', base, { incremental: { batchMaxRows: 50 } }),
      409,
      'CONFLICT',
      /incremental\.batchMaxRows/,
    );
    await until('the throttle change in the log', async () => {
      const l = (await call('GET', `${base}/logs`)).body as { items: { message: string }[] };
      return l.items.some((x) => /incremental\.throttle\.rowsPerSecond: no limit → 100000/.test(x.message));
    });

    // Pause: the worker stops the task, the slot goes inactive; writes go on meanwhile.
    const paused = await call('POST', `${base}/pause`);
    assert.equal((paused.body as { state: string }).state, 'paused');
    const slot = `pgdts_${task.id}`;
    await until('the slot inactive', async () => {
      const r = await sql<{ active: boolean }>(
        source,
        srcDb,
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return r[0]?.active === false;
    });
    assertError(await call('POST', `${base}/pause`), 409, 'CONFLICT', /not running/);
    await new Promise((r) => setTimeout(r, 1000));
    const resumed = await call('POST', `${base}/resume`);
    assert.equal((resumed.body as { state: string }).state, 'running');
    await until('the slot active again', async () => {
      const r = await sql<{ active: boolean }>(
        source,
        srcDb,
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      return r[0]?.active === true;
    });
    await load.stop();
    await waitForCatchUp(source, srcDb, slot, 120_000, () => serve.run.output());
    await assertSameData({ server: source, db: srcDb }, { server: destination, db: dstDb }, ['app']);

    const logs = (await call('GET', `${base}/logs`)).body as {
      items: { seq: number; level: string; message: string; fields: Record<string, unknown> }[];
      next: number;
    };
    const messages = logs.items.map((l) => l.message);
    assert.ok(
      messages.some((m) => m.startsWith('phase incremental')),
      messages.join('\n'),
    );
    assert.ok(
      messages.some((m) => /task stopped: its state is no longer running/.test(m)),
      messages.join('\n'),
    );
    assert.ok(logs.items.every((l, i) => i === 0 || l.seq > (logs.items[i - 1]?.seq ?? 0)));
    const later = (await call('GET', `${base}/logs?after=${logs.next}`)).body as { items: unknown[] };
    assert.ok(later.items.length < logs.items.length, 'after= returns only newer lines');
  } finally {
    await load.stop().catch(() => undefined);
  }

  // [S8] A task that ran is not deleted before its release; [S7] release pauses it and drops the slot.
  assertError(await call('DELETE', base), 409, 'CONFLICT', /release it first|may own a replication slot/);
  assertError(await call('DELETE', '/api/v1/data-sources/src'), 409, 'CONFLICT', /used by task/);
  const released = await call('POST', `${base}/release`);
  assert.equal(released.status, 200, released.text);
  assert.equal((released.body as { task: { state: string }; slotDropped: boolean }).task.state, 'released');
  assert.equal((released.body as { slotDropped: boolean }).slotDropped, true);
  const slots = await sql(
    source,
    srcDb,
    "SELECT 1 FROM pg_replication_slots WHERE slot_name LIKE 'pgdts_t%'",
  );
  assert.equal(slots.length, 0);
  assertError(await call('POST', `${base}/resume`), 409, 'CONFLICT');
  const deleted = await call('DELETE', base);
  assert.equal(deleted.status, 204);
  assertError(await call('GET', base), 404, 'NOT_FOUND');

  // Never a password in an answer (log lines included) or a line of serve.
  for (const text of [...bodies, serve.run.output()]) {
    assert.ok(!text.includes(source.password), 'no source password in output');
    assert.ok(!text.includes(destination.password), 'no destination password in output');
  }
  // The OpenAPI document describes the task routes from the same zod schemas.
  const doc = (await call('GET', '/openapi.json')).body as {
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, unknown> };
  };
  for (const p of [
    '/api/v1/tasks',
    '/api/v1/tasks/{id}',
    '/api/v1/tasks/{id}/precheck',
    '/api/v1/tasks/{id}/precheck/items/{item}/ignore',
    '/api/v1/tasks/{id}/start',
    '/api/v1/tasks/{id}/pause',
    '/api/v1/tasks/{id}/resume',
    '/api/v1/tasks/{id}/release',
    '/api/v1/tasks/{id}/status',
    '/api/v1/tasks/{id}/tables',
    '/api/v1/tasks/{id}/logs',
  ]) {
    assert.ok(doc.paths[p], `OpenAPI has ${p}`);
  }
  for (const c of ['TaskDefinition', 'Task', 'TaskStatus', 'PrecheckReport', 'TaskRunStatus']) {
    assert.ok(doc.components.schemas[c], `OpenAPI has ${c}`);
  }
});

test('bad task input is refused naming the field, and nothing is stored', async () => {
  const before = ((await call('GET', '/api/v1/tasks')).body as { items: unknown[] }).items.length;
  const good = {
    name: 'x',
    source: { dataSource: 'src' },
    destination: { dataSource: 'dst' },
    syncTypes: ['full'],
    objects: [{ schema: 'app' }],
  };
  const cases: [Record<string, unknown>, string][] = [
    [{ ...good, name: '' }, 'name'],
    [{ ...good, name: 'n'.repeat(65) }, 'name'],
    [{ ...good, syncTypes: [] }, 'syncTypes'],
    [{ ...good, objects: [{ tabel: 'app.orders' }] }, 'objects[0]'],
    [{ ...good, source: { dataSource: 'nope' } }, 'source.dataSource'],
    [{ ...good, destination: { dataSource: 'src' } }, 'destination.dataSource'],
    [{ ...good, full: { jobs: 0 } }, 'full.jobs'],
    [{ ...good, bogus: 1 }, 'bogus'],
    [{ ...good, alerts: { rules: [{ type: 'latency', thresholdSeconds: 5 }] } }, 'alerts.webhooks'],
  ];
  for (const [body, field] of cases) {
    const r = await call('POST', '/api/v1/tasks', body);
    assert.equal(r.status, 400, `${field}: ${r.text}`);
    const b = r.body as { code: string; details: { issues?: { field: string }[] } | null };
    assert.equal(b.code, 'CONFIG_INVALID');
    assert.ok(
      b.details?.issues?.some(
        (i) => i.field === field || i.field.startsWith(`${field}.`) || i.field.startsWith(`${field}[`),
      ),
      `${field} named in ${r.text}`,
    );
  }
  // PATCH, querystrings and item ids are checked the same way; a refused PATCH changes nothing.
  const made = await call('POST', '/api/v1/tasks', good);
  assert.equal(made.status, 201, made.text);
  const t = made.body as { id: string; revision: number };
  for (const [patch, field] of [
    [{ full: { jobs: 0 } }, 'full.jobs'],
    [{ objects: [] }, 'objects'],
    [{ source: { dataSource: 'nope' } }, 'source.dataSource'],
    [{ alerts: { webhooks: ['ftp://x'] } }, 'alerts.webhooks[0]'],
  ] as const) {
    const r = await call('PATCH', `/api/v1/tasks/${t.id}`, patch);
    assert.equal(r.status, 400, `${field}: ${r.text}`);
    const issues = (r.body as { details: { issues?: { field: string }[] } | null }).details?.issues ?? [];
    assert.ok(
      issues.some((i) => i.field === field),
      `${field} named in ${r.text}`,
    );
  }
  const unchanged = (await call('GET', `/api/v1/tasks/${t.id}`)).body as {
    revision: number;
    definition: unknown;
  };
  assert.equal(unchanged.revision, t.revision);
  assert.deepEqual(unchanged.definition, good);
  assertError(
    await call('GET', `/api/v1/tasks/${t.id}/logs?since=yesterday`),
    400,
    'CONFIG_INVALID',
    /since/,
  );
  assertError(await call('GET', `/api/v1/tasks/${t.id}/logs?limit=0`), 400, 'CONFIG_INVALID', /limit/);
  assertError(
    await call('POST', `/api/v1/tasks/${t.id}/precheck/items/Bad%20Item/ignore`),
    400,
    'CONFIG_INVALID',
    /item/,
  );
  assert.equal(
    (await call('DELETE', `/api/v1/tasks/${t.id}`)).status,
    204,
    'a task that never ran is deleted',
  );
  assertError(await call('GET', '/api/v1/tasks/not-an-id'), 400, 'CONFIG_INVALID');
  assertError(await call('GET', '/api/v1/tasks/t000000000000'), 404, 'NOT_FOUND');
  assertError(await call('POST', '/api/v1/tasks/t000000000000/start'), 404, 'NOT_FOUND');
  const unauth = await serve.call('GET', '/api/v1/tasks', { token: null });
  assertError(unauth, 401, 'UNAUTHORIZED');
  const after = ((await call('GET', '/api/v1/tasks')).body as { items: unknown[] }).items.length;
  assert.equal(after, before, 'nothing stored');
});
