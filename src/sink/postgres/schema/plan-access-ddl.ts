/**
 * The owners and privileges of a {@link SchemaModel} as DDL (PostgreSQL docs, "5.8 Privileges",
 * "GRANT", "REVOKE", "ALTER DEFAULT PRIVILEGES", and the `OWNER TO` clause of each ALTER command):
 * run after every object exists, owners first, so that grants are recorded as the owner's (a
 * superuser's or an owner-role member's GRANT is recorded as granted by the owner). Every statement
 * is idempotent — GRANT, REVOKE and OWNER TO of what is already there change nothing — so a resumed
 * run applies them again. Each names its roles in `requiresRoles`: the runner skips it when the
 * destination lacks one.
 */
import { quoteIdent, quoteQualified } from '../../../core/identifier.ts';
import {
  refKey,
  type DefaultPrivilegeDef,
  type Grantee,
  type ObjectAccess,
  type PrivilegeGrant,
  type SchemaModel,
} from '../../../core/schema-model.ts';
import type { DdlStatement } from './plan-schema-ddl.ts';

function granteeSql(g: Grantee): string {
  switch (g.kind) {
    case 'public':
      return 'PUBLIC';
    case 'role':
      return quoteIdent(g.name);
  }
}

function granteeRoles(g: Grantee): string[] {
  switch (g.kind) {
    case 'public':
      return [];
    case 'role':
      return [g.name];
  }
}

interface GrantGroup {
  readonly grantee: Grantee;
  readonly grantable: boolean;
  readonly privileges: string[];
  /** MAINTAIN (PostgreSQL 17+) goes alone, skipped on an older destination that has no such privilege. */
  readonly maintain: boolean;
}

/**
 * Privileges grouped per grantee and grant option (one GRANT each), in first-seen order; MAINTAIN
 * in a group of its own.
 */
function byGrantee(items: readonly PrivilegeGrant[]): GrantGroup[] {
  const groups = new Map<string, GrantGroup>();
  for (const i of items) {
    const maintain = i.privilege === 'MAINTAIN';
    const k = `${i.grantee.kind === 'role' ? `r:${i.grantee.name}` : 'p'}\u0000${String(i.grantable)}\u0000${String(maintain)}`;
    const g = groups.get(k);
    if (g) g.privileges.push(i.privilege);
    else groups.set(k, { grantee: i.grantee, grantable: i.grantable, privileges: [i.privilege], maintain });
  }
  return [...groups.values()];
}

/** Skips a MAINTAIN statement on a destination before PostgreSQL 17 (it has no MAINTAIN privilege). */
function maintainSkip(g: GrantGroup): { skipIf?: string } {
  return g.maintain
    ? { skipIf: "SELECT 1 WHERE pg_catalog.current_setting('server_version_num')::int < 170000" }
    : {};
}

function groupId(g: GrantGroup): string {
  return `${granteeSql(g.grantee)}:${String(g.grantable)}${g.maintain ? ':maintain' : ''}`;
}

/** What an object is to the statements: its id in the plan, label, GRANT target and ALTER head. */
interface Target {
  readonly id: string;
  /** For messages, e.g. `table "s"."t"`. */
  readonly object: string;
  /** `ON ...` of GRANT/REVOKE, e.g. `TABLE "s"."t"`. */
  readonly on: string;
  /** `ALTER ... OWNER TO` head, e.g. `ALTER TABLE "s"."t"`; undefined when the owner is not set. */
  readonly alter: string | undefined;
}

/**
 * `ALTER ... OWNER TO`, `REVOKE` of default privileges the source lacks, and `GRANT`s for every
 * object of `model` with {@link ObjectAccess}, then column privileges and default privileges. Pure.
 * Sequences owned by a column get no `OWNER TO`: they follow their table's owner.
 */
export function planAccessDdl(model: SchemaModel): DdlStatement[] {
  const owners: DdlStatement[] = [];
  const grants: DdlStatement[] = [];
  const add = (t: Target, access: ObjectAccess | undefined): void => {
    if (access === undefined) return;
    const ownerId = `owner:${t.id}`;
    const owned = access.owner !== undefined && t.alter !== undefined;
    if (access.owner !== undefined && t.alter !== undefined) {
      owners.push({
        id: ownerId,
        kind: 'owner',
        object: t.object,
        sql: `${t.alter} OWNER TO ${quoteIdent(access.owner)}`,
        dependsOn: [],
        requiresRoles: [access.owner],
      });
    }
    const after = owned ? [ownerId] : [];
    const p = access.privileges;
    if (p === undefined) return;
    for (const g of byGrantee(p.revokes)) {
      grants.push({
        id: `revoke:${t.id}:${groupId(g)}`,
        kind: 'grant',
        object: t.object,
        sql: `REVOKE ${g.privileges.join(', ')} ON ${t.on} FROM ${granteeSql(g.grantee)}`,
        dependsOn: after,
        requiresRoles: granteeRoles(g.grantee),
        ...maintainSkip(g),
      });
    }
    for (const g of byGrantee(p.grants)) {
      grants.push(grantStatement(`grant:${t.id}`, t.object, t.on, g, after));
    }
  };

  for (const s of model.schemas) {
    const q = quoteIdent(s.name);
    add(
      { id: `schema:${s.name}`, object: `schema ${q}`, on: `SCHEMA ${q}`, alter: `ALTER SCHEMA ${q}` },
      s.access,
    );
  }
  for (const t of model.types) {
    const q = quoteQualified(t);
    const word = t.kind === 'domain' ? 'DOMAIN' : 'TYPE';
    add(
      {
        id: refKey({ kind: 'type', schema: t.schema, name: t.name }),
        object: `${word.toLowerCase()} ${q}`,
        on: `${word} ${q}`,
        alter: `ALTER ${word} ${q}`,
      },
      t.access,
    );
  }
  for (const s of model.sequences) {
    const q = quoteQualified(s);
    add(
      {
        id: refKey({ kind: 'sequence', schema: s.schema, name: s.name }),
        object: `sequence ${q}`,
        on: `SEQUENCE ${q}`,
        alter: s.ownedBy === undefined ? `ALTER SEQUENCE ${q}` : undefined,
      },
      s.access,
    );
  }
  for (const t of model.tables) {
    const q = quoteQualified(t);
    const id = refKey({ kind: 'table', schema: t.schema, name: t.name });
    add({ id, object: `table ${q}`, on: `TABLE ${q}`, alter: `ALTER TABLE ${q}` }, t.access);
    for (const c of t.columns) {
      if (c.grants === undefined) continue;
      for (const g of byGrantee(c.grants)) {
        const cols = quoteIdent(c.name);
        grants.push(
          grantStatement(
            `grant:${id}:column:${c.name}`,
            `column ${q}.${cols}`,
            `TABLE ${q}`,
            { ...g, privileges: g.privileges.map((x) => `${x} (${cols})`) },
            t.access?.owner !== undefined ? [`owner:${id}`] : [],
          ),
        );
      }
    }
  }
  for (const v of model.views) {
    const q = quoteQualified(v);
    const word = v.kind === 'materialized-view' ? 'MATERIALIZED VIEW' : 'VIEW';
    add(
      {
        id: refKey({ kind: 'view', schema: v.schema, name: v.name }),
        object: `${word.toLowerCase()} ${q}`,
        on: `TABLE ${q}`,
        alter: `ALTER ${word} ${q}`,
      },
      v.access,
    );
  }
  for (const r of model.routines) {
    const target = `${quoteQualified(r)}${r.signature.slice(r.name.length)}`;
    const word = r.kind === 'function' ? 'FUNCTION' : 'PROCEDURE';
    add(
      {
        id: refKey({ kind: 'routine', schema: r.schema, name: r.signature }),
        object: `${r.kind} ${target}`,
        on: `${word} ${target}`,
        alter: `ALTER ${word} ${target}`,
      },
      r.access,
    );
  }
  for (const a of model.aggregates) {
    const q = quoteQualified(a);
    // GRANT ON FUNCTION takes an aggregate by its input types; ALTER AGGREGATE wants its argument
    // list (with ORDER BY for an ordered-set aggregate).
    add(
      {
        id: refKey({ kind: 'routine', schema: a.schema, name: a.signature }),
        object: `aggregate ${q}(${a.arguments === '' ? '*' : a.arguments})`,
        on: `FUNCTION ${q}${a.signature.slice(a.name.length)}`,
        alter: `ALTER AGGREGATE ${q}(${a.arguments === '' ? '*' : a.arguments})`,
      },
      a.access,
    );
  }
  for (const d of model.defaultPrivileges ?? []) grants.push(...defaultPrivilegeStatements(d));
  return [...owners, ...grants];
}

function grantStatement(
  idPrefix: string,
  object: string,
  on: string,
  g: GrantGroup,
  dependsOn: readonly string[],
): DdlStatement {
  return {
    id: `${idPrefix}:${groupId(g)}`,
    kind: 'grant',
    object,
    sql: `GRANT ${g.privileges.join(', ')} ON ${on} TO ${granteeSql(g.grantee)}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
    dependsOn,
    requiresRoles: granteeRoles(g.grantee),
    ...maintainSkip(g),
  };
}

function defaultPrivilegeStatements(d: DefaultPrivilegeDef): DdlStatement[] {
  const object = `default privileges for role ${quoteIdent(d.role)} in schema ${quoteIdent(d.schema)} on ${d.objects}`;
  return byGrantee(d.grants).map((g) => ({
    id: `default-privileges:${d.schema}\u0000${d.role}\u0000${d.objects}:${groupId(g)}`,
    kind: 'default-privileges',
    object,
    sql: `ALTER DEFAULT PRIVILEGES FOR ROLE ${quoteIdent(d.role)} IN SCHEMA ${quoteIdent(d.schema)} GRANT ${g.privileges.join(', ')} ON ${d.objects.toUpperCase()} TO ${granteeSql(g.grantee)}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
    dependsOn: [],
    requiresRoles: [d.role, ...granteeRoles(g.grantee)],
    ...maintainSkip(g),
  }));
}
