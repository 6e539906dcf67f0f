/**
 * The web console (console/, built by `npm run build:console` into dist/console) served by `pgdts
 * serve` at `/` with @fastify/static. Its files need no token (they hold no data: every API call the
 * console makes sends the token); unknown paths outside the API answer index.html so that the
 * console's own routes (`/tasks/t...`) load on a reload. The API keeps `/api`, `/healthz`,
 * `/metrics` and `/openapi.json`, whose unknown paths still answer the API's NOT_FOUND error.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { PgdtsError } from '../../core/errors.ts';

/**
 * Where the built console is: dist/console of the package, the same path from src/control/api (a
 * clone run through tsx) and from dist/control/api (the build).
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

/** True for a path of the API (token required, JSON errors), false for one of the console. */
export function isApiPath(url: string): boolean {
  const p = url.split('?', 1)[0] ?? '';
  return (
    p === '/api' || p.startsWith('/api/') || p === '/healthz' || p === '/metrics' || p === '/openapi.json'
  );
}

/** Registers the console's files and the index.html fallback on `app` (hidden from OpenAPI). */
export async function registerConsole(app: FastifyInstance, dir: string = CONSOLE_DIR): Promise<void> {
  const built = existsSync(`${dir}/index.html`);
  if (built) {
    // wildcard false: a route per file found now (the build does not change under a running serve).
    await app.register(fastifyStatic, { root: dir, wildcard: false, index: false, cacheControl: false });
  }
  app.get('/*', { schema: { hide: true } }, (req, reply) => {
    if (isApiPath(req.url)) {
      throw new PgdtsError('NOT_FOUND', `no route ${req.method} ${req.url}`);
    }
    if (!built) {
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(
          'the web console is not built: run npm run build (or npm run build:console) and restart pgdts serve\n',
        );
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
}
