import {
  PostfixCorrelator,
  type CorrelatorCounters,
  type PostfixState,
} from '../correlate/postfix.js';
import type { AuthFailure, SubmittedMessage } from '../events.js';
import { TimestampParser } from '../parsers/syslog.js';
import type { LogSource } from '../sources/files.js';
import { readBlocks } from '../sources/reader.js';
import { LineReader, type LineCounts } from './lines.js';

/** What to read: one source from a checkpoint. Plain data, so it can go to a worker. */
export interface ReadJob {
  source: LogSource;
  startOffset: number;
  startLines: number;
  /** False for standard input, which has no checkpoint and no saved state. */
  checkpointed: boolean;
  timeZone: string;
  year?: number;
  serverName?: string;
  batchBytes: number;
}

/** Events of a stretch of lines, with the checkpoint and correlator state after them. */
export interface ReadBatch {
  messages: SubmittedMessage[];
  failures: AuthFailure[];
  byteOffset: number;
  lineCount: number;
  /** Correlator state as JSON; null when the job is not checkpointed. */
  state: string | null;
}

export interface ReadResult {
  counts: LineCounts;
  /** Correlator counts for this job alone. */
  counters: CorrelatorCounters;
  tlsLoggingServers: string[];
}

/**
 * Reads sources line by line into a correlator and hands out batches of events. One
 * reader serves all files of a run, so a session or queue id that spans a rotation is
 * counted once.
 */
export class CorrelatingReader {
  private readonly correlator: PostfixCorrelator;
  private messages: SubmittedMessage[] = [];
  private failures: AuthFailure[] = [];

  constructor(state: PostfixState | null) {
    this.correlator = new PostfixCorrelator((event) => {
      if (event.kind === 'message') this.messages.push(event);
      else this.failures.push(event);
    });
    if (state) this.correlator.restore(state);
  }

  async read(
    job: ReadJob,
    onBatch: (batch: ReadBatch) => Promise<void>,
    onProgress: (bytesDone: number) => void,
  ): Promise<ReadResult> {
    const timestamps = new TimestampParser({
      timeZone: job.timeZone,
      year: job.year,
      referenceMs: job.source.mtimeMs,
    });
    const lines = new LineReader(this.correlator, timestamps, job.serverName, job.startLines);
    const before = { ...this.correlator.counters };
    let byteOffset = job.startOffset;
    let unsaved = 0;

    for await (const block of readBlocks(job.source, job.startOffset)) {
      // A plain file's last line without a newline may still be being written: leave it.
      if (!block.complete && !job.source.gzip && job.checkpointed) break;

      lines.readBlock(block);
      byteOffset = block.offset + block.bytes.length;
      unsaved += block.bytes.length;
      onProgress(byteOffset);
      if (unsaved >= job.batchBytes) {
        await onBatch(this.takeBatch(job, byteOffset, lines.counts.lines));
        unsaved = 0;
      }
    }
    await onBatch(this.takeBatch(job, byteOffset, lines.counts.lines));

    return {
      counts: lines.counts,
      counters: countersSince(before, this.correlator.counters),
      tlsLoggingServers: [...this.correlator.serversWithTlsLogging],
    };
  }

  private takeBatch(job: ReadJob, byteOffset: number, lineCount: number): ReadBatch {
    const batch: ReadBatch = {
      messages: this.messages,
      failures: this.failures,
      byteOffset,
      lineCount,
      state: job.checkpointed ? JSON.stringify(this.correlator.snapshot()) : null,
    };
    this.messages = [];
    this.failures = [];
    return batch;
  }
}

function countersSince(before: CorrelatorCounters, now: CorrelatorCounters): CorrelatorCounters {
  const delta = { ...now };
  for (const key of Object.keys(delta) as (keyof CorrelatorCounters)[]) delta[key] -= before[key];
  return delta;
}
