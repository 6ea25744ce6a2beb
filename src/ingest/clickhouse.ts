import { hostname } from 'node:os';
import path from 'node:path';

import { sql } from '../store/clickhouse/sql.js';
import { ClickHouseStore } from '../store/clickhouse/store.js';
import { ClickHouseWriter, type WriterLog } from '../store/clickhouse/writer.js';
import type { ClickHouseLocation } from '../store/url.js';
import { ClickHouseTarget, type ClickHouseTargetOptions } from './targets.js';

/** Parent folder of the default spools, beside the default DuckDB store. */
const SPOOL_ROOT = path.join('data', 'clickhouse-spool');

export interface ClickHouseIngestOptions {
  /** The host part of every event id and checkpoint key (default: this host's name). */
  ingestHost?: string;
  /** The writer's spool folder (default: one per store and ingest host under ./data). */
  spoolDir?: string;
  /** When and how long runs settle TLS versions (see ClickHouseTarget). */
  settle?: ClickHouseTargetOptions;
  log: WriterLog;
}

/** A ClickHouse store opened for an ingest: its writer, and the target the pipeline uses. */
export class ClickHouseIngest {
  private constructor(
    readonly store: ClickHouseStore,
    readonly writer: ClickHouseWriter,
    readonly target: ClickHouseTarget,
    readonly ingestHost: string,
  ) {}

  /**
   * Connect to the store and open the writer's spool. ClickHouse must be reachable here (see
   * ClickHouseStore.open); after that the writer keeps batches in its spool while it is not.
   */
  static async open(
    location: ClickHouseLocation,
    options: ClickHouseIngestOptions,
  ): Promise<ClickHouseIngest> {
    const ingestHost = options.ingestHost ?? hostname();
    const spoolDir = options.spoolDir ?? defaultSpoolDir(location, ingestHost);
    const store = await ClickHouseStore.open(location);
    try {
      const writer = await ClickHouseWriter.open(store, {
        ingestHost,
        spoolDir,
        log: options.log,
      });
      const target = new ClickHouseTarget(writer, options.log, options.settle);
      return new ClickHouseIngest(store, writer, target, ingestHost);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Servers of this ingest host with Postfix messages, for the note on missing TLS lines. */
  async postfixServers(): Promise<string[]> {
    const rows = await this.store.all(sql`
      SELECT DISTINCT server FROM submitted_messages
      WHERE ingest_host = ${this.ingestHost} AND service LIKE 'postfix%'`);
    return rows.map((row) => String(row.server));
  }

  /** Wait up to `timeoutMs` for ClickHouse to take the spooled batches; returns those left. */
  async drain(timeoutMs: number): Promise<number> {
    await this.writer.flushWithin(timeoutMs);
    return this.writer.pendingBatches;
  }

  /** Close the writer (batches not sent stay in its spool) and the connection. */
  async close(): Promise<void> {
    try {
      await this.writer.close();
    } finally {
      await this.store.close();
    }
  }
}

/**
 * The default spool folder: one per store and ingest host, because a spool belongs to one
 * process and contains that host's checkpoints for that store.
 */
export function defaultSpoolDir(location: ClickHouseLocation, ingestHost: string): string {
  const server = location.url.replace(/^http:\/\//, '');
  return path.join(SPOOL_ROOT, safeName(`${server}-${location.database}`), safeName(ingestHost));
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '_');
}
