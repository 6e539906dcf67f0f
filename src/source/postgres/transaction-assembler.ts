/**
 * Turns the pgoutput message flow of one replication session into whole committed transactions, in
 * commit order, sans I/O. Source: PostgreSQL docs, "Logical Replication Message Flow" and "Logical
 * Streaming Replication Protocol".
 *
 * - A plain transaction arrives contiguously: Begin, its changes, Commit (the walsender sends it once
 *   its commit is decoded).
 * - A large transaction may be streamed in progress (protocol ≥ 2, `streaming on`): blocks of its
 *   changes between Stream Start and Stream Stop, interleaved with other transactions, then Stream
 *   Commit or Stream Abort. Its messages are handed back as `spill` actions for the caller to store,
 *   and replayed at Stream Commit through {@link TransactionAssembler.replay}, so memory stays bounded
 *   whatever the transaction size. A Stream Abort of the top-level xid discards it; of a
 *   subtransaction, the subtransaction's changes are skipped at replay (their messages carry the
 *   subtransaction xid).
 * - Transactions whose commit LSN is below `skipBefore` were applied by an earlier session: they are
 *   dropped here, whole (replay after a reconnect starts at the applied position, but the server
 *   re-sends every transaction committing after the slot's confirmed LSN).
 * - With `skipCommittedBeforeMs` (the task's `incremental.startTime`), transactions whose commit
 *   time is earlier are dropped the same way, whole: a plain transaction by the commit time of its
 *   Begin, a streamed one by that of its Stream Commit (the only commit times pgoutput sends before
 *   the changes are delivered).
 * - Logical decoding messages (`pg_logical_emit_message`, received with pgoutput option `messages`)
 *   are handed out when transactional and inside a delivered plain transaction, for the caller to
 *   recognise its own (the heartbeat); they never become changes.
 *
 * Invariants
 * - A1: every `begin` event is followed by its `change` events and exactly one `commit` event, before
 *   any other transaction's events.
 * - A2: nothing of an aborted transaction or aborted subtransaction is ever emitted.
 * - A3: a `watermark` is emitted only while no plain transaction is open, so every transaction
 *   committing before it has been emitted already (keepalive WAL end = what the walsender has sent).
 * - A4: nothing of a transaction committed before `skipCommittedBeforeMs` is ever emitted (nor of
 *   one committing below `skipBefore`); every other committed transaction is.
 */
import type { ChangeEvent } from '../../core/source.ts';
import { PgdtsError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { decodePgoutput, PgoutputStreamDecoder } from './pgoutput/pgoutput-decoder.ts';
import type { PgoutputMessage } from './pgoutput/pgoutput-message.ts';
import { RelationCache } from './pgoutput/relation-cache.ts';

/** Store `data` (one pgoutput message from a stream block) for transaction `xid`. */
export interface SpillAction {
  readonly kind: 'spill';
  readonly xid: number;
  /** WAL position of the message (XLogData start), stored with it. */
  readonly lsn: Lsn;
  readonly data: Buffer;
}

/**
 * Transaction `xid` committed: emit `begin`, then feed every message stored for it to
 * {@link TransactionAssembler.replay} in order (emitting what it returns), then emit `commit`, and
 * delete the stored messages.
 */
export interface ReplayAction {
  readonly kind: 'replay';
  readonly xid: number;
  readonly begin: Extract<ChangeEvent, { kind: 'begin' }>;
  readonly commit: Extract<ChangeEvent, { kind: 'commit' }>;
  /** Subtransactions whose changes must be skipped at replay. */
  readonly abortedSubXids: ReadonlySet<number>;
}

/** Delete the messages stored for transaction `xid`: it aborted, or was applied already. */
export interface DiscardAction {
  readonly kind: 'discard';
  readonly xid: number;
}

/**
 * A transactional logical decoding message inside the plain transaction being delivered (between
 * its `begin` and `commit`): not a change, for the caller to recognise by prefix.
 */
export interface LogicalMessageOutput {
  readonly kind: 'logical-message';
  readonly prefix: string;
  readonly content: Buffer;
  /** WAL position of the message. */
  readonly lsn: Lsn;
}

/** What one message asks of the caller: an event to deliver, a spill-file action, or a message. */
export type AssemblerOutput = ChangeEvent | SpillAction | ReplayAction | DiscardAction | LogicalMessageOutput;

/** Options of {@link TransactionAssembler}. */
export interface TransactionAssemblerOptions {
  /**
   * Drop transactions committed before this time, ms since the Unix epoch (whole ms: a commit time
   * in µs is truncated, so one in the same ms as the bound is kept).
   */
  readonly skipCommittedBeforeMs?: number | undefined;
}

const NO_SUBXIDS: ReadonlySet<number> = new Set();

/** State machine of one replication session (create a new one per session). */
export class TransactionAssembler {
  private readonly decoder = new PgoutputStreamDecoder();
  private readonly relations = new RelationCache();
  private readonly skipBefore: Lsn;
  private readonly skipCommittedBeforeMs: number;
  /** Set between Begin and Commit of a plain transaction. */
  private open: { readonly xid: number; readonly skip: boolean } | undefined;
  private readonly abortedSubXids = new Map<number, Set<number>>();
  /** Streamed transactions with stored messages, not yet committed or aborted. */
  private readonly streaming = new Set<number>();

  /**
   * @param skipBefore transactions committing before this LSN are dropped (already applied).
   * @param o a second skip rule, by commit time.
   */
  constructor(skipBefore: Lsn, o: TransactionAssemblerOptions = {}) {
    this.skipBefore = skipBefore;
    this.skipCommittedBeforeMs = o.skipCommittedBeforeMs ?? -Infinity;
  }

  /** Is the transaction committing at `commitLsn`, at `commitTimeMs`, to be dropped [A4]? */
  private skips(commitLsn: Lsn, commitTimeMs: number): boolean {
    return commitLsn < this.skipBefore || commitTimeMs < this.skipCommittedBeforeMs;
  }

  /** Is a plain transaction open (Begin received, Commit not yet)? */
  get inTransaction(): boolean {
    return this.open !== undefined;
  }

  /** Streamed transactions whose blocks arrived but which have not committed or aborted yet. */
  get streamedInProgress(): number {
    return this.streaming.size;
  }

  /**
   * Takes the next pgoutput message of the session: the data of an XLogData frame, and the frame's
   * WAL start (for a change, the LSN of its record).
   * @returns an event to deliver, a spill-file action to perform, or undefined when the message
   *   yields nothing (Relation, Type, Origin, Stream Start/Stop, a change of a skipped transaction).
   * @throws {PgdtsError} DECODE_FAILED on malformed input or broken framing; REPLICATION_FAILED on
   *   two-phase messages (two_phase is never requested).
   */
  push(data: Buffer, lsn: Lsn): AssemblerOutput | undefined {
    const inStream = this.decoder.currentStreamXid;
    const m = this.decoder.decode(data);
    if (inStream !== undefined && m.tag !== 'stream-stop') {
      // Inside a stream block: keep relation metadata current, store everything for replay.
      if (m.tag === 'relation') this.relations.add(m);
      this.streaming.add(inStream);
      return { kind: 'spill', xid: inStream, lsn, data };
    }
    return this.handle(m, data.length, lsn);
  }

  /**
   * Takes one stored message of a committed streamed transaction, in order (see {@link ReplayAction}).
   * @returns the change to deliver, a transactional logical decoding message of the transaction
   *   (the DDL capture writes them inside large transactions too), or undefined (Relation, Type, or
   *   a change or message of an aborted subtransaction).
   * @throws {PgdtsError} DECODE_FAILED on malformed input.
   */
  replay(
    data: Buffer,
    lsn: Lsn,
    abortedSubXids: ReadonlySet<number>,
  ): ChangeEvent | LogicalMessageOutput | undefined {
    // Stored messages came from inside stream blocks: they carry an xid after the tag.
    const m = decodePgoutput(data, { inStream: true });
    switch (m.tag) {
      case 'relation':
        this.relations.add(m);
        return undefined;
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
        if (m.xid !== undefined && abortedSubXids.has(m.xid)) return undefined;
        return { kind: 'change', change: this.relations.toChange(m, lsn), bytes: data.length };
      case 'message':
        if (!m.transactional || (m.xid !== undefined && abortedSubXids.has(m.xid))) return undefined;
        return { kind: 'logical-message', prefix: m.prefix, content: m.content, lsn };
      default:
        return undefined;
    }
  }

  /**
   * Takes a primary keepalive's WAL end.
   * @returns a watermark when no plain transaction is open [A3], else undefined.
   */
  keepalive(walEnd: Lsn): ChangeEvent | undefined {
    if (this.open !== undefined || this.decoder.currentStreamXid !== undefined) return undefined;
    return { kind: 'watermark', lsn: walEnd };
  }

  private handle(m: PgoutputMessage, bytes: number, lsn: Lsn): AssemblerOutput | undefined {
    switch (m.tag) {
      case 'begin': {
        if (this.open !== undefined) {
          throw new PgdtsError('DECODE_FAILED', `Begin of xid ${m.xid} inside transaction ${this.open.xid}`);
        }
        // Transactions arrive in commit order: one committing before the applied position was applied.
        // Begin carries the commit time too, so the time rule decides here, before any change.
        const skip = this.skips(m.finalLsn, m.commitTimeMs);
        this.open = { xid: m.xid, skip };
        return skip
          ? undefined
          : { kind: 'begin', xid: m.xid, finalLsn: m.finalLsn, commitTimeMs: m.commitTimeMs };
      }
      case 'commit': {
        const t = this.open;
        if (t === undefined) throw new PgdtsError('DECODE_FAILED', 'Commit without Begin');
        this.open = undefined;
        if (t.skip) return undefined;
        return {
          kind: 'commit',
          commit: { xid: t.xid, commitLsn: m.commitLsn, endLsn: m.endLsn, commitTimeMs: m.commitTimeMs },
        };
      }
      case 'relation':
        this.relations.add(m);
        return undefined;
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
        if (this.open === undefined) {
          throw new PgdtsError('DECODE_FAILED', `${m.tag} outside a transaction`);
        }
        if (this.open.skip) return undefined;
        return { kind: 'change', change: this.relations.toChange(m, lsn), bytes };
      case 'stream-commit': {
        const aborted = this.abortedSubXids.get(m.xid) ?? NO_SUBXIDS;
        this.abortedSubXids.delete(m.xid);
        const stored = this.streaming.delete(m.xid);
        if (this.skips(m.commitLsn, m.commitTimeMs)) {
          return stored ? { kind: 'discard', xid: m.xid } : undefined;
        }
        return {
          kind: 'replay',
          xid: m.xid,
          begin: { kind: 'begin', xid: m.xid, finalLsn: m.commitLsn, commitTimeMs: m.commitTimeMs },
          commit: {
            kind: 'commit',
            commit: { xid: m.xid, commitLsn: m.commitLsn, endLsn: m.endLsn, commitTimeMs: m.commitTimeMs },
          },
          abortedSubXids: aborted,
        };
      }
      case 'stream-abort':
        if (m.subXid === m.xid) {
          this.abortedSubXids.delete(m.xid);
          return this.streaming.delete(m.xid) ? { kind: 'discard', xid: m.xid } : undefined;
        } else {
          const s = this.abortedSubXids.get(m.xid) ?? new Set<number>();
          s.add(m.subXid);
          this.abortedSubXids.set(m.xid, s);
          return undefined;
        }
      case 'message':
        // A non-transactional message stands outside any transaction: nothing for the sink, and
        // pgdts's own heartbeat is transactional.
        if (!m.transactional || this.open === undefined || this.open.skip) return undefined;
        return { kind: 'logical-message', prefix: m.prefix, content: m.content, lsn };
      case 'origin':
      case 'type':
      case 'stream-start':
      case 'stream-stop':
        return undefined;
      case 'begin-prepare':
      case 'prepare':
      case 'commit-prepared':
      case 'rollback-prepared':
      case 'stream-prepare':
        throw new PgdtsError(
          'REPLICATION_FAILED',
          `unexpected two-phase message ${m.tag} (two_phase is not enabled)`,
        );
    }
  }
}
