/**
 * Field-by-field comparison of pgdts's change events with the Debezium golden files
 * (fixtures/debezium-schemas-*.json). Pure functions: the test (kafka-golden.test.ts) reads both
 * sides from the broker and the fixture.
 */

/** One record as compared: topic without its prefix, parsed key and value. */
export interface GoldenRecord {
  /** `<schema>.<table>` (the topic without Debezium's `topic.prefix` / the task's prefix). */
  readonly topic: string;
  readonly key: unknown;
  readonly value: unknown;
}

/**
 * Paths whose values must differ between two runs, whoever made them: times, WAL positions and
 * transaction ids, and names of the run (`source.version` is the format we follow, `source.name`
 * Debezium's topic.prefix vs our task name, `source.db` two databases). `payload.` is the same under
 * `schemas: true`.
 */
const RUN_SPECIFIC =
  /^(payload\.)?(ts_ms|ts_us|ts_ns|source\.(ts_ms|ts_us|ts_ns|lsn|txId|sequence|xmin|version|name|db))$/;

/** Where the two differ: `path: debezium=<json> pgdts=<json>`, `[]` when equal. */
export function differences(dbz: unknown, ours: unknown, at = ''): string[] {
  if (RUN_SPECIFIC.test(at)) return [];
  if (isObject(dbz) && isObject(ours)) {
    const keys = [...new Set([...Object.keys(dbz), ...Object.keys(ours)])];
    return keys.flatMap((k) => {
      const p = at === '' ? k : `${at}.${k}`;
      if (!(k in ours))
        return RUN_SPECIFIC.test(p) ? [] : [`${p}: missing in pgdts (debezium=${show(dbz[k])})`];
      if (!(k in dbz)) return RUN_SPECIFIC.test(p) ? [] : [`${p}: only in pgdts (pgdts=${show(ours[k])})`];
      return differences(dbz[k], ours[k], p);
    });
  }
  if (Array.isArray(dbz) && Array.isArray(ours)) {
    // Connect schemas list struct fields in order: compare fields by name, so one missing field
    // shows as one difference, not as every field after it.
    if (dbz.every(isField) && ours.every(isField)) {
      const byName = (a: readonly unknown[]) =>
        Object.fromEntries(a.map((f) => [(f as { field: string }).field, f] as const));
      const order = (a: readonly unknown[]) => a.map((f) => (f as { field: string }).field).join(',');
      const fieldDiffs = differences(byName(dbz), byName(ours), at);
      const sameSet = fieldDiffs.every((d) => !/: (missing in|only in) pgdts/.test(d));
      if (sameSet && order(dbz) !== order(ours)) {
        fieldDiffs.push(`${at}: field order debezium=[${order(dbz)}] pgdts=[${order(ours)}]`);
      }
      return fieldDiffs;
    }
    if (dbz.length !== ours.length) return [`${at}: debezium=${show(dbz)} pgdts=${show(ours)}`];
    return dbz.flatMap((d, i) => differences(d, ours[i], `${at}[${i}]`));
  }
  return sameScalar(dbz, ours) ? [] : [`${at}: debezium=${show(dbz)} pgdts=${show(ours)}`];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isField(v: unknown): boolean {
  return isObject(v) && typeof v.field === 'string';
}

/** Equal scalars; numbers compared as their JSON text (int64 values are bigints on one side). */
function sameScalar(a: unknown, b: unknown): boolean {
  if (typeof a === 'bigint' || typeof b === 'bigint') return String(a) === String(b);
  return a === b;
}

function show(v: unknown): string {
  const s = JSON.stringify(v, (_, x: unknown) => (typeof x === 'bigint' ? x.toString() : x));
  return s === undefined ? 'undefined' : s.length > 160 ? `${s.slice(0, 160)}…` : s;
}

/** Replaces a run's topic prefix in Connect schema names (`<prefix>.public.types.Value`). */
export function withoutPrefix(v: unknown, prefix: string): unknown {
  if (typeof v === 'string') return v.startsWith(`${prefix}.`) ? `PREFIX.${v.slice(prefix.length + 1)}` : v;
  if (Array.isArray(v)) return v.map((x) => withoutPrefix(x, prefix));
  if (isObject(v))
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutPrefix(x, prefix)]));
  return v;
}

/**
 * Every difference between two record lists of the same rows, record by record in topic and
 * offset order: `<topic> #<n> <op> <key|value>.<path>: …`. Records of one topic are paired in
 * order (both sides read one partition per topic, in source order).
 */
export function compareRecords(dbz: readonly GoldenRecord[], ours: readonly GoldenRecord[]): string[] {
  const topics = [...new Set([...dbz, ...ours].map((r) => r.topic))].sort();
  const out: string[] = [];
  for (const t of topics) {
    const a = dbz.filter((r) => r.topic === t);
    const b = ours.filter((r) => r.topic === t);
    if (a.length !== b.length) {
      out.push(`${t}: ${a.length} records from debezium, ${b.length} from pgdts`);
    }
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const op = opOf(a[i]?.value) ?? 'tombstone';
      const label = `${t} #${i} ${op}`;
      out.push(
        ...differences(a[i]?.key, b[i]?.key, '').map(
          (d) => `${label} key${d.startsWith(':') ? '' : '.'}${d}`,
        ),
      );
      out.push(
        ...differences(a[i]?.value, b[i]?.value, '').map(
          (d) => `${label} value${d.startsWith(':') ? '' : '.'}${d}`,
        ),
      );
    }
  }
  return out;
}

function opOf(v: unknown): string | undefined {
  if (!isObject(v)) return undefined;
  const p = isObject(v.payload) ? v.payload : v;
  return typeof p.op === 'string' ? p.op : undefined;
}
