/**
 * The change event encoder writes JSON text directly (change-event.ts); its bytes must be those of
 * the encoder it replaced (objects written by jsonText, kept in reference-encoder.ts) for every
 * type, operation and option, since consumers and the golden files depend on them. Sans-I/O.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNCHANGED_TOAST, type Datum } from '../../../src/core/change.ts';
import {
  ChangeEventEncoder,
  type EventRecord,
  type EventSource,
  type EventTable,
  type TransactionBlock,
} from '../../../src/sink/kafka/change-event.ts';
import { ReferenceEncoder } from './reference-encoder.ts';

const numericTypmod = (p: number, s: number) => ((p << 16) | s) + 4;

/** Columns of every type the codecs know (and some they do not), with sample texts. */
const SAMPLES: readonly { name: string; oid: number; typmod: number; values: readonly string[] }[] = [
  { name: 'id', oid: 20, typmod: -1, values: ['1', '-9007199254740993', '9223372036854775807'] },
  { name: 'b', oid: 16, typmod: -1, values: ['t', 'f'] },
  { name: 'i2', oid: 21, typmod: -1, values: ['-32768', '0', '7'] },
  // Texts PostgreSQL never writes for an int too ('007', '+5', '-0'): the encoder's shortcut
  // (the text is the number) must not take them.
  { name: 'i4', oid: 23, typmod: -1, values: ['2147483647', '-1', '007', '+5', '-0', '0', ' 7'] },
  { name: 'o', oid: 26, typmod: -1, values: ['4294967295', '0012', '-0', '+3'] },
  { name: 'f4', oid: 700, typmod: -1, values: ['1.5', 'NaN', '-Infinity', '1e+20', '-0'] },
  { name: 'f8', oid: 701, typmod: -1, values: ['3.141592653589793', 'Infinity', '1.5e-300'] },
  { name: 'n', oid: 1700, typmod: -1, values: ['-1.50', '0', 'NaN', '123456789012345678901234567890.5'] },
  { name: 'n82', oid: 1700, typmod: numericTypmod(8, 2), values: ['1.255', '-0.01', 'Infinity'] },
  { name: 'money', oid: 790, typmod: -1, values: ['$1,234.50', '-$0.99'] },
  { name: 'txt', oid: 25, typmod: -1, values: ['', 'héllo "q" \\ \n\t\u0001 €', '\ud800 lone', '𝄞'] },
  { name: 'vc', oid: 1043, typmod: 14, values: ['abc'] },
  { name: 'bp', oid: 1042, typmod: 88, values: [' '.repeat(84)] },
  { name: 'j', oid: 114, typmod: -1, values: ['{"k": [1, "x"]}'] },
  { name: 'jb', oid: 3802, typmod: -1, values: ['{"a": {"z": true}}'] },
  { name: 'x', oid: 142, typmod: -1, values: ['<a>b</a>'] },
  { name: 'u', oid: 2950, typmod: -1, values: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'] },
  { name: 'by', oid: 17, typmod: -1, values: ['\\x0102ff', '\\x'] },
  { name: 'bit1', oid: 1560, typmod: 1, values: ['1', '0'] },
  { name: 'bits', oid: 1560, typmod: 16, values: ['0000000100000010'] },
  { name: 'vb', oid: 1562, typmod: 8, values: ['101', ''] },
  { name: 'pt', oid: 600, typmod: -1, values: ['(1.5,-2)'] },
  { name: 'd', oid: 1082, typmod: -1, values: ['2024-02-29', '1969-12-31'] },
  { name: 't', oid: 1083, typmod: -1, values: ['12:34:56.789012'] },
  { name: 't3', oid: 1083, typmod: 3, values: ['12:34:56.789'] },
  { name: 'tz', oid: 1266, typmod: -1, values: ['01:00:00.5+02'] },
  { name: 'ts', oid: 1114, typmod: -1, values: ['2024-02-29 12:34:56.789012', 'infinity'] },
  { name: 'ts0', oid: 1114, typmod: 0, values: ['2024-02-29 12:34:56', '-infinity'] },
  { name: 'tstz', oid: 1184, typmod: -1, values: ['2024-02-29 12:34:56.789+05:30', 'infinity'] },
  { name: 'tstz3', oid: 1184, typmod: 3, values: ['2024-02-29 12:34:56.5+00'] },
  { name: 'iv', oid: 1186, typmod: -1, values: ['1 year 2 mons 3 days 04:05:06.5', '-1 days +02:03:00'] },
  { name: 'ia', oid: 1007, typmod: -1, values: ['{1,NULL,-2}', '{}'] },
  { name: 'ta', oid: 1009, typmod: -1, values: ['{a,"b \\"q\\"",NULL,"NULL"}'] },
  { name: 'na', oid: 1231, typmod: -1, values: ['{1.5,NaN}'] },
  { name: 'box', oid: 603, typmod: -1, values: ['(1,1),(0,0)'] },
  { name: 'Ünïcödé "col"', oid: 25, typmod: -1, values: ['ü'] },
];

function tableOf(keys: readonly string[], columns = SAMPLES): EventTable {
  return {
    schema: 'Sch"ema',
    name: 'tåble',
    columns: columns.map((c) => ({
      name: c.name,
      typeOid: c.oid,
      typeModifier: c.typmod,
      isKey: keys.includes(c.name),
    })),
  };
}

/** Row `k` of the samples: each column cycles through its values, every 7th is NULL. */
function rowOf(k: number, columns = SAMPLES): Datum[] {
  return columns.map((c, i) =>
    i > 0 && (k + i) % 7 === 0 ? null : (c.values[(k + i) % c.values.length] ?? null),
  );
}

/** The text of a record with the envelope's own ts_ms/ts_us/ts_ns (the time it was made) fixed. */
function text(r: EventRecord | undefined, checkTimes: boolean): { key?: string; value?: string } {
  const value = r?.value?.toString();
  if (value !== undefined && checkTimes) {
    const m = /"ts_ms":(\d+),"ts_us":(\d+),"ts_ns":(\d+)\}(\})?$/.exec(value);
    assert.ok(m, `envelope times at the end of ${value.slice(-120)}`);
    const [ms, us, ns] = [BigInt(m[1] ?? ''), BigInt(m[2] ?? ''), BigInt(m[3] ?? '')];
    assert.equal(us / 1000n, ms);
    assert.equal(ns, us * 1000n);
  }
  return {
    ...(r?.key !== undefined ? { key: r.key.toString() } : {}),
    ...(value !== undefined
      ? {
          value: value.replace(
            /"ts_ms":\d+,"ts_us":\d+,"ts_ns":\d+\}(\}?)$/,
            '"ts_ms":0,"ts_us":0,"ts_ns":0}$1',
          ),
        }
      : {}),
  };
}

function same(ours: EventRecord[], ref: EventRecord[], what: string): void {
  assert.equal(ours.length, ref.length, what);
  ours.forEach((r, i) => {
    assert.deepEqual(text(r, true), text(ref[i], false), `${what}, record ${i}`);
  });
}

const SOURCES: readonly EventSource[] = [
  { snapshot: 'true', tsMs: 1_733_333_333_333, txId: null, lsn: 123_456_789n, lastCommitLsn: null },
  { snapshot: 'false', tsMs: 1_700_000_000_123, txId: 77, lsn: 1234n, lastCommitLsn: 1000n },
  { snapshot: 'false', tsMs: 0, txId: 4_294_967_295, lsn: null, lastCommitLsn: 18_446_744_073_709_551_615n },
  { snapshot: 'false', tsMs: -86_400_001, txId: 1, lsn: 1n, lastCommitLsn: null },
];
const BLOCKS: readonly (TransactionBlock | undefined)[] = [
  undefined,
  { id: '77:0/4D2', totalOrder: 3, dataCollectionOrder: 1 },
];

for (const schemas of [false, true]) {
  for (const tombstones of [false, true]) {
    test(`event bytes equal the object encoder's (schemas: ${String(schemas)}, tombstones: ${String(tombstones)})`, () => {
      const options = {
        serverName: 'srv "1"',
        db: 'app',
        schemas,
        placeholder: '__debezium_unavailable_value',
        tombstones,
      };
      const ours = new ChangeEventEncoder(options);
      const ref = new ReferenceEncoder(options);
      const tables = [tableOf(['id']), tableOf(['id', 'i4', 'txt']), tableOf([])];
      let k = 0;
      for (const t of tables) {
        for (const source of SOURCES) {
          for (const block of BLOCKS) {
            for (let n = 0; n < 6; n++, k++) {
              const row = rowOf(k);
              const old = rowOf(k + 3);
              if (n === 5) row[10] = UNCHANGED_TOAST;
              const what = `table ${t.columns.filter((c) => c.isKey).length} keys, row ${k}`;
              same(
                ours.event(t, 'r', undefined, row, source, block),
                ref.event(t, 'r', undefined, row, source, block),
                `${what} r`,
              );
              same(
                ours.event(t, 'c', undefined, row, source, block),
                ref.event(t, 'c', undefined, row, source, block),
                `${what} c`,
              );
              for (const keyOnly of [false, true]) {
                const before = { tuple: old, keyOnly };
                same(
                  ours.event(t, 'u', before, row, source, block),
                  ref.event(t, 'u', before, row, source, block),
                  `${what} u`,
                );
                same(
                  ours.event(t, 'd', before, undefined, source, block),
                  ref.event(t, 'd', before, undefined, source, block),
                  `${what} d`,
                );
              }
              same([ours.truncate(t, source, block)], [ref.truncate(t, source, block)], `${what} t`);
              assert.equal(ours.key(t, row)?.toString(), ref.key(t, row)?.toString());
            }
          }
        }
      }
      // A table without columns, and a tuple shorter than its table.
      const empty: EventTable = { schema: 's', name: 'e', columns: [] };
      same(
        ours.event(empty, 'c', undefined, [], SOURCES[1] ?? SOURCES[0]!, undefined),
        ref.event(empty, 'c', undefined, [], SOURCES[1]!, undefined),
        'no columns',
      );
      const t = tableOf(['id']);
      same(
        ours.event(t, 'c', undefined, ['5'], SOURCES[0]!),
        ref.event(t, 'c', undefined, ['5'], SOURCES[0]!),
        'short tuple',
      );
    });
  }
}

test('one source object for many rows (a full sync unit) is written once and stays right per table', () => {
  const options = { serverName: 'srv', db: 'app', schemas: false, placeholder: 'X', tombstones: true };
  const ours = new ChangeEventEncoder(options);
  const ref = new ReferenceEncoder(options);
  const a = tableOf(['id']);
  const b: EventTable = { ...tableOf(['id']), name: 'other' };
  const s = SOURCES[0]!;
  for (let k = 0; k < 20; k++) {
    const t = k % 3 === 0 ? b : a;
    same(ours.event(t, 'r', undefined, rowOf(k), s), ref.event(t, 'r', undefined, rowOf(k), s), `row ${k}`);
  }
});
