import { sql } from '../../store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../store/clickhouse/store.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import type { VolumeRow } from '../volume.js';
import { dayKey, dayOfKey, MESSAGES, messageWhere } from './conditions.js';

/** Query Sending Volume from ClickHouse: messages per day per sender domain. */
export async function clickHouseVolume(
  store: ClickHouseStore,
  filter: ReportFilter,
  period?: Period,
): Promise<{ period: Period; rows: VolumeRow[] }> {
  period ??= await resolvePeriod(store, filter);
  const rows = await store.all(sql`
    SELECT ${dayKey(period, filter.timeZone)} AS day_key, sender_domain,
           count() AS messages, sum(recipients) AS recipient_sum
    FROM ${MESSAGES} WHERE ${messageWhere(filter, period)}
    GROUP BY day_key, sender_domain ORDER BY day_key, sender_domain`);
  return {
    period,
    rows: rows.map((row) => ({
      day: dayOfKey(row.day_key),
      senderDomain: String(row.sender_domain),
      messages: Number(row.messages),
      recipients: Number(row.recipient_sum),
    })),
  };
}
