import { TLS_PROTOCOLS } from '../events.js';
import { invalidOption } from '../errors.js';
import { queryAccounts } from '../queries/accounts.js';
import { DETAIL_COLUMNS, streamDetails } from '../queries/details.js';
import { queryFailures } from '../queries/failures.js';
import type { Period, ReportFilter } from '../queries/filters.js';
import { querySummary, type Summary } from '../queries/summary.js';
import { queryTlsByAccount } from '../queries/tls.js';
import { queryVolume } from '../queries/volume.js';
import type { ReportStore } from '../store/report-store.js';
import { csvLine, textTable, type Cell } from './format.js';

export const VIEWS = ['summary', 'volume', 'tls', 'accounts', 'failures', 'details'] as const;
export type View = (typeof VIEWS)[number];
export const FORMATS = ['text', 'json', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

export function checkChoice<T extends string>(
  option: string,
  value: string,
  choices: readonly T[],
): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw invalidOption(option, value, `expected one of ${choices.join(', ')}`);
}

/** A table ready for any output format. */
interface Table {
  period: Period | { from: string; to: string };
  headers: string[];
  rows: Cell[][];
  json: unknown[];
}

const out = (text: string) => process.stdout.write(text);

/** Write and wait while the reader of standard output catches up, so memory stays bounded. */
async function writeOut(text: string): Promise<void> {
  if (text.length === 0 || process.stdout.write(text)) return;
  await new Promise((resolve) => process.stdout.once('drain', resolve));
}

/** Print one report view. Only data goes to standard output in json and csv. */
export async function printReport(
  store: ReportStore,
  filter: ReportFilter,
  view: View,
  format: Format,
): Promise<void> {
  if (view === 'details') return printDetails(store, filter, format);
  if (view === 'summary') return printSummary(await querySummary(store, filter), filter, format);

  const table = await buildTable(store, filter, view);
  if (format === 'json') out(JSON.stringify(table.json, null, 2) + '\n');
  else if (format === 'csv') out(csvLine(table.headers) + table.rows.map(csvLine).join(''));
  else
    out(
      periodLine(table.period, filter) +
        '\n' +
        (table.rows.length ? textTable(table.headers, table.rows) : 'No data in this period.\n'),
    );
}

async function buildTable(
  store: ReportStore,
  filter: ReportFilter,
  view: Exclude<View, 'details' | 'summary'>,
): Promise<Table> {
  switch (view) {
    case 'volume': {
      const { period, rows } = await queryVolume(store, filter);
      return {
        period,
        headers: ['day', 'senderDomain', 'messages', 'recipients'],
        rows: rows.map((r) => [r.day, r.senderDomain, r.messages, r.recipients]),
        json: rows,
      };
    }
    case 'tls': {
      const { period, rows } = await queryTlsByAccount(store, filter);
      return {
        period,
        headers: [
          'account',
          'messages',
          ...TLS_PROTOCOLS.flatMap((p) => [p, `${p} %`]),
          'legacy %',
        ],
        rows: rows.map((r) => [
          r.account,
          r.messages,
          ...TLS_PROTOCOLS.flatMap((p) => [r.counts[p], r.percents[p]]),
          r.legacyPercent,
        ]),
        json: rows,
      };
    }
    case 'accounts': {
      const { period, rows } = await queryAccounts(store, filter);
      return {
        period,
        headers: [
          'account',
          'messages',
          'recipients',
          'senderAddresses',
          'clientIps',
          'mechanisms',
        ],
        rows: rows.map((r) => [
          r.account,
          r.messages,
          r.recipients,
          r.senderAddresses,
          r.clientIps,
          r.mechanisms,
        ]),
        json: rows,
      };
    }
    case 'failures': {
      const { period, rows } = await queryFailures(store, filter);
      return {
        period,
        headers: [
          'day',
          'attemptedUsername',
          'clientIp',
          'saslMechanism',
          'tlsProtocol',
          'server',
          'failures',
        ],
        rows: rows.map((r) => [
          r.day,
          r.attemptedUsername,
          r.clientIp,
          r.saslMechanism,
          r.tlsProtocol,
          r.server,
          r.failures,
        ]),
        json: rows,
      };
    }
  }
}

function periodLine(period: { from: string; to: string }, filter: ReportFilter): string {
  const scope = [
    filter.domain && `domain ${filter.domain}`,
    filter.server && `server ${filter.server}`,
    filter.search && `search "${filter.search}"`,
  ]
    .filter(Boolean)
    .join(', ');
  return `SMTP AUTH clients, ${period.from} to ${period.to} (${filter.timeZone})${scope ? `, ${scope}` : ''}`;
}

function printSummary(summary: Summary, filter: ReportFilter, format: Format): void {
  warnTlsLogging(summary);
  if (format === 'json') return void out(JSON.stringify(summary, null, 2) + '\n');

  const counts = [
    summary.accounts,
    summary.messages,
    summary.recipients,
    summary.failures,
    ...TLS_PROTOCOLS.map((p) => summary.tls[p]),
  ];
  if (format === 'csv') {
    return void out(
      csvLine(['from', 'to', 'accounts', 'messages', 'recipients', 'failures', ...TLS_PROTOCOLS]) +
        csvLine([summary.from, summary.to, ...counts]),
    );
  }

  const percent = (n: number) =>
    summary.messages ? `${((100 * n) / summary.messages).toFixed(1)}%` : '-';
  out(periodLine(summary, filter) + '\n\n');
  out(
    textTable(
      ['', 'count'],
      [
        ['accounts', summary.accounts],
        ['messages', summary.messages],
        ['recipients', summary.recipients],
        ['failed logins', summary.failures],
      ],
    ),
  );
  out(
    '\n' +
      textTable(
        ['TLS version', 'messages', 'share'],
        TLS_PROTOCOLS.map((p) => [p, summary.tls[p], percent(summary.tls[p])]),
      ),
  );
  if (summary.messages === 0) out('\nNo messages in this period. Widen it with --from and --to.\n');
}

function warnTlsLogging(summary: Summary): void {
  for (const gap of summary.tlsLoggingOff) {
    process.stderr.write(
      `note: TLS version unknown for ${gap.messages} ${gap.messages === 1 ? 'message' : 'messages'} on ${gap.server}: its log has no TLS lines; ` +
        'for Postfix set smtpd_tls_loglevel = 1 in main.cf, for Sendmail set LogLevel to 9 or more\n',
    );
  }
}

async function printDetails(
  store: ReportStore,
  filter: ReportFilter,
  format: Format,
): Promise<void> {
  const { period, chunks } = await streamDetails(store, filter);
  if (format === 'csv') out(csvLine([...DETAIL_COLUMNS]));
  if (format === 'text') out(periodLine(period, filter) + '\n');

  let first = true;
  const textRows: Cell[][] = [];
  for await (const rows of chunks) {
    let text = '';
    for (const row of rows) {
      if (format === 'json') {
        text += (first ? '[\n  ' : ',\n  ') + JSON.stringify(row);
        first = false;
      } else if (format === 'csv') {
        text += csvLine(DETAIL_COLUMNS.map((key) => row[key]));
      } else {
        textRows.push(DETAIL_COLUMNS.map((key) => row[key]));
      }
    }
    await writeOut(text);
  }

  if (format === 'json') out(first ? '[]\n' : '\n]\n');
  if (format === 'text')
    out(textRows.length ? textTable([...DETAIL_COLUMNS], textRows) : 'No data in this period.\n');
}
