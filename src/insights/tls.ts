import type { Row } from '../store/duckdb/store.js';
import { isLoopback } from './addresses.js';
import { isoTime, makeSignal, plural, type Signal } from './signal.js';
import { IN_PERIOD, runQuery, type InsightContext } from './window.js';

/** `TLSv1` is TLS 1.0, as OpenSSL and Postfix write it. */
const LEGACY_PROTOCOLS = ['TLSv1', 'TLSv1.1'];
const NO_TLS = 'none';
const LISTED = 20;

/**
 * AUTH without TLS and AUTH over TLS 1.0 or 1.1, per account, from the messages of the
 * period. A message whose TLS version is `unknown` (TLS logging off) never counts.
 */
export async function tlsSignals(context: InsightContext): Promise<Signal[]> {
  const rows = await runQuery(
    context,
    `WITH weak AS (
       SELECT account, tls_protocol, client_ip, count(*) AS messages,
              epoch_ms(min(ts)) AS first_ms, epoch_ms(max(ts)) AS last_ms
       FROM submitted_messages
       WHERE ${IN_PERIOD} AND tls_protocol IN ('${NO_TLS}', '${LEGACY_PROTOCOLS.join("', '")}')
       GROUP BY ALL
     ),
     totals AS (
       SELECT account, count(*) AS total FROM submitted_messages
       WHERE ${IN_PERIOD} AND account IN (SELECT account FROM weak)
       GROUP BY account
     )
     SELECT w.*, t.total FROM weak w JOIN totals t USING (account)
     ORDER BY w.account, w.messages DESC, w.client_ip`,
  );

  const ignoreLoopback = context.settings.tls.ignoreLoopback;
  const counted = rows.filter((row) => !(ignoreLoopback && isLoopback(String(row.client_ip))));
  const noTls = groupByAccount(counted.filter((row) => row.tls_protocol === NO_TLS));
  const legacy = groupByAccount(counted.filter((row) => row.tls_protocol !== NO_TLS));
  return [
    ...[...noTls].map(([account, group]) => noTlsSignal(account, group)),
    ...[...legacy].map(([account, group]) => legacyTlsSignal(account, group)),
  ];
}

function groupByAccount(rows: Row[]): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const account = String(row.account);
    groups.set(account, [...(groups.get(account) ?? []), row]);
  }
  return groups;
}

/** Collect the fields both TLS signals share: time range, counts and the client addresses. */
function weakTlsFields(account: string, rows: Row[]) {
  const messages = rows.reduce((sum, row) => sum + Number(row.messages), 0);
  const clientIps = [...new Set(rows.map((row) => String(row.client_ip)))];
  const total = Number(rows[0].total);
  return {
    account,
    clientIp: clientIps.length === 1 ? clientIps[0] : null,
    firstSeen: isoTime(Math.min(...rows.map((row) => Number(row.first_ms)))),
    lastSeen: isoTime(Math.max(...rows.map((row) => Number(row.last_ms)))),
    messages,
    clientIps,
    evidence: {
      messages,
      accountMessages: total,
      percent: Math.round((1000 * messages) / total) / 10,
      clientIps: clientIps.length,
      byClient: rows.slice(0, LISTED).map((row) => ({
        clientIp: String(row.client_ip),
        tlsProtocol: String(row.tls_protocol),
        messages: Number(row.messages),
      })),
    },
  };
}

function fromWhere(clientIps: string[]): string {
  return clientIps.length === 1 ? clientIps[0] : plural(clientIps.length, 'client address');
}

function noTlsSignal(account: string, rows: Row[]): Signal {
  const { messages, clientIps, ...fields } = weakTlsFields(account, rows);
  return makeSignal({
    ...fields,
    signal: 'auth-without-tls',
    severity: 'medium',
    explanation:
      `${account} logged in without TLS and sent ${plural(messages, 'message')} from ` +
      `${fromWhere(clientIps)}, so its password crossed the network in clear text. Switch ` +
      'the client to STARTTLS or port 465, set smtpd_tls_auth_only = yes in Postfix, and ' +
      'change the password.',
  });
}

function legacyTlsSignal(account: string, rows: Row[]): Signal {
  const { messages, clientIps, ...fields } = weakTlsFields(account, rows);
  const versions = [...new Set(rows.map((row) => String(row.tls_protocol)))]
    .sort()
    .map((protocol) => (protocol === 'TLSv1' ? 'TLS 1.0' : 'TLS 1.1'))
    .join(' and ');
  return makeSignal({
    ...fields,
    signal: 'legacy-tls',
    severity: 'low',
    explanation:
      `${account} sent ${plural(messages, 'message')} over ${versions} from ` +
      `${fromWhere(clientIps)}. This client stops working when TLS 1.0 and 1.1 are switched ` +
      'off; update it or its TLS settings first.',
  });
}
