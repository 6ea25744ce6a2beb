/**
 * Worker thread that reads and correlates log files while the main thread writes the
 * previous batch to DuckDB: on two cores, parsing and storing overlap.
 *
 * Protocol: the main thread sends `{ type: 'read', job }` per file and `{ type: 'ack' }`
 * after storing each batch. The worker sends `progress`, `batch`, and `done` or `error`.
 * It runs at most one batch ahead of the store, so memory stays bounded.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type { PostfixState } from '../correlate/postfix.js';
import { transferList } from './event-columns.js';
import { CorrelatingReader, type ReadBatch, type ReadJob } from './file-reader.js';

export type ToWorker = { type: 'read'; job: ReadJob } | { type: 'ack' };
export type FromWorker =
  | { type: 'progress'; bytesDone: number }
  | { type: 'batch'; batch: ReadBatch }
  | { type: 'done'; result: Awaited<ReturnType<CorrelatingReader['read']>> }
  | { type: 'error'; message: string; code?: string; details?: Record<string, string | number> };

const port = parentPort;
if (!port) throw new Error('parse-worker must run in a worker thread');

const reader = new CorrelatingReader((workerData as { state: PostfixState | null }).state);
let acknowledged: (() => void) | null = null;
let unacknowledged: Promise<void> = Promise.resolve();

function send(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

/** Send a batch, after the store has taken the one before it. */
async function sendBatch(batch: ReadBatch): Promise<void> {
  await unacknowledged;
  unacknowledged = new Promise((resolve) => (acknowledged = resolve));
  send({ type: 'batch', batch }, transferList(batch.events));
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'ack') {
    acknowledged?.();
    return;
  }

  reader
    .read(message.job, sendBatch, (bytesDone) => send({ type: 'progress', bytesDone }))
    .then(async (result) => {
      await unacknowledged;
      send({ type: 'done', result });
    })
    .catch((err: Error & { code?: string; details?: Record<string, string | number> }) =>
      send({ type: 'error', message: err.message, code: err.code, details: err.details }),
    );
});
