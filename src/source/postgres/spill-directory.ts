/**
 * Spill files of streamed in-progress transactions. With pgoutput streaming (protocol ≥ 2), blocks of
 * a large transaction arrive before its commit, interleaved with other transactions (PostgreSQL docs,
 * "Logical Streaming Replication Protocol", Stream Start/Stop). Holding them in memory would make
 * memory grow with transaction size, so each is appended to a file until Stream Commit replays it,
 * or Stream Abort discards it. Format: repeated [uint32 length][uint64 WAL position][pgoutput message
 * bytes], the position being the XLogData start of the message (the change's LSN).
 *
 * The directory belongs to one task (one run at a time: the task's lease). Leftovers of a crashed run
 * are deleted on open: the server re-streams every transaction not yet confirmed. Writes are buffered
 * and go through `fs/promises`, so a write error (ENOSPC, EIO) surfaces as a rejected call rather
 * than an unhandled stream event; it becomes a retryable SPILL_FAILED error: the task keeps its
 * position and the transaction is re-streamed after the retry.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PgdtsError } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';

/** Per message: uint32 length, uint64 WAL position. */
const HEADER_BYTES = 12;

/** One message read back from a spill file. */
export interface SpilledMessage {
  /** WAL position of the message (its XLogData start). */
  readonly lsn: Lsn;
  readonly data: Buffer;
}

/** Buffer this many bytes per file before writing them out. */
const WRITE_CHUNK_BYTES = 1 << 20;

interface SpillFile {
  readonly path: string;
  readonly handle: Promise<FileHandle>;
  pending: Buffer[];
  pendingBytes: number;
  /** Bytes of this file (written or pending). */
  bytes: number;
}

/** Options of {@link SpillDirectory}. */
export interface SpillDirectoryOptions {
  /** Most bytes all spill files may hold together; 0 = no limit. */
  readonly maxBytes: number;
}

/** Spill files of one task, under `dir`. */
export class SpillDirectory {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly files = new Map<number, SpillFile>();
  private totalBytes = 0;

  /**
   * Creates `dir` (and parents) and deletes what an earlier run left in it.
   * @throws {PgdtsError} SPILL_FAILED (retryable) when the directory cannot be created or emptied.
   */
  constructor(dir: string, o: SpillDirectoryOptions) {
    this.dir = dir;
    this.maxBytes = o.maxBytes;
    try {
      mkdirSync(dir, { recursive: true });
      for (const f of readdirSync(dir)) rmSync(path.join(dir, f), { recursive: true, force: true });
    } catch (e) {
      throw this.ioError(`cannot prepare the spill directory ${dir}`, e);
    }
  }

  /** Bytes held by all spill files now. */
  get bytes(): number {
    return this.totalBytes;
  }

  /**
   * Appends one message to the spill file of transaction `xid`. Returns a promise only when it writes
   * to disk (await it then).
   * @throws {PgdtsError} SPILL_FAILED (retryable) when the budget is exceeded or a write fails.
   */
  append(xid: number, lsn: Lsn, message: Buffer): Promise<void> | undefined {
    const size = HEADER_BYTES + message.length;
    if (this.maxBytes > 0 && this.totalBytes + size > this.maxBytes) {
      throw new PgdtsError(
        'SPILL_FAILED',
        `streamed transactions need more than incremental.spillMaxBytes = ${this.maxBytes} bytes of spill space in ${this.dir}: raise it (0 = no limit) or make the source's transactions smaller`,
        { retryable: true },
      );
    }
    let f = this.files.get(xid);
    if (!f) {
      const p = path.join(this.dir, `${xid}.spill`);
      f = { path: p, handle: open(p, 'w+'), pending: [], pendingBytes: 0, bytes: 0 };
      // Surfaced by the next write or replay; this only keeps Node from reporting it as unhandled.
      f.handle.catch(() => undefined);
      this.files.set(xid, f);
    }
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    header.writeUInt32BE(message.length, 0);
    header.writeBigUInt64BE(lsn, 4);
    f.pending.push(header, message);
    f.pendingBytes += size;
    f.bytes += size;
    this.totalBytes += size;
    return f.pendingBytes >= WRITE_CHUNK_BYTES ? this.writePending(f) : undefined;
  }

  private async writePending(f: SpillFile): Promise<void> {
    const data = Buffer.concat(f.pending, f.pendingBytes);
    f.pending = [];
    f.pendingBytes = 0;
    try {
      const fh = await f.handle;
      let off = 0;
      while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
    } catch (e) {
      throw this.ioError(`cannot write spill file ${f.path}`, e);
    }
  }

  /** True when transaction `xid` has spilled messages. */
  has(xid: number): boolean {
    return this.files.has(xid);
  }

  /**
   * Reads back the messages of `xid` in order, `chunkBytes` at a time (bounded memory), then deletes
   * the file. Yields nothing for a transaction without a spill file.
   * @throws {PgdtsError} SPILL_FAILED (retryable) when reading fails or the file is truncated.
   */
  async *replay(xid: number, chunkBytes = 1 << 20): AsyncGenerator<SpilledMessage> {
    const f = this.files.get(xid);
    if (!f) return;
    this.files.delete(xid);
    let fh: FileHandle;
    try {
      if (f.pendingBytes > 0) await this.writePending(f);
      fh = await f.handle;
    } catch (e) {
      this.forget(f);
      throw e instanceof PgdtsError ? e : this.ioError(`cannot write spill file ${f.path}`, e);
    }
    try {
      let carry = Buffer.alloc(0);
      const buf = Buffer.alloc(chunkBytes);
      let position = 0;
      for (;;) {
        let bytesRead: number;
        try {
          ({ bytesRead } = await fh.read(buf, 0, buf.length, position));
        } catch (e) {
          throw this.ioError(`cannot read spill file ${f.path}`, e);
        }
        if (bytesRead === 0) break;
        position += bytesRead;
        const data =
          carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
        let off = 0;
        while (data.length - off >= HEADER_BYTES) {
          const len = data.readUInt32BE(off);
          if (data.length - off - HEADER_BYTES < len) break;
          const lsn = data.readBigUInt64BE(off + 4) as Lsn;
          // Copy: `buf` is reused by the next read.
          yield { lsn, data: Buffer.from(data.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len)) };
          off += HEADER_BYTES + len;
        }
        carry = Buffer.from(data.subarray(off));
      }
      if (carry.length > 0) {
        throw new PgdtsError('SPILL_FAILED', `spill file ${f.path} is truncated`, { retryable: true });
      }
    } finally {
      await fh.close().catch(() => undefined);
      this.forget(f);
    }
  }

  /** Discards the spill file of `xid` (Stream Abort of the top-level transaction, or already applied). */
  async discard(xid: number): Promise<void> {
    const f = this.files.get(xid);
    if (!f) return;
    this.files.delete(xid);
    await (await f.handle.catch(() => undefined))?.close().catch(() => undefined);
    this.forget(f);
  }

  /** Closes and deletes every spill file. Never throws. */
  async close(): Promise<void> {
    for (const xid of [...this.files.keys()]) await this.discard(xid);
    try {
      for (const f of readdirSync(this.dir)) rmSync(path.join(this.dir, f), { force: true });
    } catch {
      /* the directory is gone or unreadable: nothing left to delete */
    }
  }

  private forget(f: SpillFile): void {
    this.totalBytes -= f.bytes;
    rmSync(f.path, { force: true });
  }

  private ioError(what: string, e: unknown): PgdtsError {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOSPC'
        ? `no space left on the device of ${this.dir}: free disk space, set incremental.spillDir to a larger disk, or lower incremental.spillMaxBytes to fail earlier`
        : (e as Error).message;
    return new PgdtsError('SPILL_FAILED', `${what}: ${why}`, { retryable: true, cause: e });
  }
}
