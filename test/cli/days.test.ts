import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cli, testStore } from '../helpers/cli.js';
import { tempDir, writeLog } from '../helpers/ingest.js';

/** One authenticated message per instant, with RFC 3339 timestamps in UTC. */
function messageLines(instants: string[]): string[] {
  return instants.flatMap((instant, i) => {
    const id = `ABCDEF${i}0`;
    const smtpd = `${instant} mail postfix/submission/smtpd[${100 + i}]`;
    return [
      `${smtpd}: connect from unknown[192.0.2.1]`,
      `${smtpd}: ${id}: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
      `${instant} mail postfix/qmgr[9]: ${id}: from=<a@example.org>, size=1, nrcpt=1 (queue active)`,
      `${smtpd}: disconnect from unknown[192.0.2.1] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6`,
    ];
  });
}

describe('report days around a daylight saving change', () => {
  const { dir, cleanup } = tempDir();
  const store = testStore(dir, 'store');
  const volume = (...args: string[]) => {
    const result = cli([
      'report',
      '--store',
      store,
      '--view',
      'volume',
      '--format',
      'json',
      '--timezone',
      'Europe/Berlin',
      ...args,
    ]);
    return (JSON.parse(result.stdout) as { day: string; messages: number }[]).map((r) => [
      r.day,
      r.messages,
    ]);
  };

  beforeAll(() => {
    // Berlin moves from UTC+1 to UTC+2 at 2026-03-29 01:00 UTC.
    const log = writeLog(
      dir,
      'mail.log',
      messageLines([
        '2026-03-28T23:30:00Z', // 00:30 CET on 29 March
        '2026-03-29T00:30:00Z', // 01:30 CET on 29 March
        '2026-03-29T22:30:00Z', // 00:30 CEST on 30 March
        '2026-03-30T21:59:00Z', // 23:59 CEST on 30 March
        '2026-03-30T22:01:00Z', // 00:01 CEST on 31 March
      ]),
    );
    expect(cli(['ingest', '--store', store, log]).status).toBe(0);
  });
  afterAll(() => cleanup());

  it('cuts days across the change', () => {
    expect(volume('--from', '2026-03-28', '--to', '2026-03-31')).toEqual([
      ['2026-03-29', 2],
      ['2026-03-30', 2],
      ['2026-03-31', 1],
    ]);
  });

  it('cuts days after the change', () => {
    expect(volume('--from', '2026-03-30', '--to', '2026-03-31')).toEqual([
      ['2026-03-30', 2],
      ['2026-03-31', 1],
    ]);
  });
});
