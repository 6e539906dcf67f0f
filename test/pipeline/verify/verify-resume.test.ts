/**
 * [V12] Cancelling and resuming `verifyTask` on real servers: a paced `rows` verify of two keyed
 * tables is aborted while in flight inside the second; its progress (kept here in memory, as the
 * VerifyProgress interface hands it over, through JSON like the stores) resumes it. The resumed run
 * gives the same report as an uninterrupted one, does not hash the finished table or the compared
 * chunks again (counted on the real hashing sessions); an abort ends the run with CANCELLED, a failing
 * save with its own error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withConnectors } from '../../../src/connectors/open-connectors.ts';
import { PgdtsError } from '../../../src/core/errors.ts';
import type { Source } from '../../../src/core/source.ts';
import type { HashTarget, KeyRange, TableHasher } from '../../../src/core/table-hash.ts';
import { parseTaskConfig } from '../../../src/core/task-config.ts';
import type {
  PartialTableVerify,
  VerifyProgress,
  VerifyResumePoint,
} from '../../../src/pipeline/verify/verify-progress.ts';
import type { TableVerifyResult, VerifyReport } from '../../../src/pipeline/verify/verify-report.ts';
import { verifyTask } from '../../../src/pipeline/verify/verify-task.ts';
import { freshDatabase, sql, testServer, urlOf } from '../../support/servers.ts';

/** Progress kept as JSON, as the destination's bookkeeping and the control store keep it. */
class JsonProgress implements VerifyProgress {
  tables: TableVerifyResult[] = [];
  partial: PartialTableVerify | undefined;
  readonly chunkCalls: PartialTableVerify[] = [];
  constructor(
    readonly resumeFrom: VerifyResumePoint | undefined,
    private readonly onChunk: (p: PartialTableVerify) => void = () => undefined,
  ) {
    this.tables = [...(resumeFrom?.tables ?? [])];
  }
  tableDone(r: TableVerifyResult): Promise<void> {
    this.tables.push(JSON.parse(JSON.stringify(r)) as TableVerifyResult);
    this.partial = undefined;
    return Promise.resolve();
  }
  chunkDone(p: PartialTableVerify): Promise<void> {
    const copy = JSON.parse(JSON.stringify(p)) as PartialTableVerify;
    this.partial = copy;
    this.chunkCalls.push(copy);
    this.onChunk(copy);
    return Promise.resolve();
  }
  point(): VerifyResumePoint {
    return JSON.parse(JSON.stringify({ tables: this.tables, partial: this.partial })) as VerifyResumePoint;
  }
}

/** The source with its hashing sessions counting the digest statements (table, range) they run. */
function countingSource(source: Source, seen: { table: string; range: KeyRange | undefined }[]): Source {
  const wrap = (h: TableHasher): TableHasher =>
    new Proxy(h, {
      get(target, p) {
        const v = Reflect.get(target, p, target) as unknown;
        if (typeof v !== 'function') return v;
        if (p === 'hashRows' || p === 'countRows') {
          return (t: HashTarget, r?: KeyRange) => {
            seen.push({ table: t.table.name, range: r });
            return (v as (t: HashTarget, r?: KeyRange) => unknown).call(target, t, r);
          };
        }
        return (v as (...a: unknown[]) => unknown).bind(target);
      },
    });
  return new Proxy(source, {
    get(target, p) {
      const v = Reflect.get(target, p, target) as unknown;
      if (p === 'openHasher') return async () => wrap(await source.openHasher());
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A report without its timings (they differ from run to run). */
function timeless(r: VerifyReport): unknown {
  return JSON.parse(
    JSON.stringify({ ...r, elapsedMs: 0, tables: r.tables.map((t) => ({ ...t, elapsedMs: 0 })) }),
  );
}

test('[V12] a rows verify aborted in flight, then resumed from its progress: same report, finished table and chunks not hashed again', async () => {
  const s = testServer(17);
  const sdb = await freshDatabase(s, 'vr_src');
  const ddb = await freshDatabase(s, 'vr_dst');
  for (const db of [sdb, ddb]) {
    await sql(
      s,
      db,
      `CREATE SCHEMA app;
       CREATE TABLE app.a (id int PRIMARY KEY, v text);
       INSERT INTO app.a SELECT g, 'a' || g FROM generate_series(1, 600) g;
       CREATE TABLE app.b (id int PRIMARY KEY, v text);
       INSERT INTO app.b SELECT g, 'b' || g FROM generate_series(1, 2000) g;`,
    );
  }
  // Differences in both tables, before and after where the run is stopped.
  await sql(
    s,
    ddb,
    `UPDATE app.a SET v = 'changed' WHERE id = 50;
     DELETE FROM app.b WHERE id IN (150, 1750); UPDATE app.b SET v = 'x' WHERE id = 1900;
     INSERT INTO app.b VALUES (2001, 'extra')`,
  );
  const task = parseTaskConfig({
    name: 'resume',
    source: { type: 'postgresql', url: urlOf(s, sdb) },
    destination: { type: 'postgresql', url: urlOf(s, ddb) },
    syncTypes: ['full'],
    objects: [{ schema: 'app' }],
    // 5 200 rows a side at 8 000 rows/s: the run lasts about a second, so it is stopped in flight.
    verify: { rowsPerSecond: 8000 },
  });
  const opts = { mode: 'rows' as const, chunkRows: 100 };
  const whole = await withConnectors(task, (c) => verifyTask(task, c, opts));
  assert.equal(whole.identical, false);
  assert.deepEqual(
    whole.tables.map((t) => [t.table.name, t.chunks, t.rows?.differences.length]),
    [
      ['a', 7, 1],
      ['b', 21, 4],
    ],
  );

  // Stopped while in flight: the abort comes from a timer once chunk 5 of app.b was saved.
  const stopper = new AbortController();
  const first = new JsonProgress(undefined, (p) => {
    if (p.table === 'app.b' && p.chunks === 5) setTimeout(() => stopper.abort(), 30);
  });
  await assert.rejects(
    withConnectors(task, (c) => verifyTask(task, c, { ...opts, signal: stopper.signal, progress: first })),
    (e: unknown) => e instanceof PgdtsError && e.code === 'CANCELLED',
  );
  const point = first.point();
  assert.deepEqual(
    point.tables.map((t) => t.table.name),
    ['a'],
  );
  const partial = point.partial;
  assert.ok(partial !== undefined && partial.table === 'app.b', JSON.stringify(point));
  assert.ok(partial.chunks >= 5 && partial.chunks < 21, `stopped after ${partial.chunks} chunks`);
  assert.equal(partial.differences.length, 1, 'row 150 (chunk 2) was found before the stop');

  const seen: { table: string; range: KeyRange | undefined }[] = [];
  const second = new JsonProgress(point);
  const resumed = await withConnectors(task, (c) =>
    verifyTask(task, { ...c, source: countingSource(c.source, seen) }, { ...opts, progress: second }),
  );
  assert.deepEqual(timeless(resumed), timeless(whole), 'the resumed run reports what a whole run does');
  // Not hashed again: the finished table, and in app.b every range up to the saved chunk end.
  assert.equal(seen.filter((x) => x.table === 'a').length, 0, 'app.a is not compared again');
  const stoppedAt = Number(partial.after[0]);
  const before = seen.filter((x) => x.range?.upTo !== undefined && Number(x.range.upTo[0]) <= stoppedAt);
  assert.deepEqual(before, [], `no range ending at or before id ${stoppedAt} is hashed again`);
  // Chunks compared in the resumed run: the remaining ones, each reported once.
  assert.equal(second.chunkCalls[0]?.chunks, partial.chunks + 1);
  assert.equal(second.chunkCalls.length, 21 - partial.chunks - 1, 'the last chunk ends the table');
  assert.equal(second.tables.length, 2);
});

test('[V12] an abort before the first statement ends the run with CANCELLED, a failing progress save with its error; nothing reported', async () => {
  const s = testServer(17);
  const sdb = await freshDatabase(s, 'vr2_src');
  const ddb = await freshDatabase(s, 'vr2_dst');
  for (const db of [sdb, ddb]) {
    await sql(
      s,
      db,
      'CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 10)',
    );
  }
  const task = parseTaskConfig({
    name: 'resume2',
    source: { type: 'postgresql', url: urlOf(s, sdb) },
    destination: { type: 'postgresql', url: urlOf(s, ddb) },
    syncTypes: ['full'],
    objects: [{ schema: 'public' }],
  });
  const p = new JsonProgress(undefined);
  await assert.rejects(
    withConnectors(task, (c) => verifyTask(task, c, { signal: AbortSignal.abort(), progress: p })),
    (e: unknown) => e instanceof PgdtsError && e.code === 'CANCELLED' && !e.retryable,
  );
  assert.deepEqual(p.tables, []);
  // A failing save ends the run with its error: not reported as the table's error.
  const failing = new JsonProgress(undefined, (c) => {
    if (c.chunks === 2) throw new PgdtsError('STORE_FAILED', 'the store is away');
  });
  await assert.rejects(
    withConnectors(task, (c) => verifyTask(task, c, { chunkRows: 3, progress: failing })),
    (e: unknown) => e instanceof PgdtsError && e.code === 'STORE_FAILED',
  );
  assert.deepEqual(failing.tables, []);
});
