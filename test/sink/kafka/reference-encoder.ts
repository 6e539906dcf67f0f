/**
 * The change event encoder of src/sink/kafka/change-event.ts as it was up to 5b3cd28: it built each
 * event as an object and wrote it with jsonText. Kept as the reference the direct-text encoder must
 * match byte for byte (change-event-text.test.ts); the golden test compares parsed events only.
 */
import { UNCHANGED_TOAST, type Tuple } from '../../../src/core/change.ts';
import {
  DEBEZIUM_FORMAT_VERSION,
  type ChangeEventEncoderOptions,
  type EventRecord,
  type EventSource,
  type EventTable,
  type TransactionBlock,
} from '../../../src/sink/kafka/change-event.ts';
import { columnCodec, type ColumnCodec, type ConnectSchema } from '../../../src/sink/kafka/debezium-value.ts';
import { jsonText, type JsonValue } from '../../../src/sink/kafka/json-text.ts';

/** Per table: codecs and the schemas of key and value (when `schemas`). */
interface TablePlan {
  readonly table: EventTable;
  readonly codecs: readonly ColumnCodec[];
  readonly keyIndexes: readonly number[];
  readonly keySchema: JsonValue;
  readonly valueSchema: JsonValue;
}

/** The Connect schema of the `source` block (io.debezium.connector.postgresql.Source). */
const SOURCE_SCHEMA: ConnectSchema = {
  type: 'struct',
  name: 'io.debezium.connector.postgresql.Source',
  version: 1,
  optional: false,
  field: 'source',
  fields: [
    { type: 'string', optional: false, field: 'version' },
    { type: 'string', optional: false, field: 'connector' },
    { type: 'string', optional: false, field: 'name' },
    { type: 'int64', optional: false, field: 'ts_ms' },
    {
      type: 'string',
      optional: true,
      name: 'io.debezium.data.Enum',
      version: 1,
      parameters: {
        allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental',
      },
      default: 'false',
      field: 'snapshot',
    },
    { type: 'string', optional: false, field: 'db' },
    { type: 'string', optional: true, field: 'sequence' },
    { type: 'int64', optional: true, field: 'ts_us' },
    { type: 'int64', optional: true, field: 'ts_ns' },
    { type: 'string', optional: false, field: 'schema' },
    { type: 'string', optional: false, field: 'table' },
    { type: 'int64', optional: true, field: 'txId' },
    { type: 'int64', optional: true, field: 'lsn' },
    { type: 'int64', optional: true, field: 'xmin' },
    // Replication origin of the change (Debezium 3.x); pgdts does not decode origins: always null.
    { type: 'string', optional: true, field: 'origin' },
    { type: 'int64', optional: true, field: 'origin_lsn' },
  ],
};

const TRANSACTION_SCHEMA: ConnectSchema = {
  type: 'struct',
  name: 'event.block',
  version: 1,
  optional: true,
  field: 'transaction',
  fields: [
    { type: 'string', optional: false, field: 'id' },
    { type: 'int64', optional: false, field: 'total_order' },
    { type: 'int64', optional: false, field: 'data_collection_order' },
  ],
};

function schemaJson(s: ConnectSchema): JsonValue {
  const o: Record<string, JsonValue> = { type: s.type };
  if (s.fields !== undefined) o.fields = s.fields.map(schemaJson);
  if (s.items !== undefined) o.items = schemaJson(s.items);
  o.optional = s.optional;
  if (s.name !== undefined) o.name = s.name;
  if (s.version !== undefined) o.version = s.version;
  if (s.doc !== undefined) o.doc = s.doc;
  if (s.parameters !== undefined) o.parameters = { ...s.parameters };
  if (s.default !== undefined) o.default = s.default;
  if (s.field !== undefined) o.field = s.field;
  return o;
}

/** The encoder as it was before it wrote JSON text directly (objects, then jsonText). */
export class ReferenceEncoder {
  private readonly plans = new WeakMap<EventTable, TablePlan>();

  constructor(private readonly o: ChangeEventEncoderOptions) {}

  private plan(table: EventTable): TablePlan {
    let p = this.plans.get(table);
    if (p !== undefined) return p;
    const codecs = table.columns.map((c) => columnCodec(c.typeOid, c.typeModifier));
    const keyIndexes = table.columns.flatMap((c, i) => (c.isKey ? [i] : []));
    const prefix = `${this.o.serverName}.${table.schema}.${table.name}`;
    const field = (i: number, keyPart: boolean): ConnectSchema => ({
      ...(codecs[i]?.type ?? { type: 'string' }),
      // pgoutput does not say which columns are NOT NULL: only key columns are known to be.
      optional: !(keyPart || table.columns[i]?.isKey === true),
      field: table.columns[i]?.name ?? '',
    });
    const rowSchema = (f: string): ConnectSchema => ({
      type: 'struct',
      fields: table.columns.map((_, i) => field(i, false)),
      optional: true,
      name: `${prefix}.Value`,
      field: f,
    });
    p = {
      table,
      codecs,
      keyIndexes,
      keySchema: schemaJson({
        type: 'struct',
        fields: keyIndexes.map((i) => field(i, true)),
        optional: false,
        name: `${prefix}.Key`,
      }),
      valueSchema: schemaJson({
        type: 'struct',
        fields: [
          rowSchema('before'),
          rowSchema('after'),
          SOURCE_SCHEMA,
          TRANSACTION_SCHEMA,
          { type: 'string', optional: false, field: 'op' },
          { type: 'int64', optional: true, field: 'ts_ms' },
          { type: 'int64', optional: true, field: 'ts_us' },
          { type: 'int64', optional: true, field: 'ts_ns' },
        ],
        optional: false,
        name: `${prefix}.Envelope`,
        version: 2,
      }),
    };
    this.plans.set(table, p);
    return p;
  }

  private row(p: TablePlan, t: Tuple, only?: readonly number[]): JsonValue {
    const o: Record<string, JsonValue> = {};
    const keep = only === undefined ? undefined : new Set(only);
    p.table.columns.forEach((c, i) => {
      const d = keep === undefined || keep.has(i) ? t[i] : null;
      if (d === undefined || d === null) o[c.name] = null;
      else if (d === UNCHANGED_TOAST) o[c.name] = this.o.placeholder;
      else {
        // A codec may write null for a value its type cannot carry (numeric NaN, timestamp
        // infinity), as Debezium does: never fall back to the text then.
        const codec = p.codecs[i];
        o[c.name] = codec === undefined ? d : codec.encode(d);
      }
    });
    return o;
  }

  private wrap(schema: JsonValue, payload: JsonValue): Buffer {
    return Buffer.from(jsonText(this.o.schemas ? { schema, payload } : payload));
  }

  /** The JSON key of a row of `table` (undefined when the table has no key columns). */
  key(table: EventTable, t: Tuple): Buffer | undefined {
    const p = this.plan(table);
    if (p.keyIndexes.length === 0) return undefined;
    const o: Record<string, JsonValue> = {};
    for (const i of p.keyIndexes) {
      const c = p.table.columns[i];
      const d = t[i];
      if (c === undefined) continue;
      o[c.name] =
        d === undefined || d === null
          ? null
          : d === UNCHANGED_TOAST
            ? this.o.placeholder
            : (p.codecs[i] ?? { encode: (x: string) => x }).encode(d);
    }
    return this.wrap(p.keySchema, o);
  }

  /** Whether the key columns of `a` and `b` differ (an UPDATE that changed the key). */
  keyChanged(table: EventTable, a: Tuple, b: Tuple): boolean {
    return this.plan(table).keyIndexes.some((i) => a[i] !== b[i]);
  }

  /**
   * The records of one event: the event and, for a delete with tombstones on, the tombstone.
   * `before`: the old row (`beforeKeyOnly`: only its key columns are known, the others are written
   * as null); `after`: the new row.
   */
  event(
    table: EventTable,
    op: 'r' | 'c' | 'u' | 'd',
    before: { readonly tuple: Tuple; readonly keyOnly: boolean } | undefined,
    after: Tuple | undefined,
    source: EventSource,
    transaction?: TransactionBlock,
  ): EventRecord[] {
    const p = this.plan(table);
    const keyTuple = after ?? before?.tuple;
    const key = keyTuple === undefined ? undefined : this.key(table, keyTuple);
    const value = this.wrap(p.valueSchema, {
      before:
        before === undefined ? null : this.row(p, before.tuple, before.keyOnly ? p.keyIndexes : undefined),
      after: after === undefined ? null : this.row(p, after),
      source: this.source(table, source),
      transaction: transactionField(transaction),
      op,
      ...now(),
    });
    const out: EventRecord[] = [{ key, value }];
    if (op === 'd' && this.o.tombstones) out.push({ key, value: undefined });
    return out;
  }

  /** A truncate event (`op: t`): no key, no before or after (Debezium's truncate event). */
  truncate(table: EventTable, source: EventSource, transaction?: TransactionBlock): EventRecord {
    const p = this.plan(table);
    return {
      key: undefined,
      value: this.wrap(p.valueSchema, {
        before: null,
        after: null,
        source: this.source(table, source),
        transaction: transactionField(transaction),
        op: 't',
        ...now(),
      }),
    };
  }

  private source(table: EventTable, s: EventSource): JsonValue {
    const tsUs = BigInt(s.tsMs) * 1000n;
    return {
      version: DEBEZIUM_FORMAT_VERSION,
      connector: 'postgresql',
      name: this.o.serverName,
      ts_ms: s.tsMs,
      snapshot: s.snapshot,
      db: this.o.db,
      sequence: JSON.stringify([
        s.lastCommitLsn === null ? null : s.lastCommitLsn.toString(),
        s.lsn === null ? null : s.lsn.toString(),
      ]),
      ts_us: tsUs,
      ts_ns: tsUs * 1000n,
      schema: table.schema,
      table: table.name,
      txId: s.txId,
      lsn: s.lsn,
      xmin: null,
      origin: null,
      origin_lsn: null,
    };
  }
}

/** `ts_ms`, `ts_us`, `ts_ns` of the moment the event is made (microsecond clock). */
function now(): { ts_ms: number; ts_us: bigint; ts_ns: bigint } {
  const us = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  return { ts_ms: Number(us / 1000n), ts_us: us, ts_ns: us * 1000n };
}

/** The envelope's `transaction` field of a change in a transaction block, or null. */
function transactionField(
  t: TransactionBlock | undefined,
): { id: string; total_order: number; data_collection_order: number } | null {
  return t === undefined
    ? null
    : { id: t.id, total_order: t.totalOrder, data_collection_order: t.dataCollectionOrder };
}
