/** What a publication still lacks of a selection, as pg_publication_tables lists it (sans I/O). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SelectedTable } from '../../../src/core/selected-table.ts';
import { selectedTable } from '../../support/selected-table.ts';
import {
  missingFromPublication,
  publicationTables,
} from '../../../src/source/postgres/publication-coverage.ts';

const t = (name: string, relkind: 'r' | 'p' = 'r', root?: string): SelectedTable =>
  selectedTable('s', name, { relkind, ...(root !== undefined ? { root } : {}) });

const plain = t('plain');
const root = t('parted', 'p');
const p1 = t('parted_1', 'r', 'parted');
const p2 = t('parted_2', 'r', 'parted');
const selection = [plain, root, p1, p2];
const names = (ts: readonly SelectedTable[]) => ts.map((x) => x.name);

test('a publication lists roots and plain tables; partitions come with their root', () => {
  assert.deepEqual(names(publicationTables(selection)), ['plain', 'parted']);
});

test('partitions listed by name (publish_via_partition_root off) or their root (on) are carried', () => {
  assert.deepEqual(
    missingFromPublication(selection, []).map((x) => x.name),
    ['plain', 'parted'],
  );
  const byLeaf = [
    { schema: 's', name: 'plain' },
    { schema: 's', name: 'parted_1' },
    { schema: 's', name: 'parted_2' },
  ];
  assert.deepEqual(missingFromPublication(selection, byLeaf), []);
  assert.deepEqual(
    missingFromPublication(selection, [{ schema: 's', name: 'parted' }]).map((x) => x.name),
    ['plain'],
  );
  // A partition missing (attached later, published under another root): its root is added.
  assert.deepEqual(names(missingFromPublication(selection, byLeaf.slice(0, 2))), ['parted']);
});
