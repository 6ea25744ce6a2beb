import { Command, Option } from 'commander';
import { pino } from 'pino';

import { loadSettings } from '../config.js';
import { invalidOption } from '../errors.js';
import { computeInsights, type InsightResult } from '../insights/engine.js';
import type { SignalAlert } from '../insights/monitor.js';
import { addReview, type ReviewMark } from '../insights/reviews.js';
import {
  SEVERITIES,
  severityRank,
  SIGNAL_NAMES,
  type Severity,
  type Signal,
  type SignalName,
} from '../insights/signal.js';
import { WebhookSender } from '../insights/webhook.js';
import { resolvePeriod, type ReportFilter } from '../queries/filters.js';
import { requireDuckDBStore } from '../server/store-kind.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import { printable } from '../text.js';
import { ZoneConverter } from '../time.js';
import { checkChoice } from './report.js';

/** Exit status of `insights --fail-on` when a signal at or above that severity is open. */
export const SIGNALS_FOUND_EXIT_CODE = 3;

/** Environment twin of --alert-webhook, which keeps a secret URL out of the process list. */
export const ALERT_WEBHOOK_ENV = 'SMTP_AUTH_REPORT_ALERT_WEBHOOK';

/** How long `insights` waits for the webhook before giving up on what is left. */
const WEBHOOK_DEADLINE_MS = 120_000;

const FORMATS = ['text', 'json'] as const;

/** The options and helpers of the program that registers the command. */
export interface InsightsCommandParts {
  storeOption: () => Option;
  timezoneOption: () => Option;
  reportFilter: (options: Record<string, string | undefined>, timeZone: string) => ReportFilter;
  withStore: <T>(url: string, work: (store: DuckDBStore) => Promise<T>) => Promise<T>;
}

/** Add `insights` and `insights review` to the program. */
export function addInsightsCommand(program: Command, parts: InsightsCommandParts): void {
  const insights = program
    .command('insights')
    .description('list unusual activity per account (open signals, most severe first)')
    .addOption(parts.storeOption())
    .addOption(parts.timezoneOption())
    .option('--from <date>', 'first day, YYYY-MM-DD (default: 6 days before --to)')
    .option('--to <date>', 'last day, YYYY-MM-DD (default: the day of the newest event)')
    .option('--format <format>', `one of ${FORMATS.join(', ')}`, 'text')
    .option('--min-severity <severity>', `list only signals at or above: ${SEVERITIES.join(', ')}`)
    .option(
      '--fail-on <severity>',
      `exit with status ${SIGNALS_FOUND_EXIT_CODE} when an open signal is at or above this severity`,
    )
    .option('--all', 'list reviewed signals too, with their review note')
    .option('--thresholds <file>', 'JSON file overriding signal thresholds (see docs/insights.md)')
    .option(
      '--alert-webhook <url>',
      `POST each listed open signal as JSON to this URL (env ${ALERT_WEBHOOK_ENV})`,
    )
    .action(async (options) => {
      const settings = loadSettings(options);
      requireDuckDBStore(settings.store);
      const filter = parts.reportFilter(options, settings.timeZone);
      await parts.withStore(settings.store, (store) => runInsights(store, filter, options));
    });

  // --store and --timezone belong to `insights`, which reads them after `review` too.
  insights
    .command('review')
    .description('mark an account (or a client address) as reviewed, with a note')
    .argument('[account]', 'the account as the report shows it')
    .option('--client-ip <address>', 'review a client address instead of an account')
    .requiredOption('--note <text>', 'what was checked or done')
    .option('--signal <name>', `only this signal: ${SIGNAL_NAMES.join(', ')}`)
    .option('--permanent', 'cover later activity too (default: activity up to the newest event)')
    .action(async (account: string | undefined, _options, command: Command) => {
      const options = command.optsWithGlobals<ReviewOptions & { store?: string }>();
      const settings = loadSettings(options);
      requireDuckDBStore(settings.store);
      const request = reviewRequest(account, options);
      const mark = await parts.withStore(settings.store, (store) =>
        addReview((sql, params) => store.all(sql, params), request),
      );
      process.stdout.write(reviewLine(mark));
    });
}

interface InsightsOptions {
  format: string;
  minSeverity?: string;
  failOn?: string;
  all?: boolean;
  thresholds?: string;
  alertWebhook?: string;
}

async function runInsights(
  store: DuckDBStore,
  filter: ReportFilter,
  options: InsightsOptions,
): Promise<void> {
  const format = checkChoice('--format', options.format, FORMATS);
  const minSeverity = severityOption('--min-severity', options.minSeverity);
  const failOn = severityOption('--fail-on', options.failOn);
  const webhookUrl = options.alertWebhook ?? nonEmpty(process.env[ALERT_WEBHOOK_ENV]);
  const sender = webhookUrl ? new WebhookSender(webhookUrl, { logger: stderrLogger() }) : null;
  // The thresholds' schema library is loaded only for this command: it slows every start-up.
  const { loadInsightSettings } = await import('../insights/settings.js');
  const settings = loadInsightSettings(options.thresholds);

  const period = await resolvePeriod(store, filter);
  const result = await computeInsights((sql, params) => store.all(sql, params), {
    period,
    timeZone: filter.timeZone,
    settings,
    minSeverity,
    includeReviewed: options.all === true,
  });

  if (format === 'json') process.stdout.write(JSON.stringify(result.signals, null, 2) + '\n');
  else process.stdout.write(insightsText(result, filter.timeZone, options.all === true));

  const open = result.signals.filter((signal) => signal.reviewed === null);
  const delivered = sender ? await sendAlerts(sender, open) : true;
  if (!delivered) process.exitCode = 1;
  else if (failOn && open.some((s) => severityRank(s.severity) >= severityRank(failOn))) {
    process.exitCode = SIGNALS_FOUND_EXIT_CODE;
  }
}

/**
 * Send the open signals and wait, so that a cron job ends only when they were delivered.
 * Returns false when some were not.
 */
async function sendAlerts(sender: WebhookSender, signals: Signal[]): Promise<boolean> {
  for (const signal of signals) sender.send({ event: 'open', signal } satisfies SignalAlert);
  await sender.close(WEBHOOK_DEADLINE_MS);

  const lost = sender.stats.failed + sender.stats.dropped;
  if (lost === 0) return true;
  process.stderr.write(
    `smtp-auth-report: ${lost} of ${signals.length} alerts were not delivered to the webhook; ` +
      'the log lines above say why\n',
  );
  return false;
}

function stderrLogger() {
  return pino({ base: null }, pino.destination({ dest: 2, sync: true }));
}

function severityOption(option: string, value: string | undefined): Severity | undefined {
  return value === undefined ? undefined : checkChoice(option, value, SEVERITIES);
}

interface ReviewOptions {
  clientIp?: string;
  note: string;
  signal?: string;
  permanent?: boolean;
}

function reviewRequest(account: string | undefined, options: ReviewOptions) {
  if (account === undefined && options.clientIp === undefined) {
    throw invalidOption('account', '', 'give the account to review, or --client-ip ADDRESS');
  }
  if (account !== undefined && options.clientIp !== undefined) {
    throw invalidOption(
      '--client-ip',
      options.clientIp,
      `give it or the account ${account}, not both`,
    );
  }
  const signal =
    options.signal === undefined
      ? null
      : (checkChoice('--signal', options.signal, SIGNAL_NAMES) as SignalName);
  return {
    subjectKind: account !== undefined ? ('account' as const) : ('client-ip' as const),
    subject: account ?? options.clientIp ?? '',
    signal,
    note: options.note,
    permanent: options.permanent === true,
  };
}

function reviewLine(mark: ReviewMark): string {
  const covered = mark.signal ? `signal ${mark.signal}` : 'all signals';
  const through = mark.reviewedThrough
    ? `activity up to ${mark.reviewedThrough}`
    : 'all activity, later activity included';
  return (
    `reviewed ${mark.subjectKind} ${printable(mark.subject)} (${covered}, ${through}): ` +
    `${printable(mark.note)}\n`
  );
}

/** Format the text listing: a header line, then one block per signal. */
export function insightsText(result: InsightResult, timeZone: string, all: boolean): string {
  const { period, signals } = result;
  const open = signals.filter((signal) => signal.reviewed === null).length;
  let header = `Insights, ${period.from} to ${period.to} (${timeZone}): ${open} open`;
  if (all) header += `, ${signals.length - open} reviewed`;
  else if (result.reviewed > 0) header += `, ${result.reviewed} reviewed (shown with --all)`;
  if (signals.length === 0) return `${header}\n\nNo signals in this period.\n`;

  const zone = new ZoneConverter(timeZone);
  return `${header}\n\n${signals.map((signal) => signalBlock(signal, zone)).join('\n')}`;
}

function signalBlock(signal: Signal, zone: ZoneConverter): string {
  const indent = ' '.repeat(10);
  const subject = [signal.account, signal.clientIp].filter((v) => v !== null).join(' from ');
  const lines = [
    `${signal.severity.toUpperCase().padEnd(9)} ${signal.signal}  ${printable(subject)}`,
    `${indent}${clock(signal.firstSeen, zone)} to ${clock(signal.lastSeen, zone)}`,
    `${indent}${printable(signal.explanation)}`,
  ];
  if (signal.reviewed) lines.push(`${indent}reviewed: ${printable(signal.reviewed.note)}`);
  return lines.join('\n') + '\n';
}

/** `YYYY-MM-DD HH:MM` in the report's zone. */
function clock(iso: string, zone: ZoneConverter): string {
  const ms = Date.parse(iso);
  return new Date(ms + zone.offsetAt(ms)).toISOString().slice(0, 16).replace('T', ' ');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
