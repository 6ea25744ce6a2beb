import { INSIGHT_REVIEWS_MIGRATION } from '../../insights/schema.js';

/**
 * Numbered schema migrations, applied in order and recorded in `schema_migrations`.
 * Never edit a released migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Measures of the message rollups: counts per TLS version, as in TLS_PROTOCOLS order. */
const TLS_COUNT_COLUMNS = `
        tlsv1_0       INTEGER NOT NULL,
        tlsv1_1       INTEGER NOT NULL,
        tlsv1_2       INTEGER NOT NULL,
        tlsv1_3       INTEGER NOT NULL,
        no_tls        INTEGER NOT NULL,
        tls_unknown   INTEGER NOT NULL`;

/** Create one table per level. The bucket is a quarter hour or the first day of a block of days. */
function rollupTables(family: string, levels: string[], columns: string): string {
  return levels
    .map((level) => `CREATE TABLE rollup_${family}_${level} (\n${columns}\n      );`)
    .join('\n      ');
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'create events, sources and correlator state',
    sql: `
      CREATE SEQUENCE source_ids START 1;
      CREATE SEQUENCE ingest_run_ids START 1;

      -- One row per message accepted into the queue after a successful SMTP AUTH.
      CREATE TABLE submitted_messages (
        ts              TIMESTAMPTZ NOT NULL,
        server          VARCHAR NOT NULL,
        service         VARCHAR NOT NULL,
        queue_id        VARCHAR NOT NULL,
        account         VARCHAR NOT NULL,
        sasl_method     VARCHAR NOT NULL,  -- as logged
        sasl_mechanism  VARCHAR NOT NULL,  -- upper-case standard name
        sender_address  VARCHAR NOT NULL,  -- '' for the null sender
        sender_domain   VARCHAR NOT NULL,
        client_ip       VARCHAR NOT NULL,
        client_name     VARCHAR NOT NULL,
        helo            VARCHAR,
        tls_protocol    VARCHAR NOT NULL,  -- TLSv1 .. TLSv1.3, none, unknown
        tls_evidence    VARCHAR NOT NULL,  -- line, starttls, no-line, not-seen
        tls_cipher      VARCHAR,
        recipients      INTEGER NOT NULL,
        size            BIGINT NOT NULL,
        source_id       INTEGER NOT NULL,
        ingest_run      INTEGER NOT NULL
      );

      -- One row per failed SMTP AUTH attempt.
      CREATE TABLE auth_failures (
        ts                  TIMESTAMPTZ NOT NULL,
        server              VARCHAR NOT NULL,
        service             VARCHAR NOT NULL,
        attempted_username  VARCHAR,
        sasl_method         VARCHAR NOT NULL,
        sasl_mechanism      VARCHAR NOT NULL,
        client_ip           VARCHAR NOT NULL,
        client_name         VARCHAR NOT NULL,
        tls_protocol        VARCHAR NOT NULL,
        tls_evidence        VARCHAR NOT NULL,
        reason              VARCHAR NOT NULL,
        source_id           INTEGER NOT NULL,
        ingest_run          INTEGER NOT NULL
      );

      -- Ingest checkpoints. A file is known by a hash of its first bytes, so a renamed or
      -- compressed rotation of a file already read is recognised and resumed.
      CREATE TABLE sources (
        id                 INTEGER PRIMARY KEY,
        path               VARCHAR NOT NULL,
        fingerprint        VARCHAR NOT NULL,
        fingerprint_bytes  INTEGER NOT NULL,
        byte_offset        BIGINT NOT NULL,
        line_count         BIGINT NOT NULL,
        updated_at         TIMESTAMPTZ NOT NULL
      );

      -- Open sessions and queue ids waiting for their qmgr line, saved with each checkpoint
      -- so that a message split across two runs or two rotated files counts once.
      CREATE TABLE correlator_state (
        format      VARCHAR PRIMARY KEY,
        state       VARCHAR NOT NULL,
        updated_at  TIMESTAMPTZ NOT NULL
      );

      CREATE TABLE ingest_runs (
        id           INTEGER PRIMARY KEY,
        started_at   TIMESTAMPTZ NOT NULL,
        finished_at  TIMESTAMPTZ
      );
    `,
  },
  {
    version: 2,
    name: 'add dictionaries and rollups for the report queries',
    sql: `
      -- Dictionaries: each distinct name once, with a small integer id for the rollups.
      CREATE SEQUENCE dict_account_ids START 1;
      CREATE SEQUENCE dict_sender_domain_ids START 1;
      CREATE SEQUENCE dict_sender_ids START 1;
      CREATE SEQUENCE dict_client_ip_ids START 1;
      CREATE SEQUENCE dict_mechanism_ids START 1;
      CREATE SEQUENCE dict_server_ids START 1;
      CREATE SEQUENCE dict_helo_ids START 1;
      CREATE SEQUENCE dict_username_ids START 1;
      -- search_name is lower(name), which the search filter tests, stored once per name.
      CREATE TABLE dict_accounts (
        id INTEGER NOT NULL, name VARCHAR NOT NULL, search_name VARCHAR NOT NULL);
      CREATE TABLE dict_sender_domains (id INTEGER NOT NULL, name VARCHAR NOT NULL);
      CREATE TABLE dict_senders (
        id INTEGER NOT NULL, address VARCHAR NOT NULL, domain_id INTEGER NOT NULL,
        search_name VARCHAR NOT NULL);
      CREATE TABLE dict_client_ips (id INTEGER NOT NULL, address VARCHAR NOT NULL);
      CREATE TABLE dict_mechanisms (id INTEGER NOT NULL, name VARCHAR NOT NULL);
      CREATE TABLE dict_servers (id INTEGER NOT NULL, name VARCHAR NOT NULL);
      CREATE TABLE dict_helos (id INTEGER NOT NULL, name VARCHAR NOT NULL);
      -- Attempted usernames of failed logins; a failure without one has no entry.
      CREATE TABLE dict_usernames (
        id INTEGER NOT NULL, name VARCHAR NOT NULL, search_name VARCHAR NOT NULL);

      -- How many rows of each event table the rollups hold: rows are appended and never
      -- deleted, so the rollups hold exactly the rows whose rowid is below this count.
      -- NOTE: a later migration that deletes event rows or rewrites an event table, which
      -- renumbers its rowids, must also empty the rollups and set rows_done to 0.
      CREATE TABLE rollup_progress (
        source     VARCHAR PRIMARY KEY,
        rows_done  BIGINT NOT NULL
      );
      INSERT INTO rollup_progress VALUES ('submitted_messages', 0), ('auth_failures', 0);

      -- The buckets of each rollup table: generations counts the appends since the bucket
      -- was last merged into one row per key, and merged_rows its rows after that merge.
      CREATE TABLE rollup_buckets (
        rollup       VARCHAR NOT NULL,
        bucket       INTEGER NOT NULL,
        merged_rows  BIGINT NOT NULL,
        generations  INTEGER NOT NULL,
        PRIMARY KEY (rollup, bucket)
      );

      -- Messages per sender domain and server, for the per-day charts and totals.
      ${rollupTables(
        'domain',
        ['q', 'd1'],
        `
        bucket        INTEGER NOT NULL,
        domain_id     INTEGER NOT NULL,
        server_id     INTEGER NOT NULL,
        messages      INTEGER NOT NULL,
        recipients    BIGINT NOT NULL,${TLS_COUNT_COLUMNS},
        -- TLS unknown because the log has no TLS line (no-line or starttls evidence).
        tls_unlogged  INTEGER NOT NULL`,
      )}

      -- Messages per account, for the account tables without a domain or search filter, with
      -- the ids of the sender addresses, client IPs and mechanisms it used.
      ${rollupTables(
        'account',
        ['d1', 'd2', 'd4', 'd8', 'd16', 'd32', 'd64'],
        `
        bucket        INTEGER NOT NULL,
        account_id    INTEGER NOT NULL,
        messages      INTEGER NOT NULL,
        recipients    BIGINT NOT NULL,${TLS_COUNT_COLUMNS},
        first_seen    TIMESTAMPTZ,
        last_seen     TIMESTAMPTZ,
        sender_ids    INTEGER[] NOT NULL,
        client_ip_ids INTEGER[] NOT NULL,
        mechanism_ids INTEGER[] NOT NULL`,
      )}

      -- Messages per account, sender address, client IP, mechanism and HELO name. The sender's
      -- domain is a key too, so that the domain filter is a plain comparison.
      ${rollupTables(
        'client',
        ['q', 'd1', 'd4', 'd16', 'd64'],
        `
        bucket        INTEGER NOT NULL,
        account_id    INTEGER NOT NULL,
        sender_id     INTEGER NOT NULL,
        domain_id     INTEGER NOT NULL,
        client_ip_id  INTEGER NOT NULL,
        mechanism_id  INTEGER NOT NULL,
        helo_id       INTEGER,
        messages      INTEGER NOT NULL,
        recipients    BIGINT NOT NULL,${TLS_COUNT_COLUMNS},
        first_seen    TIMESTAMPTZ,
        last_seen     TIMESTAMPTZ`,
      )}

      -- Failed logins per attempted username, client IP, mechanism, TLS version and server.
      ${rollupTables(
        'failure',
        ['q', 'd1'],
        `
        bucket        INTEGER NOT NULL,
        username_id   INTEGER,
        client_ip_id  INTEGER NOT NULL,
        mechanism_id  INTEGER NOT NULL,
        tls_code      TINYINT NOT NULL,
        server_id     INTEGER NOT NULL,
        failures      INTEGER NOT NULL`,
      )}
    `,
  },
  // Review marks of the insights, kept with the signals' code.
  INSIGHT_REVIEWS_MIGRATION,
];
