import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import type { Change } from '../../../../src/core/change.ts';
import { ApplyConflictError, PgdtsError } from '../../../../src/core/errors.ts';
import type { Lsn } from '../../../../src/core/lsn.ts';
import { readAppliedPosition } from '../../../../src/sink/postgres/apply/applied-position.ts';
import { EMPTY_TALLY } from '../../../../src/core/sink.ts';
import { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
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

test('insert/update/delete on PostgreSQL 13, 15 and 17; the position commits with the batch [P1]', async () => {
  for (const server of testServers()) {
    const d = await freshDatabase(server, 'apply_v');
    await sql(server, d, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
    const c = await destinationClient(server, d);
    try {
      const a = new PostgresChangeApplier({ client: c, taskName: 't1' });
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
        tally: EMPTY_TALLY,
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
  const a = new PostgresChangeApplier({ client: await client(), taskName: 'big', flushRows: 1000 });
  a.beginTransaction({ xid: 1, finalLsn: lsn(5000) });
  let maxBuffered = 0;
  for (let i = 1; i <= 50_000; i++) {
    await a.add({ kind: 'insert', relation: big, newTuple: [String(i), `row ${i} it's \\ here`] });
    maxBuffered = Math.max(maxBuffered, a.bufferedChanges);
  }
  a.commitTransaction({ xid: 1, commitLsn: lsn(5000), endLsn: lsn(5001), commitTimeMs: 1 });
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

test('crash safety: rollback discards the uncommitted batch and keeps the committed position; replays are skipped [P2]', async () => {
  await sql(s, db, 'CREATE TABLE items (id int PRIMARY KEY, name text)');
  const c = await client();
  const a = new PostgresChangeApplier({ client: c, taskName: 'crash', flushRows: 2 });
  await sourceTransaction(a, 10, 200, [ins(1, 'one')]);
  await sourceTransaction(a, 11, 210, [ins(2, 'two')]);
  assert.equal((await a.commitBatch()).appliedLsn, lsn(211));

  await sourceTransaction(a, 12, 220, [ins(3, 'three'), ins(4, 'four'), ins(5, 'five')]);
  await a.flush(); // sent to the destination, not committed
  await a.rollback();
  assert.deepEqual(await sql(s, db, 'SELECT id FROM items ORDER BY id'), [{ id: 1 }, { id: 2 }]);
  assert.deepEqual(await readAppliedPosition(c, 'crash'), {
    lsn: lsn(211),
    commitTimeMs: 1_700_000_000_210,
    tally: EMPTY_TALLY,
  });

  // A new applier (after reconnecting) receives the stream again from before the committed position:
  // transactions already applied are skipped instead of failing on duplicate keys.
  const b = new PostgresChangeApplier({ client: await client(), taskName: 'crash' });
  await sourceTransaction(b, 11, 210, [ins(2, 'two')]);
  await sourceTransaction(b, 12, 220, [ins(3, 'three'), ins(4, 'four'), ins(5, 'five')]);
  assert.equal((await b.commitBatch()).appliedLsn, lsn(221));
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM items'), [{ n: 5 }]);
  // Nothing pending: commitBatch reports the durable position without a transaction.
  assert.equal((await b.commitBatch()).appliedLsn, lsn(221));
});

test('a constraint violation is APPLY_FAILED, not retryable, names the table; every call rethrows it until rollback() [P4]', async () => {
  await sql(s, db, 'CREATE TABLE uniq (id int PRIMARY KEY, v text)');
  const u = relation('public', 'uniq', ['id', 'v'], ['id']);
  const a = new PostgresChangeApplier({ client: await client(), taskName: 'err' });
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
  assert.throws(
    () => a.beginTransaction({ xid: 2, finalLsn: lsn(20) }),
    (e: unknown) => e instanceof PgdtsError && e.code === 'APPLY_FAILED' && e.sqlState === '23505',
  );
  await a.rollback();
  await sourceTransaction(a, 2, 20, [{ kind: 'insert', relation: u, newTuple: ['2', 'z'] }]);
  await a.commitBatch();
  assert.deepEqual(await sql(s, db, 'SELECT id, v FROM uniq'), [{ id: 2, v: 'z' }]);
});

test('a lost connection is APPLY_FAILED and retryable; a missing table is APPLY_FAILED naming it', async () => {
  await sql(s, db, 'CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text)');
  const c = await client();
  const a = new PostgresChangeApplier({ client: c, taskName: 'lost' });
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

  const b = new PostgresChangeApplier({ client: await client(), taskName: 'missing' });
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

test('commitBatch inside a source transaction is refused (a partial source transaction never becomes durable) [P1]', async () => {
  const a = new PostgresChangeApplier({ client: await client(), taskName: 'partial' });
  a.beginTransaction({ xid: 5, finalLsn: lsn(50) });
  await assert.rejects(a.commitBatch(), (e: unknown) => e instanceof PgdtsError && e.code === 'INTERNAL');
  await a.rollback();
});

test('triggers do not fire on the destination (session_replication_role = replica) [P5]', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE trig (id int PRIMARY KEY); CREATE TABLE trig_log (n int);
     CREATE FUNCTION trig_f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO trig_log VALUES (1); RETURN NEW; END$$;
     CREATE TRIGGER trig_t AFTER INSERT ON trig FOR EACH ROW EXECUTE FUNCTION trig_f()`,
  );
  const t = relation('public', 'trig', ['id'], ['id']);
  const a = new PostgresChangeApplier({ client: await client(), taskName: 'trig' });
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

test('an UPDATE or DELETE that finds no row stops the batch before its position commits, naming table, key and LSN [P3]', async () => {
  await sql(
    s,
    db,
    "CREATE TABLE gone (id int PRIMARY KEY, v text); INSERT INTO gone SELECT g, 'v' FROM generate_series(1, 10) g",
  );
  const g = relation('public', 'gone', ['id', 'v'], ['id']);
  const upd = (id: number, at: number): Change => ({
    kind: 'update',
    lsn: lsn(at),
    relation: g,
    newTuple: [String(id), 'w'],
  });
  const del = (id: number, at: number): Change => ({
    kind: 'delete',
    lsn: lsn(at),
    relation: g,
    oldKind: 'key',
    oldTuple: [String(id), null],
  });
  // Rows missing on the destination only (changed there behind the task's back).
  await sql(s, db, 'DELETE FROM gone WHERE id IN (4, 7)');

  // A single-row statement names the row at once.
  const a = new PostgresChangeApplier({ client: await client(), taskName: 'gone' });
  await sourceTransaction(a, 1, 100, [upd(4, 95)]);
  await assert.rejects(a.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof ApplyConflictError, String(e));
    assert.equal(e.code, 'APPLY_CONFLICT');
    assert.equal(e.retryable, true, 'a single-row miss is retried: the operator may restore the row');
    assert.equal(e.table, 'public.gone');
    assert.deepEqual(e.keys, ['(id)=(4)']);
    assert.equal(e.locateUpTo, undefined);
    assert.match(e.message, /UPDATE of public\.gone found no row with \(id\)=\(4\) .*LSN 0\/5F/);
    return true;
  });
  await a.rollback();
  assert.deepEqual(await readAppliedPosition(await client(), 'gone'), undefined, 'nothing committed');
  assert.deepEqual(await sql(s, db, "SELECT count(*)::int AS n FROM gone WHERE v = 'w'"), [{ n: 0 }]);

  // A multi-row DELETE that misses one of its rows says how many, and where to look row by row...
  const b = new PostgresChangeApplier({ client: await client(), taskName: 'gone' });
  await sourceTransaction(b, 2, 200, [del(5, 190), del(6, 191), del(7, 192), del(8, 193)]);
  let locateUpTo: Lsn | undefined;
  await assert.rejects(b.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof ApplyConflictError, String(e));
    assert.match(e.message, /DELETE of public\.gone found 3 of 4 rows/);
    assert.equal(e.keys.length, 4);
    locateUpTo = e.locateUpTo;
    return true;
  });
  await b.rollback();
  assert.equal(locateUpTo, lsn(193));
  // ... and replaying with one statement per change up to there names the exact row.
  const c = new PostgresChangeApplier({
    client: await client(),
    taskName: 'gone',
    ...(locateUpTo ? { singleRowUpTo: locateUpTo } : {}),
  });
  await sourceTransaction(c, 2, 200, [del(5, 190), del(6, 191), del(7, 192), del(8, 193)]);
  await assert.rejects(c.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof ApplyConflictError, String(e));
    assert.deepEqual(e.keys, ['(id)=(7)']);
    assert.match(e.message, /DELETE of public\.gone found no row with \(id\)=\(7\) .*LSN 0\/C0/);
    return true;
  });
  await c.rollback();
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM gone'), [{ n: 8 }], 'nothing deleted');
});

test('the durable position follows the destination WAL flush when synchronous_commit is off [P6]', async () => {
  await sql(s, db, 'CREATE TABLE dur (id int PRIMARY KEY)');
  const d = relation('public', 'dur', ['id'], ['id']);
  const c = await client();
  // The test servers run with synchronous_commit = off: a returned COMMIT is not yet durable.
  assert.deepEqual((await c.query<{ s: string }>("SELECT current_setting('synchronous_commit') AS s")).rows, [
    { s: 'off' },
  ]);
  const a = new PostgresChangeApplier({ client: c, taskName: 'dur' });
  assert.deepEqual(await a.durablePosition(), { lsn: undefined, complete: true });
  await sourceTransaction(a, 1, 300, [{ kind: 'insert', relation: d, newTuple: ['1'] }]);
  await a.commitBatch();
  // The WAL writer flushes within wal_writer_delay (200 ms); until then the batch is not durable.
  let p = await a.durablePosition();
  for (let i = 0; i < 100 && !p.complete; i++) {
    await new Promise((r) => setTimeout(r, 25));
    p = await a.durablePosition();
  }
  assert.deepEqual(p, { lsn: lsn(301), complete: true });

  // With synchronous_commit on, the COMMIT itself is durable.
  const on = await client();
  await on.query('SET synchronous_commit = on');
  const b = new PostgresChangeApplier({ client: on, taskName: 'dur' });
  await sourceTransaction(b, 2, 310, [{ kind: 'insert', relation: d, newTuple: ['2'] }]);
  await b.commitBatch();
  assert.deepEqual(await b.durablePosition(), { lsn: lsn(311), complete: true });
});

test('a flush that fails while in flight surfaces its own error at the next call, retryable with its SQLSTATE, never INTERNAL [P4]', async () => {
  await sql(
    s,
    db,
    `CREATE TABLE slowfail (id int PRIMARY KEY);
     CREATE FUNCTION slowfail_f() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN IF NEW.id = 2 THEN PERFORM pg_sleep(0.2); RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01'; END IF; RETURN NEW; END $$;
     CREATE TRIGGER slowfail_t BEFORE INSERT ON slowfail FOR EACH ROW EXECUTE FUNCTION slowfail_f();
     ALTER TABLE slowfail ENABLE ALWAYS TRIGGER slowfail_t`,
  );
  const t = relation('public', 'slowfail', ['id'], ['id']);
  const a = new PostgresChangeApplier({ client: await client(), taskName: 'slowfail', flushRows: 2 });
  a.beginTransaction({ xid: 1, finalLsn: lsn(10) });
  await a.add({ kind: 'insert', relation: t, newTuple: ['1'] });
  // The second change fills the buffer: the flush goes out and is not awaited (pipelining).
  await a.add({ kind: 'insert', relation: t, newTuple: ['2'] });
  await new Promise((r) => setTimeout(r, 600)); // it fails meanwhile, between two calls
  const isOriginal = (e: unknown) =>
    e instanceof PgdtsError && e.code === 'APPLY_FAILED' && e.retryable && e.sqlState === '40P01';
  assert.throws(() => a.add({ kind: 'insert', relation: t, newTuple: ['3'] }), isOriginal);
  await assert.rejects(a.commitBatch(), isOriginal);
  await a.rollback();
  assert.deepEqual(await sql(s, db, 'SELECT count(*)::int AS n FROM slowfail'), [{ n: 0 }]);
});
