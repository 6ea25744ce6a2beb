import type { TlsProtocol } from '../events.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  dayGrouping,
  failureConditions,
  resolvePeriod,
  type Period,
  type ReportFilter,
} from './filters.js';

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

/**
 * Failed logins grouped by day, username, client IP, mechanism, TLS and server. With a
 * `limit`, the largest groups come first (a brute-force run can make hundreds of thousands
 * of groups a week), and `total` counts them all.
 */
export async function queryFailures(
  store: DuckDBStore,
  filter: ReportFilter,
  options: { limit?: number } = {},
): Promise<{ period: Period; total: number; rows: FailureRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = failureConditions(filter, period);
  const limited = options.limit !== undefined;
  const order = limited
    ? 'failures DESC, day, client_ip, attempted_username NULLS FIRST'
    : 'day, failures DESC, client_ip, attempted_username NULLS FIRST';
  const byDay = dayGrouping(period, filter.timeZone);
  const rows = await store.all(
    `SELECT ${byDay.day(byDay.key)} AS day, attempted_username, client_ip, sasl_mechanism,
            tls_protocol, server, count(*) AS failures${limited ? ', count(*) OVER () AS total' : ''}
     FROM auth_failures WHERE ${c.where}
     GROUP BY ALL ORDER BY ${order}${limited ? ` LIMIT ${Math.trunc(options.limit!)}` : ''}`,
    c.params,
  );

  let total = rows.length;
  if (limited && rows.length > 0) total = Number(rows[0].total);
  return {
    period,
    total,
    rows: rows.map((r) => ({
      day: String(r.day),
      attemptedUsername: r.attempted_username === null ? null : String(r.attempted_username),
      clientIp: String(r.client_ip),
      saslMechanism: String(r.sasl_mechanism),
      tlsProtocol: String(r.tls_protocol) as TlsProtocol,
      server: String(r.server),
      failures: Number(r.failures),
    })),
  };
}
