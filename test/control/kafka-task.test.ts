/**
 * Kafka data sources in the control plane, through the API of a real `pgdts serve` and the test
 * run's broker: a kafka data source is validated naming each field, never answers its SASL password,
 * and its test reports network and metadata per check (an unreachable one names host:port); a task
 * from PostgreSQL to it is prechecked, started, streams the full sync and incremental changes into
 * its topic as Debezium events, shows its lag, and is released. Kafka as a task source is refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { freePort } from '../../src/embedded/embedded-server.ts';
import { addDataSources, startServe } from '../support/control-serve.ts';
import { runCli } from '../support/pgdts-cli.ts';
import { kafkaBootstrap } from '../support/kafka-broker.ts';
import { finalRows, readEvents, type Envelope } from '../support/kafka-events.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(17);

interface Check {
  id: string;
  status: string;
  message: string;
  fix?: string;
}

test('a kafka data source, tested, and a task from PostgreSQL into it', async () => {
  const srcDb = await freshDatabase(server, 'ctl_kafka_src');
  const storeDb = await freshDatabase(server, 'ctl_kafka_store');
  await sql(
    server,
    srcDb,
    `CREATE TABLE public.items (id int PRIMARY KEY, v text);
     INSERT INTO public.items SELECT g, 'v' || g FROM generate_series(1, 2000) g;`,
  );
  const saslPassword = `kafka-pw-${randomBytes(6).toString('hex')}`;
  const serve = await startServe(['--store', urlOf(server, storeDb), '--poll-ms', '200'], {
    PGDTS_API_TOKEN: `token-${randomBytes(8).toString('hex')}`,
  });
  try {
    await addDataSources(serve, [['shop', server, srcDb]]);

    // Field-named refusals, nothing stored.
    const bad = await serve.call('POST', '/api/v1/data-sources', {
      body: {
        id: 'bad',
        type: 'kafka',
        bootstrapServers: ['no-port'],
        sasl: { mechanism: 'md5', username: 'u' },
        tls: { cert: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----' },
        host: 'x',
      },
    });
    assert.equal(bad.status, 400, bad.text);
    const fields = (bad.body as { details: { issues: { field: string }[] } }).details.issues.map(
      (i) => i.field,
    );
    for (const f of ['bootstrapServers.0', 'sasl.mechanism', 'sasl.password', 'host'])
      assert.ok(fields.includes(f), `${f} in ${bad.text}`);
    assert.equal((await serve.call('GET', '/api/v1/data-sources/bad')).status, 404);

    const bus = await serve.call('POST', '/api/v1/data-sources', {
      body: { id: 'bus', type: 'kafka', bootstrapServers: [kafkaBootstrap()], remarks: 'test broker' },
    });
    assert.equal(bus.status, 201, bus.text);
    const downAt = `127.0.0.1:${await freePort()}`;
    const down = await serve.call('POST', '/api/v1/data-sources', {
      body: {
        id: 'down',
        type: 'kafka',
        bootstrapServers: [downAt],
        sasl: { mechanism: 'scram-sha-512', username: 'app', password: saslPassword },
      },
    });
    assert.equal(down.status, 201, down.text);
    assert.deepEqual((down.body as { sasl: unknown }).sasl, {
      mechanism: 'scram-sha-512',
      username: 'app',
      passwordSet: true,
    });
    // PATCH: sasl without its password keeps the stored one; a PostgreSQL field is refused.
    const renamed = await serve.call('PATCH', '/api/v1/data-sources/down', {
      body: { sasl: { mechanism: 'scram-sha-512', username: 'app2' } },
    });
    assert.equal(renamed.status, 200, renamed.text);
    assert.deepEqual((renamed.body as { sasl: unknown }).sasl, {
      mechanism: 'scram-sha-512',
      username: 'app2',
      passwordSet: true,
    });
    const foreign = await serve.call('PATCH', '/api/v1/data-sources/bus', { body: { host: 'x' } });
    assert.equal(foreign.status, 400, foreign.text);
    assert.match(foreign.text, /host: is not a field of a kafka data source/);

    // Test connection: the broker answers; the unreachable one names host:port.
    const good = (await serve.call('POST', '/api/v1/data-sources/bus/test')).body as {
      role: string;
      status: string;
      checks: Check[];
    };
    assert.equal(good.role, 'destination');
    assert.equal(good.status, 'pass', JSON.stringify(good));
    assert.deepEqual(
      good.checks.map((c) => c.id),
      ['network', 'tls', 'authentication', 'metadata'],
    );
    assert.match(good.checks[3]?.message ?? '', /cluster \S+, 1 broker\(s\)/);
    const failed = (await serve.call('POST', '/api/v1/data-sources/down/test')).body as {
      status: string;
      checks: Check[];
    };
    assert.equal(failed.status, 'fail');
    const network = failed.checks.find((c) => c.id === 'network');
    assert.equal(network?.status, 'fail');
    assert.ok(network.message.includes(`${downAt}: ECONNREFUSED`), network.message);
    assert.ok(network.fix !== undefined);
    // The CLI: source add --type kafka (the password from the environment), show, test.
    const env = { PGDTS_API_TOKEN: serve.token, BUS_PASSWORD: saslPassword };
    const added = await runCli(
      [
        'source',
        'add',
        'cli1',
        '--server',
        serve.url,
        '--type',
        'kafka',
        '--bootstrap-servers',
        kafkaBootstrap(),
        '--sasl-mechanism',
        'plain',
        '--sasl-username',
        'app',
        '--sasl-password-env',
        'BUS_PASSWORD',
      ],
      env,
    );
    assert.equal(added.code, 0, added.stderr);
    const shown = await runCli(['source', 'show', 'cli1', '--server', serve.url], env);
    assert.match(shown.stdout, /bootstrapServers:\s+127\.0\.0\.1:\d+/);
    assert.match(shown.stdout, /sasl:\s+plain as app/);
    assert.match(shown.stdout, /saslPassword:\s+set/);
    const tested = await runCli(['source', 'test', 'bus', '--server', serve.url], env);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /metadata/i);
    const asSource = (await serve.call('POST', '/api/v1/data-sources/bus/test?role=source')).body as {
      checks: Check[];
    };
    assert.equal(asSource.checks[0]?.id, 'role');
    assert.equal(asSource.checks[0]?.status, 'fail');

    // Tasks: kafka as a source, and Kafka keys towards PostgreSQL, are refused naming the key.
    const base = { name: 'to kafka', syncTypes: ['full', 'incremental'], objects: [{ schema: 'public' }] };
    const fromKafka = await serve.call('POST', '/api/v1/tasks', {
      body: { ...base, source: { dataSource: 'bus' }, destination: { dataSource: 'shop' } },
    });
    assert.equal(fromKafka.status, 400, fromKafka.text);
    assert.match(fromKafka.text, /source\.dataSource.*Kafka is a destination only/);
    const pgKeys = await serve.call('POST', '/api/v1/tasks', {
      body: { ...base, source: { dataSource: 'shop' }, destination: { dataSource: 'down', topic: 'x' } },
    });
    assert.equal(pgKeys.status, 201, 'a kafka data source takes topic');
    const badKey = await serve.call('POST', '/api/v1/tasks', {
      body: {
        ...base,
        source: { dataSource: 'shop' },
        destination: { dataSource: 'bus', 'properties.transactional.id': 'x' },
      },
    });
    assert.equal(badKey.status, 400, badKey.text);
    assert.match(badKey.text, /destination\.properties\.transactional\.id/);
    assert.equal(
      (await serve.call('DELETE', `/api/v1/tasks/${(pgKeys.body as { id: string }).id}`)).status,
      204,
    );

    // PostgreSQL -> Kafka: precheck, start, full + incremental events, lag, release.
    const prefix = `c${randomBytes(3).toString('hex')}`;
    const created = await serve.call('POST', '/api/v1/tasks', {
      body: {
        ...base,
        source: { dataSource: 'shop' },
        destination: {
          dataSource: 'bus',
          topic: `${prefix}.#{source_schema_name}.#{source_table_name}`,
          offsetsTopic: `${prefix}.offsets`,
          partitionPolicy: 'key-hash',
          newTopicPartitions: 2,
          deliveryGuarantee: 'at-least-once',
          'properties.linger.ms': 5,
        },
        retry: { initialDelayMs: 200, maxDelayMs: 2_000 },
      },
    });
    assert.equal(created.status, 201, created.text);
    const id = (created.body as { id: string }).id;
    const at = `/api/v1/tasks/${id}`;
    let pre = (await serve.call('POST', `${at}/precheck`)).body as {
      passed: boolean;
      items: Check[];
    };
    const topicsItem = pre.items.find((i) => i.id === 'kafka-topics');
    assert.equal(topicsItem?.status, 'warn', JSON.stringify(pre.items));
    assert.match(topicsItem.message, new RegExp(`${prefix}\\.public\\.items`));
    for (const w of pre.items.filter((i) => i.status === 'warn'))
      assert.equal((await serve.call('POST', `${at}/precheck/items/${w.id}/ignore`)).status, 200);
    pre = (await serve.call('POST', `${at}/precheck`)).body as typeof pre;
    assert.equal(pre.passed, true, JSON.stringify(pre.items));
    assert.equal((await serve.call('POST', `${at}/start`)).status, 200);
    const status = async () =>
      (await serve.call('GET', `${at}/status`)).body as {
        state: string;
        phase: string | null;
        lagBytes: number | null;
        lagMs: number | null;
      };
    await until(
      'incremental sync',
      async () => (await status()).phase === 'incremental',
      120_000,
      () => serve.run.output(),
    );
    await sql(
      server,
      srcDb,
      `INSERT INTO public.items SELECT g, 'new' || g FROM generate_series(2001, 2100) g;
       UPDATE public.items SET v = 'changed' WHERE id <= 10;
       DELETE FROM public.items WHERE id BETWEEN 11 AND 15;`,
    );
    const topic = `${prefix}.public.items`;
    let events: Awaited<ReturnType<typeof readEvents>> = [];
    await until(
      'the changes in the topic',
      async () => {
        events = await readEvents([topic], { readCommitted: true, idleMs: 300 });
        return events.filter((e) => e.value !== null).length >= 2000 + 100 + 10 + 5;
      },
      60_000,
      () => serve.run.output(),
    );
    const ops = new Map<string, number>();
    for (const e of events)
      if (e.value !== null) {
        const op = (e.value as Envelope).op;
        ops.set(op, (ops.get(op) ?? 0) + 1);
      }
    assert.deepEqual(Object.fromEntries(ops), { r: 2000, c: 100, u: 10, d: 5 });
    const rows = finalRows(
      [...events].sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset)),
      true,
    );
    assert.equal(rows.size, 2095);
    assert.deepEqual(rows.get(JSON.stringify({ id: 3 })), { id: 3, v: 'changed' });
    assert.ok(!rows.has(JSON.stringify({ id: 12 })));
    await until(
      'the lag in the status',
      async () => {
        const s = await status();
        return s.state === 'running' && typeof s.lagBytes === 'number' && typeof s.lagMs === 'number';
      },
      30_000,
    );
    const released = await serve.call('POST', `${at}/release`);
    assert.equal(released.status, 200, released.text);
    assert.equal((released.body as { slotDropped: boolean }).slotDropped, true);
    const slots = await sql(server, srcDb, `SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [
      `pgdts_${id}`,
    ]);
    assert.equal(slots.length, 0);
    // The SASL password is in no answer and no log line.
    const all = [
      (await serve.call('GET', '/api/v1/data-sources')).text,
      (await serve.call('GET', '/api/v1/data-sources/down')).text,
      (await serve.call('GET', `${at}/logs`)).text,
      shown.stdout,
      serve.run.output(),
    ].join('\n');
    assert.ok(!all.includes(saslPassword), 'the SASL password leaked');
  } finally {
    await serve.stop();
  }
});
