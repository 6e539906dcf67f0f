/**
 * Encryption at rest of the control plane's secrets (data source passwords, client keys and key
 * passwords): AES-256-GCM from node:crypto, a fresh 12-byte IV per value (NIST SP 800-38D, the
 * recommended IV length for GCM) and its 16-byte authentication tag, so that a changed ciphertext is
 * refused rather than decrypted into garbage. The key is 32 bytes: from `PGDTS_SECRET_KEY` (base64 or
 * hex), else from the key file `<data-dir>/secret.key`, created with mode 0600 on first start.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PgdtsError } from '../../core/errors.ts';

/** The environment variable holding the key (base64 or hex of 32 bytes). */
export const SECRET_KEY_ENV = 'PGDTS_SECRET_KEY';
/** The key file's name in the data directory. */
export const SECRET_KEY_FILE = 'secret.key';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const ALGORITHM = 'aes-256-gcm';

/** One encrypted value as the store keeps it (three bytea columns). */
export interface Sealed {
  readonly ciphertext: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
}

/** Where the key came from, for the start-up line (never the key itself). */
export type SecretKeySource =
  { readonly kind: 'env' } | { readonly kind: 'file'; readonly file: string; readonly created: boolean };

/**
 * Parses a 32-byte key written as 64 hex digits or as base64 (44 characters with padding).
 * @throws {PgdtsError} CONFIG_INVALID naming `what` when it is neither, or not 32 bytes.
 */
export function parseSecretKey(text: string, what: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(t) || /^[A-Za-z0-9_-]+={0,2}$/.test(t)) {
    const b = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (b.length === KEY_BYTES) return b;
  }
  throw new PgdtsError(
    'CONFIG_INVALID',
    `${what}: must be ${KEY_BYTES} bytes written as 64 hex digits or base64 (e.g. the output of \`openssl rand -base64 32\`)`,
  );
}

/**
 * The secret key: `env.PGDTS_SECRET_KEY` when set, else `<dataDir>/secret.key`, which is created (32
 * random bytes, base64, mode 0600) when missing. A key file readable by group or others is refused,
 * as PostgreSQL refuses such a server key.
 * With `create: false` a missing key file is an error (a worker must use the store's key).
 * @throws {PgdtsError} CONFIG_INVALID for an invalid key or an unsafe/unreadable/missing key file.
 */
export function loadSecretKey(
  env: NodeJS.ProcessEnv,
  dataDir: string,
  o: { readonly create?: boolean } = {},
): { key: Buffer; source: SecretKeySource } {
  const fromEnv = env[SECRET_KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { key: parseSecretKey(fromEnv, SECRET_KEY_ENV), source: { kind: 'env' } };
  }
  const file = path.resolve(dataDir, SECRET_KEY_FILE);
  let created = false;
  if (o.create === false && !existsSync(file)) {
    // A worker on another machine must use the store's key: a new one could not read a secret.
    throw new PgdtsError(
      'CONFIG_INVALID',
      `no secret key: ${SECRET_KEY_ENV} is not set and ${file} does not exist`,
      {
        hint: `give the key of the store's pgdts serve: set ${SECRET_KEY_ENV}, or copy its secret.key into --data-dir (mode 0600)`,
      },
    );
  }
  if (o.create !== false) {
    try {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // `wx`: never overwrite a key another process created meanwhile (its secrets would be lost).
      writeFileSync(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { flag: 'wx', mode: 0o600 });
      chmodSync(file, 0o600);
      created = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PgdtsError('CONFIG_INVALID', `cannot create the secret key file ${file}: ${String(e)}`, {
          cause: e,
        });
      }
    }
  }
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new PgdtsError(
      'CONFIG_INVALID',
      `secret key file ${file} has mode ${mode.toString(8)}: it must not be readable by group or others`,
      { hint: `chmod 600 ${file}` },
    );
  }
  return { key: parseSecretKey(readFileSync(file, 'utf8'), file), source: { kind: 'file', file, created } };
}

/** Encrypts and decrypts values with one key; holds the key, never prints it. */
export class SecretBox {
  readonly #key: Buffer;

  /** @param key 32 bytes (see {@link loadSecretKey}). */
  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new PgdtsError('INTERNAL', `secret key of ${key.length} bytes`);
    this.#key = key;
  }

  /** Encrypts `plaintext` (UTF-8) with a fresh random IV. */
  seal(plaintext: string): Sealed {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv(ALGORITHM, this.#key, iv);
    const ciphertext = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return { ciphertext, iv, tag: c.getAuthTag() };
  }

  /**
   * Decrypts a value sealed with the same key.
   * @throws {PgdtsError} CONFIG_INVALID when the tag does not match: another key (a changed
   *   PGDTS_SECRET_KEY or key file) or a tampered value.
   */
  open(s: Sealed, what: string): string {
    try {
      const d = createDecipheriv(ALGORITHM, this.#key, s.iv);
      d.setAuthTag(s.tag);
      return Buffer.concat([d.update(s.ciphertext), d.final()]).toString('utf8');
    } catch (e) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `${what} cannot be decrypted: the secret key differs from the one it was stored with, or the value was changed`,
        {
          cause: e,
          hint: `start pgdts serve with the ${SECRET_KEY_ENV} or ${SECRET_KEY_FILE} it was stored with`,
        },
      );
    }
  }

  /** Keeps the key out of util.inspect and JSON. */
  toJSON(): string {
    return 'SecretBox';
  }
}
