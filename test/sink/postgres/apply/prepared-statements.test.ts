/**
 * The applier's parameterized multi-row statements: prepared once per connection and reused by later
 * flushes [P10]; a failing one stops the batch with its own error and nothing after it, the COMMIT
 * included, reaches the destination [P4].
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import type { Change } from '../../../../src/core/change.ts';
import { PgdtsError } from '../../../../src/core/errors.ts';
import { readAppliedPosition } from '../../../../src/sink/postgres/apply/applied-position.ts';
import { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';
import { destinationClient, lsn, relation, sourceTransaction } from './apply-fixtures.ts';

const s = testServer(15);
let db: string;
const clients: pg.Client[] = [];

before(async () => {
  db = await freshDatabase(s, 'apply_prepared');
  await sql(s, db, 'CREATE TABLE acc (id int PRIMARY KEY, bal int NOT NULL, note text)');
});
after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
});

const acc = relation('public', 'acc', ['id', 'bal', 'note'], ['id']);
const ins = (id: number, bal: number): Change => ({
  kind: 'insert',
  relation: acc,
  newTuple: [String(id), String(bal), `n${id}`],
});
const upd = (id: number, bal: number): Change => ({
  kind: 'update',
  relation: acc,
  newTuple: [String(id), String(bal), `n${id}`],
});

async function preparedOn(c: pg.Client): Promise<string[]> {
  const r = await c.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'pgdts\\_%' ORDER BY statement",
  );
  return r.rows.map((x) => x.statement.replace(/\s+/g, ' ').slice(0, 40));
}

test('multi-row statements are prepared once per connection and reused by later batches [P10]', async () => {
  const c = await destinationClient(s, db);
  clients.push(c);
  // One row per flush would be single-row statements: flush at 50 changes.
  const a = new PostgresChangeApplier({ client: c, taskName: 'p10', flushRows: 50 });
  const ids = Array.from({ length: 120 }, (_, i) => i);
  await sourceTransaction(
    a,
    1,
    100,
    ids.map((i) => ins(i, i)),
  );
  await a.commitBatch();
  const first = await preparedOn(c);
  assert.deepEqual(first, ['INSERT INTO "public"."acc" ("id", "bal",']);
  for (let round = 1; round <= 3; round++) {
    await sourceTransaction(
      a,
      1 + round,
      100 + 10 * round,
      ids.map((i) => upd(i, i + round)),
    );
    await a.commitBatch();
  }
  // Three batches of three flushes each (50, 50, 20 rows) through one UPDATE statement.
  assert.deepEqual(await preparedOn(c), [...first, 'UPDATE "public"."acc" AS d SET "bal" = v']);
  assert.deepEqual(await sql(s, db, 'SELECT sum(bal)::int AS s, count(*)::int AS n FROM acc'), [
    { s: ids.reduce((n, i) => n + i + 3, 0), n: 120 },
  ]);
  assert.equal((await readAppliedPosition(c, 'p10'))?.lsn, lsn(131));
  await a.close();
});

test('a failing parameterized statement fails the batch with its own error; nothing after it runs, the position does not move [P4]', async () => {
  const c = await destinationClient(s, db);
  clients.push(c);
  const a = new PostgresChangeApplier({ client: c, taskName: 'p4', flushRows: 1000 });
  await sourceTransaction(a, 10, 200, [ins(1000, 1), ins(1001, 2)]);
  await a.commitBatch();
  // Row 1 exists: the multi-row INSERT fails with 23505; the insert after it must not run either.
  await sourceTransaction(a, 11, 210, [ins(1002, 3), ins(1, 4)]);
  await sourceTransaction(a, 12, 220, [
    { kind: 'delete', relation: acc, oldKind: 'key', oldTuple: ['1000', null, null] },
  ]);
  await assert.rejects(a.commitBatch(), (e: unknown) => {
    assert.ok(e instanceof PgdtsError);
    assert.equal(e.code, 'APPLY_FAILED');
    assert.equal(e.sqlState, '23505');
    return true;
  });
  await a.rollback();
  assert.equal((await readAppliedPosition(c, 'p4'))?.lsn, lsn(201));
  assert.deepEqual(await sql(s, db, 'SELECT id FROM acc WHERE id >= 1000 ORDER BY id'), [
    { id: 1000 },
    { id: 1001 },
  ]);
  await a.close();
});
