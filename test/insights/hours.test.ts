import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Signal } from '../../src/insights/signal.js';
import { days, PostfixLog, steadyDay } from './postfix-log.js';
import { about, buildStore, HISTORY, PERIOD, WORKING_HOURS, type TestStore } from './store.js';

const unusual = (signals: Signal[], account: string) =>
  about(signals, account).filter((s) => s.signal === 'unusual-hour');

describe('unusual-hour', () => {
  let store: TestStore;
  let signals: Signal[];
  const accounts = ['owl', 'lark', 'finch', 'wren', 'jay'].map((name) => `${name}@example.org`);

  beforeAll(async () => {
    const log = new PostfixLog();
    accounts.forEach((account, i) => {
      for (const day of days(PERIOD.from, PERIOD.to)) {
        steadyDay(log, {
          day,
          account,
          clientIp: `192.0.2.${120 + i}`,
          perDay: 10,
          hours: WORKING_HOURS,
        });
      }
    });
    const night = (account: string, hour: string, messages: number, i: number) =>
      log.submit({
        at: `2026-11-27T${hour}:00:00Z`,
        account,
        clientIp: `192.0.2.${120 + i}`,
        messages,
      });
    night('owl@example.org', '03', 6, 0);
    night('lark@example.org', '02', 60, 1);
    night('finch@example.org', '18', 6, 2);
    night('wren@example.org', '03', 6, 3);
    night('jay@example.org', '03', 4, 4);

    const history = accounts.map((account, i) => ({
      account,
      clientIp: `192.0.2.${120 + i}`,
      perDay: account.startsWith('wren') ? 3 : 10,
      ...HISTORY,
    }));
    store = await buildStore(log, history);
    signals = (await store.insights()).signals;
  });
  afterAll(() => store.close());

  it('fires low for six messages at 03:00', () => {
    const [signal] = unusual(signals, 'owl@example.org');
    expect(about(signals, 'owl@example.org')).toHaveLength(1);
    expect(signal.severity).toBe('low');
    expect(signal.firstSeen).toBe('2026-11-27T03:00:00.000Z');
    expect(signal.lastSeen).toBe('2026-11-27T03:00:05.000Z');
    expect(signal.evidence).toEqual({
      messages: 6,
      timeZone: 'UTC',
      hours: [{ hourOfDay: 3, messages: 6 }],
      usedHours: WORKING_HOURS,
      historyMessages: 280,
    });
    expect(signal.explanation).toBe(
      'owl@example.org sent 6 messages at 03:00-03:59 (UTC); in its history it sent only at ' +
        '09:00-17:59. Mail at hours the user never works is a sign of someone else using the ' +
        'password; ask the user, and reset the password if it was not them.',
    );
  });

  it('fires medium for sixty messages', () => {
    const [signal] = unusual(signals, 'lark@example.org');
    expect(signal.severity).toBe('medium');
    expect(signal.evidence.messages).toBe(60);
  });

  it('stays quiet next to a used hour', () => {
    expect(unusual(signals, 'finch@example.org')).toEqual([]);
  });

  it('stays quiet with a short history', () => {
    expect(unusual(signals, 'wren@example.org')).toEqual([]);
  });

  it('stays quiet below five messages', () => {
    expect(unusual(signals, 'jay@example.org')).toEqual([]);
  });

  it('uses local hours across a daylight saving change', async () => {
    // New York left daylight saving time on 2026-11-01, inside the history: 09:00 UTC was
    // 05:00 local before and 04:00 after.
    const local = (await store.insights({}, { timeZone: 'America/New_York' })).signals;
    const [signal] = unusual(local, 'owl@example.org');
    expect(signal.evidence.hours).toEqual([{ hourOfDay: 22, messages: 6 }]);
    expect(signal.evidence.usedHours).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(signal.explanation).toMatch(/at 22:00-22:59 \(America\/New_York\)/);
  });
});
