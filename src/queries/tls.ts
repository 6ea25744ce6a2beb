import type { DuckDBValue } from '@duckdb/node-api';

import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import {
  ACCOUNT_ROLLUP,
  CLIENT_ROLLUP,
  DOMAIN_ROLLUP,
  TLS_COLUMN_OF,
} from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseTls, clickHouseTlsByAccount, clickHouseTlsByDay } from './clickhouse/tls.js';
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
  periodRows,
  rollupsAnswer,
  senderCondition,
  SqlParams,
  prepareRollups,
  type RollupFilter,
} from './rollup-source.js';
import { rankAccounts } from './ranking.js';

/** TLS versions that break when TLS 1.0 and 1.1 are switched off, plus no TLS at all. */
export const LEGACY_TLS: readonly TlsProtocol[] = ['TLSv1', 'TLSv1.1', 'none'];

export interface TlsAccountRow {
  account: string;
  messages: number;
  counts: Record<TlsProtocol, number>;
  /** Percent of the account's messages per TLS version, rounded to one decimal. */
  percents: Record<TlsProtocol, number>;
  /** Percent of messages over TLS 1.0, TLS 1.1 or no TLS. */
  legacyPercent: number;
}

export interface TlsDayRow {
  day: string;
  tlsProtocol: TlsProtocol;
  messages: number;
}

/**
 * Orders of the TLS Usage table. A TLS version sorts by its percent of the account's messages,
 * then by its count; the legacy share by its percent. Ties sort by account name.
 */
export const TLS_ACCOUNT_SORTS = [
  'account',
  'messages',
  'legacyPercent',
  ...TLS_PROTOCOLS,
] as const;
export type TlsAccountSort = (typeof TLS_ACCOUNT_SORTS)[number];

export interface TlsAccountPage {
  sort?: TlsAccountSort;
  order?: 'asc' | 'desc';
  /** Accounts to return; all of them without a limit. */
  limit?: number;
  offset?: number;
}

// TLS Usage table -----------------------------------------------------------------------------

/** The TLS Usage chart and one page of its table, as `/api/tls` returns them. */
export interface TlsUsage {
  period: Period;
  byDay: TlsDayRow[];
  total: number;
  byAccount: TlsAccountRow[];
}

/**
 * Query the TLS Usage chart and one page of its table together, so that the period and the
 * rollups are prepared once.
 */
export async function queryTls(
  store: ReportStore,
  filter: ReportFilter,
  page: TlsAccountPage = {},
): Promise<TlsUsage> {
  if (store.kind === 'clickhouse') return clickHouseTls(store, filter, page);
  const period = await resolvePeriod(store, filter);
  if (!rollupsAnswer(filter, period)) {
    const byAccount = await tlsByAccountFromEvents(store, filter, page, period);
    const byDay = await tlsByDayFromEvents(store, filter, period);
    return { period, byDay: byDay.rows, total: byAccount.total, byAccount: byAccount.rows };
  }

  const rollupFilter = await prepareRollups(store, filter);
  const byDay =
    (await tlsDayRows(store, rollupFilter, period)) ??
    (await tlsByDayFromEvents(store, filter, period)).rows;
  const byAccount = await tlsAccountPage(store, rollupFilter, period, page);
  return { period, byDay, total: byAccount.total, byAccount: byAccount.rows };
}

/**
 * TLS Usage table: per account, messages per TLS version as count and percent, one page of
 * accounts in the chosen order, and the number of accounts in all pages.
 */
export async function queryTlsByAccount(
  store: ReportStore,
  filter: ReportFilter,
  page: TlsAccountPage = {},
): Promise<{ period: Period; total: number; rows: TlsAccountRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseTlsByAccount(store, filter, page);
  const period = await resolvePeriod(store, filter);
  if (!rollupsAnswer(filter, period)) return tlsByAccountFromEvents(store, filter, page, period);

  const rollupFilter = await prepareRollups(store, filter);
  return { period, ...(await tlsAccountPage(store, rollupFilter, period, page)) };
}

async function tlsAccountPage(
  store: DuckDBStore,
  filter: RollupFilter,
  period: Period,
  page: TlsAccountPage,
): Promise<{ total: number; rows: TlsAccountRow[] }> {
  const params = new SqlParams();
  const measures = `account_id, messages, ${Object.values(TLS_COLUMN_OF).join(', ')}`;
  const filtered = Boolean(filter.domain || filter.search);
  const rows = filtered
    ? periodRows(CLIENT_ROLLUP, period, measures, senderCondition(filter, params))
    : periodRows(ACCOUNT_ROLLUP, period, measures);

  // Filtered rows are few enough to sum every count while ranking.
  const sort = page.sort ?? 'messages';
  const ranked = await rankAccounts(store, {
    rows,
    params,
    key: rankKey(sort),
    direction: (page.order ?? (sort === 'account' ? 'asc' : 'desc')) === 'asc' ? 'ASC' : 'DESC',
    limit: page.limit,
    offset: page.offset ?? 0,
    measures: filtered ? TLS_MEASURES : undefined,
  });
  if (ranked.accounts.length === 0) return { total: ranked.total, rows: [] };

  const ids = ranked.accounts.map((a) => Number(a.account_id));
  const totals = filtered
    ? ranked.accounts
    : await params.run(
        store,
        `SELECT account_id, ${TLS_MEASURES}
         FROM (${rows}) WHERE account_id IN (${ids.join(', ')}) GROUP BY account_id`,
      );
  const byId = new Map(totals.map((r) => [Number(r.account_id), r]));
  return {
    total: ranked.total,
    rows: ranked.accounts.map((a) =>
      toTlsAccountRow({ ...byId.get(Number(a.account_id)), account: a.name }),
    ),
  };
}

/** Messages and messages per TLS version, summed over an account's rollup rows. */
const TLS_MEASURES = [
  'sum(messages)::BIGINT AS messages',
  ...TLS_PROTOCOLS.map((p) => `sum(${TLS_COLUMN_OF[p]})::BIGINT AS "${p}"`),
].join(', ');

/**
 * Build the aggregate over rollup rows that orders accounts for a sort, as orderBy does. A percent
 * sorts as the permille that toTlsAccountRow rounds it from; a TLS version's count, in the low
 * 40 bits, breaks its ties.
 */
function rankKey(sort: TlsAccountSort): string | null {
  if (sort === 'account') return null;
  if (sort === 'messages') return 'sum(messages)::BIGINT';

  const columns =
    sort === 'legacyPercent' ? LEGACY_TLS.map((p) => TLS_COLUMN_OF[p]) : [TLS_COLUMN_OF[sort]];
  const count = `sum(${columns.join(' + ')})::BIGINT`;
  const permille = `CAST(round(${count} * 1000.0::DOUBLE / sum(messages)::BIGINT) AS BIGINT)`;
  return sort === 'legacyPercent' ? permille : `${permille} * ${2 ** 40} + ${count}`;
}

/** SQL for the percent of `count` in `messages` as toTlsAccountRow rounds it, for sorting. */
const percentSql = (count: string) => `round((${count}) * 1000.0::DOUBLE / messages) / 10`;

function orderBy(page: TlsAccountPage): string {
  const sort = page.sort ?? 'messages';
  const direction = (page.order ?? (sort === 'account' ? 'asc' : 'desc')).toUpperCase();
  if (sort === 'account') return `account ${direction}`;
  if (sort === 'messages') return `messages ${direction}, account`;
  if (sort === 'legacyPercent') {
    return `${percentSql(LEGACY_TLS.map((p) => `"${p}"`).join(' + '))} ${direction}, account`;
  }
  return `${percentSql(`"${sort}"`)} ${direction}, "${sort}" ${direction}, account`;
}

/** Sort and page accounts given as SQL rows of account, messages and one count per version. */
async function pageOfAccounts(
  store: DuckDBStore,
  perAccount: string,
  params: DuckDBValue[],
  page: TlsAccountPage,
): Promise<{ total: number; rows: TlsAccountRow[] }> {
  const limit =
    page.limit === undefined
      ? ''
      : `LIMIT ${Math.trunc(page.limit)} OFFSET ${Math.trunc(page.offset ?? 0)}`;
  const rows = await store.all(
    `WITH accounts AS MATERIALIZED (${perAccount})
     SELECT *, (SELECT count(*) FROM accounts) AS total
     FROM accounts ORDER BY ${orderBy(page)} ${limit}`,
    params,
  );
  const total =
    rows.length > 0 ? Number(rows[0].total) : await countPerAccount(store, perAccount, params);
  return { total, rows: rows.map(toTlsAccountRow) };
}

/** Count the accounts when the page is past the last one, so that no row carries the total. */
async function countPerAccount(
  store: DuckDBStore,
  perAccount: string,
  params: DuckDBValue[],
): Promise<number> {
  const [row] = await store.all(`SELECT count(*) AS total FROM (${perAccount})`, params);
  return Number(row.total);
}

export function toTlsAccountRow(r: Record<string, unknown>): TlsAccountRow {
  const messages = Number(r.messages);
  const counts = Object.fromEntries(
    TLS_PROTOCOLS.map((p) => [p, Number(r[p])]),
  ) as TlsAccountRow['counts'];
  const percent = (n: number) => (messages === 0 ? 0 : Math.round((n * 1000) / messages) / 10);
  const percents = Object.fromEntries(
    TLS_PROTOCOLS.map((p) => [p, percent(counts[p])]),
  ) as TlsAccountRow['percents'];
  const legacy = LEGACY_TLS.reduce((sum, p) => sum + counts[p], 0);
  return { account: String(r.account), messages, counts, percents, legacyPercent: percent(legacy) };
}

// TLS Usage chart -----------------------------------------------------------------------------

/** TLS Usage chart: messages per day per TLS version. */
export async function queryTlsByDay(
  store: ReportStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: TlsDayRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseTlsByDay(store, filter);
  const period = await resolvePeriod(store, filter);
  if (!rollupsAnswer(filter, period)) return tlsByDayFromEvents(store, filter, period);

  const rows = await tlsDayRows(store, await prepareRollups(store, filter), period);
  return rows ? { period, rows } : tlsByDayFromEvents(store, filter, period);
}

/** TLS versions per day from the rollups; null when they have no rows per report day. */
async function tlsDayRows(
  store: DuckDBStore,
  filter: RollupFilter,
  period: Period,
): Promise<TlsDayRow[] | null> {
  const params = new SqlParams();
  const columns = Object.values(TLS_COLUMN_OF).join(', ');
  const rows = filter.search
    ? dayRows(CLIENT_ROLLUP, period, filter.timeZone, columns, senderCondition(filter, params))
    : dayRows(DOMAIN_ROLLUP, period, filter.timeZone, columns, domainIdCondition(filter));
  if (rows === null) return null;

  const sums = TLS_PROTOCOLS.map((p) => `sum(${TLS_COLUMN_OF[p]})::BIGINT AS "${p}"`);
  const days = await params.run(
    store,
    `SELECT ${dayText('day_key')} AS day, tls_protocol, messages
     FROM (SELECT day_key, ${sums.join(', ')} FROM (${rows.sql}) GROUP BY day_key)
     UNPIVOT (messages FOR tls_protocol IN (${TLS_PROTOCOLS.map((p) => `"${p}"`).join(', ')}))
     WHERE messages > 0
     ORDER BY day, tls_protocol`,
  );
  return days.map(toTlsDayRow);
}

const toTlsDayRow = (r: Row): TlsDayRow => ({
  day: String(r.day),
  tlsProtocol: String(r.tls_protocol) as TlsProtocol,
  messages: Number(r.messages),
});

// The event tables, for filters that the rollups lack -----------------------------------------

function tlsCountColumns(): string {
  return TLS_PROTOCOLS.map(
    (protocol) => `count(*) FILTER (WHERE tls_protocol = '${protocol}') AS "${protocol}"`,
  ).join(', ');
}

/** Count the TLS Usage table from the event tables. */
export async function tlsByAccountFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  page: TlsAccountPage = {},
  period?: Period,
): Promise<{ period: Period; total: number; rows: TlsAccountRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseTlsByAccount(store, filter, page, period);
  period ??= await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const perAccount = `
    SELECT account, count(*) AS messages, ${tlsCountColumns()}
    FROM submitted_messages WHERE ${c.where} GROUP BY account`;
  return { period, ...(await pageOfAccounts(store, perAccount, c.params, page)) };
}

/** Count the TLS Usage chart from the event tables. */
export async function tlsByDayFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  period?: Period,
): Promise<{ period: Period; rows: TlsDayRow[] }> {
  if (store.kind === 'clickhouse') return clickHouseTlsByDay(store, filter, period);
  period ??= await resolvePeriod(store, filter);
  const c = messageConditions(filter, period);
  const byDay = dayGrouping(period, filter.timeZone);
  const rows = await store.all(
    `SELECT ${byDay.day('day_key')} AS day, tls_protocol, sum(messages) AS messages
     FROM (SELECT ${byDay.key} AS day_key, tls_protocol, count(*) AS messages
           FROM submitted_messages WHERE ${c.where} GROUP BY ALL)
     GROUP BY ALL ORDER BY day, tls_protocol`,
    c.params,
  );
  return { period, rows: rows.map(toTlsDayRow) };
}
