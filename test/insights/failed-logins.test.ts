import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Signal } from '../../src/insights/signal.js';
import { PostfixLog } from './postfix-log.js';
import { about, buildStore, HISTORY, type History, type TestStore } from './store.js';

const MINUTE = 60_000;
const at = (iso: string, minutes = 0) => Date.parse(iso) + minutes * MINUTE;

function history(account: string, clientIp: string): History {
  return { account, clientIp, perDay: 5, ...HISTORY };
}

/** `count` failed logins for one username from one address, a minute apart. */
function failures(
  log: PostfixLog,
  start: string,
  clientIp: string,
  username: string,
  count: number,
) {
  for (let i = 0; i < count; i++) log.fail({ at: at(start, i), clientIp, username });
}

const only = (signals: Signal[], name: string) => signals.filter((s) => s.signal === name);

describe('login-after-failures', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    const log = new PostfixLog();
    // A password guessed: 8 failures from a new address, which then sends.
    failures(log, '2026-11-27T02:00:00Z', '203.0.113.9', 'sam@example.org', 8);
    log.submit({
      at: at('2026-11-27T02:20:00Z'),
      account: 'sam@example.org',
      clientIp: '203.0.113.9',
    });
    // A phone with an outdated password at its usual address, fixed half an hour later.
    failures(log, '2026-11-27T10:00:00Z', '192.0.2.91', 'tom@example.org', 6);
    log.submit({ at: '2026-11-27T10:35:00Z', account: 'tom@example.org', clientIp: '192.0.2.91' });
    // Failures from ten addresses, then a login from an eleventh, also never used.
    for (let i = 0; i < 10; i++) {
      log.fail({
        at: at('2026-11-28T03:00:00Z', i),
        clientIp: `198.51.100.${i + 10}`,
        username: 'uma@example.org',
      });
    }
    log.submit({
      at: '2026-11-28T03:30:00Z',
      account: 'uma@example.org',
      clientIp: '203.0.113.99',
    });
    // Two typing mistakes, then the right password.
    failures(log, '2026-11-27T11:00:00Z', '192.0.2.93', 'vic@example.org', 2);
    log.submit({ at: '2026-11-27T11:03:00Z', account: 'vic@example.org', clientIp: '192.0.2.93' });
    // A burst that never succeeds.
    failures(log, '2026-11-27T04:00:00Z', '203.0.113.77', 'wes@example.org', 8);
    // A burst while the user goes on sending from the usual address.
    failures(log, '2026-11-27T12:00:00Z', '203.0.113.78', 'xia@example.org', 8);
    log.submit({ at: '2026-11-27T12:04:00Z', account: 'xia@example.org', clientIp: '192.0.2.95' });
    // Failures 20 minutes apart are no burst.
    for (let i = 0; i < 6; i++) {
      log.fail({
        at: at('2026-11-27T13:00:00Z', 20 * i),
        clientIp: '203.0.113.79',
        username: 'yan@example.org',
      });
    }
    log.submit({
      at: '2026-11-27T15:05:00Z',
      account: 'yan@example.org',
      clientIp: '203.0.113.79',
    });

    store = await buildStore(log, [
      history('sam@example.org', '192.0.2.90'),
      history('tom@example.org', '192.0.2.91'),
      history('uma@example.org', '192.0.2.92'),
      history('vic@example.org', '192.0.2.93'),
      history('wes@example.org', '192.0.2.94'),
      history('xia@example.org', '192.0.2.95'),
      history('yan@example.org', '192.0.2.96'),
    ]);
    signals = only((await store.insights()).signals, 'login-after-failures');
  });
  afterAll(() => store.close());

  it('fires critical when the failing address gets in', () => {
    expect(about(signals, 'sam@example.org')).toEqual([
      {
        id: 'login-after-failures|sam@example.org|203.0.113.9',
        signal: 'login-after-failures',
        severity: 'critical',
        account: 'sam@example.org',
        clientIp: '203.0.113.9',
        firstSeen: '2026-11-27T02:00:00.000Z',
        lastSeen: '2026-11-27T02:20:00.000Z',
        evidence: {
          bursts: [
            {
              failures: 8,
              failureIps: 1,
              failingIps: ['203.0.113.9'],
              firstFailure: '2026-11-27T02:00:00.000Z',
              lastFailure: '2026-11-27T02:07:00.000Z',
              successIp: '203.0.113.9',
              success: '2026-11-27T02:20:00.000Z',
              successFromFailingIp: true,
              successIpKnown: false,
            },
          ],
        },
        explanation:
          '8 failed logins for sam@example.org from 1 address, then the account sent mail ' +
          'from the same address (203.0.113.9), which it had never used before. The password ' +
          'was probably guessed: reset it now and check what the account sent.',
        reviewed: null,
      },
    ]);
  });

  it('fires high when a new address gets in after others failed', () => {
    const [signal] = about(signals, 'uma@example.org');
    expect(signal.severity).toBe('high');
    expect(signal.clientIp).toBe('203.0.113.99');
    expect(signal.evidence.bursts).toMatchObject([
      { failures: 10, failureIps: 10, successFromFailingIp: false, successIpKnown: false },
    ]);
  });

  it('fires low for a device with an outdated password', () => {
    const [signal] = about(signals, 'tom@example.org');
    expect(signal.severity).toBe('low');
    expect(signal.clientIp).toBe('192.0.2.91');
    expect(signal.evidence.bursts).toMatchObject([
      { failures: 6, successFromFailingIp: true, successIpKnown: true },
    ]);
    expect(signal.explanation).toMatch(/an address the account uses/);
  });

  it('stays quiet for two failures before a success', () => {
    expect(about(signals, 'vic@example.org')).toEqual([]);
  });

  it('stays quiet for a burst without success', () => {
    expect(about(signals, 'wes@example.org')).toEqual([]);
  });

  it('stays quiet for mail from the usual address', () => {
    expect(about(signals, 'xia@example.org')).toEqual([]);
  });

  it('stays quiet for failures too far apart', () => {
    expect(about(signals, 'yan@example.org')).toEqual([]);
  });
});

describe('password-spraying and username-many-ips', () => {
  let store: TestStore;
  let signals: Signal[];
  const tried = ['admin', 'backup', 'info', 'mail', 'office', 'postmaster', 'root', 'sales'];
  const usernames = [...tried, 'support', 'test', 'user', 'webmaster'];

  beforeAll(async () => {
    const log = new PostfixLog();
    usernames.forEach((username, i) => {
      log.fail({ at: at('2026-11-26T01:00:00Z', i), clientIp: '203.0.113.66', username });
    });
    // Sprays, then sends as an account it tried, from an address that account never used.
    [...tried, 'zed@example.org', 'test', 'user', 'webmaster'].forEach((username, i) => {
      log.fail({ at: at('2026-11-26T05:00:00Z', i), clientIp: '203.0.113.67', username });
    });
    log.submit({
      at: '2026-11-26T05:30:00Z',
      account: 'zed@example.org',
      clientIp: '203.0.113.67',
    });
    // An office behind one address where three people mistype their passwords.
    for (const username of ['ann@example.org', 'bo@example.org', 'cy@example.org']) {
      log.fail({ at: '2026-11-26T09:00:00Z', clientIp: '198.51.100.7', username });
    }
    // Twelve usernames, one every two hours.
    usernames.forEach((username, i) => {
      log.fail({ at: at('2026-11-27T00:00:00Z', 120 * i), clientIp: '198.51.100.8', username });
    });
    // One username from twelve addresses: an address that is not an account...
    for (let i = 0; i < 12; i++) {
      log.fail({
        at: at('2026-11-28T06:00:00Z', 2 * i),
        clientIp: `192.0.2.${100 + i}`,
        username: 'info@example.org',
      });
    }
    // ...and an account, its case changing as bots write it.
    for (let i = 0; i < 11; i++) {
      const username = i % 2 ? 'ADA@EXAMPLE.ORG' : 'ada@example.org';
      log.fail({ at: at('2026-11-28T07:00:00Z', i), clientIp: `198.51.100.${100 + i}`, username });
    }
    // Three addresses for one username.
    for (let i = 0; i < 3; i++) {
      log.fail({
        at: at('2026-11-28T08:00:00Z', i),
        clientIp: `203.0.113.${200 + i}`,
        username: 'bob@example.org',
      });
    }

    store = await buildStore(log, [
      history('zed@example.org', '192.0.2.97'),
      history('ada@example.org', '192.0.2.98'),
    ]);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  it('fires medium for twelve usernames from one address', () => {
    const [signal] = about(signals, null, '203.0.113.66');
    expect(signal.signal).toBe('password-spraying');
    expect(signal.severity).toBe('medium');
    expect(signal.firstSeen).toBe('2026-11-26T01:00:00.000Z');
    expect(signal.lastSeen).toBe('2026-11-26T01:11:00.000Z');
    expect(signal.evidence).toEqual({
      windowMinutes: 60,
      failures: 12,
      usernames: 12,
      peakUsernames: 12,
      usernamesListed: usernames,
      accountsLoggedIn: [],
      messagesAfterFirstFailure: 0,
    });
    expect(signal.explanation).toMatch(/None of its guesses sent mail/);
  });

  it('fires high when the sprayer sends as an account', () => {
    const [signal] = about(signals, null, '203.0.113.67');
    expect(signal.severity).toBe('high');
    expect(signal.evidence.accountsLoggedIn).toEqual(['zed@example.org']);
    expect(signal.lastSeen).toBe('2026-11-26T05:30:00.000Z');
    expect(signal.explanation).toMatch(
      /It then sent mail as zed@example\.org: reset that password now\./,
    );
  });

  it('stays quiet for three users behind one address', () => {
    expect(signals.filter((s) => s.clientIp === '198.51.100.7')).toEqual([]);
  });

  it('stays quiet for usernames spread over a day', () => {
    expect(signals.filter((s) => s.clientIp === '198.51.100.8')).toEqual([]);
  });

  it('fires low for a name that is no account', () => {
    const [signal] = about(signals, 'info@example.org');
    expect(signal.signal).toBe('username-many-ips');
    expect(signal.severity).toBe('low');
    expect(signal.evidence).toMatchObject({
      knownAccount: false,
      failures: 12,
      clientIps: 12,
      peakIps: 12,
    });
    expect((signal.evidence.clientIpsListed as string[]).length).toBe(12);
  });

  it('fires medium for an account in any case', () => {
    const [signal] = about(signals, 'ada@example.org');
    expect(signal.signal).toBe('username-many-ips');
    expect(signal.severity).toBe('medium');
    expect(signal.evidence).toMatchObject({ knownAccount: true, failures: 11, clientIps: 11 });
  });

  it('stays quiet for three addresses', () => {
    expect(about(signals, 'bob@example.org')).toEqual([]);
  });
});
