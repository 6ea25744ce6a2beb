import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import { FAILURE_ROLLUP } from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
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
  store: DuckDBStore,
  filter: ReportFilter,
  options: { limit?: number } = {},
): Promise<FailuresResult> {
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
  store: DuckDBStore,
  filter: ReportFilter,
  options: { limit?: number } = {},
  period?: Period,
): Promise<FailuresResult> {
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
