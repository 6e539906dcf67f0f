#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm ci` through the prepare script) when it is at least as
// new as every source file, else the TypeScript sources through tsx, so an edited checkout never runs
// stale code and a fresh clone needs no manual build step.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist', 'cli', 'main.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

let useCompiled;
try {
  useCompiled = statSync(compiled).mtimeMs >= newest(path.join(root, 'src'));
} catch {
  useCompiled = false;
}
if (useCompiled) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
