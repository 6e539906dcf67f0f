/**
 * The progress block on a terminal stays small with thousands of tables: at most MAX_TABLE_BARS
 * bars, the other tables being copied counted in one line, finished tables counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TABLE_BARS, ProgressDisplay } from '../../src/cli/progress-renderer.ts';

/** A terminal that records what is written. */
function fakeTty(): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY: true,
    write: (s: string) => {
      written.push(s);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

const table = (name: string, done: boolean) =>
  ({
    kind: 'table',
    table: name,
    rangesDone: done ? 1 : 0,
    rangesTotal: 1,
    rows: done ? 50 : 10,
    bytes: 1000,
    estimatedRows: 50,
    done,
  }) as const;

test('10,000 tables: the block shows a few bars, the rest counted, finished tables counted', () => {
  const { stream, written } = fakeTty();
  const d = new ProgressDisplay(stream);
  try {
    d.update({ kind: 'phase', phase: 'full' });
    for (let i = 0; i < 10_000; i++) d.update(table(`public.t_${i}`, false));
    for (let i = 0; i < 9_000; i++) d.update(table(`public.t_${i}`, true));
    // A late progress event of a finished table does not bring its bar back.
    d.update(table('public.t_5', false));
    d.draw();
    const block = written.at(-1) ?? '';
    const lines = block.trimEnd().split('\n');
    assert.equal(lines.filter((l) => l.includes('[')).length, MAX_TABLE_BARS, block);
    assert.ok(lines.includes(`  ... and ${1_000 - MAX_TABLE_BARS} more tables being copied`), block);
    assert.ok(lines.includes('  9000 tables copied'), block);
    assert.ok(!block.includes('public.t_5 '), block);
    assert.equal(lines.length, MAX_TABLE_BARS + 2, block);
  } finally {
    d.close();
  }
});
