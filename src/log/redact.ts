/**
 * What must never reach a log line: the secrets of a task file. pino removes or censors these paths
 * from every object it logs (pino docs, "Redaction"); messages are redacted where they are built
 * (connection errors never include a password). The test in test/log/ walks every key of the task
 * file schema and checks that each secret-bearing key is listed here.
 */

/**
 * Keys of a task file endpoint whose value is, or may contain, a secret: the password, and the URL
 * (which may carry one). `passwordEnv` names a variable and `sslkey` a file: not secrets themselves.
 */
export const SECRET_ENDPOINT_KEYS: readonly string[] = ['password', 'url'];

/**
 * Censored object paths (pino redact syntax): an endpoint logged on its own (`source`,
 * `destination`), or the whole task file logged as `config`, and bare `password` / `url` fields.
 */
export const SECRET_PATHS: readonly string[] = [
  ...SECRET_ENDPOINT_KEYS,
  ...['source', 'destination', 'config.source', 'config.destination', 'endpoint'].flatMap((at) =>
    SECRET_ENDPOINT_KEYS.map((k) => `${at}.${k}`),
  ),
];

/** Replacement of a censored password. */
export const CENSORED = '****';

/**
 * pino's censor: a URL keeps everything but its password (so a log still says where it connects);
 * any other value is replaced.
 */
export function censor(value: unknown, path: readonly string[]): unknown {
  if (path[path.length - 1] === 'url' && typeof value === 'string') return censorUrl(value);
  return CENSORED;
}

/** `postgresql://u:secret@h/db` → `postgresql://u:****@h/db`; text that is no URL is censored whole. */
export function censorUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = CENSORED;
    return u.toString();
  } catch {
    return CENSORED;
  }
}
