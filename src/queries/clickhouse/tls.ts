import type { TlsProtocol } from '../../events.js';
import { sql, type SqlText } from '../../store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../store/clickhouse/store.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import {
  LEGACY_TLS,
  toTlsAccountRow,
  type TlsAccountPage,
  type TlsAccountRow,
  type TlsDayRow,
  type TlsUsage,
} from '../tls.js';
import {
  dayKey,
  dayOfKey,
  joinSql,
  MESSAGE_COPIES,
  MESSAGES,
  messageWhere,
  pageClause,
  TLS_COUNTS,
  tlsColumn,
} from './conditions.js';

/** Query the TLS Usage chart and one page of its table from ClickHouse, as `/api/tls` does. */
export async function clickHouseTls(
  store: ClickHouseStore,
  filter: ReportFilter,
  page: TlsAccountPage = {},
): Promise<TlsUsage> {
  const period = await resolvePeriod(store, filter);
  const [byDay, byAccount] = await Promise.all([
    clickHouseTlsByDay(store, filter, period),
    clickHouseTlsByAccount(store, filter, page, period),
  ]);
  return { period, byDay: byDay.rows, total: byAccount.total, byAccount: byAccount.rows };
}

/**
 * Query the TLS Usage table from ClickHouse: per account, messages per TLS version, one page of accounts
 * in the chosen order, and the number of accounts in all pages.
 */
export async function clickHouseTlsByAccount(
  store: ClickHouseStore,
  filter: ReportFilter,
  page: TlsAccountPage = {},
  period?: Period,
): Promise<{ period: Period; total: number; rows: TlsAccountRow[] }> {
  period ??= await resolvePeriod(store, filter);
  const where = messageWhere(filter, period);
  const [rows, [counted]] = await Promise.all([
    store.all(sql`
      SELECT account, count() AS messages, ${TLS_COUNTS}
      FROM ${MESSAGES} WHERE ${where}
      GROUP BY account ORDER BY ${orderBy(page)} ${pageClause(page.limit, page.offset)}`),
    store.all(sql`SELECT uniqExact(account) AS total FROM ${MESSAGE_COPIES} WHERE ${where}`),
  ]);
  return { period, total: Number(counted.total), rows: rows.map(toTlsAccountRow) };
}

/**
 * Builds the order of the TLS Usage table, as DuckDB sorts it. A TLS version sorts by the
 * permille that toTlsAccountRow rounds its percent from, then by its count. The legacy share
 * sorts by its permille, and ties sort by account name. round() of ClickHouse 18.16 rounds
 * halves away from zero as DuckDB's does, and both divide the same doubles.
 */
function orderBy(page: TlsAccountPage): SqlText {
  const sort = page.sort ?? 'messages';
  const direction =
    (page.order ?? (sort === 'account' ? 'asc' : 'desc')) === 'asc' ? sql`ASC` : sql`DESC`;
  if (sort === 'account') return sql`account ${direction}`;
  if (sort === 'messages') return sql`messages ${direction}, account`;

  const permille = (count: SqlText) => sql`round((${count}) * 1000. / messages)`;
  if (sort === 'legacyPercent') {
    const legacy = joinSql(LEGACY_TLS.map(tlsColumn), ' + ');
    return sql`${permille(legacy)} ${direction}, account`;
  }
  const count = tlsColumn(sort);
  return sql`${permille(count)} ${direction}, ${count} ${direction}, account`;
}

/** Query the TLS Usage chart from ClickHouse: messages per day per TLS version. */
export async function clickHouseTlsByDay(
  store: ClickHouseStore,
  filter: ReportFilter,
  period?: Period,
): Promise<{ period: Period; rows: TlsDayRow[] }> {
  period ??= await resolvePeriod(store, filter);
  const rows = await store.all(sql`
    SELECT ${dayKey(period, filter.timeZone)} AS day_key, tls_protocol, count() AS messages
    FROM ${MESSAGES} WHERE ${messageWhere(filter, period)}
    GROUP BY day_key, tls_protocol ORDER BY day_key, tls_protocol`);
  return {
    period,
    rows: rows.map((row) => ({
      day: dayOfKey(row.day_key),
      tlsProtocol: String(row.tls_protocol) as TlsProtocol,
      messages: Number(row.messages),
    })),
  };
}
