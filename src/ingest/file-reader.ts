import {
  PostfixCorrelator,
  type CorrelatorCounters,
  type PostfixState,
} from '../correlate/postfix.js';
import { TimestampParser } from '../parsers/syslog.js';
import type { LogSource } from '../sources/files.js';
import { readBlocks } from '../sources/reader.js';
import { EventColumnsBuilder, type EventColumns } from './event-columns.js';
import { LineReader, type LineCounts } from './lines.js';

/** Report progress every this many bytes: often enough for a progress bar, rarely enough to cost nothing. */
const PROGRESS_BYTES = 4 * 1024 * 1024;

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
  events: EventColumns;
  byteOffset: number;
  lineCount: number;
  /** Correlator state as JSON; null when the job is not checkpointed. */
  state: string | null;
}

export interface ReadResult {
  counts: LineCounts;
  /** The file's last line has no newline and was left for the next run. */
  lastLineWaiting: boolean;
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
  private events = new EventColumnsBuilder();

  constructor(state: PostfixState | null) {
    this.correlator = new PostfixCorrelator((event) => {
      if (event.kind === 'message') this.events.addMessage(event);
      else this.events.addFailure(event);
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
    let reported = 0;

    let lastLineWaiting = false;
    for await (const block of readBlocks(job.source, job.startOffset)) {
      if (!block.complete && mayStillBeWritten(job)) {
        lastLineWaiting = true;
        break;
      }

      lines.readBlock(block);
      byteOffset = block.offset + block.bytes.length;
      unsaved += block.bytes.length;
      if (byteOffset - reported >= PROGRESS_BYTES) {
        onProgress(byteOffset);
        reported = byteOffset;
      }
      if (unsaved >= job.batchBytes) {
        await onBatch(this.takeBatch(job, byteOffset, lines.counts.lines));
        unsaved = 0;
      }
    }
    await onBatch(this.takeBatch(job, byteOffset, lines.counts.lines));

    return {
      counts: lines.counts,
      lastLineWaiting,
      counters: countersSince(before, this.correlator.counters),
      tlsLoggingServers: [...this.correlator.serversWithTlsLogging],
    };
  }

  private takeBatch(job: ReadJob, byteOffset: number, lineCount: number): ReadBatch {
    return {
      events: this.events.take(),
      byteOffset,
      lineCount,
      state: job.checkpointed ? JSON.stringify(this.correlator.snapshot()) : null,
    };
  }
}

/**
 * Whether a last line without a newline may still be being written. A plain file changed in
 * the last few minutes may be; its last line is then left for the next run, so that it is
 * never read in two halves. Compressed files and standard input are complete.
 */
function mayStillBeWritten(job: ReadJob): boolean {
  if (job.source.gzip || !job.checkpointed) return false;
  return Date.now() - job.source.mtimeMs < QUIET_MS;
}

/** How long a file must be unchanged before its unfinished last line counts as final. */
const QUIET_MS = 5 * 60_000;

function countersSince(before: CorrelatorCounters, now: CorrelatorCounters): CorrelatorCounters {
  const delta = { ...now };
  for (const key of Object.keys(delta) as (keyof CorrelatorCounters)[]) delta[key] -= before[key];
  return delta;
}
