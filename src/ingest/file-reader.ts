import { hostname } from 'node:os';

import {
  PostfixCorrelator,
  type CorrelatorCounters,
  type PostfixState,
} from '../correlate/postfix.js';
import { AppError } from '../errors.js';
import type { ReportEvent } from '../events.js';
import type { LogFormat } from '../formats/correlator.js';
import {
  detectFileFormat,
  fileFormatNamed,
  SyslogReaders,
  type FileFormat,
  type FileReader,
} from '../formats/registry.js';
import { TimestampParser } from '../parsers/syslog.js';
import type { LogSource } from '../sources/files.js';
import { readBlocks, type LineBlock } from '../sources/reader.js';
import { ColumnsCollector, type EventCollector } from './collectors.js';
import type { EventColumns } from './event-columns.js';
import { FileFormatLines, firstLines } from './format-lines.js';
import { LineReader, type LineCounts } from './lines.js';

/** Report progress every this many bytes: often enough for a progress bar, rarely enough to cost nothing. */
const PROGRESS_BYTES = 4 * 1024 * 1024;

/** A source to read from a checkpoint, with the settings for reading it. */
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
  /** The format named with `--log-format`; detected from the first lines when absent. */
  logFormat?: LogFormat;
  /** Stops the reading at the next line end once aborted; what was read is stored. */
  signal?: AbortSignal;
}

/**
 * Events of a stretch of lines, with the checkpoint and correlator state after them. The
 * events have the form of the reader's collector: columns for DuckDB by default.
 */
export interface ReadBatch<E = EventColumns> {
  events: E;
  messageCount: number;
  failureCount: number;
  byteOffset: number;
  lineCount: number;
  /** Correlator state as JSON; null when the job is not checkpointed. */
  state: string | null;
  /** State of the readers of other formats as JSON; null when not checkpointed. */
  otherState: string | null;
}

/** Saved state of the readers of formats other than Postfix, keyed by format. */
export interface OtherFormatsState {
  syslog: Record<string, unknown>;
  files: Record<string, unknown>;
}

export interface ReadResult {
  counts: LineCounts;
  /** The file's last line has no newline and was left for the next run. */
  lastLineWaiting: boolean;
  /** Correlator counts for this job alone. */
  counters: CorrelatorCounters;
  tlsLoggingServers: string[];
  /** The formats the file was read as: one file format, or the syslog formats seen. */
  formats: LogFormat[];
  /** The error that ended the reading early (a truncated .gz), after the lines before were stored. */
  error: AppError | null;
}

/**
 * Reads sources line by line into a correlator and hands out batches of events. One
 * reader serves all files of a run, so a session or queue id that spans a rotation is
 * counted once.
 */
export class CorrelatingReader<E = EventColumns> {
  private readonly correlator: PostfixCorrelator;
  private readonly collector: EventCollector<E>;
  private syslogReaders: SyslogReaders | null = null;
  private readonly fileReaders = new Map<LogFormat, FileReader>();
  /** The lines of the job being read, which know the offset of the current line. */
  private lines: FormatSwitch | null = null;

  /** `collector` defaults to columns for DuckDB; E must then be EventColumns. */
  constructor(
    state: PostfixState | null,
    private readonly otherState: OtherFormatsState | null = null,
    collector?: EventCollector<E>,
  ) {
    this.collector = collector ?? (new ColumnsCollector() as unknown as EventCollector<E>);
    this.correlator = new PostfixCorrelator((event) => this.add(event));
    if (state) this.correlator.restore(state);
  }

  private add(event: ReportEvent): void {
    this.collector.add(event, this.lineOffset);
  }

  /** Returns the byte offset of the line being read: the line that completed an event. */
  private readonly lineOffset = (): number => this.lines?.lineOffset() ?? 0;

  /** Return the readers of Sendmail, OpenSMTPD and Dovecot lines, made when a job first needs them. */
  private syslogReadersFor(job: ReadJob): SyslogReaders {
    if (this.syslogReaders === null) {
      const options = this.readerOptions(job);
      const only = job.logFormat === 'postfix' ? undefined : job.logFormat;
      this.syslogReaders = new SyslogReaders(options, only);
      if (this.otherState) this.syslogReaders.restore(this.otherState.syslog);
    }
    return this.syslogReaders;
  }

  /** Return the reader of a file format: one per format and run, so rotated files share state. */
  private fileReaderFor(job: ReadJob, format: LogFormat): FileReader | null {
    let reader = this.fileReaders.get(format);
    if (reader === undefined) {
      const entry = fileFormatNamed(format);
      if (entry === null) return null;
      reader = entry.create({
        ...this.readerOptions(job),
        year: job.year,
        referenceMs: job.source.mtimeMs,
      });
      const saved = this.otherState?.files[format];
      if (saved !== undefined) reader.restore(saved);
      this.fileReaders.set(format, reader);
    }
    return reader;
  }

  private readerOptions(job: ReadJob) {
    return {
      emit: (event: ReportEvent) => this.add(event),
      timeZone: job.timeZone,
      // The Exim main log and Exchange logs name no server.
      serverName: job.serverName ?? hostname(),
    };
  }

  async read(
    job: ReadJob,
    onBatch: (batch: ReadBatch<E>) => Promise<void>,
    onProgress: (bytesDone: number) => void,
  ): Promise<ReadResult> {
    const timestamps = new TimestampParser({
      timeZone: job.timeZone,
      year: job.year,
      referenceMs: job.source.mtimeMs,
    });
    const lines = new FormatSwitch(job, (bytes) => this.linesFor(job, timestamps, bytes));
    this.lines = lines;
    const before = { ...this.correlator.counters };
    const run = new JobRun(job, lines, new BatchWriter(onBatch), onProgress, (byteOffset, final) =>
      this.takeBatch(job, byteOffset, lines.counts.lines, final),
    );

    let lastLineWaiting = false;
    let error: AppError | null = null;
    try {
      lastLineWaiting = await run.readAll();
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'SOURCE_READ_FAILED') throw err;
      error = err;
    }
    return {
      error,
      counts: lines.counts,
      lastLineWaiting,
      counters: countersSince(before, this.correlator.counters),
      tlsLoggingServers: [...this.correlator.serversWithTlsLogging],
      formats: lines.formats(),
    };
  }

  /** Choose the lines reader for a job from its first lines: a file format's, or the syslog one. */
  private linesFor(job: ReadJob, timestamps: TimestampParser, head: Buffer): LinesSink {
    const format = chosenFileFormat(job.logFormat, firstLines(head));
    const fileReader = format === null ? null : this.fileReaderFor(job, format.format);
    if (format !== null && fileReader !== null) {
      const lines = new FileFormatLines(fileReader, job.startLines);
      return Object.assign(lines, { formats: () => [format.format] });
    }

    const others = this.syslogReadersFor(job);
    const lines = new LineReader(
      this.correlator,
      timestamps,
      job.serverName,
      job.startLines,
      others,
    );
    return Object.assign(lines, {
      formats: (): LogFormat[] => [
        ...(lines.sawPostfix || lines.otherFormats.size === 0 ? (['postfix'] as const) : []),
        ...lines.otherFormats,
      ],
    });
  }

  private takeBatch(
    job: ReadJob,
    byteOffset: number,
    lineCount: number,
    final: boolean,
  ): ReadBatch<E> {
    // Standard input keeps no state, so what waits for later lines is emitted at its end.
    if (final && !job.checkpointed)
      for (const reader of this.fileReaders.values()) reader.finish?.();
    return {
      ...this.collector.take(),
      byteOffset,
      lineCount,
      state: job.checkpointed ? JSON.stringify(this.correlator.snapshot()) : null,
      otherState: job.checkpointed ? this.otherSnapshot() : null,
    };
  }

  /**
   * Serialise the saved state of the other formats' readers, updated with those this run made. Null
   * while no such reader exists, so that the state of an earlier run is kept as it was.
   */
  private otherSnapshot(): string | null {
    if (this.syslogReaders === null && this.fileReaders.size === 0) return null;

    const state: OtherFormatsState = {
      syslog: { ...this.otherState?.syslog },
      files: { ...this.otherState?.files },
    };
    if (this.syslogReaders) Object.assign(state.syslog, this.syslogReaders.snapshot());
    for (const [format, reader] of this.fileReaders) state.files[format] = reader.snapshot();
    return JSON.stringify(state);
  }
}

/**
 * Pick the file format to read a file as, or null for syslog. Dovecot writes both syslog lines
 * and files of its own, so `--log-format dovecot` still looks at the lines to tell them apart.
 */
function chosenFileFormat(forced: LogFormat | undefined, head: string[]): FileFormat | null {
  if (forced === undefined) return detectFileFormat(head);
  const entry = fileFormatNamed(forced);
  if (entry === null || (forced === 'dovecot' && !entry.sniff(head))) return null;
  return entry;
}

/** The receiver of the lines that JobRun reads. */
interface LinesSink {
  readonly counts: LineCounts;
  /** Index in the current bytes of the line being read. */
  readonly lineStart: number;
  readLines(bytes: Buffer, start: number, end: number): void;
  formats(): LogFormat[];
}

/**
 * Picks the lines reader when the first bytes arrive, because format detection reads the
 * first lines of the file (or, on resumption, the first lines after the checkpoint).
 */
class FormatSwitch implements LinesSink {
  /** Offset in the file of the bytes being read. */
  blockOffset = 0;
  private chosen: LinesSink | null = null;

  constructor(
    private readonly job: ReadJob,
    private readonly choose: (head: Buffer) => LinesSink,
  ) {}

  get counts(): LineCounts {
    return (
      this.chosen?.counts ?? {
        lines: this.job.startLines,
        unsupported: 0,
        malformed: 0,
        problems: [],
      }
    );
  }

  get lineStart(): number {
    return this.chosen?.lineStart ?? 0;
  }

  /** Returns the offset in the file of the line being read. */
  lineOffset(): number {
    return this.blockOffset + this.lineStart;
  }

  readLines(bytes: Buffer, start: number, end: number): void {
    this.chosen ??= this.choose(bytes.subarray(start, end));
    this.chosen.readLines(bytes, start, end);
  }

  formats(): LogFormat[] {
    return this.chosen?.formats() ?? [];
  }
}

/** Bytes of lines read between two turns of the event loop. */
const SLICE_BYTES = 1024 * 1024;
const NEWLINE = 10;

/**
 * One job being read. Its lines go to the line reader in slices of about 1 MiB, and after
 * each slice either a batch goes to the store (so batches are at least a slice) or the
 * event loop gets a turn. In that turn a store query that finished on another thread starts
 * the next one, and a server in the same process handles requests.
 */
class JobRun<E> {
  byteOffset: number;
  private unsaved = 0;
  private reported = 0;

  constructor(
    private readonly job: ReadJob,
    private readonly lines: FormatSwitch,
    private readonly writer: BatchWriter<E>,
    private readonly onProgress: (bytesDone: number) => void,
    private readonly takeBatch: (byteOffset: number, final: boolean) => ReadBatch<E>,
  ) {
    this.byteOffset = job.startOffset;
  }

  /** Read the job to its end; true when its last line was left because it may be unfinished. */
  async readAll(): Promise<boolean> {
    try {
      for await (const block of readBlocks(this.job.source, this.job.startOffset)) {
        if (!block.complete && mayStillBeWritten(this.job)) {
          await this.writer.add(this.takeBatch(this.byteOffset, true));
          await this.writer.finish();
          return true;
        }
        if (await this.readBlock(block)) break;
      }
      await this.writer.add(this.takeBatch(this.byteOffset, true));
      await this.writer.finish();
      return false;
    } catch (err) {
      await this.storeReadPart(err);
      throw err;
    } finally {
      // No write may outlive the read: the next file's queries share the store's connection.
      await this.writer.idle();
    }
  }

  /**
   * Store the events of the lines read before a read error (a truncated .gz) with their
   * checkpoint, so that they count once and belong to this file, not to the next one.
   */
  private async storeReadPart(err: unknown): Promise<void> {
    if ((err as { code?: string }).code !== 'SOURCE_READ_FAILED') return;
    await this.writer.add(this.takeBatch(this.byteOffset, false));
    await this.writer.finish();
  }

  /** Read a block slice by slice; true when the job's signal stopped it at a slice end. */
  private async readBlock(block: LineBlock): Promise<boolean> {
    const { bytes } = block;
    this.lines.blockOffset = block.offset;
    let start = 0;
    while (start < bytes.length) {
      const end = this.sliceEnd(bytes, start);
      this.lines.readLines(bytes, start, end);
      this.byteOffset = block.offset + end;
      this.unsaved += end - start;
      start = end;

      this.reportProgress();
      if (this.unsaved >= this.job.batchBytes) {
        this.unsaved = 0;
        await this.writer.add(this.takeBatch(this.byteOffset, false));
      } else {
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (this.job.signal?.aborted) return true;
    }
    return false;
  }

  /** Find where the slice from `start` ends: after the first newline past SLICE_BYTES. */
  private sliceEnd(bytes: Buffer, start: number): number {
    if (start + SLICE_BYTES >= bytes.length) return bytes.length;
    const newline = bytes.indexOf(NEWLINE, start + SLICE_BYTES - 1);
    return newline < 0 ? bytes.length : newline + 1;
  }

  private reportProgress(): void {
    if (this.byteOffset - this.reported < PROGRESS_BYTES) return;
    this.onProgress(this.byteOffset);
    this.reported = this.byteOffset;
  }
}

/**
 * Batches that may wait to be stored while reading goes on. A write that ends with one of
 * DuckDB's checkpoints takes a few times as long as the others, and the queue lets parsing
 * go on meanwhile. With room for one batch, parsing waited 0.6 s in all on the 10M-line
 * benchmark log. Each waiting batch costs its events and the correlator state in memory.
 */
const MAX_QUEUED_BATCHES = 3;

/**
 * Stores batches one at a time, in order, while reading goes on, so that parsing and DuckDB
 * (which runs its queries on libuv's thread pool) use two cores.
 */
class BatchWriter<E> {
  private last: Promise<void> = Promise.resolve();
  private readonly queue: Promise<void>[] = [];
  private failed = false;
  private error: unknown;

  constructor(private readonly onBatch: (batch: ReadBatch<E>) => Promise<void>) {}

  /** Queue `batch` to be stored after the batches before it; throws if one of them failed. */
  async add(batch: ReadBatch<E>): Promise<void> {
    if (this.queue.length >= MAX_QUEUED_BATCHES) await this.queue.shift();
    if (this.failed) throw this.error;

    // After a failed write the chain stays rejected, so no later batch is stored.
    const write = this.last.then(() => this.onBatch(batch));
    write.catch((err: unknown) => {
      if (this.failed) return;
      this.failed = true;
      this.error = err;
    });
    this.queue.push(write);
    this.last = write;
  }

  /** Wait for the last write; throws if a write failed. */
  finish(): Promise<void> {
    return this.last;
  }

  /** Wait for the last write, failed or not. */
  async idle(): Promise<void> {
    await this.last.catch(() => undefined);
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
