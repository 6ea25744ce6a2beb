import type { PostfixState } from '../correlate/postfix.js';
import { AppError } from '../errors.js';
import type { LogSource } from '../sources/files.js';
import { fingerprint, FINGERPRINT_BYTES } from '../sources/reader.js';
import type { DuckDBStore, SourceCheckpoint } from '../store/duckdb/store.js';
import type { LogFormat } from '../formats/correlator.js';
import {
  CorrelatingReader,
  type OtherFormatsState,
  type ReadBatch,
  type ReadJob,
} from './file-reader.js';
import type { LineProblem } from './lines.js';
import { targetOf, type AnyTarget, type IngestTarget } from './targets.js';

/** Commit a batch after this many bytes, so an interrupted ingest repeats little work. */
export const DEFAULT_BATCH_BYTES = 64 * 1024 * 1024;
const STATE_FORMAT = 'postfix';
/** The state of the readers of all other formats, saved as one row. */
const OTHER_STATE_FORMAT = 'others';

export interface IngestOptions {
  timeZone: string;
  year?: number;
  serverName?: string;
  /** Bytes read between two commits (default 64 MiB). */
  batchBytes?: number;
  /** Read every file as this format (`--log-format`) instead of detecting it. */
  logFormat?: LogFormat;
  onProgress?: (source: LogSource, bytesDone: number) => void;
  /**
   * Stops the ingest at the next line end once aborted: the lines read so far are stored
   * with their checkpoint, and the files not yet begun are skipped.
   */
  signal?: AbortSignal;
}

/** The per-file ingest summary. */
export interface FileSummary {
  path: string;
  /** The formats the file was read as, such as `postfix`, `postfix+dovecot` or `exim`. */
  format: string;
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
  /** The last line has no newline yet; it is read once it is complete. */
  lastLineWaiting: boolean;
  /** Why the file could not be read to its end; the lines before were stored. */
  error: string | null;
  durationMs: number;
  linesPerSecond: number;
}

/**
 * Ingests log files into the store, each from its checkpoint. Files share one correlator,
 * restored from the store, so a session or queue id that spans a rotation is counted once.
 * This thread reads and correlates while DuckDB stores the previous batch on a thread of
 * libuv's pool (see CorrelatingReader). The store is a DuckDB store, or the target of a
 * ClickHouse writer (ClickHouseTarget).
 */
export class Ingest {
  private runId = 0;
  private tlsLogging = new Set<string>();
  private backendErrors = 0;
  private readonly store: IngestTarget<unknown>;

  constructor(
    store: DuckDBStore | AnyTarget,
    private readonly options: IngestOptions,
  ) {
    this.store = targetOf(store);
  }

  async run(sources: LogSource[]): Promise<FileSummary[]> {
    this.runId = await this.store.startRun();
    const saved = await this.store.loadState(STATE_FORMAT);
    const state = saved ? (JSON.parse(saved) as PostfixState) : null;
    this.tlsLogging = new Set(state ? tlsLoggingOf(state) : []);

    const files = sources.filter((source) => source.path !== '-');
    const stdin = sources.filter((source) => source.path === '-');
    const summaries: FileSummary[] = [];

    const savedOthers = await this.store.loadState(OTHER_STATE_FORMAT);
    const others = savedOthers ? (JSON.parse(savedOthers) as OtherFormatsState) : null;
    const reader = this.newReader(state, others);
    await this.store.setIngestThreads(true);
    try {
      for (const source of files) {
        if (this.options.signal?.aborted) break;
        summaries.push(await this.ingestOrReport(reader, source));
      }

      // Standard input has no checkpoint, so it gets a correlator of its own and saves none.
      for (const source of stdin) {
        summaries.push(await this.ingestStdin(this.newReader(null, null), source));
      }
    } finally {
      await this.store.setIngestThreads(false);
    }

    await this.store.settleNoTlsLine(this.tlsLogging);
    await this.store.finishRun(this.runId);
    return summaries;
  }

  private newReader(
    state: PostfixState | null,
    others: OtherFormatsState | null,
  ): CorrelatingReader<unknown> {
    return new CorrelatingReader(state, others, this.store.newCollector());
  }

  /** Servers whose logs show TLS lines; TLS versions stay unknown for the others. */
  get serversWithTlsLogging(): ReadonlySet<string> {
    return this.tlsLogging;
  }

  get authBackendErrors(): number {
    return this.backendErrors;
  }

  /**
   * Ingest one file; a file that fails part-way (a truncated .gz) is reported in its
   * summary, and the other files are still read.
   */
  private async ingestOrReport(
    reader: CorrelatingReader<unknown>,
    source: LogSource,
  ): Promise<FileSummary> {
    const started = performance.now();
    try {
      return await this.ingestFile(reader, source);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'SOURCE_READ_FAILED') throw err;
      const failed: SourceCheckpoint = {
        id: 0,
        path: source.path,
        fingerprint: '',
        fingerprintBytes: 0,
        byteOffset: 0,
        lineCount: 0,
      };
      return this.summary(source, started, failed, { error: err.message });
    }
  }

  private async ingestFile(
    reader: CorrelatingReader<unknown>,
    source: LogSource,
  ): Promise<FileSummary> {
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
    return this.readSource(reader, source, started, current, true);
  }

  private async ingestStdin(
    reader: CorrelatingReader<unknown>,
    source: LogSource,
  ): Promise<FileSummary> {
    const started = performance.now();
    const current: SourceCheckpoint = {
      id: await this.store.newSourceId(),
      path: '-',
      fingerprint: '',
      fingerprintBytes: 0,
      byteOffset: 0,
      lineCount: 0,
    };
    return this.readSource(reader, source, started, current, false);
  }

  private async readSource(
    reader: CorrelatingReader<unknown>,
    source: LogSource,
    started: number,
    current: SourceCheckpoint,
    checkpointed: boolean,
  ): Promise<FileSummary> {
    const startOffset = current.byteOffset;
    const startLines = current.lineCount;
    let messages = 0;
    let failures = 0;

    const job: ReadJob = {
      source,
      startOffset,
      startLines,
      checkpointed,
      timeZone: this.options.timeZone,
      year: this.options.year,
      serverName: this.options.serverName,
      batchBytes: this.options.batchBytes ?? DEFAULT_BATCH_BYTES,
      logFormat: this.options.logFormat,
      signal: this.options.signal,
    };
    const store = async (batch: ReadBatch<unknown>) => {
      current.byteOffset = batch.byteOffset;
      current.lineCount = batch.lineCount;
      messages += batch.messageCount;
      failures += batch.failureCount;
      await this.store.writeBatch({
        events: batch.events,
        sourceId: current.id,
        runId: this.runId,
        checkpoint: checkpointed ? { ...current } : undefined,
        states: savedStates(batch),
      });
    };

    const result = await reader.read(job, store, (bytes) =>
      this.options.onProgress?.(source, bytes),
    );
    for (const server of result.tlsLoggingServers) this.tlsLogging.add(server);
    this.backendErrors += result.counters.authBackendErrors;
    const linesRead = current.lineCount - startLines;

    return this.summary(source, started, current, {
      // A compressed file has no size to compare with: it was read already if nothing was new.
      alreadyRead: startLines > 0 && linesRead === 0,
      lastLineWaiting: result.lastLineWaiting,
      linesRead,
      bytesRead: current.byteOffset - startOffset,
      resumedAtLine: startLines,
      format: result.formats.join('+') || 'postfix',
      messages,
      failures,
      unsupported: result.counts.unsupported,
      malformed: result.counts.malformed,
      problems: result.counts.problems,
      error: result.error?.message ?? null,
    });
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
      format: values.format ?? 'postfix',
      linesRead,
      bytesRead: values.bytesRead ?? 0,
      messages: values.messages ?? 0,
      failures: values.failures ?? 0,
      unsupported: values.unsupported ?? 0,
      malformed: values.malformed ?? 0,
      problems: values.problems ?? [],
      resumedAtLine: values.resumedAtLine ?? current.lineCount,
      alreadyRead: values.alreadyRead ?? false,
      lastLineWaiting: values.lastLineWaiting ?? false,
      error: values.error ?? null,
      durationMs: Math.round(durationMs),
      linesPerSecond: durationMs > 0 ? Math.round((linesRead * 1000) / durationMs) : 0,
    };
  }
}

function savedStates(batch: ReadBatch<unknown>): { format: string; json: string }[] {
  const states = [];
  if (batch.state !== null) states.push({ format: STATE_FORMAT, json: batch.state });
  if (batch.otherState !== null)
    states.push({ format: OTHER_STATE_FORMAT, json: batch.otherState });
  return states;
}

function tlsLoggingOf(state: PostfixState): string[] {
  if (state.version !== 3 && state.version !== 4) return [];
  return state.servers.filter((server) => server.tlsLogging).map((server) => server.server);
}
