/**
 * diffRelation (sans I/O): a source Relation compared with the destination table's columns as the
 * task maps them (renamed, excluded, mergeInto) [P8]: columns added at the end (existing rows get the
 * fast default or NULL), dropped, retyped; and everything it refuses: a rename, a reordering, a column
 * added before existing ones, a replica identity change, a volatile default, a column gone from the
 * source, a merged table. A destination that already matches (DDL applied by hand or by an event
 * trigger) gives nothing to do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Relation } from '../../src/core/change.ts';
import type { DestinationColumnShape, SourceColumnFacts } from '../../src/core/schema-change.ts';
import { planTargets, type TableTarget } from '../../src/core/table-targets.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { diffRelation, type RelationDiff } from '../../src/pipeline/relation-changes.ts';
import { selectedTable } from '../support/selected-table.ts';

const INT4 = 23;
const INT8 = 20;
const TEXT = 25;
const NAMES: Record<number, string> = {
  [INT4]: 'integer',
  [INT8]: 'bigint',
  [TEXT]: 'text',
  70000: 'app.mood',
};

type Col = [name: string, oid: number, key?: boolean];

const relation = (
  cols: readonly Col[],
  replicaIdentity: Relation['replicaIdentity'] = 'default',
): Relation => ({
  id: 1,
  schema: 'app',
  name: 't',
  replicaIdentity,
  columns: cols.map(([name, typeOid, key]) => ({
    name,
    typeOid,
    typeModifier: -1,
    isKey: key ?? name === 'id',
  })),
});

const facts = (
  r: Relation,
  o: Partial<Record<string, Partial<SourceColumnFacts>>> = {},
): SourceColumnFacts[] =>
  r.columns.map((c) => ({
    typeName: NAMES[c.typeOid] ?? '?',
    exists: true,
    missingValue: undefined,
    hasDefault: false,
    ...o[c.name],
  }));

const dest = (cols: readonly [string, string, boolean?][]): DestinationColumnShape[] =>
  cols.map(([name, typeName, generated]) => ({ name, typeName, generated: generated ?? false }));

function target(entry: Record<string, unknown> = {}, columns = ['id', 'v']): TableTarget {
  const t = { ...selectedTable('app', 't'), columns };
  const task = parseTaskConfig({
    name: 't',
    source: { type: 'postgresql', url: 'postgresql://u@h/a' },
    destination: { type: 'postgresql', url: 'postgresql://u@h/b' },
    syncTypes: ['full', 'incremental'],
    objects: [{ table: 'app.t', ...entry }],
  });
  const { targets, problems } = planTargets(task, [t]);
  assert.deepEqual(problems, []);
  const first = targets[0];
  assert.ok(first !== undefined);
  return first;
}

function diff(o: {
  relation: Relation;
  destination: DestinationColumnShape[];
  target?: TableTarget;
  previous?: Relation;
  facts?: SourceColumnFacts[];
  addedBefore?: string[];
}): RelationDiff {
  return diffRelation({
    relation: o.relation,
    facts: o.facts ?? facts(o.relation),
    target: o.target ?? target(),
    previous: o.previous,
    destination: o.destination,
    addedBefore: new Set(o.addedBefore ?? []),
  });
}

const BASE = dest([
  ['id', 'integer'],
  ['v', 'text'],
]);

function unsupported(d: RelationDiff, re: RegExp): void {
  assert.equal(d.kind, 'unsupported', JSON.stringify(d));
  assert.ok(d.kind === 'unsupported');
  assert.match(d.what, re);
}

test('[P8] a Relation matching the destination gives nothing to do (also when an event trigger applied the DDL first)', () => {
  assert.deepEqual(
    diff({
      relation: relation([
        ['id', INT4],
        ['v', TEXT],
      ]),
      destination: BASE,
    }),
    { kind: 'same' },
  );
  // Added on the destination already: nothing left.
  const r = relation([
    ['id', INT4],
    ['v', TEXT],
    ['n', INT4],
  ]);
  assert.deepEqual(
    diff({
      relation: r,
      destination: dest([
        ['id', 'integer'],
        ['v', 'text'],
        ['n', 'integer'],
      ]),
    }),
    {
      kind: 'same',
    },
  );
});

test("[P8] a column added at the end: NULL without a default, the fast default as the existing rows' value", () => {
  const r = relation([
    ['id', INT4],
    ['v', TEXT],
    ['n', INT4],
  ]);
  assert.deepEqual(diff({ relation: r, destination: BASE }), {
    kind: 'alter',
    changes: [{ kind: 'add', column: 'n', typeName: 'integer', existingRows: null }],
  });
  assert.deepEqual(
    diff({ relation: r, destination: BASE, facts: facts(r, { n: { missingValue: '5', hasDefault: true } }) }),
    {
      kind: 'alter',
      changes: [{ kind: 'add', column: 'n', typeName: 'integer', existingRows: '5' }],
    },
  );
});

test('[P8] a volatile default (a default without a missing value) and a column gone from the source are refused', () => {
  const r = relation([
    ['id', INT4],
    ['v', TEXT],
    ['n', INT4],
  ]);
  unsupported(
    diff({ relation: r, destination: BASE, facts: facts(r, { n: { hasDefault: true } }) }),
    /volatile default/,
  );
  unsupported(
    diff({ relation: r, destination: BASE, facts: facts(r, { n: { exists: false } }) }),
    /no such column now/,
  );
});

test('[P8] a dropped column is dropped; destination-only columns and generated columns are left alone', () => {
  const r = relation([['id', INT4]]);
  const d = dest([
    ['id', 'integer'],
    ['v', 'text'],
    ['extra', 'text'],
    ['g', 'integer', true],
  ]);
  assert.deepEqual(diff({ relation: r, destination: d }), {
    kind: 'alter',
    changes: [{ kind: 'drop', column: 'v' }],
  });
  // A column added by this stream and dropped again is dropped too.
  const r2 = relation([
    ['id', INT4],
    ['v', TEXT],
  ]);
  assert.deepEqual(
    diff({
      relation: r2,
      destination: dest([
        ['id', 'integer'],
        ['v', 'text'],
        ['n', 'integer'],
      ]),
      addedBefore: ['n'],
    }),
    {
      kind: 'alter',
      changes: [{ kind: 'drop', column: 'n' }],
    },
  );
  assert.deepEqual(
    diff({
      relation: r2,
      destination: dest([
        ['id', 'integer'],
        ['v', 'text'],
        ['n', 'integer'],
      ]),
    }),
    {
      kind: 'same',
    },
  );
});

test('[P8] a built-in type change is followed; a user-defined one is refused', () => {
  const r = relation([
    ['id', INT4],
    ['v', INT8],
  ]);
  assert.deepEqual(
    diff({
      relation: r,
      destination: dest([
        ['id', 'integer'],
        ['v', 'integer'],
      ]),
    }),
    {
      kind: 'alter',
      changes: [{ kind: 'retype', column: 'v', typeName: 'bigint' }],
    },
  );
  unsupported(
    diff({
      relation: relation([
        ['id', INT4],
        ['v', 70000],
      ]),
      previous: relation([
        ['id', INT4],
        ['v', TEXT],
      ]),
      destination: BASE,
    }),
    /type of "v" changed to app\.mood, a user-defined type/,
  );
  // The user type's name in the destination may differ: without a change in the stream, no ALTER.
  assert.deepEqual(
    diff({
      relation: relation([
        ['id', INT4],
        ['v', 70000],
      ]),
      destination: dest([
        ['id', 'integer'],
        ['v', 'dst.mood'],
      ]),
    }),
    {
      kind: 'same',
    },
  );
});

test('[P8] a rename (a name changing at the same position), adds with drops, reordering and early adds are refused', () => {
  unsupported(
    diff({
      relation: relation([
        ['id', INT4],
        ['w', TEXT],
      ]),
      destination: BASE,
    }),
    /"v" → "w" looks like a rename/,
  );
  unsupported(
    diff({
      relation: relation([
        ['id', INT4],
        ['a', TEXT],
        ['b', TEXT],
      ]),
      destination: BASE,
    }),
    /appeared and "v" disappeared at once/,
  );
  unsupported(
    diff({
      relation: relation([
        ['v', TEXT],
        ['id', INT4],
      ]),
      destination: BASE,
    }),
    /another order: source "v", "id", destination "id", "v"/,
  );
  unsupported(
    diff({
      relation: relation([
        ['id', INT4],
        ['n', INT4],
        ['v', TEXT],
      ]),
      destination: BASE,
    }),
    /"n" appeared before existing columns/,
  );
});

test('[P8] a replica identity or key change is refused', () => {
  const before = relation([
    ['id', INT4],
    ['v', TEXT],
  ]);
  unsupported(
    diff({
      relation: relation(
        [
          ['id', INT4],
          ['v', TEXT],
        ],
        'full',
      ),
      previous: before,
      destination: BASE,
    }),
    /replica identity changed from default \("id"\) to full/,
  );
  unsupported(
    diff({
      relation: relation(
        [
          ['id', INT4, true],
          ['v', TEXT, true],
        ],
        'index',
      ),
      previous: before,
      destination: BASE,
    }),
    /replica identity changed/,
  );
});

test('[P8] renamed and excluded columns are compared under their destination names; a merged table is refused', () => {
  const t = target({ columns: { v: 'value' }, excludeColumns: ['secret'] }, ['id', 'v', 'secret']);
  const d = dest([
    ['id', 'integer'],
    ['value', 'text'],
  ]);
  assert.deepEqual(
    diff({
      target: t,
      relation: relation([
        ['id', INT4],
        ['v', TEXT],
        ['secret', TEXT],
      ]),
      destination: d,
    }),
    {
      kind: 'same',
    },
  );
  assert.deepEqual(
    diff({
      target: t,
      relation: relation([
        ['id', INT4],
        ['v', TEXT],
        ['secret', TEXT],
        ['n', INT8],
      ]),
      destination: d,
    }),
    { kind: 'alter', changes: [{ kind: 'add', column: 'n', typeName: 'bigint', existingRows: null }] },
  );
  assert.deepEqual(
    diff({
      target: t,
      relation: relation([
        ['id', INT4],
        ['secret', TEXT],
      ]),
      destination: d,
    }),
    {
      kind: 'alter',
      changes: [{ kind: 'drop', column: 'value' }],
    },
  );
  const merged = target({ as: 'app.all', mergeInto: true });
  unsupported(
    diff({
      target: merged,
      relation: relation([
        ['id', INT4],
        ['v', TEXT],
        ['n', INT4],
      ]),
      destination: BASE,
    }),
    /merged into another \(mergeInto\)/,
  );
});
