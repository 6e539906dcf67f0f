/**
 * Value encodings of the Kafka sink against Debezium's documented defaults (postgresql.adoc, "Data
 * type mappings"), the Connect schemas of `schemas: true`, and the COPY text decoder; sans-I/O.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UNCHANGED_TOAST } from '../../../src/core/change.ts';
import { ChangeEventEncoder, type EventTable } from '../../../src/sink/kafka/change-event.ts';
import { CopyTextRows, unescapeCopyText } from '../../../src/sink/kafka/copy-text-rows.ts';
import {
  columnCodec,
  parseArrayLiteral,
  twosComplementBytes,
} from '../../../src/sink/kafka/debezium-value.ts';
import { jsonText } from '../../../src/sink/kafka/json-text.ts';

const enc = (oid: number, typmod: number, text: string) => columnCodec(oid, typmod).encode(text);
/** numeric(p,s) atttypmod. */
const numericTypmod = (p: number, s: number) => ((p << 16) | s) + 4;

test('two’s complement bytes are Java BigInteger.toByteArray()', () => {
  const b64 = (n: bigint) => twosComplementBytes(n).toString('base64');
  assert.equal(b64(0n), 'AA==');
  assert.equal(b64(1n), 'AQ==');
  assert.equal(b64(-1n), '/w==');
  assert.equal(b64(127n), 'fw==');
  assert.equal(b64(128n), 'AIA=');
  assert.equal(b64(-128n), 'gA==');
  assert.equal(b64(-129n), '/38=');
  assert.equal(b64(255n), 'AP8=');
  assert.equal(b64(1234n), 'BNI=');
});

test('numbers: ints, exact bigint, floats, Decimal and VariableScaleDecimal', () => {
  assert.equal(enc(23, -1, '-42'), -42);
  assert.equal(jsonText(enc(20, -1, '9007199254740993')), '9007199254740993');
  assert.equal(enc(701, -1, '1.5e+20'), 1.5e20);
  assert.equal(enc(701, -1, 'NaN'), 'NaN');
  assert.equal(enc(1700, numericTypmod(10, 2), '12.34'), 'BNI=');
  assert.deepEqual(columnCodec(1700, numericTypmod(10, 2)).type.parameters, {
    scale: '2',
    'connect.decimal.precision': '10',
  });
  assert.deepEqual(enc(1700, -1, '-1.50'), { scale: 2, value: '/2o=' });
  assert.equal(enc(1700, numericTypmod(10, 2), 'NaN'), null);
  assert.equal(enc(16, -1, 't'), true);
});

test('temporal types: Date, Time/MicroTime, Timestamp/MicroTimestamp, ZonedTimestamp, ZonedTime, MicroDuration', () => {
  assert.equal(enc(1082, -1, '2024-02-29'), 19782);
  assert.equal(enc(1082, -1, '1969-12-31'), -1);
  assert.equal(enc(1083, -1, '12:34:56.789012'), 45_296_789_012);
  assert.equal(columnCodec(1083, -1).type.name, 'io.debezium.time.MicroTime');
  assert.equal(enc(1083, 3, '12:34:56.789'), 45_296_789);
  assert.equal(columnCodec(1083, 3).type.name, 'io.debezium.time.Time');
  assert.equal(enc(1114, -1, '2024-02-29 12:34:56.789012'), 1_709_210_096_789_012);
  assert.equal(columnCodec(1114, -1).type.name, 'io.debezium.time.MicroTimestamp');
  assert.equal(enc(1114, 0, '2024-02-29 12:34:56'), 1_709_210_096_000);
  assert.equal(columnCodec(1114, 0).type.name, 'io.debezium.time.Timestamp');
  // ZonedTimestamp: fraction padded to the column's precision (DBZ-5996), 6 by default.
  assert.equal(enc(1184, -1, '2024-02-29 12:34:56.789+05:30'), '2024-02-29T07:04:56.789000Z');
  assert.equal(enc(1184, -1, '2024-02-29 12:34:56+00'), '2024-02-29T12:34:56.000000Z');
  assert.equal(enc(1184, 3, '2024-02-29 12:34:56.5+00'), '2024-02-29T12:34:56.500Z');
  assert.equal(enc(1184, 0, '2024-02-29 12:34:56+00'), '2024-02-29T12:34:56Z');
  assert.equal(enc(1184, -1, '2024-02-29 12:34:56.000123-01'), '2024-02-29T13:34:56.000123Z');
  assert.equal(enc(1266, -1, '12:00:00+02'), '10:00:00Z');
  assert.equal(enc(1266, -1, '01:00:00.5+02'), '23:00:00.5Z');
  assert.equal(enc(1186, -1, '1 year 2 mons 3 days 04:05:06.5'), 37_091_106_500_000);
  assert.equal(enc(1186, -1, '-1 days +02:03:00'), -79_020_000_000);
  assert.equal(enc(1186, -1, '00:00:01'), 1_000_000);
  assert.equal(enc(1114, -1, 'infinity'), null);
});

test('strings, json, uuid, bytea, bits, point, arrays; unknown types as text', () => {
  assert.equal(enc(25, -1, 'héllo'), 'héllo');
  assert.equal(columnCodec(3802, -1).type.name, 'io.debezium.data.Json');
  assert.equal(columnCodec(2950, -1).type.name, 'io.debezium.data.Uuid');
  assert.equal(enc(17, -1, '\\x0102ff'), 'AQL/');
  assert.equal(enc(1560, 1, '1'), true);
  assert.deepEqual(enc(1009, -1, '{a,"b \\"q\\"",NULL,"NULL"}'), ['a', 'b "q"', null, 'NULL']);
  assert.deepEqual(enc(1007, -1, '{1,-2}'), [1, -2]);
  assert.deepEqual(enc(1009, -1, '{}'), []);
  assert.throws(() => parseArrayLiteral('{{1},{2}}'), /multi-dimensional/);
  // Vectors from Debezium 3.6.1's own events (fixtures/debezium-schemas-false.json).
  assert.deepEqual(enc(600, -1, '(1.5,-2)'), {
    x: 1.5,
    y: -2,
    wkb: 'AQEAAAAAAAAAAAD4PwAAAAAAAADA',
    srid: null,
  });
  assert.equal(enc(1560, 4, '1010'), 'Cg==');
  assert.equal(enc(1560, 4, '0000'), '');
  assert.equal(enc(1562, 8, '101'), 'BQ==');
  assert.equal(enc(1560, 16, '0000000100000010'), 'AgE=', 'little-endian, as Java BitSet.toByteArray');
  assert.deepEqual(columnCodec(1562, 8).type.parameters, { length: '8' });
  assert.equal(enc(603, -1, '(1,1),(0,0)'), '(1,1),(0,0)');
});

const table: EventTable = {
  schema: 'public',
  name: 't',
  columns: [
    { name: 'id', typeOid: 23, typeModifier: -1, isKey: true },
    { name: 'amount', typeOid: 1700, typeModifier: numericTypmod(8, 3), isKey: false },
    { name: 'body', typeOid: 25, typeModifier: -1, isKey: false },
  ],
};
const source = {
  snapshot: 'false' as const,
  tsMs: 1_700_000_000_123,
  txId: 77,
  lsn: 1234n,
  lastCommitLsn: 1000n,
};

test('schemas: true wraps key and value in {schema, payload} with Debezium’s names', () => {
  const e = new ChangeEventEncoder({
    serverName: 'srv',
    db: 'app',
    schemas: true,
    placeholder: 'X',
    tombstones: true,
  });
  const [rec, tomb] = e.event(table, 'd', { tuple: ['5', null, null], keyOnly: true }, undefined, source);
  const key = JSON.parse(rec?.key?.toString() ?? '') as { schema: Record<string, unknown>; payload: unknown };
  assert.deepEqual(key.payload, { id: 5 });
  assert.equal(key.schema.name, 'srv.public.t.Key');
  assert.deepEqual(key.schema.fields, [{ type: 'int32', optional: false, field: 'id' }]);
  const value = JSON.parse(rec?.value?.toString() ?? '') as {
    schema: { name: string; fields: { field: string; fields?: Record<string, unknown>[] }[] };
    payload: Record<string, unknown>;
  };
  assert.equal(value.schema.name, 'srv.public.t.Envelope');
  assert.deepEqual(
    value.schema.fields.map((f) => f.field),
    ['before', 'after', 'source', 'transaction', 'op', 'ts_ms', 'ts_us', 'ts_ns'],
  );
  assert.deepEqual(value.schema.fields[0]?.fields?.[1], {
    type: 'bytes',
    optional: true,
    name: 'org.apache.kafka.connect.data.Decimal',
    version: 1,
    parameters: { scale: '3', 'connect.decimal.precision': '8' },
    field: 'amount',
  });
  assert.deepEqual(value.payload.before, { id: 5, amount: null, body: null });
  assert.equal(value.payload.op, 'd');
  assert.deepEqual(value.payload.source, {
    version: '3.6.1.Final',
    connector: 'postgresql',
    name: 'srv',
    ts_ms: 1_700_000_000_123,
    snapshot: 'false',
    db: 'app',
    sequence: '["1000","1234"]',
    ts_us: 1_700_000_000_123_000,
    ts_ns: 1_700_000_000_123_000_000,
    schema: 'public',
    table: 't',
    txId: 77,
    lsn: 1234,
    xmin: null,
    origin: null,
    origin_lsn: null,
  });
  assert.deepEqual(tomb, { key: rec?.key, value: undefined });
});

test('schemas: false writes the payload alone; an unchanged TOAST value is the placeholder, never null', () => {
  const e = new ChangeEventEncoder({
    serverName: 'srv',
    db: 'app',
    schemas: false,
    placeholder: '__debezium_unavailable_value',
    tombstones: false,
  });
  const [rec, ...rest] = e.event(table, 'u', undefined, ['5', '1.250', UNCHANGED_TOAST], source);
  assert.equal(rest.length, 0);
  assert.equal(rec?.key?.toString(), '{"id":5}');
  const v = JSON.parse(rec?.value?.toString() ?? '') as { after: Record<string, unknown>; before: unknown };
  assert.deepEqual(v.after, { id: 5, amount: 'BOI=', body: '__debezium_unavailable_value' });
  assert.equal(v.before, null);
  // 1.250 at scale 3 = 1250 = 0x04E2.
  assert.equal(Buffer.from('BOI=', 'base64').readUInt16BE(0), 1250);
});

test('COPY text rows: tabs, \\N, escapes, rows split across chunks (multi-byte characters too)', () => {
  assert.equal(unescapeCopyText('a\\tb\\nc\\\\d\\101\\x42'), 'a\tb\nc\\dAB');
  const p = new CopyTextRows();
  const data = Buffer.from('1\tab\\tc\t\\N\n2\tnaïve €\t\\\\N\n');
  const cut = data.indexOf(Buffer.from('€')) + 1; // inside the euro sign
  const rows = [...p.push(data.subarray(0, cut)), ...p.push(data.subarray(cut))];
  assert.deepEqual(rows, [
    ['1', 'ab\tc', null],
    ['2', 'naïve €', '\\N'],
  ]);
  assert.equal(p.unfinished, false);
});

test('COPY text rows: the same rows wherever the chunks are cut (inside rows, at newlines, rows over three chunks)', () => {
  const data = Buffer.from(
    [
      '1\tab\\tc\t\\N',
      '',
      '2\tnaïve €\t\\\\N',
      '3\t' + 'x'.repeat(40) + '\t\\x41\\101',
      '4\t\t',
      '\\.',
      '',
    ].join('\n'),
  );
  const whole = new CopyTextRows().push(data);
  assert.equal(whole.length, 5);
  assert.deepEqual(whole[1], ['']);
  assert.deepEqual(whole[3], ['3', 'x'.repeat(40), 'AA']);
  assert.deepEqual(whole[4], ['4', '', '']);
  for (let a = 0; a <= data.length; a++) {
    for (const b of [a, a + 1, a + 7, a + 30]) {
      const p = new CopyTextRows();
      const cut = Math.min(b, data.length);
      const rows = [
        ...p.push(data.subarray(0, a)),
        ...p.push(data.subarray(a, cut)),
        ...p.push(data.subarray(cut)),
      ];
      assert.deepEqual(rows, whole, `cut at ${a} and ${cut}`);
      assert.equal(p.unfinished, false);
    }
  }
  const p = new CopyTextRows();
  p.push(Buffer.from('1\tunfinished'));
  assert.equal(p.unfinished, true);
});
