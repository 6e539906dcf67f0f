/**
 * The package as a user gets it: `npm pack` (which must build dist/), `npm install -g` of the tarball
 * into a scratch prefix, then the installed `pgdts` runs from compiled JavaScript only, with neither
 * tsx nor TypeScript anywhere in the installed tree, and copies a database.
 *
 * Needs the npm registry (the tarball's dependencies are resolved as for any user, through the local
 * npm cache). The `npm` and `node` on PATH are used, so CI's Node 24 run installs and runs with Node 24.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { writeTaskFile } from '../support/pgdts-cli.ts';
import { freshDatabase, sql, testServer } from '../support/servers.ts';
import { assertSameData } from '../support/table-hashes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const run = promisify(execFile);

/** The environment for npm and the installed CLI: nothing that could preload tsx into them. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** Every file and directory below `dir` (relative paths), following no symlinks. */
function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = path.join(rel, e.name);
    return e.isDirectory() ? [r, ...walk(dir, r)] : [r];
  });
}

test(
  'npm pack builds dist/; npm install -g of the tarball gives a pgdts that runs compiled JavaScript only',
  { timeout: 5 * 60_000 },
  async (t) => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'pgdts-install-'));
    const env = cleanEnv();
    const timings: string[] = [];
    const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      try {
        return await f();
      } finally {
        timings.push(`${what} ${((performance.now() - started) / 1000).toFixed(1)} s`);
      }
    };
    try {
      const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
      };

      await timed('npm pack', () =>
        run('npm', ['pack', '--pack-destination', tmp, '--no-audit', '--no-fund'], {
          cwd: ROOT,
          env,
          maxBuffer: 16 * 1024 * 1024,
        }),
      );
      const tarball = path.join(tmp, `${pkg.name}-${pkg.version}.tgz`);
      const listing = (await run('tar', ['-tzf', tarball], { env })).stdout.split('\n').filter(Boolean);
      assert.ok(
        listing.includes('package/dist/cli/main.js'),
        `no compiled CLI in the tarball:\n${listing.join('\n')}`,
      );
      assert.ok(listing.includes('package/bin/pgdts'));
      assert.ok(listing.includes('package/bin/pgdts.js'));
      // `pgdts serve` starts the embedded store without --store.
      assert.ok(listing.includes('package/dist/embedded/embedded-server.js'));
      // The web console `pgdts serve` serves at / (npm run build builds it).
      assert.ok(listing.includes('package/dist/console/index.html'), listing.join('\n'));
      assert.ok(listing.some((f) => /^package\/dist\/console\/assets\/index-[\w-]+\.js$/.test(f)));
      for (const f of listing) {
        assert.ok(!/^package\/(src|test|bench)\//.test(f), `the tarball ships ${f}`);
        assert.ok(!/^package\/dist\/demo\//.test(f), `the tarball ships ${f}`);
        assert.ok(!f.endsWith('.ts'), `the tarball ships ${f}`);
      }

      const prefix = path.join(tmp, 'prefix');
      const install = await timed('npm install -g', () =>
        run(
          'npm',
          ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball],
          { cwd: tmp, env, maxBuffer: 16 * 1024 * 1024 },
        ),
      );
      const bin = path.join(prefix, 'bin', 'pgdts');
      const installed = path.join(prefix, 'lib', 'node_modules', pkg.name);

      const version = await timed('pgdts --version', () => run(bin, ['--version'], { cwd: tmp, env }));
      assert.equal(version.stdout, `${pkg.version}\n`, version.stderr);

      // No tsx or TypeScript at any depth, no TypeScript source or src/ of ours, no install-time script.
      const tree = walk(path.join(prefix, 'lib', 'node_modules'));
      for (const p of tree) {
        const parts = p.split(path.sep);
        const name = parts.at(-1);
        if (parts.at(-2) === 'node_modules' && (name === 'tsx' || name === 'typescript')) {
          assert.fail(`installed tree contains ${p}`);
        }
      }
      const ours = walk(installed).filter(
        (p) => !p.startsWith(`node_modules${path.sep}`) && p !== 'node_modules',
      );
      assert.ok(ours.includes(path.join('dist', 'cli', 'main.js')), ours.join('\n'));
      for (const p of ours) {
        assert.ok(!p.endsWith('.ts'), `installed ${p}`);
        assert.ok(p !== 'src' && !p.startsWith(`src${path.sep}`), `installed ${p}`);
      }
      const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
        scripts?: Record<string, string>;
      };
      for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
        assert.ok(!(script in (manifest.scripts ?? {})), `the package has a ${script} script`);
      }
      assert.doesNotMatch(install.stderr, /install-scripts/, install.stderr);

      // A schema + full sync with the installed CLI.
      const s = testServer(15);
      const src = await freshDatabase(s, 'inst_src');
      const dst = await freshDatabase(s, 'inst_dst');
      await sql(
        s,
        src,
        `CREATE SCHEMA app;
         CREATE TYPE app.state AS ENUM ('new', 'done');
         CREATE TABLE app.items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, state app.state NOT NULL,
                                 body text, tags text[], created timestamptz DEFAULT now());
         CREATE TABLE app.notes (item_id bigint REFERENCES app.items, note jsonb);
         INSERT INTO app.items (state, body, tags)
           SELECT (ARRAY['new','done']::app.state[])[1 + g % 2], repeat('x', g % 300), ARRAY['t' || g, NULL]
             FROM generate_series(1, 5000) g;
         INSERT INTO app.notes SELECT g, jsonb_build_object('n', g) FROM generate_series(1, 5000, 7) g;`,
      );
      const file = writeTaskFile({
        name: 'installed',
        source: { server: s, db: src },
        destination: { server: s, db: dst },
        syncTypes: ['schema', 'full'],
        objects: [{ schema: 'app' }],
      });
      const r = await timed('pgdts run', () => run(bin, ['run', file], { cwd: tmp, env }));
      assert.match(r.stdout, /task installed done/, r.stdout + r.stderr);
      await assertSameData({ server: s, db: src }, { server: s, db: dst }, ['app']);

      // The control plane loads from the package; its embedded store needs the pg17 binaries of a
      // clone, so without --store serve says to pass one.
      const serve = await run(bin, ['serve', '--data-dir', path.join(tmp, 'state')], { cwd: tmp, env }).then(
        () => assert.fail('serve without --store and without pg17 started'),
        (e: { code?: number; stderr?: string }) => e,
      );
      assert.equal(serve.code, 2, serve.stderr);
      assert.match(
        serve.stderr ?? '',
        /cannot start its embedded store: .*pg17.*\n.*pass --store postgresql:\/\//,
      );
      t.diagnostic(timings.join(', '));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  },
);
