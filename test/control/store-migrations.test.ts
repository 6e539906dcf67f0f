/** The control plane store: numbered migrations applied once, one process at a time; data kept across restarts. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { SecretBox } from '../../src/control/secrets/secret-box.ts';
import { ControlStore } from '../../src/control/store/control-store.ts';
import { migrateStore } from '../../src/control/store/migrate-store.ts';
import { MIGRATIONS } from '../../src/control/store/migrations.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

const server = testServer(17);

async function client(db: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: urlOf(server, db) });
  await c.connect();
  return c;
}

test('migrations are applied once and recorded in pgdts_control.schema_migration', async () => {
  const db = await freshDatabase(server, 'ctl_mig');
  const c = await client(db);
  try {
    const first = await migrateStore(c);
    assert.deepEqual(
      first.applied,
      MIGRATIONS.map((m) => m.version),
    );
    const again = await migrateStore(c);
    assert.deepEqual(again.applied, []);
    assert.equal(again.version, first.version);
  } finally {
    await c.end();
  }
  const rows = await sql<{ version: number; name: string }>(
    server,
    db,
    'SELECT version, name FROM pgdts_control.schema_migration ORDER BY version',
  );
  assert.deepEqual(
    rows.map((r) => r.version),
    MIGRATIONS.map((m) => m.version),
  );
  const tables = await sql<{ t: string }>(
    server,
    db,
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'pgdts_control' ORDER BY 1",
  );
  assert.deepEqual(
    tables.map((r) => r.t),
    [
      'alert',
      'alert_event',
      'api_token',
      'data_source',
      'precheck_item',
      'schema_migration',
      'task',
      'task_log',
      'task_table',
      'verification',
      'worker',
    ],
  );
});

test('two processes migrating at once both succeed and exactly one applies the migrations', async () => {
  const db = await freshDatabase(server, 'ctl_race');
  // Two sessions, the first holding a migration open (a slow migration) while the second starts:
  // the second must wait on the advisory lock, then apply nothing.
  const slow = [...MIGRATIONS, { version: MIGRATIONS.length + 1, name: 'slow', sql: 'SELECT pg_sleep(1)' }];
  const [a, b] = await Promise.all([client(db), client(db)]);
  try {
    const pa = migrateStore(a, slow);
    await new Promise((r) => setTimeout(r, 200));
    const pb = migrateStore(b, slow);
    const [ra, rb] = await Promise.all([pa, pb]);
    const applied = [ra.applied, rb.applied].sort((x, y) => y.length - x.length);
    assert.deepEqual(
      applied[0],
      slow.map((m) => m.version),
    );
    assert.deepEqual(applied[1], []);
    assert.equal(ra.version, rb.version);
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
  // Without the lock, the second would have failed on CREATE TABLE of an existing table or on the
  // primary key of schema_migration; here each migration is recorded once.
  const rows = await sql<{ n: number }>(
    server,
    db,
    'SELECT count(*)::int AS n FROM pgdts_control.schema_migration',
  );
  assert.equal(rows[0]?.n, slow.length);
});

test('many stores opening a fresh database at once all open it', async () => {
  const db = await freshDatabase(server, 'ctl_open');
  const box = new SecretBox(randomBytes(32));
  const stores = await Promise.all(
    Array.from({ length: 4 }, () => ControlStore.open(urlOf(server, db), box)),
  );
  try {
    const migrated = stores.filter((s) => s.migration.applied.length > 0);
    assert.equal(migrated.length, 1, 'exactly one store applied the migrations');
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
});

test('a restarted store keeps its data sources, secrets decrypted with the same key', async () => {
  const db = await freshDatabase(server, 'ctl_keep');
  const key = randomBytes(32);
  const s1 = await ControlStore.open(urlOf(server, db), new SecretBox(key));
  await s1.insertDataSource({
    id: 'keep1',
    type: 'postgresql',
    region: 'eu',
    attributes: 'primary',
    standby: null,
    heartbeat: true,
    host: 'db.example.com',
    port: 5433,
    username: 'repl',
    password: 'kept-secret',
    database: 'app',
    schema: null,
    sslmode: 'require',
    caCertificate: null,
    clientCertificate: null,
    clientKey: null,
    clientKeyPassword: null,
    remarks: 'kept',
  });
  await s1.close();
  const s2 = await ControlStore.open(urlOf(server, db), new SecretBox(key));
  try {
    assert.deepEqual(s2.migration.applied, []);
    const got = (await s2.getDataSource('keep1'))?.source;
    assert.equal(got?.type, 'postgresql');
    assert.equal(got.password, 'kept-secret');
    assert.equal(got.region, 'eu');
    assert.equal(got.port, 5433);
  } finally {
    await s2.close();
  }
  // Another key cannot read the secret: the GCM tag does not match.
  const s3 = await ControlStore.open(urlOf(server, db), new SecretBox(randomBytes(32)));
  try {
    await assert.rejects(s3.getDataSource('keep1'), /cannot be decrypted: the secret key differs/);
  } finally {
    await s3.close();
  }
});
