import path from 'node:path';

import { listValue } from '@duckdb/node-api';

import { computeInsights, type InsightResult } from '../../src/insights/engine.js';
import { INSIGHT_REVIEWS_MIGRATION } from '../../src/insights/schema.js';
import { parseInsightSettings } from '../../src/insights/settings.js';
import type { Signal } from '../../src/insights/signal.js';
import { resolvePeriod } from '../../src/queries/filters.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { tempDir, writeLog } from '../helpers/ingest.js';
import { ingestFiles } from '../helpers/store.js';
import type { PostfixLog, TlsVersion } from './postfix-log.js';

/** Messages inserted straight into the store: an account's steady traffic before the period. */
export interface History {
  account: string;
  clientIp: string;
  sender?: string;
  tls?: TlsVersion;
  /** First and last day, inclusive. */
  from: string;
  to: string;
  perDay: number;
  /** UTC hours of the day the messages are spread over; 09 to 17 by default. */
  hours?: number[];
}

/** The period the scenarios are about, and the 28 days of history before it. */
export const PERIOD = { from: '2026-11-24', to: '2026-11-30' };
export const HISTORY = { from: '2026-10-27', to: '2026-11-23' };

export const WORKING_HOURS = [9, 10, 11, 12, 13, 14, 15, 16, 17];
const DAY_MS = 86_400_000;

export interface TestStore {
  store: DuckDBStore;
  path: string;
  /** Compute the signals for PERIOD, or the default period (7 days to the newest event). */
  insights: (
    settings?: unknown,
    options?: { includeReviewed?: boolean; defaultPeriod?: boolean; timeZone?: string },
  ) => Promise<InsightResult>;
  close: () => void;
}

/**
 * A store built as users build theirs: the log ingested by the real pipeline, then history
 * inserted directly, then the review table created as the lead's migration list will.
 */
export async function buildStore(
  log: PostfixLog | string | null,
  history: History[] = [],
): Promise<TestStore> {
  const { dir, cleanup } = tempDir('sar-insights-');
  const storePath = path.join(dir, 'store.duckdb');
  if (log !== null) {
    const text = typeof log === 'string' ? log : log.text();
    await ingestFiles(storePath, [writeLog(dir, 'mail.log', text)]);
  }

  const store = await DuckDBStore.open(storePath);
  await applyReviewMigration(store);
  for (const block of history) await insertHistory(store, block);

  return {
    store,
    path: storePath,
    insights: async (settings = {}, options = {}) => {
      const dates = options.defaultPeriod ? {} : PERIOD;
      const timeZone = options.timeZone ?? 'UTC';
      const period = await resolvePeriod(store, { ...dates, timeZone });
      return computeInsights((sql, params) => store.all(sql, params), {
        period,
        timeZone,
        settings: parseInsightSettings(settings),
        includeReviewed: options.includeReviewed,
      });
    },
    close: () => {
      store.close();
      cleanup();
    },
  };
}

export async function applyReviewMigration(store: DuckDBStore): Promise<void> {
  const migration = INSIGHT_REVIEWS_MIGRATION;
  const applied = await store.all('SELECT 1 FROM schema_migrations WHERE version = $1', [
    migration.version,
  ]);
  if (applied.length > 0) return;
  await store.transaction(async () => {
    await store.all(migration.sql);
    await store.all('INSERT INTO schema_migrations VALUES ($1, $2, now())', [
      migration.version,
      migration.name,
    ]);
  });
}

/** Insert `perDay` messages on every day of the block, spread over its hours. */
export async function insertHistory(store: DuckDBStore, block: History): Promise<void> {
  const hours = block.hours ?? WORKING_HOURS;
  const times: number[] = [];
  for (let day = Date.parse(block.from); day <= Date.parse(block.to); day += DAY_MS) {
    for (let i = 0; i < block.perDay; i++) {
      const hour = hours[i % hours.length];
      const second = Math.floor(i / hours.length) * 7;
      times.push(day + hour * 3_600_000 + (second % 3600) * 1000);
    }
  }
  const sender = block.sender ?? block.account;
  await store.all(
    `INSERT INTO submitted_messages (ts, server, service, queue_id, account, sasl_method,
       sasl_mechanism, sender_address, sender_domain, client_ip, client_name, helo,
       tls_protocol, tls_evidence, tls_cipher, recipients, size, source_id, ingest_run)
     SELECT to_timestamp(t / 1000), 'mail', 'postfix/submission/smtpd', 'HISTORY', $1,
            'PLAIN', 'PLAIN', $2, $3, $4, 'unknown', NULL, $5, 'line', NULL, 1, 512, 0, 0
     FROM unnest($6::DOUBLE[]) AS u(t)`,
    [
      block.account,
      sender,
      sender.slice(sender.lastIndexOf('@') + 1).toLowerCase(),
      block.clientIp,
      block.tls ?? 'TLSv1.3',
      listValue(times),
    ],
  );
}

/** Select the signals about one account (or, with `clientIp`, one address alone). */
export function about(signals: Signal[], account: string | null, clientIp?: string): Signal[] {
  return signals.filter(
    (s) => s.account === account && (clientIp === undefined || s.clientIp === clientIp),
  );
}

/** Signal names, sorted, for exact comparisons. */
export function names(signals: Signal[]): string[] {
  return signals.map((s) => s.signal).sort();
}
