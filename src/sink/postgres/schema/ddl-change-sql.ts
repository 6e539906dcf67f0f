/**
 * The SQL of one {@link DdlChange} (a source DDL mapped onto destination names) for a PostgreSQL
 * destination, with a check that tells when its effect is there already, so a replay after a crash
 * or after a manual fix does nothing. Pure: no I/O. PostgreSQL docs: ALTER TABLE, CREATE INDEX,
 * CREATE VIEW, CREATE FUNCTION, DROP TABLE / INDEX / VIEW / FUNCTION / PROCEDURE.
 */
import type { DdlChange, DdlColumnSpec } from '../../../core/ddl.ts';
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from '../../../core/identifier.ts';

/** One statement and, when running it twice would fail, a query returning a row once it is done. */
export interface DdlChangeStatement {
  readonly sql: string;
  readonly skipIf: string | undefined;
}

const columnExists = (t: QualifiedName, c: string) =>
  `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(${quoteLiteral(quoteQualified(t))}) AND attname = ${quoteLiteral(c)} AND attnum > 0 AND NOT attisdropped`;
const relationExists = (q: QualifiedName) =>
  `SELECT 1 WHERE to_regclass(${quoteLiteral(quoteQualified(q))}) IS NOT NULL`;

function columnSql(c: DdlColumnSpec): string {
  const parts = [quoteIdent(c.name), c.type];
  if (c.generated !== undefined) parts.push(`GENERATED ALWAYS AS (${c.generated}) STORED`);
  else if (c.identity !== undefined)
    parts.push(`GENERATED ${c.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`);
  else if (c.default !== undefined) parts.push(`DEFAULT ${c.default}`);
  if (c.notNull && c.identity === undefined) parts.push('NOT NULL');
  return parts.join(' ');
}

/** The statement making `c` on the destination. */
export function ddlChangeSql(c: DdlChange): DdlChangeStatement {
  const none = (sql: string): DdlChangeStatement => ({ sql, skipIf: undefined });
  switch (c.kind) {
    case 'add-column':
      return none(`ALTER TABLE ${quoteQualified(c.table)} ADD COLUMN IF NOT EXISTS ${columnSql(c.column)}`);
    case 'drop-column':
      return none(`ALTER TABLE ${quoteQualified(c.table)} DROP COLUMN IF EXISTS ${quoteIdent(c.column)}`);
    case 'rename-column':
      return {
        sql: `ALTER TABLE ${quoteQualified(c.table)} RENAME COLUMN ${quoteIdent(c.from)} TO ${quoteIdent(c.to)}`,
        skipIf: `${columnExists(c.table, c.to)} AND NOT EXISTS (${columnExists(c.table, c.from)})`,
      };
    case 'alter-column-type':
      // USING: the source's own USING is not in the catalog; an assignment cast is what most
      // type changes use, and an explicit one covers text to number and the like.
      return {
        sql: `ALTER TABLE ${quoteQualified(c.table)} ALTER COLUMN ${quoteIdent(c.column)} TYPE ${c.type} USING ${quoteIdent(c.column)}::${c.type}`,
        skipIf: `${columnExists(c.table, c.column)} AND pg_catalog.format_type(atttypid, atttypmod) = ${quoteLiteral(c.type)}`,
      };
    case 'set-default':
      return none(
        `ALTER TABLE ${quoteQualified(c.table)} ALTER COLUMN ${quoteIdent(c.column)} ${c.default === undefined ? 'DROP DEFAULT' : `SET DEFAULT ${c.default}`}`,
      );
    case 'set-not-null':
      return none(
        `ALTER TABLE ${quoteQualified(c.table)} ALTER COLUMN ${quoteIdent(c.column)} ${c.notNull ? 'SET' : 'DROP'} NOT NULL`,
      );
    case 'rename-table':
      return {
        sql: `ALTER TABLE ${quoteQualified(c.table)} RENAME TO ${quoteIdent(c.to)}`,
        skipIf: `${relationExists({ schema: c.table.schema, name: c.to })} AND to_regclass(${quoteLiteral(quoteQualified(c.table))}) IS NULL`,
      };
    case 'drop-table':
      return none(`DROP TABLE IF EXISTS ${quoteQualified(c.table)}`);
    case 'add-constraint':
      return {
        sql: `ALTER TABLE ${quoteQualified(c.table)} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`,
        skipIf: `SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${quoteLiteral(quoteQualified(c.table))}) AND conname = ${quoteLiteral(c.name)}`,
      };
    case 'drop-constraint':
      return none(`ALTER TABLE ${quoteQualified(c.table)} DROP CONSTRAINT IF EXISTS ${quoteIdent(c.name)}`);
    case 'create-index':
      return { sql: c.definition, skipIf: relationExists(c.index) };
    case 'drop-index':
      return none(`DROP INDEX IF EXISTS ${quoteQualified(c.index)}`);
    case 'replace-view':
      return none(`CREATE OR REPLACE VIEW ${quoteQualified(c.view)} AS ${c.query}`);
    case 'drop-view':
      return none(`DROP VIEW IF EXISTS ${quoteQualified(c.view)}`);
    case 'replace-routine':
      return none(c.definition);
    case 'drop-routine':
      return none(
        `DROP ${c.routineKind === 'procedure' ? 'PROCEDURE' : 'FUNCTION'} IF EXISTS ${quoteIdent(c.routine.schema)}.${c.signature}`,
      );
  }
}
