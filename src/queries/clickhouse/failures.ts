import type { TlsProtocol } from '../../events.js';
import { sql, type SqlText } from '../../store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../store/clickhouse/store.js';
import type { FailurePivot, FailurePivotResult, FailureRow } from '../failures.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import { dayKey, dayOfKey, FAILURES, failureWhere, pageClause } from './conditions.js';

type FailuresResult = { period: Period; total: number; rows: FailureRow[] };

const GROUP_KEY = sql`day_key, attempted_username, client_ip, sasl_mechanism, tls_protocol, server`;

/**
 * Query failed logins from ClickHouse, grouped by day, username, client IP, mechanism, TLS and
 * server, in DuckDB's order: by day, or with a `limit` largest first. `total` counts all groups.
 * The names after the count make the order total, so that a limit cuts ties the same way.
 */
export async function clickHouseFailures(
  store: ClickHouseStore,
  filter: ReportFilter,
  options: { limit?: number } = {},
  period?: Period,
): Promise<FailuresResult> {
  period ??= await resolvePeriod(store, filter);
  const limited = options.limit !== undefined;
  const names = sql`client_ip, attempted_username NULLS FIRST, sasl_mechanism, tls_protocol, server`;
  const order = limited
    ? sql`failures DESC, day_key, ${names}`
    : sql`day_key, failures DESC, ${names}`;
  const groups = sql`
    SELECT ${dayKey(period, filter.timeZone)} AS day_key, attempted_username, client_ip,
           sasl_mechanism, tls_protocol, server, count() AS failures
    FROM ${FAILURES} WHERE ${failureWhere(filter, period)}
    GROUP BY ${GROUP_KEY}`;

  const [rows, counted] = await Promise.all([
    store.all(sql`${groups} ORDER BY ${order} ${limited ? pageClause(options.limit) : sql``}`),
    limited ? store.all(sql`SELECT count() AS total FROM (${groups})`) : null,
  ]);
  // As in DuckDB, an empty page reports no groups.
  const total = counted && rows.length > 0 ? Number(counted[0].total) : rows.length;
  return {
    period,
    total,
    rows: rows.map((row) => ({
      day: dayOfKey(row.day_key),
      attemptedUsername: row.attempted_username === null ? null : String(row.attempted_username),
      clientIp: String(row.client_ip),
      saslMechanism: String(row.sasl_mechanism),
      tlsProtocol: String(row.tls_protocol) as TlsProtocol,
      server: String(row.server),
      failures: Number(row.failures),
    })),
  };
}

/**
 * Query failed logins from ClickHouse per report day, attempted username or client IP, with
 * the distinct usernames, client IPs and days of each group, in the order of DuckDB's
 * queryFailurePivot. `total` counts all groups, and is 0 for an empty page as in DuckDB.
 */
export async function clickHouseFailurePivot(
  store: ClickHouseStore,
  filter: ReportFilter,
  by: FailurePivot,
  options: { limit?: number } = {},
  period?: Period,
): Promise<FailurePivotResult> {
  period ??= await resolvePeriod(store, filter);
  const byDay = dayKey(period, filter.timeZone);
  const key = { day: byDay, username: sql`attempted_username`, ip: sql`client_ip` }[by];
  const where = failureWhere(filter, period);
  const limit = options.limit === undefined ? sql`` : pageClause(Math.max(0, options.limit));

  const [rows, [counted]] = await Promise.all([
    store.all(sql`
      SELECT ${key} AS key_value, count() AS failures, uniqExact(attempted_username) AS usernames,
             uniqExact(client_ip) AS client_ips, uniqExact(${byDay}) AS days
      FROM ${FAILURES} WHERE ${where}
      GROUP BY key_value ORDER BY ${pivotOrder(by)} ${limit}`),
    store.all(sql`
      SELECT count() AS total FROM (SELECT ${key} AS key_value FROM ${FAILURES}
                                    WHERE ${where} GROUP BY key_value)`),
  ]);
  return {
    period,
    total: rows.length > 0 ? Number(counted.total) : 0,
    rows: rows.map((row) => ({
      key: pivotKey(by, row.key_value),
      failures: Number(row.failures),
      usernames: Number(row.usernames),
      clientIps: Number(row.client_ips),
      days: Number(row.days),
    })),
  };
}

/** Builds the order of DuckDB's pivotOrder: days by date, the others most failures first. */
function pivotOrder(by: FailurePivot): SqlText {
  if (by === 'day') return sql`key_value`;
  const spread = by === 'ip' ? sql`usernames` : sql`client_ips`;
  return sql`failures DESC, ${spread} DESC, key_value NULLS FIRST`;
}

function pivotKey(by: FailurePivot, value: unknown): string | null {
  if (by === 'day') return dayOfKey(value);
  return value === null ? null : String(value);
}
