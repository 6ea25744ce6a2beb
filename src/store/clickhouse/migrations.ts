/**
 * Numbered schema migrations of the ClickHouse store, applied in order and recorded in
 * `schema_migrations`. Never edit a released migration: add the next number.
 *
 * Types are those of ClickHouse 18.16 (Debian 12): no LowCardinality and no DateTime64, so a
 * time is a DateTime in whole seconds plus a UInt16 of milliseconds.
 *
 * ClickHouse has no transactions, so an insert that is repeated after a failure must not
 * count twice. So every event row has an event id of four columns. They are the host that
 * ingested it (`ingest_host`) and the file (`source_id`, fixed when the file is first read).
 * Then come the byte offset of the log line that completed the event (`line_offset`) and its
 * place among the events of that line (`line_event`). The event tables are ReplacingMergeTree tables whose sorting key ends with
 * the event id, so rows with the same id collapse into one in merges, and queries collapse
 * those not yet merged with FINAL or argMax.
 */

/** One table: the store creates it as it is, or on a cluster as a local and a Distributed table. */
export interface TableSpec {
  name: string;
  columns: string;
  /** Engine of the table, or of the local table on a cluster. */
  engine: string;
  /**
   * Sharding key of the Distributed table. It must depend only on the row's id, so that a
   * repeated row reaches the shard of its first copy and collapses there.
   */
  shardingKey: string;
}

export interface Migration {
  version: number;
  name: string;
  tables: TableSpec[];
}

/** Columns of the event id, shared by both event tables. */
const EVENT_ID_COLUMNS = `
    ingest_host  String,
    source_id    UInt64,
    line_offset  UInt64,
    line_event   UInt16,
    ingest_run   UInt64,
    -- 1 when written; settling a TLS version re-inserts the row with a higher number.
    row_version  UInt32`;

const EVENT_ID_KEY = 'ingest_host, source_id, line_offset, line_event';
const EVENT_SHARDING_KEY = `cityHash64(${EVENT_ID_KEY})`;

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'create events, sources and correlator state',
    tables: [
      {
        // One row per message accepted into the queue after a successful SMTP AUTH. Sorted by
        // day, then server, sender domain and account: the report's filters, most used first.
        name: 'submitted_messages',
        columns: `
    ts              DateTime('UTC'),
    ts_ms           UInt16,
    server          String,
    service         String,
    queue_id        String,
    account         String,
    sasl_method     String,  -- as logged
    sasl_mechanism  String,  -- upper-case standard name
    sender_address  String,  -- '' for the null sender
    sender_domain   String,
    client_ip       String,
    client_name     String,
    helo            Nullable(String),
    tls_protocol    String,  -- TLSv1 .. TLSv1.3, none, unknown
    tls_evidence    String,  -- line, starttls, no-line, not-seen
    tls_cipher      Nullable(String),
    recipients      UInt32,
    size            UInt64,${EVENT_ID_COLUMNS}`,
        engine: `ReplacingMergeTree(row_version)
  PARTITION BY toYYYYMM(ts)
  ORDER BY (toDate(ts), server, sender_domain, account, ${EVENT_ID_KEY})`,
        shardingKey: EVENT_SHARDING_KEY,
      },
      {
        // One row per failed SMTP AUTH attempt.
        name: 'auth_failures',
        columns: `
    ts                  DateTime('UTC'),
    ts_ms               UInt16,
    server              String,
    service             String,
    attempted_username  Nullable(String),
    sasl_method         String,
    sasl_mechanism      String,
    client_ip           String,
    client_name         String,
    tls_protocol        String,
    tls_evidence        String,
    reason              String,${EVENT_ID_COLUMNS}`,
        engine: `ReplacingMergeTree(row_version)
  PARTITION BY toYYYYMM(ts)
  ORDER BY (toDate(ts), server, client_ip, ${EVENT_ID_KEY})`,
        shardingKey: EVENT_SHARDING_KEY,
      },
      {
        // Ingest checkpoints, one per ingest host and file. A file is known by a hash of its
        // first bytes, so a renamed or compressed rotation of a file already read is resumed.
        // The row read furthest wins: offsets of one file only grow.
        name: 'sources',
        columns: `
    ingest_host        String,
    source_id          UInt64,
    path               String,
    fingerprint        String,
    fingerprint_bytes  UInt32,
    byte_offset        UInt64,
    line_count         UInt64,
    updated_at         DateTime('UTC')`,
        engine: `ReplacingMergeTree(byte_offset)
  ORDER BY (ingest_host, source_id)`,
        shardingKey: 'cityHash64(ingest_host)',
      },
      {
        // Open sessions and queue ids waiting for their qmgr line, per ingest host, saved with
        // each checkpoint so that a message split across two runs or two files counts once.
        name: 'correlator_state',
        columns: `
    ingest_host  String,
    format       String,
    state        String,
    updated_at   DateTime('UTC'),
    -- Grows with every save by the same host; the highest is the current state.
    row_version  UInt64`,
        engine: `ReplacingMergeTree(row_version)
  ORDER BY (ingest_host, format)`,
        shardingKey: 'cityHash64(ingest_host)',
      },
      {
        name: 'ingest_runs',
        columns: `
    id           UInt64,
    ingest_host  String,
    started_at   DateTime('UTC'),
    finished_at  Nullable(DateTime('UTC')),
    -- 0 when started, 1 when finished.
    row_version  UInt8`,
        engine: `ReplacingMergeTree(row_version)
  ORDER BY id`,
        shardingKey: 'cityHash64(id)',
      },
    ],
  },
];

/** The table that records applied migrations; on a cluster each server has its own. */
export const SCHEMA_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version     UInt32,
    name        String,
    applied_at  DateTime('UTC')
  ) ENGINE = ReplacingMergeTree ORDER BY version`;

/** Suffix of the local tables under the Distributed tables of a cluster. */
export const LOCAL_SUFFIX = '_local';

/** Returns the statements that create a table on a single server. */
export function singleServerDdl(table: TableSpec): string[] {
  return [`CREATE TABLE IF NOT EXISTS ${table.name} (${table.columns}\n) ENGINE = ${table.engine}`];
}

/**
 * Returns the statements that create a table on one server of a cluster: the local table with
 * this shard's rows, and a Distributed table under the table's own name, so that queries are
 * the same on a cluster as on one server. Run them on every server of the cluster: `ON
 * CLUSTER` needs ZooKeeper, which a cluster of plain MergeTree tables does not have.
 */
export function clusterDdl(table: TableSpec, cluster: string, database: string): string[] {
  const local = `${table.name}${LOCAL_SUFFIX}`;
  return [
    `CREATE TABLE IF NOT EXISTS ${local} (${table.columns}\n) ENGINE = ${table.engine}`,
    `CREATE TABLE IF NOT EXISTS ${table.name} AS ${local}
  ENGINE = Distributed(${cluster}, ${database}, ${local}, ${table.shardingKey})`,
  ];
}
