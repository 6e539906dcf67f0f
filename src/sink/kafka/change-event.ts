/**
 * Debezium change events (Debezium documentation, `connectors/postgresql.adoc`, "Data change
 * events"), as Kafka Connect's JsonConverter writes them with `schemas.enable` false (the payload
 * alone) or true (`{schema, payload}`).
 *
 * - key: a struct of the table's key columns (see {@link EventTable.columns}); no key (null) for a
 *   table without one;
 * - value: the envelope `before`, `after`, `source`, `transaction`, `op`, `ts_ms`, `ts_us`, `ts_ns`;
 *   `op` is `r` (full sync row), `c`, `u`, `d` or `t` (truncate);
 * - `source`: `version`, `connector` (`postgresql`), `name` (the logical server name: the task name),
 *   `ts_ms`/`ts_us`/`ts_ns` (source commit time), `snapshot`, `db`, `sequence`, `schema`, `table`,
 *   `txId`, `lsn`, `xmin` (always null: pgoutput does not send it);
 * - a tombstone (the key and a null value) follows each delete when enabled.
 *
 * An unchanged TOASTed value (the source did not send it) is written as the placeholder text, like
 * Debezium's `unavailable.value.placeholder`, never as null.
 */
import { UNCHANGED_TOAST, type Datum, type Tuple } from '../../core/change.ts';
import { columnCodec, type ColumnCodec, type ConnectSchema } from './debezium-value.ts';
import { jsonText, type JsonValue } from './json-text.ts';

/** The Debezium version whose event format this follows (`source.version`). */
export const DEBEZIUM_FORMAT_VERSION = '3.6.1.Final';

/** A column of an event's table. */
export interface EventColumn {
  readonly name: string;
  readonly typeOid: number;
  readonly typeModifier: number;
  /** Part of the event key. */
  readonly isKey: boolean;
}

/** The table an event is about, as the sink names it (after `objects[].as` and `mapping`). */
export interface EventTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly EventColumn[];
}

/** Where in the source an event comes from (the `source` block). */
export interface EventSource {
  /** `true` for full sync rows, `false` for changes (Debezium: also `first`/`last`). */
  readonly snapshot: 'true' | 'false';
  /** Source commit time (changes) or read time (full sync), ms since the epoch. */
  readonly tsMs: number;
  readonly txId: number | null;
  /** LSN of the change's WAL record, or of the snapshot for full sync rows. */
  readonly lsn: bigint | null;
  /** Commit LSN of the previous transaction the sink saw, if any (`sequence[0]`). */
  readonly lastCommitLsn: bigint | null;
}

/** A Kafka record to produce, before its topic and partition are chosen. */
export interface EventRecord {
  /** JSON key, or undefined for a keyless table (and for truncate events). */
  readonly key: Buffer | undefined;
  /** JSON value; undefined for a tombstone. */
  readonly value: Buffer | undefined;
}

/** Options of {@link ChangeEventEncoder}. */
export interface ChangeEventEncoderOptions {
  /** `source.name`: Debezium's `topic.prefix` (the task name). */
  readonly serverName: string;
  /** `source.db`: the source database. */
  readonly db: string;
  /** JsonConverter `schemas.enable`. */
  readonly schemas: boolean;
  /** Text written for an unchanged TOASTed value. */
  readonly placeholder: string;
  /** A null-value record after each delete. */
  readonly tombstones: boolean;
}

/** Per table: codecs and the constant pieces of its events' JSON text. */
interface TablePlan {
  readonly table: EventTable;
  readonly codecs: readonly ColumnCodec[];
  readonly keyIndexes: readonly number[];
  /** Per column: part of the key. */
  readonly keyMask: readonly boolean[];
  /** Per column: `{"name":` (the first) or `,"name":`. */
  readonly rowStarts: readonly string[];
  /** Per key column, as rowStarts. */
  readonly keyStarts: readonly string[];
  /** `{"schema":<key schema>,"payload":` when `schemas`, else empty; `close` ends it. */
  readonly keyOpen: string;
  readonly valueOpen: string;
  readonly close: string;
  /** `,"schema":<schema>,"table":<table>,"txId":` of the `source` block. */
  readonly sourceTable: string;
  /** The last source block written, and its text. */
  lastSource: EventSource | undefined;
  lastSourceText: string;
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

/** Position of an event inside its source transaction (`transaction` block), when enabled. */
export interface TransactionBlock {
  /** `<txId>:<commit LSN>`, as Debezium's PostgreSQL connector writes it. */
  readonly id: string;
  readonly totalOrder: number;
  readonly dataCollectionOrder: number;
}

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

/**
 * Builds the key and value records of change events; one per sink, tables cached by identity.
 *
 * The JSON text is built directly from per-table pieces (field names, the schemas' text, the
 * `source` block's constant parts) rather than as objects passed to a serialiser: full sync encodes
 * every row of a table this way, and building then walking an object per row was most of its CPU
 * time. The text is exactly what {@link jsonText} writes for the same event as an object (keys in
 * the order documented above, no whitespace; test/sink/kafka/change-event-text.test.ts compares the
 * two byte for byte).
 */
export class ChangeEventEncoder {
  private readonly plans = new WeakMap<EventTable, TablePlan>();
  /** `"version":...,"name":<serverName>,"ts_ms":` — the start of every `source` block. */
  private readonly sourceHead: string;
  /** `,"db":<db>,"sequence":`. */
  private readonly sourceDb: string;
  private readonly placeholderJson: string;

  constructor(private readonly o: ChangeEventEncoderOptions) {
    this.sourceHead = `{"version":${JSON.stringify(DEBEZIUM_FORMAT_VERSION)},"connector":"postgresql","name":${JSON.stringify(o.serverName)},"ts_ms":`;
    this.sourceDb = `,"db":${JSON.stringify(o.db)},"sequence":`;
    this.placeholderJson = JSON.stringify(o.placeholder);
  }

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
    const keySchema = schemaJson({
      type: 'struct',
      fields: keyIndexes.map((i) => field(i, true)),
      optional: false,
      name: `${prefix}.Key`,
    });
    const valueSchema = schemaJson({
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
    });
    // `{"a":` before the first member of an object, `,"b":` before the others.
    const memberStart = (name: string, first: boolean) => `${first ? '{' : ','}${JSON.stringify(name)}:`;
    const keyMask = table.columns.map(() => false);
    for (const i of keyIndexes) keyMask[i] = true;
    p = {
      table,
      codecs,
      keyIndexes,
      keyMask,
      rowStarts: table.columns.map((c, i) => memberStart(c.name, i === 0)),
      keyStarts: keyIndexes.map((i, n) => memberStart(table.columns[i]?.name ?? '', n === 0)),
      keyOpen: this.o.schemas ? `{"schema":${jsonText(keySchema)},"payload":` : '',
      valueOpen: this.o.schemas ? `{"schema":${jsonText(valueSchema)},"payload":` : '',
      close: this.o.schemas ? '}' : '',
      sourceTable: `,"schema":${JSON.stringify(table.schema)},"table":${JSON.stringify(table.name)},"txId":`,
      lastSource: undefined,
      lastSourceText: '',
    };
    this.plans.set(table, p);
    return p;
  }

  /** The JSON text of one value of column `i`. */
  private value(p: TablePlan, i: number, d: Datum | undefined): string {
    if (d === undefined || d === null) return 'null';
    if (d === UNCHANGED_TOAST) return this.placeholderJson;
    // A codec may write null for a value its type cannot carry (numeric NaN, timestamp
    // infinity), as Debezium does: never fall back to the text then.
    const codec = p.codecs[i];
    return codec === undefined ? JSON.stringify(d) : codec.json(d);
  }

  /** The JSON text of a row; `keyOnly`: the non-key columns are written as null. */
  private row(p: TablePlan, t: Tuple, keyOnly: boolean): string {
    const n = p.rowStarts.length;
    if (n === 0) return '{}';
    let s = '';
    for (let i = 0; i < n; i++) {
      s += p.rowStarts[i] ?? '';
      s += keyOnly && p.keyMask[i] !== true ? 'null' : this.value(p, i, t[i]);
    }
    return `${s}}`;
  }

  private keyText(p: TablePlan, t: Tuple): Buffer | undefined {
    const k = p.keyIndexes;
    if (k.length === 0) return undefined;
    let s = p.keyOpen;
    for (let n = 0; n < k.length; n++) {
      const i = k[n] ?? 0;
      s += p.keyStarts[n] ?? '';
      s += this.value(p, i, t[i]);
    }
    return Buffer.from(`${s}}${p.close}`);
  }

  /** The JSON key of a row of `table` (undefined when the table has no key columns). */
  key(table: EventTable, t: Tuple): Buffer | undefined {
    return this.keyText(this.plan(table), t);
  }

  /** Whether the key columns of `a` and `b` differ (an UPDATE that changed the key). */
  keyChanged(table: EventTable, a: Tuple, b: Tuple): boolean {
    return this.plan(table).keyIndexes.some((i) => a[i] !== b[i]);
  }

  /**
   * The records of one event: the event and, for a delete with tombstones on, the tombstone.
   * `before`: the old row (`beforeKeyOnly`: only its key columns are known, the others are written
   * as null); `after`: the new row. Passing the same `source` object for many events (a full sync
   * unit's rows) reuses its text.
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
    const key = keyTuple === undefined ? undefined : this.keyText(p, keyTuple);
    const value = this.envelope(
      p,
      before === undefined ? 'null' : this.row(p, before.tuple, before.keyOnly),
      after === undefined ? 'null' : this.row(p, after, false),
      source,
      transaction,
      op,
    );
    if (op === 'd' && this.o.tombstones)
      return [
        { key, value },
        { key, value: undefined },
      ];
    return [{ key, value }];
  }

  /** A truncate event (`op: t`): no key, no before or after (Debezium's truncate event). */
  truncate(table: EventTable, source: EventSource, transaction?: TransactionBlock): EventRecord {
    return {
      key: undefined,
      value: this.envelope(this.plan(table), 'null', 'null', source, transaction, 't'),
    };
  }

  private envelope(
    p: TablePlan,
    before: string,
    after: string,
    source: EventSource,
    transaction: TransactionBlock | undefined,
    op: 'r' | 'c' | 'u' | 'd' | 't',
  ): Buffer {
    if (p.lastSource !== source) {
      p.lastSourceText = this.source(p, source);
      p.lastSource = source;
    }
    return Buffer.from(
      `${p.valueOpen}{"before":${before},"after":${after},"source":${p.lastSourceText},"transaction":${transactionText(transaction)},"op":"${op}",${nowText()}}${p.close}`,
    );
  }

  private source(p: TablePlan, s: EventSource): string {
    const sequence = JSON.stringify(
      JSON.stringify([
        s.lastCommitLsn === null ? null : s.lastCommitLsn.toString(),
        s.lsn === null ? null : s.lsn.toString(),
      ]),
    );
    const tsUs = msTimes1000(s.tsMs);
    return `${this.sourceHead}${jsonText(s.tsMs)},"snapshot":${JSON.stringify(s.snapshot)}${this.sourceDb}${sequence},"ts_us":${tsUs},"ts_ns":${times1000(tsUs)}${p.sourceTable}${s.txId === null ? 'null' : jsonText(s.txId)},"lsn":${s.lsn === null ? 'null' : s.lsn.toString()},"xmin":null,"origin":null,"origin_lsn":null}`;
  }
}

/** Digits of the integer `ms` × 1000 (`BigInt(ms) * 1000n`, which refuses a fraction). */
function msTimes1000(ms: number): string {
  const us = ms * 1000;
  return Number.isSafeInteger(ms) && Number.isSafeInteger(us) ? String(us) : (BigInt(ms) * 1000n).toString();
}

/** Digits of an integer's digits × 1000. */
function times1000(digits: string): string {
  return digits === '0' ? '0' : `${digits}000`;
}

/** `000` … `999`: the last three digits of a µs count. */
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** The ms of the last {@link nowText} and its digits (every event of that ms reuses them). */
let clockMs = -1;
let clockMsText = '';

/**
 * `"ts_ms":…,"ts_us":…,"ts_ns":…` of the moment the event is made (microsecond clock). The µs
 * count (~1.7e15) is a safe integer, so ms = (µs − µs mod 1000) / 1000 is exact, as µs / 1000n is,
 * and its digits are those of ms followed by the three of µs mod 1000 (formatting a 16-digit number
 * per event was a tenth of full sync's encoding time).
 */
function nowText(): string {
  const us = Math.round((performance.timeOrigin + performance.now()) * 1000);
  const rest = us % 1000;
  const ms = (us - rest) / 1000;
  if (ms !== clockMs) {
    clockMs = ms;
    clockMsText = String(ms);
  }
  const usText = ms > 0 ? `${clockMsText}${THREE_DIGITS[rest] ?? ''}` : String(us);
  return `"ts_ms":${clockMsText},"ts_us":${usText},"ts_ns":${times1000(usText)}`;
}

/** The envelope's `transaction` field of a change in a transaction block, or null. */
function transactionText(t: TransactionBlock | undefined): string {
  return t === undefined
    ? 'null'
    : `{"id":${JSON.stringify(t.id)},"total_order":${jsonText(t.totalOrder)},"data_collection_order":${jsonText(t.dataCollectionOrder)}}`;
}
