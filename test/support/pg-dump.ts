/** `pg_dump --schema-only` of selected schemas, normalised for comparing two databases. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestServer } from './servers.ts';

/**
 * Dumps the schema of `schemas` with Debian's pg_dump 15 (so servers ≤ 15 only), without owners and
 * privileges unless `o.ownersAndPrivileges`, dropping comment, blank, SET and \restrict lines (those
 * differ between any two dumps).
 */
export async function pgDumpSchema(
  s: TestServer,
  db: string,
  schemas: readonly string[],
  o: { readonly ownersAndPrivileges?: boolean } = {},
): Promise<string> {
  const args = ['-h', s.host, '-p', String(s.port), '-U', s.user, '--schema-only'];
  if (o.ownersAndPrivileges !== true) args.push('--no-owner', '--no-privileges');
  for (const n of schemas) args.push('-n', `"${n.replaceAll('"', '""')}"`);
  const { stdout } = await promisify(execFile)('/usr/bin/pg_dump', [...args, db], {
    env: { ...process.env, PGPASSWORD: s.password },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout
    .split('\n')
    .filter(
      (l) => l.trim() !== '' && !l.startsWith('--') && !l.startsWith('SET ') && !/^\\(un)?restrict /.test(l),
    )
    .join('\n');
}
