#!/usr/bin/env node
// Chooses which build of the CLI to run.
//
// - An installed package (npm install -g of the tarball) ships dist/ but no src/: it always runs the
//   compiled JavaScript. Its mtimes mean nothing (npm pack normalises them), and it has neither tsx
//   nor TypeScript.
// - A clone runs dist/ (`npm run build`, which `npm test` and `npm pack` run) when it is at least as
//   new as every .ts file under src/, else the TypeScript sources through tsx (a devDependency), so an
//   edited checkout never runs stale code and a fresh clone needs no manual build step.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const compiled = path.join(dist, 'cli', 'main.js');
const sources = path.join(root, 'src');

function die(message) {
  process.stderr.write(`pgdts: INTERNAL: ${message}\n`);
  process.exit(2);
}

// The newest mtime of the TypeScript sources under dir: only .ts files are compiled into dist/, so an
// edited spec (.md beside the code) does not send the clone through tsx (slower start, ~40 MB more RSS).
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

const compiledAt = mtime(compiled);
if (!existsSync(sources)) {
  if (compiledAt === undefined)
    die(`${compiled} is missing: this copy of pgdts was packed without its build`);
  await import(pathToFileURL(compiled).href);
} else if (compiledAt !== undefined && compiledAt >= newest(sources)) {
  await import(pathToFileURL(compiled).href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    die(
      `${sources} is newer than ${dist} and tsx is not installed: ` +
        'run `npm ci` in the clone (it installs tsx and the compiler), or `npm run build`',
    );
  }
  register();
  await import('../src/cli/main.ts');
}
