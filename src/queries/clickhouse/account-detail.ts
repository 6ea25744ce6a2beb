import { TLS_PROTOCOLS, type TlsProtocol } from '../../events.js';
import { sql } from '../../store/clickhouse/sql.js';
import type { ClickHouseRow, ClickHouseStore } from '../../store/clickhouse/store.js';
import type { AccountDetail } from '../account-detail.js';
import { resolvePeriod, type Period, type ReportFilter } from '../filters.js';
import {
  dayKey,
  dayOfKey,
  FAILURES,
  failureWhere,
  isoOfMs,
  MESSAGE_COPIES,
  MESSAGES,
  messageWhere,
  TIME_MS,
} from './conditions.js';

type DetailResult = { period: Period; detail: AccountDetail | null };

/** Messages of one account with the same day, client IP, mechanism, sender and TLS version. */
interface Group {
  day: number;
  clientIp: string;
  saslMechanism: string;
  senderAddress: string;
  tlsProtocol: TlsProtocol;
  messages: number;
  recipients: number;
  firstMs: number;
  lastMs: number;
}

/**
 * Query one account's page from ClickHouse: totals, messages per day, TLS versions, client IPs,
 * mechanisms, sender addresses and the failed logins under its name. The detail is null when
 * the account has no message in the period. One pass over the messages counts them per day,
 * client IP, mechanism, sender and TLS version, and every section is summed from those groups,
 * because each pass with FINAL reads all messages of the period.
 */
export async function clickHouseAccountDetail(
  store: ClickHouseStore,
  filter: ReportFilter,
  account: string,
  period?: Period,
): Promise<DetailResult> {
  period ??= await resolvePeriod(store, filter);
  const where = sql`${messageWhere(filter, period)} AND account = ${account}`;
  const [rows, helos, failures] = await Promise.all([
    store.all(sql`
      SELECT ${dayKey(period, filter.timeZone)} AS day_key, client_ip, sasl_mechanism,
             sender_address, tls_protocol, count() AS messages, sum(recipients) AS recipient_sum,
             min(${TIME_MS}) AS first_ms, max(${TIME_MS}) AS last_ms
      FROM ${MESSAGES} WHERE ${where}
      GROUP BY day_key, client_ip, sasl_mechanism, sender_address, tls_protocol`),
    store.all(sql`
      SELECT DISTINCT assumeNotNull(helo) AS helo_name FROM ${MESSAGE_COPIES}
      WHERE ${where} AND helo IS NOT NULL ORDER BY helo_name`),
    accountFailures(store, filter, period, account),
  ]);
  if (rows.length === 0) return { period, detail: null };

  const groups = rows.map(toGroup);
  const seen = sumBy(groups, () => '');
  const detail: AccountDetail = {
    account,
    from: period.from,
    to: period.to,
    messages: seen[0].messages,
    recipients: seen[0].recipients,
    firstSeen: isoOfMs(seen[0].firstMs),
    lastSeen: isoOfMs(seen[0].lastMs),
    daily: sumBy(groups, (g) => dayOfKey(g.day))
      .sort((a, b) => compareBytes(a.key, b.key))
      .map(({ key, messages, recipients }) => ({ day: key, messages, recipients })),
    tls: tlsOf(groups),
    clientIps: mostFirst(sumBy(groups, (g) => g.clientIp)).map((ip) => ({
      clientIp: ip.key,
      messages: ip.messages,
      firstSeen: isoOfMs(ip.firstMs),
      lastSeen: isoOfMs(ip.lastMs),
    })),
    mechanisms: mostFirst(sumBy(groups, (g) => g.saslMechanism)).map((m) => ({
      saslMechanism: m.key,
      messages: m.messages,
    })),
    senderAddresses: mostFirst(sumBy(groups, (g) => g.senderAddress)).map((s) => ({
      senderAddress: s.key,
      messages: s.messages,
    })),
    heloNames: helos.map((row) => String(row.helo_name)),
    failures,
  };
  return { period, detail };
}

function toGroup(row: ClickHouseRow): Group {
  return {
    day: Number(row.day_key),
    clientIp: String(row.client_ip),
    saslMechanism: String(row.sasl_mechanism),
    senderAddress: String(row.sender_address),
    tlsProtocol: String(row.tls_protocol) as TlsProtocol,
    messages: Number(row.messages),
    recipients: Number(row.recipient_sum),
    firstMs: Number(row.first_ms),
    lastMs: Number(row.last_ms),
  };
}

interface Sum {
  key: string;
  messages: number;
  recipients: number;
  firstMs: number;
  lastMs: number;
}

/** Sums the groups per key, in the order each key first appears. */
function sumBy(groups: Group[], keyOf: (group: Group) => string): Sum[] {
  const sums = new Map<string, Sum>();
  for (const group of groups) {
    const key = keyOf(group);
    const sum = sums.get(key);
    if (sum === undefined) {
      const { messages, recipients, firstMs, lastMs } = group;
      sums.set(key, { key, messages, recipients, firstMs, lastMs });
      continue;
    }
    sum.messages += group.messages;
    sum.recipients += group.recipients;
    sum.firstMs = Math.min(sum.firstMs, group.firstMs);
    sum.lastMs = Math.max(sum.lastMs, group.lastMs);
  }
  return [...sums.values()];
}

/** Sorts sums as DuckDB's `ORDER BY messages DESC, key`: most messages first, then by key. */
function mostFirst(sums: Sum[]): Sum[] {
  return sums.sort((a, b) => b.messages - a.messages || compareBytes(a.key, b.key));
}

/** Compares strings by their UTF-8 bytes, as DuckDB and ClickHouse sort them. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function tlsOf(groups: Group[]): AccountDetail['tls'] {
  const counts = Object.fromEntries(TLS_PROTOCOLS.map((p) => [p, 0])) as AccountDetail['tls'];
  for (const group of groups) counts[group.tlsProtocol] += group.messages;
  return counts;
}

/**
 * Query the failed logins whose attempted username is the account in any letter case, as
 * DuckDB's queryAccountFailures counts them. Only the period and the server filter apply.
 */
async function accountFailures(
  store: ClickHouseStore,
  filter: ReportFilter,
  period: Period,
  account: string,
): Promise<AccountDetail['failures']> {
  const where = failureWhere({ ...filter, domain: undefined, search: undefined }, period);
  const rows = await store.all(sql`
    SELECT ${dayKey(period, filter.timeZone)} AS day_key, attempted_username, client_ip,
           count() AS failures
    FROM ${FAILURES}
    WHERE ${where} AND lowerUTF8(attempted_username) = ${account.toLowerCase()}
    GROUP BY day_key, attempted_username, client_ip
    ORDER BY day_key, failures DESC, client_ip, attempted_username`);
  return rows.map((row) => ({
    day: dayOfKey(row.day_key),
    attemptedUsername: row.attempted_username === null ? null : String(row.attempted_username),
    clientIp: String(row.client_ip),
    failures: Number(row.failures),
  }));
}
