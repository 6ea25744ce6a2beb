import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  dayGrouping,
  messageConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';

export interface VolumeRow {
  day: string;
  senderDomain: string;
  messages: number;
  recipients: number;
}

/** Sending Volume: messages per day per sender domain. */
export async function queryVolume(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: VolumeRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const byDay = dayGrouping(period, filter.timeZone);
  const rows = await store.all(
    `SELECT ${byDay.day('day_key')} AS day, sender_domain, sum(messages) AS messages,
            sum(recipients) AS recipients
     FROM (SELECT ${byDay.key} AS day_key, sender_domain, count(*) AS messages,
                  sum(recipients) AS recipients
           FROM submitted_messages WHERE ${c.where} GROUP BY ALL)
     GROUP BY ALL ORDER BY day, sender_domain`,
    c.params,
  );
  return {
    period,
    rows: rows.map((r) => ({
      day: String(r.day),
      senderDomain: String(r.sender_domain),
      messages: Number(r.messages),
      recipients: Number(r.recipients),
    })),
  };
}
