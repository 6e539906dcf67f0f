/**
 * Precheck of `schema.owners` / `schema.privileges`: the roles the selected objects' owners and
 * grants name exist on the destination (pgdts never creates roles), and the destination user may
 * hand objects to the owners (`OWNER TO` needs membership in the new owner role; so do GRANTs on
 * objects it no longer owns, and `ALTER DEFAULT PRIVILEGES FOR ROLE`). PostgreSQL docs, "5.8
 * Privileges", "CREATE ROLE", "ALTER TABLE" (OWNER TO).
 */
import { quoteIdent } from '../../core/identifier.ts';
import { listShort, type PrecheckResult } from '../../core/precheck.ts';
import {
  accessOf,
  rolesNamedBy,
  type PrivilegeGrant,
  type RoleDef,
  type SchemaModel,
} from '../../core/schema-model.ts';
import type { Sink } from '../../core/sink.ts';
import { hasSyncType, type TaskConfig } from '../../core/task-config.ts';

/** Does the check apply: schema sync with owners or privileges. */
export function schemaRolesApply(task: TaskConfig): boolean {
  return hasSyncType(task, 'schema') && (task.schema.owners || task.schema.privileges);
}

/**
 * `CREATE ROLE` with the source role's attributes (never a password: a DBA sets one, or LOGIN
 * stays off), for a DBA to review. PostgreSQL docs, "CREATE ROLE".
 */
export function createRoleSql(r: RoleDef): string {
  const attr = (on: boolean, word: string) => (on ? word : `NO${word}`);
  const parts = [
    `CREATE ROLE ${quoteIdent(r.name)}`,
    attr(r.login, 'LOGIN'),
    attr(r.inherit, 'INHERIT'),
    attr(r.createDb, 'CREATEDB'),
    attr(r.createRole, 'CREATEROLE'),
    attr(r.superuser, 'SUPERUSER'),
    attr(r.replication, 'REPLICATION'),
    attr(r.bypassRls, 'BYPASSRLS'),
  ];
  if (r.connectionLimit >= 0) parts.push(`CONNECTION LIMIT ${r.connectionLimit}`);
  if (r.memberOf.length > 0) parts.push(`IN ROLE ${r.memberOf.map(quoteIdent).join(', ')}`);
  return parts.join(' ');
}

/** Objects whose owner or grants name `role`, as labels, in model order. */
function objectsOf(model: SchemaModel, role: string): string[] {
  const out: string[] = [];
  const names = (gs: readonly PrivilegeGrant[] | undefined) =>
    (gs ?? []).some((g) => g.grantee.kind === 'role' && g.grantee.name === role);
  for (const a of accessOf(model)) {
    const p = a.access.privileges;
    if (a.access.owner === role || names(p?.grants) || names(p?.revokes)) out.push(a.label);
  }
  for (const t of model.tables) {
    for (const c of t.columns) {
      if (names(c.grants))
        out.push(`column ${quoteIdent(t.schema)}.${quoteIdent(t.name)}.${quoteIdent(c.name)}`);
    }
  }
  for (const d of model.defaultPrivileges ?? []) {
    if (d.role === role || names(d.grants)) {
      out.push(`default privileges of ${quoteIdent(d.role)} in schema ${quoteIdent(d.schema)}`);
    }
  }
  return [...new Set(out)];
}

/**
 * Roles the destination user must be a member of, sorted: owners (with `schema.owners`) and the
 * roles of default privileges.
 */
export function ownerAndDefaultPrivilegeRoles(model: SchemaModel, task: TaskConfig): string[] {
  const names = new Set<string>();
  if (task.schema.owners) for (const a of accessOf(model)) if (a.access.owner) names.add(a.access.owner);
  for (const d of model.defaultPrivileges ?? []) names.add(d.role);
  return [...names].sort();
}

/**
 * Reads owners and privileges through the source and the roles through the destination: WARN
 * naming each missing role with a count and the objects affected, the fix a `CREATE ROLE` per role
 * with its source attributes (the run skips those ownerships and grants); FAIL when the destination
 * user is not a member of an owner role (OWNER TO would fail); PASS otherwise. Never throws.
 */
export async function checkSchemaRoles(
  task: TaskConfig,
  /** The selected objects' schema model as schema sync reads it (read once for every check). */
  readModel: () => Promise<SchemaModel>,
  sink: Sink,
  destinationUser: string,
): Promise<PrecheckResult> {
  const id = 'schema-roles';
  const title = 'Roles of owners and grants on the destination';
  try {
    const writer = sink.schema;
    if (writer === undefined) {
      return { id, title, status: 'fail', message: 'the destination does not support schema sync' };
    }
    const model = await readModel();
    const named = rolesNamedBy(model);
    const { missing, notMember } = await writer.inspectRoles(named);
    const cannotAct = ownerAndDefaultPrivilegeRoles(model, task).filter((r) => notMember.includes(r));
    if (cannotAct.length > 0) {
      return {
        id,
        title,
        status: 'fail',
        message: `${destinationUser} is neither superuser nor a member of ${cannotAct.map((r) => JSON.stringify(r)).join(', ')}: it cannot make them owners (OWNER TO), grant on what they own, or set their default privileges`,
        fix: `run as a superuser on the destination: GRANT ${cannotAct.map(quoteIdent).join(', ')} TO ${quoteIdent(destinationUser)}`,
      };
    }
    if (missing.length > 0) {
      const roles = new Map((model.roles ?? []).map((r) => [r.name, r]));
      const described = missing.map((r) => {
        const objects = objectsOf(model, r);
        return `${JSON.stringify(r)} (${objects.length} object(s): ${listShort(objects, 5)})`;
      });
      const statements = missing.map((r) => {
        const def = roles.get(r);
        return def === undefined ? `-- ${quoteIdent(r)}: not found on the source` : `${createRoleSql(def)};`;
      });
      return {
        id,
        title,
        status: 'warn',
        message: `${missing.length} role(s) missing on the destination, their ownerships and grants are skipped: ${described.join('; ')}`,
        fix: `pgdts does not create roles; review and run on the destination, then run schema sync again:\n        ${statements.join('\n        ')}`,
      };
    }
    return {
      id,
      title,
      status: 'pass',
      message: `${named.length} role(s) of owners and grants exist on the destination`,
    };
  } catch (e) {
    return { id, title, status: 'fail', message: e instanceof Error ? e.message : String(e) };
  }
}
