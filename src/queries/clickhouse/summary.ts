import { sql, sqlTuple, type SqlText } from '../../store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../store/clickhouse/store.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import type { Summary, TlsLoggingGap } from '../summary.js';
import {
  FAILURES,
  failureWhere,
  MESSAGES,
  messageWhere,
  TLS_COUNTS,
  tlsCounts,
} from './conditions.js';

/** Messages without a TLS version because their server's log has no TLS lines. */
const TLS_UNLOGGED = sql`tls_protocol = 'unknown' AND tls_evidence IN ('no-line', 'starttls')`;

/** Query the widget and flyout from ClickHouse: accounts, messages and the period's TLS mix. */
export async function clickHouseSummary(
  store: ClickHouseStore,
  filter: ReportFilter,
  period?: Period,
): Promise<Summary> {
  period ??= await resolvePeriod(store, filter);
  const messages = messageWhere(filter, period);
  // The servers without TLS lines come with the totals, so that the usual case of none
  // needs no second pass over the messages.
  const [[totals], [failed]] = await Promise.all([
    store.all(sql`
      SELECT uniqExact(account) AS accounts, count() AS messages,
             sum(recipients) AS recipient_sum, ${TLS_COUNTS},
             groupUniqArrayIf(server, ${TLS_UNLOGGED}) AS unlogged_servers
      FROM ${MESSAGES} WHERE ${messages}`),
    store.all(
      sql`SELECT count() AS failures FROM ${FAILURES} WHERE ${failureWhere(filter, period)}`,
    ),
  ]);
  const unlogged = (totals.unlogged_servers as string[]).map(String);

  return {
    from: period.from,
    to: period.to,
    accounts: Number(totals.accounts),
    messages: Number(totals.messages),
    recipients: Number(totals.recipient_sum),
    failures: Number(failed.failures),
    tls: tlsCounts(totals),
    tlsLoggingOff: unlogged.length > 0 ? await tlsLoggingGaps(store, messages, unlogged) : [],
  };
}

/** Query the messages without a TLS version of the servers whose log has no TLS lines. */
async function tlsLoggingGaps(
  store: ClickHouseStore,
  messages: SqlText,
  servers: string[],
): Promise<TlsLoggingGap[]> {
  const rows = await store.all(sql`
    SELECT server, count() AS messages FROM ${MESSAGES}
    WHERE ${messages} AND server IN ${sqlTuple(servers)} AND ${TLS_UNLOGGED}
    GROUP BY server ORDER BY server`);
  return rows.map((row) => ({ server: String(row.server), messages: Number(row.messages) }));
}
