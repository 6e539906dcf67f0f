/**
 * The heartbeat of a PostgreSQL source (task option `source.heartbeat`), sans I/O: the SQL pgdts
 * writes it with, and the recognition of heartbeats in the change stream.
 *
 * While the source sends no change for the task, its slot's confirmed position can only follow
 * keepalives; a small transaction of the task's own in the task's database gives the stream a
 * commit to apply and confirm, and tells how long a change takes to come through (the heartbeat
 * lag) even without traffic. Two kinds:
 * - `table`: an upsert of the task's row `(task_name, beat_at)` in a table included in the task's
 *   publication. Its changes are dropped in the source connector, so they never reach a sink; the
 *   table is left out of the selection (schema sync, copy, verify) too.
 * - without table: a transactional logical decoding message, `pg_logical_emit_message(true,
 *   'pgdts-heartbeat', '{"task": ..., "at": ...}')` (PostgreSQL docs, "Replication Management
 *   Functions"), received with pgoutput option `messages`, which PostgreSQL 14 introduced
 *   ("Logical Streaming Replication Parameters"). A message is never a change.
 * In both, the heartbeat's transaction reaches the sink empty: applying it moves the applied and
 * confirmed positions past it, and its commit time keeps the lag shown current.
 */
import type { Change } from '../../core/change.ts';
import type { ChangeEvent, HeartbeatReading } from '../../core/source.ts';
import { quoteQualified, type QualifiedName } from '../../core/identifier.ts';
import type { SchemaModel } from '../../core/schema-model.ts';

/** Prefix of pgdts's heartbeat messages. */
export const HEARTBEAT_MESSAGE_PREFIX = 'pgdts-heartbeat';

/** The first major version whose pgoutput sends logical decoding messages (option `messages`). */
export const MESSAGES_MIN_MAJOR = 14;

/** The heartbeat of one task: its name and its table (undefined: logical messages). */
export interface HeartbeatTarget {
  readonly taskName: string;
  readonly table: QualifiedName | undefined;
}

/**
 * DDL of the heartbeat table: one row per task (several tasks may share the table), keyed so that
 * the upsert finds it and UPDATEs of it can be published (the primary key is the replica identity).
 */
export function heartbeatTableDdl(table: QualifiedName): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteQualified(table)} (task_name text PRIMARY KEY, beat_at timestamptz NOT NULL)`;
}

/**
 * The heartbeat write of `target` at `atMs` (ms since the Unix epoch), one statement in a
 * transaction of its own. A message carries which task wrote it and when (ISO 8601, for a person
 * reading the WAL); the table row the task's name and the server's time.
 */
export function heartbeatStatement(
  target: HeartbeatTarget,
  atMs: number,
): { readonly text: string; readonly values: readonly string[] } {
  if (target.table === undefined) {
    return {
      text: `SELECT pg_logical_emit_message(true, '${HEARTBEAT_MESSAGE_PREFIX}', $1::text)`,
      values: [JSON.stringify({ task: target.taskName, at: new Date(atMs).toISOString() })],
    };
  }
  return {
    text: `INSERT INTO ${quoteQualified(target.table)} (task_name, beat_at) VALUES ($1, now())
           ON CONFLICT (task_name) DO UPDATE SET beat_at = EXCLUDED.beat_at`,
    values: [target.taskName],
  };
}

const same = (a: QualifiedName, b: QualifiedName) => a.schema === b.schema && a.name === b.name;

/**
 * Drops the heartbeat table's changes from the stream and measures the lag of the task's own
 * heartbeats: the time from the commit of the heartbeat's transaction on the source to its arrival
 * here (both clocks count, as for the apply lag).
 */
export class HeartbeatObserver {
  private commitTimeMs: number | undefined;
  private reading: HeartbeatReading | undefined;

  constructor(private readonly target: HeartbeatTarget) {}

  /** The task's last heartbeat received, if any. */
  get last(): HeartbeatReading | undefined {
    return this.reading;
  }

  /**
   * Takes an event of the stream at time `nowMs` (ms since the Unix epoch).
   * @returns the event to deliver; undefined for a change of the heartbeat table (never applied), a
   *   TRUNCATE without the heartbeat table when it listed it among others.
   */
  event(e: ChangeEvent, nowMs: number): ChangeEvent | undefined {
    const table = this.target.table;
    switch (e.kind) {
      case 'begin':
        this.commitTimeMs = e.commitTimeMs;
        return e;
      case 'change': {
        if (table === undefined) return e;
        const c = this.change(e.change, table, nowMs);
        if (c === e.change) return e;
        return c === undefined ? undefined : { ...e, change: c };
      }
      case 'commit':
        this.commitTimeMs = undefined;
        return e;
      case 'ddl':
      case 'watermark':
        return e;
    }
  }

  /** Takes a logical decoding message of the current transaction (transaction-assembler.ts). */
  message(prefix: string, content: Buffer, nowMs: number): void {
    if (prefix !== HEARTBEAT_MESSAGE_PREFIX || this.target.table !== undefined) return;
    let task: unknown;
    try {
      task = (JSON.parse(content.toString('utf8')) as { task?: unknown }).task;
    } catch {
      return; // someone else's message under our prefix: nothing to measure
    }
    if (task === this.target.taskName) this.beat(nowMs);
  }

  private change(c: Change, table: QualifiedName, nowMs: number): Change | undefined {
    if (c.kind === 'truncate') {
      const kept = c.relations.filter((r) => !same(r, table));
      if (kept.length === c.relations.length) return c;
      return kept.length === 0 ? undefined : { ...c, relations: kept };
    }
    if (!same(c.relation, table)) return c;
    if (c.kind !== 'delete') {
      const at = c.relation.columns.findIndex((col) => col.name === 'task_name');
      if (at >= 0 && c.newTuple[at] === this.target.taskName) this.beat(nowMs);
    }
    return undefined;
  }

  private beat(nowMs: number): void {
    if (this.commitTimeMs === undefined) return;
    this.reading = { lagMs: Math.max(0, nowMs - this.commitTimeMs), receivedAtMs: nowMs };
  }
}

/**
 * `model` without the heartbeat table and what hangs on it (indexes, triggers, sequences it owns),
 * for a selection whose schema holds it: it is the source's own, never created on the destination.
 */
export function withoutTable(model: SchemaModel, table: QualifiedName): SchemaModel {
  return {
    ...model,
    tables: model.tables.filter((t) => !same(t, table)),
    indexes: model.indexes.filter((i) => !same(i.table, table)),
    triggers: model.triggers.filter((t) => !same(t.table, table)),
    policies: (model.policies ?? []).filter((p) => !same(p.table, table)),
    rules: (model.rules ?? []).filter((r) => !same(r.table, table)),
    statistics: (model.statistics ?? []).filter((x) => !same(x.table, table)),
    sequences: model.sequences.filter((s) => s.ownedBy === undefined || !same(s.ownedBy.table, table)),
  };
}
