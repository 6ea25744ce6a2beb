import { sql, sqlTuple, type SqlText } from '../../store/clickhouse/sql.js';
import type { ClickHouseRow, ClickHouseStore } from '../../store/clickhouse/store.js';
import type { AccountPage, AccountRow, AccountSort } from '../accounts.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import { LEGACY_TLS } from '../tls.js';
import {
  isoOfMs,
  MESSAGE_COPIES,
  MESSAGES,
  messageWhere,
  pageClause,
  TIME_MS,
} from './conditions.js';

type AccountsResult = { period: Period; total: number; rows: AccountRow[] };

/**
 * Builds the measures of an account row. The legacy percent is DuckDB's round(x, 1), which
 * rounds x * 10 half away from zero, as ClickHouse 18.16's round() does, over the same doubles.
 * It reads LEGACY_TLS when a query runs, because tls.ts is in an import cycle with ./tls.ts.
 */
function measures(): SqlText {
  return sql`
    count() AS messages, sum(recipients) AS recipient_sum,
    round(100. * countIf(tls_protocol IN ${sqlTuple(LEGACY_TLS)}) / count() * 10) / 10
      AS legacy_tls_percent,
    min(${TIME_MS}) AS first_ms, max(${TIME_MS}) AS last_ms`;
}

/** Sorted distinct sender addresses, client IPs and mechanisms of an account. */
const LISTS = sql`
  arraySort(groupUniqArray(sender_address)) AS sender_addresses,
  arraySort(groupUniqArray(client_ip)) AS client_ips,
  arraySort(groupUniqArray(sasl_mechanism)) AS mechanisms`;

const SORT_COLUMNS: Record<AccountSort, SqlText> = {
  account: sql`account`,
  messages: sql`messages`,
  recipients: sql`recipient_sum`,
  legacyTlsPercent: sql`legacy_tls_percent`,
  lastSeen: sql`last_ms`,
};

/** Accounts per query of their lists, so that the IN list stays well under max_query_size. */
const LIST_ACCOUNTS_PER_QUERY = 1000;

/** Query the details table from ClickHouse: one row per account with senders, IPs and mechanisms. */
export async function clickHouseAccounts(
  store: ClickHouseStore,
  filter: ReportFilter,
  page: AccountPage = {},
  period?: Period,
): Promise<AccountsResult> {
  period ??= await resolvePeriod(store, filter);
  const where = messageWhere(filter, period);
  const order = sql`${SORT_COLUMNS[page.sort ?? 'messages']} ${page.order === 'asc' ? sql`ASC` : sql`DESC`}, account`;

  // Without a limit every account is shown, so one pass builds every list. A page ranks the
  // accounts with the cheap measures first and builds the lists of its accounts alone.
  const [rows, [counted]] = await Promise.all([
    store.all(sql`
      SELECT account, ${measures()}${page.limit === undefined ? sql`, ${LISTS}` : sql``}
      FROM ${MESSAGES} WHERE ${where}
      GROUP BY account ORDER BY ${order} ${pageClause(page.limit, page.offset)}`),
    store.all(sql`SELECT uniqExact(account) AS total FROM ${MESSAGE_COPIES} WHERE ${where}`),
  ]);
  const lists = page.limit === undefined ? null : await pageLists(store, where, rows);
  return {
    period,
    total: Number(counted.total),
    rows: rows.map((row) => toAccountRow(lists?.get(String(row.account)) ?? row, row)),
  };
}

/** Query the lists of the page's accounts, by account. */
async function pageLists(
  store: ClickHouseStore,
  where: SqlText,
  page: ClickHouseRow[],
): Promise<Map<string, ClickHouseRow>> {
  const lists = new Map<string, ClickHouseRow>();
  const accounts = page.map((row) => String(row.account));
  for (let start = 0; start < accounts.length; start += LIST_ACCOUNTS_PER_QUERY) {
    const chunk = accounts.slice(start, start + LIST_ACCOUNTS_PER_QUERY);
    const rows = await store.all(sql`
      SELECT account, ${LISTS} FROM ${MESSAGE_COPIES}
      WHERE ${where} AND account IN ${sqlTuple(chunk)} GROUP BY account`);
    for (const row of rows) lists.set(String(row.account), row);
  }
  return lists;
}

function toAccountRow(lists: ClickHouseRow, measures: ClickHouseRow): AccountRow {
  return {
    account: String(measures.account),
    messages: Number(measures.messages),
    recipients: Number(measures.recipient_sum),
    senderAddresses: (lists.sender_addresses as string[]).map(String),
    clientIps: (lists.client_ips as string[]).map(String),
    mechanisms: (lists.mechanisms as string[]).map(String),
    legacyTlsPercent: Number(measures.legacy_tls_percent),
    firstSeen: isoOfMs(measures.first_ms),
    lastSeen: isoOfMs(measures.last_ms),
  };
}
