import { mkdirSync } from 'node:fs';
import path from 'node:path';

import {
  DuckDBConnection,
  DuckDBInstance,
  listValue,
  type DuckDBPreparedStatement,
  type DuckDBValue,
} from '@duckdb/node-api';

import { AppError } from '../../errors.js';
import {
  FAILURE_COLUMNS,
  MESSAGE_COLUMNS,
  type ColumnsPart,
  type EventColumn,
  type EventColumns,
} from '../../ingest/event-columns.js';
import { MIGRATIONS } from './migrations.js';
import { settleRollups } from './rollups.js';

/**
 * DuckDB's buffer manager limit. It bounds what queries may keep, not the process. An
 * ingest of the 10-million-line benchmark log peaked at 340 to 360 MiB of resident memory
 * in all: Node's heap, DuckDB's own allocations and about 80 MiB of mapped code (GNU time,
 * Node.js 20, @duckdb/node-api 1.5.6). A limit of 32 MB made an ingest of that log fail
 * with an out-of-memory error.
 */
const MEMORY_LIMIT = '128MB';

/** DuckDB's checkpoint_threshold during an ingest; see setIngestThreads. */
const INGEST_CHECKPOINT_THRESHOLD = '32MB';

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
  /** The correlator states at the checkpoint, as JSON, one per format row. */
  states?: { format: string; json: string }[];
}

/** An embedded DuckDB file holding the report's events and ingest checkpoints. */
export class DuckDBStore {
  readonly kind = 'duckdb';
  private readonly inserts = new Map<EventTable, DuckDBPreparedStatement>();

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
   * Settings for an ingest. One DuckDB thread: the parser needs the other core, and a second
   * DuckDB thread only competes with it (measured by `npm run bench`). A checkpoint every
   * 32 MB of WAL instead of the default 16 MB: each checkpoint compresses what was appended
   * since the one before, and fewer of them took 8 % less CPU time in all for the 10M-line
   * benchmark log. No FSST string compression during an ingest, because it cost 0.2 to 0.4 s of
   * CPU time on that log. Dictionary compression still applies, and the store grew 15 %.
   */
  async setIngestThreads(ingesting: boolean): Promise<void> {
    if (ingesting) {
      await this.connection.run('SET threads = 1');
      await this.connection.run(`SET checkpoint_threshold = '${INGEST_CHECKPOINT_THRESHOLD}'`);
      await this.connection.run("SET disabled_compression_methods = 'fsst'");
    } else {
      await this.connection.run('RESET threads');
      await this.connection.run('RESET checkpoint_threshold');
      await this.connection.run('RESET disabled_compression_methods');
    }
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
    const { events } = batch;
    await this.transaction(async () => {
      for (const part of events.messages) await this.insertPart('submitted_messages', part, batch);
      for (const part of events.failures) await this.insertPart('auth_failures', part, batch);
      if (batch.checkpoint) await this.saveCheckpoint(batch.checkpoint);
      for (const state of batch.states ?? []) await this.saveState(state.format, state.json);
    });
  }

  /**
   * Insert one part of a batch, each column given as one buffer (EventColumns). DuckDB
   * splits them itself, which costs a fraction of appending value by value (one native
   * call per field).
   */
  private async insertPart(
    table: EventTable,
    part: ColumnsPart,
    batch: IngestBatch,
  ): Promise<void> {
    let statement = this.inserts.get(table);
    if (!statement) {
      statement = await this.connection.prepare(insertSql(table, EVENT_COLUMNS[table]));
      this.inserts.set(table, statement);
    }

    // Typed binds: bind() would work out each value's type first, which took this thread
    // twice as long per part (0.65 against 0.28 ms, measured with 2048 rows).
    const { columns } = part;
    for (let i = 0; i < columns.length; i++) statement.bindBlob(i + 1, columns[i]);
    statement.bindInteger(columns.length + 1, batch.sourceId);
    statement.bindInteger(columns.length + 2, batch.runId);
    const result = await statement.run();
    if (result.rowsChanged !== part.count) {
      const detail = `${table} got ${result.rowsChanged} rows of a part of ${part.count}`;
      throw new AppError('STORE_FAILED', { path: this.path, detail });
    }
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
    await settleRollups(this, list);
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
    for (const statement of this.inserts.values()) statement.destroySync();
    this.inserts.clear();
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

type EventTable = 'submitted_messages' | 'auth_failures';

const EVENT_COLUMNS: Record<EventTable, readonly EventColumn[]> = {
  submitted_messages: MESSAGE_COLUMNS,
  auth_failures: FAILURE_COLUMNS,
};

/**
 * Build the `INSERT ... SELECT` of one part. Parameter k is column k's values joined by
 * newlines in UTF-8 (decode() checks that they are), split into rows by unnest, and several
 * unnests in one SELECT go side by side. The last two parameters are the source id and the
 * ingest run. Every parameter has its type written out. With one left to be inferred,
 * DuckDB planned the statement again on each run and folded each split list into a
 * constant, value by value, which doubled the cost of a part (@duckdb/node-api 1.5.6).
 */
function insertSql(table: EventTable, columns: readonly EventColumn[]): string {
  const split = columns.map(
    (c, i) => `unnest(string_split(decode($${i + 1}::BLOB), chr(10))) AS ${c.name}`,
  );
  const values = columns.map((c) => columnValue(c));
  const names = [...columns.map((c) => c.name), 'source_id', 'ingest_run'];
  const source = `$${columns.length + 1}::INTEGER`;
  const run = `$${columns.length + 2}::INTEGER`;
  return `INSERT INTO ${table} (${names.join(', ')})
    SELECT ${values.join(', ')}, ${source}, ${run}
    FROM (SELECT ${split.join(', ')})`;
}

/** Build the SQL expression that reads a column from its text, as EventColumns writes it. */
function columnValue(column: EventColumn): string {
  switch (column.kind) {
    case 'text':
      return column.name;
    case 'nullable':
      return `substr(nullif(${column.name}, ''), 2)`;
    case 'integer':
      return `CAST(${column.name} AS BIGINT)`;
    case 'timestamp':
      return `make_timestamptz(CAST(${column.name} AS BIGINT) * 1000)`;
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
