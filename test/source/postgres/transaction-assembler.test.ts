/**
 * The transaction assembler, sans I/O, fed with pgoutput messages built from the protocol docs
 * (byte-builder.ts): plain and streamed transactions, subtransaction aborts, skipping below the
 * applied position and before a start time, watermarks, logical messages. Invariants cited:
 * transaction-assembler.ts A1–A4.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ChangeEvent } from '../../../src/core/source.ts';
import type { Lsn } from '../../../src/core/lsn.ts';
import type { PgoutputMessage } from '../../../src/source/postgres/pgoutput/pgoutput-message.ts';
import {
  TransactionAssembler,
  type AssemblerOutput,
} from '../../../src/source/postgres/transaction-assembler.ts';
import { ByteBuilder, encodePgoutput } from './pgoutput/byte-builder.ts';

const lsn = (n: number) => BigInt(n) as Lsn;
const T0 = 1_700_000_000_000;

const relation = (xid?: number): PgoutputMessage => ({
  tag: 'relation',
  ...(xid !== undefined ? { xid } : {}),
  relationId: 16400,
  namespace: 'public',
  name: 't',
  replicaIdentity: 'default',
  columns: [
    { name: 'id', typeOid: 23, typeModifier: -1, isKey: true },
    { name: 'v', typeOid: 25, typeModifier: -1, isKey: false },
  ],
});
const insert = (id: number, xid?: number): PgoutputMessage => ({
  tag: 'insert',
  ...(xid !== undefined ? { xid } : {}),
  relationId: 16400,
  newTuple: [String(id), `v${id}`],
});
const begin = (xid: number, at: number): PgoutputMessage => ({
  tag: 'begin',
  finalLsn: lsn(at),
  commitTimeMs: T0 + at,
  xid,
});
const commit = (at: number): PgoutputMessage => ({
  tag: 'commit',
  commitLsn: lsn(at),
  endLsn: lsn(at + 8),
  commitTimeMs: T0 + at,
});

/**
 * Drives an assembler as the change stream does: spill actions go to an in-memory store, replays
 * read it back. Returns the events delivered, the spill store (to check it ends empty) and the
 * logical messages handed out (with the transaction they came in).
 */
function drive(
  a: TransactionAssembler,
  messages: readonly (PgoutputMessage | { keepalive: number })[],
): {
  events: ChangeEvent[];
  store: Map<number, { lsn: Lsn; data: Buffer }[]>;
  logical: { prefix: string; content: string; inXid: number | undefined }[];
} {
  const store = new Map<number, { lsn: Lsn; data: Buffer }[]>();
  const events: ChangeEvent[] = [];
  const logical: { prefix: string; content: string; inXid: number | undefined }[] = [];
  let openXid: number | undefined;
  let at = 1;
  const handle = (o: AssemblerOutput | undefined) => {
    if (o === undefined) return;
    switch (o.kind) {
      case 'spill':
        store.set(o.xid, [...(store.get(o.xid) ?? []), { lsn: o.lsn, data: o.data }]);
        return;
      case 'discard':
        store.delete(o.xid);
        return;
      case 'replay': {
        events.push(o.begin);
        for (const m of store.get(o.xid) ?? []) {
          const e = a.replay(m.data, m.lsn, o.abortedSubXids);
          if (e !== undefined && e.kind !== 'logical-message') events.push(e);
        }
        store.delete(o.xid);
        events.push(o.commit);
        return;
      }
      case 'logical-message':
        logical.push({ prefix: o.prefix, content: o.content.toString(), inXid: openXid });
        return;
      default:
        if (o.kind === 'begin') openXid = o.xid;
        if (o.kind === 'commit') openXid = undefined;
        events.push(o);
    }
  };
  for (const m of messages) {
    if ('keepalive' in m) handle(a.keepalive(lsn(m.keepalive)));
    else handle(a.push(encodePgoutput(m), lsn(at++ * 16)));
  }
  return { events, store, logical };
}

/** The ids inserted by each committed transaction, in delivery order. */
function transactions(events: readonly ChangeEvent[]): { xid: number; ids: string[] }[] {
  const out: { xid: number; ids: string[] }[] = [];
  let open: { xid: number; ids: string[] } | undefined;
  for (const e of events) {
    switch (e.kind) {
      case 'begin':
        assert.equal(open, undefined, 'A1: no transaction begins inside another');
        open = { xid: e.xid, ids: [] };
        break;
      case 'change':
        assert.ok(open, 'A1: changes only inside a transaction');
        if (e.change.kind === 'insert') open.ids.push(String(e.change.newTuple[0]));
        break;
      case 'commit':
        assert.ok(open, 'A1: commit closes an open transaction');
        assert.equal(e.commit.xid, open.xid);
        out.push(open);
        open = undefined;
        break;
      case 'watermark':
        assert.equal(open, undefined, 'A3: no watermark inside a transaction');
        break;
      case 'ddl':
        assert.ok(open, 'A1: DDL messages only inside a transaction');
        break;
    }
  }
  assert.equal(open, undefined);
  return out;
}

test('a plain transaction comes out whole: begin, its changes with their WAL positions, commit [A1]', () => {
  const a = new TransactionAssembler(lsn(0));
  const { events } = drive(a, [relation(), begin(7, 100), insert(1), insert(2), commit(100)]);
  assert.deepEqual(
    events.map((e) => e.kind),
    ['begin', 'change', 'change', 'commit'],
  );
  const [b, c1, , cm] = events;
  assert.deepEqual(b, { kind: 'begin', xid: 7, finalLsn: lsn(100), commitTimeMs: T0 + 100 });
  assert.ok(c1?.kind === 'change' && c1.change.kind === 'insert');
  assert.deepEqual(c1.change.newTuple, ['1', 'v1']);
  assert.equal(c1.change.lsn, lsn(48), 'the XLogData start of the Insert message');
  assert.equal(c1.change.relation.name, 't');
  assert.deepEqual(cm, {
    kind: 'commit',
    commit: { xid: 7, commitLsn: lsn(100), endLsn: lsn(108), commitTimeMs: T0 + 100 },
  });
});

test('transactions committing below the applied position are dropped whole, streamed ones too', () => {
  const a = new TransactionAssembler(lsn(500));
  const { events, store } = drive(a, [
    relation(),
    begin(1, 400),
    insert(1),
    commit(400),
    { tag: 'stream-start', xid: 2, firstSegment: true },
    insert(2, 2),
    { tag: 'stream-stop' },
    { tag: 'stream-commit', xid: 2, commitLsn: lsn(450), endLsn: lsn(460), commitTimeMs: T0 },
    begin(3, 500),
    insert(3),
    commit(500),
  ]);
  assert.deepEqual(transactions(events), [{ xid: 3, ids: ['3'] }]);
  assert.equal(store.size, 0, 'the skipped streamed transaction was discarded');
});

test('a streamed transaction is spilled, replayed at Stream Commit without its aborted subtransaction; an aborted one leaves nothing [A2]', () => {
  const a = new TransactionAssembler(lsn(0));
  const { events, store } = drive(a, [
    relation(),
    { tag: 'stream-start', xid: 10, firstSegment: true },
    relation(10),
    insert(1, 10),
    insert(2, 11), // subtransaction 11 of 10
    { tag: 'stream-stop' },
    // A plain transaction committing meanwhile comes out at once.
    begin(20, 200),
    insert(20),
    commit(200),
    { tag: 'stream-start', xid: 30, firstSegment: true },
    insert(30, 30),
    { tag: 'stream-stop' },
    { tag: 'stream-abort', xid: 10, subXid: 11 },
    { tag: 'stream-start', xid: 10, firstSegment: false },
    insert(3, 10),
    { tag: 'stream-stop' },
    { tag: 'stream-abort', xid: 30, subXid: 30 },
    { tag: 'stream-commit', xid: 10, commitLsn: lsn(300), endLsn: lsn(310), commitTimeMs: T0 },
  ]);
  assert.deepEqual(transactions(events), [
    { xid: 20, ids: ['20'] },
    { xid: 10, ids: ['1', '3'] },
  ]);
  const replayed = events.filter((e) => e.kind === 'change').slice(1);
  assert.ok(
    replayed.every((e) => e.kind === 'change' && e.change.lsn !== undefined),
    'spilled with positions',
  );
  assert.equal(store.size, 0, 'committed and aborted spill files are gone');
  assert.equal(a.streamedInProgress, 0);
});

test('a watermark comes only from a keepalive outside a plain transaction [A3]', () => {
  const a = new TransactionAssembler(lsn(0));
  const { events } = drive(a, [
    relation(),
    { keepalive: 50 },
    begin(1, 100),
    { keepalive: 90 },
    insert(1),
    commit(100),
    { keepalive: 120 },
  ]);
  assert.deepEqual(
    events.filter((e) => e.kind === 'watermark'),
    [
      { kind: 'watermark', lsn: lsn(50) },
      { kind: 'watermark', lsn: lsn(120) },
    ],
  );
});

test('malformed flows fail with DECODE_FAILED instead of being guessed at', () => {
  const a = new TransactionAssembler(lsn(0));
  assert.throws(() => drive(a, [relation(), insert(1)]), /DECODE_FAILED|outside a transaction/);
  const b = new TransactionAssembler(lsn(0));
  assert.throws(() => drive(b, [begin(1, 10), begin(2, 20)]), /inside transaction 1/);
  const c = new TransactionAssembler(lsn(0));
  assert.throws(() => drive(c, [commit(10)]), /Commit without Begin/);
});

test('transactions committed before the start time are dropped whole, by Begin and by Stream Commit; the rest come out [A4]', () => {
  const start = T0 + 250;
  const a = new TransactionAssembler(lsn(0), { skipCommittedBeforeMs: start });
  const { events, store } = drive(a, [
    relation(),
    begin(1, 100), // commits at T0 + 100: before the start
    insert(1),
    commit(100),
    { tag: 'stream-start', xid: 2, firstSegment: true },
    insert(2, 2),
    { tag: 'stream-stop' },
    { tag: 'stream-start', xid: 4, firstSegment: true },
    insert(4, 4),
    { tag: 'stream-stop' },
    { tag: 'stream-commit', xid: 2, commitLsn: lsn(200), endLsn: lsn(208), commitTimeMs: T0 + 200 },
    begin(3, 250), // exactly at the start: kept
    insert(3),
    commit(250),
    { tag: 'stream-commit', xid: 4, commitLsn: lsn(300), endLsn: lsn(308), commitTimeMs: T0 + 300 },
  ]);
  assert.deepEqual(transactions(events), [
    { xid: 3, ids: ['3'] },
    { xid: 4, ids: ['4'] },
  ]);
  assert.equal(store.size, 0, 'the streamed transaction before the start was discarded');
  const b = new TransactionAssembler(lsn(0), { skipCommittedBeforeMs: T0 + 1000 });
  const later = drive(b, [relation(), begin(5, 900), insert(5), commit(900), { keepalive: 950 }]);
  assert.deepEqual(transactions(later.events), []);
  assert.deepEqual(
    later.events.map((e) => e.kind),
    ['watermark'],
    'a skipped transaction still lets the watermark through [A3]',
  );
});

test('start time and applied position together: a transaction must pass both [A4]', () => {
  const a = new TransactionAssembler(lsn(300), { skipCommittedBeforeMs: T0 + 200 });
  const { events } = drive(a, [
    relation(),
    ...[100, 250, 300, 400].flatMap((at) => [begin(at, at), insert(at), commit(at)]),
  ]);
  // 100: before both; 250: after the start, below the position; 300 and 400: past both.
  assert.deepEqual(transactions(events), [
    { xid: 300, ids: ['300'] },
    { xid: 400, ids: ['400'] },
  ]);
});

test('the start time compares whole ms of the µs commit time on the wire: one µs before is skipped, the same ms is kept', () => {
  const start = Date.UTC(2026, 10, 30, 12);
  // Begin (PostgreSQL docs, "Logical Replication Message Formats"): Int64 final LSN, Int64 commit
  // time in µs since 2000-01-01, Int32 xid.
  const beginAt = (xid: number, unixUs: bigint) =>
    new ByteBuilder()
      .ch('B')
      .u64(BigInt(1000 + xid))
      .i64(unixUs - 946_684_800_000_000n)
      .u32(xid)
      .build();
  const startUs = BigInt(start) * 1000n;
  const a = new TransactionAssembler(lsn(0), { skipCommittedBeforeMs: start });
  a.push(encodePgoutput(relation()), lsn(1));
  const out = [
    a.push(beginAt(1, startUs - 1n), lsn(2)),
    a.push(encodePgoutput(commit(1001)), lsn(3)),
    a.push(beginAt(2, startUs + 999n), lsn(4)),
  ];
  assert.equal(out[0], undefined, '11:59:59.999999 is before 12:00:00');
  assert.equal(out[1], undefined, 'nor its commit');
  assert.deepEqual(out[2], { kind: 'begin', xid: 2, finalLsn: lsn(1002), commitTimeMs: start });
});

test('transactional logical messages of a delivered transaction are handed out; others are not', () => {
  const message = (content: string, transactional = true): PgoutputMessage => ({
    tag: 'message',
    transactional,
    lsn: lsn(1),
    prefix: 'pgdts-heartbeat',
    content: Buffer.from(content),
  });
  const a = new TransactionAssembler(lsn(150));
  const { events, logical } = drive(a, [
    message('outside, not transactional', false),
    begin(1, 100), // below the applied position: skipped
    message('skipped'),
    commit(100),
    begin(2, 200),
    message('delivered'),
    commit(200),
  ]);
  assert.deepEqual(logical, [{ prefix: 'pgdts-heartbeat', content: 'delivered', inXid: 2 }]);
  assert.deepEqual(transactions(events), [{ xid: 2, ids: [] }], 'a message is no change');
});

/** A random schedule of plain and streamed transactions, some aborting, some with aborted subtransactions. */
const schedule = fc.array(
  fc.record({
    streamed: fc.boolean(),
    rows: fc.integer({ min: 0, max: 4 }),
    aborts: fc.boolean(),
    abortedSub: fc.boolean(),
    blocks: fc.integer({ min: 1, max: 3 }),
    /** How many earlier units its stream blocks reach back over (interleaving). */
    spread: fc.integer({ min: 0, max: 6 }),
  }),
  { maxLength: 12 },
);

test('property: any interleaving delivers exactly the committed transactions, in commit order, without aborted work or work skipped by position or start time [A1][A2][A4]', () => {
  fc.assert(
    fc.property(
      schedule,
      fc.integer({ min: 0, max: 14 }),
      fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
      (txns, skipIndex, startIndex) => {
        // Every transaction ends (commit or abort) in list order, which is commit order; transaction
        // i commits at LSN 1000 + 100 i. A streamed transaction's blocks are spread back among the
        // units (whole plain transactions, other blocks) sent before its end.
        const units: PgoutputMessage[][] = [[relation()]];
        const expected: { xid: number; ids: string[] }[] = [];
        const skipBefore = 1000 + 100 * skipIndex;
        // Commit times follow commit order (T0 + LSN); the start time falls at a transaction's or between two.
        const startMs =
          startIndex === undefined ? undefined : T0 + 1000 + 100 * startIndex - 50 * (startIndex % 2);
        const wanted = (at: number) => at >= skipBefore && (startMs === undefined || T0 + at >= startMs);
        let id = 0;
        txns.forEach((t, i) => {
          const xid = 100 + i;
          const sub = 5000 + i;
          const ids = Array.from({ length: t.rows }, () => ++id);
          const at = 1000 + 100 * i;
          if (!t.streamed) {
            // The server sends a plain transaction only when it commits, without aborted subtransactions.
            if (t.aborts) return;
            units.push([begin(xid, at), ...ids.map((n) => insert(n)), commit(at)]);
            if (wanted(at)) expected.push({ xid, ids: ids.map(String) });
            return;
          }
          const inSub = (k: number) => t.abortedSub && k % 2 === 1;
          const rowsMsgs = ids.map((n, k) => insert(n, inSub(k) ? sub : xid));
          const per = Math.max(1, Math.ceil(rowsMsgs.length / t.blocks));
          let pos = Math.max(1, units.length - t.spread);
          for (let k = 0; k < rowsMsgs.length; k += per) {
            units.splice(pos, 0, [
              { tag: 'stream-start', xid, firstSegment: k === 0 },
              ...rowsMsgs.slice(k, k + per),
              { tag: 'stream-stop' },
            ]);
            pos = Math.min(units.length, pos + 2);
          }
          const end: PgoutputMessage[] = [];
          if (t.abortedSub) end.push({ tag: 'stream-abort', xid, subXid: sub });
          if (t.aborts) end.push({ tag: 'stream-abort', xid, subXid: xid });
          else
            end.push({
              tag: 'stream-commit',
              xid,
              commitLsn: lsn(at),
              endLsn: lsn(at + 8),
              commitTimeMs: T0 + at,
            });
          units.push(end);
          if (!t.aborts && wanted(at))
            expected.push({ xid, ids: ids.filter((_, k) => !inSub(k)).map(String) });
        });
        const a = new TransactionAssembler(
          lsn(skipBefore),
          startMs === undefined ? {} : { skipCommittedBeforeMs: startMs },
        );
        const { events, store } = drive(a, units.flat());
        assert.deepEqual(transactions(events), expected);
        assert.equal(store.size, 0, 'every spill file was replayed or discarded');
      },
    ),
    { numRuns: 300 },
  );
});
