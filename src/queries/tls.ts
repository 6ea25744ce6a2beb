import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  dayGrouping,
  messageConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';

/** TLS versions that break when TLS 1.0 and 1.1 are switched off, plus no TLS at all. */
export const LEGACY_TLS: readonly TlsProtocol[] = ['TLSv1', 'TLSv1.1', 'none'];

export interface TlsAccountRow {
  account: string;
  messages: number;
  counts: Record<TlsProtocol, number>;
  /** Percent of the account's messages per TLS version, rounded to one decimal. */
  percents: Record<TlsProtocol, number>;
  /** Percent of messages over TLS 1.0, TLS 1.1 or no TLS. */
  legacyPercent: number;
}

export interface TlsDayRow {
  day: string;
  tlsProtocol: TlsProtocol;
  messages: number;
}

function tlsCountColumns(): string {
  return TLS_PROTOCOLS.map(
    (protocol) => `count(*) FILTER (WHERE tls_protocol = '${protocol}') AS "${protocol}"`,
  ).join(', ');
}

/** TLS Usage table: per account, messages per TLS version as count and percent. */
export async function queryTlsByAccount(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: TlsAccountRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const rows = await store.all(
    `SELECT account, count(*) AS messages, ${tlsCountColumns()}
     FROM submitted_messages WHERE ${c.where}
     GROUP BY account ORDER BY messages DESC, account`,
    c.params,
  );
  return { period, rows: rows.map(toTlsAccountRow) };
}

function toTlsAccountRow(r: Record<string, unknown>): TlsAccountRow {
  const messages = Number(r.messages);
  const counts = Object.fromEntries(
    TLS_PROTOCOLS.map((p) => [p, Number(r[p])]),
  ) as TlsAccountRow['counts'];
  const percent = (n: number) => (messages === 0 ? 0 : Math.round((n * 1000) / messages) / 10);
  const percents = Object.fromEntries(
    TLS_PROTOCOLS.map((p) => [p, percent(counts[p])]),
  ) as TlsAccountRow['percents'];
  const legacy = LEGACY_TLS.reduce((sum, p) => sum + counts[p], 0);
  return { account: String(r.account), messages, counts, percents, legacyPercent: percent(legacy) };
}

/** TLS Usage chart: messages per day per TLS version. */
export async function queryTlsByDay(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: TlsDayRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const byDay = dayGrouping(period, filter.timeZone);
  const rows = await store.all(
    `SELECT ${byDay.day('day_key')} AS day, tls_protocol, sum(messages) AS messages
     FROM (SELECT ${byDay.key} AS day_key, tls_protocol, count(*) AS messages
           FROM submitted_messages WHERE ${c.where} GROUP BY ALL)
     GROUP BY ALL ORDER BY day, tls_protocol`,
    c.params,
  );
  return {
    period,
    rows: rows.map((r) => ({
      day: String(r.day),
      tlsProtocol: String(r.tls_protocol) as TlsProtocol,
      messages: Number(r.messages),
    })),
  };
}
