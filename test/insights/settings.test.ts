import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { hourRanges } from '../../src/insights/hours.js';
import { isLoopback, networkOf, sameOrganisation } from '../../src/insights/addresses.js';
import {
  DEFAULT_INSIGHT_SETTINGS,
  loadInsightSettings,
  parseInsightSettings,
} from '../../src/insights/settings.js';

describe('insight settings', () => {
  it('documents these defaults', () => {
    expect(DEFAULT_INSIGHT_SETTINGS).toEqual({
      historyDays: 28,
      minHistoryDays: 14,
      volumeSpike: {
        dailyMinExcess: 50,
        hourlyMinExcess: 30,
        dailyMinRatio: 3,
        hourlyMinRatio: 5,
        madFactor: 8,
        highExcess: 500,
      },
      newClientIp: { sameNetworkIsKnown: true, mediumMessages: 100 },
      manyClientIps: { windowMinutes: 60, minIps: 5, highIps: 20 },
      foreignSender: { minHistoryMessages: 50 },
      tls: { ignoreLoopback: true },
      loginAfterFailures: { minFailures: 5, burstGapMinutes: 15, successWithinMinutes: 60 },
      passwordSpraying: { windowMinutes: 60, minUsernames: 10 },
      usernameManyIps: { windowMinutes: 60, minIps: 10 },
      unusualHour: { minHistoryMessages: 100, marginHours: 1, minMessages: 5, mediumMessages: 50 },
    });
  });

  it('overrides one threshold and keeps the rest', () => {
    const settings = parseInsightSettings({ manyClientIps: { minIps: 8 } });
    expect(settings.manyClientIps).toEqual({ windowMinutes: 60, minIps: 8, highIps: 20 });
    expect(settings.volumeSpike).toEqual(DEFAULT_INSIGHT_SETTINGS.volumeSpike);
  });

  it('rejects a value out of range with its path', () => {
    expect(() => parseInsightSettings({ passwordSpraying: { windowMinutes: 0 } })).toThrow(
      /invalid value "passwordSpraying\.windowMinutes" for --thresholds: Too small/,
    );
  });

  it('rejects a minimum history longer than the history', () => {
    expect(() => parseInsightSettings({ historyDays: 10, minHistoryDays: 14 })).toThrow(
      /minHistoryDays must not exceed historyDays/,
    );
  });

  it('loads a JSON file and names it in errors', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sar-settings-'));
    const good = path.join(dir, 'good.json');
    const bad = path.join(dir, 'bad.json');
    writeFileSync(good, '{"historyDays": 42}');
    writeFileSync(bad, '{"historyDays": ');

    expect(loadInsightSettings(good).historyDays).toBe(42);
    expect(() => loadInsightSettings(bad)).toThrow(/--thresholds.*not valid JSON/);
    expect(() => loadInsightSettings(path.join(dir, 'missing.json'))).toThrow(/cannot read it/);
  });
});

describe('client address helpers', () => {
  it.each([
    ['192.0.2.77', '192.0.2.0/24'],
    ['2001:db8:1:2::10', '2001:db8:1::/48'],
    ['2001:db8::1', '2001:db8:0::/48'],
    ['::ffff:198.51.100.9', '198.51.100.0/24'],
    ['unknown', null],
  ])('network of %s is %s', (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.10.0.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['192.0.2.1', false],
    ['2001:db8::1', false],
    ['::', false],
  ])('loopback %s is %s', (ip, loopback) => {
    expect(isLoopback(ip)).toBe(loopback);
  });

  it('treats a parent or subdomain as the same organisation', () => {
    expect(sameOrganisation('staff.example.org', 'example.org')).toBe(true);
    expect(sameOrganisation('example.org', 'staff.example.org')).toBe(true);
    expect(sameOrganisation('example.com', 'example.org')).toBe(false);
    expect(sameOrganisation('badexample.org', 'example.org')).toBe(false);
  });

  it('writes hours of the day as ranges', () => {
    expect(hourRanges([2, 3, 4, 9])).toBe('02:00-04:59, 09:00-09:59');
    expect(hourRanges([23, 0])).toBe('00:00-00:59, 23:00-23:59');
  });
});
