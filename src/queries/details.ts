import type { TlsProtocol } from '../events.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  daySql,
  messageConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';

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

function detailSql(next: number, where: string): string {
  return `SELECT ${daySql(next)} AS day, account, sender_address, sender_domain, client_ip,
                 tls_protocol, sasl_mechanism, server, count(*) AS messages,
                 sum(recipients) AS recipients
          FROM submitted_messages WHERE ${where}
          GROUP BY ALL
          ORDER BY day, account, sender_address, client_ip, tls_protocol, sasl_mechanism, server`;
}

function toDetailRow(r: Record<string, unknown>): DetailRow {
  return {
    day: String(r.day),
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

/** The detailed download, streamed in chunks so that millions of rows fit in memory. */
export async function streamDetails(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; chunks: AsyncGenerator<DetailRow[]> }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const rows = store.stream(detailSql(c.next, c.where), [...c.params, filter.timeZone]);
  async function* chunks(): AsyncGenerator<DetailRow[]> {
    for await (const chunk of rows) yield chunk.map(toDetailRow);
  }
  return { period, chunks: chunks() };
}
