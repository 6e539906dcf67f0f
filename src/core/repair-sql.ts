/**
 * The SQL that repairs one differing row on the destination (`pgdts verify --repair`), and the guard
 * that makes applying it safe (src/pipeline/verify/verify.md [V3]). Pure: statements are text with
 * literals inlined (quoted by quoteLiteral), so `--repair=dry-run` prints exactly what `apply` runs.
 *
 * Keyed rows are repaired by key: INSERT a missing row, UPDATE the differing (non-generated) columns
 * of a different one, DELETE an extra one. Keyless rows are matched on every column's text: missing
 * copies are INSERTed, extra copies DELETEd by ctid, as many as differ.
 */
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from './identifier.ts';
import type { RowDifference } from './row-difference.ts';
import { HASH_SESSION_SETTINGS, type RowValues } from './table-hash.ts';

/** The destination table a difference is repaired in, under its destination (mapped) names. */
export interface RepairTable {
  readonly table: QualifiedName;
  /** Compared columns, in the order of a difference's values. */
  readonly columns: readonly string[];
  /** Columns the destination computes (GENERATED): compared, never written. */
  readonly generated: readonly string[];
  /** Key columns (empty for a keyless table), in the order of a difference's key. */
  readonly key: readonly string[];
}

/**
 * What must hold on the destination, read under `FOR UPDATE` in the repair's transaction, before the
 * repair statement runs: `row`: the row with the key is still the verified one (`expected` values,
 * or absent when undefined); `count`: the number of copies of a keyless row is still `expected`.
 */
export type RepairGuard =
  | { readonly kind: 'row'; readonly sql: string; readonly expected: RowValues | undefined }
  | { readonly kind: 'count'; readonly sql: string; readonly expected: number };

/** One repair: the statement, the rows it must change, and its guard. */
export interface RepairStatement {
  readonly sql: string;
  /** Rows the statement changes when the guard held (INSERT / UPDATE / DELETE row count). */
  readonly rows: number;
  readonly guard: RepairGuard;
  readonly difference: RowDifference;
}

function literal(v: string | null): string {
  return v === null ? 'NULL' : quoteLiteral(v);
}

function keyWhere(t: RepairTable, key: readonly string[]): string {
  return t.key.map((k, i) => `${quoteIdent(k)} = ${literal(key[i] ?? null)}`).join(' AND ');
}

/** Matches a keyless row on the text of every column (json and point have no `=`). */
function valuesWhere(t: RepairTable, values: RowValues): string {
  return t.columns
    .map((c, i) => {
      const v = values[i] ?? null;
      return v === null ? `${quoteIdent(c)} IS NULL` : `${quoteIdent(c)}::text = ${quoteLiteral(v)}`;
    })
    .join(' AND ');
}

/**
 * INSERT of `copies` copies of a row. OVERRIDING SYSTEM VALUE: a `GENERATED ALWAYS AS IDENTITY` key
 * must take the source's value (the clause is a no-op on tables without one).
 */
function insertValues(t: RepairTable, values: RowValues, copies: number): string {
  const gen = new Set(t.generated);
  const cols = t.columns.flatMap((c, i) => (gen.has(c) ? [] : [[c, values[i] ?? null] as const]));
  const row = `(${cols.map(([, v]) => literal(v)).join(', ')})`;
  return `INSERT INTO ${quoteQualified(t.table)} (${cols.map(([c]) => quoteIdent(c)).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${Array.from({ length: copies }, () => row).join(', ')}`;
}

/**
 * The repair of one difference in `t`, or undefined when it cannot be written: a row whose only
 * differing columns are generated (the destination computes them differently: fix the DDL).
 * @throws {TypeError} on a keyed difference in a keyless table description (a bug).
 */
export function repairStatement(t: RepairTable, d: RowDifference): RepairStatement | undefined {
  const name = quoteQualified(t.table);
  const cols = t.columns.map((c) => `${quoteIdent(c)}::text`).join(', ');
  /** [V3] the row with `key`, locked, must still hold `expected` (undefined: be absent). */
  const rowGuard = (key: readonly string[], expected: RowValues | undefined): RepairGuard => ({
    kind: 'row',
    sql: `SELECT ${cols} FROM ${name} WHERE ${keyWhere(t, key)} FOR UPDATE`,
    expected,
  });
  const keyed = d.key !== undefined;
  if (keyed !== t.key.length > 0) throw new TypeError(`difference and table ${name} disagree on the key`);
  switch (d.kind) {
    case 'missing': {
      if (d.key !== undefined) {
        return {
          sql: insertValues(t, d.source, 1),
          rows: 1,
          guard: rowGuard(d.key, undefined),
          difference: d,
        };
      }
      const n = d.copies.source - d.copies.destination;
      return {
        sql: insertValues(t, d.source, n),
        rows: n,
        guard: countGuard(name, valuesWhere(t, d.source), d.copies.destination),
        difference: d,
      };
    }
    case 'extra': {
      if (d.key !== undefined) {
        return {
          sql: `DELETE FROM ${name} WHERE ${keyWhere(t, d.key)}`,
          rows: 1,
          guard: rowGuard(d.key, d.destination),
          difference: d,
        };
      }
      const n = d.copies.destination - d.copies.source;
      const where = valuesWhere(t, d.destination);
      return {
        sql: `DELETE FROM ${name} WHERE ctid IN (SELECT ctid FROM ${name} WHERE ${where} LIMIT ${n})`,
        rows: n,
        guard: countGuard(name, where, d.copies.destination),
        difference: d,
      };
    }
    case 'different': {
      const gen = new Set(t.generated);
      const sets = d.columns.flatMap((i) => {
        const c = t.columns[i];
        return c === undefined || gen.has(c) ? [] : [`${quoteIdent(c)} = ${literal(d.source[i] ?? null)}`];
      });
      if (sets.length === 0) return undefined;
      return {
        sql: `UPDATE ${name} SET ${sets.join(', ')} WHERE ${keyWhere(t, d.key)}`,
        rows: 1,
        guard: rowGuard(d.key, d.destination),
        difference: d,
      };
    }
    default: {
      const never: never = d;
      throw new TypeError(`unknown difference ${JSON.stringify(never)}`);
    }
  }
}

function countGuard(name: string, where: string, expected: number): RepairGuard {
  // FOR UPDATE locks the copies, so none changes between the count and the statement.
  return {
    kind: 'count',
    sql: `SELECT count(*)::text FROM (SELECT 1 FROM ${name} WHERE ${where} FOR UPDATE) AS copies`,
    expected,
  };
}

/**
 * Does the guard hold on the rows its SQL returned (each row as text values, `rowMode: 'array'`)?
 * `row`: no row when `expected` is undefined, else exactly one row with exactly those values.
 * `count`: the one returned count equals `expected`.
 */
export function guardHolds(g: RepairGuard, rows: readonly (readonly (string | null)[])[]): boolean {
  switch (g.kind) {
    case 'row': {
      if (g.expected === undefined) return rows.length === 0;
      const [row, more] = rows;
      return (
        row !== undefined &&
        more === undefined &&
        row.length === g.expected.length &&
        row.every((v, i) => v === g.expected?.[i])
      );
    }
    case 'count':
      return rows.length === 1 && Number(rows[0]?.[0]) === g.expected;
    default: {
      const never: never = g;
      throw new TypeError(`unknown guard ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Statements opening a repair transaction: replica mode, so the destination's triggers and foreign
 * keys do not fire on repaired rows (the source already applied them), and the settings under which
 * the values were read, so literals read back exactly.
 */
export function repairSessionStatements(): string[] {
  return [
    'SET LOCAL session_replication_role = replica',
    ...HASH_SESSION_SETTINGS.map(([k, v]) => `SET LOCAL ${k} = ${v}`),
  ];
}

/**
 * A psql script of repair statements for `--repair=dry-run`: one transaction per table, opened with
 * {@link repairSessionStatements}; each statement is preceded by a comment naming the difference.
 */
export function formatRepairScript(
  tables: readonly { readonly table: QualifiedName; readonly statements: readonly RepairStatement[] }[],
): string {
  const out: string[] = [];
  for (const t of tables) {
    if (t.statements.length === 0) continue;
    out.push(`-- ${quoteQualified(t.table)}: ${t.statements.length} repair(s)`, 'BEGIN;');
    for (const s of repairSessionStatements()) out.push(`${s};`);
    for (const s of t.statements) out.push(`${s.sql};`);
    out.push('COMMIT;');
  }
  return out.length === 0 ? '-- nothing to repair\n' : `${out.join('\n')}\n`;
}
