import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Signal } from '../../src/insights/signal.js';
import { PostfixLog } from './postfix-log.js';
import { about, buildStore, HISTORY, names, type History, type TestStore } from './store.js';

const AT = '2026-11-27T10:00:00Z';

function history(account: string, sender: string, clientIp = '192.0.2.70'): History {
  return { account, sender, clientIp, perDay: 5, ...HISTORY };
}

describe('foreign-sender with history', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    const log = new PostfixLog();
    log.submit({
      at: AT,
      account: 'kim@example.org',
      clientIp: '192.0.2.70',
      sender: 'info@example.org',
    });
    log.submit({
      at: AT,
      account: 'kim@example.org',
      clientIp: '192.0.2.70',
      sender: 'sales@example.org',
      messages: 2,
    });
    log.submit({
      at: AT,
      account: 'lee@example.org',
      clientIp: '192.0.2.70',
      sender: 'ceo@example.com',
    });
    log.submit({
      at: AT,
      account: 'scanner',
      clientIp: '192.0.2.70',
      sender: 'scanner@example.org',
    });
    log.submit({
      at: AT,
      account: 'copier',
      clientIp: '192.0.2.70',
      sender: 'billing@example.net',
    });
    log.submit({
      at: AT,
      account: 'Mia@Example.org',
      clientIp: '192.0.2.70',
      sender: 'mia@example.org',
    });
    log.submit({ at: AT, account: 'nils@example.org', clientIp: '192.0.2.70', sender: '' });
    log.submit({
      at: AT,
      account: 'ray@example.org',
      clientIp: '192.0.2.70',
      sender: 'team@example.org',
    });
    log.submit({
      at: AT,
      account: 'olga@staff.example.org',
      clientIp: '192.0.2.70',
      sender: 'olga@example.org',
    });

    store = await buildStore(log, [
      history('kim@example.org', 'kim@example.org'),
      history('kim@example.org', 'info@example.org'),
      history('lee@example.org', 'lee@example.org'),
      history('scanner', 'scanner@example.org'),
      history('copier', 'copier@example.org'),
      history('Mia@Example.org', 'Mia@Example.org'),
      history('nils@example.org', 'nils@example.org'),
      history('olga@staff.example.org', 'olga@staff.example.org'),
      // 15 messages: too few to know which shared addresses the account uses.
      { ...history('ray@example.org', 'ray@example.org'), perDay: 1, to: '2026-11-10' },
    ]);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  it('fires low for a new address in the login domain', () => {
    const [signal] = about(signals, 'kim@example.org');
    expect(names(about(signals, 'kim@example.org'))).toEqual(['foreign-sender']);
    expect(signal.severity).toBe('low');
    expect(signal.evidence.senders).toEqual([
      {
        senderAddress: 'sales@example.org',
        reason: 'new-address',
        messages: 2,
        firstSeen: '2026-11-27T10:00:00.000Z',
        lastSeen: '2026-11-27T10:00:01.000Z',
      },
    ]);
    expect(signal.explanation).toBe(
      'kim@example.org sent 2 messages as sales@example.org, an address it had not used ' +
        'before. Sending as someone else is how a stolen password is used for fraud; if the ' +
        'account may use this address (a shared mailbox, a forwarding alias), mark it reviewed.',
    );
  });

  it('fires medium for a domain the account never used', () => {
    const [lee] = about(signals, 'lee@example.org');
    expect(lee.severity).toBe('medium');
    expect(lee.evidence.senders).toMatchObject([
      { senderAddress: 'ceo@example.com', reason: 'foreign-domain' },
    ]);
    const [copier] = about(signals, 'copier');
    expect(copier.severity).toBe('medium');
    expect(copier.evidence.loginDomain).toBeNull();
    expect(copier.explanation).toMatch(/as billing@example\.net, in a domain it had not used/);
  });

  it('stays quiet for addresses the account uses', () => {
    expect(about(signals, 'scanner')).toEqual([]);
    expect(about(signals, 'Mia@Example.org')).toEqual([]);
  });

  it('stays quiet for a new address after little mail', () => {
    expect(about(signals, 'ray@example.org')).toEqual([]);
  });

  it('fires for it with a lower minimum', async () => {
    const lenient = await store.insights({ foreignSender: { minHistoryMessages: 10 } });
    const [ray] = about(lenient.signals, 'ray@example.org');
    expect(ray.severity).toBe('low');
    expect(ray.evidence.senders).toMatchObject([{ senderAddress: 'team@example.org' }]);
  });

  it('stays quiet for the null sender', () => {
    expect(about(signals, 'nils@example.org')).toEqual([]);
  });

  it('treats a parent domain as the login domain', () => {
    // A parent domain is the same organisation; the new address alone makes it low.
    const [olga] = about(signals, 'olga@staff.example.org');
    expect(olga.severity).toBe('low');
    expect(olga.evidence.senders).toMatchObject([{ reason: 'new-address' }]);
  });
});

describe('auth-without-tls and legacy-tls', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    const log = new PostfixLog();
    log.submit({
      at: AT,
      account: 'pat@example.org',
      clientIp: '192.0.2.80',
      tls: 'none',
      messages: 3,
    });
    log.submit({ at: AT, account: 'pat@example.org', clientIp: '192.0.2.81', tls: 'none' });
    log.submit({ at: AT, account: 'pat@example.org', clientIp: '192.0.2.82', tls: 'TLSv1.3' });
    log.submit({ at: AT, account: 'quinn@example.org', clientIp: '192.0.2.83', tls: 'TLSv1' });
    log.submit({
      at: AT,
      account: 'rosa@example.org',
      clientIp: '192.0.2.84',
      tls: 'TLSv1.2',
      messages: 4,
    });
    log.submit({ at: AT, account: 'rosa@example.org', clientIp: '192.0.2.84', tls: 'TLSv1.3' });
    log.submit({
      at: AT,
      account: 'webmail@example.org',
      clientIp: '127.0.0.1',
      tls: 'none',
      messages: 2,
    });
    log.submit({ at: AT, account: 'webmail@example.org', clientIp: '::1', tls: 'none' });
    store = await buildStore(log);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  it('fires medium for AUTH without TLS from two addresses', () => {
    const [noTls] = about(signals, 'pat@example.org');
    expect(names(about(signals, 'pat@example.org'))).toEqual(['auth-without-tls']);
    expect(noTls.severity).toBe('medium');
    expect(noTls.clientIp).toBeNull();
    expect(noTls.evidence).toEqual({
      messages: 4,
      accountMessages: 5,
      percent: 80,
      clientIps: 2,
      byClient: [
        { clientIp: '192.0.2.80', tlsProtocol: 'none', messages: 3 },
        { clientIp: '192.0.2.81', tlsProtocol: 'none', messages: 1 },
      ],
    });
    expect(noTls.explanation).toMatch(
      /^pat@example\.org logged in without TLS and sent 4 messages from 2 client addresses,/,
    );
  });

  it('fires low for TLS 1.0', () => {
    const [legacy] = about(signals, 'quinn@example.org');
    expect(legacy.signal).toBe('legacy-tls');
    expect(legacy.severity).toBe('low');
    expect(legacy.clientIp).toBe('192.0.2.83');
    expect(legacy.explanation).toMatch(/over TLS 1\.0 from 192\.0\.2\.83\./);
  });

  it('stays quiet for TLS 1.2 and 1.3', () => {
    expect(about(signals, 'rosa@example.org')).toEqual([]);
  });

  it('stays quiet for webmail on the loopback address', () => {
    expect(about(signals, 'webmail@example.org')).toEqual([]);
  });

  it('fires for loopback when it is not exempt', async () => {
    const strict = (await store.insights({ tls: { ignoreLoopback: false } })).signals;
    const [noTls] = about(strict, 'webmail@example.org');
    expect(noTls.signal).toBe('auth-without-tls');
    expect(noTls.evidence.messages).toBe(3);
    expect(noTls.evidence.clientIps).toBe(2);
  });
});
