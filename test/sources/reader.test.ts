import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, describe, expect, it } from 'vitest';

import { AppError } from '../../src/errors.js';
import type { LogSource } from '../../src/sources/files.js';
import { readBlocks, type LineBlock } from '../../src/sources/reader.js';
import { tempDir } from '../helpers/ingest.js';

const MiB = 1024 * 1024;

function source(file: string, gzip = false): LogSource {
  return { path: file, gzip, mtimeMs: 0, size: 0, device: 0, inode: 0 };
}

/** Collect the blocks of a source, each copied, because the next block may reuse the bytes. */
async function blocksOf(from: LogSource, startOffset = 0) {
  const blocks: Array<Omit<LineBlock, 'bytes'> & { text: string }> = [];
  for await (const block of readBlocks(from, startOffset)) {
    const { offset, complete } = block;
    blocks.push({ offset, complete, text: block.bytes.toString('latin1') });
  }
  return blocks;
}

/** Numbered lines of about 100 bytes, `count` of them. */
function numberedLines(count: number): string {
  let text = '';
  for (let i = 0; i < count; i++)
    text += `line ${String(i).padStart(8, '0')} `.padEnd(99, 'x') + '\n';
  return text;
}

describe('reading blocks of lines', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  const text = numberedLines(120_000); // about 11.4 MiB: three blocks and a bit
  const plain = path.join(dir, 'plain.log');
  writeFileSync(plain, text);

  it('cuts a plain file at line ends and loses no byte', async () => {
    const blocks = await blocksOf(source(plain));
    expect(blocks.length).toBe(3);
    expect(blocks.map((b) => b.text).join('')).toBe(text);
    for (const block of blocks) {
      expect(block.text.endsWith('\n')).toBe(true);
      expect(block.complete).toBe(true);
      expect(text.startsWith(block.text, block.offset)).toBe(true);
    }
  });

  it('starts a plain file at a checkpoint offset', async () => {
    const offset = 100 * 5000;
    const blocks = await blocksOf(source(plain), offset);
    expect(blocks[0].offset).toBe(offset);
    expect(blocks.map((b) => b.text).join('')).toBe(text.slice(offset));
  });

  it('keeps a line longer than a block whole', async () => {
    const long = 'a'.repeat(9 * MiB);
    const file = path.join(dir, 'long.log');
    writeFileSync(file, `first\n${long}\nlast\n`);
    const blocks = await blocksOf(source(file));
    const lines = blocks.flatMap((b) => b.text.split('\n').filter(Boolean));
    expect(lines.map((line) => line.length)).toEqual([5, long.length, 4]);
  });

  it('marks a last line without a newline as incomplete', async () => {
    const file = path.join(dir, 'open.log');
    writeFileSync(file, 'one\ntwo\nthree');
    const blocks = await blocksOf(source(file));
    expect(blocks).toEqual([
      { offset: 0, complete: true, text: 'one\ntwo\n' },
      { offset: 8, complete: false, text: 'three' },
    ]);
  });

  it('reads a gzip file from a checkpoint in the decompressed text', async () => {
    const file = path.join(dir, 'plain.log.gz');
    writeFileSync(file, gzipSync(text));
    const offset = 100 * 70_000;
    const blocks = await blocksOf(source(file, true), offset);
    expect(blocks[0].offset).toBe(offset);
    expect(blocks.map((b) => b.text).join('')).toBe(text.slice(offset));
    expect(blocks.every((b) => b.text.endsWith('\n'))).toBe(true);
  });

  it('reads gzip to the end behind a slow reader', async () => {
    // About 40 MiB: ten times the 4 MiB blocks of the decompressing thread, which must wait
    // for blocks to come back. A 10 ms pause per block lets it fill every free one first.
    const big = numberedLines(420_000);
    const file = path.join(dir, 'big.log.gz');
    writeFileSync(file, gzipSync(big));

    const parts: string[] = [];
    let next = 0;
    for await (const block of readBlocks(source(file, true), 0)) {
      expect(block.offset).toBe(next);
      next += block.bytes.length;
      parts.push(block.bytes.toString('latin1'));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(parts.length).toBeGreaterThan(10);
    expect(parts.join('')).toBe(big);
  });

  it('stops gzip when the reader stops', async () => {
    const file = path.join(dir, 'early.log.gz');
    writeFileSync(file, gzipSync(numberedLines(420_000)));
    let blocks = 0;
    for await (const block of readBlocks(source(file, true), 0)) {
      expect(block.bytes.subarray(0, 14).toString()).toBe('line 00000000 ');
      blocks++;
      break;
    }
    expect(blocks).toBe(1);
  });

  it('reports a truncated gzip file with the bytes read', async () => {
    const file = path.join(dir, 'truncated.log.gz');
    const whole = gzipSync(text);
    writeFileSync(file, whole.subarray(0, whole.length / 2));
    const error = await blocksOf(source(file, true)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('SOURCE_READ_FAILED');
    expect((error as AppError).details.offset).toBeGreaterThan(0);
  });
});
