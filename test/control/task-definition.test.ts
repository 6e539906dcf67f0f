/** Task definitions of the control plane (src/control/task/task-definition-schema.ts), without servers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  KafkaDataSource,
  PostgresqlDataSource,
} from '../../src/control/data-source/data-source-schema.ts';
import {
  checkAgainstDataSources,
  engineTaskOf,
  mergeDefinitionPatch,
  nonLiveChanges,
  parseTaskDefinition,
  type TaskDefinitionInput,
} from '../../src/control/task/task-definition-schema.ts';
import { newTaskId } from '../../src/control/task/task-service.ts';
import { configRefusal } from '../support/config-refusal.ts';

function ds(id: string, extra: Partial<PostgresqlDataSource> = {}): PostgresqlDataSource {
  return {
    id,
    type: 'postgresql',
    region: null,
    attributes: 'primary',
    standby: null,
    heartbeat: false,
    host: `${id}.example.com`,
    port: 5432,
    username: 'repl',
    password: 'secret-pw',
    database: 'app',
    schema: null,
    sslmode: 'prefer',
    caCertificate: null,
    clientCertificate: null,
    clientKey: null,
    clientKeyPassword: null,
    remarks: null,
    ...extra,
  };
}

const def: TaskDefinitionInput = {
  name: 'Orders → warehouse (nightly)',
  source: { dataSource: 'src' },
  destination: { dataSource: 'dst' },
  syncTypes: ['schema', 'full', 'incremental'],
  objects: [{ schema: 'sales' }, { table: 'crm.customers', as: 'crm.clients', where: 'active' }],
};

test('the engine task of a stored task: its id as name, the data sources as endpoints, no password', () => {
  const id = newTaskId();
  assert.match(id, /^t[0-9a-z]{12}$/);
  const t = engineTaskOf(id, def, ds('src'), ds('dst'));
  assert.equal(t.name, id);
  assert.deepEqual(
    [t.source.host, t.source.user, t.source.database, t.destination.host],
    ['src.example.com', 'repl', 'app', 'dst.example.com'],
  );
  assert.equal(t.source.password, undefined);
  assert.equal(JSON.stringify(t).includes('secret-pw'), false);
  assert.equal(t.objects.length, 2);
  assert.equal(t.source.heartbeat, undefined);
  // A data source with heartbeat gives the task the default heartbeat; the definition's own wins.
  assert.deepEqual(engineTaskOf(id, def, ds('src', { heartbeat: true }), ds('dst')).source.heartbeat, {
    intervalMs: 10_000,
  });
  const own = engineTaskOf(
    id,
    { ...def, source: { dataSource: 'src', heartbeat: { intervalMs: 2000 } } },
    ds('src'),
    ds('dst'),
  );
  assert.deepEqual(own.source.heartbeat, { intervalMs: 2000 });
  // Without incremental sync there is no heartbeat (the task file refuses one).
  assert.equal(
    engineTaskOf(id, { ...def, syncTypes: ['full'] }, ds('src', { heartbeat: true }), ds('dst')).source
      .heartbeat,
    undefined,
  );
});

test('rules against the data sources name the key: schema restriction, standby, same data source', () => {
  const parsed = parseTaskDefinition(def);
  const e1 = configRefusal(() => checkAgainstDataSources(parsed, ds('src', { schema: 'sales' }), ds('dst')));
  assert.equal(e1.path, 'objects[1]');
  assert.match(e1.message, /allows only objects of schema sales, not crm/);
  const e2 = configRefusal(() =>
    checkAgainstDataSources(parsed, ds('src', { attributes: 'standby' }), ds('dst')),
  );
  assert.equal(e2.path, 'source.dataSource');
  const e3 = configRefusal(() =>
    checkAgainstDataSources(parsed, ds('src'), ds('dst', { attributes: 'standby' })),
  );
  assert.equal(e3.path, 'destination.dataSource');
  const e4 = configRefusal(() => checkAgainstDataSources(parsed, ds('src'), ds('src')));
  assert.equal(e4.path, 'destination.dataSource');
  // The task file's own rules apply too, naming the key.
  const e5 = configRefusal(() => parseTaskDefinition({ ...def, objects: [{ table: 'nodot' }] }));
  assert.equal(e5.path, 'objects[0].table');
  const e6 = configRefusal(() =>
    parseTaskDefinition({ ...def, incremental: { startTime: '2026-01-01T00:00:00Z' } }),
  );
  assert.equal(e6.path, 'incremental.startTime');
});

test('[S4] live keys: name, alerts and throttles; anything else needs a stopped task', () => {
  const live = mergeDefinitionPatch(def, {
    name: 'renamed',
    full: { throttle: { rowsPerSecond: 10 } },
    incremental: { throttle: { megabytesPerSecond: 2 } },
    alerts: { webhooks: ['http://127.0.0.1:9/x'], rules: [{ type: 'task-failed' }] },
  }) as TaskDefinitionInput;
  assert.deepEqual(nonLiveChanges(def, live), []);
  const other = mergeDefinitionPatch(live, {
    full: { jobs: 2 },
    incremental: { throttle: null, batchMaxRows: 10 },
  }) as TaskDefinitionInput;
  assert.deepEqual(nonLiveChanges(live, other), ['full.jobs', 'incremental.batchMaxRows']);
  assert.equal(
    (other.incremental as { throttle?: unknown }).throttle,
    undefined,
    'null removes a key (RFC 7396)',
  );
  assert.deepEqual(nonLiveChanges(def, { ...def, objects: [{ schema: 'sales' }] }), ['objects']);
});

test('a kafka data source: a destination whose engine task takes the definition keys, never a source', () => {
  const bus: KafkaDataSource = {
    id: 'bus',
    type: 'kafka',
    region: null,
    bootstrapServers: ['k1.example.com:9092', 'k2.example.com:9092'],
    sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'sasl-secret' },
    tls: { ca: null, cert: null, key: null, serverName: null },
    remarks: null,
  };
  const toKafka = {
    ...def,
    destination: { dataSource: 'bus', topic: 'x.#{source_table_name}', 'properties.linger.ms': 5 },
    syncTypes: ['full', 'incremental'],
  } as TaskDefinitionInput;
  const parsed = parseTaskDefinition(toKafka);
  checkAgainstDataSources(parsed, ds('src'), bus);
  const t = engineTaskOf(newTaskId(), toKafka, ds('src'), bus);
  assert.equal(t.destination.type, 'kafka');
  if (t.destination.type !== 'kafka') return;
  assert.deepEqual(t.destination.bootstrapServers, bus.bootstrapServers);
  assert.equal(t.destination.topic, 'x.#{source_table_name}');
  assert.equal(t.destination['properties.linger.ms'], 5);
  // The login stays with the data source (open-data-source.ts), out of the engine task.
  assert.equal(t.destination.sasl, undefined);
  assert.ok(!JSON.stringify(t).includes('sasl-secret'));
  // Kafka keys towards PostgreSQL, an unknown key, and Kafka as a source are refused naming the key.
  const e1 = configRefusal(() =>
    checkAgainstDataSources(
      parseTaskDefinition({ ...def, destination: { dataSource: 'dst', topic: 'x' } }),
      ds('src'),
      ds('dst'),
    ),
  );
  assert.equal(e1.path, 'destination.topic');
  const e2 = configRefusal(() =>
    parseTaskDefinition({ ...def, destination: { dataSource: 'bus', bootstrapServers: ['a:1'] } }),
  );
  assert.match(e2.message, /destination\.bootstrapServers/);
  const e3 = configRefusal(() => checkAgainstDataSources(parsed, bus, ds('dst')));
  assert.equal(e3.path, 'source.dataSource');
  assert.match(e3.message, /Kafka is a destination only/);
});

test('[V7] verify.schedule: accepted with its defaults, a live key, refused naming the field', () => {
  const parsed = parseTaskDefinition({ ...def, verify: { schedule: { everyMinutes: 30 } } });
  assert.deepEqual(parsed.verify.schedule, { everyMinutes: 30, mode: 'hash' });
  const full = parseTaskDefinition({
    ...def,
    verify: { rowsPerSecond: 1000, schedule: { everyMinutes: 1, mode: 'rows', tables: ['sales.orders'] } },
  });
  assert.deepEqual(full.verify.schedule, { everyMinutes: 1, mode: 'rows', tables: ['sales.orders'] });
  // The engine task (the task file shape) takes it too; pgdts verify ignores it.
  const engine = engineTaskOf(
    newTaskId(),
    { ...def, verify: { schedule: { everyMinutes: 5 } } },
    ds('src'),
    ds('dst'),
  );
  assert.deepEqual(engine.verify.schedule, { everyMinutes: 5, mode: 'hash' });
  // A running task takes a new schedule without a restart.
  assert.deepEqual(nonLiveChanges(def, { ...def, verify: { schedule: { everyMinutes: 5 } } }), []);
  const cases: [unknown, string, RegExp][] = [
    [{ everyMinutes: 0 }, 'verify.schedule.everyMinutes', /at least 1 minute/],
    [{ everyMinutes: 1.5 }, 'verify.schedule.everyMinutes', /whole number of minutes/],
    [{ everyMinutes: '5' }, 'verify.schedule.everyMinutes', /whole number of minutes/],
    [{}, 'verify.schedule.everyMinutes', /./],
    [{ everyMinutes: 5, mode: 'fast' }, 'verify.schedule.mode', /must be count, hash, rows/],
    [{ everyMinutes: 5, tables: ['orders'] }, 'verify.schedule.tables[0]', /destination schema\.table/],
    [{ everyMinutes: 5, tables: [] }, 'verify.schedule.tables', /at least one table/],
    [{ everyMinutes: 5, every: 3 }, 'verify.schedule', /every/],
  ];
  for (const [schedule, field, rule] of cases) {
    const e = configRefusal(() => parseTaskDefinition({ ...def, verify: { schedule } }));
    assert.ok(e.message.startsWith(field), `${JSON.stringify(schedule)}: ${e.message}`);
    assert.match(e.message, rule, e.message);
  }
});
