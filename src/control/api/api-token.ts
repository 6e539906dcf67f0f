/**
 * The API's bearer token (RFC 6750): `PGDTS_API_TOKEN` when set; otherwise one generated on the
 * first start, whose SHA-256 alone is kept in the store, and printed once on stderr for the operator
 * to keep. Requests are compared by hash in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ControlStore } from '../store/control-store.ts';

/** The environment variable holding the token (for `pgdts serve` and the `pgdts source` commands). */
export const API_TOKEN_ENV = 'PGDTS_API_TOKEN';

/** How serve got its token: from the environment, generated now (shown once), or stored earlier. */
export type TokenOrigin =
  | { readonly kind: 'env' }
  | { readonly kind: 'generated'; readonly token: string }
  | { readonly kind: 'stored' };

/** Checks bearer tokens against the expected hash. */
export class ApiToken {
  readonly #hash: Buffer;
  readonly origin: TokenOrigin;

  private constructor(hash: Buffer, origin: TokenOrigin) {
    this.#hash = hash;
    this.origin = origin;
  }

  /**
   * The token of this serve process: the environment's, else the store's, else a new one recorded in
   * the store (when two processes start at once, the first one's is kept and the other reads it).
   * @throws {PgdtsError} STORE_FAILED when the store cannot be read or written.
   */
  static async load(env: NodeJS.ProcessEnv, store: ControlStore): Promise<ApiToken> {
    const fromEnv = env[API_TOKEN_ENV];
    if (fromEnv !== undefined && fromEnv !== '') return new ApiToken(sha256(fromEnv), { kind: 'env' });
    const stored = await store.apiTokenHash();
    if (stored !== undefined) return new ApiToken(stored, { kind: 'stored' });
    const token = `pgdts_${randomBytes(32).toString('base64url')}`;
    if (await store.setApiTokenHashOnce(sha256(token))) {
      return new ApiToken(sha256(token), { kind: 'generated', token });
    }
    const other = await store.apiTokenHash();
    return new ApiToken(other ?? sha256(token), { kind: 'stored' });
  }

  /** Does the `Authorization` header carry the token (`Bearer <token>`)? */
  accepts(authorization: string | undefined): boolean {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
    if (m?.[1] === undefined) return false;
    return timingSafeEqual(sha256(m[1]), this.#hash);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
