import type { DuckDBValue } from '@duckdb/node-api';

import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import type { DuckDBStore } from '../store/duckdb/store.js';
import {
  dayGrouping,
  failureConditions,
  messageConditions,
  resolvePeriod,
  type Condition,
  type Period,
  type ReportFilter,
} from './filters.js';

export interface AccountDetail {
  account: string;
  from: string;
  to: string;
  messages: number;
  recipients: number;
  firstSeen: string;
  lastSeen: string;
  daily: { day: string; messages: number; recipients: number }[];
  tls: Record<TlsProtocol, number>;
  clientIps: { clientIp: string; messages: number; firstSeen: string; lastSeen: string }[];
  mechanisms: { saslMechanism: string; messages: number }[];
  senderAddresses: { senderAddress: string; messages: number }[];
  /** Postfix logs no HELO name with the client= line, so this is empty for Postfix logs. */
  heloNames: string[];
  failures: { day: string; attemptedUsername: string | null; clientIp: string; failures: number }[];
}

/** Narrow message conditions to one account, bound as the next parameter. */
function accountConditions(c: Condition, account: string): Condition {
  return {
    where: `${c.where} AND account = $${c.next}`,
    params: [...c.params, account],
    next: c.next + 1,
  };
}

/**
 * Query one account's page: totals, messages per day, TLS versions, client IPs, mechanisms, sender
 * addresses and the failed logins under its name. The detail is null when the account has no
 * message in the period.
 */
export async function queryAccountDetail(
  store: DuckDBStore,
  filter: ReportFilter,
  account: string,
): Promise<{ period: Period; detail: AccountDetail | null }> {
  const period = await resolvePeriod(store, filter);
  const c = accountConditions(messageConditions(filter, period), account);

  const totals = await queryTotals(store, c);
  if (totals.messages === 0) return { period, detail: null };

  const detail: AccountDetail = {
    account,
    from: period.from,
    to: period.to,
    ...totals,
    daily: await queryDaily(store, c, dayGrouping(period, filter.timeZone)),
    tls: await queryTls(store, c),
    clientIps: await queryClientIps(store, c),
    mechanisms: await queryMechanisms(store, c),
    senderAddresses: await querySenderAddresses(store, c),
    heloNames: await queryHeloNames(store, c),
    failures: await queryAccountFailures(store, filter, period, account),
  };
  return { period, detail };
}

async function queryTotals(
  store: DuckDBStore,
  c: Condition,
): Promise<{ messages: number; recipients: number; firstSeen: string; lastSeen: string }> {
  const [r] = await store.all(
    `SELECT count(*) AS messages, coalesce(sum(recipients), 0) AS recipients,
            min(ts) AS first_seen, max(ts) AS last_seen
     FROM submitted_messages WHERE ${c.where}`,
    c.params,
  );
  return {
    messages: Number(r.messages),
    recipients: Number(r.recipients),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
  };
}

async function queryDaily(
  store: DuckDBStore,
  c: Condition,
  byDay: ReturnType<typeof dayGrouping>,
): Promise<AccountDetail['daily']> {
  const rows = await store.all(
    `SELECT ${byDay.day(byDay.key)} AS day, count(*) AS messages, sum(recipients) AS recipients
     FROM submitted_messages WHERE ${c.where}
     GROUP BY day ORDER BY day`,
    c.params,
  );
  return rows.map((r) => ({
    day: String(r.day),
    messages: Number(r.messages),
    recipients: Number(r.recipients),
  }));
}

async function queryTls(store: DuckDBStore, c: Condition): Promise<AccountDetail['tls']> {
  const rows = await store.all(
    `SELECT tls_protocol, count(*) AS messages
     FROM submitted_messages WHERE ${c.where} GROUP BY tls_protocol`,
    c.params,
  );
  const counts = Object.fromEntries(TLS_PROTOCOLS.map((p) => [p, 0])) as AccountDetail['tls'];
  for (const r of rows) counts[String(r.tls_protocol) as TlsProtocol] = Number(r.messages);
  return counts;
}

async function queryClientIps(
  store: DuckDBStore,
  c: Condition,
): Promise<AccountDetail['clientIps']> {
  const rows = await store.all(
    `SELECT client_ip, count(*) AS messages, min(ts) AS first_seen, max(ts) AS last_seen
     FROM submitted_messages WHERE ${c.where}
     GROUP BY client_ip ORDER BY messages DESC, client_ip`,
    c.params,
  );
  return rows.map((r) => ({
    clientIp: String(r.client_ip),
    messages: Number(r.messages),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
  }));
}

async function queryMechanisms(
  store: DuckDBStore,
  c: Condition,
): Promise<AccountDetail['mechanisms']> {
  const rows = await store.all(
    `SELECT sasl_mechanism, count(*) AS messages
     FROM submitted_messages WHERE ${c.where}
     GROUP BY sasl_mechanism ORDER BY messages DESC, sasl_mechanism`,
    c.params,
  );
  return rows.map((r) => ({
    saslMechanism: String(r.sasl_mechanism),
    messages: Number(r.messages),
  }));
}

async function querySenderAddresses(
  store: DuckDBStore,
  c: Condition,
): Promise<AccountDetail['senderAddresses']> {
  const rows = await store.all(
    `SELECT sender_address, count(*) AS messages
     FROM submitted_messages WHERE ${c.where}
     GROUP BY sender_address ORDER BY messages DESC, sender_address`,
    c.params,
  );
  return rows.map((r) => ({
    senderAddress: String(r.sender_address),
    messages: Number(r.messages),
  }));
}

async function queryHeloNames(store: DuckDBStore, c: Condition): Promise<string[]> {
  const rows = await store.all(
    `SELECT DISTINCT helo FROM submitted_messages
     WHERE ${c.where} AND helo IS NOT NULL ORDER BY helo`,
    c.params,
  );
  return rows.map((r) => String(r.helo));
}

/**
 * Failed logins whose attempted username is the account, in any letter case, because
 * clients type logins in mixed case. Only the period and the server filter apply: the
 * domain and search filters are about sender addresses, which a failed login has none of.
 */
async function queryAccountFailures(
  store: DuckDBStore,
  filter: ReportFilter,
  period: Period,
  account: string,
): Promise<AccountDetail['failures']> {
  const c = failureConditions({ ...filter, domain: undefined, search: undefined }, period);
  const params: DuckDBValue[] = [...c.params, account.toLowerCase()];
  const byDay = dayGrouping(period, filter.timeZone);

  const rows = await store.all(
    `SELECT ${byDay.day(byDay.key)} AS day, attempted_username, client_ip, count(*) AS failures
     FROM auth_failures
     WHERE ${c.where} AND lower(attempted_username) = $${c.next}
     GROUP BY ALL ORDER BY day, failures DESC, client_ip, attempted_username`,
    params,
  );
  return rows.map((r) => ({
    day: String(r.day),
    attemptedUsername: r.attempted_username === null ? null : String(r.attempted_username),
    clientIp: String(r.client_ip),
    failures: Number(r.failures),
  }));
}
