/**
 * Synthetic events for the rollup tests: messages and failed logins from 2026-10-20 to
 * 2026-11-08. The span contains the end of summer time in Europe (10-25) and North America
 * (11-01), and events fall a millisecond either side of the report days' edges in every
 * tested zone.
 */
import type { DuckDBStore } from '../../src/store/duckdb/store.js';

export const DAY_MS = 86_400_000;
export const FIRST_MS = Date.UTC(2026, 9, 20);
const DAYS = 19;

const ACCOUNTS = [
  'anna@example.org',
  'Anna.Lang@example.com',
  'bob',
  "o'brien@example.net",
  'info@example.org',
  'jürgen@example.net',
  'printer',
  'scanner@sales.example.org',
  'carl@example.com',
  'dora@example.net',
  'erik@example.org',
  'fiona@sales.example.org',
];
const CLIENT_IPS = [
  '192.0.2.1',
  '192.0.2.2',
  '192.0.2.3',
  '198.51.100.7',
  '198.51.100.8',
  '203.0.113.5',
  '2001:db8::1',
  '2001:db8::2',
  '2001:db8:1::9',
];
const MECHANISMS = ['PLAIN', 'LOGIN', 'CRAM-MD5'];
const HELOS = ['laptop.example.net', 'pc1.example.org'];
const GUESSED = [
  'admin',
  'Admin@example.org',
  'test@example.com',
  'INFO@EXAMPLE.ORG',
  'ANNA@example.org',
];

/**
 * UTC times of day (ms) at which a report day starts in one of the tested zones: UTC, Berlin
 * in winter and summer, Kolkata, St. John's in winter and summer, Kathmandu.
 */
const DAY_EDGES = [0, 23, 22, 18.5, 3.5, 2.5, 18.25].map((hours) => hours * 3_600_000);

export interface MessageRow {
  ts: number;
  server: string;
  account: string;
  mechanism: string;
  sender: string;
  clientIp: string;
  helo: string | null;
  tls: string;
  evidence: string;
  recipients: number;
  run: number;
  phase: number;
}

export interface FailureRow {
  ts: number;
  server: string;
  username: string | null;
  mechanism: string;
  clientIp: string;
  tls: string;
  evidence: string;
  run: number;
  phase: number;
}

export interface EventRows {
  messages: MessageRow[];
  failures: FailureRow[];
  /** Messages whose TLS version the settling of mail2 changes. */
  settledMessages: number;
  /** Messages of mail2 without a TLS line in the unfinished run, settled or not. */
  noLineMessages: number;
  /** Accounts whose detail pages the tests compare. */
  detailAccounts: string[];
}

/** A seeded generator (mulberry32), so that every run has the same events. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draw the times of the events: random ones, plus one a millisecond either side of every day edge. */
function times(next: () => number, count: number): number[] {
  const result: number[] = [];
  for (let i = 0; i < count; i++) result.push(FIRST_MS + Math.floor(next() * DAYS * DAY_MS));
  for (let day = 1; day < DAYS; day++) {
    for (const edge of DAY_EDGES) {
      const at = FIRST_MS + day * DAY_MS + edge;
      result.push(at - 1, at);
    }
  }
  return result.sort((a, b) => a - b);
}

const pick = <T>(next: () => number, values: readonly T[]): T =>
  values[Math.floor(next() * values.length)];

function tlsOf(next: () => number): { tls: string; evidence: string } {
  const u = next();
  if (u < 0.4) return { tls: 'TLSv1.3', evidence: 'line' };
  if (u < 0.65) return { tls: 'TLSv1.2', evidence: 'line' };
  if (u < 0.7) return { tls: 'TLSv1', evidence: 'line' };
  if (u < 0.75) return { tls: 'TLSv1.1', evidence: 'line' };
  if (u < 0.82) return { tls: 'none', evidence: 'no-line' };
  if (u < 0.87) return { tls: 'unknown', evidence: 'not-seen' };
  if (u < 0.92) return { tls: 'unknown', evidence: 'starttls' };
  return { tls: 'unknown', evidence: 'no-line' };
}

/**
 * Pick the ingest phase of an event. Most arrive in time order in phases 1 and 2, and a fifth
 * arrive later in phase 3, whatever their time. Phase 3 is an unfinished ingest run.
 */
function phaseOf(next: () => number, ts: number): number {
  if (next() < 0.2) return 3;
  return ts < FIRST_MS + 11 * DAY_MS ? 1 : 2;
}

function senderOf(next: () => number, account: string): string {
  const own = account.includes('@') ? account : `${account}@example.org`;
  const u = next();
  if (u < 0.8) return own;
  if (u < 0.87) return `info@${own.slice(own.indexOf('@') + 1)}`;
  if (u < 0.93) return '';
  return `noreply@example.net`;
}

/** A failed login's username: none, a guessed one, or an account's in some letter case. */
function usernameOf(next: () => number): string | null {
  const u = next();
  if (u < 0.2) return null;
  if (u < 0.6) return pick(next, GUESSED);
  return pick(next, ACCOUNTS);
}

export function buildEvents(): EventRows {
  const next = random(20261020);
  const messages = times(next, 2600).map((ts): MessageRow => {
    // A few accounts send most messages.
    const account = ACCOUNTS[Math.floor(ACCOUNTS.length * next() ** 2)];
    const phase = phaseOf(next, ts);
    return {
      ts,
      server: next() < 0.6 ? 'mail1' : 'mail2',
      account,
      mechanism: pick(next, MECHANISMS),
      sender: senderOf(next, account),
      clientIp: pick(next, CLIENT_IPS),
      helo: next() < 0.7 ? null : pick(next, HELOS),
      ...tlsOf(next),
      recipients: 1 + Math.floor(next() * 5),
      run: phase === 3 ? 2 : 1,
      phase,
    };
  });
  const failures = times(next, 700).map((ts): FailureRow => {
    const phase = phaseOf(next, ts);
    return {
      ts,
      server: next() < 0.5 ? 'mail1' : 'mail2',
      username: usernameOf(next),
      mechanism: pick(next, MECHANISMS),
      clientIp: pick(next, CLIENT_IPS),
      ...tlsOf(next),
      run: phase === 3 ? 2 : 1,
      phase,
    };
  });
  const settled = (e: { server: string; tls: string; evidence: string; run: number }) =>
    e.server === 'mail2' && e.tls === 'unknown' && e.evidence === 'no-line' && e.run === 2;
  return {
    messages,
    failures,
    settledMessages: messages.filter(settled).length,
    noLineMessages: messages.filter(
      (m) => m.server === 'mail2' && m.evidence === 'no-line' && m.run === 2,
    ).length,
    detailAccounts: ['anna@example.org', "o'brien@example.net", 'bob', 'printer'],
  };
}

const text = (value: string | null) => (value === null ? 'NULL' : `'${value.replace(/'/g, "''")}'`);
const time = (ms: number) => `make_timestamptz(${ms}::BIGINT * 1000)`;
const domainOf = (address: string) => address.slice(address.indexOf('@') + 1).toLowerCase();

/** Insert the events of one ingest phase, in time order, as an ingest appends them. */
export async function insertPhase(store: DuckDBStore, events: EventRows, phase: number) {
  if (phase === 1) {
    await store.all(
      `INSERT INTO ingest_runs VALUES
         (1, TIMESTAMPTZ '2026-11-09 00:00:00+00', TIMESTAMPTZ '2026-11-09 00:05:00+00'),
         (2, TIMESTAMPTZ '2026-11-09 01:00:00+00', NULL)`,
    );
  }

  const messages = events.messages.filter((m) => m.phase === phase);
  const messageValues = messages.map(
    (m, i) =>
      `(${time(m.ts)}, '${m.server}', 'postfix/submission/smtpd', 'Q${phase}X${i}', ${text(m.account)},
        '${m.mechanism}', '${m.mechanism}', ${text(m.sender)},
        ${text(m.sender === '' ? '' : domainOf(m.sender))}, '${m.clientIp}', 'unknown',
        ${text(m.helo)}, '${m.tls}', '${m.evidence}', NULL, ${m.recipients}, 1000, 1, ${m.run})`,
  );
  await store.all(
    `INSERT INTO submitted_messages (ts, server, service, queue_id, account, sasl_method,
       sasl_mechanism, sender_address, sender_domain, client_ip, client_name, helo, tls_protocol,
       tls_evidence, tls_cipher, recipients, size, source_id, ingest_run)
     VALUES ${messageValues.join(',\n')}`,
  );

  const failures = events.failures.filter((f) => f.phase === phase);
  const failureValues = failures.map(
    (f) =>
      `(${time(f.ts)}, '${f.server}', 'postfix/submission/smtpd', ${text(f.username)},
        '${f.mechanism}', '${f.mechanism}', '${f.clientIp}', 'unknown', '${f.tls}',
        '${f.evidence}', 'authentication failure', 1, ${f.run})`,
  );
  await store.all(
    `INSERT INTO auth_failures (ts, server, service, attempted_username, sasl_method,
       sasl_mechanism, client_ip, client_name, tls_protocol, tls_evidence, reason, source_id,
       ingest_run)
     VALUES ${failureValues.join(',\n')}`,
  );
}
