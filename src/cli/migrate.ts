import { existsSync } from 'node:fs';
import { hostname } from 'node:os';

import type { Command } from 'commander';

import { AppError, invalidOption } from '../errors.js';
import { openStore } from '../server/server-file.js';
import { sql, sqlIdentifier } from '../store/clickhouse/sql.js';
import { timeColumns } from '../store/clickhouse/writer.js';
import { ClickHouseStore, type InsertRow } from '../store/clickhouse/store.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import { parseAnyStoreUrl, type ClickHouseLocation } from '../store/url.js';
import { textTable } from './format.js';

/**
 * `line_event` of migrated events. A DuckDB store keeps no byte offsets, so a migrated event
 * gets its DuckDB rowid as `line_offset` and this mark, which no log line reaches (a line
 * completes a few events at most). Migrating the same store again writes the same ids, so
 * the copies collapse, and events that the host ingests later never take a migrated id.
 */
export const MIGRATED_LINE_EVENT = 65_535;

/** Rows per insert request. */
const INSERT_ROWS = 50_000;

const MESSAGE_SELECT = `
  SELECT epoch_ms(ts) AS time_ms, server, service, queue_id, account, sasl_method,
         sasl_mechanism, sender_address, sender_domain, client_ip, client_name, helo,
         tls_protocol, tls_evidence, tls_cipher, recipients, size, source_id, ingest_run,
         rowid AS row_number
  FROM submitted_messages ORDER BY rowid`;

const FAILURE_SELECT = `
  SELECT epoch_ms(ts) AS time_ms, server, service, attempted_username, sasl_method,
         sasl_mechanism, client_ip, client_name, tls_protocol, tls_evidence, reason, source_id,
         ingest_run, rowid AS row_number
  FROM auth_failures ORDER BY rowid`;

export interface MigrateCounts {
  table: string;
  source: number;
  target: number;
}

export function addMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('copy a DuckDB store into a ClickHouse store and print the row counts of both')
    .requiredOption('--source <url>', 'the DuckDB store to read, duckdb:PATH')
    .requiredOption(
      '--target <url>',
      'the ClickHouse store, clickhouse://[user:password@]host:8123/db',
    )
    .option(
      '--ingest-host <name>',
      'the host whose checkpoints the copied ones become, so that its next ingest resumes (default: this host name)',
    )
    .action(async (options: { source: string; target: string; ingestHost?: string }) => {
      const counts = await runMigrate(options.source, options.target, options.ingestHost);
      process.stdout.write(textTable(['table', 'source rows', 'target rows'], countRows(counts)));
      if (counts.some((count) => count.source !== count.target)) {
        process.stderr.write(
          'smtp-auth-report: the target has a different number of rows than the source; ' +
            'a table with more rows in the target held rows of this host before\n',
        );
        process.exitCode = 1;
      }
    });
}

/**
 * Copy events, checkpoints and correlator state from a DuckDB store into a ClickHouse store,
 * and count the rows on both sides. Running it again is safe: every copied row has an id
 * derived from the source, so a second copy collapses into the first.
 */
export async function runMigrate(
  sourceUrl: string,
  targetUrl: string,
  ingestHost = hostname(),
): Promise<MigrateCounts[]> {
  const source = await openSource(sourceUrl);
  try {
    const target = await ClickHouseStore.open(targetLocation(targetUrl));
    try {
      return await copyStore(source, target, ingestHost);
    } finally {
      await target.close();
    }
  } finally {
    source.close();
  }
}

async function copyStore(
  source: DuckDBStore,
  target: ClickHouseStore,
  ingestHost: string,
): Promise<MigrateCounts[]> {
  const connection = await source.openConnection();
  try {
    const copy = async (table: string, query: string, toRow: (row: Row) => InsertRow) => {
      let rows: InsertRow[] = [];
      for await (const chunk of connection.stream(query)) {
        rows.push(...chunk.map(toRow));
        if (rows.length >= INSERT_ROWS) {
          await insert(target, table, rows);
          rows = [];
        }
      }
      await insert(target, table, rows);
    };

    await copy('submitted_messages', MESSAGE_SELECT, (row) => messageRow(row, ingestHost));
    await copy('auth_failures', FAILURE_SELECT, (row) => failureRow(row, ingestHost));
    await copy('sources', 'SELECT * FROM sources', (row) => sourceRow(row, ingestHost));
    await copy('correlator_state', 'SELECT format, state FROM correlator_state', (row) =>
      stateRow(row, ingestHost),
    );
  } finally {
    connection.close();
  }

  return countBoth(source, target, ingestHost);
}

async function countBoth(
  source: DuckDBStore,
  target: ClickHouseStore,
  ingestHost: string,
): Promise<MigrateCounts[]> {
  const counts: MigrateCounts[] = [];
  for (const table of ['submitted_messages', 'auth_failures', 'sources', 'correlator_state']) {
    const sourceRows = await source.all(`SELECT count(*) AS n FROM ${table}`);
    const targetRows = await target.all(
      sql`SELECT count() AS n FROM ${sqlIdentifier(table)} FINAL
          WHERE ingest_host = ${ingestHost}`,
    );
    counts.push({ table, source: Number(sourceRows[0].n), target: Number(targetRows[0].n) });
  }
  return counts;
}

async function insert(target: ClickHouseStore, table: string, rows: InsertRow[]): Promise<void> {
  try {
    await target.insertRows(table, rows);
  } catch (err) {
    const failed = target.failed(err);
    throw new AppError(
      'STORE_FAILED',
      {
        path: target.name,
        detail: `${failed.details.detail}; run migrate again: rows already copied are not doubled`,
      },
      { cause: err },
    );
  }
}

async function openSource(url: string): Promise<DuckDBStore> {
  const location = parseAnyStoreUrl(url);
  if (location.kind !== 'duckdb') {
    throw invalidOption('--source', url, 'expected a DuckDB store, duckdb:PATH');
  }
  if (!existsSync(location.path)) {
    throw new AppError('SOURCE_NOT_FOUND', { path: location.path, detail: 'no store there' });
  }
  return openStore(location.path);
}

function targetLocation(url: string): ClickHouseLocation {
  const location = parseAnyStoreUrl(url);
  if (location.kind !== 'clickhouse') {
    throw invalidOption('--target', url, 'expected clickhouse://[user:password@]host:8123/db');
  }
  return location;
}

function messageRow(row: Row, ingestHost: string): InsertRow {
  return {
    ...timeColumns(Number(row.time_ms)),
    server: String(row.server),
    service: String(row.service),
    queue_id: String(row.queue_id),
    account: String(row.account),
    sasl_method: String(row.sasl_method),
    sasl_mechanism: String(row.sasl_mechanism),
    sender_address: String(row.sender_address),
    sender_domain: String(row.sender_domain),
    client_ip: String(row.client_ip),
    client_name: String(row.client_name),
    helo: nullableText(row.helo),
    tls_protocol: String(row.tls_protocol),
    tls_evidence: String(row.tls_evidence),
    tls_cipher: nullableText(row.tls_cipher),
    recipients: Number(row.recipients),
    size: Number(row.size),
    ...eventId(row, ingestHost),
  };
}

function failureRow(row: Row, ingestHost: string): InsertRow {
  return {
    ...timeColumns(Number(row.time_ms)),
    server: String(row.server),
    service: String(row.service),
    attempted_username: nullableText(row.attempted_username),
    sasl_method: String(row.sasl_method),
    sasl_mechanism: String(row.sasl_mechanism),
    client_ip: String(row.client_ip),
    client_name: String(row.client_name),
    tls_protocol: String(row.tls_protocol),
    tls_evidence: String(row.tls_evidence),
    reason: String(row.reason),
    ...eventId(row, ingestHost),
  };
}

function sourceRow(row: Row, ingestHost: string): InsertRow {
  return {
    ingest_host: ingestHost,
    source_id: Number(row.id),
    path: String(row.path),
    fingerprint: String(row.fingerprint),
    fingerprint_bytes: Number(row.fingerprint_bytes),
    byte_offset: Number(row.byte_offset),
    line_count: Number(row.line_count),
    updated_at: Math.floor(Date.parse(String(row.updated_at)) / 1000),
  };
}

function stateRow(row: Row, ingestHost: string): InsertRow {
  return {
    ingest_host: ingestHost,
    format: String(row.format),
    state: String(row.state),
    updated_at: Math.floor(Date.now() / 1000),
    row_version: Date.now(),
  };
}

function eventId(row: Row, ingestHost: string): InsertRow {
  return {
    ingest_host: ingestHost,
    source_id: Number(row.source_id),
    line_offset: Number(row.row_number),
    line_event: MIGRATED_LINE_EVENT,
    ingest_run: Number(row.ingest_run),
    row_version: 1,
  };
}

function nullableText(value: Row[string]): string | null {
  return value === null ? null : String(value);
}

function countRows(counts: MigrateCounts[]): (string | number)[][] {
  return counts.map((count) => [count.table, count.source, count.target]);
}
