import type { Row } from '../store/duckdb/store.js';
import {
  isoTime,
  makeSignal,
  maxSeverity,
  plural,
  severityRank,
  type Severity,
  type Signal,
} from './signal.js';
import {
  IN_HISTORY_OR_PERIOD,
  IN_PERIOD,
  instant,
  runQuery,
  type InsightContext,
} from './window.js';

const MINUTE_MS = 60_000;
const LISTED = 20;

/**
 * Finds bursts of failed logins for an account followed by a success: a password guessed,
 * or a device with an outdated password that got the new one. A burst is at least `minFailures`
 * failures for one username (case-insensitive) with gaps of at most `burstGapMinutes`. Its
 * success is the first message of the account, from the burst's start to
 * `successWithinMinutes` after its last failure, that came from an address that failed in
 * the burst or that the account had never used. Mail from the account's usual addresses
 * during an attack on it is no success of the attacker, so it stays quiet.
 *
 * Postfix logs a successful login only with the message it submits, so a guessed password
 * that sent nothing is not seen.
 */
export async function loginsAfterFailures(context: InsightContext): Promise<Signal[]> {
  const thresholds = context.settings.loginAfterFailures;
  const rows = await runQuery(
    context,
    `WITH period_accounts AS (SELECT DISTINCT account FROM submitted_messages WHERE ${IN_PERIOD}),
     accounts AS (SELECT account, lower(account) AS username FROM period_accounts),
     failures AS (
       SELECT lower(attempted_username) AS username, ts, client_ip FROM auth_failures
       WHERE ${IN_PERIOD}
         AND lower(attempted_username) IN (SELECT username FROM accounts)
     ),
     marked AS (
       SELECT *, CASE WHEN epoch_ms(ts) - epoch_ms(lag(ts) OVER byUser) <= :burstGapMs THEN 0 ELSE 1 END
                 AS starts_burst
       FROM failures WINDOW byUser AS (PARTITION BY username ORDER BY ts)
     ),
     numbered AS (
       SELECT *, sum(starts_burst) OVER (PARTITION BY username ORDER BY ts
                                         ROWS UNBOUNDED PRECEDING) AS burst
       FROM marked
     ),
     bursts AS (
       SELECT username, burst, count(*) AS failures, count(DISTINCT client_ip) AS failure_ips,
              list(DISTINCT client_ip ORDER BY client_ip) AS failing_ips,
              min(ts) AS first_ts, max(ts) AS last_ts
       FROM numbered GROUP BY username, burst HAVING count(*) >= :minFailures
     ),
     first_use AS (
       SELECT account, client_ip, min(ts) AS first_ts FROM submitted_messages
       WHERE ${IN_HISTORY_OR_PERIOD}
         AND account IN (SELECT a.account FROM accounts a JOIN bursts b USING (username))
       GROUP BY ALL
     ),
     successes AS (
       SELECT b.username, b.burst, m.account, m.client_ip, m.ts,
              list_contains(b.failing_ips, m.client_ip) AS from_failing_ip,
              f.first_ts < b.first_ts AS known_ip
       FROM bursts b
       JOIN accounts a USING (username)
       JOIN submitted_messages m ON m.account = a.account
       JOIN first_use f ON f.account = m.account AND f.client_ip = m.client_ip
       WHERE m.ts >= b.first_ts AND m.ts <= b.last_ts + to_milliseconds(:successWithinMs)
         AND m.ts >= ${instant('periodStart')} AND m.ts < ${instant('periodEnd')}
     ),
     firsts AS (
       SELECT username, burst, min(ts) AS success_ts,
              arg_min(account, ts) AS account, arg_min(client_ip, ts) AS success_ip,
              arg_min(from_failing_ip, ts) AS from_failing_ip, arg_min(known_ip, ts) AS known_ip
       FROM successes WHERE from_failing_ip OR NOT known_ip
       GROUP BY username, burst
     )
     SELECT s.account, s.success_ip, epoch_ms(s.success_ts) AS success_ms, s.from_failing_ip,
            s.known_ip, b.failures, b.failure_ips, b.failing_ips,
            epoch_ms(b.first_ts) AS first_ms, epoch_ms(b.last_ts) AS last_ms
     FROM firsts s JOIN bursts b USING (username, burst)
     ORDER BY s.account, b.first_ts`,
    {
      burstGapMs: thresholds.burstGapMinutes * MINUTE_MS,
      minFailures: thresholds.minFailures,
      successWithinMs: thresholds.successWithinMinutes * MINUTE_MS,
    },
  );

  const byAccount = new Map<string, Row[]>();
  for (const row of rows) {
    const account = String(row.account);
    byAccount.set(account, [...(byAccount.get(account) ?? []), row]);
  }
  return [...byAccount].map(([account, bursts]) => loginSignal(account, bursts));
}

/**
 * Rates a burst. Critical: an address that failed got in, and the account had never used it.
 * High: a new address got in after others failed. Low: a known address of the account failed
 * and then succeeded, as a device with an outdated password does.
 */
function burstSeverity(row: Row): Severity {
  if (row.known_ip === true) return 'low';
  return row.from_failing_ip === true ? 'critical' : 'high';
}

function loginSignal(account: string, bursts: Row[]): Signal {
  const worst = bursts.reduce((a, b) =>
    severityRank(burstSeverity(b)) > severityRank(burstSeverity(a)) ? b : a,
  );
  const successIps = [...new Set(bursts.map((row) => String(row.success_ip)))];
  return makeSignal({
    signal: 'login-after-failures',
    severity: maxSeverity(bursts.map(burstSeverity)),
    account,
    clientIp: successIps.length === 1 ? successIps[0] : null,
    firstSeen: isoTime(Math.min(...bursts.map((row) => Number(row.first_ms)))),
    lastSeen: isoTime(Math.max(...bursts.map((row) => Number(row.success_ms)))),
    evidence: {
      bursts: bursts.slice(0, LISTED).map((row) => ({
        failures: Number(row.failures),
        failureIps: Number(row.failure_ips),
        failingIps: (row.failing_ips as string[]).slice(0, LISTED),
        firstFailure: isoTime(Number(row.first_ms)),
        lastFailure: isoTime(Number(row.last_ms)),
        successIp: String(row.success_ip),
        success: isoTime(Number(row.success_ms)),
        successFromFailingIp: row.from_failing_ip === true,
        successIpKnown: row.known_ip === true,
      })),
    },
    explanation: loginExplanation(account, worst),
  });
}

function loginExplanation(account: string, row: Row): string {
  const failures = plural(Number(row.failures), 'failed login');
  const from = plural(Number(row.failure_ips), 'address');
  const ip = String(row.success_ip);
  if (row.known_ip === true) {
    return (
      `${failures} for ${account} from ${from}, then a message from ${ip}, an address the ` +
      'account uses. This is usually a device with an outdated password that got the new one. ' +
      'If the user did not change the password, treat it as guessed.'
    );
  }
  const where = row.from_failing_ip === true ? 'from the same address' : `from ${ip}`;
  return (
    `${failures} for ${account} from ${from}, then the account sent mail ${where}` +
    `${row.from_failing_ip === true ? ` (${ip})` : ''}, which it had never used before. The ` +
    'password was probably guessed: reset it now and check what the account sent.'
  );
}
