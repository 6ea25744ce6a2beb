import type { TlsProtocol } from '../events.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  daySql,
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

export async function queryFailures(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<{ period: Period; rows: FailureRow[] }> {
  const period = await resolvePeriod(store, filter);
  const c = failureConditions(filter, period);
  const rows = await store.all(
    `SELECT ${daySql(c.next)} AS day, attempted_username, client_ip, sasl_mechanism,
            tls_protocol, server, count(*) AS failures
     FROM auth_failures WHERE ${c.where}
     GROUP BY ALL ORDER BY day, failures DESC, client_ip, attempted_username NULLS FIRST`,
    [...c.params, filter.timeZone],
  );
  return {
    period,
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
