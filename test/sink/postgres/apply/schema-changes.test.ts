/**
 * Column changes in the applier's open transaction [P8]: rows buffered before the ALTER are sent
 * against the old columns, rows after it against the new ones, and the ALTER commits with them and
 * the applied position (P1) — or, rolled back (a crash before the COMMIT), not at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change } from '../../../../src/core/change.ts';
import { readAppliedPosition } from '../../../../src/sink/postgres/apply/applied-position.ts';
import { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
import { columnChangeSql } from '../../../../src/sink/postgres/apply/schema-changes.ts';
import { freshDatabase, sql, testServer } from '../../../support/servers.ts';
import { destinationClient, lsn, relation } from './apply-fixtures.ts';

const before = relation('public', 'items', ['id', 'name', 'old'], ['id']);
const after = relation('public', 'items', ['id', 'name', 'n'], ['id']);
const ins = (r: typeof before, t: string[]): Change => ({ kind: 'insert', relation: r, newTuple: t });

test('[P8] an ALTER between buffered rows commits atomically with them and the position; a rollback undoes it', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'apply_ddl');
  await sql(
    s,
    db,
    "CREATE TABLE items (id int PRIMARY KEY, name text, old text); INSERT INTO items VALUES (1, 'a', 'x')",
  );
  const c = await destinationClient(s, db);
  try {
    const a = new PostgresChangeApplier({ client: c, taskName: 'ddl' });
    const cols = async () =>
      (await a.schemaChanges.columns({ schema: 'public', name: 'items' }))?.map(
        (x) => `${x.name} ${x.typeName}`,
      );
    const run = async (xid: number) => {
      a.beginTransaction({ xid, finalLsn: lsn(xid * 10) });
      await a.add(ins(before, [String(xid * 10), 'b', 'y']));
      await a.schemaChanges.alter({ schema: 'public', name: 'items' }, [
        { kind: 'add', column: 'n', typeName: 'integer', existingRows: '5' },
        { kind: 'drop', column: 'old' },
      ]);
      await a.add(ins(after, [String(xid * 10 + 1), 'c', '7']));
      a.commitTransaction({ xid, commitLsn: lsn(xid * 10), endLsn: lsn(xid * 10 + 1), commitTimeMs: 1 });
    };
    await run(1);
    assert.deepEqual(await cols(), ['id integer', 'name text', 'n integer']);
    // A crash before the COMMIT: nothing of it stays, and the applier reads the table again.
    await a.rollback();
    assert.deepEqual(await cols(), ['id integer', 'name text', 'old text']);
    await a.rollback();
    assert.deepEqual(await sql(s, db, 'SELECT id FROM items ORDER BY id'), [{ id: 1 }]);
    assert.equal(await readAppliedPosition(c, 'ddl'), undefined);
    // The replay makes it again, and it commits with the rows and the position.
    await run(1);
    await a.commitBatch();
    assert.deepEqual(await sql(s, db, 'SELECT id, name, n FROM items ORDER BY id'), [
      { id: 1, name: 'a', n: 5 },
      { id: 10, name: 'b', n: 5 },
      { id: 11, name: 'c', n: 7 },
    ]);
    assert.deepEqual(
      await sql(
        s,
        db,
        "SELECT column_default FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'n'",
      ),
      [{ column_default: null }],
    );
    assert.equal((await readAppliedPosition(c, 'ddl'))?.lsn, lsn(11));
    await a.close();
  } finally {
    await c.end().catch(() => undefined);
  }
});

test('[P8] the SQL of column changes: a constant DEFAULT for the existing rows, dropped at once; a cast for a new type', () => {
  assert.deepEqual(
    columnChangeSql({ schema: 'app', name: 'T x' }, [
      { kind: 'add', column: 'n', typeName: 'integer', existingRows: null },
      { kind: 'add', column: 'Note', typeName: 'character varying(10)', existingRows: "it's" },
      { kind: 'drop', column: 'old' },
      { kind: 'retype', column: 'k', typeName: 'bigint' },
    ]),
    [
      'ALTER TABLE "app"."T x" ADD COLUMN "n" integer',
      `ALTER TABLE "app"."T x" ADD COLUMN "Note" character varying(10) DEFAULT 'it''s'::character varying(10)`,
      'ALTER TABLE "app"."T x" ALTER COLUMN "Note" DROP DEFAULT',
      'ALTER TABLE "app"."T x" DROP COLUMN "old"',
      'ALTER TABLE "app"."T x" ALTER COLUMN "k" TYPE bigint USING "k"::bigint',
    ],
  );
});
