import type { Row } from '../store/duckdb/store.js';
import { networkOf } from './addresses.js';
import { isoTime, makeSignal, plural, type Signal } from './signal.js';
import {
  DAY_MS,
  IN_HISTORY,
  IN_PERIOD,
  localClock,
  runQuery,
  windowNumberSql,
  windowStartMs,
  type InsightContext,
} from './window.js';

/** Evidence lists stop here; the counts beside them stay exact. */
const LISTED = 20;

/**
 * New client addresses: an address an account sent from in the period but never in its
 * history. Accounts that started less than `minHistoryDays` before the period are skipped,
 * because every address of a new account is new.
 */
export async function newClientIps(context: InsightContext): Promise<Signal[]> {
  const { window, settings } = context;
  const rows = await runQuery(
    context,
    `WITH period_pairs AS (
       SELECT account, client_ip, count(*) AS messages,
              epoch_ms(min(ts)) AS first_ms, epoch_ms(max(ts)) AS last_ms
       FROM submitted_messages WHERE ${IN_PERIOD} GROUP BY ALL
     ),
     history_pairs AS (
       SELECT account, client_ip, min(${window.localMs} // ${DAY_MS}) AS first_day
       FROM submitted_messages
       WHERE ${IN_HISTORY} AND account IN (SELECT account FROM period_pairs)
       GROUP BY ALL
     ),
     established AS (
       SELECT account, list(client_ip ORDER BY client_ip) AS known_ips FROM history_pairs
       GROUP BY account HAVING min(first_day) <= :historyDeadline
     )
     SELECT p.account, p.client_ip, p.messages, p.first_ms, p.last_ms, e.known_ips
     FROM period_pairs p JOIN established e USING (account)
     ANTI JOIN history_pairs h USING (account, client_ip)
     ORDER BY p.account, p.client_ip`,
    { historyDeadline: window.historyDeadlineDay },
  );

  const signals: Signal[] = [];
  for (const row of rows) {
    const knownIps = (row.known_ips as string[] | null) ?? [];
    const network = networkOf(String(row.client_ip));
    const knownNetwork = network !== null && knownIps.some((ip) => networkOf(ip) === network);
    if (knownNetwork && settings.newClientIp.sameNetworkIsKnown) continue;
    signals.push(newIpSignal(context, row, knownIps, network));
  }
  return signals;
}

function newIpSignal(
  context: InsightContext,
  row: Row,
  knownIps: string[],
  network: string | null,
): Signal {
  const account = String(row.account);
  const clientIp = String(row.client_ip);
  const messages = Number(row.messages);
  const medium = messages >= context.settings.newClientIp.mediumMessages;
  return makeSignal({
    signal: 'new-client-ip',
    severity: medium ? 'medium' : 'low',
    account,
    clientIp,
    firstSeen: isoTime(Number(row.first_ms)),
    lastSeen: isoTime(Number(row.last_ms)),
    evidence: {
      messages,
      network,
      knownIps: knownIps.length,
      knownIpsListed: knownIps.slice(0, LISTED),
      historyDays: context.settings.historyDays,
    },
    explanation:
      `${account} sent ${plural(messages, 'message')} from ${clientIp}, an address it had not ` +
      `used in the ${context.settings.historyDays} days before (it used ` +
      `${plural(knownIps.length, 'other address')}). A new phone or network explains this; ` +
      'a password used elsewhere does too, so confirm with the user.',
  });
}

/**
 * Many client addresses in a short window: an account that sends from at least `minIps`
 * addresses within one clock-aligned window, more than in any window of its own history.
 * Only accounts with that many addresses in the whole period can qualify, so the windows
 * are built for those alone. Pairs are grouped first and counted after, because DuckDB
 * spills a plain GROUP BY to disk but not a count(DISTINCT ...) with many groups.
 */
export async function manyClientIps(context: InsightContext): Promise<Signal[]> {
  const { window, settings } = context;
  const thresholds = settings.manyClientIps;
  const bucket = windowNumberSql(window, thresholds.windowMinutes);
  const rows = await runQuery(
    context,
    `WITH candidates AS (
       SELECT account FROM submitted_messages WHERE ${IN_PERIOD}
       GROUP BY account HAVING count(DISTINCT client_ip) >= :minIps
     ),
     period_pairs AS (
       SELECT account, ${bucket} AS bucket, client_ip, count(*) AS messages,
              min(ts) AS first_ts, max(ts) AS last_ts
       FROM submitted_messages
       WHERE ${IN_PERIOD} AND account IN (SELECT account FROM candidates)
       GROUP BY ALL
     ),
     period_windows AS (
       SELECT account, bucket, count(*) AS ips,
              list(client_ip ORDER BY client_ip) AS client_ips, sum(messages) AS messages,
              epoch_ms(min(first_ts)) AS first_ms, epoch_ms(max(last_ts)) AS last_ms
       FROM period_pairs GROUP BY account, bucket HAVING count(*) >= :minIps
     ),
     history_pairs AS (
       SELECT DISTINCT account, ${bucket} AS bucket, client_ip FROM submitted_messages
       WHERE ${IN_HISTORY} AND account IN (SELECT account FROM period_windows)
     ),
     history_max AS (
       SELECT account, max(ips) AS max_ips FROM (
         SELECT account, bucket, count(*) AS ips FROM history_pairs GROUP BY account, bucket)
       GROUP BY account
     )
     SELECT p.*, coalesce(h.max_ips, 0) AS history_max_ips
     FROM period_windows p LEFT JOIN history_max h USING (account)
     WHERE p.ips > coalesce(h.max_ips, 0)
     ORDER BY p.account, p.bucket`,
    { minIps: thresholds.minIps },
  );

  const byAccount = new Map<string, Row[]>();
  for (const row of rows) {
    const account = String(row.account);
    byAccount.set(account, [...(byAccount.get(account) ?? []), row]);
  }
  return [...byAccount].map(([account, windows]) => manyIpsSignal(context, account, windows));
}

function manyIpsSignal(context: InsightContext, account: string, windows: Row[]): Signal {
  const thresholds = context.settings.manyClientIps;
  const peak = windows.reduce((a, b) => (Number(b.ips) > Number(a.ips) ? b : a));
  const peakIps = Number(peak.ips);
  const historyMax = Number(peak.history_max_ips);
  const allIps = new Set(windows.flatMap((w) => w.client_ips as string[]));
  const minutesPerWindow = thresholds.windowMinutes;
  const windowStart = (w: Row) => localClock(windowStartMs(Number(w.bucket), minutesPerWindow));

  return makeSignal({
    signal: 'many-client-ips',
    severity: peakIps >= thresholds.highIps ? 'high' : 'medium',
    account,
    clientIp: null,
    firstSeen: isoTime(Math.min(...windows.map((w) => Number(w.first_ms)))),
    lastSeen: isoTime(Math.max(...windows.map((w) => Number(w.last_ms)))),
    evidence: {
      windowMinutes: minutesPerWindow,
      peakIps,
      historyMaxIps: historyMax,
      distinctIps: allIps.size,
      clientIps: [...allIps].sort().slice(0, LISTED),
      windows: windows.map((w) => ({
        start: windowStart(w),
        ips: Number(w.ips),
        messages: Number(w.messages),
      })),
    },
    explanation:
      `${account} sent from ${peakIps} client addresses within ${minutesPerWindow} minutes ` +
      `(from ${windowStart(peak)}); in its history it used at most ${historyMax} in such a ` +
      'window. One password used from many places at once is typical of a stolen password: ' +
      'check the addresses and reset the password if they are unknown.',
  });
}
