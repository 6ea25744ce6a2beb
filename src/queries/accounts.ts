import type { DuckDBValue } from '@duckdb/node-api';

import { ACCOUNT_ROLLUP, CLIENT_ROLLUP } from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseAccounts } from './clickhouse/accounts.js';
import { messageConditions, resolvePeriod, type Period, type ReportFilter } from './filters.js';
import { rankAccounts, type AccountRanking } from './ranking.js';
import {
  periodRows,
  rollupsAnswer,
  senderCondition,
  SqlParams,
  prepareRollups,
  type RollupFilter,
} from './rollup-source.js';

export interface AccountRow {
  account: string;
  messages: number;
  recipients: number;
  senderAddresses: string[];
  clientIps: string[];
  mechanisms: string[];
  /** Messages over TLS 1.0, TLS 1.1 or no TLS, in percent. */
  legacyTlsPercent: number;
  firstSeen: string;
  lastSeen: string;
}

export const ACCOUNT_SORTS = [
  'account',
  'messages',
  'recipients',
  'legacyTlsPercent',
  'lastSeen',
] as const;
export type AccountSort = (typeof ACCOUNT_SORTS)[number];

export interface AccountPage {
  sort?: AccountSort;
  order?: 'asc' | 'desc';
  limit?: number;
  offset?: number;
}

const SORT_COLUMNS: Record<AccountSort, string> = {
  account: 'account',
  messages: 'messages',
  recipients: 'recipients',
  legacyTlsPercent: 'legacy_tls_percent',
  lastSeen: 'last_seen',
};

type AccountsResult = { period: Period; total: number; rows: AccountRow[] };

/** Per sort, the aggregate over rollup rows that orders accounts; null orders by name. */
const RANK_KEYS: Record<AccountSort, string | null> = {
  account: null,
  messages: 'sum(messages)::BIGINT',
  recipients: 'sum(recipients)::BIGINT',
  // The same expression and types as in accountsFromEvents, so that it rounds alike.
  legacyTlsPercent:
    'round(100.0 * sum(tlsv1_0 + tlsv1_1 + no_tls)::BIGINT / sum(messages)::BIGINT, 1)',
  lastSeen: 'max(last_seen)',
};

/** The details table: one row per account with its senders, client IPs and mechanisms. */
export async function queryAccounts(
  store: ReportStore,
  filter: ReportFilter,
  page: AccountPage = {},
): Promise<AccountsResult> {
  if (store.kind === 'clickhouse') return clickHouseAccounts(store, filter, page);
  const period = await resolvePeriod(store, filter);
  if (!rollupsAnswer(filter, period)) return accountsFromEvents(store, filter, page, period);

  const rollupFilter = await prepareRollups(store, filter);
  const ranking = {
    key: RANK_KEYS[page.sort ?? 'messages'],
    direction: page.order === 'asc' ? ('ASC' as const) : ('DESC' as const),
    limit: page.limit,
    offset: page.offset ?? 0,
  };
  if (filter.domain || filter.search) {
    return { period, ...(await filteredAccounts(store, rollupFilter, period, ranking)) };
  }

  // Without a filter the narrow account rollup ranks, and then gives the page its other
  // measures and lists.
  const params = new SqlParams();
  const columns =
    'account_id, messages, recipients, tlsv1_0, tlsv1_1, no_tls, first_seen, last_seen';
  const rows = periodRows(ACCOUNT_ROLLUP, period, columns);
  const ranked = await rankAccounts(store, { rows, params, ...ranking });
  if (ranked.accounts.length === 0) return { period, total: ranked.total, rows: [] };

  const ids = ranked.accounts.map((a) => Number(a.account_id));
  const details = await pageDetails(store, period, ids);
  return {
    period,
    total: ranked.total,
    rows: ranked.accounts.map((a) =>
      toAccountRow({ ...details.get(Number(a.account_id)), account: a.name }),
    ),
  };
}

/**
 * Query the accounts table with a domain or search filter. The filtered client rollup rows are
 * few, so one statement ranks them, sums every measure and builds the page's lists.
 */
async function filteredAccounts(
  store: DuckDBStore,
  filter: RollupFilter,
  period: Period,
  ranking: Pick<AccountRanking, 'key' | 'direction' | 'limit' | 'offset'>,
): Promise<{ total: number; rows: AccountRow[] }> {
  const params = new SqlParams();
  const columns = `account_id, sender_id, client_ip_id, mechanism_id, messages, recipients,
    tlsv1_0, tlsv1_1, no_tls, first_seen, last_seen`;
  const rows = periodRows(CLIENT_ROLLUP, period, columns, senderCondition(filter, params));
  const ranked = await rankAccounts(store, {
    rows,
    params,
    ...ranking,
    measures: ACCOUNT_MEASURES,
    lists: true,
  });
  return {
    total: ranked.total,
    rows: ranked.accounts.map((a) => toAccountRow({ ...a, account: a.name })),
  };
}

/** The measures of an account row, summed over its rollup rows. */
const ACCOUNT_MEASURES = `sum(messages)::BIGINT AS messages,
  sum(recipients)::BIGINT AS recipients, ${RANK_KEYS.legacyTlsPercent} AS legacy_tls_percent,
  min(first_seen) AS first_seen, max(last_seen) AS last_seen`;

function orderBy(page: AccountPage): string {
  const sort = SORT_COLUMNS[page.sort ?? 'messages'];
  const order = page.order === 'asc' ? 'ASC' : 'DESC';
  return `${sort} ${order}, account`;
}

function limitOf(page: AccountPage): string {
  if (page.limit === undefined) return '';
  return `LIMIT ${Math.trunc(page.limit)} OFFSET ${Math.trunc(page.offset ?? 0)}`;
}

/** The ids that the account rollup lists per key, and how quarter-hour client rows give them. */
const LISTS = 'sender_ids, client_ip_ids, mechanism_ids';
const QUARTER_LISTS =
  '[sender_id] AS sender_ids, [client_ip_id] AS client_ip_ids, [mechanism_id] AS mechanism_ids';

/** Name the ids of one list column of `page`, sorted per account. */
const namedList = (list: string, dictionary: string, name: string, alias: string) => `
  ${alias} AS (
    SELECT p.account_id, list_sort(list(DISTINCT d.${name})) AS ${alias}
    FROM (SELECT account_id, unnest(${list}) AS id FROM page) p
    JOIN ${dictionary} d ON d.id = p.id GROUP BY p.account_id)`;

/**
 * Query the measures, sender addresses, client IPs and mechanisms of the page's accounts
 * without a filter, from the account rollup's rows of those accounts alone.
 */
async function pageDetails(
  store: DuckDBStore,
  period: Period,
  accountIds: number[],
): Promise<Map<number, Row>> {
  const base = 'account_id, messages, recipients, tlsv1_0, tlsv1_1, no_tls, first_seen, last_seen';
  const where = `account_id IN (${accountIds.join(', ')})`;
  const rows = periodRows(
    ACCOUNT_ROLLUP,
    period,
    `${base}, ${LISTS}`,
    where,
    `${base}, ${QUARTER_LISTS}`,
  );
  const details = await store.all(
    `WITH page AS MATERIALIZED (
       SELECT account_id, ${ACCOUNT_MEASURES},
              ${LISTS.split(', ')
                .map((list) => `list_distinct(flatten(list(${list}))) AS ${list}`)
                .join(', ')}
       FROM (${rows}) GROUP BY account_id),
     ${namedList('sender_ids', 'dict_senders', 'address', 'sender_addresses')},
     ${namedList('client_ip_ids', 'dict_client_ips', 'address', 'client_ips')},
     ${namedList('mechanism_ids', 'dict_mechanisms', 'name', 'mechanisms')}
     SELECT page.* EXCLUDE (${LISTS}), sender_addresses, client_ips, mechanisms
     FROM page
     JOIN sender_addresses USING (account_id)
     JOIN client_ips USING (account_id)
     JOIN mechanisms USING (account_id)`,
  );
  return new Map(details.map((r) => [Number(r.account_id), r]));
}

function toAccountRow(r: Row): AccountRow {
  return {
    account: String(r.account),
    messages: Number(r.messages),
    recipients: Number(r.recipients),
    senderAddresses: r.sender_addresses as string[],
    clientIps: r.client_ips as string[],
    mechanisms: r.mechanisms as string[],
    legacyTlsPercent: Number(r.legacy_tls_percent),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
  };
}

// The event tables, for filters that the rollups lack -----------------------------------------

/** Count the details table from the event tables. */
export async function accountsFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  page: AccountPage = {},
  period?: Period,
): Promise<AccountsResult> {
  if (store.kind === 'clickhouse') return clickHouseAccounts(store, filter, page, period);
  period ??= await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);

  // Rank the accounts with cheap aggregates first, then build the lists for the page
  // alone: the DISTINCT lists cost most, and a page shows 100 of maybe 50,000 accounts.
  const rows = await store.all(
    `WITH ranked AS (
       SELECT account, count(*) AS messages, sum(recipients) AS recipients,
              round(100.0 * count(*) FILTER (WHERE tls_protocol IN ('TLSv1', 'TLSv1.1', 'none'))
                    / count(*), 1) AS legacy_tls_percent,
              min(ts) AS first_seen, max(ts) AS last_seen, count(*) OVER () AS total
       FROM submitted_messages WHERE ${c.where}
       GROUP BY account ORDER BY ${orderBy(page)} ${limitOf(page)}),
     lists AS (
       SELECT account,
              list_sort(list(DISTINCT sender_address)) AS sender_addresses,
              list_sort(list(DISTINCT client_ip)) AS client_ips,
              list_sort(list(DISTINCT sasl_mechanism)) AS mechanisms
       FROM submitted_messages
       WHERE ${c.where} AND account IN (SELECT account FROM ranked)
       GROUP BY account)
     SELECT * FROM ranked JOIN lists USING (account)
     ORDER BY ${orderBy(page)}`,
    c.params,
  );

  // A page past the last account has no row to carry the total.
  const total = rows.length > 0 ? Number(rows[0].total) : await countAccounts(store, c);
  return { period, total, rows: rows.map(toAccountRow) };
}

async function countAccounts(
  store: DuckDBStore,
  c: { where: string; params: DuckDBValue[] },
): Promise<number> {
  const [row] = await store.all(
    `SELECT count(DISTINCT account) AS total FROM submitted_messages WHERE ${c.where}`,
    c.params,
  );
  return Number(row.total);
}
