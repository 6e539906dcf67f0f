/**
 * A whole task (schema, full, incremental through the CLI) into tables that schema sync gives
 * ENABLE + FORCE ROW LEVEL SECURITY with policies hiding rows, a DO INSTEAD rule and a DO ALSO rule:
 * the destination user (not a superuser, owner of the tables it creates, BYPASSRLS as the README
 * asks) must end with the source's contents. Policies and rules come in post-data, after the copy;
 * applied changes run under session_replication_role = replica, so the rules (ENABLE, not ALWAYS) do
 * not rewrite them, and with row_security = off, so a policy could only fail a write, never hide it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { waitForCatchUp } from '../support/catch-up.ts';
import { runCli, startCli, stopCli, writeTaskFile } from '../support/pgdts-cli.ts';
import { rowsHash } from '../support/rows-hash.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';

const SOURCE = `
  CREATE SCHEMA "Secure App";
  CREATE TABLE "Secure App"."Secret Docs" (id int PRIMARY KEY, "Owner" text NOT NULL, n int NOT NULL, body text);
  CREATE TABLE "Secure App".quarantine (id int PRIMARY KEY, n int);
  CREATE TABLE "Secure App"."Audit Log" (id bigserial PRIMARY KEY, doc int, what text);
  ALTER TABLE "Secure App"."Secret Docs" ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
  -- Hides every row from everyone subject to it: its owner too (FORCE).
  CREATE POLICY "Nobody" ON "Secure App"."Secret Docs" AS RESTRICTIVE USING (false) WITH CHECK (false);
  CREATE POLICY "Own Rows" ON "Secure App"."Secret Docs" USING ("Owner" = CURRENT_USER);
  ALTER TABLE "Secure App".quarantine ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
  CREATE RULE "Quarantine Negatives" AS ON INSERT TO "Secure App"."Secret Docs" WHERE new.n < 0
    DO INSTEAD INSERT INTO "Secure App".quarantine VALUES (new.id, new.n);
  CREATE RULE "Audit Updates" AS ON UPDATE TO "Secure App"."Secret Docs"
    DO ALSO INSERT INTO "Secure App"."Audit Log" (doc, what) VALUES (new.id, 'updated');
  INSERT INTO "Secure App"."Secret Docs" SELECT g, 'u' || (g % 5), g % 7, 'body ' || g FROM generate_series(1, 300) g;
  INSERT INTO "Secure App".quarantine VALUES (1000, -1);
  -- Inheritance: each table is copied and applied with its own rows only.
  CREATE TABLE "Secure App".events (id int PRIMARY KEY, what text);
  CREATE TABLE "Secure App"."Special Events" (extra text) INHERITS ("Secure App".events);
  ALTER TABLE "Secure App"."Special Events" ADD PRIMARY KEY (id);
  INSERT INTO "Secure App".events SELECT g, 'e' FROM generate_series(1, 50) g;
  INSERT INTO "Secure App"."Special Events" SELECT g, 's', 'x' || g FROM generate_series(51, 80) g;
`;

const TABLES = [
  'SELECT id, "Owner", n, body FROM "Secure App"."Secret Docs"',
  'SELECT id, n FROM "Secure App".quarantine',
  'SELECT id, doc, what FROM "Secure App"."Audit Log"',
  'SELECT id, what FROM ONLY "Secure App".events',
  'SELECT id, what, extra FROM "Secure App"."Special Events"',
];

for (const [sv, dv] of [
  [13, 17],
  [17, 15],
] as const) {
  test(
    `PostgreSQL ${sv} -> ${dv}: schema, full and incremental sync into tables with FORCE ROW LEVEL SECURITY and rules end identical`,
    { timeout: 300_000 },
    async () => {
      const s = testServer(sv);
      const d = testServer(dv);
      const src = await freshDatabase(s, 'rls_src');
      const dst = await freshDatabase(d, 'rls_dst');
      await sql(s, src, SOURCE);
      const user = `rls_dst_${randomBytes(3).toString('hex')}`;
      const password = `pw-${randomBytes(6).toString('hex')}`;
      await sql(
        d,
        'postgres',
        `CREATE ROLE ${user} LOGIN PASSWORD '${password}' BYPASSRLS;
         GRANT CREATE ON DATABASE ${dst} TO ${user};
         GRANT SET ON PARAMETER session_replication_role TO ${user};`,
      );
      const name = `rls-${sv}-${dv}`;
      const slot = `pgdts_rls_${sv}_${dv}`;
      const file = writeTaskFile({
        name,
        source: { server: s, db: src },
        destination: { server: { ...d, user, password }, db: dst },
        syncTypes: ['schema', 'full', 'incremental'],
        objects: [{ schema: '"Secure App"' }],
        extra: { incremental: { statusIntervalMs: 200, sequenceSyncIntervalMs: 300 } },
      });
      const r = startCli(['run', file]);
      try {
        await r.waitFor(/streaming from/);
        for (const q of TABLES) assert.equal(await rowsHash(d, dst, q), await rowsHash(s, src, q), q);
        // Schema sync created the policies, RLS and rules, owned by the (non-superuser) destination user.
        assert.deepEqual(
          await sql(
            d,
            dst,
            `SELECT c.relname, c.relrowsecurity AS rls, c.relforcerowsecurity AS force, pg_get_userbyid(c.relowner) = $1 AS own,
                    (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies,
                    (SELECT count(*)::int FROM pg_rewrite w WHERE w.ev_class = c.oid) AS rules
               FROM pg_class c WHERE c.relnamespace = '"Secure App"'::regnamespace AND c.relkind = 'r'
                AND c.relname IN ('Audit Log', 'Secret Docs', 'quarantine') ORDER BY 1`,
            [user],
          ),
          [
            { relname: 'Audit Log', rls: false, force: false, own: true, policies: 0, rules: 0 },
            { relname: 'Secret Docs', rls: true, force: true, own: true, policies: 2, rules: 2 },
            { relname: 'quarantine', rls: true, force: true, own: true, policies: 0, rules: 0 },
          ],
        );
        assert.deepEqual(
          await sql(
            d,
            dst,
            `SELECT i.inhrelid::regclass::text AS child, i.inhparent::regclass::text AS parent FROM pg_inherits i`,
          ),
          [{ child: '"Secure App"."Special Events"', parent: '"Secure App".events' }],
        );
        await sql(
          s,
          src,
          `INSERT INTO "Secure App"."Secret Docs" VALUES (301, 'x', 1, 'new'), (302, 'y', -4, 'quarantined');
           UPDATE "Secure App"."Secret Docs" SET body = 'changed' WHERE id % 10 = 0;
           DELETE FROM "Secure App"."Secret Docs" WHERE id % 13 = 0;
           UPDATE "Secure App".events SET what = 'updated' WHERE id % 5 = 0;
           DELETE FROM "Secure App".events WHERE id % 7 = 0;
           INSERT INTO "Secure App"."Special Events" VALUES (81, 's', 'new');
           -- A row the source's rule did not see (as COPY would load it): the destination's rule must
           -- not move it to quarantine when the change is applied.
           SET session_replication_role = replica;
           INSERT INTO "Secure App"."Secret Docs" VALUES (303, 'z', -9, 'loaded');
           RESET session_replication_role;`,
        );
        await waitForCatchUp(s, src, slot, 120_000, () => r.output());
      } finally {
        await stopCli(r);
      }
      assert.deepEqual(
        await sql(s, src, 'SELECT count(*)::int AS c FROM "Secure App"."Secret Docs" WHERE n < 0'),
        [{ c: 1 }],
      );
      for (const q of TABLES) assert.equal(await rowsHash(d, dst, q), await rowsHash(s, src, q), q);
      // The source servers are shared by the whole run: leave no slot behind.
      const rel = await runCli(['release', file]);
      assert.equal(rel.code, 0, rel.stdout + rel.stderr);
    },
  );
}

test('precheck: a destination user that cannot set session_replication_role fails on tables with rules, one subject to row-level security on forced tables', async () => {
  const s = testServer(17);
  const d = testServer(15);
  const src = await freshDatabase(s, 'rls_src');
  const dst = await freshDatabase(d, 'rls_dst');
  await sql(s, src, SOURCE);
  const user = `rls_norole_${randomBytes(3).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  await sql(
    d,
    'postgres',
    `CREATE ROLE ${user} LOGIN PASSWORD '${password}'; GRANT CREATE ON DATABASE ${dst} TO ${user};`,
  );
  const file = writeTaskFile({
    name: 'rls-precheck',
    source: { server: s, db: src },
    destination: { server: { ...d, user, password }, db: dst },
    syncTypes: ['schema', 'full', 'incremental'],
    objects: [{ schema: '"Secure App"' }],
  });
  const pre = await runCli(['precheck', file]);
  assert.equal(pre.code, 1, pre.stdout + pre.stderr);
  assert.match(
    pre.stdout,
    /^FAIL .*Secure App\.Secret Docs has triggers, rules or foreign keys.*rules would rewrite applied changes/m,
  );
  assert.match(pre.stdout, /GRANT SET ON PARAMETER session_replication_role/);
  // Schema sync gives "Secret Docs" and quarantine FORCE ROW LEVEL SECURITY: the apply would fail.
  assert.match(
    pre.stdout,
    /^FAIL {2}Destination row-level security: row-level security policies of Secure App\.Secret Docs, Secure App\.quarantine would apply to rls_norole_\w+ .*\n {6}fix: ALTER ROLE "rls_norole_\w+" BYPASSRLS;/m,
  );
  // pgdts grants prints the same fix among the destination user's statements, with the reason.
  const side = await runCli(['grants', file, '--side', 'destination']);
  assert.equal(side.code, 0, side.stdout + side.stderr);
  assert.match(side.stdout, /^ALTER ROLE "rls_norole_\w+" BYPASSRLS;$/m, side.stdout);
  const g = await runCli(['grants', file]);
  assert.match(
    g.stdout,
    /^-- row-level security of Secure App\.Secret Docs, Secure App\.quarantine would apply/m,
    g.stdout,
  );
});
