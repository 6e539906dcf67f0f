/**
 * The libpq password file (`~/.pgpass`, or `PGPASSFILE`), read the way libpq reads it (PostgreSQL docs,
 * "The Password File"): lines `hostname:port:database:username:password`, the first matching line wins,
 * `*` matches anything, `\` escapes `:` and `\`, lines starting with `#` are comments, and the file is
 * ignored when group or world can access it.
 *
 * Why not the `pgpass` npm package (a dependency of `pg`): it consults `process.env.PGPASSWORD` rather
 * than the environment it is given, writes its warnings to stderr, has only a callback API, and differs
 * from libpq on details: `\\:` (an escaped backslash, then the separator), `#` comment lines, a `:` in
 * the password field, and the `localhost` rule for socket connections.
 */
import { readFileSync, statSync, type Stats } from 'node:fs';

/** The connection a password is looked up for, as libpq matches it. */
export interface PasswordFileTarget {
  /** Host as given: a name, an IP address or a socket directory; `localhost` when none was given. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
}

/** Outcome of {@link passwordFromFile}. */
export type PasswordFileResult =
  /** A line matched; `password` may be empty (libpq then has no password either). */
  | { readonly kind: 'found'; readonly password: string }
  /** The file was read and no line matched. */
  | { readonly kind: 'no-match' }
  /** The file does not exist or cannot be opened: silently skipped, as libpq does. */
  | { readonly kind: 'absent' }
  /** The file exists but libpq would not use it; `warning` says why (no password in it). */
  | { readonly kind: 'ignored'; readonly warning: string };

/**
 * libpq's compiled-in default socket directory (upstream `DEFAULT_PGSOCKET_DIR`): a connection through it
 * is looked up as `localhost`. Distributions may build libpq with another directory (Debian:
 * /var/run/postgresql); pgdts follows upstream.
 */
const DEFAULT_SOCKET_DIR = '/tmp';

/**
 * Looks up the password of `target` in the password file `file`. Reads the file synchronously (it is
 * small and read once per endpoint resolution).
 *
 * Permission rule (not on Windows): a file that is not a regular file, or that group or world may access
 * at all (`mode & 0o077`), is ignored with a warning, as libpq does.
 * Never throws for a missing or unreadable file; never puts a password in a warning.
 */
export function passwordFromFile(file: string, target: PasswordFileTarget): PasswordFileResult {
  let st: Stats;
  let text: string;
  try {
    st = statSync(file);
  } catch {
    return { kind: 'absent' };
  }
  if (process.platform !== 'win32') {
    if (!st.isFile()) return { kind: 'ignored', warning: `password file "${file}" is not a plain file` };
    if ((st.mode & 0o077) !== 0) {
      return {
        kind: 'ignored',
        warning: `password file "${file}" has group or world access; permissions should be u=rw (0600) or less`,
      };
    }
  }
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { kind: 'absent' };
  }
  const password = passwordFromLines(text, target);
  return password === undefined ? { kind: 'no-match' } : { kind: 'found', password };
}

/**
 * The password of the first line of `text` (the contents of a password file) that matches `target`, or
 * `undefined` when none does. Pure; exported for tests.
 */
export function passwordFromLines(text: string, target: PasswordFileTarget): string | undefined {
  // libpq matches "localhost" when no host was given or when the host is its default socket directory.
  const host = target.host === '' || target.host === DEFAULT_SOCKET_DIR ? 'localhost' : target.host;
  const tokens = [host, String(target.port), target.database, target.user];
  for (const raw of text.split('\n')) {
    // libpq checks for a comment before stripping the line end, then strips every trailing \r and \n.
    if (raw.startsWith('#')) continue;
    const line = raw.replace(/[\r\n]+$/, '');
    if (line === '') continue;
    let at: number | undefined = 0;
    for (const token of tokens) {
      at = matchField(line, at, token);
      if (at === undefined) break;
    }
    if (at !== undefined) return passwordField(line, at);
  }
  return undefined;
}

/**
 * Matches the field of `line` starting at `start` against `token`; returns where the next field starts,
 * or `undefined` when it does not match. A field of exactly `*` matches anything; `\` makes the next
 * character literal (so `\:` is a colon inside the field, `\\` a backslash).
 */
function matchField(line: string, start: number, token: string): number | undefined {
  if (line[start] === '*' && line[start + 1] === ':') return start + 2;
  let i = start;
  let t = 0;
  while (i < line.length) {
    let escaped = false;
    if (line[i] === '\\') {
      i++;
      escaped = true;
    }
    const c = line[i];
    if (c === ':' && !escaped && t === token.length) return i + 1;
    if (t === token.length || c === undefined || c !== token[t]) return undefined;
    i++;
    t++;
  }
  return undefined;
}

/** The password field from `start`: de-escaped, up to the end of the line or an unescaped `:`. */
function passwordField(line: string, start: number): string {
  let out = '';
  for (let i = start; i < line.length && line[i] !== ':'; i++) {
    if (line[i] === '\\' && i + 1 < line.length) i++;
    out += line[i] ?? '';
  }
  return out;
}
