/**
 * `schema.privileges` and `schema.owners` against real servers: a source whose roles own objects and
 * hold grants on a schema, tables, columns, sequences, a view, a materialized view, a function, a
 * procedure, an aggregate, an enum and a domain, with default privileges and privileges revoked from
 * PUBLIC and from an owner. With both options the destination's `pg_dump --schema-only` (owners and
 * privileges included) and its catalog ACLs equal the source's; without them nothing is granted or
 * handed over. A role missing on the destination: the precheck warns with a `CREATE ROLE` statement,
 * the run succeeds, skips that role's grants and ownerships and says so once. Under a schema `as` the
 * grants land on the mapped objects. PostgreSQL 13, 15 and 17 (catalog ACLs differ: MAINTAIN in 17).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { EMPTY_SCHEMA_MODEL, type SchemaModel } from '../../src/core/schema-model.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { planSchemaDdl } from '../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { configRefusal } from '../support/config-refusal.ts';
import { pgDumpSchema } from '../support/pg-dump.ts';
import { runCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { introspectDb, syncModel } from '../support/schema-sync-steps.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';

// Roles are cluster-wide and the servers are shared by the run: unique names, dropped at the end.
const suffix = randomBytes(3).toString('hex');
const OWNER = `priv_owner_${suffix}`;
const READER = `priv_reader_${suffix}`;
const WRITER = `priv_writer_${suffix}`;
/** A role made on the source server only, to be missing on the destination. */
const GUEST = `priv_guest_${suffix}`;
/** A destination login that is neither superuser nor a member of the owner roles. */
const LOADER = `priv_loader_${suffix}`;

/** Databases made per server, dropped before the roles (their objects and default ACLs go with them). */
const made: { server: TestServer; db: string }[] = [];
/** Roles made, by server port (a server's {@link TestServer} object is made anew by each call). */
const rolesOn = new Map<number, { server: TestServer; names: Set<string> }>();

async function database(s: TestServer, prefix: string): Promise<string> {
  const db = await freshDatabase(s, prefix);
  made.push({ server: s, db });
  return db;
}

/** Creates those of `names` not made on `s` yet. */
async function createRoles(s: TestServer, names: readonly string[] = [OWNER, READER, WRITER]): Promise<void> {
  const have = rolesOn.get(s.port)?.names ?? new Set<string>();
  rolesOn.set(s.port, { server: s, names: have });
  const attrs: Record<string, string> = {
    [OWNER]: 'NOLOGIN',
    [READER]: 'NOLOGIN NOINHERIT',
    [WRITER]: 'NOLOGIN',
    [GUEST]: 'LOGIN CREATEDB CONNECTION LIMIT 3',
    [LOADER]: "LOGIN PASSWORD 'loader-Pw-1'",
  };
  for (const n of names) {
    if (have.has(n)) continue;
    await sql(s, 'postgres', `CREATE ROLE "${n}" ${attrs[n] ?? ''}`);
    have.add(n);
  }
}

after(async () => {
  for (const m of made) await sql(m.server, 'postgres', `DROP DATABASE IF EXISTS "${m.db}"`);
  for (const { server: s, names } of rolesOn.values()) {
    for (const r of names) await sql(s, 'postgres', `DROP ROLE IF EXISTS "${r}"`);
  }
});

/** Objects in schema `app` with owners and grants of every kind schema sync carries. */
function sourceSql(): string {
  const o = `"${OWNER}"`;
  const r = `"${READER}"`;
  const w = `"${WRITER}"`;
  return `
    CREATE SCHEMA app AUTHORIZATION ${o};
    GRANT USAGE ON SCHEMA app TO ${r};
    GRANT USAGE, CREATE ON SCHEMA app TO ${w} WITH GRANT OPTION;
    CREATE TYPE app.mood AS ENUM ('calm', 'busy');
    ALTER TYPE app.mood OWNER TO ${o};
    REVOKE USAGE ON TYPE app.mood FROM PUBLIC;
    GRANT USAGE ON TYPE app.mood TO ${r};
    CREATE DOMAIN app.posint AS int CHECK (VALUE > 0);
    ALTER DOMAIN app.posint OWNER TO ${o};
    GRANT USAGE ON DOMAIN app.posint TO ${w};
    CREATE TABLE app.items (id serial PRIMARY KEY, name text, secret text, mood app.mood, qty app.posint);
    CREATE INDEX items_name_idx ON app.items (name);
    ALTER TABLE app.items OWNER TO ${o};
    GRANT SELECT, INSERT ON app.items TO ${w};
    GRANT SELECT (id, name) ON app.items TO ${r};
    GRANT UPDATE (name) ON app.items TO ${w} WITH GRANT OPTION;
    REVOKE DELETE ON app.items FROM ${o};
    GRANT USAGE ON SEQUENCE app.items_id_seq TO ${w};
    CREATE SEQUENCE app.tickets;
    ALTER SEQUENCE app.tickets OWNER TO ${o};
    GRANT USAGE, SELECT ON SEQUENCE app.tickets TO ${r};
    CREATE VIEW app.names AS SELECT id, name FROM app.items;
    ALTER VIEW app.names OWNER TO ${o};
    GRANT SELECT ON app.names TO PUBLIC;
    CREATE MATERIALIZED VIEW app.counts AS SELECT count(*) AS n FROM app.items;
    ALTER MATERIALIZED VIEW app.counts OWNER TO ${o};
    GRANT SELECT ON app.counts TO ${r};
    CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a + b';
    ALTER FUNCTION app.add(int, int) OWNER TO ${o};
    REVOKE EXECUTE ON FUNCTION app.add(int, int) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION app.add(int, int) TO ${r} WITH GRANT OPTION;
    CREATE PROCEDURE app.noop() LANGUAGE sql AS 'SELECT 1';
    ALTER PROCEDURE app.noop() OWNER TO ${w};
    CREATE AGGREGATE app.total(int) (SFUNC = int4pl, STYPE = int);
    ALTER AGGREGATE app.total(int) OWNER TO ${o};
    GRANT EXECUTE ON FUNCTION app.total(int) TO ${w};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA app GRANT SELECT ON TABLES TO ${r};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA app GRANT USAGE ON SEQUENCES TO ${w} WITH GRANT OPTION;
    ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA app GRANT EXECUTE ON FUNCTIONS TO ${w};
    ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA app GRANT USAGE ON TYPES TO ${r};
  `;
}

/**
 * Owners and ACLs of everything in `schema`, one sorted line each, without the schema's name (so a
 * mapped schema compares with its source): aclitem text, grantors included.
 */
async function accessLines(s: TestServer, db: string, schema: string): Promise<string[]> {
  // Items sorted: the order of an ACL's items depends on the order of the GRANTs and REVOKEs.
  const acl = (e: string) =>
    `CASE WHEN ${e} IS NULL THEN 'default' ELSE '{' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(${e}) x), '') || '}' END`;
  const rows = await sql<{ line: string }>(
    s,
    db,
    `SELECT 'schema owner=' || pg_get_userbyid(n.nspowner) || ' acl=' || ${acl('n.nspacl')} AS line
       FROM pg_namespace n WHERE n.nspname = $1
     UNION ALL
     SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text || ' owner=' || pg_get_userbyid(c.relowner)
            || ' acl=' || ${acl('c.relacl')}
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
     UNION ALL
     SELECT 'column ' || c.relname || '.' || a.attname || ' acl=' || ${acl('a.attacl')}
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND a.attacl IS NOT NULL
     UNION ALL
     SELECT 'routine ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') owner='
            || pg_get_userbyid(p.proowner) || ' acl=' || ${acl('p.proacl')}
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
     UNION ALL
     SELECT 'type ' || t.typname || ' owner=' || pg_get_userbyid(t.typowner) || ' acl=' || ${acl('t.typacl')}
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = $1 AND t.typtype IN ('e', 'd')
     UNION ALL
     SELECT 'default ' || pg_get_userbyid(d.defaclrole) || ' ' || d.defaclobjtype::text || ' ' || ${acl('d.defaclacl')}
       FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = $1
     ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.line);
}

const BOTH = { schema: { privileges: true, owners: true } };

/** Syncs schema `app` from `src` on `s` to `dst` on `d` through the CLI. */
async function runSchemaSync(
  o: { s: TestServer; src: string; d: TestServer; dst: string; name: string },
  extra: Record<string, unknown>,
  objects: Record<string, unknown>[] = [{ schema: 'app' }],
): Promise<{ file: string; output: string }> {
  const file = writeTaskFile({
    name: o.name,
    source: { server: o.s, db: o.src },
    destination: { server: o.d, db: o.dst },
    syncTypes: ['schema'],
    objects,
    extra,
  });
  const r = await runCli(['run', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return { file, output: r.stdout + r.stderr };
}

test('schema.privileges: "yes" is refused naming the key', () => {
  const valid = {
    name: 't',
    source: { type: 'postgresql', url: 'postgresql://u@127.0.0.1:5432/a' },
    destination: { type: 'postgresql', url: 'postgresql://u@127.0.0.1:5433/b' },
    syncTypes: ['schema'],
    objects: [{ schema: 'app' }],
  };
  const e = configRefusal(() => parseTaskConfig({ ...valid, schema: { privileges: 'yes' } }));
  assert.match(e.message, /^schema\.privileges: must be true or false/);
  assert.match(
    configRefusal(() => parseTaskConfig({ ...valid, schema: { grants: true } })).message,
    /schema\.grants: unknown key/,
  );
  const t = parseTaskConfig(valid);
  assert.deepEqual(t.schema, { privileges: false, owners: false });
});

test('the plan: owners first, quoted names, PUBLIC, WITH GRANT OPTION, MAINTAIN alone, no OWNER TO for owned sequences', () => {
  const options = {
    type: 'integer',
    start: '1',
    increment: '1',
    min: '1',
    max: '2147483647',
    cache: '1',
    cycle: false,
  };
  const S = 'Sales "EU"';
  const O = 'o"wner';
  const model: SchemaModel = {
    ...EMPTY_SCHEMA_MODEL,
    schemas: [{ kind: 'schema', name: S, comment: undefined, access: { owner: O } }],
    sequences: [
      {
        kind: 'sequence',
        schema: S,
        name: 'orders_id_seq',
        options,
        ownedBy: { table: { schema: S, name: 'orders' }, column: 'id' },
        comment: undefined,
        access: {
          owner: O,
          privileges: {
            grants: [{ grantee: { kind: 'role', name: 'app' }, privilege: 'USAGE', grantable: false }],
            revokes: [],
          },
        },
      },
    ],
    routines: [
      {
        kind: 'function',
        schema: S,
        name: 'f',
        signature: 'f(integer)',
        definition: 'CREATE FUNCTION ...',
        comment: undefined,
        dependsOn: [],
        access: {
          owner: O,
          privileges: {
            grants: [{ grantee: { kind: 'role', name: 'app' }, privilege: 'EXECUTE', grantable: true }],
            revokes: [{ grantee: { kind: 'public' }, privilege: 'EXECUTE', grantable: false }],
          },
        },
      },
    ],
    defaultPrivileges: [
      {
        kind: 'default-privileges',
        role: O,
        schema: S,
        objects: 'tables',
        grants: [
          { grantee: { kind: 'public' }, privilege: 'SELECT', grantable: false },
          { grantee: { kind: 'public' }, privilege: 'MAINTAIN', grantable: false },
        ],
      },
    ],
  };
  const plan = planSchemaDdl(model);
  const s = '"Sales ""EU"""';
  const o = '"o""wner"';
  assert.deepEqual(
    plan.privileges.map((x) => x.sql),
    [
      `ALTER SCHEMA ${s} OWNER TO ${o}`,
      `ALTER FUNCTION ${s}."f"(integer) OWNER TO ${o}`,
      `GRANT USAGE ON SEQUENCE ${s}."orders_id_seq" TO "app"`,
      `REVOKE EXECUTE ON FUNCTION ${s}."f"(integer) FROM PUBLIC`,
      `GRANT EXECUTE ON FUNCTION ${s}."f"(integer) TO "app" WITH GRANT OPTION`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA ${s} GRANT SELECT ON TABLES TO PUBLIC`,
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${o} IN SCHEMA ${s} GRANT MAINTAIN ON TABLES TO PUBLIC`,
    ],
  );
  assert.deepEqual(
    plan.privileges.map((x) => x.requiresRoles),
    [[O], [O], ['app'], [], ['app'], [O], [O]],
  );
  assert.equal(plan.privileges[5]?.skipIf, undefined);
  assert.match(plan.privileges[6]?.skipIf ?? '', /< 170000/);
  // The grants on the function wait for its OWNER TO.
  assert.deepEqual(plan.privileges[4]?.dependsOn, [plan.privileges[1]?.id]);
  // Without owners and privileges in the model: nothing.
  assert.deepEqual(planSchemaDdl({ ...EMPTY_SCHEMA_MODEL, tables: [] }).privileges, []);
});

test('PostgreSQL 15: owners and privileges make pg_dump of source and destination identical', async () => {
  const s = testServer(15);
  await createRoles(s);
  const src = await database(s, 'priv_src');
  const dst = await database(s, 'priv_dst');
  await sql(s, src, sourceSql());
  const { file } = await runSchemaSync({ s, src, d: s, dst, name: 'priv-15' }, BOTH);
  const [a, b] = await Promise.all([
    pgDumpSchema(s, src, ['app'], { ownersAndPrivileges: true }),
    pgDumpSchema(s, dst, ['app'], { ownersAndPrivileges: true }),
  ]);
  assert.match(a, /GRANT UPDATE\(name\) ON TABLE app\.items TO \S+ WITH GRANT OPTION;/);
  assert.match(a, /ALTER DEFAULT PRIVILEGES FOR ROLE/);
  assert.equal(b, a);
  const lines = await accessLines(s, src, 'app');
  assert.deepEqual(await accessLines(s, dst, 'app'), lines);

  // Applying the owners and grants again changes nothing (a resumed run re-applies them).
  await syncModel(await introspectDb(s, src, [{ kind: 'schema', schema: 'app' }], BOTH.schema), s, dst);
  assert.deepEqual(await accessLines(s, dst, 'app'), lines);

  const pre = await runCli(['precheck', file]);
  assert.equal(pre.code, 0, pre.stdout + pre.stderr);
  assert.match(pre.stdout, /PASS {2}Roles of owners and grants on the destination: 3 role\(s\)/);
  const g = await runCli(['grants', file]);
  assert.equal(g.code, 0, g.stdout + g.stderr);
  assert.match(g.stdout, /schema\.owners \/ schema\.privileges: .*OWNER TO needs membership/);
});

test('PostgreSQL 15: with the options off, nothing is granted or handed over', async () => {
  const s = testServer(15);
  await createRoles(s);
  const src = await database(s, 'priv_off_src');
  const dst = await database(s, 'priv_off_dst');
  await sql(s, src, sourceSql());
  await runSchemaSync({ s, src, d: s, dst, name: 'priv-off' }, {});
  const lines = await accessLines(s, dst, 'app');
  assert.ok(lines.length >= 10, lines.join('\n'));
  for (const l of lines) {
    assert.doesNotMatch(l, new RegExp(`priv_(owner|reader|writer)_${suffix}`), l);
    assert.doesNotMatch(l, /^default /, l);
  }
  assert.ok(lines.every((l) => l.includes('owner=postgres') || l.startsWith('column ')));
  assert.equal(lines.filter((l) => l.startsWith('column ')).length, 0);
  assert.ok(
    lines.every((l) => l.endsWith('acl=default')),
    lines.join('\n'),
  );
});

test('a role missing on the destination: precheck prints CREATE ROLE, the run skips its grants', async () => {
  const s = testServer(15);
  const d = testServer(13);
  await createRoles(s);
  await createRoles(s, [OWNER, READER, WRITER, GUEST]);
  await createRoles(d);
  const src = await database(s, 'priv_miss_src');
  const dst = await database(d, 'priv_miss_dst');
  await sql(s, src, sourceSql());
  await sql(
    s,
    src,
    `GRANT SELECT ON app.items TO "${GUEST}"; GRANT USAGE ON SCHEMA app TO "${GUEST}";
     ALTER PROCEDURE app.noop() OWNER TO "${GUEST}"`,
  );
  const file = writeTaskFile({
    name: 'priv-missing',
    source: { server: s, db: src },
    destination: { server: d, db: dst },
    syncTypes: ['schema'],
    objects: [{ schema: 'app' }],
    extra: BOTH,
  });
  const pre = await runCli(['precheck', file]);
  assert.equal(pre.code, 0, pre.stdout + pre.stderr);
  assert.match(
    pre.stdout,
    new RegExp(
      `WARN {2}Roles of owners and grants on the destination: 1 role\\(s\\) missing .*"${GUEST}" \\(3 object\\(s\\)`,
    ),
  );
  assert.ok(
    pre.stdout.includes(
      `CREATE ROLE "${GUEST}" LOGIN INHERIT CREATEDB NOCREATEROLE NOSUPERUSER NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 3;`,
    ),
    pre.stdout,
  );
  assert.doesNotMatch(pre.stdout, /PASSWORD/i);

  const r = await runCli(['run', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  const warnings = out
    .split('\n')
    .filter((l) => l.includes(`role "${GUEST}" does not exist on the destination`));
  assert.equal(warnings.length, 1, out);
  // Each object's skipped grant or ownership is in the schema report, with the reason.
  const refused = await sql<{ kind: string; object: string; reason: string }>(
    d,
    dst,
    `SELECT kind, object, reason FROM pgdts.schema_object WHERE task_name = 'priv-missing' AND outcome = 'refused' ORDER BY kind, object`,
  );
  assert.deepEqual(
    refused.map((x) => `${x.kind} ${x.object}`),
    ['grant schema "app"', 'grant table "app"."items"', 'owner procedure "app"."noop"()'],
  );
  assert.ok(
    refused.every((x) => x.reason.includes(`"${GUEST}" missing on the destination`)),
    JSON.stringify(refused),
  );
  // Everything but the missing role's grants and ownership: the procedure stays the destination user's.
  const expected = (await accessLines(s, src, 'app')).map((l) =>
    l
      .replace(new RegExp(`,?${GUEST}=[^,}]*`, 'g'), '')
      .replace('{,', '{')
      .replace(`owner=${GUEST}`, 'owner=postgres'),
  );
  assert.ok(expected.includes('routine noop() owner=postgres acl=default'), expected.join('\n'));
  assert.deepEqual(await accessLines(d, dst, 'app'), expected);
});

test('a destination user outside the owner roles: the precheck fails with the GRANT, pgdts grants prints it', async () => {
  const s = testServer(15);
  await createRoles(s, [OWNER, READER, WRITER, LOADER]);
  const src = await database(s, 'priv_loader_src');
  const dst = await database(s, 'priv_loader_dst');
  await sql(s, src, sourceSql());
  const file = writeTaskFile({
    name: 'priv-loader',
    source: { server: s, db: src },
    destination: { server: s, db: dst },
    syncTypes: ['schema'],
    objects: [{ schema: 'app' }],
    extra: {
      ...BOTH,
      destination: {
        type: 'postgresql',
        host: s.host,
        port: s.port,
        user: LOADER,
        password: 'loader-Pw-1',
        database: dst,
      },
    },
  });
  const pre = await runCli(['precheck', file]);
  assert.notEqual(pre.code, 0, pre.stdout + pre.stderr);
  assert.match(
    pre.stdout,
    new RegExp(
      `FAIL {2}Roles of owners and grants on the destination: ${LOADER} is neither superuser nor a member of "${OWNER}", "${WRITER}"`,
    ),
  );
  assert.ok(pre.stdout.includes(`GRANT "${OWNER}", "${WRITER}" TO "${LOADER}"`), pre.stdout);
  const g = await runCli(['grants', file]);
  assert.equal(g.code, 0, g.stdout + g.stderr);
  assert.ok(g.stdout.includes(`GRANT "${OWNER}", "${WRITER}" TO "${LOADER}";`), g.stdout);
});

test('under a schema mapping, owners and grants land on the mapped objects', async () => {
  const s = testServer(15);
  await createRoles(s);
  const src = await database(s, 'priv_map_src');
  const dst = await database(s, 'priv_map_dst');
  await sql(s, src, sourceSql());
  await runSchemaSync({ s, src, d: s, dst, name: 'priv-map' }, BOTH, [{ schema: 'app', as: 'store' }]);
  assert.deepEqual(await accessLines(s, dst, 'store'), await accessLines(s, src, 'app'));
  const [can] = await sql<{ ok: boolean }>(
    s,
    dst,
    `SELECT has_column_privilege($1, 'store.items', 'name', 'SELECT') AND NOT has_column_privilege($1, 'store.items', 'secret', 'SELECT') AS ok`,
    [READER],
  );
  assert.equal(can?.ok, true);
});

for (const version of [13, 17] as const) {
  test(`PostgreSQL ${version}: owners and privileges match the source's catalog`, async () => {
    const s = testServer(version);
    await createRoles(s);
    const src = await database(s, `priv_${version}_src`);
    const dst = await database(s, `priv_${version}_dst`);
    await sql(s, src, sourceSql());
    await runSchemaSync({ s, src, d: s, dst, name: `priv-${version}` }, BOTH);
    const lines = await accessLines(s, src, 'app');
    assert.deepEqual(await accessLines(s, dst, 'app'), lines);
    const items = lines.find((l) => l.startsWith('relation items '));
    // The owner's privileges without DELETE; MAINTAIN (m) is a table privilege from PostgreSQL 17.
    assert.ok(items?.includes(`${OWNER}=arwDxt${version === 17 ? 'm' : ''}/${OWNER}`), items);
  });
}
