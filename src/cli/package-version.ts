/** The version of the installed pgdts package, for `pgdts --version`. */
import { readFileSync } from 'node:fs';
import { PgdtsError } from '../core/errors.ts';

/**
 * Reads `version` from pgdts's own package.json. The file sits two levels above this module both in
 * a clone (`src/cli/`, run through tsx) and in the compiled CLI (`dist/cli/`), and npm always ships
 * package.json, so one relative path serves both. Read at run time rather than imported as JSON so
 * that the compiler's rootDir (`src/`) need not include it.
 * @returns the version string, e.g. `0.1.0`.
 * @throws {PgdtsError} `INTERNAL` when package.json is missing, not JSON or has no string version.
 */
export function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  let version: unknown;
  try {
    version = (JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown }).version;
  } catch (e) {
    throw new PgdtsError('INTERNAL', `cannot read the pgdts package.json at ${url.pathname}`, { cause: e });
  }
  if (typeof version !== 'string' || version === '') {
    throw new PgdtsError('INTERNAL', `the pgdts package.json at ${url.pathname} has no version`);
  }
  return version;
}
