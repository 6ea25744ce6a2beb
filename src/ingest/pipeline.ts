import { PostfixCorrelator, type PostfixState } from '../correlate/postfix.js';
import type { AuthFailure, ReportEvent, SubmittedMessage } from '../events.js';
import { TimestampParser } from '../parsers/syslog.js';
import type { LogSource } from '../sources/files.js';
import { fingerprint, readBlocks, FINGERPRINT_BYTES } from '../sources/reader.js';
import type { DuckDBStore, SourceCheckpoint } from '../store/duckdb/store.js';
import { LineReader, type LineProblem } from './lines.js';

/** Commit a batch after this many bytes, so an interrupted ingest repeats little work. */
export const DEFAULT_BATCH_BYTES = 64 * 1024 * 1024;
const STATE_FORMAT = 'postfix';

export interface IngestOptions {
  timeZone: string;
  year?: number;
  serverName?: string;
  /** Bytes read between two commits (default 64 MiB). */
  batchBytes?: number;
  onProgress?: (source: LogSource, bytesDone: number) => void;
}

/** The per-file ingest summary. */
export interface FileSummary {
  path: string;
  format: 'postfix';
  /** Lines read in this run (lines before a resumed checkpoint are not counted). */
  linesRead: number;
  bytesRead: number;
  messages: number;
  failures: number;
  unsupported: number;
  malformed: number;
  problems: LineProblem[];
  /** Line number where reading resumed, 0 for a new file. */
  resumedAtLine: number;
  alreadyRead: boolean;
  durationMs: number;
  linesPerSecond: number;
}

/**
 * Ingests log files into the store, each from its checkpoint. Files share one correlator,
 * restored from the store, so a session or queue id that spans a rotation is counted once.
 */
export class Ingest {
  private readonly correlator: PostfixCorrelator;
  private messages: SubmittedMessage[] = [];
  private failures: AuthFailure[] = [];
  private runId = 0;

  constructor(
    private readonly store: DuckDBStore,
    private readonly options: IngestOptions,
  ) {
    this.correlator = new PostfixCorrelator((event) => this.collect(event));
  }

  async run(sources: LogSource[]): Promise<FileSummary[]> {
    this.runId = await this.store.startRun();
    const saved = await this.store.loadState(STATE_FORMAT);
    if (saved) this.correlator.restore(JSON.parse(saved) as PostfixState);

    const summaries: FileSummary[] = [];
    for (const source of sources) {
      summaries.push(
        source.path === '-' ? await this.ingestStdin(source) : await this.ingestFile(source),
      );
    }

    await this.store.settleNoTlsLine(this.correlator.serversWithTlsLogging);
    await this.store.finishRun(this.runId);
    return summaries;
  }

  /** Servers whose logs show no TLS line at all: TLS versions stay unknown for them. */
  get serversWithTlsLogging(): ReadonlySet<string> {
    return this.correlator.serversWithTlsLogging;
  }

  get authBackendErrors(): number {
    return this.correlator.counters.authBackendErrors;
  }

  private collect(event: ReportEvent): void {
    if (event.kind === 'message') this.messages.push(event);
    else this.failures.push(event);
  }

  private async ingestFile(source: LogSource): Promise<FileSummary> {
    const started = performance.now();
    const checkpoint = await this.findCheckpoint(source);
    const head = await fingerprint(source);
    const current: SourceCheckpoint = {
      id: checkpoint?.id ?? (await this.store.newSourceId()),
      path: source.path,
      fingerprint: head.hash,
      fingerprintBytes: head.length,
      byteOffset: checkpoint?.byteOffset ?? 0,
      lineCount: checkpoint?.lineCount ?? 0,
    };

    if (!source.gzip && checkpoint && checkpoint.byteOffset >= source.size) {
      return this.summary(source, started, current, { alreadyRead: true });
    }
    return this.readSource(source, started, current, true);
  }

  /** Standard input has no identity to checkpoint: it is read whole, with its own state. */
  private async ingestStdin(source: LogSource): Promise<FileSummary> {
    const started = performance.now();
    const current: SourceCheckpoint = {
      id: await this.store.newSourceId(),
      path: '-',
      fingerprint: '',
      fingerprintBytes: 0,
      byteOffset: 0,
      lineCount: 0,
    };
    return this.readSource(source, started, current, false);
  }

  private async readSource(
    source: LogSource,
    started: number,
    current: SourceCheckpoint,
    checkpointed: boolean,
  ): Promise<FileSummary> {
    const startOffset = current.byteOffset;
    const startLines = current.lineCount;
    const before = { ...this.correlator.counters };
    const timestamps = new TimestampParser({
      timeZone: this.options.timeZone,
      year: this.options.year,
      referenceMs: source.mtimeMs,
    });
    const lines = new LineReader(this.correlator, timestamps, this.options.serverName, startLines);

    let unsaved = 0;
    for await (const block of readBlocks(source, startOffset)) {
      // A plain file's last line without a newline may still be being written: leave it.
      if (!block.complete && !source.gzip && checkpointed) break;

      lines.readBlock(block);
      current.byteOffset = block.offset + block.bytes.length;
      current.lineCount = lines.counts.lines;
      unsaved += block.bytes.length;
      this.options.onProgress?.(source, current.byteOffset);

      if (unsaved >= (this.options.batchBytes ?? DEFAULT_BATCH_BYTES)) {
        await this.flush(current, checkpointed);
        unsaved = 0;
      }
    }
    await this.flush(current, checkpointed);

    return this.summary(source, started, current, {
      alreadyRead: false,
      linesRead: current.lineCount - startLines,
      bytesRead: current.byteOffset - startOffset,
      resumedAtLine: startLines,
      messages: this.correlator.counters.messages - before.messages,
      failures: this.correlator.counters.failures - before.failures,
      unsupported: lines.counts.unsupported,
      malformed: lines.counts.malformed,
      problems: lines.counts.problems,
    });
  }

  private async flush(checkpoint: SourceCheckpoint, checkpointed: boolean): Promise<void> {
    await this.store.writeBatch({
      messages: this.messages,
      failures: this.failures,
      sourceId: checkpoint.id,
      runId: this.runId,
      checkpoint: checkpointed ? { ...checkpoint } : undefined,
      state: checkpointed
        ? { format: STATE_FORMAT, json: JSON.stringify(this.correlator.snapshot()) }
        : undefined,
    });
    this.messages = [];
    this.failures = [];
  }

  /**
   * The checkpoint of a file already read, found by content rather than by path: after
   * rotation `mail.log` becomes `mail.log.1` and then `mail.log.2.gz`, with the same first
   * bytes. Of several matches, the one read furthest wins.
   */
  private async findCheckpoint(source: LogSource): Promise<SourceCheckpoint | undefined> {
    const hashes = new Map<number, string>();
    let best: SourceCheckpoint | undefined;
    for (const checkpoint of await this.store.checkpoints()) {
      if (checkpoint.fingerprintBytes === 0 || checkpoint.fingerprintBytes > FINGERPRINT_BYTES)
        continue;

      let hash = hashes.get(checkpoint.fingerprintBytes);
      if (hash === undefined) {
        const head = await fingerprint(source, checkpoint.fingerprintBytes);
        hash = head.length === checkpoint.fingerprintBytes ? head.hash : '';
        hashes.set(checkpoint.fingerprintBytes, hash);
      }
      if (hash !== checkpoint.fingerprint) continue;
      // A file that shrank below the checkpoint was truncated and rewritten: a new file.
      if (!source.gzip && source.size < checkpoint.byteOffset) continue;
      if (!best || checkpoint.byteOffset > best.byteOffset) best = checkpoint;
    }
    return best;
  }

  private summary(
    source: LogSource,
    started: number,
    current: SourceCheckpoint,
    values: Partial<FileSummary>,
  ): FileSummary {
    const durationMs = performance.now() - started;
    const linesRead = values.linesRead ?? 0;
    return {
      path: source.path,
      format: 'postfix',
      linesRead,
      bytesRead: values.bytesRead ?? 0,
      messages: values.messages ?? 0,
      failures: values.failures ?? 0,
      unsupported: values.unsupported ?? 0,
      malformed: values.malformed ?? 0,
      problems: values.problems ?? [],
      resumedAtLine: values.resumedAtLine ?? current.lineCount,
      alreadyRead: values.alreadyRead ?? false,
      durationMs: Math.round(durationMs),
      linesPerSecond: durationMs > 0 ? Math.round((linesRead * 1000) / durationMs) : 0,
    };
  }
}
