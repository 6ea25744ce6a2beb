import type { Migration } from '../store/duckdb/migrations.js';

/**
 * Review marks: an account or client address whose signals someone has looked at, with a
 * note. Rows are only added, never changed, so the newest mark per subject and signal
 * applies and the older ones stay as a record.
 */
export const INSIGHT_REVIEWS_MIGRATION: Migration = {
  version: 3,
  name: 'create insight review marks',
  sql: `
    CREATE TABLE insight_reviews (
      subject_kind      VARCHAR NOT NULL,  -- account, client-ip
      subject           VARCHAR NOT NULL,
      signal            VARCHAR,           -- NULL: every signal about the subject
      note              VARCHAR NOT NULL,
      reviewed_at       TIMESTAMPTZ NOT NULL,
      -- Activity up to this instant is reviewed; NULL: all activity, now and later.
      reviewed_through  TIMESTAMPTZ
    );
  `,
};
