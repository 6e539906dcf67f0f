/**
 * Which connection attempts use TLS, per libpq sslmode (PostgreSQL docs, "SSL Support", table "SSL Mode
 * Descriptions"), and the fallback between them:
 * - `disable`: one attempt without TLS;
 * - `allow`: without TLS first; if the server was reached but refused the session, again with TLS;
 * - `prefer`: with TLS first; if the server answers 'N' to the SSLRequest, or the TLS handshake or the
 *   startup/authentication over TLS fails, again without TLS;
 * - `require`, `verify-ca`, `verify-full`: one attempt with TLS (verification is in the TLS options).
 * A Unix-domain socket never uses TLS, whatever the mode (as libpq).
 *
 * `pg` sends the SSLRequest (8 bytes: length 8, code 80877103) and reads the one-byte answer, 'S' or 'N'
 * (PostgreSQL docs, "Message Flow", "SSL Session Encryption"); on 'N' it fails the connection. As libpq,
 * the fallback then opens a new connection. So that `prefer` and `allow` cost no extra connection on
 * servers without TLS, a server that answered 'N' is remembered per host:port for the life of the
 * process, and later connections skip the attempt that would be refused.
 */
import type pg from 'pg';
import type { ConnectionOptions } from 'node:tls';
import type { SslMode } from '../core/task-config.ts';
import { endpointAddress, isSocketDirectory, type ConnectionParams } from './connection-settings.ts';

/** One connection attempt: with TLS or without. */
export type TlsAttempt = 'tls' | 'plain';

/** Opens (does not connect) a client for one attempt; `timeoutMs` 0 means no limit. */
export type OpenClient = (ssl: false | ConnectionOptions, timeoutMs: number) => pg.Client;

/** Thrown by {@link connectNegotiatingTls} when every attempt failed. */
export class ConnectAttemptsFailed extends Error {
  /** The error that decides the outcome (its SQLSTATE or socket code classifies the failure). */
  readonly primary: unknown;
  /** The other attempts' failures, for the message (`the attempt with TLS failed: ...`), or undefined. */
  readonly note: string | undefined;
  constructor(primary: unknown, note: string | undefined) {
    super(primary instanceof Error ? primary.message : String(primary));
    this.name = 'ConnectAttemptsFailed';
    this.primary = primary;
    this.note = note;
  }
}

/** Servers (host:port) that answered 'N' to an SSLRequest in this process. */
const refusedTls = new Set<string>();

/** Has the server at host:port answered 'N' (no TLS) to an SSLRequest in this process? */
export function refusedTlsBefore(host: string, port: number): boolean {
  return refusedTls.has(endpointAddress({ host, port }));
}

/** The mode of `p`: its `sslMode`, or for hand-built parameters what `ssl` implies. */
export function sslModeOf(p: Pick<ConnectionParams, 'ssl' | 'sslMode'>): SslMode {
  return p.sslMode ?? (p.ssl === false || p.ssl === undefined ? 'disable' : 'require');
}

/**
 * The attempts for `p`, in order (see the module comment); `prefer` and `allow` drop the TLS attempt for a
 * server remembered to have refused TLS.
 */
export function tlsAttempts(
  p: Pick<ConnectionParams, 'host' | 'port' | 'ssl' | 'sslMode'>,
): readonly TlsAttempt[] {
  if (isSocketDirectory(p.host)) return ['plain'];
  const mode = sslModeOf(p);
  const refused = refusedTlsBefore(p.host, p.port);
  switch (mode) {
    case 'disable':
      return ['plain'];
    case 'allow':
      return refused ? ['plain'] : ['plain', 'tls'];
    case 'prefer':
      return refused ? ['plain'] : ['tls', 'plain'];
    case 'require':
    case 'verify-ca':
    case 'verify-full':
      return ['tls'];
  }
}

/**
 * Connects with the attempts of {@link tlsAttempts}. All attempts share `p.connectTimeoutMs` (libpq's
 * connect_timeout does not restart for the retry on the same address). A new attempt is made only when
 * the previous one reached the server: a refused, unresolvable or timed-out TCP connect is final.
 * @returns the connected client, and whether it uses TLS.
 * @throws {ConnectAttemptsFailed} when every attempt failed: `primary` is the last failure, except that
 *   a TLS attempt the server refused ('N') after a failed attempt without TLS defers to that earlier
 *   failure (libpq would have continued without TLS on the same connection and failed the same way).
 */
export async function connectNegotiatingTls(
  p: ConnectionParams,
  open: OpenClient,
): Promise<{ client: pg.Client; tls: boolean }> {
  const attempts = tlsAttempts(p);
  const deadline = p.connectTimeoutMs > 0 ? Date.now() + p.connectTimeoutMs : undefined;
  const tlsOptions: ConnectionOptions = p.ssl === false || p.ssl === undefined || p.ssl === true ? {} : p.ssl;
  const failures: { attempt: TlsAttempt; error: unknown; refused: boolean }[] = [];
  for (const attempt of attempts) {
    if (deadline !== undefined && failures.length > 0 && Date.now() >= deadline) break;
    // At least 1 ms: pg reads 0 as "no limit".
    const left = deadline === undefined ? 0 : Math.max(1, deadline - Date.now());
    const client = open(attempt === 'tls' ? tlsOptions : false, left);
    let reached = false;
    client.connection.once('connect', () => {
      reached = true;
    });
    try {
      await client.connect();
      return { client, tls: attempt === 'tls' };
    } catch (e) {
      await client.end().catch(() => undefined);
      const refused = attempt === 'tls' && isTlsRefusal(e);
      if (refused) refusedTls.add(endpointAddress(p));
      const error = refused
        ? refusalError(sslModeOf(p))
        : isCertificateRejection(e)
          ? rejection(sslModeOf(p), e)
          : e;
      failures.push({ attempt, error, refused });
      if (!reached) break;
    }
  }
  const last = failures[failures.length - 1];
  const earlier = failures[failures.length - 2];
  const primary = last?.refused && earlier !== undefined ? earlier : last;
  if (primary === undefined) {
    throw new ConnectAttemptsFailed(new Error('no connection attempt was made'), undefined);
  }
  // A refused SSLRequest is no failure where TLS is optional (libpq just goes on without it).
  const others = failures.filter((f) => f !== primary && !f.refused);
  const note =
    others.length === 0
      ? undefined
      : others
          .map(
            (f) =>
              `the attempt ${f.attempt === 'tls' ? 'with' : 'without'} TLS failed: ${messageOf(f.error)}`,
          )
          .join('; ');
  throw new ConnectAttemptsFailed(primary.error, note);
}

/**
 * Did `pg` fail because the server answered 'N' to the SSLRequest? `pg` reports it only by this message
 * (pg/lib/connection.js); tests pin it (prefer against a server without TLS remembers the refusal).
 */
function isTlsRefusal(e: unknown): boolean {
  return e instanceof Error && e.message === 'The server does not support SSL connections';
}

/**
 * A TLS failure pgdts decides on itself. Its `code` (`PGDTS_TLS_REFUSED`: the server has no TLS where
 * the mode requires it; `PGDTS_TLS_REJECTED`: the server certificate failed verification) is in the
 * error table of core/sqlstate.ts as not retryable: waiting does not change a certificate.
 */
export class TlsError extends Error {
  readonly code: 'PGDTS_TLS_REFUSED' | 'PGDTS_TLS_REJECTED';
  constructor(code: TlsError['code'], message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TlsError';
    this.code = code;
  }
}

/** libpq's wording: the refusal is an error only where TLS was required. */
function refusalError(mode: SslMode): Error {
  return new TlsError(
    'PGDTS_TLS_REFUSED',
    mode === 'allow' || mode === 'prefer'
      ? 'the server does not support SSL'
      : `the server does not support SSL, but sslmode ${mode} requires it`,
  );
}

/**
 * Did node:tls reject the server certificate (chain or host name)? Its verification errors carry
 * OpenSSL's verify codes (`SELF_SIGNED_CERT_IN_CHAIN`, `CERT_HAS_EXPIRED`...) or
 * `ERR_TLS_CERT_ALTNAME_INVALID`.
 */
function isCertificateRejection(e: unknown): e is Error {
  const code = (e as { code?: unknown } | null)?.code;
  return (
    e instanceof Error &&
    typeof code === 'string' &&
    /CERT|SIGNATURE|ISSUER|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH|HOSTNAME_MISMATCH/.test(code)
  );
}

/** Says which check failed; the cause keeps node's error. */
function rejection(mode: SslMode, e: Error): Error {
  return new TlsError('PGDTS_TLS_REJECTED', `server certificate rejected (sslmode ${mode}): ${e.message}`, e);
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
