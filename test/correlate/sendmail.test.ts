import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { SendmailCorrelator } from '../../src/correlate/sendmail.js';
import type { ReportEvent } from '../../src/events.js';
import { countOutcomes, feedSyslog } from './syslog-feed.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/sendmail/${name}`, import.meta.url), 'utf8');
}

function run(text: string, year = 2026) {
  const events: ReportEvent[] = [];
  const correlator = new SendmailCorrelator({
    emit: (event) => events.push(event),
    timeZone: 'UTC',
    serverName: 'unused',
  });
  return { correlator, ...feedSyslog(correlator, events, text, { year }) };
}

describe('sendmail correlation of a real Sendmail 8.17 log', () => {
  const result = run(fixture('lab-8.17.log'));

  it('counts every accepted message once, with account, TLS and recipients', () => {
    const rows = result.messages.map((m) => [
      m.account,
      m.saslMethod,
      m.senderAddress,
      m.tlsProtocol,
      m.clientIp,
      m.recipients,
      m.service,
    ]);
    expect(rows).toEqual([
      [
        'scanner@example.com',
        'PLAIN',
        'scanner@example.com',
        'TLSv1.3',
        '192.0.2.11',
        1,
        'sendmail/MSA',
      ],
      [
        'scanner@example.com',
        'LOGIN',
        'noreply@example.com',
        'TLSv1.2',
        '192.0.2.11',
        2,
        'sendmail/MSA',
      ],
      [
        'alerts@example.org',
        'PLAIN',
        'alerts@example.org',
        'TLSv1.1',
        '192.0.2.12',
        1,
        'sendmail/MSA',
      ],
      [
        'alerts@example.org',
        'LOGIN',
        'monitoring@example.net',
        'TLSv1',
        '192.0.2.12',
        3,
        'sendmail/MSA',
      ],
      [
        'alice@example.com',
        'LOGIN',
        'alice@example.com',
        'TLSv1.3',
        '192.0.2.13',
        1,
        'sendmail/SMTPS',
      ],
      [
        'alice@example.com',
        'PLAIN',
        'alice@example.org',
        'TLSv1.2',
        '192.0.2.13',
        2,
        'sendmail/SMTPS',
      ],
      [
        'billing@example.net',
        'PLAIN',
        'billing@example.net',
        'TLSv1.1',
        '192.0.2.13',
        1,
        'sendmail/SMTPS',
      ],
      [
        'billing@example.net',
        'LOGIN',
        'invoices@example.net',
        'TLSv1',
        '192.0.2.14',
        2,
        'sendmail/SMTPS',
      ],
      [
        'billing@example.net',
        'PLAIN',
        'billing@example.net',
        'TLSv1.2',
        '192.0.2.14',
        2,
        'sendmail/MSA',
      ],
      [
        'scanner@example.com',
        'LOGIN',
        'scanner@example.com',
        'TLSv1.3',
        '192.0.2.11',
        1,
        'sendmail/MSA',
      ],
      [
        'scanner@example.com',
        'LOGIN',
        'scans@example.org',
        'TLSv1.3',
        '192.0.2.11',
        2,
        'sendmail/MSA',
      ],
      [
        'scanner@example.com',
        'LOGIN',
        'scanner@example.com',
        'TLSv1.3',
        '192.0.2.11',
        3,
        'sendmail/MSA',
      ],
      [
        'billing@example.net',
        'PLAIN',
        'billing@example.net',
        'TLSv1.3',
        '192.0.2.14',
        1,
        'sendmail/SMTPS',
      ],
      ['billing@example.net', 'PLAIN', '', 'TLSv1.3', '192.0.2.14', 1, 'sendmail/SMTPS'],
      ['printer', 'PLAIN', 'printer@example.com', 'none', '192.0.2.14', 1, 'sendmail/PLAIN'],
      [
        'billing@example.net',
        'LOGIN',
        'billing@example.net',
        'none',
        '192.0.2.14',
        1,
        'sendmail/PLAIN',
      ],
      [
        'alice@example.com',
        'PLAIN',
        'alice@example.com',
        'TLSv1.2',
        '192.0.2.25',
        1,
        'sendmail/MSA',
      ],
    ]);
  });

  it('keeps queue id, time, size and cipher of a message', () => {
    expect(result.messages[0]).toEqual({
      kind: 'message',
      time: Date.UTC(2026, 11, 4, 19, 7, 39),
      server: 'mx.example.org',
      service: 'sendmail/MSA',
      queueId: '6B4J7dFW003698',
      account: 'scanner@example.com',
      saslMethod: 'PLAIN',
      senderAddress: 'scanner@example.com',
      clientIp: '192.0.2.11',
      clientName: '',
      helo: null,
      tlsProtocol: 'TLSv1.3',
      tlsEvidence: 'line',
      tlsCipher: 'TLS_AES_256_GCM_SHA384',
      recipients: 1,
      size: 193,
    });
  });

  it('counts each failed login with the name as typed', () => {
    const rows = result.failures.map((f) => [
      f.attemptedUsername,
      f.saslMethod,
      f.clientIp,
      f.tlsProtocol,
      f.reason,
    ]);
    expect(rows).toEqual([
      ['scanner@example.com', 'PLAIN', '192.0.2.21', 'TLSv1.2', 'authentication failure'],
      ['ghost@example.com', 'LOGIN', '192.0.2.22', 'TLSv1.3', 'user not found'],
      ['admin', 'LOGIN', '192.0.2.23', 'none', 'user not found'],
      ['ghost@example.com', 'LOGIN', '192.0.2.24', 'TLSv1.3', 'user not found'],
      ['nosuch@example.org', 'PLAIN', '192.0.2.24', 'TLSv1.3', 'user not found'],
      ['alice@example.com', 'PLAIN', '192.0.2.25', 'TLSv1.2', 'authentication failure'],
      ['Alerts@Example.ORG', 'PLAIN', '192.0.2.26', 'TLSv1', 'user not found'],
      ['billing@example.net', 'LOGIN', '192.0.2.27', 'TLSv1.1', 'authentication failure'],
    ]);
  });

  it('reads every line', () => {
    // Used: 18 STARTTLS=server, 15 AUTH=server, 17 from=, 8 AUTH failure and 7 session ends.
    // Skipped: the daemon start, the from= lines after RSET and after a relay reject, 26 to=
    // lines of delivery processes and one ruleset reject.
    expect(countOutcomes(result.outcomes)).toEqual({
      used: 65,
      skipped: 30,
      unsupported: 0,
      malformed: 0,
    });
  });

  it('continues a split log from a checkpoint', () => {
    const lines = fixture('lab-8.17.log').split('\n');
    // Line 45 is the AUTH=server line of the session that sends three messages.
    const cut = lines.findIndex((line) => line.includes('sendmail[3753]: AUTH=server')) + 1;
    expect(cut).toBe(45);

    const first = run(lines.slice(0, cut).join('\n'));
    const saved = JSON.parse(JSON.stringify(first.correlator.snapshot())) as unknown;
    const second = run('');
    second.correlator.restore(saved);
    const rest = feedSyslog(second.correlator, second.events, lines.slice(cut).join('\n'));

    expect([...first.events, ...rest.events]).toEqual(result.events);
  });
});

describe('sendmail correlation of line variants', () => {
  const result = run(fixture('variants.log'));

  it('counts only accepted messages of authenticated sessions', () => {
    const rows = result.messages.map((m) => [
      m.queueId,
      m.account,
      m.saslMethod,
      m.tlsProtocol,
      m.tlsEvidence,
      m.clientIp,
      m.clientName,
      m.recipients,
      m.service,
    ]);
    expect(rows).toEqual([
      [
        '221820LG066179',
        'user@example.org',
        'PLAIN',
        'TLSv1.3',
        'line',
        '192.0.2.21',
        'client.example.org',
        2,
        'sm-mta/MSA',
      ],
      [
        'x2IGUBaa010180',
        'olduser',
        'LOGIN',
        'unknown',
        'line',
        '203.0.113.25',
        'dsl.example.net',
        1,
        'sm-mta/MTA',
      ],
      [
        'x2IGe1aa047019',
        'whatever',
        'LOGIN',
        'none',
        'no-line',
        '2001:db8::bbbb',
        '',
        1,
        'sm-mta/MTA',
      ],
      [
        'x2IGo1ac050001',
        'rset@example.org',
        'PLAIN',
        'TLSv1.2',
        'line',
        '192.0.2.50',
        '',
        3,
        'sm-mta/MSA',
      ],
      ['x2IH02aa060001', 'printer', 'LOGIN', 'TLSv1', 'line', '192.0.2.60', '', 1, 'sm-mta/MSA'],
    ]);
  });

  it('reports TLSv1/SSLv3 as unknown but keeps the cipher', () => {
    expect(result.messages[1].tlsCipher).toBe('AES128-SHA');
  });

  it('counts a failure without user= with a null username', () => {
    expect(result.failures).toEqual([
      {
        kind: 'failure',
        time: Date.UTC(2026, 2, 18, 20, 20, 1),
        server: 'shadow',
        service: 'sm-mta',
        attemptedUsername: null,
        saslMethod: 'LOGIN',
        clientIp: '192.0.2.70',
        clientName: '',
        tlsProtocol: 'TLSv1.2',
        tlsEvidence: 'line',
        reason: 'authentication failure',
      },
    ]);
  });

  it('does not take a login from a reused pid hours later', () => {
    expect(result.correlator.counters.messagesWithoutLogin).toBe(1);
  });

  it('reads every line', () => {
    expect(countOutcomes(result.outcomes)).toEqual({
      used: 18,
      skipped: 9,
      unsupported: 0,
      malformed: 2,
    });
  });

  it('leaves Postfix smtpd lines alone', () => {
    const correlator = run('').correlator;
    expect(correlator.accepts('postfix/smtpd')).toBe(false);
    expect(correlator.accepts('smtpd')).toBe(false);
    expect(correlator.accepts('sm-mta')).toBe(true);
  });
});

describe('sendmail correlation of real failure lines', () => {
  const result = run(fixture('sendmail-auth.log'), 2005);

  it('counts each AUTH failure line and not the attack summaries', () => {
    const rows = result.failures.map((f) => [
      f.attemptedUsername,
      f.saslMethod,
      f.clientIp,
      f.clientName,
      f.tlsProtocol,
      f.reason,
    ]);
    expect(rows).toEqual([
      [
        'user@example.com',
        'LOGIN',
        '192.0.2.3',
        'example.com',
        'unknown',
        'authentication failure',
      ],
      [
        'criminal, relay=[192.0.2.100]',
        'LOGIN',
        '192.0.2.4',
        '',
        'unknown',
        'authentication failure',
      ],
      ['scanner', 'DIGEST-MD5', '192.0.2.5', '', 'unknown', 'user not found'],
      ['scan', 'CRAM-MD5', '192.0.2.6', '', 'unknown', 'user not found'],
    ]);
    expect(result.messages).toEqual([]);
  });

  it('reads every line', () => {
    expect(countOutcomes(result.outcomes)).toEqual({
      used: 4,
      skipped: 6,
      unsupported: 0,
      malformed: 0,
    });
  });
});

describe('sendmail checkpoint state', () => {
  it('rejects state it cannot read', () => {
    const { correlator } = run('');
    expect(() => correlator.restore('garbage')).toThrow(/invalid Sendmail correlator state/);
  });

  it('drops state of another version', () => {
    const { correlator } = run('');
    correlator.restore({ version: 99, servers: [{ server: 'x', tlsLogging: true, sessions: [] }] });
    expect(correlator.snapshot()).toEqual({ version: 1, servers: [] });
  });
});

describe('sendmail line prefilter', () => {
  const lines = fixture('variants.log').split('\n');
  const { correlator } = run(lines.slice(0, 12).join('\n'));

  function mayMatter(message: string, pid: number): boolean {
    const bytes = Buffer.from(message);
    return correlator.mayMatter(bytes, 0, bytes.length, pid);
  }

  it('skips the to= lines of processes without a session', () => {
    expect(mayMatter('x2IGo1ac050001: to=<r1@example.net>, stat=Sent (ok)', 50003)).toBe(false);
  });

  it('keeps the to= lines of a connection, which abort its transaction', () => {
    expect(mayMatter('x2IGo1ab050001: to=<r1@example.net>, stat=550 5.7.1 Rejected', 50001)).toBe(
      true,
    );
  });

  it('keeps every other line', () => {
    expect(mayMatter('x2IGo1ac050001: from=<a@example.org>, size=1, nrcpts=1', 50003)).toBe(true);
    expect(mayMatter('STARTTLS=server, relay=[192.0.2.1], version=TLSv1.3', 50003)).toBe(true);
    expect(mayMatter('short: to=<r1@example.net>', 50003)).toBe(true);
  });
});
