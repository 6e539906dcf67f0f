/**
 * Column values as Debezium's PostgreSQL connector writes them with its default settings
 * (`decimal.handling.mode=precise`, `time.precision.mode=adaptive`, `interval.handling.mode=numeric`,
 * `binary.handling.mode=bytes`), converted from PostgreSQL text output (what pgoutput and COPY text
 * carry). Source: Debezium documentation, `connectors/postgresql.adoc`, "Data type mappings".
 *
 * Each type maps to a Kafka Connect schema (`type`, and for logical types `name`, `version`,
 * `parameters`) and a JSON value as JsonConverter writes it: bytes as base64 text, int64 as exact
 * digits. Differences from Debezium are listed in kafka-sink.md "Differences from Debezium" (checked
 * against Debezium's own events by test/sink/kafka/kafka-golden.test.ts); in short: types this
 * module does not know (geometric types but point, hstore, ranges, enums, domains, user types,
 * multi-dimensional arrays) are written as their PostgreSQL text, which Debezium also does for
 * ranges and domains over text; enums lack the `allowed` parameter; Debezium drops columns of types
 * it does not support (box, ...), pgdts keeps them as text.
 */
import { jsonText, type JsonValue } from './json-text.ts';

/** A Kafka Connect schema (JsonConverter `schemas.enable=true` form), without `field`/`optional`. */
export interface ConnectType {
  readonly type:
    'boolean' | 'int16' | 'int32' | 'int64' | 'float' | 'double' | 'string' | 'bytes' | 'array' | 'struct';
  readonly name?: string;
  readonly version?: number;
  readonly doc?: string;
  readonly parameters?: Readonly<Record<string, string>>;
  /** Default value (JsonConverter writes it as `default`). */
  readonly default?: string;
  readonly items?: ConnectSchema;
  readonly fields?: readonly ConnectSchema[];
}

/** A Connect schema as it appears in JsonConverter output. */
export type ConnectSchema = ConnectType & { readonly optional: boolean; readonly field?: string };

/** How one column is written: its Connect type and its value from PostgreSQL text. */
export interface ColumnCodec {
  readonly type: ConnectType;
  /**
   * The JSON value of one non-NULL text value.
   * @throws {RangeError} when the text is not of the type (a bug or an unexpected DateStyle).
   */
  encode(text: string): JsonValue;
  /**
   * `jsonText(encode(text))`, what the encoder writes (the per-row path: text and logical strings
   * skip the intermediate value).
   * @throws {RangeError} as {@link encode}.
   */
  json(text: string): string;
}

/** A codec as {@link columnCodec}'s cases make it: `json` only where it is faster than the default. */
type CodecBase = Pick<ColumnCodec, 'type' | 'encode'> & { readonly json?: (text: string) => string };

/** `c` with its `json`: the given one, or the JSON text of `encode`. */
function withJson(c: CodecBase): ColumnCodec {
  if (c.json !== undefined) return c as ColumnCodec;
  const encode = c.encode;
  return { type: c.type, encode, json: (t) => jsonText(encode(t)) };
}

/** The JSON text of a string value: JSON.stringify, as jsonText writes a string. */
const stringJson = (t: string): string => JSON.stringify(t);

/**
 * Whether `t` is an integer as PostgreSQL's int output functions write it (`0`, or an optional `-`
 * and digits without a leading zero), of at most `maxDigits` digits: then the JSON number is the text
 * itself (what Number/BigInt then String would give back).
 */
function canonicalInt(t: string, maxDigits: number): boolean {
  const start = t.charCodeAt(0) === 0x2d ? 1 : 0;
  const n = t.length - start;
  if (n < 1 || n > maxDigits) return false;
  const first = t.charCodeAt(start);
  if (first === 0x30) return n === 1 && start === 0;
  if (first < 0x31 || first > 0x39) return false;
  for (let i = start + 1; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** int2/int4 JSON: jsonText(Number(t)); 15 digits are exact in a double. */
const intJson = (t: string): string => (canonicalInt(t, 15) ? t : jsonText(Number(t)));
/** int8/oid JSON: jsonText(BigInt(t)) (which throws a SyntaxError for a non-integer text). */
const bigintJson = (t: string): string => (canonicalInt(t, 1000) ? t : jsonText(BigInt(t)));

/** Built-in type OIDs (pg_type.dat). */
const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  float4: 700,
  float8: 701,
  money: 790,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  bit: 1560,
  numeric: 1700,
  uuid: 2950,
  point: 600,
  varbit: 1562,
  jsonb: 3802,
} as const;

/** Array type OID → element type OID, for the arrays of the types above. */
const ARRAY_ELEMENT: Readonly<Record<number, number>> = {
  1000: OID.bool,
  1001: OID.bytea,
  1005: OID.int2,
  1007: OID.int4,
  1016: OID.int8,
  1009: OID.text,
  1014: OID.bpchar,
  1015: OID.varchar,
  1021: OID.float4,
  1022: OID.float8,
  1231: OID.numeric,
  1182: OID.date,
  1183: OID.time,
  1115: OID.timestamp,
  1185: OID.timestamptz,
  1187: OID.interval,
  2951: OID.uuid,
  199: OID.json,
  3807: OID.jsonb,
};

const MS_PER_DAY = 86_400_000;
/** Debezium's average month for MicroDuration: 365.25 / 12 days. */
const DAYS_PER_MONTH = 365.25 / 12;

const str: ColumnCodec = { type: { type: 'string' }, encode: (t) => t, json: stringJson };

function logicalString(name: string): ColumnCodec {
  return { type: { type: 'string', name, version: 1 }, encode: (t) => t, json: stringJson };
}

/** Two's complement big-endian bytes of `n`, shortest form (Java BigInteger.toByteArray). */
export function twosComplementBytes(n: bigint): Buffer {
  let hex = (n < 0n ? -n : n).toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (n >= 0n) {
    if (bytes.length === 0 || (bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
    return bytes;
  }
  // -n in bytes; two's complement = invert and add one, with a sign byte when needed.
  const width = bytes.length + ((bytes[0] ?? 0) >= 0x80 ? 1 : 0);
  let v = (1n << BigInt(width * 8)) + n;
  const out = Buffer.alloc(width);
  for (let i = width - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  // Shortest form: drop a leading 0xff whose next byte already has the sign bit.
  let start = 0;
  while (start < out.length - 1 && out[start] === 0xff && ((out[start + 1] ?? 0) & 0x80) !== 0) start++;
  return out.subarray(start);
}

/** Decimal text at `scale`: `-12.34` at 3 → -12340n (more fraction digits are rounded half up). */
function unscaled(text: string, scale: number): bigint {
  const neg = text.startsWith('-');
  const body = neg || text.startsWith('+') ? text.slice(1) : text;
  const [intPart = '0', frac = ''] = body.split('.');
  const digits = intPart + frac.padEnd(scale, '0').slice(0, scale);
  let v = BigInt(digits === '' ? '0' : digits);
  if (frac.length > scale && frac.charCodeAt(scale) - 48 >= 5) v += 1n;
  return neg ? -v : v;
}

function decimalCodec(precision: number | undefined, scale: number): CodecBase {
  return {
    type: {
      type: 'bytes',
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: {
        scale: String(scale),
        ...(precision !== undefined ? { 'connect.decimal.precision': String(precision) } : {}),
      },
    },
    encode: (t) => twosComplementBytes(unscaled(t, scale)).toString('base64'),
  };
}

/** numeric without a declared scale: Debezium's VariableScaleDecimal struct `{scale, value}`. */
const variableDecimal: CodecBase = {
  type: {
    type: 'struct',
    name: 'io.debezium.data.VariableScaleDecimal',
    version: 1,
    doc: 'Variable scaled decimal',
    fields: [
      { type: 'int32', optional: false, field: 'scale' },
      { type: 'bytes', optional: false, field: 'value' },
    ],
  },
  encode: (t) => {
    if (t === 'NaN' || t === 'Infinity' || t === '-Infinity') return null;
    const dot = t.indexOf('.');
    const scale = dot < 0 ? 0 : t.length - dot - 1;
    return { scale, value: twosComplementBytes(unscaled(t, scale)).toString('base64') };
  },
};

/** `YYYY-MM-DD` (ISO DateStyle) → days since 1970-01-01; ` BC` dates and infinities are refused. */
function epochDays(t: string): number {
  const m = /^(\d{4,})-(\d\d)-(\d\d)$/.exec(t);
  if (!m) throw new RangeError(`not an ISO date: ${t}`);
  return Math.round(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / MS_PER_DAY);
}

/** `HH:MM:SS[.ffffff]` → microseconds since midnight. */
function timeMicros(t: string): number {
  const m = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(t);
  if (!m) throw new RangeError(`not a time: ${t}`);
  const micros = Number((m[4] ?? '').padEnd(6, '0'));
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1_000_000 + micros;
}

/** `+HH[:MM[:SS]]` → seconds east of UTC. */
function offsetSeconds(t: string): number {
  const m = /^([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(t);
  if (!m) throw new RangeError(`not a UTC offset: ${t}`);
  const s = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return m[1] === '-' ? -s : s;
}

/** `YYYY-MM-DD HH:MM:SS[.f]` (timestamp, ISO DateStyle) → microseconds since the epoch, as if UTC. */
function timestampMicros(t: string): number {
  const sp = t.indexOf(' ');
  if (sp < 0) throw new RangeError(`not a timestamp: ${t}`);
  return epochDays(t.slice(0, sp)) * MS_PER_DAY * 1000 + timeMicros(t.slice(sp + 1));
}

/** timestamptz text (`... +05:30`) → microseconds since the epoch (UTC). */
function timestamptzMicros(t: string): number {
  const m = /^(.* \d\d:\d\d:\d\d(?:\.\d+)?)([+-][\d:]+)$/.exec(t);
  if (!m || m[1] === undefined || m[2] === undefined) throw new RangeError(`not a timestamptz: ${t}`);
  return timestampMicros(m[1]) - offsetSeconds(m[2]) * 1_000_000;
}

/**
 * ISO-8601 text of `micros` since the epoch in UTC with a `Z`: with `digits` fraction digits
 * (Debezium 2.2+ pads ZonedTimestamp to the column's precision, DBZ-5996), or as many as needed
 * when `digits` is undefined (Java ISO_OFFSET_TIME style).
 */
function isoUtc(micros: number, withDate: boolean, digits?: number): string {
  const ms = Math.floor(micros / 1000);
  const rest = micros - ms * 1000;
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  const base = iso.slice(0, 19);
  const all = `${iso.slice(20, 23)}${String(rest).padStart(3, '0')}`;
  const frac = digits === undefined ? all.replace(/0+$/, '') : all.slice(0, digits);
  const text = frac === '' ? base : `${base}.${frac}`;
  return `${withDate ? text : text.slice(11)}Z`;
}

/** Text of an interval in PostgreSQL's default `postgres` IntervalStyle → MicroDuration µs. */
function intervalMicros(t: string): number {
  let years = 0;
  let months = 0;
  let days = 0;
  let micros = 0;
  const re = /([+-]?\d+) (years?|mons?|days?)|([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?/g;
  let matched = '';
  for (const m of t.matchAll(re)) {
    matched += m[0];
    if (m[1] !== undefined) {
      const n = Number(m[1]);
      if (m[2]?.startsWith('year')) years += n;
      else if (m[2]?.startsWith('mon')) months += n;
      else days += n;
    } else {
      const v =
        ((Number(m[4]) * 60 + Number(m[5])) * 60 + Number(m[6])) * 1_000_000 +
        Number((m[7] ?? '').padEnd(6, '0'));
      micros += m[3] === '-' ? -v : v;
    }
  }
  if (matched.replace(/\s/g, '') !== t.replace(/\s/g, '')) throw new RangeError(`not an interval: ${t}`);
  return Math.trunc(((years * 12 + months) * DAYS_PER_MONTH + days) * 86_400_000_000 + micros);
}

/**
 * `point` as Debezium's io.debezium.data.geometry.Point: `{x, y, wkb, srid}`, `wkb` the OGC
 * well-known binary of the point (little-endian: byte order 1, type 1, x, y as float64), `srid`
 * null. Text input `(x,y)`.
 */
const pointCodec: CodecBase = {
  type: {
    type: 'struct',
    name: 'io.debezium.data.geometry.Point',
    version: 1,
    doc: 'Geometry (POINT)',
    fields: [
      { type: 'double', optional: false, field: 'x' },
      { type: 'double', optional: false, field: 'y' },
      { type: 'bytes', optional: true, field: 'wkb' },
      { type: 'int32', optional: true, field: 'srid' },
    ],
  },
  encode: (t) => {
    const m = /^\(([^,]+),([^)]+)\)$/.exec(t);
    if (!m) throw new RangeError(`not a point: ${t}`);
    const x = Number(m[1]);
    const y = Number(m[2]);
    const wkb = Buffer.alloc(21);
    wkb.writeUInt8(1, 0);
    wkb.writeUInt32LE(1, 1);
    wkb.writeDoubleLE(x, 5);
    wkb.writeDoubleLE(y, 13);
    return { x, y, wkb: wkb.toString('base64'), srid: null };
  },
};

/**
 * `bit(n)` (n > 1) and `varbit(n)` as Debezium's io.debezium.data.Bits: the bits as an unsigned
 * integer (the last bit is bit 0), little-endian bytes without trailing zero bytes (Java
 * `BitSet.toByteArray`, so all-zero bits are empty bytes). Parameter `length`: the declared length.
 */
function bitsCodec(typeModifier: number): CodecBase {
  return {
    type: {
      type: 'bytes',
      name: 'io.debezium.data.Bits',
      version: 1,
      ...(typeModifier > 0 ? { parameters: { length: String(typeModifier) } } : {}),
    },
    encode: (t) => {
      if (!/^[01]*$/.test(t)) throw new RangeError(`not a bit string: ${t}`);
      let v = t === '' ? 0n : BigInt(`0b${t}`);
      const bytes: number[] = [];
      while (v > 0n) {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
      }
      return Buffer.from(bytes).toString('base64');
    },
  };
}

/** Float text (`NaN`, `Infinity`, `-Infinity`, `1.5e+20`): numbers, the non-finite ones as text. */
function float(t: string): JsonValue {
  const n = Number(t);
  return Number.isFinite(n) ? n : t;
}

/** bytea hex output `\x0a0b` → base64. */
function byteaBase64(t: string): string {
  if (!t.startsWith('\\x')) throw new RangeError('bytea text output is not in hex format (bytea_output)');
  return Buffer.from(t.slice(2), 'hex').toString('base64');
}

/**
 * Elements of a one-dimensional PostgreSQL array literal (`{1,"a b",NULL}`), NULL as null.
 * @throws {RangeError} for a multi-dimensional array or a literal with explicit bounds.
 */
export function parseArrayLiteral(t: string): (string | null)[] {
  if (!t.startsWith('{') || !t.endsWith('}')) throw new RangeError('not a one-dimensional array literal');
  const out: (string | null)[] = [];
  let i = 1;
  const end = t.length - 1;
  if (i === end) return out;
  while (i <= end) {
    if (t[i] === '{') throw new RangeError('multi-dimensional array');
    if (t[i] === '"') {
      let v = '';
      i++;
      while (i < end && t[i] !== '"') {
        if (t[i] === '\\') i++;
        v += t[i] ?? '';
        i++;
      }
      out.push(v);
      i += 2; // closing quote, delimiter
    } else {
      let j = i;
      while (j < end && t[j] !== ',') j++;
      const v = t.slice(i, j);
      out.push(v === 'NULL' ? null : v);
      i = j + 1;
    }
  }
  return out;
}

/** Fraction digits of a time/timestamp column from its typmod (-1: 6). */
function precisionOf(typeModifier: number): number {
  return typeModifier < 0 ? 6 : typeModifier;
}

/**
 * The codec of a column of type `typeOid` with `typeModifier` (atttypmod), Debezium's mapping
 * where this module knows the type, PostgreSQL text otherwise.
 */
export function columnCodec(typeOid: number, typeModifier: number): ColumnCodec {
  return withJson(codecOf(typeOid, typeModifier));
}

function codecOf(typeOid: number, typeModifier: number): CodecBase {
  switch (typeOid) {
    case OID.bool:
      return { type: { type: 'boolean' }, encode: (t) => t === 't' };
    case OID.int2:
      return { type: { type: 'int16' }, encode: (t) => Number(t), json: intJson };
    case OID.int4:
      return { type: { type: 'int32' }, encode: (t) => Number(t), json: intJson };
    case OID.int8:
    case OID.oid:
      return { type: { type: 'int64' }, encode: (t) => BigInt(t), json: bigintJson };
    case OID.float4:
      return { type: { type: 'float' }, encode: float };
    case OID.float8:
      return { type: { type: 'double' }, encode: float };
    case OID.numeric: {
      if (typeModifier < 4) return variableDecimal;
      const precision = ((typeModifier - 4) >> 16) & 0xffff;
      const scale = (typeModifier - 4) & 0xffff;
      const fixed = decimalCodec(precision, scale);
      return {
        type: fixed.type,
        encode: (t) => (t === 'NaN' || t.endsWith('Infinity') ? null : fixed.encode(t)),
      };
    }
    case OID.money: {
      const d = decimalCodec(undefined, 2);
      return { type: d.type, encode: (t) => d.encode(t.replace(/[^0-9.-]/g, '')) };
    }
    case OID.text:
    case OID.varchar:
    case OID.bpchar:
    case OID.char:
    case OID.name:
      return str;
    case OID.json:
    case OID.jsonb:
      return logicalString('io.debezium.data.Json');
    case OID.xml:
      return logicalString('io.debezium.data.Xml');
    case OID.uuid:
      return logicalString('io.debezium.data.Uuid');
    case OID.bytea:
      return { type: { type: 'bytes' }, encode: byteaBase64 };
    case OID.bit:
      return typeModifier === 1
        ? { type: { type: 'boolean' }, encode: (t) => t === '1' }
        : bitsCodec(typeModifier);
    case OID.varbit:
      return bitsCodec(typeModifier);
    case OID.point:
      return pointCodec;
    case OID.date:
      return { type: { type: 'int32', name: 'io.debezium.time.Date', version: 1 }, encode: epochDays };
    case OID.time:
      return precisionOf(typeModifier) <= 3
        ? {
            type: { type: 'int32', name: 'io.debezium.time.Time', version: 1 },
            encode: (t) => Math.floor(timeMicros(t) / 1000),
          }
        : { type: { type: 'int64', name: 'io.debezium.time.MicroTime', version: 1 }, encode: timeMicros };
    case OID.timetz:
      return {
        type: { type: 'string', name: 'io.debezium.time.ZonedTime', version: 1 },
        encode: (t) => {
          const m = /^(\d\d:\d\d:\d\d(?:\.\d+)?)([+-][\d:]+)$/.exec(t);
          if (!m || m[1] === undefined || m[2] === undefined) throw new RangeError(`not a timetz: ${t}`);
          const day = 86_400_000_000;
          const utc = (((timeMicros(m[1]) - offsetSeconds(m[2]) * 1_000_000) % day) + day) % day;
          return isoUtc(utc, false);
        },
      };
    case OID.timestamp:
      return precisionOf(typeModifier) <= 3
        ? {
            type: { type: 'int64', name: 'io.debezium.time.Timestamp', version: 1 },
            encode: (t) => (isInfinite(t) ? null : Math.floor(timestampMicros(t) / 1000)),
          }
        : {
            type: { type: 'int64', name: 'io.debezium.time.MicroTimestamp', version: 1 },
            encode: (t) => (isInfinite(t) ? null : timestampMicros(t)),
          };
    case OID.timestamptz:
      return {
        type: { type: 'string', name: 'io.debezium.time.ZonedTimestamp', version: 1 },
        encode: (t) =>
          isInfinite(t) ? t : isoUtc(timestamptzMicros(t), true, Math.min(6, precisionOf(typeModifier))),
      };
    case OID.interval:
      return {
        type: { type: 'int64', name: 'io.debezium.time.MicroDuration', version: 1 },
        encode: intervalMicros,
      };
  }
  const element = ARRAY_ELEMENT[typeOid];
  if (element !== undefined) {
    const inner = columnCodec(element, -1);
    return {
      type: { type: 'array', items: { ...inner.type, optional: true } },
      encode: (t) => parseArrayLiteral(t).map((e) => (e === null ? null : inner.encode(e))),
    };
  }
  return str;
}

function isInfinite(t: string): boolean {
  return t === 'infinity' || t === '-infinity';
}
