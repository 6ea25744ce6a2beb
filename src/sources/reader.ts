import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { AppError } from '../errors.js';
import { JournalJsonToSyslog, looksLikeJournalJson } from '../formats/journal.js';
import type { LogSource } from './files.js';
import { gunzipBlocks } from './gunzip.js';

/** Bytes read per block: large enough that per-block overhead disappears, small for memory. */
const BLOCK_BYTES = 4 * 1024 * 1024;

/** How many leading bytes identify a file, so a rotated or compressed copy is recognised. */
export const FINGERPRINT_BYTES = 4096;

const NEWLINE = 10;

/**
 * A run of complete lines, as bytes: most lines are rejected from a few bytes, and only the
 * fields that are kept get decoded. `bytes` may be a view of a buffer that the next block
 * reuses, so a caller that keeps a part of it must copy that part.
 */
export interface LineBlock {
  bytes: Buffer;
  /** Offset of the block's first byte in the (decompressed) source. */
  offset: number;
  /** False for a last line without a newline. */
  complete: boolean;
}

/** Stream a source from a byte offset in blocks that end at a line end. */
export async function* readBlocks(
  source: LogSource,
  startOffset: number,
): AsyncGenerator<LineBlock> {
  const blocks = source.gzip
    ? splitStream(gunzipBlocks(source.path), startOffset, startOffset)
    : source.path === '-'
      ? splitStream(journalAware(process.stdin), 0, startOffset)
      : readFile(source.path, startOffset);

  let offset = startOffset;
  try {
    for await (const block of blocks) {
      yield block;
      offset = block.offset + block.bytes.length;
    }
  } catch (err) {
    const message = (err as Error).message;
    const detail = source.gzip ? gzipProblem(message) : message;
    throw new AppError('SOURCE_READ_FAILED', { path: source.path, offset, detail }, { cause: err });
  }
}

/** Add what a zlib error means for a .gz log, and what to do about it. */
function gzipProblem(message: string): string {
  if (message === 'unexpected end of file') {
    return `${message} (the file is cut short: still being written, or damaged)`;
  }
  if (/header check|compression method|invalid/i.test(message)) {
    return `${message} (not gzip data: decompress the file or give it a name without .gz)`;
  }
  return message;
}

/**
 * Read a plain file through two buffers that take turns: while the lines of one are parsed,
 * the next bytes are read into the other on libuv's thread pool. Waiting for each read
 * instead left the parser idle 0.75 s on the 10M-line benchmark log. Reusing the two
 * buffers, rather than a new 4 MiB buffer per block, keeps the garbage collector quiet.
 */
async function* readFile(file: string, startOffset: number): AsyncGenerator<LineBlock> {
  const handle = await open(file, 'r');
  const reads = new BlockReads(handle, startOffset);
  let offset = startOffset;

  try {
    for (;;) {
      const filled = await reads.fill();
      if (filled === 0) break;

      const bytes = reads.current;
      const end = bytes.lastIndexOf(NEWLINE, filled - 1) + 1;
      if (end === 0) {
        // Not one whole line yet (a line longer than the buffer): read on into this buffer.
        reads.readMore();
        continue;
      }
      reads.readNext(end);
      yield { bytes: bytes.subarray(0, end), offset, complete: true };
      offset += end;
    }

    // A last line without a newline is still a line: logs cut by a crash end like this.
    const rest = reads.current.subarray(0, reads.filled);
    if (rest.length > 0) yield { bytes: rest, offset, complete: false };
  } finally {
    await reads.settle();
    await handle.close();
  }
}

/**
 * The two buffers of readFile and the read under way. `current` contains `filled` bytes once
 * `fill` resolves. `readNext` moves the bytes after the last whole line to the other buffer
 * and starts reading behind them there.
 */
class BlockReads {
  current: Buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  filled = 0;
  private other: Buffer = Buffer.allocUnsafe(BLOCK_BYTES);
  private pending: Promise<number>;
  /** True once a read returned no bytes: the end of the file as it is now. */
  private ended = false;

  constructor(
    private readonly handle: FileHandle,
    private position: number,
  ) {
    this.pending = this.readInto(this.current, 0);
  }

  /** Wait for the read under way and return the bytes in `current`, or 0 at the end of the file. */
  async fill(): Promise<number> {
    const bytesRead = await this.pending;
    if (bytesRead === 0) {
      this.ended = true;
      return 0;
    }
    this.filled += bytesRead;
    return this.filled;
  }

  /** Read more into `current`, after the bytes it holds, growing it when it is full. */
  readMore(): void {
    if (this.filled === this.current.length) this.current = grow(this.current, this.filled);
    this.pending = this.readInto(this.current, this.filled);
  }

  /** Start reading the next block into the other buffer, behind the bytes from `end` on. */
  readNext(end: number): void {
    const carried = this.filled - end;
    if (this.other.length < this.current.length)
      this.other = Buffer.allocUnsafe(this.current.length);
    this.current.copy(this.other, 0, end, this.filled);
    this.pending = this.readInto(this.other, carried);
    this.filled = carried;
    [this.current, this.other] = [this.other, this.current];
  }

  /** Wait for a read still under way, so that the file can be closed. */
  async settle(): Promise<void> {
    if (!this.ended) await this.pending.catch(() => 0);
  }

  private async readInto(buffer: Buffer, at: number): Promise<number> {
    const { bytesRead } = await this.handle.read(buffer, at, buffer.length - at, this.position);
    this.position += bytesRead;
    return bytesRead;
  }
}

function grow(buffer: Buffer, filled: number): Buffer {
  const larger = Buffer.allocUnsafe(buffer.length * 2);
  buffer.copy(larger, 0, 0, filled);
  return larger;
}

/**
 * Cut chunks (gzip output, standard input) into blocks of whole lines. The chunks are new
 * buffers, so a block is a view of one chunk, and only the line cut at a chunk's end is
 * copied.
 */
async function* splitStream(
  stream: AsyncIterable<Buffer>,
  skipBytes: number,
  startOffset: number,
): AsyncGenerator<LineBlock> {
  let pending: Buffer = Buffer.alloc(0);
  let skip = skipBytes;
  let offset = startOffset;

  for await (const chunk of stream) {
    let data = chunk;
    if (skip > 0) {
      const dropped = Math.min(skip, data.length);
      data = data.subarray(dropped);
      skip -= dropped;
      if (data.length === 0) continue;
    }

    // The line cut at the end of the previous chunk is finished by this one. Joining just
    // that line, not the whole 4 MiB chunk, saves a copy of every byte.
    let body = data;
    if (pending.length > 0) {
      const firstNewline = data.indexOf(NEWLINE);
      if (firstNewline < 0) {
        pending = Buffer.concat([pending, data]);
        continue;
      }
      const joined = Buffer.concat([pending, data.subarray(0, firstNewline + 1)]);
      pending = Buffer.alloc(0);
      yield { bytes: joined, offset, complete: true };
      offset += joined.length;
      body = data.subarray(firstNewline + 1);
    }

    const lastNewline = body.lastIndexOf(NEWLINE);
    if (lastNewline < 0) {
      pending = Buffer.from(body);
      continue;
    }
    const bytes = body.subarray(0, lastNewline + 1);
    pending = Buffer.from(body.subarray(lastNewline + 1));
    yield { bytes, offset, complete: true };
    offset += bytes.length;
  }

  if (pending.length > 0) yield { bytes: pending, offset, complete: false };
}

/**
 * Standard input as syslog lines: `journalctl -o json` output is converted entry by entry,
 * anything else passes through as it is.
 */
function journalAware(input: Readable): Readable {
  const output = new PassThrough();
  let decided = false;
  const onData = (chunk: Buffer) => {
    if (decided) return;
    decided = true;
    input.off('data', onData);
    input.pause();
    input.unshift(chunk);
    const target = looksLikeJournalJson(chunk) ? input.pipe(new JournalJsonToSyslog()) : input;
    input.on('error', (err) => output.destroy(err));
    target.pipe(output);
  };
  input.on('data', onData);
  input.once('end', () => {
    if (!decided) output.end();
  });
  return output;
}

/** Hash of the first `length` bytes of the (decompressed) source, and how many there were. */
export async function fingerprint(
  source: LogSource,
  length = FINGERPRINT_BYTES,
): Promise<{ hash: string; length: number }> {
  const head = source.gzip
    ? await readGzipHead(source.path, length)
    : await readHead(source.path, length);
  return { hash: createHash('sha256').update(head).digest('hex'), length: head.length };
}

async function readHead(file: string, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function readGzipHead(file: string, length: number): Promise<Buffer> {
  const stream = createReadStream(file).pipe(createGunzip());
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      total += chunk.length;
      if (total >= length) break;
    }
  } catch (err) {
    // A file cut short still has a head when its first bytes decompressed: the read that
    // follows stores its lines and reports the damage.
    if (total === 0 || (err as Error).message !== 'unexpected end of file') {
      throw new AppError('SOURCE_READ_FAILED', {
        path: file,
        offset: 0,
        detail: gzipProblem((err as Error).message),
      });
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, length);
}
