/**
 * Numbered schema migrations, applied in order and recorded in `schema_migrations`.
 * Never edit a released migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
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
];
