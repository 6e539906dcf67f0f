/**
 * The full sync's pacer on real COPY data: bytes pass unchanged, at the rows or bytes rate asked for;
 * a rate change applies mid-stream; the reader's error reaches the writer as it was; a stop does not
 * wait for the rate.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { PgdtsError } from '../../src/core/errors.ts';
import { pacedCopy } from '../../src/pipeline/paced-copy.ts';
import { FlowLimiter } from '../../src/pipeline/throttle.ts';
import { copyData } from '../support/copy-data.ts';
import { freshDatabase, testServer } from '../support/servers.ts';

/** `data` as a stream of 64 kB chunks (what pg-copy-streams hands out is of that order). */
function source(data: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 65_536) parts.push(data.subarray(i, i + 65_536));
  return Readable.from(parts, { objectMode: false });
}

async function drain(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

test('COPY data passes unchanged at the rows/s or MB/s asked for, and follows a new rate mid-stream', async () => {
  const s = testServer(15);
  const db = await freshDatabase(s, 'paced');
  const query = `SELECT g, md5(g::text) FROM generate_series(1, 30000) g`;
  for (const format of ['binary', 'text'] as const) {
    const data = await copyData(s, db, query, format);
    // 30000 rows at 60000 rows/s: half a second.
    const rows = new FlowLimiter({ rowsPerSecond: 60_000 });
    let t = performance.now();
    const out = await drain(pacedCopy(source(data), format, rows, new AbortController().signal));
    const rowsSec = (performance.now() - t) / 1000;
    assert.ok(out.equals(data), `${format}: the bytes are unchanged`);
    assert.ok(rowsSec > 0.45 && rowsSec < 0.8, `${format}: 30000 rows at 60000 rows/s took ${rowsSec} s`);
    // The same data at twice its size per second: half a second.
    const bytes = new FlowLimiter({ bytesPerSecond: data.length * 2 });
    t = performance.now();
    assert.ok(
      (await drain(pacedCopy(source(data), format, bytes, new AbortController().signal))).equals(data),
    );
    const bytesSec = (performance.now() - t) / 1000;
    assert.ok(
      bytesSec > 0.45 && bytesSec < 0.8,
      `${format}: ${data.length} bytes at twice that per second took ${bytesSec} s`,
    );
  }
  // 1000 rows/s would take 30 s: raised to 100000 rows/s after 0.3 s, the rest takes 0.3 s more.
  const data = await copyData(s, db, query, 'binary');
  const flow = new FlowLimiter({ rowsPerSecond: 1_000 });
  const t = performance.now();
  setTimeout(() => flow.setRates({ rowsPerSecond: 100_000 }), 300);
  await drain(pacedCopy(source(data), 'binary', flow, new AbortController().signal));
  const sec = (performance.now() - t) / 1000;
  assert.ok(sec > 0.55 && sec < 1.2, `with the rate raised mid-stream: ${sec} s`);
});

test("the reader's error reaches the paced stream unchanged; a stop does not wait for the rate", async () => {
  const failing = new Readable({ read() {} });
  const flow = new FlowLimiter({ rowsPerSecond: 1 });
  const paced = pacedCopy(failing, 'text', flow, new AbortController().signal);
  failing.push(Buffer.from('1\n2\n3\n'));
  const lost = new PgdtsError('COPY_FAILED', 'connection lost', {
    retryable: true,
    retryWindow: 'connection',
  });
  setTimeout(() => failing.destroy(lost), 50);
  await assert.rejects(drain(paced), (e) => e === lost);

  // At 1 row/s, 100 rows would take 100 s; stopped after 200 ms, they pass at once.
  const stop = new AbortController();
  const rows = Buffer.from(Array.from({ length: 100 }, (_, i) => `${i}\n`).join(''));
  const t = performance.now();
  setTimeout(() => stop.abort(), 200);
  assert.ok((await drain(pacedCopy(Readable.from([rows]), 'text', flow, stop.signal))).equals(rows));
  assert.ok(performance.now() - t < 2_000);
});
