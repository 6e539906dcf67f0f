/**
 * Relation messages by relation id, and the conversion of pgoutput row and truncate messages into the
 * core change model. pgoutput sends a Relation message before the first change to a relation in a
 * session and again whenever its definition changes (PostgreSQL docs, "Logical Replication Message
 * Flow"), so the latest one received describes the tuples that follow.
 */
import type { Change, Datum, Relation, Tuple } from '../../../core/change.ts';
import { PgdtsError } from '../../../core/errors.ts';
import type { Lsn } from '../../../core/lsn.ts';
import type { PgoutputChangeMessage, PgoutputTuple, RelationMessage } from './pgoutput-message.ts';

/** Latest Relation message per relation id, as core {@link Relation}s. */
export class RelationCache {
  private readonly byId = new Map<number, Relation>();

  /** Stores (or replaces) the relation described by a Relation message and returns it. */
  add(msg: RelationMessage): Relation {
    const relation: Relation = {
      id: msg.relationId,
      schema: msg.namespace,
      name: msg.name,
      replicaIdentity: msg.replicaIdentity,
      columns: msg.columns.map((c) => ({ ...c })),
    };
    this.byId.set(msg.relationId, relation);
    return relation;
  }

  /**
   * The relation with this id.
   * @throws {PgdtsError} `DECODE_FAILED` when no Relation message for it was received.
   */
  get(relationId: number): Relation {
    const r = this.byId.get(relationId);
    if (r === undefined)
      throw new PgdtsError('DECODE_FAILED', `change to relation ${relationId} before its Relation message`);
    return r;
  }

  /** Relation ids known so far. */
  get size(): number {
    return this.byId.size;
  }

  /** Forgets every relation (a new replication session resends Relation messages). */
  clear(): void {
    this.byId.clear();
  }

  /**
   * Converts an Insert, Update, Delete or Truncate message into a core {@link Change}; `lsn` is the
   * WAL position of its record (the XLogData start), when known.
   * @throws {PgdtsError} `DECODE_FAILED` when a relation id is unknown, a tuple's column count differs
   *   from its relation's, or a value is in binary format (we never request `binary`).
   */
  toChange(msg: PgoutputChangeMessage, lsn?: Lsn): Change {
    const at = lsn === undefined ? {} : { lsn };
    switch (msg.tag) {
      case 'insert': {
        const relation = this.get(msg.relationId);
        return { kind: 'insert', ...at, relation, newTuple: toTuple(relation, msg.newTuple, 'new') };
      }
      case 'update': {
        const relation = this.get(msg.relationId);
        const newTuple = toTuple(relation, msg.newTuple, 'new');
        if (msg.oldTuple === undefined || msg.oldKind === undefined)
          return { kind: 'update', ...at, relation, newTuple };
        const oldTuple = toTuple(relation, msg.oldTuple, 'old');
        return { kind: 'update', ...at, relation, oldKind: msg.oldKind, oldTuple, newTuple };
      }
      case 'delete': {
        const relation = this.get(msg.relationId);
        return {
          kind: 'delete',
          ...at,
          relation,
          oldKind: msg.oldKind,
          oldTuple: toTuple(relation, msg.oldTuple, 'old'),
        };
      }
      case 'truncate':
        return {
          kind: 'truncate',
          ...at,
          relations: msg.relationIds.map((id) => this.get(id)),
          cascade: msg.cascade,
          restartIdentity: msg.restartIdentity,
        };
    }
  }
}

function toTuple(relation: Relation, tuple: PgoutputTuple, which: 'old' | 'new'): Tuple {
  const where = `${which} tuple of ${relation.schema}.${relation.name} (relation ${relation.id})`;
  if (tuple.length !== relation.columns.length)
    throw new PgdtsError(
      'DECODE_FAILED',
      `${where} has ${tuple.length} columns, its Relation message ${relation.columns.length}`,
    );
  return tuple.map((v, i): Datum => {
    if (Buffer.isBuffer(v))
      throw new PgdtsError(
        'DECODE_FAILED',
        `${where}: column ${i} is in binary format, which pgdts never requests`,
      );
    return v;
  });
}
