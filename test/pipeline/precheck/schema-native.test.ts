/**
 * The precheck of schema sync for C and internal code (check-schema-native.ts) and the run-time
 * refusal of a C function whose library the destination lacks, on real servers: a superuser
 * destination passes; a destination user that is not superuser fails naming the objects; a C
 * function over a library missing on the destination fails the precheck naming it, and a run reports
 * it refused with the reason (never dropped silently).
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { openSink, openSource } from '../../../src/connectors/open-connectors.ts';
import type { PrecheckResult } from '../../../src/core/precheck.ts';
import { parseTaskConfig, type TaskConfig } from '../../../src/core/task-config.ts';
import { formatPrecheckReport } from '../../../src/pipeline/precheck/format-precheck-report.ts';
import { mapSchemaModel } from '../../../src/pipeline/map-schema-model.ts';
import { checkSelectedObjects } from '../../../src/pipeline/precheck/check-selected-objects.ts';
import { runPrechecks } from '../../../src/pipeline/precheck/run-prechecks.ts';
import { BASE_SCHEMA, createBaseTypes, S } from '../../support/base-types-fixtures.ts';
import { introspectDb, syncModel } from '../../support/schema-sync-steps.ts';
import { freshDatabase, sql, testServer, urlOf } from '../../support/servers.ts';

const s = testServer(15);

function task(source: string, destination: string, as?: string): TaskConfig {
  return parseTaskConfig({
    name: 'precheck-native',
    source: { type: 'postgresql', url: source },
    destination: { type: 'postgresql', url: destination },
    syncTypes: ['schema', 'full'],
    objects: [{ schema: S, ...(as !== undefined ? { as } : {}) }],
  });
}

function precheck(t: TaskConfig): Promise<PrecheckResult[]> {
  return runPrechecks(t, { openSource: () => openSource(t), openSink: () => openSink(t) });
}

function nativeResult(results: readonly PrecheckResult[]): PrecheckResult {
  const r = results.find((x) => x.id === 'schema-native-code');
  assert.ok(r, `no schema-native-code result in\n${formatPrecheckReport(results)}`);
  return r;
}

/** A new role with CREATE on `dst` but not superuser, and the URL of `dst` as that role. */
async function plainDestinationUser(dst: string): Promise<{ role: string; url: URL }> {
  const role = `native_${dst.slice(-8)}`;
  await sql(
    s,
    'postgres',
    `CREATE ROLE ${role} LOGIN PASSWORD 'pw'; GRANT CREATE ON DATABASE ${dst} TO ${role}`,
  );
  const url = new URL(urlOf(s, dst));
  url.username = role;
  url.password = 'pw';
  return { role, url };
}

test('precheck: a superuser destination passes; one that is not superuser fails naming the base types, functions, parser and template', async () => {
  const src = await freshDatabase(s, 'native_src');
  const dst = await freshDatabase(s, 'native_dst');
  await createBaseTypes(s, src);
  const ok = nativeResult(await precheck(task(urlOf(s, src), urlOf(s, dst))));
  assert.equal(ok.status, 'pass', ok.message);
  assert.match(ok.message, /^18 object\(s\) made of C or internal code can be created/);

  const { role, url } = await plainDestinationUser(dst);
  try {
    const r = nativeResult(await precheck(task(urlOf(s, src), url.toString())));
    assert.equal(r.status, 'fail');
    assert.match(r.message, /schema sync would refuse 22 object\(s\) \(and what uses them\): /);
    for (const piece of [
      `shell type ${S}."My Int"`,
      `function ${S}."My Int In"(cstring)`,
      `function ${S}."C Handler"()`,
    ]) {
      assert.ok(r.message.includes(piece), `${piece} in ${r.message}`);
    }
    assert.match(r.message, new RegExp(`${role} is not superuser on the destination$`));
    assert.match(r.fix ?? '', /as a superuser of the destination/);
  } finally {
    await sql(s, 'postgres', `DROP DATABASE ${dst}`);
    await sql(s, 'postgres', `DROP ROLE ${role}`);
  }
});

test('a C function whose library the destination lacks: the precheck fails naming it, a run reports it and what uses it refused', async () => {
  const src = await freshDatabase(s, 'native_src');
  const dst = await freshDatabase(s, 'native_dst');
  // A library the source loads once and that is gone when the destination (the same server: the
  // file is what differs) would load it: a copy of plpgsql's, removed after CREATE FUNCTION.
  const libdir = (
    await sql<{ d: string }>(s, src, `SELECT setting AS d FROM pg_config WHERE name = 'PKGLIBDIR'`)
  )[0]!.d;
  const dir = mkdtempSync(path.join(tmpdir(), 'pgdts-lib-'));
  const lib = path.join(dir, 'pgdts_gone.so');
  copyFileSync(path.join(libdir, 'plpgsql.so'), lib);
  chmodSync(dir, 0o755);
  chmodSync(lib, 0o755);
  await sql(
    s,
    src,
    `CREATE SCHEMA ${S};
     -- (Never called: CREATE FUNCTION only looks the symbol up.)
     CREATE FUNCTION ${S}."Missing Lib"(integer) RETURNS integer LANGUAGE c STRICT AS '${lib}', 'plpgsql_call_handler';
     CREATE VIEW ${S}."Uses It" AS SELECT ${S}."Missing Lib"(1) AS x;
     CREATE TABLE ${S}."Plain" (id integer PRIMARY KEY);`,
  );
  rmSync(dir, { recursive: true, force: true });
  const r = nativeResult(await precheck(task(urlOf(s, src), urlOf(s, dst))));
  assert.equal(r.status, 'fail');
  assert.match(
    r.message,
    /refuse 1 object\(s\) \(and what uses them\): function "Base ""Ty pes"""\."Missing Lib"\(integer\): is written in C \(library ".*pgdts_gone\.so", symbol "plpgsql_call_handler"\).*could not access file/,
  );

  const model = await introspectDb(s, src, [{ kind: 'schema', schema: BASE_SCHEMA }]);
  assert.deepEqual(
    model.routines.map((x) => x.native),
    [{ language: 'c', library: lib, symbol: 'plpgsql_call_handler' }],
  );
  const events = await syncModel(model, s, dst);
  const refused = events.filter((e) => e.outcome === 'unavailable').map((e) => e.message);
  assert.equal(refused.length, 2, refused.join('\n'));
  assert.match(
    refused[0]!,
    /function .*"Missing Lib"\(integer\) refused: it is written in C .*could not access file/,
  );
  assert.match(
    refused[1]!,
    /view .*"Uses It" refused: it needs function .*"Missing Lib"\(integer\), which was refused/,
  );
  assert.deepEqual(await sql(s, dst, `SELECT count(*)::int AS n FROM ${S}."Plain"`), [{ n: 0 }]);
});

test('precheck under a schema mapping: objects a superuser created beforehand under the destination names pass for a destination user that is not superuser', async () => {
  const src = await freshDatabase(s, 'native_src');
  const dst = await freshDatabase(s, 'native_dst');
  await createBaseTypes(s, src);
  const mappedTask = task(urlOf(s, src), urlOf(s, dst), '"Mapped ""Base"""');
  // What a DBA (a superuser) creates beforehand: the mapped model's pre-data.
  const source = openSource(mappedTask);
  try {
    const { targets } = await checkSelectedObjects(mappedTask, source);
    assert.ok(targets !== undefined);
    const model = mapSchemaModel(await source.readSchema(mappedTask.objects), mappedTask, targets).model;
    assert.ok(model.types.some((t) => t.schema === 'Mapped "Base"' && t.kind === 'base'));
    await syncModel(model, s, dst);
  } finally {
    await source.close();
  }
  const { role, url } = await plainDestinationUser(dst);
  try {
    const r = nativeResult(await precheck(task(urlOf(s, src), url.toString(), '"Mapped ""Base"""')));
    assert.equal(r.status, 'pass', r.message);
    // Under the source names nothing exists there: refused.
    const unmapped = nativeResult(await precheck(task(urlOf(s, src), url.toString())));
    assert.equal(unmapped.status, 'fail');
  } finally {
    await sql(s, 'postgres', `DROP DATABASE ${dst}`);
    await sql(s, 'postgres', `DROP ROLE ${role}`);
  }
});
