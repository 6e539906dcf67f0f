/**
 * Live verification (verify.md [V8]): while incremental sync writes the destination, a difference
 * seen by comparing both sides "now" may only be a change in flight. Every such candidate is
 * re-checked at a consistent point before it is reported:
 *
 * 1. the source is read in a snapshot whose WAL position L is known (`beginSnapshot`);
 * 2. verify waits until the task's position on the destination has reached L, then reads the
 *    destination in a snapshot whose task position D ≥ L is known exactly (the applied position is
 *    written in the same transaction as the changes);
 * 3. the source is read again in a new snapshot. A keyed row whose version (xmin) is the same in both
 *    source snapshots was written by no transaction committed between them, so the destination at D
 *    (between the two) must hold exactly that row: if it does not, the difference is real.
 *
 * A row whose version changed between the source reads is checked again in a later round
 * (`RECHECK_ROUNDS` in all); one that kept changing is reported as unsettled, not as a difference.
 * A destination row whose key is absent from both source reads is confirmed in two rounds, since an
 * insert and a delete of that key between the two reads would leave no trace in the source.
 */
import { CancelledError, PgdtsError } from '../../core/errors.ts';
import { formatLsn, type Lsn } from '../../core/lsn.ts';
import { diffKeyedRows, type RowDifference } from '../../core/row-difference.ts';
import type { HashTarget, KeyedRow, RowsDigest, TableHasher } from '../../core/table-hash.ts';

/** Sessions and limits of a live verification. */
export interface LiveSessions {
  /** A source session used for nothing else while a re-check runs. */
  readonly source: TableHasher;
  /** A destination session opened for the task (its snapshots report the task's position). */
  readonly destination: TableHasher;
  /** Longest wait for incremental sync to apply up to a source snapshot, ms. */
  readonly catchUpTimeoutMs: number;
  /** Waits as the throttle asks for after rows were read (rows, bytes of row text). */
  readonly pace: (rows: number, bytes: number) => Promise<void>;
  /** Ends a wait for the task early (the task stopping). */
  readonly signal?: AbortSignal;
}

/** Rounds of re-reading a candidate before it is reported unsettled (the issue asks for at least one re-check). */
export const RECHECK_ROUNDS = 3;

/** Keys read per statement (as `readKeys` allows). */
const KEYS_PER_READ = 500;

/** First and largest pause between two reads of the destination's position, ms. */
const POLL_MS = { first: 20, max: 250 } as const;

/** What the re-check of candidate rows found. */
export interface KeyRecheck {
  /** Real differences, in the order of the candidates. */
  readonly confirmed: RowDifference[];
  /** Keys of the candidates found equal at a consistent point. */
  readonly settled: number;
  /** Keys whose source row changed in every round: neither confirmed nor settled. */
  readonly unsettled: (readonly string[])[];
}

/**
 * Runs `read` in a snapshot of `h` and returns its result with the snapshot's position.
 * @throws {PgdtsError} VERIFY_MISMATCH from the session (the snapshot is ended either way).
 */
export async function inSnapshot<T>(
  h: TableHasher,
  read: () => Promise<T>,
): Promise<{ value: T; position: Lsn | undefined }> {
  const position = await h.beginSnapshot();
  let value: T;
  try {
    value = await read();
  } catch (e) {
    await h.endSnapshot().catch(() => undefined);
    throw e;
  }
  await h.endSnapshot();
  return { value, position };
}

/**
 * Waits until the destination holds every change of the task below `lsn` (its position ≥ `lsn`),
 * polling its bookkeeping.
 * @throws {PgdtsError} CATCH_UP_TIMEOUT after `timeoutMs` (retryable: incremental sync may be behind),
 *   VERIFY_MISMATCH when the destination no longer records the task or it stopped running, CANCELLED
 *   once `signal` aborts.
 */
export async function waitForPosition(
  destination: TableHasher,
  lsn: Lsn,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Lsn> {
  const started = Date.now();
  let pause: number = POLL_MS.first;
  for (;;) {
    if (signal?.aborted === true) throw new CancelledError('the live re-check was stopped');
    const p = await destination.taskPosition();
    if (p === undefined) {
      throw new PgdtsError('VERIFY_MISMATCH', 'the destination no longer records the task (released?)');
    }
    if (p.position !== undefined && p.position >= lsn) return p.position;
    if (!p.running) {
      // Stopped while verify waited: nothing will apply up to the snapshot any more.
      throw new PgdtsError(
        'VERIFY_MISMATCH',
        `the task stopped before it applied up to the verify snapshot at ${formatLsn(lsn)} (applied up to ${p.position === undefined ? 'nothing' : formatLsn(p.position)}): verify again, offline once it stays stopped`,
      );
    }
    if (Date.now() - started >= timeoutMs) {
      throw new PgdtsError(
        'CATCH_UP_TIMEOUT',
        `incremental sync did not apply up to the verify snapshot at ${formatLsn(lsn)} within ${Math.round(timeoutMs / 1000)} s (applied up to ${p.position === undefined ? 'nothing yet' : formatLsn(p.position)}, phase ${p.phase})`,
        { retryable: true },
      );
    }
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(POLL_MS.max, pause * 2);
  }
}

/**
 * Reads the source in a snapshot, waits for the task to apply up to it, then reads the destination in
 * a snapshot: both reads describe the same point of the source's history up to the changes committed
 * between the source's snapshot and the destination's (which the caller must allow for).
 * @throws {PgdtsError} CATCH_UP_TIMEOUT, VERIFY_MISMATCH.
 */
export async function readAtConsistentPoint<A, B>(
  l: LiveSessions,
  readSource: () => Promise<A>,
  readDestination: () => Promise<B>,
): Promise<{ source: A; destination: B; sourceLsn: Lsn; destinationPosition: Lsn }> {
  const s = await inSnapshot(l.source, readSource);
  if (s.position === undefined) throw new PgdtsError('INTERNAL', 'a source snapshot without a WAL position');
  await waitForPosition(l.destination, s.position, l.catchUpTimeoutMs, l.signal);
  const d = await inSnapshot(l.destination, readDestination);
  if (d.position === undefined) {
    throw new PgdtsError('VERIFY_MISMATCH', 'the destination no longer records the task (released?)');
  }
  return { source: s.value, destination: d.value, sourceLsn: s.position, destinationPosition: d.position };
}

function keyId(key: readonly string[]): string {
  return JSON.stringify(key);
}

function byKey(rows: readonly KeyedRow[]): Map<string, KeyedRow> {
  return new Map(rows.map((r) => [keyId(r.key), r]));
}

function rowBytes(rows: readonly KeyedRow[]): number {
  let n = 0;
  for (const r of rows) for (const v of r.values) n += v === null ? 0 : v.length;
  return n;
}

/**
 * Re-checks candidate differences of a keyed table (module comment): each candidate's key is read
 * on the source, on the destination once it has caught up, and on the source again.
 * @param t the source table, `d` the destination table (same columns in the same order).
 * @throws {PgdtsError} CATCH_UP_TIMEOUT, VERIFY_MISMATCH.
 */
export async function recheckKeys(
  l: LiveSessions,
  t: HashTarget,
  d: HashTarget,
  candidates: readonly (readonly string[])[],
): Promise<KeyRecheck> {
  const order = new Map<string, number>();
  let pending: (readonly string[])[] = [];
  for (const k of candidates) {
    const id = keyId(k);
    if (order.has(id)) continue;
    order.set(id, order.size);
    pending.push(k);
  }
  const confirmed: { at: number; d: RowDifference }[] = [];
  const absentOnce = new Set<string>();
  let settled = 0;
  for (let round = 0; round < RECHECK_ROUNDS && pending.length > 0; round++) {
    const again: (readonly string[])[] = [];
    for (let i = 0; i < pending.length; i += KEYS_PER_READ) {
      const batch = pending.slice(i, i + KEYS_PER_READ);
      const p = await readAtConsistentPoint(
        l,
        () => l.source.readKeys(t, batch, { withVersion: true }),
        () => l.destination.readKeys(d, batch),
      );
      const later = await inSnapshot(l.source, () => l.source.readKeys(t, batch, { withVersion: true }));
      const all = [...p.source, ...p.destination, ...later.value];
      await l.pace(all.length, rowBytes(all));
      const first = byKey(p.source);
      const dest = byKey(p.destination);
      const second = byKey(later.value);
      for (const k of batch) {
        const id = keyId(k);
        const a = first.get(id);
        const a2 = second.get(id);
        const b = dest.get(id);
        if (a?.version !== a2?.version) {
          again.push(k);
          continue;
        }
        const diff = diffKeyedRows(a === undefined ? [] : [a], b === undefined ? [] : [b]);
        if (diff.length === 0) {
          settled++;
          continue;
        }
        if (a === undefined && !absentOnce.has(id)) {
          absentOnce.add(id);
          again.push(k);
          continue;
        }
        for (const x of diff) confirmed.push({ at: order.get(id) ?? 0, d: x });
      }
    }
    pending = again;
  }
  confirmed.sort((x, y) => x.at - y.at);
  return { confirmed: confirmed.map((c) => c.d), settled, unsettled: pending };
}

/**
 * Re-compares a whole-table digest (keyless or merged tables) at consistent points, up to
 * {@link RECHECK_ROUNDS} times, stopping at the first match. Changes applied between the source's
 * snapshot and the destination's make a round differ: a table written all the time may keep differing
 * (a limit, verify.md [V8]).
 * @throws {PgdtsError} CATCH_UP_TIMEOUT, VERIFY_MISMATCH.
 */
export async function recheckDigests(
  l: LiveSessions,
  readSource: () => Promise<RowsDigest>,
  readDestination: () => Promise<RowsDigest>,
): Promise<{ match: boolean; source: RowsDigest; destination: RowsDigest; rounds: number }> {
  for (let round = 1; ; round++) {
    const p = await readAtConsistentPoint(l, readSource, readDestination);
    await l.pace(p.source.rows + p.destination.rows, p.source.bytes + p.destination.bytes);
    const match = p.source.digest === p.destination.digest;
    if (match || round >= RECHECK_ROUNDS) {
      return { match, source: p.source, destination: p.destination, rounds: round };
    }
  }
}
