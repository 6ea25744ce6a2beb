import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { AppError } from '../errors.js';
import type { LogSource } from './files.js';

/** Bytes read per block: large enough that per-block overhead disappears, small for memory. */
const BLOCK_BYTES = 4 * 1024 * 1024;

/** How many leading bytes identify a file, so a rotated or compressed copy is recognised. */
export const FINGERPRINT_BYTES = 4096;

/**
 * A run of complete lines. `text` is the same bytes decoded as latin1, so a character index
 * in `text` is a byte offset in `bytes`; fields with non-ASCII text are decoded again as UTF-8.
 */
export interface LineBlock {
  bytes: Buffer;
  text: string;
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
  const stream = openStream(source, startOffset);
  let pending: Buffer = Buffer.alloc(0);
  let skip = source.gzip ? startOffset : 0;
  let offset = startOffset;

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
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
        const firstNewline = data.indexOf(10);
        if (firstNewline < 0) {
          pending = Buffer.concat([pending, data]);
          continue;
        }
        const joined = Buffer.concat([pending, data.subarray(0, firstNewline + 1)]);
        pending = Buffer.alloc(0);
        yield { bytes: joined, text: joined.toString('latin1'), offset, complete: true };
        offset += joined.length;
        body = data.subarray(firstNewline + 1);
      }

      const lastNewline = body.lastIndexOf(10);
      if (lastNewline < 0) {
        pending = Buffer.from(body);
        continue;
      }
      const bytes = body.subarray(0, lastNewline + 1);
      pending = Buffer.from(body.subarray(lastNewline + 1));
      yield { bytes, text: bytes.toString('latin1'), offset, complete: true };
      offset += bytes.length;
    }
  } catch (err) {
    throw new AppError(
      'SOURCE_READ_FAILED',
      { path: source.path, offset, detail: (err as Error).message },
      { cause: err },
    );
  }

  // A last line without a newline is still a line: logs cut by a crash end like this.
  if (pending.length > 0) {
    yield { bytes: pending, text: pending.toString('latin1'), offset, complete: false };
  }
}

function openStream(source: LogSource, startOffset: number): Readable {
  if (source.path === '-') return process.stdin;

  if (source.gzip) {
    // zlib runs in libuv's thread pool, so decompression overlaps with parsing.
    const raw = createReadStream(source.path, { highWaterMark: BLOCK_BYTES });
    const gunzip = createGunzip({ chunkSize: BLOCK_BYTES });
    raw.on('error', (err) => gunzip.destroy(err));
    return raw.pipe(gunzip);
  }

  return createReadStream(source.path, { start: startOffset, highWaterMark: BLOCK_BYTES });
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
    throw new AppError('SOURCE_READ_FAILED', {
      path: file,
      offset: 0,
      detail: (err as Error).message,
    });
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, length);
}
