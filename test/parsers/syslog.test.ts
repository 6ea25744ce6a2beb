import { describe, expect, it } from 'vitest';

import { newHeader, parseHeader, TimestampParser } from '../../src/parsers/syslog.js';

function header(line: string) {
  const h = newHeader();
  const ok = parseHeader(Buffer.from(line), 0, Buffer.byteLength(line), h);
  return {
    ok,
    h,
    host: line.slice(h.hostStart, h.hostEnd),
    tag: line.slice(h.tagStart, h.tagEnd),
    payload: line.slice(h.payloadStart),
  };
}

function time(line: string, options: { year?: number; referenceMs?: number; timeZone?: string }) {
  const parser = new TimestampParser({
    timeZone: options.timeZone ?? 'UTC',
    year: options.year,
    referenceMs: options.referenceMs ?? Date.UTC(2026, 11, 31),
  });
  const { h } = header(line);
  return new Date(parser.parse(Buffer.from(line), h)).toISOString();
}

describe('syslog header', () => {
  it.each([
    [
      'Dec  4 16:22:19 mail postfix/submission/smtpd[5298]: connect from unknown[192.0.2.1]',
      'mail',
      'postfix/submission/smtpd[5298]',
      'connect from unknown[192.0.2.1]',
    ],
    [
      'Dec 04 16:22:19 mail postfix/qmgr[5277]: 07C56160641: removed',
      'mail',
      'postfix/qmgr[5277]',
      '07C56160641: removed',
    ],
    [
      '2025-12-02T07:01:16.393264+03:00 mail postfix/smtpd[217468]: warning: x',
      'mail',
      'postfix/smtpd[217468]',
      'warning: x',
    ],
    ['Dec  9 10:18:23 mail lalala: Just a mark, really', 'mail', 'lalala', 'Just a mark, really'],
  ])('%s', (line, host, tag, payload) => {
    const result = header(line);
    expect(result.ok).toBe(true);
    expect(result.host).toBe(host);
    expect(result.tag).toBe(tag);
    expect(result.payload).toBe(payload);
  });

  it.each([
    '# failJSON: { "time": "2004-12-02T22:24:22" }',
    'garbage',
    'Dec  4 16:22:19 mail',
    'Dec 4 mail postfix/smtpd[1]: x',
  ])('rejects %s', (line) => {
    expect(header(line).ok).toBe(false);
  });
});

describe('syslog timestamps', () => {
  it('reads the classic form with --year', () => {
    expect(time('Dec  4 16:22:19 mail postfix/smtpd[1]: x', { year: 2026 })).toBe(
      '2026-12-04T16:22:19.000Z',
    );
  });

  it('reads a zero-padded day as postlogd writes it', () => {
    expect(time('Dec 04 16:22:19 mail postfix/smtpd[1]: x', { year: 2026 })).toBe(
      '2026-12-04T16:22:19.000Z',
    );
  });

  it('applies the time zone to classic timestamps', () => {
    expect(
      time('Jul  1 12:00:00 mail postfix/smtpd[1]: x', { year: 2026, timeZone: 'Europe/Berlin' }),
    ).toBe('2026-07-01T10:00:00.000Z');
    expect(
      time('Jan  1 12:00:00 mail postfix/smtpd[1]: x', { year: 2026, timeZone: 'Europe/Berlin' }),
    ).toBe('2026-01-01T11:00:00.000Z');
  });

  it('infers the year from the file modification time', () => {
    const referenceMs = Date.UTC(2027, 0, 2, 6, 0);
    expect(time('Dec 31 23:59:00 mail postfix/smtpd[1]: x', { referenceMs })).toBe(
      '2026-12-31T23:59:00.000Z',
    );
    expect(time('Jan  2 05:00:00 mail postfix/smtpd[1]: x', { referenceMs })).toBe(
      '2027-01-02T05:00:00.000Z',
    );
  });

  it('advances --year at a December to January rollover', () => {
    const parser = new TimestampParser({ timeZone: 'UTC', year: 2026, referenceMs: 0 });
    const lines = [
      'Dec 31 23:59:59 mail postfix/smtpd[1]: x',
      'Jan  1 00:00:01 mail postfix/smtpd[1]: x',
    ];
    const times = lines.map((line) => {
      const { h } = header(line);
      return new Date(parser.parse(Buffer.from(line), h)).toISOString();
    });
    expect(times).toEqual(['2026-12-31T23:59:59.000Z', '2027-01-01T00:00:01.000Z']);
  });

  it('reads an unpadded day and fractional seconds', () => {
    expect(time('Dec 4 16:22:18 mail postfix/smtpd[1]: x', { year: 2026 })).toBe(
      '2026-12-04T16:22:18.000Z',
    );
    expect(time('Dec 04 16:22:18.123456 mail postfix/smtpd[1]: x', { year: 2026 })).toBe(
      '2026-12-04T16:22:18.000Z',
    );
  });

  it('reads RFC 3339 timestamps with their offset', () => {
    expect(time('2025-12-02T07:01:16.393264+03:00 mail postfix/smtpd[1]: x', {})).toBe(
      '2025-12-02T04:01:16.393Z',
    );
    expect(time('2022-01-08T19:42:12Z mail postfix/smtpd[1]: x', {})).toBe(
      '2022-01-08T19:42:12.000Z',
    );
  });
});
