import type { ClickHouseClient, ClickHouseSettings } from '@clickhouse/client';

import { AppError } from '../../errors.js';
import type { ClickHouseLocation } from '../url.js';
import {
  clusterDdl,
  MIGRATIONS,
  SCHEMA_MIGRATIONS_TABLE,
  singleServerDdl,
  type Migration,
} from './migrations.js';
import { sql, sqlIdentifier, type SqlText } from './sql.js';

/** A result row: numbers for every integer column (UInt64 included), strings, nulls. */
export type ClickHouseRow = Record<string, string | number | null | string[] | number[]>;

/** Rows inserted in one request: JSONEachRow objects whose keys are column names. */
export type InsertRow = Record<string, string | number | null>;

/**
 * Settings sent with every request. ClickHouse 18.16 rejects unknown settings, so only those
 * it has go here. UInt64 values come as JSON numbers: the store's UInt64 columns (counts,
 * byte offsets, ids below 2^53) fit in a double.
 */
const QUERY_SETTINGS: ClickHouseSettings = {
  output_format_json_quote_64bit_integers: 0,
};

/**
 * Inserts through a Distributed table wait until every shard has its rows, so that a
 * successful insert means stored, as on a single server.
 */
const CLUSTER_INSERT_SETTINGS: ClickHouseSettings = { insert_distributed_sync: 1 };

/** How long one request may take before it is treated as failed and retried. */
const REQUEST_TIMEOUT_MS = 60_000;

/** A ClickHouse database holding the report's events and the checkpoints of every ingest host. */
export class ClickHouseStore {
  readonly kind = 'clickhouse';

  private constructor(
    readonly location: ClickHouseLocation,
    readonly client: ClickHouseClient,
  ) {}

  /**
   * Connect, create the database when it is missing, and apply pending migrations. With a
   * cluster in the location, tables are local tables plus Distributed tables over them
   * (see clusterDdl), created on this server only: open the store once on every server.
   *
   * NOTE: this needs the server to be reachable, so a shipper that restarts while ClickHouse
   * is down fails here even though its spool could take batches; a caller must retry.
   */
  static async open(location: ClickHouseLocation): Promise<ClickHouseStore> {
    await createDatabase(location);
    const store = new ClickHouseStore(location, await newClient(location, location.database));
    try {
      await store.migrate();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  /** The URL without the password, for messages and logs. */
  get name(): string {
    const { url, database, username } = this.location;
    return `clickhouse://${username}@${url.replace(/^http:\/\//, '')}/${database}`;
  }

  /** Run a query and return its rows. */
  async all(query: SqlText): Promise<ClickHouseRow[]> {
    try {
      const result = await this.client.query({
        query: query.text,
        format: 'JSONEachRow',
        clickhouse_settings: QUERY_SETTINGS,
      });
      return await result.json<ClickHouseRow>();
    } catch (err) {
      throw this.failed(err);
    }
  }

  /** Run a statement that returns no rows (DDL, INSERT ... SELECT). */
  async run(statement: SqlText | string): Promise<void> {
    const text = typeof statement === 'string' ? statement : statement.text;
    try {
      await this.client.command({ query: text, clickhouse_settings: this.insertSettings() });
    } catch (err) {
      throw this.failed(err);
    }
  }

  /**
   * Insert rows in one request. Values travel as JSONEachRow data, not SQL text, so they
   * need no escaping. Errors are thrown as the client raised them, so that a caller that
   * retries can tell a lost connection from a rejected insert (see isTransientError).
   */
  async insertRows(table: string, rows: InsertRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.client.insert({
      table: sqlIdentifier(table).text,
      values: rows,
      format: 'JSONEachRow',
      clickhouse_settings: this.insertSettings(),
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Wraps a failed request in the error a user sees: which store, and the server's message. */
  failed(err: unknown): AppError {
    const detail = (err as Error)?.message?.trim() ?? String(err);
    return new AppError('STORE_FAILED', { path: this.name, detail }, { cause: err });
  }

  get cluster(): string | undefined {
    return this.location.cluster;
  }

  private insertSettings(): ClickHouseSettings {
    return this.cluster ? CLUSTER_INSERT_SETTINGS : {};
  }

  /**
   * Apply the migrations this database lacks. Several ingest hosts may open the store at
   * once: every statement is `IF NOT EXISTS`, so a migration that two of them apply
   * together has the same effect as one, and its duplicate record collapses.
   */
  private async migrate(): Promise<void> {
    await this.run(SCHEMA_MIGRATIONS_TABLE);
    const rows = await this.all(sql`SELECT DISTINCT version FROM schema_migrations`);
    const applied = new Set(rows.map((row) => Number(row.version)));

    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      for (const statement of this.migrationDdl(migration)) await this.run(statement);
      await this.run(
        sql`INSERT INTO schema_migrations VALUES (${migration.version}, ${migration.name}, now())`,
      );
    }
  }

  private migrationDdl(migration: Migration): string[] {
    const cluster = this.cluster;
    if (!cluster) return migration.tables.flatMap((table) => singleServerDdl(table));
    return migration.tables.flatMap((table) =>
      clusterDdl(table, sqlIdentifier(cluster).text, sqlIdentifier(this.location.database).text),
    );
  }
}

/**
 * Whether a failed request may succeed if sent again: the server was unreachable, the
 * connection broke or timed out, or the server reported a condition that passes (too many
 * parts or queries, memory, a shard that did not respond). Any other ClickHouse error is a
 * rejected request, which sending again would repeat.
 */
export function isTransientError(err: unknown): boolean {
  if (clickhouse !== null && err instanceof clickhouse.ClickHouseError) {
    return TRANSIENT_SERVER_ERRORS.has(Number(err.code));
  }
  return err instanceof Error;
}

/**
 * ClickHouse error codes (src/Common/ErrorCodes.cpp) that describe a passing condition:
 * 159 TIMEOUT_EXCEEDED, 202 TOO_MANY_SIMULTANEOUS_QUERIES, 209 SOCKET_TIMEOUT,
 * 210 NETWORK_ERROR, 241 MEMORY_LIMIT_EXCEEDED, 252 TOO_MANY_PARTS,
 * 279 ALL_CONNECTION_TRIES_FAILED, 319 UNKNOWN_STATUS_OF_INSERT.
 */
const TRANSIENT_SERVER_ERRORS = new Set([159, 202, 209, 210, 241, 252, 279, 319]);

/**
 * The ClickHouse client library, loaded when a store is first opened, so that commands on a
 * DuckDB store start without it. Before that no ClickHouse error can exist.
 */
let clickhouse: typeof import('@clickhouse/client') | null = null;

async function newClient(
  location: ClickHouseLocation,
  database: string,
): Promise<ClickHouseClient> {
  clickhouse ??= await import('@clickhouse/client');
  const { createClient, ClickHouseLogLevel } = clickhouse;
  return createClient({
    url: location.url,
    username: location.username,
    password: location.password,
    database,
    request_timeout: REQUEST_TIMEOUT_MS,
    // Errors reach the caller, which logs them with the ids involved.
    log: { level: ClickHouseLogLevel.OFF },
    application: 'smtp-auth-report',
  });
}

async function createDatabase(location: ClickHouseLocation): Promise<void> {
  const client = await newClient(location, 'default');
  try {
    await client.command({
      query: sql`CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(location.database)}`.text,
    });
  } catch (err) {
    const name = `clickhouse://${location.url.replace(/^http:\/\//, '')}/${location.database}`;
    const message = (err as Error).message.trim();
    const hint = /password|authenticat/i.test(message)
      ? 'check the user and password in the store URL'
      : 'check that ClickHouse runs there and the user may create databases';
    const detail = `${message}; ${hint}`;
    throw new AppError('STORE_FAILED', { path: name, detail }, { cause: err });
  } finally {
    await client.close();
  }
}
