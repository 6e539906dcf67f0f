/**
 * Retry windows of real server and socket errors, as pg/connection.ts classifies them from the table
 * in core/sqlstate.ts: a server or network that is away is a connection failure
 * (`retry.connectionMinutes`); a deadlock, a statement timeout or a lock held elsewhere is not
 * (`retry.otherMinutes`); a failed connect is a connection failure whatever its cause.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { PgdtsError } from '../../src/core/errors.ts';
import { freePort } from '../../src/embedded/embedded-server.ts';
import { connect, resolveEndpoint, wrapPgError, type ConnectionParams } from '../../src/pg/connection.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf } from '../support/servers.ts';

function params(url: string): ConnectionParams {
  return resolveEndpoint({ type: 'postgresql', url, connectTimeoutMs: 2_000 }, {});
}

/** The PgdtsError `fn` fails with: thrown as is, or a query error wrapped as the sink wraps it. */
async function failure(fn: () => Promise<unknown>): Promise<PgdtsError> {
  try {
    await fn();
  } catch (e) {
    return e instanceof PgdtsError ? e : wrapPgError('APPLY_FAILED', 'statement', e);
  }
  assert.fail('expected a failure');
}

test('connection failures: refused, too many connections, a terminated backend, a lost connection', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'win');
  const refused = await failure(async () =>
    connect(params(`postgresql://postgres:x@127.0.0.1:${await freePort()}/x`), { role: 'source' }),
  );
  assert.deepEqual(
    [refused.code, refused.retryable, refused.retryWindow],
    ['CONNECTION_FAILED', true, 'connection'],
  );
  assert.match(refused.message, /ECONNREFUSED/);

  // 53300 is class 53 (resources): in a statement that is not a connection failure, at connect it is.
  await sql(
    s,
    db,
    `DROP ROLE IF EXISTS win_full; CREATE ROLE win_full LOGIN PASSWORD 'pw' CONNECTION LIMIT 0`,
  );
  const full = await failure(() =>
    connect(params(`postgresql://win_full:pw@${s.host}:${s.port}/${db}`), { role: 'destination' }),
  );
  assert.deepEqual([full.sqlState, full.retryable, full.retryWindow], ['53300', true, 'connection']);
  await sql(s, db, 'DROP ROLE win_full');

  const c = await connect(params(urlOf(s, db)), { role: 'destination' });
  try {
    const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const query = failure(() => c.query('SELECT pg_sleep(30)'));
    await until('the query to sleep', async () => {
      const r = await sql<{ n: number }>(
        s,
        db,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'`,
        [pid],
      );
      return r[0]?.n === 1;
    });
    await sql(s, db, 'SELECT pg_terminate_backend($1)', [pid]);
    const terminated = await query;
    assert.deepEqual(
      [terminated.sqlState, terminated.retryable, terminated.retryWindow],
      ['57P01', true, 'connection'],
    );
    assert.match(terminated.message, /SQLSTATE 57P01, operator/);
    const lost = await failure(() => c.query('SELECT 1'));
    assert.deepEqual([lost.sqlState, lost.retryable, lost.retryWindow], [undefined, true, 'connection']);
  } finally {
    await c.end().catch(() => undefined);
  }
});

test('other retryable errors: a deadlock, a serialization failure, a statement timeout, a lock held elsewhere', async () => {
  const s = testServer(17);
  const db = await freshDatabase(s, 'win');
  await sql(s, db, 'CREATE TABLE t (id int PRIMARY KEY)');
  const c: pg.Client = await connect(params(urlOf(s, db)), { role: 'destination' });
  const holder: pg.Client = await connect(params(urlOf(s, db)), { role: 'destination' });
  try {
    const raise = (code: string) =>
      failure(() => c.query(`DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '${code}'; END $$`));
    for (const [code, klass] of [
      ['40P01', 'transaction-rollback'],
      ['40001', 'transaction-rollback'],
      ['53100', 'resources'],
      ['58030', 'system'],
    ] as const) {
      const e = await raise(code);
      assert.deepEqual([e.sqlState, e.retryable, e.retryWindow], [code, true, 'other'], e.message);
      assert.match(e.message, new RegExp(`SQLSTATE ${code}, ${klass}`));
    }
    const timeout = await failure(() => c.query('SET statement_timeout = 50; SELECT pg_sleep(5)'));
    assert.deepEqual([timeout.sqlState, timeout.retryable, timeout.retryWindow], ['57014', true, 'other']);
    assert.match(timeout.message, /query-canceled/);
    await c.query('RESET statement_timeout');
    await holder.query('BEGIN; LOCK TABLE t');
    const locked = await failure(() => c.query('BEGIN; LOCK TABLE t NOWAIT'));
    await c.query('ROLLBACK');
    assert.deepEqual([locked.sqlState, locked.retryable, locked.retryWindow], ['55P03', true, 'other']);
    // Not retryable: its window does not matter, but it is never the connection's.
    const data = await raise('23505');
    assert.deepEqual([data.retryable, data.retryWindow], [false, 'other']);
  } finally {
    await c.end().catch(() => undefined);
    await holder.end().catch(() => undefined);
  }
});
