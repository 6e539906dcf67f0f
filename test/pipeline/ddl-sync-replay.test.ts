/**
 * The sink statements of DDL sync for types, sequences, triggers and renames are idempotent on a
 * real destination [P9]: each change applied in a transaction as applyDdl does (a statement skipped
 * when its skipIf finds its effect), then at once again (a manual fix, or a replay of the same DDL),
 * raises nothing and leaves what one application leaves, on PostgreSQL 13 and 17.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import type { DdlChange } from '../../src/core/ddl.ts';
import { ddlChangeStatements } from '../../src/sink/postgres/schema/ddl-change-sql.ts';
import { freshDatabase, sql, testServer, type TestServer } from '../support/servers.ts';

const d = (name: string) => ({ schema: 'd', name });
const t = d('t');

const CHANGES: DdlChange[] = [
  {
    kind: 'create-type',
    type: { kind: 'enum', ...d('mood'), labels: ['sad', 'ok'], comment: undefined, dependsOn: [] },
  },
  { kind: 'add-enum-value', type: d('mood'), value: 'happy', before: undefined, after: 'ok' },
  { kind: 'add-enum-value', type: d('mood'), value: 'first', before: 'sad', after: undefined },
  { kind: 'rename-enum-value', type: d('mood'), from: 'ok', to: 'fine' },
  { kind: 'rename-type', type: d('mood'), domain: false, to: 'mood2' },
  {
    kind: 'create-type',
    type: {
      kind: 'composite',
      ...d('pt'),
      attributes: [
        { name: 'x', type: 'integer', collation: undefined },
        { name: 'y', type: 'text', collation: { schema: 'pg_catalog', name: 'C' } },
      ],
      comment: undefined,
      dependsOn: [],
    },
  },
  { kind: 'add-attribute', type: d('pt'), attribute: { name: 'z', type: 'integer', collation: undefined } },
  { kind: 'drop-attribute', type: d('pt'), name: 'y' },
  { kind: 'rename-attribute', type: d('pt'), from: 'x', to: 'xx' },
  {
    kind: 'alter-attribute-type',
    type: d('pt'),
    attribute: { name: 'z', type: 'bigint', collation: undefined },
  },
  {
    kind: 'create-type',
    type: {
      kind: 'domain',
      ...d('posint'),
      baseType: 'integer',
      collation: undefined,
      default: undefined,
      notNull: false,
      constraints: [
        { name: 'positive', definition: 'CHECK ((VALUE > 0))' },
        { name: 'later', definition: 'CHECK ((VALUE < 1000)) NOT VALID' },
      ],
      comment: undefined,
      dependsOn: [],
    },
  },
  {
    kind: 'add-domain-constraint',
    domain: d('posint'),
    constraint: { name: 'small', definition: 'CHECK ((VALUE < 100))' },
  },
  { kind: 'rename-domain-constraint', domain: d('posint'), from: 'positive', to: 'pos' },
  { kind: 'drop-domain-constraint', domain: d('posint'), name: 'later' },
  { kind: 'set-domain-default', domain: d('posint'), default: '1' },
  { kind: 'set-domain-not-null', domain: d('posint'), notNull: true },
  {
    kind: 'create-type',
    type: {
      kind: 'range',
      ...d('fr'),
      subtype: 'double precision',
      subtypeOpclass: undefined,
      collation: undefined,
      subtypeDiff: 'float8mi',
      multirangeName: undefined,
      comment: undefined,
      dependsOn: [],
    },
  },
  { kind: 'drop-type', type: d('fr'), domain: false },
  {
    kind: 'create-sequence',
    sequence: {
      kind: 'sequence',
      ...d('counter'),
      options: {
        type: 'integer',
        start: '1',
        increment: '3',
        min: '1',
        max: '1000',
        cache: '1',
        cycle: false,
      },
      ownedBy: { table: t, column: 'id' },
      comment: undefined,
    },
  },
  {
    kind: 'alter-sequence',
    sequence: {
      kind: 'sequence',
      ...d('counter'),
      options: {
        type: 'bigint',
        start: '1',
        increment: '5',
        min: '1',
        max: '100000',
        cache: '2',
        cycle: true,
      },
      ownedBy: undefined,
      comment: undefined,
    },
  },
  { kind: 'rename-sequence', sequence: d('counter'), to: 'counter2' },
  {
    kind: 'create-sequence',
    sequence: {
      kind: 'sequence',
      ...d('gone'),
      options: { type: 'bigint', start: '1', increment: '1', min: '1', max: '10', cache: '1', cycle: false },
      ownedBy: undefined,
      comment: undefined,
    },
  },
  { kind: 'drop-sequence', sequence: d('gone') },
  {
    kind: 'replace-trigger',
    trigger: {
      kind: 'trigger',
      name: 'keep',
      table: t,
      definition: 'CREATE TRIGGER keep BEFORE INSERT ON d.t FOR EACH ROW EXECUTE FUNCTION d.keep()',
      enabled: 'always',
      function: { kind: 'routine', schema: 'd', name: 'keep()' },
      comment: undefined,
    },
  },
  { kind: 'set-trigger-state', table: t, name: 'keep', enabled: 'replica' },
  { kind: 'rename-trigger', table: t, from: 'keep', to: 'keep2' },
  {
    kind: 'replace-trigger',
    trigger: {
      kind: 'trigger',
      name: 'gone',
      table: t,
      definition: 'CREATE TRIGGER gone AFTER DELETE ON d.t FOR EACH ROW EXECUTE FUNCTION d.keep()',
      enabled: 'origin',
      function: { kind: 'routine', schema: 'd', name: 'keep()' },
      comment: undefined,
    },
  },
  { kind: 'drop-trigger', table: t, name: 'gone' },
  { kind: 'rename-relation', relation: 'view', name: d('v1'), to: 'v2' },
  { kind: 'rename-relation', relation: 'index', name: d('i1'), to: 'i2' },
  { kind: 'rename-routine', routine: d('f1'), routineKind: 'function', args: 'integer, text', to: 'f2' },
];

/**
 * Applies `CHANGES` in one transaction as applyDdl does (a statement whose skipIf finds a row is
 * skipped), each `times` times in a row.
 */
async function applyAll(s: TestServer, db: string, times: number): Promise<void> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
  await c.connect();
  try {
    await c.query('BEGIN');
    for (const change of CHANGES) {
      for (let i = 0; i < times; i++) {
        for (const st of ddlChangeStatements(change)) {
          if (st.skipIf !== undefined && ((await c.query(st.skipIf)).rowCount ?? 0) > 0) continue;
          await c.query(st.sql).catch((e: unknown) => {
            throw new Error(`${st.sql} (time ${i + 1}): ${(e as Error).message}`);
          });
        }
      }
    }
    await c.query('COMMIT');
  } finally {
    await c.end();
  }
}

/** What the changes made, read back from the catalog. */
async function state(s: TestServer, db: string): Promise<unknown> {
  return sql(
    s,
    db,
    `SELECT
       (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'd.mood2'::regtype) AS labels,
       (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ',' ORDER BY attnum)
          FROM pg_attribute WHERE attrelid = 'd.pt'::regclass AND attnum > 0 AND NOT attisdropped) AS attributes,
       (SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ',' ORDER BY conname)
          FROM pg_constraint WHERE contypid = 'd.posint'::regtype AND contype = 'c') AS constraints,
       (SELECT typnotnull::text || ' ' || typdefault FROM pg_type WHERE oid = 'd.posint'::regtype) AS domain,
       (SELECT string_agg(seqincrement || ' ' || seqmax || ' ' || seqcycle || ' ' || format_type(seqtypid, NULL), ',')
          FROM pg_sequence WHERE seqrelid = 'd.counter2'::regclass) AS sequence,
       (SELECT count(*) FROM pg_depend WHERE objid = 'd.counter2'::regclass AND deptype = 'a')::int AS owned,
       (SELECT string_agg(tgname || ' ' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger
         WHERE tgrelid = 'd.t'::regclass AND NOT tgisinternal) AS triggers,
       to_regclass('d.v2')::text AS view, to_regclass('d.i2')::text AS index,
       to_regprocedure('d.f2(integer, text)')::text AS routine,
       to_regtype('d.fr')::text AS range, to_regclass('d.gone')::text AS gone`,
  );
}

const SETUP = `CREATE SCHEMA d; CREATE TABLE d.t (id int);
  CREATE FUNCTION d.keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
  CREATE VIEW d.v1 AS SELECT id FROM d.t; CREATE INDEX i1 ON d.t (id);
  CREATE FUNCTION d.f1(x int, y text) RETURNS int LANGUAGE sql AS 'SELECT x'`;

for (const version of [13, 17] as const) {
  test(`PostgreSQL ${version}: type, sequence, trigger and rename changes applied twice raise nothing and leave what applying them once does [P9]`, async () => {
    const s = testServer(version);
    const once = await freshDatabase(s, `ddlreplay1_${version}`);
    const twice = await freshDatabase(s, `ddlreplay2_${version}`);
    await sql(s, once, SETUP);
    await sql(s, twice, SETUP);
    await applyAll(s, once, 1);
    await applyAll(s, twice, 2);
    const expected = [
      {
        labels: 'first,sad,fine,happy',
        attributes: 'xx integer,z bigint',
        constraints: 'pos CHECK ((VALUE > 0)),small CHECK ((VALUE < 100))',
        domain: 'true 1',
        sequence: '5 100000 true bigint',
        owned: 0,
        triggers: 'keep2 R',
        view: 'd.v2',
        index: 'd.i2',
        routine: 'd.f2(integer,text)',
        range: null,
        gone: null,
      },
    ];
    assert.deepEqual(await state(s, once), expected);
    assert.deepEqual(await state(s, twice), expected);
  });
}
