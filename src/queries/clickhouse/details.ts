import type { TlsProtocol } from '../../events.js';
import { sql, type SqlText } from '../../store/clickhouse/sql.js';
import type { ClickHouseRow, ClickHouseStore } from '../../store/clickhouse/store.js';
import { addDays, ZoneConverter } from '../../time.js';
import type { DetailRow } from '../details.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import {
  dayKey,
  dayOfKey,
  MESSAGE_COPIES,
  MESSAGES,
  messageWhere,
  periodCondition,
} from './conditions.js';

/**
 * Query the detailed download from ClickHouse, one query per day that has messages. Memory
 * stays bounded for millions of rows, and a long period with few active days needs few
 * queries. Rows and their order are those of DuckDB's streamDetails.
 */
export async function clickHouseDetails(
  store: ClickHouseStore,
  filter: ReportFilter,
): Promise<{ period: Period; chunks: AsyncGenerator<DetailRow[]> }> {
  const period = await resolvePeriod(store, filter);
  const where = messageWhere(filter, period);
  const byDay = dayKey(period, filter.timeZone);
  const days = await store.all(sql`
    SELECT DISTINCT ${byDay} AS day_key FROM ${MESSAGE_COPIES} WHERE ${where} ORDER BY day_key`);

  async function* chunks(): AsyncGenerator<DetailRow[]> {
    for (const { day_key } of days) {
      const day = dayOfKey(day_key);
      const rows = await store.all(sql`
        SELECT account, sender_address, sender_domain, client_ip, tls_protocol, sasl_mechanism,
               server, count() AS messages, sum(recipients) AS recipient_sum
        FROM ${MESSAGES}
        WHERE ${where} AND ${around(day, filter.timeZone)} AND ${byDay} = ${Number(day_key)}
        GROUP BY account, sender_address, sender_domain, client_ip, tls_protocol,
                 sasl_mechanism, server
        ORDER BY account, sender_address, client_ip, tls_protocol, sasl_mechanism, server`);
      if (rows.length > 0) yield rows.map((row) => toDetailRow(day, row));
    }
  }
  return { period, chunks: chunks() };
}

/**
 * Builds a condition on ts that keeps a day and the day on either side of it, so that the
 * query of one day reads only that stretch of the sorting key. The day key then picks the day.
 */
function around(day: string, timeZone: string): SqlText {
  const zone = new ZoneConverter(timeZone);
  return periodCondition({
    from: day,
    to: day,
    startMs: zone.startOfDate(addDays(day, -1)),
    endMs: zone.startOfDate(addDays(day, 2)),
  });
}

function toDetailRow(day: string, row: ClickHouseRow): DetailRow {
  return {
    day,
    account: String(row.account),
    senderAddress: String(row.sender_address),
    senderDomain: String(row.sender_domain),
    clientIp: String(row.client_ip),
    tlsProtocol: String(row.tls_protocol) as TlsProtocol,
    saslMechanism: String(row.sasl_mechanism),
    server: String(row.server),
    messages: Number(row.messages),
    recipients: Number(row.recipient_sum),
  };
}
