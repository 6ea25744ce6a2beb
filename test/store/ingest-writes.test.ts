import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { CorrelatingReader, type ReadBatch, type ReadJob } from '../../src/ingest/file-reader.js';
import { tempDir } from '../helpers/ingest.js';

const FIXTURE = new URL('../fixtures/postfix/lab-submission.log', import.meta.url).pathname;

/** Write a log of many copies of the lab traffic; its job commits after each 1 MiB slice. */
function bigLogJob(dir: string, copies: number): ReadJob {
  const body = readFileSync(FIXTURE, 'utf8');
  let text = '';
  for (let i = 0; i < copies; i++) {
    text += body.replace(/([0-9A-F]{9,11}):/g, `$1X${i}:`).replace(/\[(\d+)\]:/g, `[$1${i}]:`);
  }
  const file = path.join(dir, `big-${copies}.log`);
  writeFileSync(file, text);
  const { mtimeMs, size } = statSync(file);
  return {
    source: { path: file, gzip: false, mtimeMs, size, device: 0, inode: 0 },
    startOffset: 0,
    startLines: 0,
    checkpointed: true,
    timeZone: 'UTC',
    year: 2026,
    batchBytes: 64 * 1024,
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('batches written while reading goes on', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it('writes batches one at a time in order', async () => {
    const job = bigLogJob(dir, 250);
    const offsets: number[] = [];
    let writing = 0;
    let maxAtOnce = 0;
    let messages = 0;
    const write = async (batch: ReadBatch) => {
      writing++;
      maxAtOnce = Math.max(maxAtOnce, writing);
      await pause(5);
      offsets.push(batch.byteOffset);
      messages += batch.events.messageCount;
      writing--;
    };

    const result = await new CorrelatingReader(null).read(job, write, () => {});
    expect(writing).toBe(0);
    expect(maxAtOnce).toBe(1);
    // 5.5 MB: a 4 MiB block of four slices, one of two, then the batch at the end.
    expect(offsets.length).toBe(7);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets[offsets.length - 1]).toBe(job.source.size);
    expect(messages).toBe(18 * 250);
    expect(result.counts.lines).toBe(176 * 250);
  });

  it('rejects with a failed write after the others end', async () => {
    const job = bigLogJob(dir, 250);
    let calls = 0;
    let finished = 0;
    const write = async () => {
      calls++;
      if (calls === 3) throw new Error('simulated store failure');
      await pause(5);
      finished++;
    };

    await expect(new CorrelatingReader(null).read(job, write, () => {})).rejects.toThrow(
      'simulated store failure',
    );
    const settled = finished;
    await pause(30);
    expect(finished).toBe(settled);
    expect(calls).toBe(3);
  });
});
