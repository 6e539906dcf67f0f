/** COPY TO STDOUT data of a real server, as the full sync streams it, for tests of code that reads it. */
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { TestServer } from './servers.ts';

/** The bytes of `COPY (query) TO STDOUT` in `format`. */
export async function copyData(
  s: TestServer,
  db: string,
  query: string,
  format: 'text' | 'binary',
): Promise<Buffer> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
  await c.connect();
  try {
    const chunks: Buffer[] = [];
    const stream = c.query(
      copyTo(`COPY (${query}) TO STDOUT${format === 'binary' ? ' (FORMAT binary)' : ''}`),
    );
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await c.end();
  }
}
