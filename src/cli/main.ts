import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Command, CommanderError, Option } from 'commander';

import { loadSettings, ENVIRONMENT } from '../config.js';
import { AppError, invalidOption } from '../errors.js';
import { FAILURE_PIVOTS, type FailurePivot } from '../queries/failures.js';
import type { ReportFilter } from '../queries/filters.js';
import { openStore } from '../server/server-file.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import { closeReportStore, openReportStore, type ReportStore } from '../store/report-store.js';
import { DEFAULT_STORE_URL, parseStoreUrl } from '../store/url.js';
import { checkDate } from '../time.js';
import { LOG_FORMATS } from '../formats/correlator.js';
import { DEFAULT_POLL_INTERVAL_MS } from '../ingest/follow.js';
import { runIngest } from './ingest.js';
import { DEFAULT_JOURNAL_MATCHES, removeSpools, spoolJournal } from './journal.js';
import { addInsightsCommand } from './insights.js';
import { printFailurePivot } from './failures-pivot.js';
import { addMigrateCommand } from './migrate.js';
import { checkChoice, FORMATS, printReport, VIEWS } from './report.js';
import { addAlertOptions, addServeOptions, checkServeFlags } from './serve-options.js';

/** The server and its dependencies load only for the commands that serve. */
async function runServe(...args: Parameters<typeof import('./serve.js').runServe>): Promise<void> {
  const serve = await import('./serve.js');
  return serve.runServe(...args);
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The project's own anonymised Postfix logs, read by `run` when no log is given. */
export const SAMPLE_LOGS = path.join(packageRoot, 'samples', 'postfix', 'mail.log');
const SAMPLE_STORE_URL = 'duckdb:./data/sample.duckdb';

function storeOption(): Option {
  return new Option('--store <url>', `store URL (env ${ENVIRONMENT.store})`).default(
    undefined,
    DEFAULT_STORE_URL,
  );
}

function timezoneOption(): Option {
  return new Option(
    '--timezone <tz>',
    `IANA time zone of classic syslog timestamps and of report days (env ${ENVIRONMENT.timeZone})`,
  ).default(undefined, 'the machine time zone');
}

function parseYear(value: string): number {
  const year = Number(value);
  if (!/^\d{4}$/.test(value) || year < 1970) {
    throw invalidOption('--year', value, 'expected a four-digit year such as 2026');
  }
  return year;
}

/** Parse `--poll-interval` seconds into milliseconds. */
function parseInterval(value: string): number {
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds < 0.1 || seconds > 3600) {
    throw invalidOption('--poll-interval', value, 'expected seconds from 0.1 to 3600, such as 2');
  }
  return Math.round(seconds * 1000);
}

/** `--follow` reads files that grow: standard input and the journal have no place to poll. */
function checkFollowFiles(files: string[], journal: boolean | undefined): void {
  if (journal) {
    throw invalidOption(
      '--follow',
      true,
      'it cannot be used with --journal; run ingest --journal from a timer',
    );
  }
  if (files.includes('-')) {
    throw invalidOption('--follow', '-', 'standard input cannot be followed; name the log files');
  }
}

function reportFilter(options: Record<string, string | undefined>, timeZone: string): ReportFilter {
  const from = options.from === undefined ? undefined : checkDate(options.from, '--from');
  const to = options.to === undefined ? undefined : checkDate(options.to, '--to');
  if (from && to && from > to) {
    throw invalidOption('--from', from, `it is after --to ${to}; swap them`);
  }
  return {
    from,
    to,
    domain: options.domain,
    server: options.server,
    search: options.search,
    timeZone,
  };
}

/** `--by` pivots the failures view only. */
function failurePivotOption(view: string, by: string | undefined): FailurePivot | undefined {
  if (by === undefined) return undefined;
  if (view !== 'failures') {
    throw invalidOption('--by', by, 'it applies to --view failures only; add --view failures');
  }
  return checkChoice('--by', by, FAILURE_PIVOTS);
}

function addIngestOptions(command: Command): Command {
  return command
    .addOption(storeOption())
    .addOption(timezoneOption())
    .option(
      '--year <year>',
      'year of the first line for classic syslog timestamps (default: inferred from the file modification time)',
    )
    .option(
      '--server-name <name>',
      'server name for every line (default: the syslog host field; for Exim and Exchange logs, this host name)',
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'read every file as this format (default: detected per file, and per line in syslog files)',
      ).choices([...LOG_FORMATS]),
    );
}

function addFilterOptions(command: Command): Command {
  return command
    .option('--from <date>', 'first day, YYYY-MM-DD (default: 6 days before --to)')
    .option('--to <date>', 'last day, YYYY-MM-DD (default: the day of the newest event)')
    .option('--domain <domain>', 'only this sender domain')
    .option('--server <name>', 'only this server')
    .option('--search <text>', 'only accounts or sender addresses containing this text');
}

export function buildProgram(): Command {
  // Set before any subcommand exists: subcommands copy it when they are created.
  const program = new Command('smtp-auth-report')
    .exitOverride()
    .description(
      'SMTP AUTH clients report from Postfix, Exim, Sendmail, OpenSMTPD, Dovecot and Exchange logs: accounts, messages, TLS versions, client IPs, failed logins',
    )
    .showHelpAfterError('(run with --help for usage)');

  addIngestOptions(
    program
      .command('ingest')
      .description('read mail logs into the store (files, globs, .gz, or - for standard input)'),
  )
    .argument(
      '[files...]',
      'log files, globs, or folders of Exchange RECV*.LOG files; rotated files are read oldest first',
    )
    .addOption(
      new Option('--format <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .option(
      '--journal',
      'read the mail entries of the systemd journal with journalctl, from the saved cursor',
    )
    .option(
      '--journal-match <match...>',
      `journalctl matches for --journal (default: ${DEFAULT_JOURNAL_MATCHES.join(' ')}, the mail facility)`,
    )
    .option(
      '--journal-directory <dir>',
      'read journal files from this folder (journalctl --directory)',
    )
    .option(
      '--follow',
      'keep reading the files as they grow and are rotated, until SIGINT or SIGTERM',
    )
    .option(
      '--poll-interval <seconds>',
      `seconds between two checks of the files with --follow (default: ${DEFAULT_POLL_INTERVAL_MS / 1000})`,
    )
    .option(
      '--ingest-host <name>',
      'ClickHouse only: the host name in event ids and checkpoints (default: --server-name, else this host name)',
    )
    .option(
      '--spool-dir <dir>',
      'ClickHouse only: folder of the batches not yet stored and of the checkpoints (default: under ./data/clickhouse-spool)',
    )
    .action(async (files: string[], options) => {
      const settings = loadSettings(options);
      if (files.length === 0 && !options.journal) {
        throw invalidOption(
          'FILE',
          '',
          'name at least one log file, or - for standard input, or use --journal',
        );
      }
      if (options.follow) checkFollowFiles(files, options.journal);
      const flags = {
        year: options.year === undefined ? undefined : parseYear(options.year),
        serverName: options.serverName,
        logFormat: options.logFormat,
        format: options.format,
        follow: Boolean(options.follow),
        pollIntervalMs:
          options.pollInterval === undefined ? undefined : parseInterval(options.pollInterval),
        ingestHost: options.ingestHost,
        spoolDir: options.spoolDir,
      };
      if (!options.journal) {
        await runIngest(settings, files, flags);
        return;
      }

      const spools = await spoolJournal({
        storePath: parseStoreUrl(settings.store).path,
        matches: options.journalMatch ?? DEFAULT_JOURNAL_MATCHES,
        directory: options.journalDirectory,
      });
      const result = await runIngest(settings, [...files, ...spools], flags);
      // A spool file read to its end is in the store; the next run starts after its cursor.
      const done = result.files.filter((file) => !file.error && !file.lastLineWaiting);
      await removeSpools(spools.filter((spool) => done.some((file) => file.path === spool)));
    });

  addFilterOptions(program.command('report').description('print a report view from the store'))
    .addOption(storeOption())
    .addOption(timezoneOption())
    .option('--view <view>', `one of ${VIEWS.join(', ')}`, 'summary')
    .option('--format <format>', `one of ${FORMATS.join(', ')}`, 'text')
    .option(
      '--by <key>',
      `with --view failures: failed logins per ${FAILURE_PIVOTS.join(', ')}, ` +
        'largest first (default: one row per day, username, IP, mechanism, TLS and server)',
    )
    .action(async (options) => {
      const settings = loadSettings(options);
      const view = checkChoice('--view', options.view, VIEWS);
      const format = checkChoice('--format', options.format, FORMATS);
      const by = failurePivotOption(view, options.by);
      const filter = reportFilter(options, settings.timeZone);
      if (by) {
        await withReportStore(settings.store, (store) =>
          printFailurePivot(store, filter, by, format),
        );
      } else {
        await withReportStore(settings.store, (store) => printReport(store, filter, view, format));
      }
    });

  addServeOptions(
    addIngestOptions(
      program
        .command('run')
        .description('ingest the given logs (or the bundled sample logs) and serve the report'),
    ),
  )
    .argument('[files...]', 'log files; the bundled sample when none are given')
    .action(async (files: string[], options) => {
      const settings = loadSettings(options);
      const serveFlags = { listen: options.listen, token: options.token, follow: [] };
      checkServeFlags(serveFlags);
      const logs = files.length > 0 ? files : [SAMPLE_LOGS];
      if (files.length === 0) {
        // The sample gets a store of its own, so that it never mixes with real logs later.
        if (!options.store && !process.env[ENVIRONMENT.store]) settings.store = SAMPLE_STORE_URL;
        process.stderr.write(
          `no log given: reading the bundled sample ${SAMPLE_LOGS} into ${settings.store}\n`,
        );
      }
      await runIngest(settings, logs, {
        year: options.year === undefined ? undefined : parseYear(options.year),
        serverName: options.serverName,
        logFormat: options.logFormat,
        format: 'text',
      });
      // The terminal gets the report at a glance; the browser gets all of it.
      const filter = reportFilter({}, settings.timeZone);
      await withReportStore(settings.store, (store) =>
        printReport(store, filter, 'summary', 'text'),
      );
      await runServe(settings, serveFlags);
    });

  addAlertOptions(
    addServeOptions(
      addIngestOptions(
        program
          .command('serve')
          .description('serve the web UI and HTTP API over the store until SIGINT or SIGTERM'),
      ),
    ),
  )
    .option(
      '--follow <files...>',
      'keep ingesting these logs as they grow, checking every 2 seconds (globs are expanded again each time)',
    )
    .action(async (options) => {
      const settings = loadSettings(options);
      await runServe(settings, {
        listen: options.listen,
        token: options.token,
        follow: options.follow ?? [],
        year: options.year === undefined ? undefined : parseYear(options.year),
        serverName: options.serverName,
        alertWebhook: options.alertWebhook,
        alertMinSeverity: options.alertMinSeverity,
        alertInterval: options.alertInterval,
      });
    });

  addInsightsCommand(program, { storeOption, timezoneOption, reportFilter, withStore });
  addMigrateCommand(program);

  return program;
}

async function withStore<T>(url: string, work: (store: DuckDBStore) => Promise<T>): Promise<T> {
  const location = parseStoreUrl(url);
  if (!existsSync(location.path)) {
    throw new AppError('SOURCE_NOT_FOUND', {
      path: location.path,
      detail: 'no store there yet; run smtp-auth-report ingest first, or pass --store',
    });
  }
  const store = await openStore(location.path);
  try {
    return await work(store);
  } finally {
    store.close();
  }
}

/** Open a store of either kind for the report views, run `work` on it, and close it. */
async function withReportStore<T>(
  url: string,
  work: (store: ReportStore) => Promise<T>,
): Promise<T> {
  const store = await openReportStore(url);
  try {
    return await work(store);
  } finally {
    await closeReportStore(store);
  }
}

export async function main(argv: string[]): Promise<void> {
  // `report | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof AppError) {
    process.stderr.write(`smtp-auth-report: ${err.message}\n`);
    return err.code === 'INVALID_OPTION' || err.code === 'INVALID_STORE_URL' ? 2 : 1;
  }
  process.stderr.write(
    `smtp-auth-report: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`,
  );
  return 1;
}
