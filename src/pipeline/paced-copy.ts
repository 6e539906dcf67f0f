/**
 * Paces one COPY stream of the full sync to the task's `full.throttle` rows and bytes limits, between
 * the source's reader and the sink's writer (so that no connector knows about throttling).
 *
 * COPY streams bytes, and rows are only counted by the destination once the COPY ends, so the pacer
 * finds the row boundaries itself ({@link CopyRowScanner}: every newline in text format, the field
 * structure in binary format, without decoding values) and cuts each chunk into pieces of at most
 * `PIECE_MS` (throttle.ts) worth of rows and of bytes, ending on a row boundary where the rows limit cuts.
 * A piece passes when the shared buckets give it its rows (rows that end in it) and its bytes. The
 * rate is therefore that of rows and bytes handed to the destination, as it receives them.
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import { CopyRowScanner } from '../core/copy-rows.ts';
import type { CopyFormat } from '../core/source.ts';
import type { FlowLimiter } from './throttle.ts';

/**
 * Returns `data` paced by `flow`. Errors of `data` (and its destruction) reach the returned stream
 * with the same error. While `signal` is aborted nothing waits.
 * @throws via the stream: PgdtsError COPY_FAILED when binary data is malformed.
 */
export function pacedCopy(
  data: Readable,
  format: CopyFormat,
  flow: FlowLimiter,
  signal: AbortSignal,
): Readable {
  const scanner = new CopyRowScanner(format);
  const pacer = new Transform({
    transform(chunk: Buffer, _enc, done) {
      let pos = 0;
      // Synchronous while the buckets have tokens: no promise per chunk when nothing must wait.
      const next = (): void => {
        try {
          while (pos < chunk.length) {
            const limit = flow.pieceLimits();
            const piece = scanner.scan(chunk, pos, Math.min(chunk.length, pos + limit.bytes), limit.rows);
            const part = pos === 0 && piece.end === chunk.length ? chunk : chunk.subarray(pos, piece.end);
            const wait = flow.take(piece.rows, part.length, signal);
            pos = piece.end;
            if (wait !== undefined) {
              wait.then(() => {
                this.push(part);
                next();
              }, done);
              return;
            }
            this.push(part);
          }
        } catch (e) {
          done(e as Error);
          return;
        }
        done();
      };
      next();
    },
  });
  // pipeline destroys the pacer with the reader's error, so the writer sees the copy's own error.
  pipeline(data, pacer, () => undefined);
  return pacer;
}
