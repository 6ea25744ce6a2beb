import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import {
  saslMechanismOf,
  senderDomainOf,
  type AuthFailure,
  type ReportEvent,
  type SubmittedMessage,
} from '../../events.js';
import type { SourceCheckpoint } from '../duckdb/store.js';
import { Spool, writeDurably, type TableRows } from './spool.js';
import { sql, sqlIdentifier, SqlText, sqlTuple } from './sql.js';
import { isTransientError, type ClickHouseStore, type InsertRow } from './store.js';

/** An event with the place of the log line that completed it, which makes its event id. */
export interface LocatedEvent {
  event: ReportEvent;
  /** Byte offset of that line's first byte in the file (after decompression for .gz). */
  lineOffset: number;
}

/** One ingest batch: the events of a stretch of one file, and the checkpoint where it ended. */
export interface EventBatch {
  sourceId: number;
  runId: number;
  /** Events in log order; the events of one line are together and in the same batch. */
  events: LocatedEvent[];
  /** The checkpoint after the batch; absent for standard input. */
  checkpoint?: SourceCheckpoint;
  /** The correlator state at the checkpoint, as JSON. */
  state?: { format: string; json: string };
  /** More correlator states at the checkpoint, one per format, written after `state`. */
  states?: { format: string; json: string }[];
}

/** The logger methods the writer uses; a pino logger fits. */
export interface WriterLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface WriterOptions {
  /** The host that ingests, part of every event id and checkpoint key. */
  ingestHost: string;
  /** Folder of the spool and of this host's checkpoints; one process uses it at a time. */
  spoolDir: string;
  /** Maximum bytes of spooled batches kept while ClickHouse is unreachable (default 256 MiB). */
  maxSpoolBytes?: number;
  /** First wait before sending a failed batch again; it doubles up to maxRetryDelayMs. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  log: WriterLog;
}

export const DEFAULT_MAX_SPOOL_BYTES = 256 * 1024 * 1024;
const DEFAULT_RETRY_DELAY_MS = 250;
const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;

/** This host's checkpoints and correlator states, as last spooled. */
interface LocalState {
  sources: SourceCheckpoint[];
  states: Record<string, { json: string; version: number }>;
}

const LOCAL_STATE_FILE = 'checkpoints.json';

const MESSAGE_TABLE = 'submitted_messages';
const FAILURE_TABLE = 'auth_failures';

/**
 * Ships event batches from one ingest host to the ClickHouse store. A batch is first written
 * to a spool on disk, and a background loop sends the spooled batches in order, each again
 * after a failure with exponential backoff until ClickHouse accepts it. So nothing is lost
 * while ClickHouse is down, up to the spool's size: when the spool is full, write() waits,
 * which pauses the reading of the log, and the writer logs a warning.
 *
 * A batch sent twice (the connection broke after ClickHouse stored it) is stored twice, and
 * the two copies collapse because they have the same event ids (see migrations.ts).
 *
 * This host's checkpoints are kept in the spool folder as well, so an ingest restarted while
 * ClickHouse is down resumes where the last spooled batch ended.
 */
export class ClickHouseWriter {
  readonly kind = 'clickhouse';
  private local: LocalState = { sources: [], states: {} };
  /** The spool entry whose checkpoint is being saved, and when that is done (see write). */
  private saving: { seq: number; done: Promise<void> } | undefined;
  private outage = false;
  private stateVersion = 0;
  private sending: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private waiters: (() => void)[] = [];
  private fatal: Error | undefined;
  private closed = false;
  private spoolFull = false;
  private failedAttempts = 0;

  private constructor(
    private readonly store: ClickHouseStore,
    private readonly spool: Spool,
    private readonly options: WriterOptions,
  ) {}

  static async open(store: ClickHouseStore, options: WriterOptions): Promise<ClickHouseWriter> {
    const spool = await Spool.open(options.spoolDir);
    const writer = new ClickHouseWriter(store, spool, options);
    await writer.loadLocalState();
    writer.sending = writer.sendLoop();
    return writer;
  }

  /** Batches spooled and not yet accepted by ClickHouse. */
  get pendingBatches(): number {
    return this.spool.length;
  }

  /** The spool folder, for messages about batches kept there. */
  get spoolDir(): string {
    return this.spool.dir;
  }

  /** Whether ClickHouse rejected a batch, which stops the writer until it is opened again. */
  get rejected(): boolean {
    return this.fatal !== undefined;
  }

  /** This host's checkpoints, as of the last batch written. */
  checkpoints(): SourceCheckpoint[] {
    return this.local.sources.map((source) => ({ ...source }));
  }

  loadState(format: string): string | null {
    return this.local.states[format]?.json ?? null;
  }

  /**
   * Returns a random id for a file read for the first time. Ids are per ingest host, and 2^47
   * values make a clash between two files of one host unlikely.
   */
  newSourceId(): number {
    return randomInt(1, 2 ** 47);
  }

  async startRun(): Promise<number> {
    const id = randomInt(1, 2 ** 47);
    const now = nowSeconds();
    const row = { id, ingest_host: this.host, started_at: now, finished_at: null, row_version: 0 };
    await this.append([{ table: 'ingest_runs', rows: [row] }]);
    return id;
  }

  async finishRun(runId: number): Promise<void> {
    const now = nowSeconds();
    const row = { id: runId, ingest_host: this.host, started_at: now, finished_at: now };
    await this.append([{ table: 'ingest_runs', rows: [{ ...row, row_version: 1 }] }]);
  }

  /**
   * Spool one batch: its events, then its checkpoint and correlator state. Resolves when the
   * batch is on disk, not when ClickHouse has it (see flush). Waits while the spool is full.
   */
  async write(batch: EventBatch): Promise<void> {
    const inserts: TableRows[] = [...eventRows(batch, this.host)];
    if (batch.checkpoint) {
      inserts.push({ table: 'sources', rows: [this.checkpointRow(batch.checkpoint)] });
    }
    const states = statesOf(batch);
    if (states.length > 0) {
      const rows = states.map((state) => this.stateRow(state));
      inserts.push({ table: 'correlator_state', rows });
    }

    // The send loop keeps the batch in the spool until its checkpoint is saved here too.
    // Otherwise a crash in between would lose a new file's source id, and reading the
    // file again would give its events new ids, which do not collapse with the sent ones.
    let saved!: () => void;
    const done = new Promise<void>((resolve) => (saved = resolve));
    try {
      await this.append(inserts, done);
      await this.saveLocalState(batch, inserts);
    } finally {
      saved();
    }
  }

  /**
   * Wait until ClickHouse has accepted every spooled batch, for at most `timeoutMs`. Returns
   * false when batches are still spooled then.
   */
  async flushWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const flushed = this.flush().then(() => true);
    // After a timeout, close() ends the flush with an error that no caller awaits.
    flushed.catch(() => undefined);
    try {
      return await Promise.race([flushed, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wait until ClickHouse has accepted every spooled batch. */
  async flush(): Promise<void> {
    while (this.spool.length > 0) {
      if (this.fatal) throw this.fatal;
      if (this.closed) throw new Error('the writer is closed with batches still spooled');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.fatal) throw this.fatal;
  }

  /**
   * Mark the TLS version of this host's messages and failures without a TLS line as none,
   * for servers whose log shows TLS lines, in runs that never finished (as DuckDBStore does).
   * The rows are written again with a higher row_version, which replaces them.
   */
  async settleNoTlsLine(servers: Iterable<string>): Promise<void> {
    const list = [...servers];
    if (list.length === 0) return;
    await this.flush();

    // The run ids are read first: on a cluster, a subquery over the Distributed ingest_runs
    // inside a query over another Distributed table is refused (distributed_product_mode).
    const runs = await this.store.all(sql`
      SELECT DISTINCT id FROM ingest_runs FINAL
      WHERE ingest_host = ${this.host} AND finished_at IS NULL`);
    const open = runs.map((row) => Number(row.id));
    if (open.length === 0) return;

    for (const table of [MESSAGE_TABLE, FAILURE_TABLE]) {
      const columns = table === MESSAGE_TABLE ? MESSAGE_COLUMNS : FAILURE_COLUMNS;
      const values = columns.map((column) => SETTLED_VALUES[column] ?? column).join(', ');
      // Column lists are constants of this file, not values.
      const names = new SqlText(columns.join(', '));
      await this.store.run(sql`
        INSERT INTO ${sqlIdentifier(table)} (${names})
        SELECT ${new SqlText(values)} FROM ${sqlIdentifier(table)} FINAL
        WHERE tls_evidence = 'no-line' AND tls_protocol = 'unknown' AND server IN ${sqlTuple(list)}
          AND ingest_host = ${this.host}
          AND ingest_run IN ${sqlTuple(open)}`);
    }
  }

  /** Stop sending; batches not yet sent stay in the spool for the next open. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    for (const waiter of this.waiters.splice(0)) waiter();
    await this.sending;
    await this.spool.close();
  }

  private get host(): string {
    return this.options.ingestHost;
  }

  /** Spool an entry; `saving` settles once the caller has saved the entry's checkpoint. */
  private async append(inserts: TableRows[], saving?: Promise<void>): Promise<void> {
    if (this.fatal) throw this.fatal;
    const text = this.spool.entryText(inserts);
    await this.waitForRoom(Buffer.byteLength(text));
    if (saving) this.saving = { seq: this.spool.nextSeq, done: saving };
    await this.spool.append(inserts, text);
    this.wake?.();
  }

  /** Wait while the spool has no room; a batch larger than the limit waits for an empty spool. */
  private async waitForRoom(bytes: number): Promise<void> {
    const limit = this.options.maxSpoolBytes ?? DEFAULT_MAX_SPOOL_BYTES;
    while (this.spool.length > 0 && this.spool.bytes + bytes > limit) {
      if (!this.spoolFull) {
        this.spoolFull = true;
        this.options.log.warn(
          { spoolDir: this.spool.dir, spoolBytes: this.spool.bytes, maxSpoolBytes: limit },
          'clickhouse spool full: log reading paused until clickhouse accepts the spooled batches',
        );
      }
      if (this.fatal) throw this.fatal;
      if (this.closed) throw new Error('the writer is closed');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.spoolFull = false;
  }

  private async sendLoop(): Promise<void> {
    while (!this.closed) {
      const entry = await this.spool.oldest();
      if (!entry) {
        await this.idle();
        continue;
      }

      try {
        for (const insert of entry.inserts) await this.store.insertRows(insert.table, insert.rows);
      } catch (err) {
        if (!isTransientError(err)) {
          this.stopOnRejection(entry.seq, err as Error);
          return;
        }
        await this.backOff(entry.seq, err as Error);
        continue;
      }

      if (this.saving?.seq === entry.seq) await this.saving.done;
      await this.spool.removeOldest();
      this.recovered(entry.seq);
      for (const waiter of this.waiters.splice(0)) waiter();
    }
  }

  /** Wait for the next append or for close; the check inside closes the race with append. */
  private idle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      if (this.spool.length > 0 || this.closed) resolve();
    });
  }

  private async backOff(seq: number, err: Error): Promise<void> {
    this.failedAttempts++;
    const initial = this.options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    const max = this.options.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS;
    const delayMs = Math.min(max, initial * 2 ** Math.min(this.failedAttempts - 1, 20));
    if (!this.outage) {
      this.outage = true;
      this.options.log.warn(
        { store: this.store.name, spoolDir: this.spool.dir, err },
        'clickhouse unreachable; batches are kept in the spool and sent when it accepts them',
      );
    }

    // One warning per failed attempt, so at most one per maxRetryDelayMs once the wait is long.
    this.options.log.warn(
      {
        store: this.store.name,
        batch: seq,
        attempt: this.failedAttempts,
        retryInMs: delayMs,
        spoolBatches: this.spool.length,
        err,
      },
      'clickhouse insert failed; retrying',
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.wake = () => {
        if (!this.closed) return;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private recovered(seq: number): void {
    this.outage = false;
    if (this.failedAttempts === 0) return;
    this.options.log.info(
      { store: this.store.name, batch: seq, failedAttempts: this.failedAttempts },
      'clickhouse insert succeeded after retries',
    );
    this.failedAttempts = 0;
  }

  private stopOnRejection(seq: number, err: Error): void {
    this.fatal = this.store.failed(err);
    this.options.log.error(
      { store: this.store.name, batch: seq, spoolDir: this.spool.dir, err },
      'clickhouse rejected a batch; it stays in the spool and is sent again on the next start',
    );
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private checkpointRow(checkpoint: SourceCheckpoint): InsertRow {
    return {
      ingest_host: this.host,
      source_id: checkpoint.id,
      path: checkpoint.path,
      fingerprint: checkpoint.fingerprint,
      fingerprint_bytes: checkpoint.fingerprintBytes,
      byte_offset: checkpoint.byteOffset,
      line_count: checkpoint.lineCount,
      updated_at: nowSeconds(),
    };
  }

  /** The state row, with a version above every earlier state of this host. */
  private stateRow(state: { format: string; json: string }): InsertRow {
    this.stateVersion = Math.max(this.stateVersion + 1, Date.now());
    return {
      ingest_host: this.host,
      format: state.format,
      state: state.json,
      updated_at: nowSeconds(),
      row_version: this.stateVersion,
    };
  }

  /**
   * Read this host's checkpoints from the spool folder, or from ClickHouse when the folder
   * has none (a new machine, or a spool folder that was removed).
   */
  private async loadLocalState(): Promise<void> {
    const file = path.join(this.spool.dir, LOCAL_STATE_FILE);
    const text = await readFile(file, 'utf8').catch(() => null);
    this.local = text ? (JSON.parse(text) as LocalState) : await this.storedState();
    // A crash between spooling a batch and saving this state leaves the batch ahead of it.
    for (const entry of await this.spool.entries()) applyStateRows(this.local, entry.inserts);

    const versions = Object.values(this.local.states).map((state) => state.version);
    this.stateVersion = Math.max(0, ...versions);
  }

  private async storedState(): Promise<LocalState> {
    // Aliases differ from column names: in ClickHouse an alias replaces the column it names.
    const sources = await this.store.all(sql`
      SELECT source_id, argMax(path, byte_offset) AS last_path,
             argMax(fingerprint, byte_offset) AS last_fingerprint,
             argMax(fingerprint_bytes, byte_offset) AS last_fingerprint_bytes,
             max(byte_offset) AS last_offset, argMax(line_count, byte_offset) AS last_line_count
      FROM sources WHERE ingest_host = ${this.host} GROUP BY source_id`);
    const states = await this.store.all(sql`
      SELECT format, argMax(state, row_version) AS last_state, max(row_version) AS version
      FROM correlator_state WHERE ingest_host = ${this.host} GROUP BY format`);

    return {
      sources: sources.map((row) => ({
        id: Number(row.source_id),
        path: String(row.last_path),
        fingerprint: String(row.last_fingerprint),
        fingerprintBytes: Number(row.last_fingerprint_bytes),
        byteOffset: Number(row.last_offset),
        lineCount: Number(row.last_line_count),
      })),
      states: Object.fromEntries(
        states.map((row) => [
          String(row.format),
          { json: String(row.last_state), version: Number(row.version) },
        ]),
      ),
    };
  }

  private async saveLocalState(batch: EventBatch, inserts: TableRows[]): Promise<void> {
    if (!batch.checkpoint && statesOf(batch).length === 0) return;
    applyStateRows(this.local, inserts);
    const file = path.join(this.spool.dir, LOCAL_STATE_FILE);
    await writeDurably(file, JSON.stringify(this.local));
  }
}

function statesOf(batch: EventBatch): { format: string; json: string }[] {
  return [...(batch.state ? [batch.state] : []), ...(batch.states ?? [])];
}

/**
 * Apply the checkpoint and state rows of a batch to the local state. Offsets of a source and
 * state versions only grow, so the larger one wins, as in the tables' ReplacingMergeTree.
 */
function applyStateRows(local: LocalState, inserts: TableRows[]): void {
  for (const { table, rows } of inserts) {
    if (table === 'sources') for (const row of rows) applySourceRow(local, row);
    if (table !== 'correlator_state') continue;
    for (const row of rows) {
      const format = String(row.format);
      const version = Number(row.row_version);
      if ((local.states[format]?.version ?? -1) > version) continue;
      local.states[format] = { json: String(row.state), version };
    }
  }
}

function applySourceRow(local: LocalState, row: InsertRow): void {
  const id = Number(row.source_id);
  const byteOffset = Number(row.byte_offset);
  const known = local.sources.find((source) => source.id === id);
  if (known && known.byteOffset > byteOffset) return;

  const checkpoint: SourceCheckpoint = {
    id,
    path: String(row.path),
    fingerprint: String(row.fingerprint),
    fingerprintBytes: Number(row.fingerprint_bytes),
    byteOffset,
    lineCount: Number(row.line_count),
  };
  local.sources = [...local.sources.filter((source) => source.id !== id), checkpoint];
}

/** Columns of submitted_messages in the order the writer and settleNoTlsLine name them. */
const MESSAGE_COLUMNS = [
  'ts',
  'ts_ms',
  'server',
  'service',
  'queue_id',
  'account',
  'sasl_method',
  'sasl_mechanism',
  'sender_address',
  'sender_domain',
  'client_ip',
  'client_name',
  'helo',
  'tls_protocol',
  'tls_evidence',
  'tls_cipher',
  'recipients',
  'size',
  'ingest_host',
  'source_id',
  'line_offset',
  'line_event',
  'ingest_run',
  'row_version',
];

const FAILURE_COLUMNS = [
  'ts',
  'ts_ms',
  'server',
  'service',
  'attempted_username',
  'sasl_method',
  'sasl_mechanism',
  'client_ip',
  'client_name',
  'tls_protocol',
  'tls_evidence',
  'reason',
  'ingest_host',
  'source_id',
  'line_offset',
  'line_event',
  'ingest_run',
  'row_version',
];

/** The columns that settling changes, as SQL expressions over the old row. */
const SETTLED_VALUES: Record<string, string> = {
  tls_protocol: "'none'",
  row_version: 'row_version + 1',
};

/** Rows of both event tables for a batch; `line_event` numbers the events of one line. */
function eventRows(batch: EventBatch, ingestHost: string): TableRows[] {
  const messages: InsertRow[] = [];
  const failures: InsertRow[] = [];
  let previousOffset = -1;
  let lineEvent = 0;

  for (const { event, lineOffset } of batch.events) {
    lineEvent = lineOffset === previousOffset ? lineEvent + 1 : 0;
    previousOffset = lineOffset;
    const id = {
      ingest_host: ingestHost,
      source_id: batch.sourceId,
      line_offset: lineOffset,
      line_event: lineEvent,
      ingest_run: batch.runId,
      row_version: 1,
    };
    if (event.kind === 'message') messages.push({ ...messageColumns(event), ...id });
    else failures.push({ ...failureColumns(event), ...id });
  }

  const tables: TableRows[] = [];
  if (messages.length > 0) tables.push({ table: MESSAGE_TABLE, rows: messages });
  if (failures.length > 0) tables.push({ table: FAILURE_TABLE, rows: failures });
  return tables;
}

function messageColumns(m: SubmittedMessage): InsertRow {
  return {
    ...timeColumns(m.time),
    server: m.server,
    service: m.service,
    queue_id: m.queueId,
    account: m.account,
    sasl_method: m.saslMethod,
    sasl_mechanism: saslMechanismOf(m),
    sender_address: m.senderAddress,
    sender_domain: senderDomainOf(m.senderAddress),
    client_ip: m.clientIp,
    client_name: m.clientName,
    helo: m.helo,
    tls_protocol: m.tlsProtocol,
    tls_evidence: m.tlsEvidence,
    tls_cipher: m.tlsCipher,
    recipients: m.recipients,
    size: m.size,
  };
}

function failureColumns(f: AuthFailure): InsertRow {
  return {
    ...timeColumns(f.time),
    server: f.server,
    service: f.service,
    attempted_username: f.attemptedUsername,
    sasl_method: f.saslMethod,
    sasl_mechanism: saslMechanismOf(f),
    client_ip: f.clientIp,
    client_name: f.clientName,
    tls_protocol: f.tlsProtocol,
    tls_evidence: f.tlsEvidence,
    reason: f.reason,
  };
}

/** DateTime counts whole seconds, so the milliseconds go in a column of their own. */
export function timeColumns(timeMs: number): { ts: number; ts_ms: number } {
  const ts = Math.floor(timeMs / 1000);
  return { ts, ts_ms: timeMs - ts * 1000 };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
