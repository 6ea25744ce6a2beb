import type { DuckDBStore } from '../store/duckdb/store.js';
import { messageConditions, resolvePeriod, type Period, type ReportFilter } from './filters.js';

export interface AccountRow {
  account: string;
  messages: number;
  recipients: number;
  senderAddresses: string[];
  clientIps: string[];
  mechanisms: string[];
  /** Messages over TLS 1.0, TLS 1.1 or no TLS, in percent. */
  legacyTlsPercent: number;
  firstSeen: string;
  lastSeen: string;
}

export const ACCOUNT_SORTS = [
  'account',
  'messages',
  'recipients',
  'legacyTlsPercent',
  'lastSeen',
] as const;
export type AccountSort = (typeof ACCOUNT_SORTS)[number];

export interface AccountPage {
  sort?: AccountSort;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

const SORT_COLUMNS: Record<AccountSort, string> = {
  account: 'account',
  messages: 'messages',
  recipients: 'recipients',
  legacyTlsPercent: 'legacy_tls_percent',
  lastSeen: 'last_seen',
};

/** The details table: one row per account with its senders, client IPs and mechanisms. */
export async function queryAccounts(
  store: DuckDBStore,
  filter: ReportFilter,
  page: AccountPage = {},
): Promise<{ period: Period; total: number; rows: AccountRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const sort = SORT_COLUMNS[page.sort ?? 'messages'];
  const order = page.order === 'asc' ? 'ASC' : 'DESC';
  const limit =
    page.limit === undefined
      ? ''
      : `LIMIT ${Math.trunc(page.limit)} OFFSET ${Math.trunc(page.offset ?? 0)}`;

  // Rank the accounts with cheap aggregates first, then build the lists for the page
  // alone: the DISTINCT lists cost most, and a page shows 100 of maybe 50,000 accounts.
  const rows = await store.all(
    `WITH ranked AS (
       SELECT account, count(*) AS messages, sum(recipients) AS recipients,
              round(100.0 * count(*) FILTER (WHERE tls_protocol IN ('TLSv1', 'TLSv1.1', 'none'))
                    / count(*), 1) AS legacy_tls_percent,
              min(ts) AS first_seen, max(ts) AS last_seen, count(*) OVER () AS total
       FROM submitted_messages WHERE ${c.where}
       GROUP BY account ORDER BY ${sort} ${order}, account ${limit}),
     lists AS (
       SELECT account,
              list_sort(list(DISTINCT sender_address)) AS sender_addresses,
              list_sort(list(DISTINCT client_ip)) AS client_ips,
              list_sort(list(DISTINCT sasl_mechanism)) AS mechanisms
       FROM submitted_messages
       WHERE ${c.where} AND account IN (SELECT account FROM ranked)
       GROUP BY account)
     SELECT * FROM ranked JOIN lists USING (account)
     ORDER BY ${sort} ${order}, account`,
    c.params,
  );

  // A page past the last account has no row to carry the total.
  const count =
    rows.length > 0
      ? { total: rows[0].total }
      : (
          await store.all(
            `SELECT count(DISTINCT account) AS total FROM submitted_messages WHERE ${c.where}`,
            c.params,
          )
        )[0];

  return {
    period,
    total: Number(count.total),
    rows: rows.map((r) => ({
      account: String(r.account),
      messages: Number(r.messages),
      recipients: Number(r.recipients),
      senderAddresses: r.sender_addresses as string[],
      clientIps: r.client_ips as string[],
      mechanisms: r.mechanisms as string[],
      legacyTlsPercent: Number(r.legacy_tls_percent),
      firstSeen: String(r.first_seen),
      lastSeen: String(r.last_seen),
    })),
  };
}
