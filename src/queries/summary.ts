import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import {
  ACCOUNT_ROLLUP,
  CLIENT_ROLLUP,
  DOMAIN_ROLLUP,
  FAILURE_ROLLUP,
  TLS_COLUMN_OF,
} from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseSummary } from './clickhouse/summary.js';
import {
  failureConditions,
  messageConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';
import {
  domainIdCondition,
  periodRows,
  rollupsAnswer,
  senderCondition,
  SqlParams,
  usernameCondition,
  prepareRollups,
  type RollupFilter,
} from './rollup-source.js';

/** A server whose messages have no TLS version because its log has no TLS lines. */
export interface TlsLoggingGap {
  server: string;
  messages: number;
}

export interface Summary {
  from: string;
  to: string;
  /** Logins with at least one accepted message; a name seen only in failed logins is not one. */
  accounts: number;
  messages: number;
  recipients: number;
  failures: number;
  tls: Record<TlsProtocol, number>;
  /**
   * Servers whose log has no TLS lines, so TLS versions are unknown: Postfix with
   * smtpd_tls_loglevel = 0, Sendmail with a LogLevel below 9.
   */
  tlsLoggingOff: TlsLoggingGap[];
}

/** The widget and flyout: accounts, messages and the TLS mix of the period. */
export async function querySummary(store: ReportStore, filter: ReportFilter): Promise<Summary> {
  if (store.kind === 'clickhouse') return clickHouseSummary(store, filter);
  const period = await resolvePeriod(store, filter);
  if (!rollupsAnswer(filter, period)) return summaryFromEvents(store, filter, period);

  const rollupFilter = await prepareRollups(store, filter);
  const totals =
    filter.domain || filter.search
      ? await filteredTotals(store, rollupFilter, period)
      : await allTotals(store, period);
  return {
    from: period.from,
    to: period.to,
    accounts: totals.accounts,
    messages: totals.messages,
    recipients: totals.recipients,
    failures: await countFailures(store, rollupFilter, period),
    tls: tlsCounts(totals),
    tlsLoggingOff: await tlsLoggingGaps(store, rollupFilter, period),
  };
}

/** Totals of the period: accounts, messages, recipients and messages per TLS version. */
type Totals = Record<'accounts' | 'messages' | 'recipients' | TlsProtocol, number>;

const TOTAL_COLUMNS = [
  'sum(messages)::BIGINT AS messages',
  'sum(recipients)::BIGINT AS recipients',
  ...TLS_PROTOCOLS.map((p) => `sum(${TLS_COLUMN_OF[p]})::BIGINT AS "${p}"`),
].join(', ');
const TOTAL_MEASURES = `messages, recipients, ${Object.values(TLS_COLUMN_OF).join(', ')}`;

/** Totals without a filter: the domain rollup has the fewest rows, the account one counts. */
async function allTotals(store: DuckDBStore, period: Period): Promise<Totals> {
  const rows = periodRows(DOMAIN_ROLLUP, period, TOTAL_MEASURES);
  const [totals] = await store.all(`SELECT ${TOTAL_COLUMNS} FROM (${rows})`);

  const accounts = periodRows(ACCOUNT_ROLLUP, period, 'account_id, messages');
  const [row] = await store.all(
    `SELECT count(*) AS accounts FROM (
       SELECT account_id FROM (${accounts}) GROUP BY account_id HAVING sum(messages) > 0)`,
  );
  return toTotals({ ...totals, accounts: row.accounts });
}

/**
 * Totals with a domain or search filter, from the client rollup in one pass. Every key with
 * rows has messages: rows that settling TLS versions adds only move counts between versions.
 */
async function filteredTotals(
  store: DuckDBStore,
  filter: RollupFilter,
  period: Period,
): Promise<Totals> {
  const params = new SqlParams();
  const where = senderCondition(filter, params);
  const rows = periodRows(CLIENT_ROLLUP, period, `account_id, ${TOTAL_MEASURES}`, where);
  const [totals] = await params.run(
    store,
    `SELECT ${TOTAL_COLUMNS}, count(DISTINCT account_id) AS accounts FROM (${rows})`,
  );
  return toTotals(totals);
}

function toTotals(row: Row): Totals {
  const totals = {
    accounts: Number(row.accounts),
    messages: Number(row.messages),
    recipients: Number(row.recipients),
  };
  return Object.assign(totals, tlsCounts(row)) as Totals;
}

function tlsCounts(row: Record<string, unknown>): Record<TlsProtocol, number> {
  return Object.fromEntries(TLS_PROTOCOLS.map((p) => [p, Number(row[p] ?? 0)])) as Record<
    TlsProtocol,
    number
  >;
}

async function countFailures(
  store: DuckDBStore,
  filter: RollupFilter,
  period: Period,
): Promise<number> {
  const params = new SqlParams();
  const rows = periodRows(FAILURE_ROLLUP, period, 'failures', usernameCondition(filter, params));
  const [row] = await params.run(store, `SELECT sum(failures)::BIGINT AS n FROM (${rows})`);
  return Number(row.n ?? 0);
}

/**
 * Servers whose messages of the period have TLS unknown for want of TLS lines. The domain
 * rollup has the server but no account, so with a search this reads the event tables, which
 * only happens when the period has such messages at all.
 */
async function tlsLoggingGaps(
  store: DuckDBStore,
  filter: RollupFilter,
  period: Period,
): Promise<TlsLoggingGap[]> {
  const params = new SqlParams();
  const rows = periodRows(
    DOMAIN_ROLLUP,
    period,
    'server_id, tls_unlogged',
    domainIdCondition(filter),
  );
  const gaps = await params.run(
    store,
    `SELECT sv.name AS server, sum(tls_unlogged)::BIGINT AS messages
     FROM (${rows}) r JOIN dict_servers sv ON sv.id = r.server_id
     GROUP BY sv.name HAVING sum(tls_unlogged) > 0 ORDER BY server`,
  );
  if (gaps.length === 0 || !filter.search) return gaps.map(toGap);
  return (await gapsFromEvents(store, filter, period)).map(toGap);
}

const toGap = (g: Row): TlsLoggingGap => ({
  server: String(g.server),
  messages: Number(g.messages),
});

// The event tables, for filters that the rollups lack -----------------------------------------

const TLS_FILTER_COLUMNS = TLS_PROTOCOLS.map(
  (protocol) => `count(*) FILTER (WHERE tls_protocol = '${protocol}') AS "${protocol}"`,
).join(', ');

/** Count the summary from the event tables. */
export async function summaryFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  period?: Period,
): Promise<Summary> {
  if (store.kind === 'clickhouse') return clickHouseSummary(store, filter, period);
  period ??= await resolvePeriod(store, filter);
  const messages = messageConditions(filter, period);
  const [totals] = await store.all(
    `SELECT count(DISTINCT account) AS accounts, count(*) AS messages,
            coalesce(sum(recipients), 0) AS recipients, ${TLS_FILTER_COLUMNS}
     FROM submitted_messages WHERE ${messages.where}`,
    messages.params,
  );

  const failures = failureConditions(filter, period);
  const [failed] = await store.all(
    `SELECT count(*) AS failures FROM auth_failures WHERE ${failures.where}`,
    failures.params,
  );

  return {
    from: period.from,
    to: period.to,
    accounts: Number(totals.accounts),
    messages: Number(totals.messages),
    recipients: Number(totals.recipients),
    failures: Number(failed.failures),
    tls: tlsCounts(totals),
    tlsLoggingOff: (await gapsFromEvents(store, filter, period)).map(toGap),
  };
}

async function gapsFromEvents(
  store: DuckDBStore,
  filter: ReportFilter,
  period: Period,
): Promise<Row[]> {
  const messages = messageConditions(filter, period);
  return store.all(
    `SELECT server, count(*) AS messages FROM submitted_messages
     WHERE ${messages.where} AND tls_protocol = 'unknown' AND tls_evidence IN ('no-line', 'starttls')
     GROUP BY server ORDER BY server`,
    messages.params,
  );
}
