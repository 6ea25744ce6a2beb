import { sql } from '../../store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../store/clickhouse/store.js';
import type { DomainRow } from '../domains.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import { MESSAGES, messageWhere } from './conditions.js';

/**
 * Query the sender domains of the period from ClickHouse. The domain filter is ignored, so
 * that choosing one domain still lists all the others.
 */
export async function clickHouseDomains(
  store: ClickHouseStore,
  filter: ReportFilter,
  period?: Period,
): Promise<{ period: Period; rows: DomainRow[] }> {
  period ??= await resolvePeriod(store, filter);
  const where = messageWhere({ ...filter, domain: undefined }, period);
  const rows = await store.all(sql`
    SELECT sender_domain, count() AS messages
    FROM ${MESSAGES} WHERE ${where}
    GROUP BY sender_domain ORDER BY messages DESC, sender_domain`);
  return {
    period,
    rows: rows.map((row) => ({
      senderDomain: String(row.sender_domain),
      messages: Number(row.messages),
    })),
  };
}
