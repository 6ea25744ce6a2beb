import { CLIENT_ROLLUP, DOMAIN_ROLLUP } from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseVolume } from './clickhouse/volume.js';
import {
  dayGrouping,
  messageConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';
import {
  dayRows,
  dayText,
  domainIdCondition,
  rollupsAnswer,
  senderCondition,
  SqlParams,
  prepareRollups,
  type RollupFilter,
} from './rollup-source.js';

export interface VolumeRow {
  day: string;
  senderDomain: string;
  messages: number;
  recipients: number;
}

/** Sending Volume: messages per day per sender domain. */
export async function queryVolume(
  store: ReportStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: VolumeRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseVolume(store, filter);
  const period = await resolvePeriod(store, filter);
  const rows = rollupsAnswer(filter, period) ? await volumeRows(store, filter, period) : null;
  return rows ? { period, rows } : volumeFromEvents(store, filter, period);
}

/** Volume from the rollups; null when they have no rows per report day for this filter. */
async function volumeRows(
  store: DuckDBStore,
  filter: ReportFilter,
  period: Period,
): Promise<VolumeRow[] | null> {
  if (filter.search && !dayRows(CLIENT_ROLLUP, period, filter.timeZone, 'messages')) return null;

  const rollupFilter = await prepareRollups(store, filter);
  const params = new SqlParams();
  const columns = 'domain_id, messages, recipients';
  const rows = filter.search
    ? searchedDomainDays(rollupFilter, period, params)
    : dayRows(DOMAIN_ROLLUP, period, filter.timeZone, columns, domainIdCondition(rollupFilter))
        ?.sql;
  if (rows === undefined) return null;

  const volume = await params.run(
    store,
    `SELECT ${dayText('day_key')} AS day, d.name AS sender_domain,
            sum(messages)::BIGINT AS messages, sum(recipients)::BIGINT AS recipients
     FROM (${rows}) r JOIN dict_sender_domains d ON d.id = r.domain_id
     GROUP BY day_key, d.name HAVING sum(messages) > 0
     ORDER BY day, sender_domain`,
  );
  return volume.map(toVolumeRow);
}

/** Client rollup rows per day with their sender domain, for a search. */
function searchedDomainDays(
  filter: RollupFilter,
  period: Period,
  params: SqlParams,
): string | undefined {
  const columns = 'sender_id, messages, recipients';
  const where = senderCondition(filter, params);
  const rows = dayRows(CLIENT_ROLLUP, period, filter.timeZone, columns, where);
  if (rows === null) return undefined;
  return `SELECT day_key, s.domain_id, messages, recipients
          FROM (${rows.sql}) c JOIN dict_senders s ON s.id = c.sender_id`;
}

/** Sending Volume counted from the event tables. */
export async function volumeFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  period?: Period,
): Promise<{ period: Period; rows: VolumeRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseVolume(store, filter, period);
  period ??= await resolvePeriod(store, filter);
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
  return { period, rows: rows.map(toVolumeRow) };
}

const toVolumeRow = (r: Row): VolumeRow => ({
  day: String(r.day),
  senderDomain: String(r.sender_domain),
  messages: Number(r.messages),
  recipients: Number(r.recipients),
});
