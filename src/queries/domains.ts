import { CLIENT_ROLLUP, DOMAIN_ROLLUP } from '../store/duckdb/rollups.js';
import type { Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseDomains } from './clickhouse/domains.js';
import { messageConditions, resolvePeriod, type Period, type ReportFilter } from './filters.js';
import {
  periodRows,
  rollupsAnswer,
  senderCondition,
  SqlParams,
  prepareRollups,
} from './rollup-source.js';

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
  store: ReportStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: DomainRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseDomains(store, filter);
  const period = await resolvePeriod(store, filter);
  const unfiltered = { ...filter, domain: undefined };
  if (!rollupsAnswer(unfiltered, period)) return domainsFromEvents(store, unfiltered, period);

  const rollupFilter = await prepareRollups(store, filter);
  const params = new SqlParams();
  // A search needs the account and sender address of each row, which the client rollup has.
  const where = senderCondition({ ...rollupFilter, domain: undefined }, params);
  const rows = filter.search
    ? `SELECT s.domain_id, r.messages
       FROM (${periodRows(CLIENT_ROLLUP, period, 'sender_id, messages', where)}) r
       JOIN dict_senders s ON s.id = r.sender_id`
    : periodRows(DOMAIN_ROLLUP, period, 'domain_id, messages');
  const domains = await params.run(
    store,
    `SELECT d.name AS sender_domain, sum(messages)::BIGINT AS messages
     FROM (${rows}) r JOIN dict_sender_domains d ON d.id = r.domain_id
     GROUP BY d.name HAVING sum(messages) > 0
     ORDER BY messages DESC, sender_domain`,
  );
  return { period, rows: domains.map(toDomainRow) };
}

/** Count the sender domains from the event tables. */
export async function domainsFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  period?: Period,
): Promise<{ period: Period; rows: DomainRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseDomains(store, filter, period);
  period ??= await resolvePeriod(store, filter);
  const c = messageConditions({ ...filter, domain: undefined }, period);

  const rows = await store.all(
    `SELECT sender_domain, count(*) AS messages
     FROM submitted_messages WHERE ${c.where}
     GROUP BY sender_domain ORDER BY messages DESC, sender_domain`,
    c.params,
  );
  return { period, rows: rows.map(toDomainRow) };
}

const toDomainRow = (r: Row): DomainRow => ({
  senderDomain: String(r.sender_domain),
  messages: Number(r.messages),
});
