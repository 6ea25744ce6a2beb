import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { EximCorrelator } from '../../src/correlate/exim.js';
import type { ReportEvent } from '../../src/events.js';
import { looksLikeEximMainLog } from '../../src/parsers/exim/index.js';

const FIXTURES = path.resolve('test/fixtures/exim');

/**
 * Real Exim main logs, anonymised: Exim 4.96 runs of our end-to-end harness and of a lab with
 * the same traffic, Exim's own test suite (authenticated arrivals, failure variants, TLS client
 * and server), and failure lines collected by intrusion-prevention projects. Each count was
 * checked by hand against the file.
 */
const CASES = [
  {
    file: 'harness-pid.log',
    lines: 163,
    messages: 22,
    recipients: 34,
    failures: 8,
    malformed: 0,
    unsupported: 0,
    counters: {
      authOnlySessions: 1,
      authAborted: 1,
      authTemporaryErrors: 0,
      failuresWithoutTls: 0,
    },
  },
  {
    file: 'harness-default.log',
    lines: 98,
    messages: 22,
    recipients: 34,
    failures: 8,
    malformed: 0,
    unsupported: 0,
    counters: {
      authOnlySessions: 0,
      authAborted: 1,
      authTemporaryErrors: 0,
      failuresWithoutTls: 0,
    },
  },
  {
    file: 'lab-submission.log',
    lines: 83,
    messages: 18,
    recipients: 29,
    failures: 8,
    malformed: 0,
    unsupported: 0,
    counters: {
      authOnlySessions: 1,
      authAborted: 0,
      authTemporaryErrors: 0,
      failuresWithoutTls: 0,
    },
  },
  {
    // Five arrivals of an authenticator without server_set_id (`A=mylogin`) log no login.
    file: 'testsuite-auth.log',
    lines: 56,
    messages: 1,
    recipients: 1,
    failures: 24,
    malformed: 0,
    unsupported: 5,
    counters: {
      authOnlySessions: 0,
      authAborted: 1,
      authTemporaryErrors: 2,
      failuresWithoutTls: 0,
    },
  },
  {
    // The test suite's `******** SERVER ********` separator has no time stamp.
    file: 'testsuite-tls.log',
    lines: 48,
    messages: 4,
    recipients: 4,
    failures: 0,
    malformed: 1,
    unsupported: 0,
    counters: {
      authOnlySessions: 0,
      authAborted: 0,
      authTemporaryErrors: 0,
      failuresWithoutTls: 0,
    },
  },
  {
    file: 'fail2ban-failures.log',
    lines: 32,
    messages: 0,
    recipients: 0,
    failures: 8,
    malformed: 0,
    unsupported: 0,
    counters: {
      authOnlySessions: 0,
      authAborted: 0,
      authTemporaryErrors: 0,
      failuresWithoutTls: 0,
    },
  },
  {
    file: 'crowdsec-failures.log',
    lines: 9,
    messages: 0,
    recipients: 0,
    failures: 3,
    malformed: 0,
    unsupported: 0,
    counters: {
      authOnlySessions: 0,
      authAborted: 0,
      authTemporaryErrors: 0,
      failuresWithoutTls: 0,
    },
  },
];

function readFixture(file: string): string[] {
  const lines = readFileSync(path.join(FIXTURES, file), 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

describe('real Exim logs', () => {
  it.each(CASES)('$file reads with exact counts', ({ file, counters, ...expected }) => {
    const lines = readFixture(file);
    const events: ReportEvent[] = [];
    const exim = new EximCorrelator({
      emit: (event) => events.push(event),
      timeZone: 'UTC',
      serverName: 'mx.example.com',
    });

    const outcomes = lines.map((line) => exim.line(line));
    // Nothing may wait at the end of a complete log.
    const before = events.length;
    exim.finish();
    expect(events.length, 'events emitted by finish').toBe(before);

    const messages = events.filter((event) => event.kind === 'message');
    expect({
      lines: lines.length,
      messages: messages.length,
      recipients: messages.reduce((sum, message) => sum + message.recipients, 0),
      failures: events.filter((event) => event.kind === 'failure').length,
      malformed: outcomes.filter((outcome) => typeof outcome === 'object').length,
      unsupported: outcomes.filter((outcome) => outcome === 'unsupported').length,
    }).toEqual(expected);
    expect(exim.counters).toMatchObject(counters);
  });

  it.each(CASES)('$file is detected as Exim', ({ file }) => {
    expect(looksLikeEximMainLog(readFixture(file).slice(0, 20))).toBe(true);
  });

  it.each(['lab-submission.log', 'sasl-failures.log', 'exporter-mixed.log'])(
    'postfix %s is not detected as Exim',
    (file) => {
      const lines = readFileSync(path.resolve('test/fixtures/postfix', file), 'utf8').split('\n');
      expect(looksLikeEximMainLog(lines.slice(0, 20))).toBe(false);
    },
  );
});
