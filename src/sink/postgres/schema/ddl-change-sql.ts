/**
 * The SQL of one {@link DdlChange} (a source DDL mapped onto destination names) for a PostgreSQL
 * destination, with a check that tells when its effect is there already, so a replay after a crash
 * or after a manual fix does nothing. Pure: no I/O. PostgreSQL docs: ALTER TABLE, CREATE INDEX,
 * CREATE VIEW, CREATE FUNCTION, DROP TABLE / INDEX / VIEW / FUNCTION / PROCEDURE, CREATE / ALTER /
 * DROP TYPE, DOMAIN, SEQUENCE, TRIGGER.
 *
 * Types, sequences and triggers are created with schema sync's own renderer (plan-schema-ddl.ts,
 * planSchemaDdl on a model of that one object), so both write the same SQL.
 */
import type { DdlChange, DdlColumnSpec } from '../../../core/ddl.ts';
import { PgdtsError } from '../../../core/errors.ts';
import { quoteIdent, quoteLiteral, quoteQualified, type QualifiedName } from '../../../core/identifier.ts';
import { EMPTY_SCHEMA_MODEL } from '../../../core/schema-model.ts';
import { compositeAttributeSql, enableClause, planSchemaDdl, sequenceOptionsSql } from './plan-schema-ddl.ts';

/** One statement and, when running it twice would fail, a query returning a row once it is done. */
export interface DdlChangeStatement {
  readonly sql: string;
  readonly skipIf: string | undefined;
}

const columnExists = (t: QualifiedName, c: string) =>
  `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass(${quoteLiteral(quoteQualified(t))}) AND attname = ${quoteLiteral(c)} AND attnum > 0 AND NOT attisdropped`;
const relationExists = (q: QualifiedName) =>
  `SELECT 1 WHERE to_regclass(${quoteLiteral(quoteQualified(q))}) IS NOT NULL`;

const typeWhere = (q: QualifiedName) =>
  `n.nspname = ${quoteLiteral(q.schema)} AND t.typname = ${quoteLiteral(q.name)}`;
const typeExists = (q: QualifiedName) =>
  `SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE ${typeWhere(q)}`;
const enumLabelExists = (q: QualifiedName, label: string) =>
  `SELECT 1 FROM pg_catalog.pg_enum e JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE ${typeWhere(q)} AND e.enumlabel = ${quoteLiteral(label)}`;
const attributeExists = (q: QualifiedName, name: string) =>
  `SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.typrelid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE ${typeWhere(q)} AND a.attname = ${quoteLiteral(name)} AND a.attnum > 0 AND NOT a.attisdropped`;
const domainConstraintExists = (q: QualifiedName, name: string) =>
  `SELECT 1 FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_type t ON t.oid = k.contypid JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE ${typeWhere(q)} AND k.conname = ${quoteLiteral(name)}`;
const triggerExists = (table: QualifiedName, name: string) =>
  `SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = to_regclass(${quoteLiteral(quoteQualified(table))}) AND tgname = ${quoteLiteral(name)}`;
/** `then` is there and `was` is not: a rename done already. */
const renamed = (then: string, was: string) => `${then} AND NOT EXISTS (${was})`;

function columnSql(c: DdlColumnSpec): string {
  const parts = [quoteIdent(c.name), c.type];
  if (c.generated !== undefined) parts.push(`GENERATED ALWAYS AS (${c.generated}) STORED`);
  else if (c.identity !== undefined)
    parts.push(`GENERATED ${c.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`);
  else if (c.default !== undefined) parts.push(`DEFAULT ${c.default}`);
  if (c.notNull && c.identity === undefined) parts.push('NOT NULL');
  return parts.join(' ');
}

/**
 * The one statement making `c` on the destination.
 * @throws {PgdtsError} INTERNAL for a change made of several statements (see {@link ddlChangeStatements}).
 */
export function ddlChangeSql(c: DdlChange): DdlChangeStatement {
  const all = ddlChangeStatements(c);
  if (all.length !== 1 || all[0] === undefined) {
    throw new PgdtsError('INTERNAL', `the DDL change ${c.kind} is made of ${all.length} statements`);
  }
  return all[0];
}

/** The statements making `c` on the destination, in order, each idempotent (IF [NOT] EXISTS or skipIf). */
export function ddlChangeStatements(c: DdlChange): DdlChangeStatement[] {
  const none = (sql: string): DdlChangeStatement => ({ sql, skipIf: undefined });
  switch (c.kind) {
    case 'add-column':
      return [none(`ALTER TABLE ${quoteQualified(c.table)} ADD COLUMN IF NOT EXISTS ${columnSql(c.column)}`)];
    case 'drop-column':
      return [none(`ALTER TABLE ${quoteQualified(c.table)} DROP COLUMN IF EXISTS ${quoteIdent(c.column)}`)];
    case 'rename-column':
      return [
        {
          sql: `ALTER TABLE ${quoteQualified(c.table)} RENAME COLUMN ${quoteIdent(c.from)} TO ${quoteIdent(c.to)}`,
          skipIf: `${columnExists(c.table, c.to)} AND NOT EXISTS (${columnExists(c.table, c.from)})`,
        },
      ];
    case 'alter-column-type':
      // USING: the source's own USING is not in the catalog; an assignment cast is what most
      // type changes use, and an explicit one covers text to number and the like.
      return [
        {
          sql: `ALTER TABLE ${quoteQualified(c.table)} ALTER COLUMN ${quoteIdent(c.column)} TYPE ${c.type} USING ${quoteIdent(c.column)}::${c.type}`,
          skipIf: `${columnExists(c.table, c.column)} AND pg_catalog.format_type(atttypid, atttypmod) = ${quoteLiteral(c.type)}`,
        },
      ];
    case 'set-default':
      return [
        none(
          `ALTER TABLE ${quoteQualified(c.table)} ALTER COLUMN ${quoteIdent(c.column)} ${c.default === undefined ? 'DROP DEFAULT' : `SET DEFAULT ${c.default}`}`,
        ),
      ];
    case 'set-not-null':
      return [
        none(
          `ALTER TABLE ${quoteQualified(c.table)} ALTER COLUMN ${quoteIdent(c.column)} ${c.notNull ? 'SET' : 'DROP'} NOT NULL`,
        ),
      ];
    case 'rename-table':
      return [
        {
          sql: `ALTER TABLE ${quoteQualified(c.table)} RENAME TO ${quoteIdent(c.to)}`,
          skipIf: `${relationExists({ schema: c.table.schema, name: c.to })} AND to_regclass(${quoteLiteral(quoteQualified(c.table))}) IS NULL`,
        },
      ];
    case 'drop-table':
      return [none(`DROP TABLE IF EXISTS ${quoteQualified(c.table)}`)];
    case 'add-constraint':
      return [
        {
          sql: `ALTER TABLE ${quoteQualified(c.table)} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`,
          skipIf: `SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${quoteLiteral(quoteQualified(c.table))}) AND conname = ${quoteLiteral(c.name)}`,
        },
      ];
    case 'drop-constraint':
      return [none(`ALTER TABLE ${quoteQualified(c.table)} DROP CONSTRAINT IF EXISTS ${quoteIdent(c.name)}`)];
    case 'create-index':
      return [{ sql: c.definition, skipIf: relationExists(c.index) }];
    case 'drop-index':
      return [none(`DROP INDEX IF EXISTS ${quoteQualified(c.index)}`)];
    case 'replace-view':
      return [none(`CREATE OR REPLACE VIEW ${quoteQualified(c.view)} AS ${c.query}`)];
    case 'drop-view':
      return [none(`DROP VIEW IF EXISTS ${quoteQualified(c.view)}`)];
    case 'replace-routine':
      return [none(c.definition)];
    case 'drop-routine':
      return [
        none(
          `DROP ${c.routineKind === 'procedure' ? 'PROCEDURE' : 'FUNCTION'} IF EXISTS ${quoteIdent(c.routine.schema)}.${c.signature}`,
        ),
      ];
    case 'rename-relation':
      return [
        {
          sql: `ALTER ${c.relation === 'view' ? 'VIEW' : 'INDEX'} ${quoteQualified(c.name)} RENAME TO ${quoteIdent(c.to)}`,
          skipIf: `${relationExists({ schema: c.name.schema, name: c.to })} AND to_regclass(${quoteLiteral(quoteQualified(c.name))}) IS NULL`,
        },
      ];
    case 'rename-routine': {
      const was = `${quoteQualified(c.routine)}(${c.args})`;
      const is = `${quoteQualified({ schema: c.routine.schema, name: c.to })}(${c.args})`;
      return [
        {
          sql: `ALTER ${c.routineKind === 'procedure' ? 'PROCEDURE' : 'FUNCTION'} ${was} RENAME TO ${quoteIdent(c.to)}`,
          skipIf: `SELECT 1 WHERE to_regprocedure(${quoteLiteral(is)}) IS NOT NULL AND to_regprocedure(${quoteLiteral(was)}) IS NULL`,
        },
      ];
    }
    case 'create-type':
      // CREATE TYPE / DOMAIN and a domain's NOT VALID constraints commit together: a type that is
      // there already was made by them (or by hand).
      return planSchemaDdl({ ...EMPTY_SCHEMA_MODEL, types: [c.type] }).preData.map((st) => ({
        sql: st.sql,
        skipIf: typeExists(c.type),
      }));
    case 'drop-type':
      return [none(`DROP ${c.domain ? 'DOMAIN' : 'TYPE'} IF EXISTS ${quoteQualified(c.type)}`)];
    case 'rename-type':
      return [
        {
          sql: `ALTER ${c.domain ? 'DOMAIN' : 'TYPE'} ${quoteQualified(c.type)} RENAME TO ${quoteIdent(c.to)}`,
          skipIf: renamed(typeExists({ schema: c.type.schema, name: c.to }), typeExists(c.type)),
        },
      ];
    case 'add-enum-value': {
      const where =
        c.before !== undefined
          ? ` BEFORE ${quoteLiteral(c.before)}`
          : c.after !== undefined
            ? ` AFTER ${quoteLiteral(c.after)}`
            : '';
      return [
        none(`ALTER TYPE ${quoteQualified(c.type)} ADD VALUE IF NOT EXISTS ${quoteLiteral(c.value)}${where}`),
      ];
    }
    case 'rename-enum-value':
      return [
        {
          sql: `ALTER TYPE ${quoteQualified(c.type)} RENAME VALUE ${quoteLiteral(c.from)} TO ${quoteLiteral(c.to)}`,
          skipIf: renamed(enumLabelExists(c.type, c.to), enumLabelExists(c.type, c.from)),
        },
      ];
    case 'add-attribute':
      return [
        {
          sql: `ALTER TYPE ${quoteQualified(c.type)} ADD ATTRIBUTE ${compositeAttributeSql(c.attribute)}`,
          skipIf: attributeExists(c.type, c.attribute.name),
        },
      ];
    case 'drop-attribute':
      return [none(`ALTER TYPE ${quoteQualified(c.type)} DROP ATTRIBUTE IF EXISTS ${quoteIdent(c.name)}`)];
    case 'rename-attribute':
      return [
        {
          sql: `ALTER TYPE ${quoteQualified(c.type)} RENAME ATTRIBUTE ${quoteIdent(c.from)} TO ${quoteIdent(c.to)}`,
          skipIf: renamed(attributeExists(c.type, c.to), attributeExists(c.type, c.from)),
        },
      ];
    case 'alter-attribute-type': {
      const a = c.attribute;
      return [
        {
          sql: `ALTER TYPE ${quoteQualified(c.type)} ALTER ATTRIBUTE ${quoteIdent(a.name)} TYPE ${a.type}${a.collation ? ` COLLATE ${quoteQualified(a.collation)}` : ''}`,
          skipIf: `${attributeExists(c.type, a.name)} AND pg_catalog.format_type(a.atttypid, a.atttypmod) = ${quoteLiteral(a.type)}`,
        },
      ];
    }
    case 'set-domain-default':
      return [
        none(
          `ALTER DOMAIN ${quoteQualified(c.domain)} ${c.default === undefined ? 'DROP DEFAULT' : `SET DEFAULT ${c.default}`}`,
        ),
      ];
    case 'set-domain-not-null':
      return [none(`ALTER DOMAIN ${quoteQualified(c.domain)} ${c.notNull ? 'SET' : 'DROP'} NOT NULL`)];
    case 'add-domain-constraint':
      return [
        {
          sql: `ALTER DOMAIN ${quoteQualified(c.domain)} ADD CONSTRAINT ${quoteIdent(c.constraint.name)} ${c.constraint.definition}`,
          skipIf: domainConstraintExists(c.domain, c.constraint.name),
        },
      ];
    case 'drop-domain-constraint':
      return [
        none(`ALTER DOMAIN ${quoteQualified(c.domain)} DROP CONSTRAINT IF EXISTS ${quoteIdent(c.name)}`),
      ];
    case 'rename-domain-constraint':
      return [
        {
          sql: `ALTER DOMAIN ${quoteQualified(c.domain)} RENAME CONSTRAINT ${quoteIdent(c.from)} TO ${quoteIdent(c.to)}`,
          skipIf: renamed(domainConstraintExists(c.domain, c.to), domainConstraintExists(c.domain, c.from)),
        },
      ];
    case 'create-sequence':
      // CREATE SEQUENCE, then OWNED BY (which may be set again).
      return planSchemaDdl({ ...EMPTY_SCHEMA_MODEL, sequences: [c.sequence] }).preData.map((st) => ({
        sql: st.sql,
        skipIf: st.kind === 'sequence' ? relationExists(c.sequence) : undefined,
      }));
    case 'alter-sequence': {
      const q = quoteQualified(c.sequence);
      const owner = c.sequence.ownedBy;
      // Every parameter as of the DDL: setting one that did not change does nothing.
      return [
        none(`ALTER SEQUENCE ${q} AS ${c.sequence.options.type} ${sequenceOptionsSql(c.sequence.options)}`),
        none(
          `ALTER SEQUENCE ${q} OWNED BY ${owner === undefined ? 'NONE' : `${quoteQualified(owner.table)}.${quoteIdent(owner.column)}`}`,
        ),
      ];
    }
    case 'rename-sequence':
      return [
        {
          sql: `ALTER SEQUENCE ${quoteQualified(c.sequence)} RENAME TO ${quoteIdent(c.to)}`,
          skipIf: `${relationExists({ schema: c.sequence.schema, name: c.to })} AND to_regclass(${quoteLiteral(quoteQualified(c.sequence))}) IS NULL`,
        },
      ];
    case 'drop-sequence':
      return [none(`DROP SEQUENCE IF EXISTS ${quoteQualified(c.sequence)}`)];
    case 'replace-trigger':
      return [
        none(`DROP TRIGGER IF EXISTS ${quoteIdent(c.trigger.name)} ON ${quoteQualified(c.trigger.table)}`),
        ...planSchemaDdl({ ...EMPTY_SCHEMA_MODEL, triggers: [c.trigger] }).postData.map((st) => none(st.sql)),
      ];
    case 'drop-trigger':
      return [none(`DROP TRIGGER IF EXISTS ${quoteIdent(c.name)} ON ${quoteQualified(c.table)}`)];
    case 'rename-trigger':
      return [
        {
          sql: `ALTER TRIGGER ${quoteIdent(c.from)} ON ${quoteQualified(c.table)} RENAME TO ${quoteIdent(c.to)}`,
          skipIf: renamed(triggerExists(c.table, c.to), triggerExists(c.table, c.from)),
        },
      ];
    case 'set-trigger-state':
      return [
        none(
          `ALTER TABLE ${quoteQualified(c.table)} ${enableClause(c.enabled) ?? 'ENABLE'} TRIGGER ${quoteIdent(c.name)}`,
        ),
      ];
  }
}
