/**
 * Column changes followed from the change stream, applied to the destination inside the applier's
 * open transaction [P8]: the ALTER commits with the rows around it and the applied position, or not
 * at all (a crash before the COMMIT redoes it on resume).
 */
import type pg from 'pg';
import type { PgdtsError } from '../../../core/errors.ts';
import {
  displayName,
  quoteIdent,
  quoteLiteral,
  quoteQualified,
  type QualifiedName,
} from '../../../core/identifier.ts';
import type {
  ColumnChange,
  DestinationColumnShape,
  DestinationSchemaChanges,
} from '../../../core/schema-change.ts';
import { applyFailed } from './apply-error.ts';

/** What {@link PostgresSchemaChanges} needs of the applier. */
export interface SchemaChangeHooks {
  /** Flushes and waits for every buffered change, opens the destination transaction; its client. */
  prepare(): Promise<pg.Client>;
  /** The destination tables changed: forget their cached shape. */
  altered(): void;
  /** Records a failure so every later applier call rethrows it [P4]. */
  fail(e: PgdtsError): PgdtsError;
}

/**
 * The SQL of `changes` on `table`. An added column whose existing rows have a value gets it as a
 * constant DEFAULT, dropped at once (PostgreSQL stores it as the column's missing value, no rewrite);
 * later rows always come with their value from the stream. A type change casts with `USING`.
 */
export function columnChangeSql(table: QualifiedName, changes: readonly ColumnChange[]): string[] {
  const t = `ALTER TABLE ${quoteQualified(table)}`;
  return changes.flatMap((c): string[] => {
    const col = quoteIdent(c.column);
    switch (c.kind) {
      case 'add':
        return c.existingRows === null
          ? [`${t} ADD COLUMN ${col} ${c.typeName}`]
          : [
              `${t} ADD COLUMN ${col} ${c.typeName} DEFAULT ${quoteLiteral(c.existingRows)}::${c.typeName}`,
              `${t} ALTER COLUMN ${col} DROP DEFAULT`,
            ];
      case 'drop':
        return [`${t} DROP COLUMN ${col}`];
      case 'retype':
        return [`${t} ALTER COLUMN ${col} TYPE ${c.typeName} USING ${col}::${c.typeName}`];
    }
  });
}

/** {@link DestinationSchemaChanges} on the applier's connection. */
export class PostgresSchemaChanges implements DestinationSchemaChanges {
  constructor(private readonly hooks: SchemaChangeHooks) {}

  async columns(table: QualifiedName): Promise<DestinationColumnShape[] | undefined> {
    const client = await this.hooks.prepare();
    try {
      const r = await client.query<{ name: string; type_name: string; generated: boolean }>(
        `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type_name,
                a.attgenerated <> '' AS generated
           FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p')
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
        [table.schema, table.name],
      );
      if (r.rows.length === 0) return undefined;
      return r.rows.map((x) => ({ name: x.name, typeName: x.type_name, generated: x.generated }));
    } catch (e) {
      throw this.hooks.fail(applyFailed(`cannot read the columns of ${displayName(table)}`, e));
    }
  }

  async alter(table: QualifiedName, changes: readonly ColumnChange[]): Promise<void> {
    const client = await this.hooks.prepare();
    const sql = columnChangeSql(table, changes);
    try {
      await client.query(sql.join(';\n'));
    } catch (e) {
      throw this.hooks.fail(applyFailed(`cannot alter ${displayName(table)} (${sql.join('; ')})`, e));
    } finally {
      this.hooks.altered();
    }
  }
}
