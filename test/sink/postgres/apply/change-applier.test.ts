import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import type { Change } from '../../../../src/core/change.ts';
import { PgdtsError } from '../../../../src/core/errors.ts';
import { readAppliedPosition } from '../../../../src/sink/postgres/apply/applied-position.ts';
import { ChangeApplier } from '../../../../src/sink/postgres/apply/change-applier.ts';
import { freshDatabase, sql, testServer, testServers } from '../../../support/servers.ts';
import { destinationClient, lsn, relation, sourceTransaction } from './apply-fixtures.ts';

const s = testServer(15);
let db: string;
const clients: pg.Client[] = [];

async function client(): Promise<pg.Client> {
  const c = await destinationClient(s, db);
  clients.push(c);
  return c;
}

before(async () => {
  db = await freshDatabase(s, 'apply');
});
after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
});

const items = relation('public', 'items', ['id', 'name'], ['id']);
const ins = (id: number, name: string): Change => ({
  kind: 'insert',
  relation: items,
  newTuple: [String(id), name],
});

test('insert/update/delete on PostgreSQL 13, 15 and 17; the position commits with the batch', async () => {
  for (const server of testServers()) {
    const d = await freshDatabase(server, 'apply_v');
    await sql(server, d, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
    const c = await destinationClient(server, d);
    try {
      const a = new ChangeApplier({ client: c, taskName: 't1' });
      await sourceTransaction(a, 700, 100, [
        ins(1, 'a'),
        ins(2, 'b'),
        ins(3, 'c'),
        { kind: 'update', relation: items, newTuple: ['2', 'B'] },
        { kind: 'delete', relation: items, oldKind: 'key', oldTuple: ['3', null] },
      ]);
      const r = await a.commitBatch();
      assert.equal(r.appliedLsn, lsn(101));
      assert.equal(r.commitTimeMs, 1_700_000_000_100);
      assert.deepEqual(await sql(server, d, 'SELECT id, name FROM items ORDER BY id'), [
        { id: 1, name: 'a' },
        { id: 2, name: 'B' },
      ]);
      assert.deepEqual(await readAppliedPosition(c, 't1'), {
        lsn: lsn(101),
        commitTimeMs: 1_700_000_000_100,
      });
      assert.equal(await readAppliedPosition(c, 'other'), undefined);
    } finally {
      await c.end();
    }
  }
});

test('a 50k-row source transaction flushes every 1000 rows into one open transaction and commits only at commitBatch', async () => {
  await sql(s, db, 'CREATE TABLE big (id int PRIMARY KEY, payload text)');
  const big = relation('public', 'big', ['id', 'payload'], ['id']);
  const a = new ChangeApplier({ client: await client(), taskName: 'big', flushRows: 1000 });
  a.beginSourceTransaction({ xid: 1, finalLsn: lsn(5000) });
  let maxBuffered = 0;
  for (let i = 1; i <= 50_000; i++) {
    await a.add({ kind: 'insert', relation: big, newTuple: [String(i), `row ${i} it's \\ here`] });
    maxBuffered = Math.max(maxBuffered, a.bufferedChanges);
  }
  a.commitSourceTransaction({ xid: 1, commitLsn: lsn(5000), endLsn: lsn(5001), commitTimeMs: 1 });
  assert.ok(maxBuffered <= 1000, `buffer stayed bounded (${maxBuffered})`);
  assert.ok(a.transactionOpen);
  // Flushed rows are in the open destination transaction, invisible to others.
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM big'), [{ n: 0 }]);
  const inFlight = await sql<{ n: number }>(
    s,
    db,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgdts-apply-test' AND state = 'idle in transaction'",
  );
  assert.ok((inFlight[0]?.n ?? 0) >= 1);
  const r = await a.commitBatch();
  assert.equal(r.appliedLsn, lsn(5001));
  assert.deepEqual(
    await sql(
      s,
      db,
      "SELECT count(*)::int AS n, count(*) FILTER (WHERE payload = 'row 7 it''s \\ here')::int AS m FROM big",
    ),
    [{ n: 50_000, m: 1 }],
  );
});

test('crash safety: rollback discards the uncommitted batch and keeps the committed position; replays are skipped', async () => {
  await sql(s, db, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
  const c = await client();
  const a = new ChangeApplier({ client: c, taskName: 'crash', flushRows: 2 });
  await sourceTransaction(a, 10, 200, [ins(1, 'one')]);
  await sourceTransaction(a, 11, 210, [ins(2, 'two')]);
  assert.equal((await a.commitBatch()).appliedLsn, lsn(211));

  await sourceTransaction(a, 12, 220, [ins(3, 'three'), ins(4, 'four'), ins(5, 'five')]);
  await a.flush(); // sent to the destination, not committed
  await a.rollback();
  assert.deepEqual(await sql(s, db, 'SELECT id FROM items ORDER BY id'), [{ id: 1 }, { id: 2 }]);
  assert.deepEqual(await readAppliedPosition(c, 'crash'), { lsn: lsn(211), commitTimeMs: 1_700_000_000_210 });

  // A new applier (after reconnecting) receives the stream again from before the committed position:
  // transactions already applied are skipped instead of failing on duplicate keys.
  const b = new ChangeApplier({ client: await client(), taskName: 'crash' });
  await sourceTransaction(b, 11, 210, [ins(2, 'two')]);
  await sourceTransaction(b, 12, 220, [ins(3, 'three'), ins(4, 'four'), ins(5, 'five')]);
  assert.equal((await b.commitBatch()).appliedLsn, lsn(221));
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM items'), [{ n: 5 }]);
  // Nothing pending: commitBatch reports the durable position without a transaction.
  assert.equal((await b.commitBatch()).appliedLsn, lsn(221));
});

test('per-table snapshot LSN: changes older than the table snapshot are skipped, including in TRUNCATE', async () => {
  await sql(s, db, 'CREATE TABLE snap_a (id int PRIMARY KEY); CREATE TABLE snap_b (id int PRIMARY KEY)');
  await sql(s, db, 'INSERT INTO snap_a VALUES (100); INSERT INTO snap_b VALUES (100)');
  const ra = relation('public', 'snap_a', ['id'], ['id']);
  const rb = relation('public', 'snap_b', ['id'], ['id']);
  const a = new ChangeApplier({
    client: await client(),
    taskName: 'snap',
    tableSnapshotLsn: (schema, name) => (schema === 'public' && name === 'snap_a' ? lsn(1000) : undefined),
  });
  await sourceTransaction(a, 1, 999, [
    { kind: 'insert', relation: ra, newTuple: ['1'] },
    { kind: 'insert', relation: rb, newTuple: ['1'] },
    { kind: 'truncate', relations: [ra], cascade: false, restartIdentity: false },
  ]);
  await sourceTransaction(a, 2, 1000, [
    { kind: 'insert', relation: ra, newTuple: ['2'] },
    { kind: 'insert', relation: rb, newTuple: ['2'] },
  ]);
  await a.commitBatch();
  assert.deepEqual(await sql(s, db, 'SELECT id FROM snap_a ORDER BY id'), [{ id: 2 }, { id: 100 }]);
  assert.deepEqual(await sql(s, db, 'SELECT id FROM snap_b ORDER BY id'), [
    { id: 1 },
    { id: 2 },
    { id: 100 },
  ]);
});

test('a constraint violation is APPLY_FAILED, not retryable, names the table; the applier needs rollback()', async () => {
  await sql(s, db, 'CREATE TABLE uniq (id int PRIMARY KEY, v text)');
  const u = relation('public', 'uniq', ['id', 'v'], ['id']);
  const a = new ChangeApplier({ client: await client(), taskName: 'err' });
  await sourceTransaction(a, 1, 10, [
    { kind: 'insert', relation: u, newTuple: ['1', 'x'] },
    { kind: 'insert', relation: u, newTuple: ['1', 'y'] },
  ]);
  await assert.rejects(a.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof PgdtsError);
    assert.equal(e.code, 'APPLY_FAILED');
    assert.equal(e.retryable, false);
    assert.equal(e.sqlState, '23505');
    assert.match(e.message, /public\.uniq/);
    return true;
  });
  assert.throws(() => a.beginSourceTransaction({ xid: 2, finalLsn: lsn(20) }), /rollback/);
  await a.rollback();
  await sourceTransaction(a, 2, 20, [{ kind: 'insert', relation: u, newTuple: ['2', 'z'] }]);
  await a.commitBatch();
  assert.deepEqual(await sql(s, db, 'SELECT id, v FROM uniq'), [{ id: 2, v: 'z' }]);
});

test('a lost connection is APPLY_FAILED and retryable; a missing table is APPLY_FAILED naming it', async () => {
  await sql(s, db, 'CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text)');
  const c = await client();
  const a = new ChangeApplier({ client: c, taskName: 'lost' });
  await a.begin();
  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
  await sql(s, db, 'SELECT pg_terminate_backend($1)', [pid]);
  await sourceTransaction(a, 1, 10, [ins(900, 'x')]);
  await assert.rejects(a.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof PgdtsError);
    assert.equal(e.code, 'APPLY_FAILED');
    assert.equal(e.retryable, true, e.message);
    return true;
  });
  await a.rollback(); // must not throw on a dead connection

  const b = new ChangeApplier({ client: await client(), taskName: 'missing' });
  const ghost = relation('public', 'No Such Table', ['id'], ['id']);
  await sourceTransaction(b, 1, 10, [{ kind: 'insert', relation: ghost, newTuple: ['1'] }]);
  await assert.rejects(b.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof PgdtsError);
    assert.equal(e.code, 'APPLY_FAILED');
    assert.match(e.message, /No Such Table/);
    return true;
  });
  await b.rollback();
});

test('commitBatch inside a source transaction is refused (a partial source transaction never becomes durable)', async () => {
  const a = new ChangeApplier({ client: await client(), taskName: 'partial' });
  a.beginSourceTransaction({ xid: 5, finalLsn: lsn(50) });
  await assert.rejects(a.commitBatch(), (e: unknown) => e instanceof PgdtsError && e.code === 'INTERNAL');
  await a.rollback();
});

test('triggers do not fire on the destination (session_replication_role = replica)', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE trig (id int PRIMARY KEY); CREATE TABLE trig_log (n int);
     CREATE FUNCTION trig_f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO trig_log VALUES (1); RETURN NEW; END$$;
     CREATE TRIGGER trig_t AFTER INSERT ON trig FOR EACH ROW EXECUTE FUNCTION trig_f()`,
  );
  const t = relation('public', 'trig', ['id'], ['id']);
  const a = new ChangeApplier({ client: await client(), taskName: 'trig' });
  await sourceTransaction(a, 1, 10, [{ kind: 'insert', relation: t, newTuple: ['1'] }]);
  await a.commitBatch();
  assert.deepEqual(
    await sql(
      s,
      db,
      'SELECT (SELECT count(*) FROM trig)::int AS a, (SELECT count(*) FROM trig_log)::int AS b',
    ),
    [{ a: 1, b: 0 }],
  );
});
