/**
 * Decodes real pgoutput bytes from the test servers (13, 15, 17), read through
 * pg_logical_slot_get_binary_changes, and converts them into core changes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { UNCHANGED_TOAST, type Change } from '../../../../src/core/change.ts';
import { parseLsn } from '../../../../src/core/lsn.ts';
import { PgoutputStreamDecoder } from '../../../../src/source/postgres/pgoutput/pgoutput-decoder.ts';
import type { PgoutputMessage } from '../../../../src/source/postgres/pgoutput/pgoutput-message.ts';
import { RelationCache } from '../../../../src/source/postgres/pgoutput/relation-cache.ts';
import { freshDatabase, testServers, type TestServer } from '../../../support/servers.ts';

async function client(s: TestServer, database: string): Promise<pg.Client> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database });
  await c.connect();
  // pgoutput prints values with the decoding session's settings. The test servers run with
  // synchronous_commit = off, and the slot functions decode only WAL already flushed: without
  // synchronous commits the last transactions could be missing from what we read.
  await c.query(
    `SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET bytea_output = 'hex'; SET synchronous_commit = on`,
  );
  return c;
}

interface Decoded {
  readonly xid: number;
  readonly msg: PgoutputMessage;
}

/** Reads and consumes the slot's pending changes, decoding every row. */
async function readSlot(c: pg.Client, slot: string, options: Record<string, string>): Promise<Decoded[]> {
  const opts = Object.entries(options).flatMap(([k, v]) => [k, v]);
  const placeholders = opts.map((_, i) => `$${i + 2}`).join(', ');
  const rows = await c.query<{ xid: string; data: Buffer }>(
    `SELECT xid::text AS xid, data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL, ${placeholders})`,
    [slot, ...opts],
  );
  const decoder = new PgoutputStreamDecoder();
  return rows.rows.map((r) => ({ xid: Number(r.xid), msg: decoder.decode(r.data) }));
}

/** Splits Begin..Commit groups (non-transactional messages come on their own). */
function transactions(all: readonly Decoded[]): PgoutputMessage[][] {
  const out: PgoutputMessage[][] = [];
  let cur: PgoutputMessage[] | undefined;
  for (const { msg } of all) {
    if (msg.tag === 'begin') cur = [msg];
    else if (cur) {
      cur.push(msg);
      if (msg.tag === 'commit') {
        out.push(cur);
        cur = undefined;
      }
    } else out.push([msg]);
  }
  assert.equal(cur, undefined, 'unterminated transaction');
  return out;
}

const BIG = "string_agg(md5(g::text), '') AS v FROM generate_series(1, 400) g";

for (const server of testServers()) {
  describe(`pgoutput on PostgreSQL ${server.version}`, () => {
    test('proto_version 1: every message type our tables produce, converted into changes', async () => {
      const db = await freshDatabase(server, 'pgout');
      const c = await client(server, db);
      const hasMessages = server.version >= 14;
      try {
        await c.query(`
          CREATE TYPE mood AS ENUM ('ok', 'sad');
          CREATE TABLE items (
            id bigint PRIMARY KEY, name text, qty integer, price numeric(10,2), at timestamptz, flags boolean,
            tags text[], doc jsonb, raw bytea, m mood, big text);
          ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
          CREATE TABLE "Full RI" (id int, v text);
          ALTER TABLE "Full RI" REPLICA IDENTITY FULL;
          CREATE PUBLICATION pub FOR TABLE items, "Full RI";`);
        // A slot cannot be created in a transaction that wrote, so not in the multi-statement query above.
        await c.query(`SELECT pg_create_logical_replication_slot('s_v1', 'pgoutput')`);
        const bigText = (await c.query<{ v: string }>(`SELECT ${BIG}`)).rows[0]?.v;
        assert.ok(bigText !== undefined && bigText.length === 12800);
        await c.query(`BEGIN;
          INSERT INTO items VALUES (1, 'a ü "q"', 5, 12.5, '2024-01-02 03:04:05.678+00', true, '{x,"y z"}',
            '{"a": 1}', '\\x00ff', 'ok', (SELECT ${BIG}));
          INSERT INTO items (id) VALUES (2);
          COMMIT`);
        await c.query(`UPDATE items SET qty = qty + 1 WHERE id = 1`);
        await c.query(`UPDATE items SET id = 10 WHERE id = 2`);
        await c.query(`BEGIN; INSERT INTO "Full RI" VALUES (1, 'x'); UPDATE "Full RI" SET v = 'y';
          DELETE FROM "Full RI"; COMMIT`);
        await c.query(`DELETE FROM items WHERE id = 10`);
        await c.query(`TRUNCATE items, "Full RI" RESTART IDENTITY CASCADE`);
        if (hasMessages) {
          await c.query(`SELECT pg_logical_emit_message(false, 'pgdts', 'non-tx')`);
          await c.query(`BEGIN; SELECT pg_logical_emit_message(true, 'pgdts', '\\x0001ff'::bytea); COMMIT`);
        }
        // A transaction replayed from a replication origin carries an Origin message.
        await c.query(`SELECT pg_replication_origin_create($1)`, [db]);
        await c.query(`SELECT pg_replication_origin_session_setup($1)`, [db]);
        await c.query(`BEGIN; SELECT pg_replication_origin_xact_setup('0/ABCDEF', now());
          INSERT INTO items (id) VALUES (3); COMMIT`);
        await c.query(`SELECT pg_replication_origin_session_reset()`);

        const decoded = await readSlot(c, 's_v1', {
          proto_version: '1',
          publication_names: 'pub',
          ...(hasMessages ? { messages: 'true' } : {}),
        });
        for (const d of decoded)
          if ('xid' in d.msg && d.msg.tag !== 'begin') assert.fail('v1 change with an xid');
        const txs = transactions(decoded);
        const tags = txs.map((t) => t.map((m) => m.tag).join(' '));
        assert.deepEqual(tags, [
          'begin type relation insert insert commit',
          'begin update commit',
          'begin update commit',
          'begin relation insert update delete commit',
          'begin delete commit',
          // TRUNCATE gives the tables new files, which invalidates what pgoutput sent: it resends them.
          'begin type relation relation truncate commit',
          ...(hasMessages ? ['message', 'begin message commit'] : []),
          // Before 15, pgoutput also sends transactions without published changes (here: creating the origin).
          ...(server.version < 15 ? ['begin commit'] : []),
          'begin origin type relation insert commit',
        ]);

        const now = Date.now();
        for (const t of txs) {
          const begin = t[0];
          const commit = t.at(-1);
          if (begin?.tag !== 'begin' || commit?.tag !== 'commit') continue;
          assert.equal(begin.finalLsn, commit.commitLsn);
          assert.ok(commit.endLsn > commit.commitLsn);
          assert.equal(begin.commitTimeMs, commit.commitTimeMs);
          assert.ok(Math.abs(now - commit.commitTimeMs) < 10 * 60_000, `commit time ${commit.commitTimeMs}`);
          for (const d of decoded) if (d.msg === begin) assert.equal(begin.xid, d.xid);
        }

        const cache = new RelationCache();
        const changes: Change[] = [];
        for (const { msg } of decoded) {
          if (msg.tag === 'relation') cache.add(msg);
          if (msg.tag === 'insert' || msg.tag === 'update' || msg.tag === 'delete' || msg.tag === 'truncate')
            changes.push(cache.toChange(msg));
        }
        const typeMsg = txs[0]?.[1];
        const relMsg = txs[0]?.[2];
        assert.ok(typeMsg?.tag === 'type' && relMsg?.tag === 'relation');
        assert.deepEqual([typeMsg.namespace, typeMsg.name], ['public', 'mood']);
        const oids = (
          await c.query<{ relid: number; mood: number }>(
            `SELECT 'items'::regclass::oid::int AS relid, 'mood'::regtype::oid::int AS mood`,
          )
        ).rows[0];
        assert.equal(typeMsg.typeOid, oids?.mood);
        const items = cache.get(relMsg.relationId);
        assert.equal(items.id, oids?.relid);
        assert.deepEqual(
          { schema: items.schema, name: items.name, ri: items.replicaIdentity },
          { schema: 'public', name: 'items', ri: 'default' },
        );
        assert.deepEqual(
          items.columns.map((col) => [col.name, col.isKey, col.typeModifier]),
          [
            ['id', true, -1],
            ['name', false, -1],
            ['qty', false, -1],
            ['price', false, (10 << 16) + 2 + 4],
            ['at', false, -1],
            ['flags', false, -1],
            ['tags', false, -1],
            ['doc', false, -1],
            ['raw', false, -1],
            ['m', false, -1],
            ['big', false, -1],
          ],
        );
        assert.deepEqual(
          items.columns.slice(0, 9).map((col) => col.typeOid),
          [20, 25, 23, 1700, 1184, 16, 1009, 3802, 17],
        );
        assert.equal(items.columns[9]?.typeOid, oids?.mood);
        const full = cache.get(changes[4]?.kind === 'insert' ? changes[4].relation.id : -1);
        assert.deepEqual([full.schema, full.name, full.replicaIdentity], ['public', 'Full RI', 'full']);
        assert.deepEqual(
          full.columns.map((col) => col.isKey),
          [true, true],
        );

        const row1 = [
          '1',
          'a ü "q"',
          '5',
          '12.50',
          '2024-01-02 03:04:05.678+00',
          't',
          '{x,"y z"}',
          '{"a": 1}',
        ];
        const nulls = (n: number): null[] => new Array<null>(n).fill(null);
        assert.deepEqual(changes[0], {
          kind: 'insert',
          relation: items,
          newTuple: [...row1, '\\x00ff', 'ok', bigText],
        });
        assert.deepEqual(changes[1], { kind: 'insert', relation: items, newTuple: ['2', ...nulls(10)] });
        // UPDATE not touching the TOASTed column: the marker, never null.
        const upd = changes[2];
        assert.ok(upd?.kind === 'update');
        assert.deepEqual(upd, {
          kind: 'update',
          relation: items,
          newTuple: ['1', 'a ü "q"', '6', ...row1.slice(3), '\\x00ff', 'ok', UNCHANGED_TOAST],
        });
        assert.equal(upd.newTuple[10], UNCHANGED_TOAST);
        assert.notEqual(upd.newTuple[10], null);
        assert.deepEqual(changes[3], {
          kind: 'update',
          relation: items,
          oldKind: 'key',
          oldTuple: ['2', ...nulls(10)],
          newTuple: ['10', ...nulls(10)],
        });
        assert.deepEqual(changes.slice(4, 7), [
          { kind: 'insert', relation: full, newTuple: ['1', 'x'] },
          { kind: 'update', relation: full, oldKind: 'full', oldTuple: ['1', 'x'], newTuple: ['1', 'y'] },
          { kind: 'delete', relation: full, oldKind: 'full', oldTuple: ['1', 'y'] },
        ]);
        assert.deepEqual(changes[7], {
          kind: 'delete',
          relation: items,
          oldKind: 'key',
          oldTuple: ['10', ...nulls(10)],
        });
        assert.deepEqual(changes[8], {
          kind: 'truncate',
          relations: [items, full],
          cascade: true,
          restartIdentity: true,
        });
        assert.deepEqual(changes[9], { kind: 'insert', relation: items, newTuple: ['3', ...nulls(10)] });
        assert.equal(changes.length, 10);

        if (hasMessages) {
          const [nonTx, tx] = [txs[6]?.[0], txs[7]?.[1]];
          assert.ok(nonTx?.tag === 'message' && tx?.tag === 'message');
          assert.deepEqual(
            [nonTx.transactional, nonTx.prefix, nonTx.content.toString()],
            [false, 'pgdts', 'non-tx'],
          );
          assert.deepEqual([tx.transactional, tx.prefix, [...tx.content]], [true, 'pgdts', [0, 1, 255]]);
          assert.ok(tx.lsn > 0n);
        }
        const origin = txs.at(-1)?.[1];
        assert.ok(txs.at(-1)?.every((m) => !('xid' in m) || m.tag === 'begin'));
        assert.ok(origin?.tag === 'origin');
        assert.deepEqual([origin.name, origin.originLsn], [db, parseLsn('0/ABCDEF')]);
      } finally {
        await c.query(`SELECT pg_drop_replication_slot('s_v1')`).catch(() => undefined);
        // Replication origins belong to the whole cluster, not to the test's database.
        await c.query(`SELECT pg_replication_origin_drop($1)`, [db]).catch(() => undefined);
        await c.end();
      }
    });

    if (server.version >= 15) {
      const variants: { proto: string; streaming: string; abortInfo: boolean }[] = [
        { proto: '2', streaming: 'on', abortInfo: false },
        ...(server.version >= 16 ? [{ proto: '4', streaming: 'parallel', abortInfo: true }] : []),
      ];
      for (const v of variants)
        test(`proto_version ${v.proto}, streaming ${v.streaming}: large transactions arrive in stream blocks`, async () => {
          const db = await freshDatabase(server, 'pgstream');
          const c = await client(server, db);
          try {
            await c.query(`
              CREATE TABLE t (id int PRIMARY KEY, v text);
              CREATE PUBLICATION pub FOR TABLE t;`);
            await c.query(`SELECT pg_create_logical_replication_slot('s_stream', 'pgoutput')`);
            await c.query(`INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 3000) g`);
            await c.query(
              `BEGIN; INSERT INTO t SELECT g, 'gone' FROM generate_series(5001, 8000) g; ROLLBACK`,
            );
            await c.query(`BEGIN; INSERT INTO t VALUES (-1, 'small'); COMMIT`);
            await c.query(`SET logical_decoding_work_mem = '64kB'`);
            const decoded = await readSlot(c, 's_stream', {
              proto_version: v.proto,
              publication_names: 'pub',
              streaming: v.streaming,
            });
            const xids = [...new Set(decoded.map((d) => d.xid))];
            assert.equal(xids.length, 3, 'three transactions');
            const [bigXid, abortedXid] = xids as [number, number, number];

            // Walk the blocks: every message inside one carries the streamed xid.
            let open: number | undefined;
            const starts = new Map<number, number>();
            const inserted = new Map<number, number>();
            let relationsInStream = 0;
            for (const { xid, msg } of decoded) {
              if (msg.tag === 'stream-start') {
                assert.equal(open, undefined);
                assert.equal(msg.xid, xid);
                assert.equal(msg.firstSegment, !starts.has(msg.xid));
                starts.set(msg.xid, (starts.get(msg.xid) ?? 0) + 1);
                open = msg.xid;
              } else if (msg.tag === 'stream-stop') {
                assert.notEqual(open, undefined);
                open = undefined;
              } else if (msg.tag === 'relation' || msg.tag === 'insert') {
                if (open !== undefined) {
                  assert.equal(msg.xid, open);
                  if (msg.tag === 'relation') relationsInStream++;
                } else assert.equal('xid' in msg, false);
                if (msg.tag === 'insert') inserted.set(xid, (inserted.get(xid) ?? 0) + 1);
              } else assert.equal(open, undefined, `${msg.tag} inside a stream block`);
            }
            assert.ok((starts.get(bigXid) ?? 0) >= 2, 'the big transaction was streamed in several blocks');
            assert.ok((starts.get(abortedXid) ?? 0) >= 1, 'the aborted transaction was streamed');
            assert.ok(relationsInStream >= 1);
            assert.equal(inserted.get(bigXid), 3000);

            const commit = decoded.find((d) => d.msg.tag === 'stream-commit')?.msg;
            assert.ok(commit?.tag === 'stream-commit');
            assert.equal(commit.xid, bigXid);
            assert.ok(commit.endLsn > commit.commitLsn);
            assert.ok(Math.abs(Date.now() - commit.commitTimeMs) < 10 * 60_000);

            const abort = decoded.find((d) => d.msg.tag === 'stream-abort')?.msg;
            assert.ok(abort?.tag === 'stream-abort');
            assert.deepEqual([abort.xid, abort.subXid], [abortedXid, abortedXid]);
            if (v.abortInfo) {
              assert.ok(abort.abortLsn !== undefined && abort.abortLsn > commit.endLsn);
              assert.ok(
                abort.abortTimeMs !== undefined && Math.abs(Date.now() - abort.abortTimeMs) < 10 * 60_000,
              );
            } else assert.equal('abortLsn' in abort, false);

            // The small transaction is sent whole, as in protocol v1.
            const tail = decoded.slice(-3).map((d) => d.msg.tag);
            assert.deepEqual(tail, ['begin', 'insert', 'commit']);

            // Converted through the relation cache, streamed inserts are ordinary changes.
            const cache = new RelationCache();
            let firstNew: Change | undefined;
            for (const { msg } of decoded) {
              if (msg.tag === 'relation') cache.add(msg);
              else if (msg.tag === 'insert' && firstNew === undefined) firstNew = cache.toChange(msg);
            }
            assert.ok(firstNew?.kind === 'insert');
            assert.deepEqual(firstNew.newTuple, ['1', 'row 1']);
          } finally {
            await c.query(`SELECT pg_drop_replication_slot('s_stream')`).catch(() => undefined);
            await c.end();
          }
        });
    }
  });
}
