import type { Logger } from 'pino';

import { invalidOption } from '../errors.js';
import { computeInsights } from '../insights/engine.js';
import { InsightsMonitor } from '../insights/monitor.js';
import type { InsightSettings } from '../insights/settings.js';
import { SEVERITIES, type Severity, type Signal } from '../insights/signal.js';
import { checkWebhookUrl, WebhookSender } from '../insights/webhook.js';
import { resolvePeriod } from '../queries/filters.js';
import type { DuckDBStore, StoreQuery } from '../store/duckdb/store.js';
import { connectionMutex } from './mutex.js';

/** How long shutdown waits for alerts still queued or being retried. */
const CLOSE_WAIT_MS = 5000;

/** The longest --alert-interval: a day. */
const MAX_INTERVAL_SECONDS = 86_400;

export interface AlertConfig {
  url: string;
  minSeverity: Severity;
  intervalMs: number;
}

/** The alert flags of `serve` as given on the command line or in the environment. */
export interface AlertFlags {
  url?: string;
  minSeverity?: string;
  intervalSeconds?: string;
  defaultIntervalSeconds: number;
}

/** Check the alert flags before the server starts; null when no webhook is configured. */
export function checkAlertFlags(flags: AlertFlags): AlertConfig | null {
  if (flags.url === undefined || flags.url === '') {
    if (flags.minSeverity !== undefined || flags.intervalSeconds !== undefined) {
      const option = flags.minSeverity !== undefined ? '--alert-min-severity' : '--alert-interval';
      const value = flags.minSeverity ?? flags.intervalSeconds;
      throw invalidOption(option, value, 'it needs --alert-webhook URL');
    }
    return null;
  }
  checkWebhookUrl(flags.url);
  return {
    url: flags.url,
    minSeverity: severityOf(flags.minSeverity),
    intervalMs: intervalOf(flags.intervalSeconds, flags.defaultIntervalSeconds) * 1000,
  };
}

function severityOf(value: string | undefined): Severity {
  if (value === undefined) return 'low';
  if ((SEVERITIES as readonly string[]).includes(value)) return value as Severity;
  throw invalidOption('--alert-min-severity', value, `expected one of ${SEVERITIES.join(', ')}`);
}

function intervalOf(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const seconds = Number(value);
  if (!/^\d+$/.test(value) || seconds < 1 || seconds > MAX_INTERVAL_SECONDS) {
    throw invalidOption(
      '--alert-interval',
      value,
      `expected whole seconds from 1 to ${MAX_INTERVAL_SECONDS}`,
    );
  }
  return seconds;
}

export interface ServeAlerts {
  /** Pass to `LogFollower.afterPoll`: the first poll starts the first computation. */
  afterPoll: (linesStored: number) => void;
  /** Start the first computation now, for a server that follows no log. */
  start: () => void;
  stop: () => Promise<void>;
}

/**
 * Send the signals of the default period (7 days to the newest event) to a webhook while the
 * server runs: all open ones in one request once the first poll of the followed logs is
 * stored, then each new or escalated one after later polls. The computation runs after the
 * poll, never inside it, and its queries take the store's connection one at a time, so an
 * ingest batch waits for one query at most.
 */
export function startAlerts(
  store: DuckDBStore,
  config: AlertConfig,
  context: { timeZone: string; settings: InsightSettings; log: Logger },
): ServeAlerts {
  const log = context.log.child({ component: 'alerts' });
  const sender = new WebhookSender(config.url, { logger: log });
  const monitor = new InsightsMonitor({
    compute: () => openSignals(store, context),
    sender,
    minSeverity: config.minSeverity,
    debounceMs: config.intervalMs,
    alertExisting: true,
    logger: log,
  });

  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    monitor.computeNow();
  };
  return {
    afterPoll: (linesStored) => {
      if (!started) start();
      else if (linesStored > 0) monitor.ingested();
    },
    start,
    stop: async () => {
      await monitor.stop();
      await sender.close(CLOSE_WAIT_MS);
      log.info({ ...sender.stats }, 'alerts stopped');
    },
  };
}

async function openSignals(
  store: DuckDBStore,
  context: { timeZone: string; settings: InsightSettings },
): Promise<Signal[]> {
  const mutex = connectionMutex(store);
  const query: StoreQuery = (sql, params) => mutex.run(() => store.all(sql, params));
  const period = await mutex.run(() => resolvePeriod(store, { timeZone: context.timeZone }));
  const result = await computeInsights(query, {
    period,
    timeZone: context.timeZone,
    settings: context.settings,
  });
  return result.signals;
}
