import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import {
  DovecotCorrelator,
  DovecotLogFileCorrelator,
  type DovecotOptions,
} from '../../src/correlate/dovecot.js';
import type { AuthFailure, ReportEvent, SubmittedMessage } from '../../src/events.js';
import type { LineOutcome } from '../../src/formats/correlator.js';
import { parseDovecotMessage } from '../../src/parsers/dovecot/line.js';
import { newHeader, parseHeader, pidOf, TimestampParser } from '../../src/parsers/syslog.js';
import { correlate } from '../helpers/ingest.js';

const FIXTURES = 'test/fixtures/dovecot';

interface Run {
  events: ReportEvent[];
  messages: SubmittedMessage[];
  failures: AuthFailure[];
  outcomes: Record<string, number>;
}

function readLines(file: string): string[] {
  return readFileSync(`${FIXTURES}/${file}`, 'utf8').split('\n').filter(Boolean);
}

function tally(outcomes: Record<string, number>, outcome: LineOutcome): void {
  const key = typeof outcome === 'string' ? outcome : 'malformed';
  outcomes[key] = (outcomes[key] ?? 0) + 1;
}

function split(events: ReportEvent[]): Run {
  return {
    events,
    messages: events.filter((e): e is SubmittedMessage => e.kind === 'message'),
    failures: events.filter((e): e is AuthFailure => e.kind === 'failure'),
    outcomes: {},
  };
}

function options(events: ReportEvent[]): DovecotOptions {
  return {
    emit: (event) => events.push(event),
    timeZone: 'UTC',
    serverName: 'mx1',
    year: 2026,
    referenceMs: Date.UTC(2027, 0, 1),
  };
}

/** Reads Dovecot's own log file with the log-file correlator. */
function readLogFile(file: string): Run {
  const events: ReportEvent[] = [];
  const correlator = new DovecotLogFileCorrelator(options(events));
  const run = split(events);
  for (const line of readLines(file)) tally(run.outcomes, correlator.line(line));
  return { ...split(events), outcomes: run.outcomes };
}

/**
 * Reads a syslog file the way the pipeline does: the shared header parser, then the
 * correlator for the programs it accepts. Lines without a syslog header count as `no-header`.
 */
function readSyslog(file: string): Run {
  const events: ReportEvent[] = [];
  const correlator = new DovecotCorrelator(options(events));
  const timestamps = new TimestampParser({
    timeZone: 'UTC',
    year: 2026,
    referenceMs: Date.UTC(2027, 0, 1),
  });
  const outcomes: Record<string, number> = {};

  for (const line of readLines(file)) {
    const bytes = Buffer.from(line, 'latin1');
    const header = newHeader();
    if (!parseHeader(bytes, 0, bytes.length, header)) {
      tally(outcomes, 'no-header' as LineOutcome);
      continue;
    }
    const program = bytes.toString('latin1', header.tagStart, header.tagNameEnd);
    if (!correlator.accepts(program)) {
      tally(outcomes, 'other-program' as LineOutcome);
      continue;
    }
    const outcome = correlator.line({
      time: timestamps.parse(bytes, header),
      server: bytes.toString('latin1', header.hostStart, header.hostEnd),
      program,
      pid: pidOf(bytes, header),
      message: bytes.toString('utf8', header.payloadStart, bytes.length),
    });
    tally(outcomes, outcome);
  }
  return { ...split(events), outcomes };
}

/** Returns a compact, ordered view of the events that a failing test prints in full. */
function summarise(run: Run) {
  return run.events.map((event) =>
    event.kind === 'message'
      ? [
          'message',
          event.account,
          event.saslMethod,
          event.clientIp,
          event.tlsProtocol,
          event.tlsEvidence,
          event.senderAddress,
          event.recipients,
        ]
      : [
          'failure',
          event.attemptedUsername,
          event.saslMethod,
          event.clientIp,
          event.tlsProtocol,
          event.tlsEvidence,
          event.reason,
        ],
  );
}

describe('dovecot submission, auth_verbose and %k', () => {
  const run = readLogFile('submission-verbose.log');

  it('emits every message and failed login in order', () => {
    expect(summarise(run)).toEqual([
      [
        'message',
        'alice@example.org',
        'PLAIN',
        '203.0.113.2',
        'TLSv1.2',
        'line',
        'alice@example.org',
        2,
      ],
      [
        'message',
        'bob@example.org',
        'LOGIN',
        '203.0.113.3',
        'TLSv1.3',
        'line',
        'bob@example.org',
        1,
      ],
      [
        'message',
        'alice@example.org',
        'PLAIN',
        '203.0.113.4',
        'none',
        'no-line',
        'alice@example.org',
        1,
      ],
      [
        'message',
        'bob@example.org',
        'LOGIN',
        '203.0.113.2',
        'TLSv1.1',
        'line',
        'bob@example.org',
        3,
      ],
      ['message', 'bob@example.org', 'LOGIN', '203.0.113.2', 'TLSv1.1', 'line', '', 1],
      [
        'failure',
        'alice@example.org',
        'PLAIN',
        '203.0.113.5',
        'TLSv1',
        'line',
        'Password mismatch',
      ],
      ['failure', 'ghost@example.org', 'LOGIN', '203.0.113.6', 'TLSv1.3', 'line', 'unknown user'],
      [
        'failure',
        'alice@example.org',
        'PLAIN',
        '203.0.113.8',
        'TLSv1.2',
        'line',
        'Password mismatch',
      ],
      [
        'message',
        'alice@example.org',
        'PLAIN',
        '203.0.113.8',
        'TLSv1.2',
        'line',
        'alice@example.org',
        1,
      ],
      ['failure', 'ghost@example.org', 'LOGIN', '203.0.113.9', 'none', 'no-line', 'unknown user'],
      ['failure', 'nobody@example.org', 'LOGIN', '203.0.113.9', 'none', 'no-line', 'unknown user'],
    ]);
  });

  it('matches the truth of the traffic sent', () => {
    const truth = JSON.parse(readFileSync(`${FIXTURES}/submission-verbose.truth.json`, 'utf8'));
    const sent = truth.dovecotMessages.map((m: Record<string, unknown>) => [
      m.account,
      m.saslMethod,
      m.clientIp,
      m.tlsProtocol,
      m.senderAddress,
      m.rcptCommands,
    ]);
    const read = run.messages.map((m) => [
      m.account,
      m.saslMethod,
      m.clientIp,
      m.tlsProtocol,
      m.senderAddress,
      m.recipients,
    ]);
    expect(read).toEqual(sent);

    const failed = truth.failures
      .filter((f: { countedBy: string }) => f.countedBy === 'dovecot')
      .map((f: Record<string, unknown>) => [
        f.attemptedUsername,
        f.saslMethod,
        f.clientIp,
        f.tlsProtocol,
      ]);
    const readFailures = run.failures.map((f) => [
      f.attemptedUsername,
      f.saslMethod,
      f.clientIp,
      f.tlsProtocol,
    ]);
    expect(readFailures).toEqual(failed);
  });

  it('fills the message fields', () => {
    expect(run.messages[0]).toEqual({
      kind: 'message',
      time: Date.UTC(2026, 11, 4, 18, 57, 59),
      server: 'mx1',
      service: 'dovecot/submission',
      queueId: 'lB+MDjcNE2vabAAAg+zDdQ',
      account: 'alice@example.org',
      saslMethod: 'PLAIN',
      senderAddress: 'alice@example.org',
      clientIp: '203.0.113.2',
      clientName: '',
      helo: null,
      tlsProtocol: 'TLSv1.2',
      tlsEvidence: 'line',
      tlsCipher: 'ECDHE-RSA-AES256-GCM-SHA384',
      recipients: 2,
      size: 48,
    });
  });

  it('counts line outcomes', () => {
    expect(run.outcomes).toEqual({ used: 20, skipped: 10 });
  });
});

describe('dovecot submission, default log settings', () => {
  const run = readLogFile('submission-default.log');

  it('has TLS without its version and failures without names', () => {
    expect(summarise(run)).toEqual([
      [
        'message',
        'alice@example.org',
        'PLAIN',
        '203.0.113.2',
        'unknown',
        'starttls',
        'alice@example.org',
        2,
      ],
      [
        'message',
        'bob@example.org',
        'LOGIN',
        '203.0.113.3',
        'unknown',
        'starttls',
        'bob@example.org',
        1,
      ],
      [
        'message',
        'alice@example.org',
        'PLAIN',
        '203.0.113.4',
        'none',
        'no-line',
        'alice@example.org',
        1,
      ],
      [
        'message',
        'bob@example.org',
        'LOGIN',
        '203.0.113.2',
        'unknown',
        'starttls',
        'bob@example.org',
        3,
      ],
      ['message', 'bob@example.org', 'LOGIN', '203.0.113.2', 'unknown', 'starttls', '', 1],
      [
        'failure',
        'alice@example.org',
        'PLAIN',
        '203.0.113.5',
        'unknown',
        'starttls',
        'auth failed',
      ],
      [
        'failure',
        'ghost@example.org',
        'LOGIN',
        '203.0.113.6',
        'unknown',
        'starttls',
        'auth failed',
      ],
      [
        'message',
        'alice@example.org',
        'PLAIN',
        '203.0.113.8',
        'unknown',
        'starttls',
        'alice@example.org',
        1,
      ],
      ['failure', null, 'LOGIN', '203.0.113.9', 'none', 'no-line', 'auth failed'],
      ['failure', 'nobody@example.org', 'LOGIN', '203.0.113.9', 'none', 'no-line', 'auth failed'],
    ]);
  });
});

describe('dovecot from syslog', () => {
  const run = readSyslog('syslog-submission.log');

  it('reads the same session as the log file', () => {
    const fromFile = summarise(readLogFile('submission-verbose.log'));
    expect(summarise(run).slice(0, fromFile.length)).toEqual(fromFile);
  });

  it('counts one failure for one line per passdb', () => {
    expect(summarise(run).slice(11)).toEqual([
      [
        'failure',
        'judy@example.org',
        'PLAIN',
        '203.0.113.40',
        'unknown',
        'starttls',
        'unknown user',
      ],
      [
        'message',
        'mike@example.org',
        'LOGIN',
        '203.0.113.41',
        'unknown',
        'starttls',
        'mike@example.org',
        1,
      ],
      [
        'failure',
        'oscar@example.org',
        'PLAIN',
        '203.0.113.42',
        'none',
        'no-line',
        'Password mismatch',
      ],
    ]);
  });

  it('keeps the given password out of every event', () => {
    expect(JSON.stringify(run.events)).not.toContain('Secret-1');
  });

  it('names the server from the syslog host', () => {
    expect(new Set(run.events.map((event) => event.server))).toEqual(new Set(['mx1']));
  });

  it('counts line outcomes', () => {
    // 30 lines of the log-file run, then 8 more auth, login and relay lines, one submission
    // logout and one Postfix line.
    expect(run.outcomes).toEqual({ used: 28, skipped: 11, 'other-program': 1 });
  });
});

describe('dovecot and postfix in one log pair', () => {
  const dovecot = readLogFile('submission-verbose.log');
  const postfix = correlate(readFileSync(`${FIXTURES}/submission-verbose.maillog`, 'utf8'));
  const truth = JSON.parse(readFileSync(`${FIXTURES}/submission-verbose.truth.json`, 'utf8'));

  it('counts each failed login in one log only', () => {
    const all = [...dovecot.failures, ...postfix.failures].map((f) => [
      f.attemptedUsername,
      f.clientIp,
    ]);
    const sent = truth.failures.map((f: Record<string, unknown>) => [
      f.attemptedUsername,
      f.clientIp,
    ]);
    expect(all.sort()).toEqual(sent.sort());
  });

  it('shows the relayed messages as XCLIENT logins in postfix', () => {
    const relayed = postfix.messages.filter((m) => m.saslMethod === 'XCLIENT');
    expect(relayed.map((m) => m.account)).toEqual(dovecot.messages.map((m) => m.account));
    expect(relayed.map((m) => m.clientIp)).toEqual(dovecot.messages.map((m) => m.clientIp));
  });

  it('leaves postfix its own submissions', () => {
    const own = postfix.messages.filter((m) => m.saslMethod !== 'XCLIENT');
    expect(own.map((m) => [m.account, m.saslMethod, m.clientIp])).toEqual([
      ['bob@example.org', 'PLAIN', '203.0.113.12'],
    ]);
    expect(own.length).toBe(truth.postfixMessages.length);
  });
});

// Postfix 3.7 with smtpd_sasl_type = dovecot, and Dovecot 2.3 with auth_verbose: both logs
// of the same eight failed logins.
describe('dovecot as the SASL back end of postfix', () => {
  const dovecot = readLogFile('postfix-sasl.log');
  const postfix = correlate(readFileSync(`${FIXTURES}/postfix-sasl.maillog`, 'utf8'));

  it('skips auth lines without a session id', () => {
    expect(dovecot.events).toEqual([]);
    expect(dovecot.outcomes).toEqual({ skipped: 10 });
  });

  it('leaves each failed login to the postfix line of the same attempt', () => {
    const authLines = readLines('postfix-sasl.log')
      .map((line) => parseDovecotMessage(line.slice(16)))
      .filter((record) => typeof record === 'object' && record.type === 'auth-failure')
      .map((record) => {
        const failure = record as Extract<typeof record, { type: 'auth-failure' }>;
        return [failure.user, failure.clientIp, failure.session];
      });
    expect(authLines.length).toBe(8);
    expect(authLines.every(([, , session]) => session === null)).toBe(true);

    const fromPostfix = postfix.failures.map((f) => [f.attemptedUsername, f.clientIp, null]);
    expect(fromPostfix).toEqual(authLines);
  });
});

describe('dovecot checkpoints', () => {
  it('gives the same events when a run stops between two lines', () => {
    const lines = readLines('submission-verbose.log');
    const whole = readLogFile('submission-verbose.log').events;

    for (const cut of [2, 13, 17, 22]) {
      const events: ReportEvent[] = [];
      const first = new DovecotLogFileCorrelator(options(events));
      for (const line of lines.slice(0, cut)) first.line(line);
      const state = JSON.parse(JSON.stringify(first.snapshot()));

      const second = new DovecotLogFileCorrelator(options(events));
      second.restore(state);
      for (const line of lines.slice(cut)) second.line(line);
      expect(events, `cut at line ${cut}`).toEqual(whole);
    }
  });

  it('rejects a snapshot it cannot read', () => {
    const correlator = new DovecotLogFileCorrelator(options([]));
    expect(() => correlator.restore({ version: 99 })).toThrow(/invalid Dovecot correlator state/);
  });

  it('drops auth lines whose login process never logs', () => {
    const events: ReportEvent[] = [];
    const correlator = new DovecotLogFileCorrelator(options(events));
    correlator.line(
      'Dec 04 10:00:00 auth: Info: passwd-file(a@example.org,192.0.2.7,<s9>): unknown user',
    );
    correlator.line('Dec 04 12:00:00 master: Info: still running');
    correlator.line(
      'Dec 04 12:00:01 submission-login: Info: Disconnected (auth failed, 1 attempts in 2 secs): user=<a@example.org>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.25, session=<s9>',
    );
    expect(correlator.counters.evictedAuthLines).toBe(1);
    expect(events.map((e) => (e as AuthFailure).reason)).toEqual(['auth failed']);
  });
});

describe('real dovecot logs', () => {
  it('fail2ban-dovecot.log has no SMTP AUTH', () => {
    const run = readSyslog('fail2ban-dovecot.log');
    expect(run.events).toEqual([]);
    // 17 comment lines, 4 TAI64 lines and 1 log_path line have no syslog header. Of the 11
    // syslog lines, one is PAM's own (program `auth`) and 10 are IMAP, POP3 or MTA lines.
    expect(run.outcomes).toEqual({ 'no-header': 22, skipped: 10, 'other-program': 1 });
  });

  it('crowdsec-dovecot.log has no SMTP AUTH', () => {
    const run = readSyslog('crowdsec-dovecot.log');
    expect(run.events).toEqual([]);
    expect(run.outcomes).toEqual({ used: 1, skipped: 13 });
  });

  it('reads the log_path line of fail2ban-dovecot.log', () => {
    const run = readLogFile('fail2ban-dovecot.log');
    expect(run.events).toEqual([]);
    expect(run.outcomes.skipped).toBe(12);
  });
});
