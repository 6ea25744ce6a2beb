import { Worker } from 'node:worker_threads';

/**
 * Decompress a gzip file in a worker thread and hand out its bytes in blocks of at most
 * 4 MiB. A zlib stream on the main thread inflates one chunk per turn of the event loop, and
 * the parser gives it a turn only between slices of lines, so the two took turns instead of
 * running side by side. On the 10M-line benchmark log the parser waited about 1.4 s. In
 * its own thread zlib runs ahead, up to SLOTS blocks.
 *
 * The blocks are slots of one shared buffer, handed back and forth by number. Moving each
 * block's buffer back to the worker instead (a transfer) cost the parser about 1 s more CPU
 * time on that log, most likely because V8 then checks every typed-array read for a
 * detached buffer.
 */
export async function* gunzipBlocks(file: string): AsyncGenerator<Buffer> {
  const shared = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
  const worker = new Worker(GUNZIP_WORKER, {
    eval: true,
    workerData: { file, shared, slots: SLOTS, slotBytes: SLOT_BYTES },
  });
  const inbox = new Inbox(worker);

  try {
    for (;;) {
      const message = await inbox.next();
      if (message === null) return;
      yield Buffer.from(shared, message.slot * SLOT_BYTES, message.length);
      // The reader is done with the block, so the slot can be filled again.
      worker.postMessage(message.slot);
    }
  } finally {
    await worker.terminate();
  }
}

/** Blocks the worker may fill before the reader takes them: how far zlib may run ahead. */
const SLOTS = 4;
const SLOT_BYTES = 4 * 1024 * 1024;

/** A message from the worker: a filled slot, the end, or the error that ended the stream. */
type FromWorker = { slot: number; length: number } | { end: true } | { error: string };

/** The worker's messages in order, waited for one at a time. */
class Inbox {
  private readonly messages: FromWorker[] = [];
  private wake: (() => void) | null = null;

  constructor(worker: Worker) {
    const add = (message: FromWorker) => {
      this.messages.push(message);
      this.wake?.();
    };
    worker.on('message', add);
    worker.on('error', (err: Error) => add({ error: err.message }));
  }

  /** Return the next filled slot, or null at the end. Throws the error that stopped the worker. */
  async next(): Promise<{ slot: number; length: number } | null> {
    while (this.messages.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;

    const message = this.messages.shift()!;
    if ('error' in message) throw new Error(message.error);
    if ('end' in message) return null;
    return message;
  }
}

/**
 * The worker's code, given as text so that the same code runs from the TypeScript sources
 * and from the build. zlib reuses its output buffer for the chunks that follow, so each
 * chunk is copied into a free slot. The reader hands the slot's number back when it is done
 * with it. The bytes already in a slot go out before an error, so that the lines before a
 * truncated end are read.
 */
const GUNZIP_WORKER = `
const { createReadStream } = require('node:fs');
const { createGunzip } = require('node:zlib');
const { parentPort, workerData } = require('node:worker_threads');
const { file, shared, slots, slotBytes } = workerData;

const raw = createReadStream(file, { highWaterMark: 256 * 1024 });
const gunzip = createGunzip({ chunkSize: 1024 * 1024 });
raw.on('error', (err) => gunzip.destroy(err));
raw.pipe(gunzip);

const free = [];
for (let slot = slots - 1; slot >= 0; slot--) free.push(slot);
let slot = free.pop();
let block = Buffer.from(shared, slot * slotBytes, slotBytes);
let filled = 0;
// The part of a chunk that found no free slot, and the message to send once it is copied.
let waiting = null;
let last = null;
let closed = false;

function take(chunk) {
  let at = 0;
  while (at < chunk.length) {
    if (slot === undefined) {
      waiting = chunk.subarray(at);
      gunzip.pause();
      return;
    }
    const copied = chunk.copy(block, filled, at);
    filled += copied;
    at += copied;
    if (filled === slotBytes) send();
  }
  waiting = null;
}

function send() {
  if (filled === 0) return;
  parentPort.postMessage({ slot, length: filled });
  filled = 0;
  slot = free.pop();
  if (slot !== undefined) block = Buffer.from(shared, slot * slotBytes, slotBytes);
}

function close(message) {
  last ??= message;
  if (waiting !== null || closed) return;
  closed = true;
  send();
  parentPort.postMessage(last);
}

gunzip.on('data', take);
gunzip.on('end', () => close({ end: true }));
gunzip.on('error', (err) => close({ error: err.message }));
parentPort.on('message', (returned) => {
  free.push(returned);
  if (slot === undefined) {
    slot = free.pop();
    block = Buffer.from(shared, slot * slotBytes, slotBytes);
  }
  if (waiting !== null) take(waiting);
  if (waiting !== null) return;
  if (last !== null) close(last);
  else gunzip.resume();
});
`;
