import { isoTime, makeSignal, plural, type Signal } from './signal.js';
import {
  IN_HISTORY_OR_PERIOD,
  IN_PERIOD,
  instant,
  runQuery,
  windowNumberSql,
  type InsightContext,
} from './window.js';

const LISTED = 20;

/**
 * Password spraying: one client address that fails with at least `minUsernames` distinct
 * usernames within one clock-aligned window. High severity when the same address then sent
 * mail as an account that had never used it before: one of the guesses worked. Accounts that
 * used the address before its first failure (users behind the same NAT) do not count.
 * Failures without a username (older Postfix logs none) are left out.
 */
export async function passwordSpraying(context: InsightContext): Promise<Signal[]> {
  const { window, settings } = context;
  const thresholds = settings.passwordSpraying;
  const bucket = windowNumberSql(window, thresholds.windowMinutes);
  const rows = await runQuery(
    context,
    `WITH windows AS (
       SELECT client_ip, ${bucket} AS bucket,
              count(DISTINCT lower(attempted_username)) AS usernames
       FROM auth_failures WHERE ${IN_PERIOD} AND attempted_username IS NOT NULL
       GROUP BY ALL
     ),
     sprayers AS (
       SELECT client_ip, max(usernames) AS peak_usernames FROM windows
       GROUP BY client_ip HAVING max(usernames) >= :minUsernames
     ),
     totals AS (
       SELECT client_ip, count(*) AS failures,
              count(DISTINCT lower(attempted_username)) AS usernames,
              list(DISTINCT lower(attempted_username) ORDER BY lower(attempted_username))
                FILTER (WHERE attempted_username IS NOT NULL) AS tried,
              min(ts) AS first_ts, max(ts) AS last_ts
       FROM auth_failures WHERE ${IN_PERIOD} AND client_ip IN (SELECT client_ip FROM sprayers)
       GROUP BY client_ip
     ),
     logins AS (
       SELECT m.client_ip, list(DISTINCT m.account ORDER BY m.account) AS accounts,
              count(*) AS messages, max(m.ts) AS last_ts
       FROM submitted_messages m JOIN totals t USING (client_ip)
       WHERE m.ts >= t.first_ts AND m.ts < ${instant('periodEnd')}
         AND NOT EXISTS (
           SELECT 1 FROM submitted_messages h
           WHERE h.account = m.account AND h.client_ip = m.client_ip
             AND h.ts >= ${instant('historyStart')} AND h.ts < t.first_ts)
       GROUP BY m.client_ip
     )
     SELECT t.client_ip, t.failures, t.usernames, t.tried[1:${LISTED}] AS tried,
            s.peak_usernames, epoch_ms(t.first_ts) AS first_ms,
            epoch_ms(greatest(t.last_ts, coalesce(l.last_ts, t.last_ts))) AS last_ms,
            coalesce(l.accounts, []) AS accounts, coalesce(l.messages, 0) AS messages
     FROM totals t JOIN sprayers s USING (client_ip) LEFT JOIN logins l USING (client_ip)
     ORDER BY t.client_ip`,
    { minUsernames: thresholds.minUsernames },
  );

  return rows.map((row) => {
    const clientIp = String(row.client_ip);
    const accounts = row.accounts as string[];
    const usernames = Number(row.usernames);
    const loggedIn =
      accounts.length > 0
        ? ` It then sent mail as ${accounts.slice(0, 3).join(', ')}: reset ` +
          `${accounts.length === 1 ? 'that password' : 'those passwords'} now.`
        : ' None of its guesses sent mail; block the address in the firewall or fail2ban.';
    return makeSignal({
      signal: 'password-spraying',
      severity: accounts.length > 0 ? 'high' : 'medium',
      account: null,
      clientIp,
      firstSeen: isoTime(Number(row.first_ms)),
      lastSeen: isoTime(Number(row.last_ms)),
      evidence: {
        windowMinutes: thresholds.windowMinutes,
        failures: Number(row.failures),
        usernames,
        peakUsernames: Number(row.peak_usernames),
        usernamesListed: row.tried as string[],
        accountsLoggedIn: accounts.slice(0, LISTED),
        messagesAfterFirstFailure: Number(row.messages),
      },
      explanation:
        `${clientIp} failed to log in with ${plural(usernames, 'username')} ` +
        `(${Number(row.peak_usernames)} within ${thresholds.windowMinutes} minutes): it is ` +
        `trying common passwords on many accounts.${loggedIn}`,
    });
  });
}

/**
 * Finds one username failing from many addresses: failures for one username (case-insensitive) from at
 * least `minIps` distinct client addresses within one window, the pattern of a botnet that
 * shares a password list. Medium severity for a username that is an account of this server
 * (it sent mail in the history or the period), low for one that is not.
 */
export async function usernamesFromManyIps(context: InsightContext): Promise<Signal[]> {
  const { window, settings } = context;
  const thresholds = settings.usernameManyIps;
  const bucket = windowNumberSql(window, thresholds.windowMinutes);
  const rows = await runQuery(
    context,
    `WITH windows AS (
       SELECT lower(attempted_username) AS username, ${bucket} AS bucket,
              count(DISTINCT client_ip) AS ips
       FROM auth_failures WHERE ${IN_PERIOD} AND attempted_username IS NOT NULL
       GROUP BY ALL
     ),
     targets AS (
       SELECT username, max(ips) AS peak_ips FROM windows
       GROUP BY username HAVING max(ips) >= :minIps
     ),
     totals AS (
       SELECT lower(attempted_username) AS username, count(*) AS failures,
              count(DISTINCT client_ip) AS ips,
              list(DISTINCT client_ip ORDER BY client_ip) AS client_ips,
              epoch_ms(min(ts)) AS first_ms, epoch_ms(max(ts)) AS last_ms
       FROM auth_failures
       WHERE ${IN_PERIOD} AND lower(attempted_username) IN (SELECT username FROM targets)
       GROUP BY 1
     ),
     known AS (
       SELECT lower(account) AS username, min(account) AS account FROM submitted_messages
       WHERE ${IN_HISTORY_OR_PERIOD} AND lower(account) IN (SELECT username FROM targets)
       GROUP BY 1
     )
     SELECT t.username, t.failures, t.ips, t.client_ips[1:${LISTED}] AS client_ips,
            t.first_ms, t.last_ms, g.peak_ips, k.account
     FROM totals t JOIN targets g USING (username) LEFT JOIN known k USING (username)
     ORDER BY t.username`,
    { minIps: thresholds.minIps },
  );

  return rows.map((row) => {
    const known = row.account !== null;
    const account = known ? String(row.account) : String(row.username);
    const ips = Number(row.ips);
    return makeSignal({
      signal: 'username-many-ips',
      severity: known ? 'medium' : 'low',
      account,
      clientIp: null,
      firstSeen: isoTime(Number(row.first_ms)),
      lastSeen: isoTime(Number(row.last_ms)),
      evidence: {
        windowMinutes: thresholds.windowMinutes,
        knownAccount: known,
        failures: Number(row.failures),
        clientIps: ips,
        peakIps: Number(row.peak_ips),
        clientIpsListed: row.client_ips as string[],
      },
      explanation:
        `${plural(Number(row.failures), 'failed login')} for ${account} came from ` +
        `${plural(ips, 'client address')} (${Number(row.peak_ips)} within ` +
        `${thresholds.windowMinutes} minutes), the pattern of a botnet working through a ` +
        (known
          ? 'password list. Make sure the password is strong and watch for a login from a new address.'
          : 'list of names. No account of this name sent mail; nothing to do unless it is one.'),
    });
  });
}
