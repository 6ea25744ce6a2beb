/**
 * A synthetic Postfix log for the insights view, ingested together with the lab fixture
 * (test/fixtures/postfix/lab-submission.log, 28 Nov to 4 Dec 2026): four weeks of steady
 * history for user1@example.org, then in the week of the lab log a burst of mail, a password
 * guessed from a new address, and a client address trying a dozen usernames.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import { days, PostfixLog, steadyDay } from '../insights/postfix-log.js';

const WORKING_HOURS = [9, 10, 11, 12, 13, 14, 15, 16, 17];

/** The address that guesses user1's password, then sends as user1. */
export const GUESSING_IP = '203.0.113.9';
/** The address that tries twelve usernames once each. */
export const SPRAYING_IP = '203.0.113.50';

export function insightsLog(): string {
  const log = new PostfixLog();
  for (const day of days('2026-10-31', '2026-11-27')) {
    steadyDay(log, {
      day,
      account: 'user1@example.org',
      clientIp: '192.0.2.1',
      perDay: 9,
      hours: WORKING_HOURS,
    });
  }

  // 2 Dec: 600 messages in one session, about 100 times the usual day.
  log.submit({
    at: '2026-12-02T11:00:00Z',
    account: 'user1@example.org',
    clientIp: '192.0.2.1',
    messages: 600,
  });

  // 3 Dec: six failed logins as user1, then mail from the same new address.
  for (let i = 0; i < 6; i++) {
    log.fail({
      at: Date.parse('2026-12-03T10:00:00Z') + i * 60_000,
      clientIp: GUESSING_IP,
      username: 'user1@example.org',
    });
  }
  log.submit({ at: '2026-12-03T10:10:00Z', account: 'user1@example.org', clientIp: GUESSING_IP });

  for (let i = 0; i < 12; i++) {
    log.fail({
      at: Date.parse('2026-12-03T14:00:00Z') + i * 30_000,
      clientIp: SPRAYING_IP,
      username: `staff${String(i + 1).padStart(2, '0')}@example.org`,
    });
  }
  return log.text();
}

/** Write the log into `dir` and return its path. */
export function writeInsightsLog(dir: string): string {
  const file = path.join(dir, 'insights-history.log');
  writeFileSync(file, insightsLog());
  return file;
}
