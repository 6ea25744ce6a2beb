import { setTimeout as sleep } from 'node:timers/promises';

import { pino, type Logger } from 'pino';

import { AppError } from '../errors.js';
import { ClickHouseIngest } from '../ingest/clickhouse.js';
import { LogFileFollower } from '../ingest/follow.js';
import { Ingest, type FileSummary, type IngestOptions } from '../ingest/pipeline.js';
import type { AnyTarget, ClickHouseTargetOptions } from '../ingest/targets.js';
import { resolveReadableSources, type LogSource } from '../sources/files.js';
import { openStore } from '../server/server-file.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import { parseAnyStoreUrl } from '../store/url.js';
import type { Settings } from '../config.js';
import type { LogFormat } from '../formats/correlator.js';
import { textTable } from './format.js';
import { ProgressBar } from './progress.js';

export interface IngestFlags {
  year?: number;
  serverName?: string;
  logFormat?: LogFormat;
  format: 'text' | 'json';
  /** Keep reading the files as they grow until SIGINT or SIGTERM. */
  follow?: boolean;
  pollIntervalMs?: number;
  /** ClickHouse only: the host of the event ids and checkpoints (default: --server-name). */
  ingestHost?: string;
  /** ClickHouse only: the writer's spool folder. */
  spoolDir?: string;
}

export interface IngestResult {
  files: FileSummary[];
  /** Servers whose log shows no TLS line: their TLS versions are unknown. */
  serversWithoutTlsLogging: string[];
  authBackendErrors: number;
}

/** How long a one-time ingest waits at its end for ClickHouse to take the spooled batches. */
const DRAIN_WAIT_MS = 120_000;
/** How long `--follow` waits for ClickHouse after SIGINT or SIGTERM before it exits. */
const STOP_DRAIN_WAIT_MS = 10_000;
/**
 * How `--follow` settles TLS versions in ClickHouse: at most once a minute, because settling
 * reads the event tables with FINAL, and waiting at most 5 seconds for the spooled batches.
 * While ClickHouse is down, polls go on after that wait and batches collect in the spool.
 */
const FOLLOW_SETTLE = { settleEveryMs: 60_000, settleWaitMs: 5_000 };
/** First and longest wait between two attempts of `--follow` to reach ClickHouse at start. */
const OPEN_RETRY_MS = 1000;
const OPEN_RETRY_MAX_MS = 30_000;

/** A store opened for ingest: DuckDB, or ClickHouse through its writer. */
interface IngestStore {
  target: DuckDBStore | AnyTarget;
  /** Servers with Postfix messages, for the note on logs without TLS lines. */
  postfixServers(): Promise<string[]>;
  /** Wait for batches not yet stored (ClickHouse); returns how many are left. */
  drain(timeoutMs: number): Promise<number>;
  /** Folder of the batches not yet stored, for messages; null for DuckDB. */
  spoolDir: string | null;
  /** Whether an error stops `--follow` rather than being retried at the next poll. */
  isFatal(err: unknown): boolean;
  close(): Promise<void>;
}

/** Read the given logs into the store and print one summary per file. */
export async function runIngest(
  settings: Settings,
  files: string[],
  flags: IngestFlags,
): Promise<IngestResult> {
  if (flags.follow) return runFollow(settings, files, flags);

  const { sources, errors } = await resolveReadableSources(files);
  if (sources.length === 0 && errors.length > 0) throw errors[0];
  // The other files are still read, and the exit status shows that one could not be.
  for (const error of errors) process.stderr.write(`smtp-auth-report: ${error.message}\n`);
  if (errors.length > 0) process.exitCode = 1;
  const store = await openIngestStore(settings, flags, stderrLog(), {
    settleWaitMs: DRAIN_WAIT_MS,
  });
  const progress = new ProgressBar();

  try {
    const ingest = new Ingest(store.target, {
      ...ingestOptions(settings, flags),
      onProgress: (source, bytes) => progress.update(source, bytes),
    });
    const stopOnInterrupt = () => {
      progress.clear();
      process.stderr.write(
        'smtp-auth-report: interrupted; what was committed is kept, and the same command resumes from there\n',
      );
      process.exit(130);
    };
    process.once('SIGINT', stopOnInterrupt);
    const summaries = await ingest.run(sources);
    process.off('SIGINT', stopOnInterrupt);
    progress.clear();

    const left = await store.drain(DRAIN_WAIT_MS);
    if (left > 0) warnSpooled(left, store.spoolDir);
    // Only Postfix needs a setting for TLS lines; its services are all named postfix...
    const servers = left > 0 ? [] : await store.postfixServers();
    const withoutTls = servers.filter((server) => !ingest.serversWithTlsLogging.has(server));
    const result = {
      files: summaries,
      serversWithoutTlsLogging: withoutTls,
      authBackendErrors: ingest.authBackendErrors,
    };
    printIngestResult(result, flags.format);
    // Exit non-zero when a file could not be read to its end, after reading all the others.
    if (summaries.some((file) => file.error)) process.exitCode = 1;
    return result;
  } finally {
    progress.clear();
    await store.close();
  }
}

/**
 * `ingest --follow`: poll the files until SIGINT or SIGTERM, then wait a moment for ClickHouse
 * to take the spooled batches and exit. Batches it has not taken stay in the spool for the
 * next start. Each poll logs one line per file that gained lines.
 */
async function runFollow(
  settings: Settings,
  files: string[],
  flags: IngestFlags,
): Promise<IngestResult> {
  const log = stderrLog();
  const stopping = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'stopping: finishing the current batch');
    stopping.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  let store: IngestStore | null = null;
  try {
    store = await openWhenReachable(settings, flags, log, stopping.signal);
    if (store) await followWith(store, settings, files, flags, log, stopping.signal);
    log.info({}, 'stopped');
    return { files: [], serversWithoutTlsLogging: [], authBackendErrors: 0 };
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await store?.close();
  }
}

async function followWith(
  store: IngestStore,
  settings: Settings,
  files: string[],
  flags: IngestFlags,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const options = { ...ingestOptions(settings, flags), signal };
  const ingestSources = (sources: LogSource[]) => new Ingest(store.target, options).run(sources);
  const follower = new LogFileFollower(files, ingestSources, log, {
    intervalMs: flags.pollIntervalMs,
    isFatal: (err) => store.isFatal(err),
  });
  log.info({ files, store: storeName(settings.store) }, 'following log files');
  await follower.run(signal);

  const left = await store.drain(STOP_DRAIN_WAIT_MS);
  if (left > 0) {
    log.warn(
      { spoolBatches: left, spoolDir: store.spoolDir },
      'clickhouse has not taken every batch; the spool keeps them for the next start',
    );
  }
}

/**
 * Open the store for `--follow`, trying again while ClickHouse cannot be reached: a shipper
 * started by the init system before ClickHouse is up waits for it. Returns null when the
 * signal stops the waiting.
 */
async function openWhenReachable(
  settings: Settings,
  flags: IngestFlags,
  log: Logger,
  signal: AbortSignal,
): Promise<IngestStore | null> {
  const clickhouse = parseAnyStoreUrl(settings.store).kind === 'clickhouse';
  for (let attempt = 1; ; attempt++) {
    try {
      return await openIngestStore(settings, flags, log, FOLLOW_SETTLE);
    } catch (err) {
      if (!clickhouse || !(err instanceof AppError) || err.code !== 'STORE_FAILED') throw err;
      const retryInMs = Math.min(OPEN_RETRY_MAX_MS, OPEN_RETRY_MS * 2 ** (attempt - 1));
      // The first failure and then every tenth, so that a long outage logs little.
      if (attempt % 10 === 1) log.warn({ err, attempt, retryInMs }, 'store unreachable; retrying');
      await sleep(retryInMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return null;
    }
  }
}

function ingestOptions(settings: Settings, flags: IngestFlags): IngestOptions {
  return {
    timeZone: settings.timeZone,
    year: flags.year,
    serverName: flags.serverName,
    logFormat: flags.logFormat,
    batchBytes: batchBytesFromEnvironment(),
  };
}

async function openIngestStore(
  settings: Settings,
  flags: IngestFlags,
  log: Logger,
  settle: ClickHouseTargetOptions,
): Promise<IngestStore> {
  const location = parseAnyStoreUrl(settings.store);
  if (location.kind === 'duckdb') {
    const store = await openStore(location.path);
    return {
      target: store,
      postfixServers: async () => {
        const rows = await store.all(
          "SELECT DISTINCT server FROM submitted_messages WHERE service LIKE 'postfix%'",
        );
        return rows.map((row) => String(row.server));
      },
      drain: async () => 0,
      spoolDir: null,
      isFatal: () => false,
      close: async () => store.close(),
    };
  }

  const clickhouse = await ClickHouseIngest.open(location, {
    ingestHost: flags.ingestHost ?? flags.serverName,
    spoolDir: flags.spoolDir,
    settle,
    log,
  });
  return {
    target: clickhouse.target,
    postfixServers: () => clickhouse.postfixServers(),
    drain: (timeoutMs) => clickhouse.drain(timeoutMs),
    spoolDir: clickhouse.writer.spoolDir,
    isFatal: () => clickhouse.writer.rejected,
    close: () => clickhouse.close(),
  };
}

/** Log lines as JSON on standard error, written at once so that none is lost at exit. */
function stderrLog(): Logger {
  return pino({ base: null }, pino.destination({ dest: 2, sync: true }));
}

/** Returns the store URL without a password, for logs. */
function storeName(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
}

function warnSpooled(batches: number, spoolDir: string | null): void {
  process.stderr.write(
    `warning: ClickHouse has not taken ${batches} ${batches === 1 ? 'batch' : 'batches'} yet; ` +
      `they are kept in the spool ${spoolDir} and sent by the next ingest\n`,
  );
}

/** Commit interval, for tests that interrupt an ingest between two commits. */
function batchBytesFromEnvironment(): number | undefined {
  const value = process.env.SMTP_AUTH_REPORT_BATCH_BYTES;
  return value && /^\d+$/.test(value) ? Number(value) : undefined;
}

function formatColumn(file: FileSummary): string {
  if (file.error && file.linesRead === 0) return 'failed';
  if (file.alreadyRead) return 'already read';
  return file.format;
}

function printFileNotes(file: FileSummary): void {
  const note = (text: string) => process.stderr.write(`${file.path}: ${text}\n`);
  if (file.error) note(`error: ${file.error}`);
  if (file.resumedAtLine > 0 && !file.alreadyRead) note(`resumed after line ${file.resumedAtLine}`);
  if (file.lastLineWaiting) {
    note(
      'the last line has no newline yet (the file changed in the last 5 minutes); it is read on the next run',
    );
  }
  if (file.linesRead > 0 && file.malformed + file.unsupported === file.linesRead) {
    note(
      `warning: none of its ${file.linesRead} lines could be read as ${file.format}; is it a mail log? (--log-format names the format)`,
    );
  }
  for (const problem of file.problems) {
    process.stderr.write(`${file.path}:${problem.line}: ${problem.reason}: ${problem.text}\n`);
  }
}

function printIngestResult(result: IngestResult, format: 'text' | 'json'): void {
  if (format === 'json') {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return;
  }

  const rows = result.files.map((f) => [
    f.path,
    formatColumn(f),
    f.linesRead,
    f.messages,
    f.failures,
    f.unsupported,
    f.malformed,
    (f.durationMs / 1000).toFixed(2),
    f.linesPerSecond,
  ]);
  const headers = [
    'file',
    'format',
    'lines',
    'messages',
    'failed logins',
    'unsupported',
    'malformed',
    'seconds',
    'lines/s',
  ];
  process.stderr.write(textTable(headers, rows));

  for (const file of result.files) printFileNotes(file);
  for (const server of result.serversWithoutTlsLogging) {
    process.stderr.write(
      `warning: the log of ${server} has no TLS lines, so TLS versions are reported as unknown; ` +
        'set smtpd_tls_loglevel = 1 in its Postfix main.cf\n',
    );
  }
  if (result.authBackendErrors > 0) {
    const count = result.authBackendErrors;
    process.stderr.write(
      `note: ${count} SASL ${count === 1 ? 'failure was a lost connection' : 'failures were lost connections'} ` +
        'to the authentication server, not failed logins\n',
    );
  }
}
