import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Signal } from '../../src/insights/signal.js';
import { about, buildStore, type TestStore } from './store.js';

/** The real Postfix 3.7 lab log: TLS 1.0 to 1.3, plain-text AUTH, shared senders, failures. */
const LAB_LOG = readFileSync('test/fixtures/postfix/lab-submission.log', 'utf8');

describe('signals on the lab log without history', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    store = await buildStore(LAB_LOG);
    signals = (await store.insights({}, { defaultPeriod: true })).signals;
  });
  afterAll(() => store.close());

  it('covers the 7 days ending at the newest line', async () => {
    const result = await store.insights({}, { defaultPeriod: true });
    expect(result.period.from).toBe('2026-11-28');
    expect(result.period.to).toBe('2026-12-04');
  });

  it('lists exactly the TLS and sender signals', () => {
    const summary = signals.map((s) => [s.signal, s.severity, s.account, s.clientIp]).sort();
    expect(summary).toEqual([
      ['auth-without-tls', 'medium', 'billing@example.net', '192.0.2.4'],
      ['auth-without-tls', 'medium', 'printer', '192.0.2.4'],
      ['auth-without-tls', 'medium', 'user1@example.org', '192.0.2.4'],
      ['foreign-sender', 'medium', 'alerts@example.com', null],
      ['foreign-sender', 'medium', 'scanner@example.org', null],
      ['foreign-sender', 'medium', 'user1@example.org', null],
      ['legacy-tls', 'low', 'alerts@example.com', '192.0.2.2'],
      ['legacy-tls', 'low', 'billing@example.net', '192.0.2.3'],
    ]);
  });

  it('ranks medium before low', () => {
    const severities = signals.map((s) => s.severity);
    expect(severities).toEqual([...Array(6).fill('medium'), 'low', 'low']);
  });

  it('counts plain-text AUTH against all of the account', () => {
    const [noTls] = about(signals, 'user1@example.org').filter(
      (s) => s.signal === 'auth-without-tls',
    );
    expect(noTls.evidence).toEqual({
      messages: 2,
      accountMessages: 6,
      percent: 33.3,
      clientIps: 1,
      byClient: [{ clientIp: '192.0.2.4', tlsProtocol: 'none', messages: 2 }],
    });
    expect(noTls.firstSeen).toBe('2026-12-04T16:22:19.000Z');
    expect(noTls.explanation).toMatch(/crossed the network in clear text/);
  });

  it('names both legacy versions', () => {
    const [legacy] = about(signals, 'alerts@example.com').filter((s) => s.signal === 'legacy-tls');
    expect(legacy.evidence.messages).toBe(2);
    expect(legacy.evidence.accountMessages).toBe(3);
    expect(legacy.explanation).toMatch(
      /^alerts@example\.com sent 2 messages over TLS 1\.0 and TLS 1\.1 from 192\.0\.2\.2\./,
    );
  });

  it('flags a sender outside the login domain', () => {
    const [sender] = about(signals, 'scanner@example.org');
    expect(sender.evidence).toEqual({
      loginDomain: 'example.org',
      senderAddresses: 1,
      messages: 1,
      senders: [
        {
          senderAddress: 'scans@example.com',
          reason: 'foreign-domain',
          messages: 1,
          firstSeen: '2026-12-04T16:22:19.000Z',
          lastSeen: '2026-12-04T16:22:19.000Z',
        },
      ],
    });
  });

  it('stays quiet for a shared address in the login domain', () => {
    // billing@example.net sends as invoices@example.net, scanner as noreply@example.org.
    const senders = signals.filter((s) => s.signal === 'foreign-sender');
    const flagged = senders.flatMap((s) =>
      (s.evidence.senders as { senderAddress: string }[]).map((x) => x.senderAddress),
    );
    expect(flagged.sort()).toEqual([
      'monitoring@example.net',
      'scans@example.com',
      'user1@example.com',
    ]);
  });

  it('stays quiet for one failed login before a success', () => {
    expect(signals.filter((s) => s.signal === 'login-after-failures')).toEqual([]);
  });
});
