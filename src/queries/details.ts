import type { TlsProtocol } from '../events.js';
import { AppError } from '../errors.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { addDays, ZoneConverter } from '../time.js';
import { clickHouseDetails } from './clickhouse/details.js';
import { messageConditions, resolvePeriod, type Period, type ReportFilter } from './filters.js';

/** One row of the detailed download. The key order is the CSV column order. */
export interface DetailRow {
  day: string;
  account: string;
  senderAddress: string;
  senderDomain: string;
  clientIp: string;
  tlsProtocol: TlsProtocol;
  saslMechanism: string;
  server: string;
  messages: number;
  recipients: number;
}

export const DETAIL_COLUMNS: readonly (keyof DetailRow)[] = [
  'day',
  'account',
  'senderAddress',
  'senderDomain',
  'clientIp',
  'tlsProtocol',
  'saslMechanism',
  'server',
  'messages',
  'recipients',
];

/** One day's rows: the day is known, so no row needs a time zone conversion. */
function detailSql(where: string): string {
  return `SELECT account, sender_address, sender_domain, client_ip, tls_protocol, sasl_mechanism,
                 server, count(*) AS messages, sum(recipients) AS recipients
          FROM submitted_messages WHERE ${where}
          GROUP BY ALL
          ORDER BY account, sender_address, client_ip, tls_protocol, sasl_mechanism, server`;
}

function toDetailRow(day: string, r: Record<string, unknown>): DetailRow {
  return {
    day,
    account: String(r.account),
    senderAddress: String(r.sender_address),
    senderDomain: String(r.sender_domain),
    clientIp: String(r.client_ip),
    tlsProtocol: String(r.tls_protocol) as TlsProtocol,
    saslMechanism: String(r.sasl_mechanism),
    server: String(r.server),
    messages: Number(r.messages),
    recipients: Number(r.recipients),
  };
}

/**
 * The detailed download, streamed one day at a time so that memory stays bounded for
 * millions of rows. Each day's rows are checked against that day's message count, because
 * a DuckDB stream that fails part-way ends as if it were complete: an incomplete export
 * raises instead of being cut short in silence.
 */
export async function streamDetails(
  store: ReportStore,
  filter: ReportFilter,
): Promise<{ period: Period; chunks: AsyncGenerator<DetailRow[]> }> {
  if (store.kind === 'clickhouse') return clickHouseDetails(store, filter);
  return streamDuckDBDetails(store, filter);
}

async function streamDuckDBDetails(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; chunks: AsyncGenerator<DetailRow[]> }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const [range] = await store.all(
    `SELECT epoch_ms(min(ts)) AS first, epoch_ms(max(ts)) AS last
     FROM submitted_messages WHERE ${c.where}`,
    c.params,
  );

  async function* chunks(): AsyncGenerator<DetailRow[]> {
    if (range.first === null || range.last === null) return;
    const zone = new ZoneConverter(filter.timeZone);
    const lastDay = zone.dateOf(Number(range.last));
    const connection = await store.openConnection();
    try {
      for (let day = zone.dateOf(Number(range.first)); day <= lastDay; day = addDays(day, 1)) {
        const startMs = zone.startOfDate(day);
        const bounds = { ...period, startMs, endMs: zone.startOfDate(addDays(day, 1)) };
        const d = messageConditions(filter, bounds);
        const [expected] = await connection.all(
          `SELECT count(*) AS messages FROM submitted_messages WHERE ${d.where}`,
          d.params,
        );
        let messages = 0;
        for await (const rows of connection.stream(detailSql(d.where), d.params)) {
          const chunk = rows.map((row) => toDetailRow(day, row));
          for (const row of chunk) messages += row.messages;
          yield chunk;
        }
        if (messages !== Number(expected.messages)) {
          throw new AppError('STORE_FAILED', {
            path: store.path,
            detail: `the export of ${day} ended after ${messages} of ${expected.messages} messages`,
          });
        }
      }
    } finally {
      connection.close();
    }
  }
  return { period, chunks: chunks() };
}
