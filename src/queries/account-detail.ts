import type { DuckDBValue } from '@duckdb/node-api';

import { TLS_PROTOCOLS, type TlsProtocol } from '../events.js';
import { CLIENT_ROLLUP, FAILURE_ROLLUP, TLS_COLUMN_OF } from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { clickHouseAccountDetail } from './clickhouse/account-detail.js';
import {
  dayGrouping,
  failureConditions,
  messageConditions,
  resolvePeriod,
  type Condition,
  type Period,
  type ReportFilter,
} from './filters.js';
import {
  dayRows,
  dayText,
  periodRows,
  rollupsAnswer,
  senderCondition,
  SqlParams,
  prepareRollups,
} from './rollup-source.js';

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

type DetailResult = { period: Period; detail: AccountDetail | null };

/**
 * Query one account's page: totals, messages per day, TLS versions, client IPs, mechanisms, sender
 * addresses and the failed logins under its name. The detail is null when the account has no
 * message in the period.
 */
export async function queryAccountDetail(
  store: ReportStore,
  filter: ReportFilter,
  account: string,
): Promise<DetailResult> {
  if (store.kind === 'clickhouse') return clickHouseAccountDetail(store, filter, account);
  const period = await resolvePeriod(store, filter);
  if (!rollupsAnswer(filter, period))
    return accountDetailFromEvents(store, filter, account, period);

  const rollupFilter = await prepareRollups(store, filter);
  const [known] = await store.all('SELECT id FROM dict_accounts WHERE name = $1', [account]);
  if (!known) return { period, detail: null };

  const params = new SqlParams();
  const where = `account_id = ${Number(known.id)} AND ${senderCondition(rollupFilter, params)}`;
  const sections = await querySections(store, period, where, params);
  const totals = sections.filter((r) => r.kind === 'total')[0];
  if (!totals || Number(totals.messages) === 0) return { period, detail: null };

  const names = (kind: string) => sections.filter((r) => r.kind === kind);
  const detail: AccountDetail = {
    account,
    from: period.from,
    to: period.to,
    messages: Number(totals.messages),
    recipients: Number(totals.recipients),
    firstSeen: String(totals.first_seen),
    lastSeen: String(totals.last_seen),
    daily: await dailyFromRollups(store, filter, period, account, where, params),
    tls: Object.fromEntries(
      TLS_PROTOCOLS.map((p) => [p, Number(totals[p])]),
    ) as AccountDetail['tls'],
    clientIps: names('client_ip').map((r) => ({
      clientIp: String(r.name),
      messages: Number(r.messages),
      firstSeen: String(r.first_seen),
      lastSeen: String(r.last_seen),
    })),
    mechanisms: names('mechanism').map((r) => ({
      saslMechanism: String(r.name),
      messages: Number(r.messages),
    })),
    senderAddresses: names('sender').map((r) => ({
      senderAddress: String(r.name),
      messages: Number(r.messages),
    })),
    heloNames: names('helo').map((r) => String(r.name)),
    failures: await failuresFromRollups(store, filter, period, account),
  };
  return { period, detail };
}

/**
 * Query the account's totals and its client IPs, mechanisms, sender addresses and HELO names
 * as one list of rows with a `kind`, each kind in the order of the page. One query suffices,
 * because all of them sum the same few keys.
 */
async function querySections(
  store: DuckDBStore,
  period: Period,
  where: string,
  params: SqlParams,
): Promise<Row[]> {
  const tls = Object.values(TLS_COLUMN_OF).join(', ');
  const columns = `sender_id, client_ip_id, mechanism_id, helo_id, messages, recipients, ${tls}, first_seen, last_seen`;
  const tlsSums = TLS_PROTOCOLS.map((p) => `sum(${TLS_COLUMN_OF[p]})::BIGINT AS "${p}"`);
  const noTls = TLS_PROTOCOLS.map((p) => `NULL AS "${p}"`).join(', ');
  const named = (kind: string, name: string, join: string, seen: boolean) => `
    SELECT '${kind}' AS kind, ${name} AS name,
           sum(messages)::BIGINT AS messages, NULL AS recipients, ${noTls},
           ${seen ? 'min(first_seen), max(last_seen)' : 'NULL, NULL'}
    FROM keys ${join} GROUP BY ${name}`;

  return params.run(
    store,
    `WITH keys AS MATERIALIZED (
       SELECT sender_id, client_ip_id, mechanism_id, helo_id, sum(messages) AS messages,
              sum(recipients) AS recipients, ${tls
                .split(', ')
                .map((c) => `sum(${c}) AS ${c}`)
                .join(', ')},
              min(first_seen) AS first_seen, max(last_seen) AS last_seen
       FROM (${periodRows(CLIENT_ROLLUP, period, columns, where)}) GROUP BY ALL)
     SELECT * FROM (
       SELECT 'total' AS kind, NULL AS name, sum(messages)::BIGINT AS messages,
              sum(recipients)::BIGINT AS recipients, ${tlsSums.join(', ')},
              min(first_seen) AS first_seen, max(last_seen) AS last_seen
       FROM keys
       UNION ALL ${named('client_ip', 'ip.address', 'JOIN dict_client_ips ip ON ip.id = keys.client_ip_id', true)}
       UNION ALL ${named('mechanism', 'me.name', 'JOIN dict_mechanisms me ON me.id = keys.mechanism_id', false)}
       UNION ALL ${named('sender', 's.address', 'JOIN dict_senders s ON s.id = keys.sender_id', false)}
       UNION ALL ${named('helo', 'h.name', 'JOIN dict_helos h ON h.id = keys.helo_id', false)})
     ORDER BY kind, CASE WHEN kind = 'helo' THEN 0 ELSE messages END DESC, name`,
  );
}

async function dailyFromRollups(
  store: DuckDBStore,
  filter: ReportFilter,
  period: Period,
  account: string,
  where: string,
  params: SqlParams,
): Promise<AccountDetail['daily']> {
  const rows = dayRows(CLIENT_ROLLUP, period, filter.timeZone, 'messages, recipients', where)?.sql;
  if (rows === undefined) {
    const c = accountConditions(messageConditions(filter, period), account);
    return queryDaily(store, c, dayGrouping(period, filter.timeZone));
  }
  const days = await params.run(
    store,
    `SELECT ${dayText('day_key')} AS day, sum(messages)::BIGINT AS messages,
            sum(recipients)::BIGINT AS recipients
     FROM (${rows}) GROUP BY day_key HAVING sum(messages) > 0 ORDER BY day`,
  );
  return days.map(toDailyRow);
}

/** Failed logins under the account's name, in any letter case, as in queryAccountFailures. */
async function failuresFromRollups(
  store: DuckDBStore,
  filter: ReportFilter,
  period: Period,
  account: string,
): Promise<AccountDetail['failures']> {
  const params = new SqlParams();
  // search_name is lower(name), which the event query compares with the same value.
  const name = params.add(account.toLowerCase());
  const where = `username_id IN (SELECT id FROM dict_usernames WHERE search_name = ${name})`;
  const columns = 'username_id, client_ip_id, failures';
  const rows = dayRows(FAILURE_ROLLUP, period, filter.timeZone, columns, where)?.sql;
  if (rows === undefined) return queryAccountFailures(store, filter, period, account);

  const failures = await params.run(
    store,
    `SELECT ${dayText('day_key')} AS day, u.name AS attempted_username,
            ip.address AS client_ip, sum(failures)::BIGINT AS failures
     FROM (${rows}) r
     JOIN dict_usernames u ON u.id = r.username_id
     JOIN dict_client_ips ip ON ip.id = r.client_ip_id
     GROUP BY ALL HAVING sum(failures) > 0
     ORDER BY day, failures DESC, client_ip, attempted_username`,
  );
  return failures.map(toFailureRow);
}

// The event tables, for filters that the rollups lack -----------------------------------------

/** Count one account's page from the event tables. */
export async function accountDetailFromEvents(
  store: ReportStore,
  filter: ReportFilter,
  account: string,
  period?: Period,
): Promise<DetailResult> {
  if (store.kind === 'clickhouse') {
    return clickHouseAccountDetail(store, filter, account, period);
  }
  period ??= await resolvePeriod(store, filter);
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

/** Narrow message conditions to one account, bound as the next parameter. */
function accountConditions(c: Condition, account: string): Condition {
  return {
    where: `${c.where} AND account = $${c.next}`,
    params: [...c.params, account],
    next: c.next + 1,
  };
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
  return rows.map(toDailyRow);
}

const toDailyRow = (r: Row) => ({
  day: String(r.day),
  messages: Number(r.messages),
  recipients: Number(r.recipients),
});

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
  return rows.map(toFailureRow);
}

const toFailureRow = (r: Row) => ({
  day: String(r.day),
  attemptedUsername: r.attempted_username === null ? null : String(r.attempted_username),
  clientIp: String(r.client_ip),
  failures: Number(r.failures),
});
