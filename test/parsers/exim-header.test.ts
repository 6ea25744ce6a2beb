import { describe, expect, it } from 'vitest';

import { looksLikeEximMainLog, parseEximHeader } from '../../src/parsers/exim/header.js';
import { ZoneConverter } from '../../src/time.js';

const utc = new ZoneConverter('UTC');
const berlin = new ZoneConverter('Europe/Berlin');

describe('exim line header', () => {
  it.each([
    {
      line: '2026-12-04 15:19:11 1xZV43-00077U-2d <= a@example.com',
      time: '2026-12-04T15:19:11.000Z',
      pid: -1,
      messageId: '1xZV43-00077U-2d',
      body: '<= a@example.com',
    },
    {
      line: '2026-12-05 00:31:29.244 +0530 [30244] exim 4.96 daemon started: pid=30244',
      time: '2026-12-04T19:01:29.244Z',
      pid: 30244,
      messageId: null,
      body: 'exim 4.96 daemon started: pid=30244',
    },
    {
      line: '2026-12-04 10:00:00 -0330 Completed',
      time: '2026-12-04T13:30:00.000Z',
      pid: -1,
      messageId: null,
      body: 'Completed',
    },
    {
      line: '2026-12-04 10:00:00.007 [7] 10HmaX-000000005vi-0000 Completed',
      time: '2026-12-04T10:00:00.007Z',
      pid: 7,
      messageId: '10HmaX-000000005vi-0000',
      body: 'Completed',
    },
    {
      line: '2016-03-21 04:07:49 [25874] 1ahr79-0006jK-G9 SMTP connection from [192.0.2.1]',
      time: '2016-03-21T04:07:49.000Z',
      pid: 25874,
      messageId: '1ahr79-0006jK-G9',
      body: 'SMTP connection from [192.0.2.1]',
    },
    {
      line: '2026-12-04 10:00:00 plain_server authenticator failed for [192.0.2.1]',
      time: '2026-12-04T10:00:00.000Z',
      pid: -1,
      messageId: null,
      body: 'plain_server authenticator failed for [192.0.2.1]',
    },
  ])('$line', ({ line, time, pid, messageId, body }) => {
    const header = parseEximHeader(line, utc);
    expect(header).not.toBeNull();
    expect(new Date(header!.time).toISOString()).toBe(time);
    expect(header!.pid).toBe(pid);
    expect(header!.messageId).toBe(messageId);
    expect(line.substring(header!.bodyStart)).toBe(body);
  });

  it('converts local time with the zone', () => {
    const winter = parseEximHeader('2026-12-04 16:22:19 Completed', berlin);
    const summer = parseEximHeader('2026-07-04 16:22:19 Completed', berlin);
    expect(new Date(winter!.time).toISOString()).toBe('2026-12-04T15:22:19.000Z');
    expect(new Date(summer!.time).toISOString()).toBe('2026-07-04T14:22:19.000Z');
  });

  it('prefers the offset over the zone', () => {
    const header = parseEximHeader('2026-07-04 16:22:19 +0000 Completed', berlin);
    expect(new Date(header!.time).toISOString()).toBe('2026-07-04T16:22:19.000Z');
  });

  it('adds milliseconds to local time', () => {
    const header = parseEximHeader('2026-12-04 16:22:19.250 Completed', berlin);
    expect(new Date(header!.time).toISOString()).toBe('2026-12-04T15:22:19.250Z');
  });

  it.each([
    '',
    '******** SERVER ********',
    'Dec  4 16:22:19 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]',
    '2026-12-04T16:22:19+01:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]',
    '2026-12-04 16:22:1 short',
    '2026-12-04 16:22:19x no space',
  ])('rejects %j', (line) => {
    expect(parseEximHeader(line, utc)).toBeNull();
  });

  it('keeps a body that looks like no message id', () => {
    const header = parseEximHeader('2026-12-04 10:00:00 1xZV43-00077U-2 short id', utc);
    expect(header!.messageId).toBeNull();
    expect(header!.bodyStart).toBe(20);
  });

  it('reads a pid only in brackets of digits', () => {
    const header = parseEximHeader('2026-12-04 10:00:00 [x1] Completed', utc);
    expect(header!.pid).toBe(-1);
    expect(header!.bodyStart).toBe(20);
  });
});

describe('exim log detection', () => {
  it('accepts a main log', () => {
    expect(
      looksLikeEximMainLog([
        '2026-12-04 15:19:11 exim 4.96 daemon started: pid=1, no queue runs',
        '2026-12-04 15:19:12 1xZV43-00077U-2d <= a@example.com H=[192.0.2.1] P=esmtpa A=p:a S=1',
      ]),
    ).toBe(true);
  });

  it('accepts a log of failed logins with pids', () => {
    expect(
      looksLikeEximMainLog([
        '2016-03-18 00:34:06 [7513] login authenticator failed for (x) [192.0.2.1]: 535 Incorrect authentication data',
      ]),
    ).toBe(true);
  });

  it('accepts a log with a few foreign lines', () => {
    expect(
      looksLikeEximMainLog([
        '******** SERVER ********',
        '',
        '2026-12-04 15:19:11.123 +0100 Start queue run: pid=1',
        '2026-12-04 15:19:11.124 +0100 End queue run: pid=1',
      ]),
    ).toBe(true);
  });

  it.each([
    [['Dec  4 16:22:19 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]']],
    [['2026-12-04T16:22:19.1+01:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.1]']],
    [['2026-12-04 16:22:19 auth: Info: passwd-file(a,192.0.2.1): unknown user']],
    [['2023-01-11T16:00:01.010Z,SERVER\\Default,08D7,7,10.0.0.1:25,192.0.2.1:56026,*,,']],
    [[]],
    [['not a log line', 'not a log line either', '2026-12-04 15:19:11 Start queue run: pid=1']],
  ])('rejects %j', (lines) => {
    expect(looksLikeEximMainLog(lines)).toBe(false);
  });
});

describe('looksLikeEximMainLog with comments', () => {
  it('ignores comment lines between log lines', () => {
    const lines = [
      '# failJSON: { "time": "2026-12-04T10:00:00" }',
      '2026-12-04 10:00:00 login authenticator failed for (x) [192.0.2.9]: 535 Incorrect authentication data (set_id=admin)',
      '# failJSON: { "time": "2026-12-04T10:00:01" }',
      '2026-12-04 10:00:01 plain authenticator failed for (x) [192.0.2.9]: 535 Incorrect authentication data',
    ];
    expect(looksLikeEximMainLog(lines)).toBe(true);
    expect(looksLikeEximMainLog(lines.filter((line) => line.startsWith('#')))).toBe(false);
  });
});
