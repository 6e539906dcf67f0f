/**
 * Schema changes followed from the change stream itself, for sources where no event trigger captures
 * DDL (and PostgreSQL 13, which has no logical messages). pgoutput sends a Relation message before
 * the first change of a table after its definition changed, and at the first change of each table
 * in every new stream (PostgreSQL docs, "Logical Replication Message Formats", Relation; "Logical
 * Streaming Replication Protocol"). Each new Relation is compared with the destination table's
 * columns as they are now (not with the previous Relation): when DDL has been applied there already
 * (by hand, or by an event-trigger path), nothing is left to do.
 *
 * Followed: columns added at the end (existing rows get the source's fast default, `attmissingval`,
 * or NULL), columns dropped, built-in types changed. Anything else stops the task with a
 * {@link SchemaChangeError} naming source table, destination table, LSN and what changed: nothing of
 * that source transaction commits, so after the same change is made on the destination by hand a new
 * run continues. The comparison ({@link diffRelation}) is sans-I/O; {@link RelationChangeFollower}
 * does the lookups.
 */
import type { Change, Relation } from '../core/change.ts';
import { PgdtsError } from '../core/errors.ts';
import { displayName, quoteQualified, type QualifiedName } from '../core/identifier.ts';
import { formatLsn, type Lsn } from '../core/lsn.ts';
import type {
  ColumnChange,
  DestinationColumnShape,
  DestinationSchemaChanges,
  SourceColumnFacts,
  SourceSchemaLookup,
} from '../core/schema-change.ts';
import type { ChangeApplier } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import type { ProgressListener } from '../core/progress.ts';
import type { TableTarget } from '../core/table-targets.ts';

/** Type OIDs below this are built in (PostgreSQL's FirstNormalObjectId, src/include/access/transam.h). */
const FIRST_NORMAL_OBJECT_ID = 16384;

/** Inputs of {@link diffRelation}. */
export interface RelationDiffInput {
  /** The Relation message of the source table. */
  readonly relation: Relation;
  /** The source's facts about each column of `relation`, in its column order. */
  readonly facts: readonly SourceColumnFacts[];
  readonly target: TableTarget;
  /** The previous Relation of the same table in this stream, if any (for key and user-type changes). */
  readonly previous: Relation | undefined;
  /** The destination table's columns now, in attnum order. */
  readonly destination: readonly DestinationColumnShape[];
  /** Destination columns this stream added from the source (they are mapped from it too). */
  readonly addedBefore: ReadonlySet<string>;
}

/** What {@link diffRelation} found: nothing to do, changes to apply, or a change it cannot follow. */
export type RelationDiff =
  | { readonly kind: 'same' }
  | { readonly kind: 'alter'; readonly changes: readonly ColumnChange[] }
  | { readonly kind: 'unsupported'; readonly what: string };

/** A relation column under its destination name. */
interface MappedColumn {
  readonly name: string;
  readonly source: string;
  readonly typeOid: number;
  readonly typeModifier: number;
  readonly isKey: boolean;
  readonly facts: SourceColumnFacts | undefined;
}

const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
const list = (names: readonly string[]) => names.map(q).join(', ');

/** The columns of `r` that `target` keeps, under their destination names (as ChangeMapper maps them). */
function mapColumns(r: Relation, target: TableTarget, facts: readonly SourceColumnFacts[]): MappedColumn[] {
  const renames = new Map([...target.columns, ...target.generatedColumns].map((c) => [c.source, c.target]));
  const known = new Set([...target.source.columns, ...target.source.generatedColumns]);
  const out: MappedColumn[] = [];
  r.columns.forEach((c, i) => {
    // Known but not kept: excluded. Unknown (added on the source since the task started): kept as is.
    if (known.has(c.name) && !renames.has(c.name)) return;
    out.push({
      name: renames.get(c.name) ?? c.name,
      source: c.name,
      typeOid: c.typeOid,
      typeModifier: c.typeModifier,
      isKey: c.isKey,
      facts: facts[i],
    });
  });
  return out;
}

/**
 * Compares a source Relation with the destination table's columns.
 * - A column the destination lacks, after every column it has, is added; its existing rows get the
 *   source's missing value (a fast default), or NULL when the column has no default at all. A column
 *   with a default but no missing value was filled row by row by a table rewrite (a volatile
 *   default): unsupported, as is one that no longer exists on the source when looked up.
 * - A destination column mapped from the source (a target column, one of the previous Relation's, or
 *   one added by this stream) that the Relation lacks is dropped; other destination columns and
 *   generated ones are left alone.
 * - A column of a built-in type whose source type name (`format_type(oid, typmod)`) differs from the
 *   destination's is retyped.
 * - Unsupported: adds and drops at once (a rename?), a column added before existing ones, columns in
 *   another order, a changed replica identity or key, a user-defined type changed, any change to a
 *   `mergeInto` table.
 * A partition's changes come from its root (PostgreSQL refuses them on a partition alone): the
 * caller makes them on the root's destination table.
 */
export function diffRelation(i: RelationDiffInput): RelationDiff {
  const cols = mapColumns(i.relation, i.target, i.facts);
  const dest = i.destination.filter((d) => !d.generated);
  const destByName = new Map(i.destination.map((d) => [d.name, d]));
  const fromSource = new Set([
    ...i.target.columns.map((c) => c.target),
    ...i.addedBefore,
    ...(i.previous === undefined ? [] : mapColumns(i.previous, i.target, []).map((c) => c.name)),
  ]);
  const names = new Set(cols.map((c) => c.name));
  const added = cols.filter((c) => !destByName.has(c.name));
  const dropped = dest.filter((d) => fromSource.has(d.name) && !names.has(d.name)).map((d) => d.name);
  const common = cols.filter((c) => destByName.has(c.name));

  const problems: string[] = [];
  // Keys and replica identity: only the stream knows them (the destination has no replica identity).
  if (i.previous !== undefined) {
    const keys = (r: Relation) =>
      mapColumns(r, i.target, [])
        .filter((c) => c.isKey)
        .map((c) => c.name);
    const before = keys(i.previous);
    const after = keys(i.relation);
    if (i.previous.replicaIdentity !== i.relation.replicaIdentity || before.join('\0') !== after.join('\0')) {
      problems.push(
        `the replica identity changed from ${i.previous.replicaIdentity} (${list(before)}) to ${i.relation.replicaIdentity} (${list(after)})`,
      );
    }
  }
  if (added.length > 0 && dropped.length > 0) {
    problems.push(
      added.length === dropped.length
        ? `${added.map((a, k) => `${q(dropped[k] ?? '')} → ${q(a.name)}`).join(', ')} looks like a rename: column${added.length > 1 ? 's' : ''} ${list(added.map((c) => c.name))} appeared and ${list(dropped)} disappeared`
        : `columns ${list(added.map((c) => c.name))} appeared and ${list(dropped)} disappeared at once (a rename?)`,
    );
  }
  const lastCommon = Math.max(-1, ...common.map((c) => cols.indexOf(c)));
  const early = added.filter((c) => cols.indexOf(c) < lastCommon);
  if (early.length > 0 && dropped.length === 0) {
    problems.push(
      `column${early.length > 1 ? 's' : ''} ${list(early.map((c) => c.name))} appeared before existing columns (a rename or a reordering?)`,
    );
  }
  const destOrder = dest.map((d) => d.name).filter((n) => names.has(n));
  const srcOrder = common.map((c) => c.name);
  if (destOrder.join('\0') !== srcOrder.join('\0')) {
    problems.push(
      `the columns are in another order: source ${list(srcOrder)}, destination ${list(destOrder)}`,
    );
  }

  const changes: ColumnChange[] = [];
  for (const c of common) {
    const d = destByName.get(c.name);
    const typeName = c.facts?.typeName;
    if (d === undefined || d.generated || typeName === undefined) continue;
    if (c.typeOid < FIRST_NORMAL_OBJECT_ID) {
      if (typeName !== d.typeName) changes.push({ kind: 'retype', column: c.name, typeName });
      continue;
    }
    // A user type may be named differently in the destination (schema mapping): only the stream tells.
    const before = i.previous?.columns.find((p) => p.name === c.source);
    if (before !== undefined && (before.typeOid !== c.typeOid || before.typeModifier !== c.typeModifier)) {
      problems.push(`the type of ${q(c.name)} changed to ${typeName}, a user-defined type`);
    }
  }
  if (early.length === 0 && dropped.length === 0) {
    for (const c of added) {
      const f = c.facts;
      if (f === undefined || !f.exists) {
        problems.push(
          `column ${q(c.name)} appeared, but the source has no such column now (dropped or renamed since)`,
        );
      } else if (f.missingValue !== undefined) {
        changes.push({ kind: 'add', column: c.name, typeName: f.typeName, existingRows: f.missingValue });
      } else if (f.hasDefault) {
        problems.push(
          `column ${q(c.name)} was added with a volatile default (the source rewrote the table with a value per row, which the change stream does not carry)`,
        );
      } else {
        changes.push({ kind: 'add', column: c.name, typeName: f.typeName, existingRows: null });
      }
    }
  }
  if (added.length === 0) for (const d of dropped) changes.push({ kind: 'drop', column: d });

  if (problems.length === 0 && changes.length === 0) return { kind: 'same' };
  if (problems.length === 0 && i.target.mergeInto) {
    problems.push(`${describe(changes)}, on a table merged into another (mergeInto)`);
  }
  if (problems.length > 0) return { kind: 'unsupported', what: problems.join('; ') };
  return { kind: 'alter', changes };
}

/** One line saying what `changes` do, for logs and messages. */
export function describe(changes: readonly ColumnChange[]): string {
  return changes
    .map((c) => {
      switch (c.kind) {
        case 'add':
          return `column ${q(c.column)} ${c.typeName} added${c.existingRows === null ? '' : ` (existing rows: ${c.existingRows})`}`;
        case 'drop':
          return `column ${q(c.column)} dropped`;
        case 'retype':
          return `column ${q(c.column)} changed to ${c.typeName}`;
      }
    })
    .join(', ');
}

/**
 * A schema change the stream cannot follow. Not retryable: the operator makes the same change on the
 * destination, and the next run continues from the applied position. `transactionLsn` is the commit
 * LSN of the source transaction it was found in: everything before it may be committed first, so
 * the next run does not meet the older Relation again after the destination was fixed.
 */
export class SchemaChangeError extends PgdtsError {
  readonly transactionLsn: Lsn;
  constructor(message: string, hint: string, transactionLsn: Lsn) {
    super('SCHEMA_CHANGE_UNSUPPORTED', message, { hint });
    this.name = 'SchemaChangeError';
    this.transactionLsn = transactionLsn;
  }
}

/** Options of {@link RelationChangeFollower}. */
export interface RelationChangeFollowerOptions {
  /** The targets synchronised now (tables may join while streaming). */
  readonly targets: () => readonly TableTarget[];
  readonly source: SourceSchemaLookup;
  readonly destination: DestinationSchemaChanges;
  /** Receives a line per schema change applied. */
  readonly log: (message: string) => void;
}

/**
 * Follows schema changes of one stream session: checks each new Relation object (the decoder keeps
 * one until the relation changes) against the destination, before its first change is applied.
 */
export class RelationChangeFollower {
  private readonly checked = new WeakSet<Relation>();
  private readonly previous = new Map<string, Relation>();
  private readonly added = new Map<string, Set<string>>();
  private byName: Map<string, TableTarget> | undefined;
  private targetCount = -1;

  constructor(private readonly o: RelationChangeFollowerOptions) {}

  /**
   * Brings the destination table of `change` in line with its Relation, when that is new; returns a
   * promise only then.
   * @param transactionLsn commit LSN of the change's source transaction.
   * @throws {SchemaChangeError} for a change it cannot follow; APPLY_FAILED / REPLICATION_FAILED from
   *   the lookups and ALTERs.
   */
  follow(change: Change, transactionLsn: Lsn): Promise<void> | undefined {
    // A Truncate carries no columns: the table's next row change brings its Relation.
    if (change.kind === 'truncate' || this.checked.has(change.relation)) return undefined;
    return this.check(change.relation, change.lsn ?? transactionLsn, transactionLsn);
  }

  private targetOf(r: Relation): TableTarget | undefined {
    const targets = this.o.targets();
    if (this.byName === undefined || this.targetCount !== targets.length) {
      this.byName = new Map(targets.map((t) => [displayName(t.source), t]));
      this.targetCount = targets.length;
    }
    return this.byName.get(displayName(r));
  }

  /** Where a change of `target`'s columns is made: its own table, or its partition root's. */
  private alterTarget(target: TableTarget): QualifiedName | undefined {
    const root = target.source.partitionRoot;
    if (root === undefined) return target.table;
    const name = displayName(root);
    return this.o.targets().find((t) => displayName(t.source) === name)?.table;
  }

  private async check(r: Relation, at: Lsn, transactionLsn: Lsn): Promise<void> {
    const target = this.targetOf(r);
    // Not selected: the mapper refuses it with its own error.
    if (target === undefined) return;
    const key = displayName(r);
    const addedBefore = this.added.get(key) ?? new Set<string>();
    const facts = await this.o.source.relationColumns(r, r.columns);
    const input = (destination: readonly DestinationColumnShape[]): RelationDiffInput => ({
      relation: r,
      facts,
      target,
      previous: this.previous.get(key),
      destination,
      addedBefore,
    });
    const read = async () => (await this.o.destination.columns(target.table)) ?? [];
    let diff = diffRelation(input(await read()));
    // A partition's columns are its root's: changed there, they change on every partition.
    const on = this.alterTarget(target);
    if (diff.kind === 'alter' && on === undefined) {
      diff = {
        kind: 'unsupported',
        what: `${describe(diff.changes)}, on a partition whose root is not synchronised`,
      };
    }
    if (diff.kind === 'alter' && on !== undefined) {
      await this.o.destination.alter(on, diff.changes);
      for (const c of diff.changes) if (c.kind === 'add') addedBefore.add(c.column);
      this.added.set(key, addedBefore);
      this.o.log(
        `schema change of ${key} at LSN ${formatLsn(at)} applied to ${displayName(on)}: ${describe(diff.changes)}`,
      );
      // Re-read: the destination must now match, or something is left that was not followed.
      const after = diffRelation(input(await read()));
      diff =
        after.kind === 'same'
          ? after
          : {
              kind: 'unsupported',
              what: `after ${describe(diff.changes)}, still ${after.kind === 'alter' ? describe(after.changes) : after.what}`,
            };
    }
    if (diff.kind === 'unsupported') {
      throw new SchemaChangeError(
        `schema change of source table ${key} (destination ${displayName(target.table)}) at LSN ${formatLsn(at)} cannot be followed: ${diff.what}`,
        `make the same change to ${quoteQualified(target.table)} on the destination by hand (e.g. ALTER TABLE ... RENAME COLUMN), then run pgdts run again: it continues from the last applied position`,
        transactionLsn,
      );
    }
    this.previous.set(key, r);
    this.checked.add(r);
  }
}

/**
 * The follower of one incremental session, when both sides support it (source lookups, ALTERs in
 * the applier's transaction); undefined otherwise.
 */
export function relationChangeFollower(
  o: { readonly source: Source; readonly onProgress: ProgressListener },
  applier: ChangeApplier,
  targets: () => readonly TableTarget[],
): RelationChangeFollower | undefined {
  const source = o.source.schemaLookup;
  const destination = applier.schemaChanges;
  if (source === undefined || destination === undefined) return undefined;
  return new RelationChangeFollower({
    targets,
    source,
    destination,
    log: (message) => o.onProgress({ kind: 'log', level: 'info', message }),
  });
}
