/**
 * What the installed CLI loads: every module reachable from src/cli/main.ts through static and dynamic
 * imports. None may live in src/demo (the package leaves it out, and it needs the embedded PostgreSQL
 * devDependencies); from src/embedded only the embedded server itself, which `pgdts serve` starts as its
 * default store where the pg17 binaries are installed (a clone), and only through src/control. Every package it
 * imports must be a runtime dependency in package.json (a devDependency is absent from an installed
 * package).
 */
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

/**
 * Module specifiers `file` loads at run time: import and export-from declarations that are not
 * type-only (those are erased from the compiled output; `import { type X }` is not, it still loads
 * the module under verbatimModuleSyntax) and dynamic `import()` calls with a literal argument.
 */
function runtimeSpecifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.importClause?.isTypeOnly) out.push(node.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      if (!node.isTypeOnly) out.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      assert.ok(arg && ts.isStringLiteralLike(arg), `${file}: import() of a computed specifier`);
      out.push(arg.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** Modules reachable from `entry`: our files (absolute paths) and bare package specifiers. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of runtimeSpecifiers(file)) {
      if (spec.startsWith('.')) pending.push(path.resolve(path.dirname(file), spec));
      else packages.add(spec);
    }
  }
  return { files, packages };
}

/** `pg-copy-streams/x` → `pg-copy-streams`, `@scope/name/x` → `@scope/name`. */
function packageName(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

/** The modules of src/embedded the installed CLI may load: the embedded store of `pgdts serve`. */
const EMBEDDED_ALLOWED = new Set(['embedded/embedded-server.ts', 'embedded/leftover-server.ts']);

test('the CLI imports nothing from src/demo, from src/embedded only the embedded server, and only runtime dependencies', () => {
  const { files, packages } = importGraph(path.join(SRC, 'cli', 'main.ts'));
  assert.ok(files.size > 20, `only ${files.size} modules found: the import scan is broken`);
  for (const f of files) {
    const rel = path.relative(SRC, f);
    assert.ok(!rel.startsWith('..'), `${f} is outside src/`);
    assert.ok(!/^demo\//.test(rel), `the CLI loads ${rel}`);
    assert.ok(!/^embedded\//.test(rel) || EMBEDDED_ALLOWED.has(rel), `the CLI loads ${rel}`);
  }
  // Only the control plane's store starts an embedded server; `pgdts run` and the rest never do.
  for (const f of files) {
    const rel = path.relative(SRC, f);
    if (/^(embedded|control)\//.test(rel) || rel === 'cli/main.ts') continue;
    for (const spec of runtimeSpecifiers(f)) {
      const target = path.relative(SRC, path.resolve(path.dirname(f), spec));
      assert.ok(!/^embedded\//.test(target), `${rel} loads ${target}: only src/control may`);
    }
  }
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const builtins = new Set(builtinModules);
  for (const spec of packages) {
    if (spec.startsWith('node:') || builtins.has(spec)) continue;
    assert.ok(
      packageName(spec) in pkg.dependencies,
      `the CLI imports ${spec}, which is not in package.json dependencies`,
    );
  }
});

test('the embedded PostgreSQL binaries and tsx are devDependencies only', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  for (const dev of ['pg13', 'pg15', 'pg17', 'tsx', 'typescript']) {
    assert.ok(!(dev in pkg.dependencies), `${dev} is a runtime dependency`);
    assert.ok(dev in pkg.devDependencies, `${dev} is not a devDependency`);
  }
});
