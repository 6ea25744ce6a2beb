import type { FastifyBaseLogger } from 'fastify';

import { Ingest, type FileSummary, type IngestOptions } from '../ingest/pipeline.js';
import { resolveSources, type LogSource } from '../sources/files.js';
import { ensureRollups } from '../store/duckdb/rollups.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import { connectionMutex, serialisedStore } from './mutex.js';

export const FOLLOW_INTERVAL_MS = 2000;

export type FollowOptions = Omit<IngestOptions, 'onProgress'>;

/**
 * Keeps ingesting log files as they grow, for `serve --follow`. Every poll expands the file
 * arguments again (so a glob picks up rotated files), and when any file changed size or
 * modification time it runs one `Ingest`, which resumes each file from its checkpoint. Polls
 * never overlap: the next one is scheduled when the previous one ends.
 */
export class LogFollower {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private lastSignature = '';
  private lastError = '';
  private failedPolls = 0;

  /**
   * Called after every poll with the log lines it stored, once the rollups include them. The
   * count is 0 when nothing changed or the poll failed. `serve --alert-webhook` starts its
   * signal computation here. It must return at once, because the next poll waits for it.
   */
  afterPoll: (linesStored: number) => void = () => {};

  constructor(
    private readonly store: DuckDBStore,
    private readonly files: string[],
    private readonly options: FollowOptions,
    private readonly log: FastifyBaseLogger,
    private readonly intervalMs = FOLLOW_INTERVAL_MS,
  ) {}

  /** Poll now, then every interval after each poll ends. */
  start(): void {
    this.schedule(0);
  }

  /** Stop polling and wait for a running ingest to commit or fail. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Ingest what the files gained; null when nothing changed or the poll failed. */
  async poll(): Promise<FileSummary[] | null> {
    try {
      const sources = await resolveSources(this.files);
      const signature = signatureOf(sources);
      if (signature === this.lastSignature) return null;

      const started = performance.now();
      const summaries = await new Ingest(serialisedStore(this.store), this.options).run(sources);
      this.lastSignature = signature;
      // The new events join the rollups now rather than in the next request.
      await connectionMutex(this.store).run(() => ensureRollups(this.store));

      this.logBatch(summaries, performance.now() - started);
      return summaries;
    } catch (err) {
      this.logFailure(err);
      return null;
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll()
        .then((summaries) => this.notify(summaries))
        .finally(() => {
          this.running = undefined;
          this.schedule(this.intervalMs);
        });
    }, delayMs);
  }

  private notify(summaries: FileSummary[] | null): void {
    const lines = summaries?.reduce((sum, file) => sum + file.linesRead, 0) ?? 0;
    try {
      this.afterPoll(lines);
    } catch (err) {
      this.log.error({ err }, 'after-poll handler failed');
    }
  }

  private logBatch(summaries: FileSummary[], durationMs: number): void {
    if (this.failedPolls > 0) {
      this.log.info({ failedPolls: this.failedPolls }, 'follow recovered');
      this.failedPolls = 0;
      this.lastError = '';
    }

    const total = (key: 'linesRead' | 'messages' | 'failures' | 'malformed') =>
      summaries.reduce((sum, file) => sum + file[key], 0);
    const counts = {
      files: summaries.filter((file) => file.linesRead > 0).length,
      lines: total('linesRead'),
      messages: total('messages'),
      failures: total('failures'),
      malformed: total('malformed'),
      durationMs: Math.round(durationMs),
    };
    if (counts.lines > 0) this.log.info(counts, 'ingested new log lines');
    else this.log.debug(counts, 'log files changed without new complete lines');
  }

  /** Log a failed poll once per distinct message; repeats are counted, not logged. */
  private logFailure(err: unknown): void {
    this.failedPolls += 1;
    const message = err instanceof Error ? err.message : String(err);
    if (message === this.lastError) return;

    this.lastError = message;
    this.log.warn(
      { err, files: this.files, intervalMs: this.intervalMs },
      'follow poll failed; retrying',
    );
  }
}

function signatureOf(sources: LogSource[]): string {
  return JSON.stringify(sources.map((s) => [s.path, s.size, s.mtimeMs, s.inode]));
}
