import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Signal } from '../../src/insights/signal.js';
import { days, PostfixLog, steadyDay } from './postfix-log.js';
import { about, buildStore, HISTORY, PERIOD, WORKING_HOURS, type TestStore } from './store.js';

const PERIOD_DAYS = days(PERIOD.from, PERIOD.to);

/** History and period at `perDay` over working hours, from one device with TLS 1.2. */
function steadyAccount(log: PostfixLog, account: string, clientIp: string, perDay: number) {
  for (const day of PERIOD_DAYS) {
    steadyDay(log, { day, account, clientIp, perDay, hours: WORKING_HOURS, tls: 'TLSv1.2' });
  }
  return { account, clientIp, perDay, tls: 'TLSv1.2' as const, ...HISTORY };
}

describe('volume-spike', () => {
  let store: TestStore;
  let signals: Signal[];

  beforeAll(async () => {
    const log = new PostfixLog();
    const history = [
      steadyAccount(log, 'printer@example.org', '192.0.2.40', 200),
      steadyAccount(log, 'alerts@example.com', '192.0.2.41', 30),
      steadyAccount(log, 'billing@example.net', '192.0.2.42', 30),
      steadyAccount(log, 'office@example.org', '192.0.2.43', 30),
      steadyAccount(log, 'reports@example.org', '192.0.2.44', 60),
    ];
    // 600 more in one hour: far above the day and the hour.
    log.submit({
      at: '2026-11-28T10:00:00Z',
      account: 'alerts@example.com',
      clientIp: '192.0.2.41',
      tls: 'TLSv1.2',
      messages: 600,
    });
    // 100 more in one hour: above both, not by 500.
    log.submit({
      at: '2026-11-27T12:30:00Z',
      account: 'billing@example.net',
      clientIp: '192.0.2.42',
      tls: 'TLSv1.2',
      messages: 100,
    });
    // Twice the usual day, spread over the working hours: within the account's own range.
    steadyDay(log, {
      day: '2026-11-26',
      account: 'office@example.org',
      clientIp: '192.0.2.43',
      perDay: 30,
      hours: WORKING_HOURS,
      tls: 'TLSv1.2',
    });
    // 40 more in one hour: far above the usual hour, while the day (100 against 60) is not.
    log.submit({
      at: '2026-11-29T11:10:00Z',
      account: 'reports@example.org',
      clientIp: '192.0.2.44',
      tls: 'TLSv1.2',
      messages: 40,
    });
    // A new account sending 600 has no history to compare with.
    log.submit({
      at: '2026-11-28T10:00:00Z',
      account: 'newcomer@example.org',
      clientIp: '192.0.2.45',
      tls: 'TLSv1.2',
      messages: 600,
    });
    // An account whose history began 9 days before the period: too short a baseline.
    history.push({
      ...history[1],
      account: 'recent@example.org',
      clientIp: '192.0.2.46',
      from: '2026-11-15',
    });
    log.submit({
      at: '2026-11-28T10:00:00Z',
      account: 'recent@example.org',
      clientIp: '192.0.2.46',
      tls: 'TLSv1.2',
      messages: 600,
    });

    store = await buildStore(log, history);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  it('steady printer at 200 a day stays quiet on every signal', () => {
    expect(about(signals, 'printer@example.org')).toEqual([]);
  });

  it('fires high for 600 more in one hour', () => {
    const [spike] = about(signals, 'alerts@example.com');
    expect(about(signals, 'alerts@example.com')).toHaveLength(1);
    expect(spike.signal).toBe('volume-spike');
    expect(spike.severity).toBe('high');
    expect(spike.clientIp).toBeNull();
    expect(spike.firstSeen).toBe('2026-11-28T09:00:00.000Z');
    expect(spike.lastSeen).toBe('2026-11-28T17:00:02.000Z');
    expect(spike.evidence).toEqual({
      maxExcess: 601,
      historyDays: 28,
      days: [{ day: '2026-11-28', messages: 630 }],
      hours: [{ hour: '2026-11-28 10:00', messages: 604 }],
      dailyBaseline: { median: 30, mad: 0, size: 28 },
      hourlyBaseline: { median: 3, mad: 0, size: 252 },
    });
    expect(spike.explanation).toMatch(
      /^alerts@example\.com sent 630 messages on 2026-11-28, against a median of 30 a day/,
    );
  });

  it('fires medium for 100 more in one hour', () => {
    const [spike] = about(signals, 'billing@example.net');
    expect(about(signals, 'billing@example.net')).toHaveLength(1);
    expect(spike.signal).toBe('volume-spike');
    expect(spike.severity).toBe('medium');
    expect(spike.evidence.days).toEqual([{ day: '2026-11-27', messages: 130 }]);
    expect(spike.evidence.hours).toEqual([{ hour: '2026-11-27 12:00', messages: 103 }]);
  });

  it('stays quiet for twice the usual day spread out', () => {
    expect(about(signals, 'office@example.org')).toEqual([]);
  });

  it('fires on an hour alone when the day is normal', () => {
    const [spike] = about(signals, 'reports@example.org');
    expect(about(signals, 'reports@example.org')).toHaveLength(1);
    expect(spike.severity).toBe('medium');
    expect(spike.evidence.days).toEqual([]);
    expect(spike.evidence.hours).toEqual([{ hour: '2026-11-29 11:00', messages: 47 }]);
    expect(spike.evidence.hourlyBaseline).toEqual({ median: 7, mad: 0, size: 252 });
    expect(spike.firstSeen).toBe('2026-11-29T11:00:00.000Z');
    expect(spike.lastSeen).toBe('2026-11-29T11:10:39.000Z');
  });

  it('stays quiet without enough history', () => {
    expect(about(signals, 'newcomer@example.org')).toEqual([]);
    expect(about(signals, 'recent@example.org')).toEqual([]);
  });

  it('fires for the short history once the minimum allows it', async () => {
    const lenient = (await store.insights({ minHistoryDays: 5 })).signals;
    const spikes = about(lenient, 'recent@example.org').filter((s) => s.signal === 'volume-spike');
    expect(spikes).toHaveLength(1);
    expect(spikes[0].evidence.dailyBaseline).toEqual({ median: 30, mad: 0, size: 9 });
  });
});
