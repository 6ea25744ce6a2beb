import type { Period } from '../queries/filters.js';
import type { StoreQuery } from '../store/duckdb/store.js';
import { passwordSpraying, usernamesFromManyIps } from './attacks.js';
import { manyClientIps, newClientIps } from './client-ips.js';
import { unusualHours } from './hours.js';
import { loginsAfterFailures } from './login-after-failures.js';
import { applyReviews, listReviews } from './reviews.js';
import { foreignSenders } from './senders.js';
import type { InsightSettings } from './settings.js';
import { rankSignals, severityRank, type Severity, type Signal } from './signal.js';
import { tlsSignals } from './tls.js';
import { volumeSpikes } from './volume.js';
import { insightWindow, type InsightContext } from './window.js';

/** Each family computes one or two signals with its own queries over the raw tables. */
const FAMILIES: Record<string, (context: InsightContext) => Promise<Signal[]>> = {
  volumeSpikes,
  newClientIps,
  manyClientIps,
  foreignSenders,
  tlsSignals,
  loginsAfterFailures,
  passwordSpraying,
  usernamesFromManyIps,
  unusualHours,
};

export interface InsightRequest {
  period: Period;
  timeZone: string;
  settings: InsightSettings;
  /** Only signals at or above this severity; all by default. */
  minSeverity?: Severity;
  /** Keep signals covered by a review mark (with the mark attached); open ones only by default. */
  includeReviewed?: boolean;
}

export interface InsightResult {
  period: Period;
  /** Ranked: most severe first, then most recent. */
  signals: Signal[];
  /** Signals left out because a review mark covers them. */
  reviewed: number;
  /** Milliseconds each family took, for benchmarks. */
  timings: Record<string, number>;
}

/**
 * Compute every signal for a period from the store, against each account's history
 * before it. Nothing is cached between calls: a call after an ingest reads the new events,
 * and the queries read only the period and its history, so the cost stays the same as the
 * store grows older.
 */
export async function computeSignals(
  query: StoreQuery,
  request: InsightRequest,
): Promise<{ signals: Signal[]; timings: Record<string, number> }> {
  const context: InsightContext = {
    query,
    window: insightWindow(request.period, request.timeZone, request.settings),
    settings: request.settings,
  };

  const signals: Signal[] = [];
  const timings: Record<string, number> = {};
  // One after the other: a DuckDB query already uses every core.
  for (const [name, family] of Object.entries(FAMILIES)) {
    const started = performance.now();
    signals.push(...(await family(context)));
    timings[name] = Math.round(performance.now() - started);
  }
  return { signals, timings };
}

/** Compute the signals, apply the review marks, and filter and rank them for a reader. */
export async function computeInsights(
  query: StoreQuery,
  request: InsightRequest,
): Promise<InsightResult> {
  const { signals, timings } = await computeSignals(query, request);
  const marked = applyReviews(signals, await listReviews(query));

  const minRank = severityRank(request.minSeverity ?? 'low');
  const severe = marked.filter((signal) => severityRank(signal.severity) >= minRank);
  const open = severe.filter((signal) => signal.reviewed === null);
  return {
    period: request.period,
    signals: rankSignals(request.includeReviewed ? severe : open),
    reviewed: severe.length - open.length,
    timings,
  };
}
