import { mkdirSync } from 'node:fs';
import path from 'node:path';

import {
  DuckDBConnection,
  DuckDBInstance,
  DuckDBTimestampTZValue,
  listValue,
  type DuckDBAppender,
  type DuckDBValue,
} from '@duckdb/node-api';

import { AppError } from '../../errors.js';
import {
  FAILURE_STRINGS,
  MESSAGE_NUMBERS,
  MESSAGE_STRINGS,
  type EventColumns,
} from '../../ingest/event-columns.js';
import { MIGRATIONS } from './migrations.js';

/**
 * DuckDB's buffer manager limit. It bounds what queries may hold; an ingest of a
 * 10-million-line log peaks near 500 MB of resident memory all the same (parse worker,
 * Node heaps and DuckDB's own allocations; measured by `npm run bench`).
 */
const MEMORY_LIMIT = '128MB';

export type Row = Record<string, string | number | boolean | null | string[]>;

export type StoreQuery = (sql: string, params?: DuckDBValue[]) => Promise<Row[]>;
export type StoreStream = (sql: string, params?: DuckDBValue[]) => AsyncGenerator<Row[]>;

/** A checkpoint: how far a file has been read. */
export interface SourceCheckpoint {
  id: number;
  path: string;
  fingerprint: string;
  fingerprintBytes: number;
  byteOffset: number;
  lineCount: number;
}

/** Everything one ingest batch writes, committed together or not at all. */
export interface IngestBatch {
  events: EventColumns;
  sourceId: number;
  runId: number;
  /** The checkpoint to save; absent for standard input. */
  checkpoint?: SourceCheckpoint;
  /** The correlator state at the checkpoint, as JSON. */
  state?: { format: string; json: string };
}

/** An embedded DuckDB file holding the report's events and ingest checkpoints. */
export class DuckDBStore {
  readonly kind = 'duckdb';

  private constructor(
    readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(file: string): Promise<DuckDBStore> {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(file, { memory_limit: MEMORY_LIMIT });
    } catch (err) {
      throw storeOpenError(file, err as Error);
    }

    const connection = await instance.connect();
    const store = new DuckDBStore(file, instance, connection);
    await store.migrate();
    return store;
  }

  private async migrate(): Promise<void> {
    await this.connection.run(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`);
    const applied = new Set(
      (await this.all('SELECT version FROM schema_migrations')).map((r) => r.version),
    );

    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await this.transaction(async () => {
        await this.connection.run(migration.sql);
        await this.connection.run('INSERT INTO schema_migrations VALUES ($1, $2, now())', [
          migration.version,
          migration.name,
        ]);
      });
    }
  }

  /** Run a query and return plain rows: BIGINT and HUGEINT become numbers, dates strings. */
  async all(sql: string, params: DuckDBValue[] = []): Promise<Row[]> {
    try {
      const reader = await this.connection.runAndReadAll(sql, params);
      return reader.getRowObjectsJS().map(plainRow);
    } catch (err) {
      throw new AppError(
        'STORE_FAILED',
        { path: this.path, detail: (err as Error).message },
        { cause: err },
      );
    }
  }

  /**
   * A connection of its own, for an export that runs many queries while other requests use
   * the main connection; close it when done. NOTE: a streamed result that fails part-way
   * (out of memory) ends like a complete one in @duckdb/node-api 1.5.6, so a caller that
   * streams must check that it got everything.
   */
  async openConnection(): Promise<{ all: StoreQuery; stream: StoreStream; close: () => void }> {
    const connection = await this.instance.connect();
    const path = this.path;
    async function* stream(sql: string, params: DuckDBValue[] = []): AsyncGenerator<Row[]> {
      try {
        const result = await connection.stream(sql, params);
        for await (const rows of result.yieldRowObjectJs()) yield rows.map(plainRow);
      } catch (err) {
        const detail = (err as Error).message;
        throw new AppError('STORE_FAILED', { path, detail }, { cause: err });
      }
    }
    const all: StoreQuery = async (sql, params = []) => {
      try {
        const reader = await connection.runAndReadAll(sql, params);
        return reader.getRowObjectsJS().map(plainRow);
      } catch (err) {
        const detail = (err as Error).message;
        throw new AppError('STORE_FAILED', { path: this.path, detail }, { cause: err });
      }
    };
    return { all, stream, close: () => connection.closeSync() };
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.connection.run('BEGIN TRANSACTION');
    try {
      const result = await work();
      await this.connection.run('COMMIT');
      return result;
    } catch (err) {
      await this.connection.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /**
   * Limit DuckDB to one thread while an ingest appends: the parse worker needs the other
   * core, and a second DuckDB thread only competes with it (measured by `npm run bench`).
   */
  async setIngestThreads(ingesting: boolean): Promise<void> {
    await this.connection.run(ingesting ? 'SET threads = 1' : 'RESET threads');
  }

  async startRun(): Promise<number> {
    const rows = await this.all(
      "INSERT INTO ingest_runs VALUES (nextval('ingest_run_ids'), now(), NULL) RETURNING id",
    );
    return Number(rows[0].id);
  }

  async finishRun(runId: number): Promise<void> {
    await this.connection.run('UPDATE ingest_runs SET finished_at = now() WHERE id = $1', [runId]);
  }

  async checkpoints(): Promise<SourceCheckpoint[]> {
    const rows = await this.all(
      `SELECT id, path, fingerprint, fingerprint_bytes, byte_offset, line_count FROM sources`,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      path: String(r.path),
      fingerprint: String(r.fingerprint),
      fingerprintBytes: Number(r.fingerprint_bytes),
      byteOffset: Number(r.byte_offset),
      lineCount: Number(r.line_count),
    }));
  }

  async newSourceId(): Promise<number> {
    const rows = await this.all("SELECT nextval('source_ids') AS id");
    return Number(rows[0].id);
  }

  async loadState(format: string): Promise<string | null> {
    const rows = await this.all('SELECT state FROM correlator_state WHERE format = $1', [format]);
    return rows.length > 0 ? String(rows[0].state) : null;
  }

  /** Write one batch of events with its checkpoint and correlator state, atomically. */
  async writeBatch(batch: IngestBatch): Promise<void> {
    await this.transaction(async () => {
      if (batch.events.messageCount > 0) await this.appendMessages(batch);
      if (batch.events.failureCount > 0) await this.appendFailures(batch);
      if (batch.checkpoint) await this.saveCheckpoint(batch.checkpoint);
      if (batch.state) await this.saveState(batch.state.format, batch.state.json);
    });
  }

  private async appendMessages(batch: IngestBatch): Promise<void> {
    const { strings, messageCount, messageRefs, messageNumbers } = batch.events;
    const width = MESSAGE_STRINGS.length;
    const appender = await this.connection.createAppender('submitted_messages');
    for (let row = 0; row < messageCount; row++) {
      const numbers = row * MESSAGE_NUMBERS.length;
      appender.appendTimestampTZ(timestamp(messageNumbers[numbers]));
      appendStrings(appender, strings, messageRefs, row * width, width);
      appender.appendInteger(messageNumbers[numbers + 1]);
      appender.appendBigInt(BigInt(messageNumbers[numbers + 2]));
      appender.appendInteger(batch.sourceId);
      appender.appendInteger(batch.runId);
      appender.endRow();
    }
    appender.closeSync();
  }

  private async appendFailures(batch: IngestBatch): Promise<void> {
    const { strings, failureCount, failureRefs, failureNumbers } = batch.events;
    const width = FAILURE_STRINGS.length;
    const appender = await this.connection.createAppender('auth_failures');
    for (let row = 0; row < failureCount; row++) {
      appender.appendTimestampTZ(timestamp(failureNumbers[row]));
      appendStrings(appender, strings, failureRefs, row * width, width);
      appender.appendInteger(batch.sourceId);
      appender.appendInteger(batch.runId);
      appender.endRow();
    }
    appender.closeSync();
  }

  private async saveCheckpoint(checkpoint: SourceCheckpoint): Promise<void> {
    await this.connection.run(
      `INSERT OR REPLACE INTO sources VALUES ($1, $2, $3, $4, $5, $6, now())`,
      [
        checkpoint.id,
        checkpoint.path,
        checkpoint.fingerprint,
        checkpoint.fingerprintBytes,
        checkpoint.byteOffset,
        checkpoint.lineCount,
      ],
    );
  }

  private async saveState(format: string, json: string): Promise<void> {
    await this.connection.run('INSERT OR REPLACE INTO correlator_state VALUES ($1, $2, now())', [
      format,
      json,
    ]);
  }

  /**
   * Messages and failures without a TLS line were stored as `unknown` while it was not yet
   * known whether their server logs TLS at all. Once the log has shown TLS lines for a
   * server, they had no TLS. Runs that never finished (an interrupted ingest) are settled
   * by the next one.
   */
  async settleNoTlsLine(servers: Iterable<string>): Promise<void> {
    const list = [...servers];
    if (list.length === 0) return;
    for (const table of ['submitted_messages', 'auth_failures']) {
      await this.connection.run(
        `UPDATE ${table} SET tls_protocol = 'none'
         WHERE tls_evidence = 'no-line' AND tls_protocol = 'unknown'
           AND list_contains($1::VARCHAR[], server)
           AND ingest_run IN (SELECT id FROM ingest_runs WHERE finished_at IS NULL)`,
        [listValue(list)],
      );
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

function timestamp(ms: number): DuckDBTimestampTZValue {
  return new DuckDBTimestampTZValue(BigInt(ms) * 1000n);
}

/** Append `count` string columns whose table references start at `first`; -1 is NULL. */
function appendStrings(
  appender: DuckDBAppender,
  strings: string[],
  refs: Int32Array,
  first: number,
  count: number,
): void {
  for (let i = first; i < first + count; i++) {
    const ref = refs[i];
    if (ref < 0) appender.appendNull();
    else appender.appendVarchar(strings[ref]);
  }
}

function plainRow(row: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(row)) out[key] = plainValue(value);
  return out;
}

function plainValue(value: unknown): Row[string] {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => String(v));
  if (value === undefined) return null;
  return value as Row[string];
}

/** DuckDB refuses a second process with "Could not set lock on file ... (PID n)". */
function storeOpenError(file: string, err: Error): AppError {
  const lock = /lock on file.*?(Conflicting lock is held in .*?\(PID \d+\))/s.exec(err.message);
  if (lock) return new AppError('STORE_LOCKED', { path: file, detail: lock[1] }, { cause: err });
  return new AppError('STORE_FAILED', { path: file, detail: err.message }, { cause: err });
}
