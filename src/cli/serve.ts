import { existsSync } from 'node:fs';

import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';

import type { Settings } from '../config.js';
import { AppError, invalidOption } from '../errors.js';
import { DEFAULT_INSIGHT_SETTINGS } from '../insights/settings.js';
import {
  checkAlertFlags,
  startAlerts,
  type AlertConfig,
  type ServeAlerts,
} from '../server/alerts.js';
import { buildServer } from '../server/app.js';
import { FOLLOW_INTERVAL_MS, LogFollower } from '../server/follow.js';
import { formatListen, serverUrl, type ListenAddress } from '../server/listen.js';
import { openStore, removeServerFile, writeServerFile } from '../server/server-file.js';
import { duckdbOnlyOption, shownClickHouseUrl } from '../server/store-kind.js';
import { resolveSources } from '../sources/files.js';
import { ensureRollups, REFRESH_MEMORY_MIB } from '../store/duckdb/rollups.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import { ClickHouseStore } from '../store/clickhouse/store.js';
import { closeReportStore, type ReportStore } from '../store/report-store.js';
import { parseAnyStoreUrl, type ClickHouseLocation } from '../store/url.js';
import { ALERT_WEBHOOK_ENV } from './insights.js';
import {
  checkServeFlags,
  DEFAULT_ALERT_INTERVAL_SECONDS,
  type ServeFlags,
} from './serve-options.js';

/** How long shutdown waits for a running follow ingest before exiting without it. */
const STOP_INGEST_WAIT_MS = 5000;

/**
 * DuckDB's memory limit for `serve`, in MiB: the refresh limit (1 GiB, or a quarter of a
 * smaller machine's RAM), not the 128 MB of ingest. The server refreshes the rollups after
 * every followed batch, and the views that read the event tables (a server filter, the CSV
 * export) group millions of rows.
 */
const SERVE_MEMORY_MIB = REFRESH_MEMORY_MIB;

/**
 * Serve the report until SIGINT or SIGTERM. While a DuckDB store is served,
 * `<store path>.server.json` names the server, so that other commands that find the store
 * locked can report its URL.
 */
export async function runServe(settings: Settings, flags: ServeFlags): Promise<void> {
  const { token, listen } = checkServeFlags(flags);
  const alertConfig = checkAlertFlags({
    url: flags.alertWebhook ?? process.env[ALERT_WEBHOOK_ENV],
    minSeverity: flags.alertMinSeverity,
    intervalSeconds: flags.alertInterval,
    defaultIntervalSeconds: DEFAULT_ALERT_INTERVAL_SECONDS,
  });
  const location = parseAnyStoreUrl(settings.store);
  if (location.kind === 'clickhouse') {
    checkClickHouseFlags(location, flags, alertConfig);
    await serveClickHouse(location, settings, { token, listen });
    return;
  }
  if (flags.follow.length > 0) await resolveSources(flags.follow);

  const storePath = location.path;
  if (flags.follow.length === 0 && !existsSync(storePath)) {
    throw new AppError('SOURCE_NOT_FOUND', {
      path: storePath,
      detail:
        'no store there yet; run smtp-auth-report ingest first, pass --store, or add --follow LOG',
    });
  }
  const store = await openStore(storePath, { memoryLimitMib: SERVE_MEMORY_MIB });

  const log = serverLogger();
  await refreshRollups(store, log);
  const app = buildServer({ store, timeZone: settings.timeZone, token, logger: log });
  const url = await listenOrClose(app, store, listen);

  writeServerFile(storePath, { pid: process.pid, url });
  const removeOnExit = () => removeServerFile(storePath);
  process.once('exit', removeOnExit);
  process.stderr.write(`smtp-auth-report: serving the report at ${url}\n`);
  log.info({ url, store: storePath, tokenRequired: token !== undefined }, 'server started');

  const alerts = alertConfig && startServeAlerts(store, alertConfig, settings, log);
  const follower = startFollower(store, settings, flags, log, alerts);
  const signal = await nextSignal();

  log.info({ signal }, 'server stopping');
  const ingestStopped = await stopFollower(follower, log);
  await alerts?.stop();
  await app.close();
  // An ingest still running uses the connection, so the store is left open. Exiting drops
  // the uncommitted batch, which the next ingest reads again from the last checkpoint.
  if (ingestStopped) store.close();
  removeServerFile(storePath);
  process.off('exit', removeOnExit);
  log.info({ signal }, 'server stopped');
  if (!ingestStopped) process.exit(0);
}

/** Reject the options that need a DuckDB store, before anything is opened. */
function checkClickHouseFlags(
  location: ClickHouseLocation,
  flags: ServeFlags,
  alertConfig: AlertConfig | null,
): void {
  const storeUrl = shownClickHouseUrl(location);
  if (flags.follow.length > 0) throw duckdbOnlyOption('--follow', flags.follow, storeUrl);
  if (alertConfig) {
    const option = flags.alertWebhook === undefined ? ALERT_WEBHOOK_ENV : '--alert-webhook';
    throw duckdbOnlyOption(option, new URL(alertConfig.url).origin, storeUrl);
  }
}

/**
 * Serve a ClickHouse store until SIGINT or SIGTERM. Other processes write to it, so there are
 * no rollups to refresh here and no server file: nothing locks a ClickHouse store.
 */
async function serveClickHouse(
  location: ClickHouseLocation,
  settings: Settings,
  { token, listen }: { token?: string; listen: ListenAddress },
): Promise<void> {
  const store = await ClickHouseStore.open(location);
  const log = serverLogger();
  const app = buildServer({ store, timeZone: settings.timeZone, token, logger: log });
  const url = await listenOrClose(app, store, listen);

  process.stderr.write(`smtp-auth-report: serving the report at ${url}\n`);
  const storeUrl = shownClickHouseUrl(location);
  log.info({ url, store: storeUrl, tokenRequired: token !== undefined }, 'server started');
  const signal = await nextSignal();

  log.info({ signal }, 'server stopping');
  await app.close();
  await store.close();
  log.info({ signal }, 'server stopped');
}

function serverLogger(): Logger {
  return pino(
    { redact: ['req.headers.authorization', 'req.headers.cookie'] },
    pino.destination({ dest: 2, sync: true }),
  );
}

/**
 * Bring the rollups up to date before the first request, so that no request waits for
 * events that were ingested while no server ran.
 */
async function refreshRollups(store: DuckDBStore, log: Logger): Promise<void> {
  const started = performance.now();
  const added = await ensureRollups(store);
  if (added.messages + added.failures === 0) return;
  const durationMs = Math.round(performance.now() - started);
  log.info({ ...added, durationMs }, 'rollups refreshed');
}

/** Listen and return the URL to open; port 0 becomes the port the system chose. */
async function listenOrClose(
  app: FastifyInstance,
  store: ReportStore,
  listen: ListenAddress,
): Promise<string> {
  try {
    await app.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await app.close();
    await closeReportStore(store);
    throw listenError(err as NodeJS.ErrnoException, listen);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  return serverUrl({ host: listen.host, port });
}

function listenError(err: NodeJS.ErrnoException, listen: ListenAddress): Error {
  const fixes: Record<string, string> = {
    EADDRINUSE: 'the port is in use; stop the other server or choose another port',
    EACCES: 'permission denied; choose a port above 1023',
    EADDRNOTAVAIL: 'no network interface of this machine has that address',
    ENOTFOUND: 'the host name does not resolve',
  };
  const fix = err.code ? fixes[err.code] : undefined;
  return fix ? invalidOption('--listen', formatListen(listen), fix) : err;
}

function startServeAlerts(
  store: DuckDBStore,
  config: AlertConfig,
  settings: Settings,
  log: Logger,
): ServeAlerts {
  const alerts = startAlerts(store, config, {
    timeZone: settings.timeZone,
    settings: DEFAULT_INSIGHT_SETTINGS,
    log,
  });
  log.info(
    { webhook: new URL(config.url).origin, minSeverity: config.minSeverity },
    'sending insights alerts',
  );
  return alerts;
}

function startFollower(
  store: DuckDBStore,
  settings: Settings,
  flags: ServeFlags,
  log: Logger,
  alerts: ServeAlerts | null,
): LogFollower | undefined {
  if (flags.follow.length === 0) {
    // Nothing new arrives: the open signals are sent once.
    alerts?.start();
    return undefined;
  }

  const follower = new LogFollower(
    store,
    flags.follow,
    { timeZone: settings.timeZone, year: flags.year, serverName: flags.serverName },
    log,
  );
  if (alerts) follower.afterPoll = alerts.afterPoll;
  follower.start();
  log.info({ files: flags.follow, intervalMs: FOLLOW_INTERVAL_MS }, 'following logs');
  return follower;
}

/** Stop following; false when an ingest is still running after the wait. */
async function stopFollower(follower: LogFollower | undefined, log: Logger): Promise<boolean> {
  if (!follower) return true;

  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), STOP_INGEST_WAIT_MS);
  });
  const stopped = await Promise.race([follower.stop().then(() => true), waited]);
  clearTimeout(timer);

  if (!stopped) log.warn({ waitMs: STOP_INGEST_WAIT_MS }, 'exiting during an ingest batch');
  return stopped;
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
