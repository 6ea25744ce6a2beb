import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import { FAILURE_ROLLUP } from '../store/duckdb/rollups.js';
import type { Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseFailurePivot, clickHouseFailures } from './clickhouse/failures.js';
import {
  dayGrouping,
  failureConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';
import {
  dayRows,
  dayText,
  rollupsAnswer,
  SqlParams,
  usernameCondition,
  prepareRollups,
} from './rollup-source.js';

/** Failed logins per day, attempted username, client IP, mechanism, TLS and server. */
export interface FailureRow {
  day: string;
  attemptedUsername: string | null;
  clientIp: string;
  saslMechanism: string;
  tlsProtocol: TlsProtocol;
  server: string;
  failures: number;
}

type FailuresResult = { period: Period; total: number; rows: FailureRow[] };

/**
 * Return the order of the groups: by day, or with a limit largest first. The names after the count
 * make it a total order, so that a limit cuts ties the same way every time.
 */
function orderOf(limited: boolean): string {
  const names = 'client_ip, attempted_username NULLS FIRST, sasl_mechanism, tls_protocol, server';
  return limited ? `failures DESC, day, ${names}` : `day, failures DESC, ${names}`;
}

/**
 * Failed logins grouped by day, username, client IP, mechanism, TLS and server. With a
 * `limit`, the largest groups come first (a brute-force run can make hundreds of thousands
 * of groups a week), and `total` counts them all.
 */
export async function queryFailures(
  store: ReportStore,
  filter: ReportFilter,
  options: { limit?: number } = {},
): Promise<FailuresResult> {
  if (store.kind === 'clickhouse') return clickHouseFailures(store, filter, options);
  const period = await resolvePeriod(store, filter);
  const columns = 'username_id, client_ip_id, mechanism_id, tls_code, server_id, failures';
  const answered =
    rollupsAnswer(filter, period) && dayRows(FAILURE_ROLLUP, period, filter.timeZone, columns);
  if (!answered) return failuresFromEvents(store, filter, options, period);

  await prepareRollups(store, filter);
  const params = new SqlParams();
  const where = usernameCondition(filter, params);
  const rows = dayRows(FAILURE_ROLLUP, period, filter.timeZone, columns, where)!;
  // Day buckets hold one row per key, cheap to read again; quarter hours are summed into
  // report days once.
  const groups = rows.days
    ? `groups AS NOT MATERIALIZED (${rows.sql})`
    : `groups AS MATERIALIZED (
         SELECT day_key, ${columns.replace(', failures', '')}, sum(failures) AS failures
         FROM (${rows.sql}) GROUP BY ALL HAVING sum(failures) > 0)`;
  const limited = options.limit !== undefined;
  const limit = Math.trunc(options.limit ?? 0);

  // With a limit, only the groups that sort no later than the limit-th group by count and
  // day are named and sorted: the names decide only among groups of the same count and day.
  const shown = limited
    ? `SELECT g.* FROM groups g, last_shown l
       WHERE g.failures > l.failures OR (g.failures = l.failures AND g.day_key <= l.day_key)
       UNION ALL SELECT * FROM groups WHERE NOT EXISTS (SELECT 1 FROM last_shown)`
    : 'SELECT * FROM groups';
  const lastShown = `last_shown AS (SELECT failures, day_key FROM groups
    ORDER BY failures DESC, day_key LIMIT 1 OFFSET ${Math.max(0, limit - 1)})`;
  const result = await params.run(
    store,
    `WITH ${groups}, ${lastShown}, shown AS MATERIALIZED (${shown})
     SELECT ${dayText('day_key')} AS day, u.name AS attempted_username, ip.address AS client_ip,
            me.name AS sasl_mechanism, ${tlsName('g.tls_code')} AS tls_protocol,
            sv.name AS server, g.failures, (SELECT count(*) FROM groups) AS total
     FROM shown g
     LEFT JOIN dict_usernames u ON u.id = g.username_id
     JOIN dict_client_ips ip ON ip.id = g.client_ip_id
     JOIN dict_mechanisms me ON me.id = g.mechanism_id
     JOIN dict_servers sv ON sv.id = g.server_id
     ORDER BY ${orderOf(limited)} ${limited ? `LIMIT ${limit}` : ''}`,
  );
  const total = result.length > 0 ? Number(result[0].total) : 0;
  return { period, total, rows: result.map(toFailureRow) };
}

/** SQL for the TLS version of a `tls_code`, its 1-based position in TLS_PROTOCOLS. */
const tlsName = (code: string) => `['${TLS_PROTOCOLS.join("', '")}'][${code}]`;

/** Failed logins counted from the event tables. */
export async function failuresFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  options: { limit?: number } = {},
  period?: Period,
): Promise<FailuresResult> {
  if (store.kind === 'clickhouse') return clickHouseFailures(store, filter, options, period);
  period ??= await resolvePeriod(store, filter);
  const c = failureConditions(filter, period);
  const limited = options.limit !== undefined;
  const byDay = dayGrouping(period, filter.timeZone);
  const rows = await store.all(
    `SELECT ${byDay.day(byDay.key)} AS day, attempted_username, client_ip, sasl_mechanism,
            tls_protocol, server, count(*) AS failures${limited ? ', count(*) OVER () AS total' : ''}
     FROM auth_failures WHERE ${c.where}
     GROUP BY ALL ORDER BY ${orderOf(limited)}${limited ? ` LIMIT ${Math.trunc(options.limit!)}` : ''}`,
    c.params,
  );

  let total = rows.length;
  if (limited && rows.length > 0) total = Number(rows[0].total);
  return { period, total, rows: rows.map(toFailureRow) };
}

const toFailureRow = (r: Row): FailureRow => ({
  day: String(r.day),
  attemptedUsername: r.attempted_username === null ? null : String(r.attempted_username),
  clientIp: String(r.client_ip),
  saslMechanism: String(r.sasl_mechanism),
  tlsProtocol: String(r.tls_protocol) as TlsProtocol,
  server: String(r.server),
  failures: Number(r.failures),
});

// Pivots of failed logins ----------------------------------------------------------------------

/** The grouping of a failed-logins pivot: report day, attempted username or client IP. */
export const FAILURE_PIVOTS = ['day', 'username', 'ip'] as const;
export type FailurePivot = (typeof FAILURE_PIVOTS)[number];

/** One group of a failed-logins pivot, with the distinct values behind its failures. */
export interface FailurePivotRow {
  /** The day (YYYY-MM-DD), the attempted username (null where the log names none) or the IP. */
  key: string | null;
  failures: number;
  /** Distinct attempted usernames; failures without a username count for none. */
  usernames: number;
  clientIps: number;
  /** Distinct report days with failures. */
  days: number;
}

export type FailurePivotResult = { period: Period; total: number; rows: FailurePivotRow[] };

/**
 * Order of the pivot rows. Days run in calendar order. Usernames and client IPs come most
 * failures first, then most distinct values on the other side (usernames tried by an IP, IPs
 * that tried a username), so that brute-force and password-spraying sources lead.
 */
function pivotOrder(by: FailurePivot): string {
  if (by === 'day') return 'key';
  const spread = by === 'ip' ? 'usernames' : 'client_ips';
  return `failures DESC, ${spread} DESC, key NULLS FIRST`;
}

/**
 * Failed logins per report day, per attempted username or per client IP, with the distinct
 * usernames, client IPs and days of each group. `total` counts all groups; `limit` caps the
 * rows (days are never many, usernames and IPs of a brute-force run can be).
 */
export async function queryFailurePivot(
  store: ReportStore,
  filter: ReportFilter,
  by: FailurePivot,
  options: { limit?: number } = {},
): Promise<FailurePivotResult> {
  if (store.kind === 'clickhouse') return clickHouseFailurePivot(store, filter, by, options);
  const period = await resolvePeriod(store, filter);
  const columns = 'username_id, client_ip_id, failures';
  const answered =
    rollupsAnswer(filter, period) && dayRows(FAILURE_ROLLUP, period, filter.timeZone, columns);
  if (!answered) return failurePivotFromEvents(store, filter, by, options, period);

  await prepareRollups(store, filter);
  const params = new SqlParams();
  const where = `failures > 0 AND ${usernameCondition(filter, params)}`;
  const rows = dayRows(FAILURE_ROLLUP, period, filter.timeZone, columns, where)!;
  const keys = {
    day: { id: 'day_key', name: dayText('g.key_id'), join: '' },
    username: {
      id: 'username_id',
      name: 'u.name',
      join: 'LEFT JOIN dict_usernames u ON u.id = g.key_id',
    },
    ip: {
      id: 'client_ip_id',
      name: 'ip.address',
      join: 'JOIN dict_client_ips ip ON ip.id = g.key_id',
    },
  }[by];

  const result = await params.run(
    store,
    `WITH groups AS (
       SELECT ${keys.id} AS key_id, sum(failures) AS failures,
              count(DISTINCT username_id) AS usernames, count(DISTINCT client_ip_id) AS client_ips,
              count(DISTINCT day_key) AS days
       FROM (${rows.sql}) GROUP BY ALL)
     SELECT ${keys.name} AS key, g.failures, g.usernames, g.client_ips, g.days,
            count(*) OVER () AS total
     FROM groups g ${keys.join}
     ORDER BY ${pivotOrder(by)} ${limitClause(options.limit)}`,
  );
  return { period, total: totalOf(result), rows: result.map(toPivotRow) };
}

/** A failed-logins pivot counted from the event table. */
export async function failurePivotFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  by: FailurePivot,
  options: { limit?: number } = {},
  period?: Period,
): Promise<FailurePivotResult> {
  if (store.kind === 'clickhouse') {
    return clickHouseFailurePivot(store, filter, by, options, period);
  }
  period ??= await resolvePeriod(store, filter);
  const c = failureConditions(filter, period);
  const byDay = dayGrouping(period, filter.timeZone);
  const keyOf = { day: 'day_key', username: 'attempted_username', ip: 'client_ip' }[by];
  const nameOf = by === 'day' ? byDay.day('key_value') : 'key_value';

  const rows = await store.all(
    `WITH failures AS (
       SELECT ${byDay.key} AS day_key, attempted_username, client_ip
       FROM auth_failures WHERE ${c.where}),
     groups AS (
       SELECT ${keyOf} AS key_value, count(*) AS failures,
              count(DISTINCT attempted_username) AS usernames,
              count(DISTINCT client_ip) AS client_ips, count(DISTINCT day_key) AS days
       FROM failures GROUP BY ALL)
     SELECT ${nameOf} AS key, failures, usernames, client_ips, days, count(*) OVER () AS total
     FROM groups
     ORDER BY ${pivotOrder(by)} ${limitClause(options.limit)}`,
    c.params,
  );
  return { period, total: totalOf(rows), rows: rows.map(toPivotRow) };
}

function limitClause(limit: number | undefined): string {
  return limit === undefined ? '' : `LIMIT ${Math.max(0, Math.trunc(limit))}`;
}

function totalOf(rows: Row[]): number {
  return rows.length > 0 ? Number(rows[0].total) : 0;
}

const toPivotRow = (r: Row): FailurePivotRow => ({
  key: r.key === null ? null : String(r.key),
  failures: Number(r.failures),
  usernames: Number(r.usernames),
  clientIps: Number(r.client_ips),
  days: Number(r.days),
});
