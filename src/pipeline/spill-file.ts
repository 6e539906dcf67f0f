/**
 * Spill files of streamed in-progress transactions. With pgoutput streaming (protocol ≥ 2), blocks of
 * a large transaction arrive before its commit, interleaved with other transactions (PostgreSQL docs,
 * "Logical Streaming Replication Protocol", Stream Start/Stop). Holding them in memory would make
 * memory grow with transaction size, so each is appended to a file until Stream Commit replays it,
 * or Stream Abort discards it. Format: repeated [uint32 length][pgoutput message bytes].
 */
import { createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';

/** Spill files of one replication session, under `dir` (created; emptied on open). */
export class SpillDirectory {
  private readonly dir: string;
  private readonly files = new Map<number, { path: string; out: WriteStream; bytes: number }>();

  constructor(dir: string) {
    this.dir = dir;
    // Leftovers of a crashed run are useless: the server re-streams open transactions on reconnect.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  /** Appends one message to the spill file of transaction `xid`. Returns false when the caller should wait for 'drain'. */
  append(xid: number, message: Buffer): Promise<void> {
    let f = this.files.get(xid);
    if (!f) {
      const p = path.join(this.dir, `${xid}.spill`);
      f = { path: p, out: createWriteStream(p), bytes: 0 };
      this.files.set(xid, f);
    }
    const header = Buffer.alloc(4);
    header.writeUInt32BE(message.length, 0);
    f.bytes += 4 + message.length;
    f.out.write(header);
    const ok = f.out.write(message);
    if (ok) return Promise.resolve();
    const out = f.out;
    return new Promise((r) => out.once('drain', () => r()));
  }

  /** True when transaction `xid` has spilled messages. */
  has(xid: number): boolean {
    return this.files.has(xid);
  }

  /** Bytes spilled for transaction `xid`. */
  bytes(xid: number): number {
    return this.files.get(xid)?.bytes ?? 0;
  }

  /**
   * Reads back the messages of `xid` in order, `chunkBytes` at a time (bounded memory), then deletes
   * the file.
   */
  async *replay(xid: number, chunkBytes = 1 << 20): AsyncGenerator<Buffer> {
    const f = this.files.get(xid);
    if (!f) return;
    this.files.delete(xid);
    await new Promise<void>((r) => f.out.end(() => r()));
    const fh = await open(f.path, 'r');
    try {
      let carry = Buffer.alloc(0);
      const buf = Buffer.alloc(chunkBytes);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let data =
          carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
        let off = 0;
        while (data.length - off >= 4) {
          const len = data.readUInt32BE(off);
          if (data.length - off - 4 < len) break;
          // Copy: `buf` is reused by the next read.
          yield Buffer.from(data.subarray(off + 4, off + 4 + len));
          off += 4 + len;
        }
        carry = Buffer.from(data.subarray(off));
        data = Buffer.alloc(0);
      }
      if (carry.length > 0) throw new Error(`spill file ${f.path} is truncated`);
    } finally {
      await fh.close();
      rmSync(f.path, { force: true });
    }
  }

  /** Discards the spill file of `xid` (Stream Abort of the top-level transaction). */
  async discard(xid: number): Promise<void> {
    const f = this.files.get(xid);
    if (!f) return;
    this.files.delete(xid);
    await new Promise<void>((r) => f.out.end(() => r()));
    rmSync(f.path, { force: true });
  }

  /** Closes and deletes every spill file. */
  async close(): Promise<void> {
    for (const xid of [...this.files.keys()]) await this.discard(xid);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
