import type { ClickHouseWriter, LocatedEvent } from '../store/clickhouse/writer.js';
import type { DuckDBStore, SourceCheckpoint } from '../store/duckdb/store.js';
import { ColumnsCollector, LocatedCollector, type EventCollector } from './collectors.js';
import type { EventColumns } from './event-columns.js';

/** Everything one ingest batch writes: events, then the checkpoint and correlator states. */
export interface TargetBatch<E> {
  events: E;
  sourceId: number;
  runId: number;
  /** The checkpoint to save; absent for standard input. */
  checkpoint?: SourceCheckpoint;
  /** The correlator states at the checkpoint, as JSON, one per format. */
  states?: { format: string; json: string }[];
}

/**
 * The store an ingest writes to, as the pipeline uses it. A target makes the collector of its
 * events, so the batches it receives always have the form it writes.
 */
export interface IngestTarget<E> {
  newCollector(): EventCollector<E>;
  startRun(): Promise<number>;
  /** Marks the run finished; a target may leave it open (see ClickHouseTarget). */
  finishRun(runId: number): Promise<void>;
  checkpoints(): Promise<SourceCheckpoint[]>;
  newSourceId(): Promise<number>;
  loadState(format: string): Promise<string | null>;
  writeBatch(batch: TargetBatch<E>): Promise<void>;
  settleNoTlsLine(servers: Iterable<string>): Promise<void>;
  /** Called with true before the files are read and with false after. */
  setIngestThreads(ingesting: boolean): Promise<void>;
}

/** DuckDB: every batch is one transaction, and events are columns without line offsets. */
export class DuckDBTarget implements IngestTarget<EventColumns> {
  constructor(private readonly store: DuckDBStore) {}

  newCollector(): EventCollector<EventColumns> {
    return new ColumnsCollector();
  }

  startRun(): Promise<number> {
    return this.store.startRun();
  }

  finishRun(runId: number): Promise<void> {
    return this.store.finishRun(runId);
  }

  checkpoints(): Promise<SourceCheckpoint[]> {
    return this.store.checkpoints();
  }

  newSourceId(): Promise<number> {
    return this.store.newSourceId();
  }

  loadState(format: string): Promise<string | null> {
    return this.store.loadState(format);
  }

  writeBatch(batch: TargetBatch<EventColumns>): Promise<void> {
    return this.store.writeBatch(batch);
  }

  settleNoTlsLine(servers: Iterable<string>): Promise<void> {
    return this.store.settleNoTlsLine(servers);
  }

  setIngestThreads(ingesting: boolean): Promise<void> {
    return this.store.setIngestThreads(ingesting);
  }
}

/** How long the end of a run waits for ClickHouse to take the spooled batches by default. */
export const DEFAULT_SETTLE_WAIT_MS = 60_000;

/**
 * The logger methods the ClickHouse target uses; a pino logger fits.
 */
export interface TargetLog {
  warn(fields: object, message: string): void;
}

export interface ClickHouseTargetOptions {
  /** How long the end of a run waits for ClickHouse to take the spooled batches. */
  settleWaitMs?: number;
  /**
   * Minimum time between two settlings. Settling reads both event tables with FINAL, which
   * `--follow` cannot afford after every poll.
   */
  settleEveryMs?: number;
}

/**
 * ClickHouse through its writer: batches go to the writer's spool, and events carry the
 * offset of their line, which makes their event ids.
 *
 * Settling TLS versions at the end of a run needs every batch in ClickHouse. When ClickHouse
 * does not take them within `settleWaitMs`, when the last settling was less than
 * `settleEveryMs` ago, or when the settling fails, the run is left unfinished. The next run
 * that settles settles it too, because both stores settle every unfinished run.
 */
export class ClickHouseTarget implements IngestTarget<LocatedEvent[]> {
  private settled = true;
  private lastSettled = -Infinity;

  constructor(
    private readonly writer: ClickHouseWriter,
    private readonly log: TargetLog,
    private readonly options: ClickHouseTargetOptions = {},
  ) {}

  newCollector(): EventCollector<LocatedEvent[]> {
    return new LocatedCollector();
  }

  startRun(): Promise<number> {
    this.settled = true;
    return this.writer.startRun();
  }

  async finishRun(runId: number): Promise<void> {
    if (this.settled) await this.writer.finishRun(runId);
  }

  async checkpoints(): Promise<SourceCheckpoint[]> {
    return this.writer.checkpoints();
  }

  async newSourceId(): Promise<number> {
    return this.writer.newSourceId();
  }

  async loadState(format: string): Promise<string | null> {
    return this.writer.loadState(format);
  }

  writeBatch(batch: TargetBatch<LocatedEvent[]>): Promise<void> {
    return this.writer.write(batch);
  }

  async settleNoTlsLine(servers: Iterable<string>): Promise<void> {
    const list = [...servers];
    if (list.length === 0) return;

    const settleEveryMs = this.options.settleEveryMs ?? 0;
    const waitMs = this.options.settleWaitMs ?? DEFAULT_SETTLE_WAIT_MS;
    if (performance.now() - this.lastSettled < settleEveryMs) {
      this.settled = false;
      return;
    }
    if (!(await this.writer.flushWithin(waitMs))) {
      this.settled = false;
      return;
    }
    try {
      await this.writer.settleNoTlsLine(list);
      this.lastSettled = performance.now();
    } catch (err) {
      this.settled = false;
      this.log.warn({ err }, 'settling tls versions failed; the next run settles them');
    }
  }

  async setIngestThreads(): Promise<void> {}
}

/** A target for either store. */
export type AnyTarget = IngestTarget<EventColumns> | IngestTarget<LocatedEvent[]>;

/** Returns the target of a DuckDB store, or the target as it is. */
export function targetOf(store: DuckDBStore | AnyTarget): IngestTarget<unknown> {
  if ('newCollector' in store) return store as IngestTarget<unknown>;
  return new DuckDBTarget(store) as IngestTarget<unknown>;
}
