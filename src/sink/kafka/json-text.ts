/**
 * JSON text of an event, as Kafka Connect's JsonConverter writes it: like JSON.stringify, and a
 * bigint is written as its exact digits (int64 values such as `ts_ns`, `lsn` or a bigint column go
 * beyond the 2^53 a JavaScript number holds exactly).
 */

/** A value {@link jsonText} writes. */
export type JsonValue =
  null | boolean | number | bigint | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * The JSON text of `v`, keys in insertion order, no whitespace. A non-finite number is written as
 * `null` (as JSON.stringify does); callers encode NaN and infinities beforehand where they matter.
 */
export function jsonText(v: JsonValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'bigint':
      return v.toString();
    case 'string':
      return JSON.stringify(v);
    default:
      break;
  }
  if (Array.isArray(v)) return `[${(v as readonly JsonValue[]).map(jsonText).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v as { readonly [key: string]: JsonValue })) {
    parts.push(`${JSON.stringify(k)}:${jsonText(x)}`);
  }
  return `{${parts.join(',')}}`;
}
