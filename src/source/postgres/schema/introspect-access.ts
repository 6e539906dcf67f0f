/**
 * Owners and privileges of the objects of a schema model, read from the source catalogs when a task
 * asks for them (`schema.owners`, `schema.privileges`): pg_namespace.nspacl, pg_class.relacl (tables,
 * views, materialized views, sequences), pg_attribute.attacl (column privileges), pg_proc.proacl,
 * pg_type.typacl, pg_default_acl, and the roles they name from pg_roles. ACLs are read with
 * `aclexplode` (one row per grantee and privilege, privilege_type named as GRANT names it), never by
 * parsing aclitem text, so privileges a newer server adds (MAINTAIN, PostgreSQL 17) need no code.
 * PostgreSQL docs, "5.8 Privileges"; "System Information Functions" (aclexplode, acldefault).
 */
import type pg from 'pg';
import type {
  DefaultPrivilegeDef,
  DefaultPrivilegeObjects,
  ObjectAccess,
  ObjectPrivileges,
  PrivilegeGrant,
  ReadSchemaOptions,
  RoleDef,
  SchemaModel,
} from '../../../core/schema-model.ts';
import { rolesNamedBy } from '../../../core/schema-model.ts';

/** One exploded ACL entry as the queries below return it (grantee null for PUBLIC). */
interface AclJson {
  readonly grantee: string | null;
  readonly privilege: string;
  readonly grantable: boolean;
}

/** The JSON object `{grants, revokes}` of an ACL column against its default, or NULL for a NULL ACL. */
function privilegesSql(acl: string, defaultAcl: string): string {
  const items = (a: string) =>
    `(SELECT x.grantee, x.privilege_type, bool_or(x.is_grantable) AS is_grantable FROM pg_catalog.aclexplode(${a}) x GROUP BY 1, 2)`;
  const json = (alias: string) =>
    `pg_catalog.json_build_object('grantee', CASE WHEN ${alias}.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(${alias}.grantee) END, 'privilege', ${alias}.privilege_type, 'grantable', ${alias}.is_grantable)`;
  const order = (alias: string) =>
    `ORDER BY ${alias}.grantee <> 0, pg_catalog.pg_get_userbyid(${alias}.grantee), ${alias}.privilege_type`;
  // Aliases acl_a, acl_d: not to shadow the caller's (pg_attribute a, pg_default_acl d).
  // acl NULL means the built-in default (acldefault): nothing to carry over.
  return `CASE WHEN ${acl} IS NOT NULL THEN pg_catalog.json_build_object(
      'grants', (SELECT coalesce(pg_catalog.json_agg(${json('acl_a')} ${order('acl_a')}), '[]') FROM ${items(acl)} acl_a
                  WHERE NOT EXISTS (SELECT 1 FROM ${items(defaultAcl)} acl_d WHERE acl_d.grantee = acl_a.grantee
                                      AND acl_d.privilege_type = acl_a.privilege_type AND acl_d.is_grantable = acl_a.is_grantable)),
      'revokes', (SELECT coalesce(pg_catalog.json_agg(${json('acl_d')} ${order('acl_d')}), '[]') FROM ${items(defaultAcl)} acl_d
                  WHERE NOT EXISTS (SELECT 1 FROM ${items(acl)} acl_a WHERE acl_a.grantee = acl_d.grantee
                                      AND acl_a.privilege_type = acl_d.privilege_type))) END`;
}

function grantOf(j: AclJson): PrivilegeGrant {
  return {
    grantee: j.grantee === null ? { kind: 'public' } : { kind: 'role', name: j.grantee },
    privilege: j.privilege,
    grantable: j.grantable,
  };
}

function privilegesOf(
  j: { grants: AclJson[]; revokes: AclJson[] } | null | undefined,
): ObjectPrivileges | undefined {
  if (j === null || j === undefined) return undefined;
  return { grants: j.grants.map(grantOf), revokes: j.revokes.map(grantOf) };
}

interface AccessRow {
  readonly schema: string;
  readonly name: string;
  readonly owner: string;
  readonly privileges: { grants: AclJson[]; revokes: AclJson[] } | null;
}

const key = (schema: string, name: string): string => `${schema}\u0000${name}`;

// pg_default_acl.defaclobjtype; `n` (schemas) exists only as a global default, never IN SCHEMA.
const DEFAULT_OBJECTS: Readonly<Record<string, DefaultPrivilegeObjects>> = {
  r: 'tables',
  S: 'sequences',
  f: 'functions',
  T: 'types',
};

/**
 * `model` with owners and/or privileges set from the catalogs the client reads (in the caller's
 * snapshot), and the roles they name ({@link SchemaModel.roles}). Sequences owned by a column get
 * their owner too (the planner leaves it out: they follow their table). Options both off: `model`.
 * @throws the pg error of a failed catalog query (the caller wraps it).
 */
export async function introspectAccess(
  client: pg.Client,
  model: SchemaModel,
  options: ReadSchemaOptions,
): Promise<SchemaModel> {
  const privileges = options.privileges === true;
  const owners = options.owners === true;
  if (!privileges && !owners) return model;
  const access = (r: AccessRow | undefined): ObjectAccess | undefined => {
    if (r === undefined) return undefined;
    const p = privileges ? privilegesOf(r.privileges) : undefined;
    if (!owners && p === undefined) return undefined;
    return { ...(owners ? { owner: r.owner } : {}), ...(p !== undefined ? { privileges: p } : {}) };
  };
  const rows = async (text: string, params: unknown[]): Promise<Map<string, AccessRow>> =>
    new Map((await client.query<AccessRow>(text, params)).rows.map((r) => [key(r.schema, r.name), r]));

  const schemaNames = model.schemas.map((s) => s.name);
  const schemas = await rows(
    `SELECT n.nspname AS schema, n.nspname AS name, pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
            ${privilegesSql('n.nspacl', `pg_catalog.acldefault('n', n.nspowner)`)} AS privileges
       FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY($1::text[])`,
    [schemaNames],
  );
  const relations = [...model.tables, ...model.views, ...model.sequences];
  const rels = await rows(
    `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.pg_get_userbyid(c.relowner) AS owner,
            ${privilegesSql('c.relacl', `pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner)`)} AS privileges
       FROM unnest($1::text[], $2::text[]) AS s(schema, name)
       JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.name`,
    [relations.map((r) => r.schema), relations.map((r) => r.name)],
  );
  const types = await rows(
    `SELECT n.nspname AS schema, t.typname AS name, pg_catalog.pg_get_userbyid(t.typowner) AS owner,
            ${privilegesSql('t.typacl', `pg_catalog.acldefault('T', t.typowner)`)} AS privileges
       FROM unnest($1::text[], $2::text[]) AS s(schema, name)
       JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema
       JOIN pg_catalog.pg_type t ON t.typnamespace = n.oid AND t.typname = s.name`,
    [model.types.map((t) => t.schema), model.types.map((t) => t.name)],
  );
  // Routines and aggregates by their signature key (name and oidvectortypes of the input types).
  const routineKeys = [...model.routines, ...model.aggregates];
  const procs = await rows(
    `SELECT n.nspname AS schema, p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')' AS name,
            pg_catalog.pg_get_userbyid(p.proowner) AS owner,
            ${privilegesSql('p.proacl', `pg_catalog.acldefault('f', p.proowner)`)} AS privileges
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = ANY($1::text[])`,
    [[...new Set(routineKeys.map((r) => r.schema))]],
  );
  const columnGrants = new Map<string, PrivilegeGrant[]>();
  if (privileges) {
    const cols = await client.query<{ schema: string; name: string; column: string; grants: AclJson[] }>(
      `SELECT n.nspname AS schema, c.relname AS name, a.attname AS column,
              ${privilegesSql('a.attacl', `NULL::pg_catalog.aclitem[]`)} -> 'grants' AS grants
         FROM unnest($1::text[], $2::text[]) AS s(schema, name)
         JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema
         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.name
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE a.attacl IS NOT NULL`,
      [model.tables.map((t) => t.schema), model.tables.map((t) => t.name)],
    );
    for (const c of cols.rows) {
      if (c.grants.length > 0)
        columnGrants.set(`${key(c.schema, c.name)}\u0000${c.column}`, c.grants.map(grantOf));
    }
  }
  const defaultPrivileges: DefaultPrivilegeDef[] = [];
  if (privileges) {
    const defs = await client.query<{ role: string; schema: string; objtype: string; grants: AclJson[] }>(
      `SELECT pg_catalog.pg_get_userbyid(d.defaclrole) AS role, n.nspname AS schema, d.defaclobjtype::text AS objtype,
              ${privilegesSql('d.defaclacl', `NULL::pg_catalog.aclitem[]`)} -> 'grants' AS grants
         FROM pg_catalog.pg_default_acl d JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
        WHERE n.nspname = ANY($1::text[])
        ORDER BY n.nspname, 1, d.defaclobjtype`,
      [schemaNames],
    );
    for (const d of defs.rows) {
      const objects = DEFAULT_OBJECTS[d.objtype];
      if (objects === undefined || d.grants.length === 0) continue;
      defaultPrivileges.push({
        kind: 'default-privileges',
        role: d.role,
        schema: d.schema,
        objects,
        grants: d.grants.map(grantOf),
      });
    }
  }
  const withAccess = <T extends { readonly schema: string; readonly name: string }>(
    x: T,
    m: Map<string, AccessRow>,
    k = key(x.schema, x.name),
  ): T => {
    const a = access(m.get(k));
    return a === undefined ? x : { ...x, access: a };
  };
  const out: SchemaModel = {
    ...model,
    schemas: model.schemas.map((s) => {
      const a = access(schemas.get(key(s.name, s.name)));
      return a === undefined ? s : { ...s, access: a };
    }),
    types: model.types.map((t) => withAccess(t, types)),
    sequences: model.sequences.map((s) => withAccess(s, rels)),
    tables: model.tables.map((t) => {
      const x = withAccess(t, rels);
      if (columnGrants.size === 0) return x;
      return {
        ...x,
        columns: x.columns.map((c) => {
          const g = columnGrants.get(`${key(t.schema, t.name)}\u0000${c.name}`);
          return g === undefined ? c : { ...c, grants: g };
        }),
      };
    }),
    views: model.views.map((v) => withAccess(v, rels)),
    routines: model.routines.map((r) => withAccess(r, procs, key(r.schema, r.signature))),
    aggregates: model.aggregates.map((a) => withAccess(a, procs, key(a.schema, a.signature))),
    ...(defaultPrivileges.length > 0 ? { defaultPrivileges } : {}),
  };
  return { ...out, roles: await readRoles(client, rolesNamedBy(out)) };
}

/** Attributes of roles `names` from pg_roles (never rolpassword), sorted by name. */
async function readRoles(client: pg.Client, names: readonly string[]): Promise<RoleDef[]> {
  if (names.length === 0) return [];
  const r = await client.query<{
    rolname: string;
    rolcanlogin: boolean;
    rolinherit: boolean;
    rolcreatedb: boolean;
    rolcreaterole: boolean;
    rolsuper: boolean;
    rolreplication: boolean;
    rolbypassrls: boolean;
    rolconnlimit: number;
    memberof: string[];
  }>(
    `SELECT r.rolname, r.rolcanlogin, r.rolinherit, r.rolcreatedb, r.rolcreaterole, r.rolsuper,
            r.rolreplication, r.rolbypassrls, r.rolconnlimit,
            ARRAY(SELECT b.rolname::text FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles b ON b.oid = m.roleid
                   WHERE m.member = r.oid ORDER BY 1) AS memberof
       FROM pg_catalog.pg_roles r WHERE r.rolname = ANY($1::text[]) ORDER BY r.rolname`,
    [names],
  );
  return r.rows.map((x) => ({
    kind: 'role',
    name: x.rolname,
    login: x.rolcanlogin,
    inherit: x.rolinherit,
    createDb: x.rolcreatedb,
    createRole: x.rolcreaterole,
    superuser: x.rolsuper,
    replication: x.rolreplication,
    bypassRls: x.rolbypassrls,
    connectionLimit: x.rolconnlimit,
    memberOf: x.memberof,
  }));
}
