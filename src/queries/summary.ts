import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  failureConditions,
  messageConditions,
  resolvePeriod,
  type ReportFilter,
} from './filters.js';

/** A server whose messages have no TLS version because its log has no TLS lines. */
export interface TlsLoggingGap {
  server: string;
  messages: number;
}

export interface Summary {
  from: string;
  to: string;
  /** Logins with at least one accepted message; a name seen only in failed logins is not one. */
  accounts: number;
  messages: number;
  recipients: number;
  failures: number;
  tls: Record<TlsProtocol, number>;
  /** Servers where TLS versions are unknown because smtpd_tls_loglevel is 0. */
  tlsLoggingOff: TlsLoggingGap[];
}

/** The widget and flyout: accounts, messages and the TLS mix of the period. */
export async function querySummary(store: DuckDBStore, filter: ReportFilter): Promise<Summary> {
  const period = await resolvePeriod(store, filter);
  const messages = messageConditions(filter, period);
  const tlsColumns = TLS_PROTOCOLS.map(
    (protocol) => `count(*) FILTER (WHERE tls_protocol = '${protocol}') AS "${protocol}"`,
  ).join(', ');

  const [totals] = await store.all(
    `SELECT count(DISTINCT account) AS accounts, count(*) AS messages,
            coalesce(sum(recipients), 0) AS recipients, ${tlsColumns}
     FROM submitted_messages WHERE ${messages.where}`,
    messages.params,
  );

  const failures = failureConditions(filter, period);
  const [failed] = await store.all(
    `SELECT count(*) AS failures FROM auth_failures WHERE ${failures.where}`,
    failures.params,
  );

  const gaps = await store.all(
    `SELECT server, count(*) AS messages FROM submitted_messages
     WHERE ${messages.where} AND tls_protocol = 'unknown' AND tls_evidence IN ('no-line', 'starttls')
     GROUP BY server ORDER BY server`,
    messages.params,
  );

  const tls = Object.fromEntries(
    TLS_PROTOCOLS.map((p) => [p, Number(totals[p])]),
  ) as Summary['tls'];
  return {
    from: period.from,
    to: period.to,
    accounts: Number(totals.accounts),
    messages: Number(totals.messages),
    recipients: Number(totals.recipients),
    failures: Number(failed.failures),
    tls,
    tlsLoggingOff: gaps.map((g) => ({ server: String(g.server), messages: Number(g.messages) })),
  };
}
