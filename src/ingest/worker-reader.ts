import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import type { PostfixState } from '../correlate/postfix.js';
import { AppError, type ErrorCode } from '../errors.js';
import { CorrelatingReader, type ReadBatch, type ReadJob, type ReadResult } from './file-reader.js';
import type { FromWorker, ToWorker } from './parse-worker.js';

/** Reads a job and hands out its batches: in a worker thread, or in this one. */
export interface JobReader {
  read(
    job: ReadJob,
    onBatch: (batch: ReadBatch) => Promise<void>,
    onProgress: (bytesDone: number) => void,
  ): Promise<ReadResult>;
  close(): Promise<void>;
}

const WORKER_FILE = new URL('./parse-worker.js', import.meta.url);

/**
 * A reader in a worker thread when the compiled worker exists (the installed CLI), else in
 * this thread (tests that run the TypeScript sources directly). Standard input belongs to
 * the main thread, so it is always read here.
 */
export function createJobReader(
  state: PostfixState | null,
  options: { stdin?: boolean } = {},
): JobReader {
  if (options.stdin || !existsSync(fileURLToPath(WORKER_FILE))) return inThread(state);
  return new WorkerReader(state);
}

function inThread(state: PostfixState | null): JobReader {
  const reader = new CorrelatingReader(state);
  return {
    read: (job, onBatch, onProgress) => reader.read(job, onBatch, onProgress),
    close: async () => {},
  };
}

class WorkerReader implements JobReader {
  private readonly worker: Worker;

  constructor(state: PostfixState | null) {
    this.worker = new Worker(WORKER_FILE, { workerData: { state } });
  }

  read(
    job: ReadJob,
    onBatch: (batch: ReadBatch) => Promise<void>,
    onProgress: (bytesDone: number) => void,
  ): Promise<ReadResult> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        cleanup();
        reject(err);
      };
      const onMessage = (message: FromWorker) => {
        switch (message.type) {
          case 'progress':
            onProgress(message.bytesDone);
            break;
          case 'batch':
            onBatch(message.batch).then(() => this.send({ type: 'ack' }), fail);
            break;
          case 'done':
            cleanup();
            resolve(message.result);
            break;
          case 'error':
            fail(workerError(message));
            break;
        }
      };
      const onExit = (code: number) => fail(new Error(`the parse worker exited with code ${code}`));
      const cleanup = () => {
        this.worker.off('message', onMessage);
        this.worker.off('error', fail);
        this.worker.off('exit', onExit);
      };

      this.worker.on('message', onMessage);
      this.worker.on('error', fail);
      this.worker.on('exit', onExit);
      this.send({ type: 'read', job });
    });
  }

  private send(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Rebuild an AppError thrown in the worker, so its message and code reach the user. */
function workerError(message: Extract<FromWorker, { type: 'error' }>): Error {
  if (message.code && message.details) {
    return new AppError(message.code as ErrorCode, message.details);
  }
  return new Error(message.message);
}
