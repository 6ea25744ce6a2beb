import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Signal } from '../../src/insights/signal.js';
import { days, PostfixLog, steadyDay } from './postfix-log.js';
import {
  about,
  buildStore,
  HISTORY,
  names,
  PERIOD,
  WORKING_HOURS,
  type History,
  type TestStore,
} from './store.js';

const PERIOD_DAYS = days(PERIOD.from, PERIOD.to);

/** Write 9 messages a day from one address in the period, and return the same history. */
function usual(log: PostfixLog, account: string, clientIp: string): History {
  for (const day of PERIOD_DAYS) {
    steadyDay(log, { day, account, clientIp, perDay: 9, hours: WORKING_HOURS });
  }
  return { account, clientIp, perDay: 9, ...HISTORY };
}

/** Write one message from each address, a minute apart from `start`. */
function fromAddresses(log: PostfixLog, account: string, start: string, ips: string[]) {
  ips.forEach((clientIp, i) => {
    log.submit({ at: Date.parse(start) + i * 60_000, account, clientIp });
  });
}

const range = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

describe('new-client-ip', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    const log = new PostfixLog();
    const history = [
      usual(log, 'anna@example.org', '192.0.2.10'),
      usual(log, 'ben@example.org', '192.0.2.20'),
      usual(log, 'carl@example.org', '192.0.2.30'),
      usual(log, 'dora@example.org', '2001:db8:1:2::10'),
    ];
    log.submit({
      at: '2026-11-27T14:00:00Z',
      account: 'anna@example.org',
      clientIp: '203.0.113.50',
      messages: 3,
    });
    log.submit({ at: '2026-11-27T14:00:00Z', account: 'ben@example.org', clientIp: '192.0.2.21' });
    log.submit({
      at: '2026-11-27T14:00:00Z',
      account: 'carl@example.org',
      clientIp: '198.51.100.30',
      messages: 150,
    });
    log.submit({
      at: '2026-11-27T14:00:00Z',
      account: 'dora@example.org',
      clientIp: '2001:db8:1:ff::99',
    });
    log.submit({
      at: '2026-11-27T14:00:00Z',
      account: 'eve@example.org',
      clientIp: '203.0.113.60',
    });

    store = await buildStore(log, history);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  it('fires low for an address never used before', () => {
    expect(about(signals, 'anna@example.org')).toEqual([
      {
        id: 'new-client-ip|anna@example.org|203.0.113.50',
        signal: 'new-client-ip',
        severity: 'low',
        account: 'anna@example.org',
        clientIp: '203.0.113.50',
        firstSeen: '2026-11-27T14:00:00.000Z',
        lastSeen: '2026-11-27T14:00:02.000Z',
        evidence: {
          messages: 3,
          network: '203.0.113.0/24',
          knownIps: 1,
          knownIpsListed: ['192.0.2.10'],
          historyDays: 28,
        },
        explanation:
          'anna@example.org sent 3 messages from 203.0.113.50, an address it had not used in ' +
          'the 28 days before (it used 1 other address). A new phone or network explains ' +
          'this; a password used elsewhere does too, so confirm with the user.',
        reviewed: null,
      },
    ]);
  });

  it('fires medium for a new address that sent 150 messages', () => {
    // 150 messages on top of 9 a day is a volume spike as well.
    expect(names(about(signals, 'carl@example.org'))).toEqual(['new-client-ip', 'volume-spike']);
    const [signal] = about(signals, 'carl@example.org').filter((s) => s.signal === 'new-client-ip');
    expect(signal.severity).toBe('medium');
    expect(signal.clientIp).toBe('198.51.100.30');
    expect(signal.evidence.messages).toBe(150);
  });

  it('stays quiet for a new address in a known network', () => {
    expect(about(signals, 'ben@example.org')).toEqual([]);
    expect(about(signals, 'dora@example.org')).toEqual([]);
  });

  it('stays quiet for an account without history', () => {
    expect(about(signals, 'eve@example.org')).toEqual([]);
  });

  it('fires in a known network when networks do not count', async () => {
    const strict = (await store.insights({ newClientIp: { sameNetworkIsKnown: false } })).signals;
    expect(about(strict, 'ben@example.org').map((s) => s.clientIp)).toEqual(['192.0.2.21']);
    expect(about(strict, 'dora@example.org').map((s) => s.evidence.network)).toEqual([
      '2001:db8:1::/48',
    ]);
  });
});

describe('many-client-ips', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    const log = new PostfixLog();
    const history = [
      usual(log, 'frank@example.org', '192.0.2.50'),
      usual(log, 'gina@example.org', '192.0.2.51'),
      usual(log, 'hank@example.org', '192.0.2.52'),
      usual(log, 'iris@example.org', '192.0.2.53'),
    ];
    // An application account that always sends from six servers at once.
    for (const clientIp of range('192.0.2.6', 6)) {
      history.push(usual(log, 'noreply@example.org', clientIp));
    }
    // Each hour of the period already has the account's usual address.
    fromAddresses(log, 'frank@example.org', '2026-11-28T10:00:00Z', range('203.0.113.1', 6));
    fromAddresses(log, 'gina@example.org', '2026-11-28T10:00:00Z', range('203.0.113.2', 3));
    fromAddresses(log, 'iris@example.org', '2026-11-28T10:00:00Z', [
      ...range('198.51.100.1', 9),
      ...range('198.51.100.2', 9),
      ...range('198.51.100.3', 7),
    ]);
    range('203.0.113.3', 6).forEach((clientIp, i) => {
      log.submit({ at: `${PERIOD_DAYS[i]}T10:00:00Z`, account: 'hank@example.org', clientIp });
    });

    store = await buildStore(log, history);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  const manyIps = (account: string) =>
    about(signals, account).filter((s) => s.signal === 'many-client-ips');

  it('fires medium for seven addresses in one hour', () => {
    const [signal] = manyIps('frank@example.org');
    expect(manyIps('frank@example.org')).toHaveLength(1);
    expect(signal.severity).toBe('medium');
    expect(signal.clientIp).toBeNull();
    expect(signal.firstSeen).toBe('2026-11-28T10:00:00.000Z');
    expect(signal.lastSeen).toBe('2026-11-28T10:05:00.000Z');
    expect(signal.evidence).toEqual({
      windowMinutes: 60,
      peakIps: 7,
      historyMaxIps: 1,
      distinctIps: 7,
      clientIps: ['192.0.2.50', ...range('203.0.113.1', 6)],
      windows: [{ start: '2026-11-28 10:00', ips: 7, messages: 7 }],
    });
  });

  it('fires high for 26 addresses in one hour', () => {
    const [signal] = manyIps('iris@example.org');
    expect(signal.severity).toBe('high');
    expect(signal.evidence.peakIps).toBe(26);
    expect(signal.evidence.distinctIps).toBe(26);
    expect((signal.evidence.clientIps as string[]).length).toBe(20);
  });

  it('stays quiet for four addresses in one hour', () => {
    expect(manyIps('gina@example.org')).toEqual([]);
  });

  it('stays quiet for six new addresses on six days', () => {
    expect(manyIps('hank@example.org')).toEqual([]);
  });

  it('stays quiet for an account that always uses six', () => {
    expect(about(signals, 'noreply@example.org')).toEqual([]);
  });
});
