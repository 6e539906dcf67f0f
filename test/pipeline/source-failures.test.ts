/**
 * Failure paths on the source side of incremental sync, each ending in destination = source: status
 * updates through long waits (wal_sender_timeout), a walsender left holding the slot by a killed
 * run, a source that is another cluster or a restored backup, and spill files that run out of room.
 * Invariants cited: task-lifecycle.md T6, T9; slot-lifecycle.md S6.
 */
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { EmbeddedServer } from '../../src/embedded/embedded-server.ts';
import { waitForCatchUp } from '../support/catch-up.ts';
import { pause, startOwnServer, until, type OwnServer } from '../support/own-server.ts';
import {
  BIN,
  cliEnv,
  runCli,
  startCli,
  stopCli,
  writeTaskFile,
  type CliResult,
  type CliRun,
} from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';

const execFileAsync = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

const owned: OwnServer[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const o of owned) await o.server.stop().catch(() => undefined);
});

async function slotPid(s: TestServer, db: string, slot: string): Promise<number | null> {
  const r = await sql<{ pid: number | null }>(
    s,
    db,
    'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return r[0]?.pid ?? null;
}

/** Milliseconds between the first lines of `run`'s output matching `from` and `to`. */
async function between(run: CliRun, from: RegExp, to: RegExp): Promise<number> {
  await run.waitFor(from);
  const a = Date.now();
  await run.waitFor(to);
  return Date.now() - a;
}

test(
  'status updates flow during a long destination wait and a 1M-row replay: wal_sender_timeout = 5s never ends the stream',
  { timeout: 400_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'wst_src');
    const dst = await freshDatabase(s, 'wst_dst');
    await sql(s, src, 'CREATE TABLE public.big (id int PRIMARY KEY, v int)');
    // The walsender of this database times out after 5 s without a status update, and streams
    // transactions beyond 64 kB in progress (they are spilled by pgdts until they commit).
    await sql(s, src, `ALTER DATABASE ${src} SET wal_sender_timeout = '5s'`);
    await sql(s, src, `ALTER DATABASE ${src} SET logical_decoding_work_mem = '64kB'`);
    const file = writeTaskFile({
      name: 'wst',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    const r = startCli(['run', file]);
    try {
      await r.waitFor(/streaming from/);
      const pid = await slotPid(s, src, 'pgdts_wst');
      assert.ok(pid !== null, 'streaming');
      // The destination table is locked for 12 s: the apply of the big transaction waits on it.
      const lock = sql(
        s,
        dst,
        'BEGIN; LOCK TABLE public.big IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(12); COMMIT',
      );
      await sql(s, src, 'INSERT INTO public.big SELECT g, g FROM generate_series(1, 1000000) g');
      await lock;
      await waitForCatchUp(s, src, 'pgdts_wst', 300_000, () => r.output());
      assert.equal(await slotPid(s, src, 'pgdts_wst'), pid, 'the same walsender streamed throughout');
      assert.doesNotMatch(r.output(), /retrying in|timeout/i);
    } finally {
      await stopCli(r);
    }
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', file]);
  },
);

/** pg_recvlogical holding `slot` of `db` with `applicationName`, like a walsender nobody reads. */
function holdSlot(s: TestServer, db: string, slot: string, applicationName: string): ChildProcess {
  const c = spawn(
    path.join(PG_BIN, 'pg_recvlogical'),
    [
      '-d',
      `host=${s.host} port=${s.port} user=${s.user} dbname=${db}`,
      '--slot',
      slot,
      '--start',
      // Exit when the connection is lost, as a dead client's walsender would stay gone.
      '--no-loop',
      '-f',
      '/dev/null',
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${slot}`,
    ],
    { env: { ...process.env, PGPASSWORD: s.password, PGAPPNAME: applicationName }, stdio: 'ignore' },
  );
  children.push(c);
  return c;
}

test(
  'a walsender left holding the slot by an earlier run of the task is terminated and streaming resumes within 5 s; a foreign holder is left alone [S6]',
  { timeout: 300_000 },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'orph_src');
    const dst = await freshDatabase(s, 'orph_dst');
    await sql(s, src, 'CREATE TABLE public.t (id int PRIMARY KEY, v text)');
    const file = writeTaskFile({
      name: 'orphan',
      source: { server: s, db: src },
      destination: { server: s, db: dst },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [{ schema: 'public' }],
    });
    const first = startCli(['run', file]);
    await first.waitFor(/streaming from/);
    await stopCli(first);

    // A walsender with this task's application_name holds the slot (as one of a killed run does).
    const orphan = holdSlot(s, src, 'pgdts_orphan', 'pgdts:orphan');
    await until('the orphan to hold the slot', async () => (await slotPid(s, src, 'pgdts_orphan')) !== null);
    const r = startCli(['run', file]);
    try {
      const ms = await between(r, /phase incremental/, /streaming from/);
      assert.ok(ms < 5_000, `streaming again after ${ms} ms`);
      assert.match(r.output(), /terminated walsender \d+, left holding slot pgdts_orphan by an earlier run/);
      await until('the orphan to exit', () =>
        Promise.resolve(orphan.exitCode !== null || orphan.signalCode !== null),
      );
      await sql(s, src, `INSERT INTO public.t VALUES (1, 'after the orphan')`);
      await waitForCatchUp(s, src, 'pgdts_orphan', 60_000, () => r.output());
    } finally {
      await stopCli(r);
    }

    // A holder of another name is not ours to kill: pgdts waits for it, retrying.
    const foreign = holdSlot(s, src, 'pgdts_orphan', 'someone-else');
    await until(
      'the foreign consumer to hold the slot',
      async () => (await slotPid(s, src, 'pgdts_orphan')) !== null,
    );
    const w = startCli(['run', file]);
    try {
      await w.waitFor(/is active for PID \d+.*retrying in/);
      assert.equal(foreign.exitCode, null, 'the foreign consumer still runs');
      foreign.kill('SIGTERM');
      await w.waitFor(/streaming from/);
    } finally {
      await stopCli(w);
    }

    // A real kill -9 under writes: the next run streams again within 5 s.
    const k = startCli(['run', file]);
    await k.waitFor(/streaming from/);
    const writes = sql(s, src, `INSERT INTO public.t SELECT g, 'x' FROM generate_series(10, 50000) g`);
    await pause(200);
    k.child.kill('SIGKILL');
    await k.done;
    await writes;
    const again = startCli(['run', file]);
    try {
      const ms = await between(again, /phase incremental/, /streaming from/);
      assert.ok(ms < 5_000, `streaming again after ${ms} ms after kill -9`);
      await waitForCatchUp(s, src, 'pgdts_orphan', 60_000, () => again.output());
    } finally {
      await stopCli(again);
    }
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', file]);
  },
);

test(
  'a destination filled from one cluster refuses another source cluster, and a source restored from a backup (new timeline) [T9]',
  { timeout: 300_000 },
  async () => {
    const own = await startOwnServer('ident', { version: 15 });
    owned.push(own);
    const a = own.test;
    const other = testServer(15);
    const d = testServer(17);
    await own.server.createDatabase('app');
    await sql(
      a,
      'app',
      `CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 100)`,
    );
    const dst = await freshDatabase(d, 'ident_dst');
    const task = (server: TestServer, db: string) =>
      writeTaskFile({
        name: 'ident',
        source: { server, db },
        destination: { server: d, db: dst },
        syncTypes: ['schema', 'full', 'incremental'],
        objects: [{ schema: 'public' }],
      });
    const r = startCli(['run', task(a, 'app')]);
    await r.waitFor(/streaming from/);
    await stopCli(r);
    const recorded = await sql<{ id: string; tl: number }>(
      d,
      dst,
      "SELECT source_system_id AS id, source_timeline AS tl FROM pgdts.task WHERE name = 'ident'",
    );
    assert.equal(recorded[0]?.tl, 1);
    assert.match(recorded[0]?.id ?? '', /^\d+$/);

    // Another cluster with the same database and table.
    const otherDb = await freshDatabase(other, 'ident_other');
    await sql(other, otherDb, 'CREATE TABLE public.t (id int PRIMARY KEY)');
    const wrong: CliResult = await runCli(['run', task(other, otherDb)]);
    assert.equal(wrong.code, 2, wrong.stdout + wrong.stderr);
    assert.match(
      wrong.stderr,
      /CHECKPOINT_CONFLICT: the destination holds task ident filled from source cluster \d+, but .* is cluster \d+: another server/,
    );

    // The source restored from a base backup: same system identifier, new timeline.
    const backup = mkdtempSync(path.join(process.env.PGDTS_TEST_ROOT ?? tmpdir(), 'ident-backup-'));
    const dataDir = path.join(backup, 'data');
    await execFileAsync(
      path.join(PG_BIN, 'pg_basebackup'),
      ['-h', a.host, '-p', String(a.port), '-U', a.user, '-D', dataDir, '-X', 'stream', '-c', 'fast'],
      { env: { ...process.env, PGPASSWORD: a.password } },
    );
    // Started as a standby of nothing, then promoted: the end of recovery opens timeline 2, as a
    // restored backup or a promoted standby does.
    writeFileSync(path.join(dataDir, 'standby.signal'), '');
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      const own = (p: string) => {
        chownSync(p, uid, gid);
        for (const f of readdirSync(p, { withFileTypes: true })) {
          if (f.isDirectory()) own(path.join(p, f.name));
          else chownSync(path.join(p, f.name), uid, gid);
        }
      };
      own(backup);
    }
    await own.server.stop();
    const restored = await EmbeddedServer.start({ version: 15, dataDir, password: a.password });
    try {
      const rs: TestServer = { ...a, port: restored.port };
      await sql(rs, 'postgres', 'SELECT pg_promote()');
      await until('the restored server to leave recovery', async () => {
        const x = await sql<{ r: boolean }>(rs, 'app', 'SELECT pg_is_in_recovery() AS r');
        return x[0]?.r === false;
      });
      const restoredRun = await runCli(['run', task(rs, 'app')]);
      assert.equal(restoredRun.code, 2, restoredRun.stdout + restoredRun.stderr);
      assert.match(
        restoredRun.stderr,
        /CHECKPOINT_CONFLICT: source .* is now on timeline 2, task ident streamed timeline 1: it was restored from a backup or promoted from a standby/,
      );
      assert.match(restoredRun.stderr, /hint: /);
    } finally {
      await restored.stop();
    }
  },
);

/** Whether this process may make a private mount namespace with a small tmpfs (root, Linux). */
function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/unshare')) return false;
  try {
    execFileSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o size=64k tmpfs ${tmpdir()} && true`]);
    return true;
  } catch {
    return false;
  }
}

test(
  'spill files: a budget too small and a full disk (ENOSPC) are retried SPILL_FAILED errors (retry.otherMinutes) that keep the position; leftovers are removed; with room the run completes',
  { timeout: 300_000, skip: canMountTmpfs() ? false : 'needs root and unshare to mount a small tmpfs' },
  async () => {
    const s = testServer(15);
    const src = await freshDatabase(s, 'spill_src');
    const dst = await freshDatabase(s, 'spill_dst');
    await sql(s, src, 'CREATE TABLE public.t (id int PRIMARY KEY, v text)');
    await sql(s, src, `ALTER DATABASE ${src} SET logical_decoding_work_mem = '64kB'`);
    const state = mkdtempSync(path.join(process.env.PGDTS_TEST_ROOT ?? tmpdir(), 'spill-state-'));
    const small = mkdtempSync(path.join(state, 'small-'));
    const task = (incremental: Record<string, unknown>) =>
      writeTaskFile({
        name: 'spill',
        source: { server: s, db: src },
        destination: { server: s, db: dst },
        syncTypes: ['schema', 'full', 'incremental'],
        objects: [{ schema: 'public' }],
        extra: { incremental, retry: { initialDelayMs: 200, maxDelayMs: 500 } },
      });
    // Default folder: the task's, under XDG_STATE_HOME; a leftover of a crashed run is removed.
    const env = { XDG_STATE_HOME: state };
    const spillDir = path.join(state, 'pgdts', 'spill', 'spill');
    const first = startCli(['run', task({})], env);
    await first.waitFor(/streaming from/);
    await stopCli(first);
    writeFileSync(path.join(spillDir, '4242.spill'), 'left by a crashed run');
    const cleaner = startCli(['run', task({})], env);
    await cleaner.waitFor(/streaming from/);
    assert.deepEqual(readdirSync(spillDir), [], 'leftovers removed when the stream opens');
    await stopCli(cleaner);

    // A streamed transaction of about 20 MB.
    await sql(s, src, `INSERT INTO public.t SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g`);
    // Past the commit record (the insert position: see retry-windows.test.ts for why not the write
    // position on these synchronous_commit = off servers).
    const [{ end } = { end: '' }] = await sql<{ end: string }>(
      s,
      src,
      'SELECT pg_current_wal_insert_lsn()::text AS end',
    );
    // Retried for retry.otherMinutes (at least a minute): the retry line proves the error retryable
    // and not a connection failure; the operator then stops the run.
    const retried =
      /; retrying in \d+ ms \(not a connection failure: retried for up to 10 min, retry\.otherMinutes\)/;

    const budget = startCli(['run', task({ spillMaxBytes: 1048576 })], env);
    await budget.waitFor(
      /SPILL_FAILED: streamed transactions need more than incremental\.spillMaxBytes = 1048576 bytes/,
    );
    await budget.waitFor(retried);
    await stopCli(budget);

    // A disk that fills up: a 512 kB tmpfs in a private mount namespace (sh and unshare exec pgdts,
    // so the child is pgdts itself and takes the SIGTERM).
    const c = spawn(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        `mount -t tmpfs -o size=512k tmpfs "${small}" && exec "${BIN}" run "${task({ spillDir: small })}"`,
      ],
      { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(c);
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)));
    await until(
      'the full disk to be retried',
      () =>
        Promise.resolve(
          /SPILL_FAILED: cannot write spill file .*: no space left on the device of/.test(out) &&
            retried.test(out),
        ),
      120_000,
      () => out,
    );
    c.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    assert.deepEqual(
      await sql(s, dst, 'SELECT count(*)::int AS n FROM public.t'),
      [{ n: 0 }],
      'nothing half-applied',
    );
    const [slot] = await sql<{ kept: boolean }>(
      s,
      src,
      `SELECT confirmed_flush_lsn < $1::pg_lsn AS kept FROM pg_replication_slots WHERE slot_name = 'pgdts_spill'`,
      [end],
    );
    assert.deepEqual(slot, { kept: true }, 'the slot still holds the transaction: the position was kept');

    // With room, the same transaction is re-streamed from the kept position and applied.
    const ok = startCli(['run', task({})], env);
    try {
      await ok.waitFor(/streaming from/);
      await waitForCatchUp(s, src, 'pgdts_spill', 120_000, () => ok.output());
    } finally {
      await stopCli(ok);
    }
    await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['public']);
    await runCli(['release', task({})]);
  },
);
