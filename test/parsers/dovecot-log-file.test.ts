import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { DovecotLogFileReader, looksLikeDovecotLog } from '../../src/parsers/dovecot/log-file.js';

const reader = new DovecotLogFileReader({
  timeZone: 'Europe/Berlin',
  year: 2026,
  referenceMs: Date.UTC(2027, 0, 1),
});

function fixtureLines(name: string): string[] {
  return readFileSync(`test/fixtures/${name}`, 'utf8').split('\n').slice(0, 20);
}

describe('dovecot log_path time stamps', () => {
  it.each([
    {
      line: 'Dec 04 18:57:59 auth: Info: passwd-file(a,192.0.2.1): unknown user',
      time: Date.UTC(2026, 11, 4, 17, 57, 59),
      message: 'auth: Info: passwd-file(a,192.0.2.1): unknown user',
    },
    {
      line: 'Dec  4 18:57:59 master: Info: starting up',
      time: Date.UTC(2026, 11, 4, 17, 57, 59),
      message: 'master: Info: starting up',
    },
    {
      line: 'Jul 2 13:49:31 master: Info: starting up',
      time: Date.UTC(2026, 6, 2, 11, 49, 31),
      message: 'master: Info: starting up',
    },
    {
      line: '2026-12-04 15:13:44 submission-login: Info: Login: user=<a>',
      time: Date.UTC(2026, 11, 4, 14, 13, 44),
      message: 'submission-login: Info: Login: user=<a>',
    },
    {
      line: '2026-12-04 15:13:44.250 auth: Info: x',
      time: Date.UTC(2026, 11, 4, 14, 13, 44, 250),
      message: 'auth: Info: x',
    },
    {
      line: '2026-12-04T15:13:44.123456+01:00 auth: Info: x',
      time: Date.UTC(2026, 11, 4, 14, 13, 44, 123),
      message: 'auth: Info: x',
    },
  ])('$line', ({ line, time, message }) => {
    expect(reader.read(line)).toEqual({ time, message });
  });

  it('returns null for a line without a time stamp', () => {
    expect(reader.read('@400000004c91b044077a9e94 imap-login: Info: Aborted login')).toBeNull();
  });
});

describe('dovecot log file sniffer', () => {
  it('accepts a log_path file', () => {
    expect(looksLikeDovecotLog(fixtureLines('dovecot/submission-verbose.log'))).toBe(true);
  });

  it('rejects syslog lines of dovecot', () => {
    expect(looksLikeDovecotLog(fixtureLines('dovecot/syslog-submission.log'))).toBe(false);
  });

  it('rejects a postfix log', () => {
    expect(looksLikeDovecotLog(fixtureLines('dovecot/submission-verbose.maillog'))).toBe(false);
  });

  it('rejects an exchange protocol log', () => {
    expect(looksLikeDovecotLog(fixtureLines('exchange/client-submission.log'))).toBe(false);
  });

  it('rejects an empty file', () => {
    expect(looksLikeDovecotLog([])).toBe(false);
  });
});
