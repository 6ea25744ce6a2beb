import type { DuckDBStore } from '../store/duckdb/store.js';
import { messageConditions, resolvePeriod, type Period, type ReportFilter } from './filters.js';

export interface DomainRow {
  /** Lower-case sender domain; empty for the null sender `<>`. */
  senderDomain: string;
  messages: number;
}

/**
 * Query the sender domains of the period, for the "Show data for" choice. The domain filter is
 * ignored, so that choosing one domain still lists all the others.
 */
export async function queryDomains(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: DomainRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = messageConditions({ ...filter, domain: undefined }, period);

  const rows = await store.all(
    `SELECT sender_domain, count(*) AS messages
     FROM submitted_messages WHERE ${c.where}
     GROUP BY sender_domain ORDER BY messages DESC, sender_domain`,
    c.params,
  );

  return {
    period,
    rows: rows.map((r) => ({
      senderDomain: String(r.sender_domain),
      messages: Number(r.messages),
    })),
  };
}
