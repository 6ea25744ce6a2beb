import type { Row } from '../store/duckdb/store.js';
import { domainOf, sameOrganisation } from './addresses.js';
import { isoTime, makeSignal, plural, type Signal } from './signal.js';
import { DAY_MS, IN_HISTORY, IN_PERIOD, runQuery, type InsightContext } from './window.js';

/** The reason a sender address does not belong to the account. */
type Reason = 'foreign-domain' | 'new-address';

interface ForeignSender {
  senderAddress: string;
  reason: Reason;
  messages: number;
  firstMs: number;
  lastMs: number;
}

const LISTED = 20;

/**
 * Sender addresses that do not belong to the account. An address belongs when it is the
 * login itself or the account used it in its history. A domain belongs when it is the
 * login's domain (or a parent or subdomain of it) or the account used it in its history.
 * A new address in a domain that belongs fires only for accounts with a history of at least
 * `minHistoryMessages`, because an account that sent little has not shown yet which shared
 * addresses it uses. The null sender is skipped.
 * Addresses are lower-cased after grouping, on thousands of rows instead of millions.
 */
export async function foreignSenders(context: InsightContext): Promise<Signal[]> {
  const { window } = context;
  const rows = await runQuery(
    context,
    `WITH period_raw AS (
       SELECT account, sender_address, sender_domain, count(*) AS messages,
              min(ts) AS first_ts, max(ts) AS last_ts
       FROM submitted_messages WHERE ${IN_PERIOD} AND sender_address <> ''
       GROUP BY ALL
     ),
     period_senders AS (
       SELECT account, lower(sender_address) AS sender, lower(sender_domain) AS domain,
              sum(messages) AS messages, epoch_ms(min(first_ts)) AS first_ms,
              epoch_ms(max(last_ts)) AS last_ms
       FROM period_raw GROUP BY ALL
     ),
     history_raw AS (
       SELECT account, sender_address, sender_domain, min(ts) AS ts, count(*) AS messages
       FROM submitted_messages
       WHERE ${IN_HISTORY} AND sender_address <> ''
         AND account IN (SELECT account FROM period_raw)
       GROUP BY ALL
     ),
     history_senders AS (
       SELECT account, lower(sender_address) AS sender, lower(sender_domain) AS domain,
              min(${window.localMs} // ${DAY_MS}) AS first_day, sum(messages) AS messages
       FROM history_raw GROUP BY ALL
     ),
     starts AS (
       SELECT account, min(first_day) AS first_day, sum(messages) AS messages
       FROM history_senders GROUP BY account
     ),
     checked AS (
       SELECT p.*, coalesce(s.first_day <= :historyDeadline, false) AS established,
              coalesce(s.messages, 0) AS history_messages,
              EXISTS (SELECT 1 FROM history_senders h
                      WHERE h.account = p.account AND h.sender = p.sender) AS known_sender,
              EXISTS (SELECT 1 FROM history_senders h
                      WHERE h.account = p.account AND h.domain = p.domain) AS known_domain
       FROM period_senders p LEFT JOIN starts s USING (account)
     )
     SELECT * FROM checked
     WHERE NOT known_sender AND sender <> lower(account)
     ORDER BY account, messages DESC, sender`,
    { historyDeadline: window.historyDeadlineDay },
  );

  const byAccount = new Map<string, ForeignSender[]>();
  for (const row of rows) {
    const reason = reasonFor(row, context.settings.foreignSender.minHistoryMessages);
    if (reason === null) continue;

    const account = String(row.account);
    const sender = {
      senderAddress: String(row.sender),
      reason,
      messages: Number(row.messages),
      firstMs: Number(row.first_ms),
      lastMs: Number(row.last_ms),
    };
    byAccount.set(account, [...(byAccount.get(account) ?? []), sender]);
  }
  return [...byAccount].map(([account, senders]) => senderSignal(account, senders));
}

/** Classify a new sender address: the reason it does not belong, or null when it may. */
function reasonFor(row: Row, minHistoryMessages: number): Reason | null {
  const loginDomain = domainOf(String(row.account));
  const domain = String(row.domain);
  const established = row.established === true;
  const knowsItsAddresses = established && Number(row.history_messages) >= minHistoryMessages;
  const domainBelongs =
    row.known_domain === true || (loginDomain !== null && sameOrganisation(domain, loginDomain));

  // A login without a domain (a printer's `scanner`) has nothing to compare with until it
  // has a history.
  if (!domainBelongs) return loginDomain !== null || established ? 'foreign-domain' : null;
  return knowsItsAddresses ? 'new-address' : null;
}

function senderSignal(account: string, senders: ForeignSender[]): Signal {
  const foreign = senders.filter((s) => s.reason === 'foreign-domain');
  const first = foreign[0] ?? senders[0];
  const loginDomain = domainOf(account);
  const others = senders.length > 1 ? ` (and ${plural(senders.length - 1, 'other address')})` : '';
  const description =
    first.reason === 'new-address'
      ? 'an address it had not used before'
      : loginDomain
        ? `in a domain that is neither its own (${loginDomain}) nor one it used before`
        : 'in a domain it had not used before';

  return makeSignal({
    signal: 'foreign-sender',
    severity: foreign.length > 0 ? 'medium' : 'low',
    account,
    clientIp: null,
    firstSeen: isoTime(Math.min(...senders.map((s) => s.firstMs))),
    lastSeen: isoTime(Math.max(...senders.map((s) => s.lastMs))),
    evidence: {
      loginDomain,
      senderAddresses: senders.length,
      messages: senders.reduce((sum, s) => sum + s.messages, 0),
      senders: senders.slice(0, LISTED).map((s) => ({
        senderAddress: s.senderAddress,
        reason: s.reason,
        messages: s.messages,
        firstSeen: isoTime(s.firstMs),
        lastSeen: isoTime(s.lastMs),
      })),
    },
    explanation:
      `${account} sent ${plural(first.messages, 'message')} as ${first.senderAddress}${others}, ` +
      `${description}. Sending as someone else is how a stolen password is used for fraud; if the ` +
      'account may use this address (a shared mailbox, a forwarding alias), mark it reviewed.',
  });
}
