import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { OpenSmtpdCorrelator } from '../../src/correlate/opensmtpd.js';
import type { ReportEvent } from '../../src/events.js';
import { countOutcomes, feedSyslog } from './syslog-feed.js';

function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/opensmtpd/${name}`, import.meta.url), 'utf8');
}

function run(text: string) {
  const events: ReportEvent[] = [];
  const correlator = new OpenSmtpdCorrelator({
    emit: (event) => events.push(event),
    timeZone: 'UTC',
    serverName: 'unused',
  });
  return { correlator, ...feedSyslog(correlator, events, text) };
}

describe('opensmtpd correlation of 6.4+ sessions', () => {
  const result = run(fixture('sessions-6.4.log'));

  it('counts messages of logged-in sessions with unique recipients', () => {
    const rows = result.messages.map((m) => [
      m.queueId,
      m.account,
      m.senderAddress,
      m.tlsProtocol,
      m.tlsEvidence,
      m.clientIp,
      m.clientName,
      m.recipients,
    ]);
    expect(rows).toEqual([
      ['0e0e0e0e', 'early@example.org', 'early@example.org', 'unknown', 'not-seen', '', '', 1],
      [
        '78e5c402',
        'alice@example.org',
        'alice@example.org',
        'TLSv1.3',
        'line',
        '192.0.2.10',
        'client.example.org',
        2,
      ],
      [
        '1f00ba44',
        'alice@example.org',
        '',
        'TLSv1.3',
        'line',
        '192.0.2.10',
        'client.example.org',
        1,
      ],
      ['2c0ffee2', 'bob@example.org', 'bob@example.org', 'TLSv1.2', 'line', '2001:db8::25', '', 1],
    ]);
  });

  it('keeps time, size and cipher of a message', () => {
    expect(result.messages[1]).toEqual({
      kind: 'message',
      time: Date.UTC(2026, 11, 4, 10, 0, 3),
      server: 'mail',
      service: 'smtpd',
      queueId: '78e5c402',
      account: 'alice@example.org',
      saslMethod: 'unknown',
      senderAddress: 'alice@example.org',
      clientIp: '192.0.2.10',
      clientName: 'client.example.org',
      helo: null,
      tlsProtocol: 'TLSv1.3',
      tlsEvidence: 'line',
      tlsCipher: 'TLS_AES_256_GCM_SHA384',
      recipients: 2,
      size: 1118,
    });
  });

  it('takes the mechanism of a failure from the 535 reply', () => {
    const rows = result.failures.map((f) => [
      f.attemptedUsername,
      f.saslMethod,
      f.clientIp,
      f.tlsProtocol,
      f.reason,
      f.time,
    ]);
    expect(rows).toEqual([
      ['bob', 'PLAIN', '2001:db8::25', 'TLSv1.2', 'permfail', Date.UTC(2026, 11, 4, 10, 1, 1)],
      [
        'Bob Smith',
        'LOGIN',
        '2001:db8::25',
        'TLSv1.2',
        'permfail',
        Date.UTC(2026, 11, 4, 10, 1, 3),
      ],
      ['carol', 'unknown', '192.0.2.30', 'TLSv1', 'permfail', Date.UTC(2026, 11, 4, 10, 3, 2)],
    ]);
  });

  it('counts a tempfail as a backend error, not a failed login', () => {
    expect(result.correlator.counters.authBackendErrors).toBe(1);
  });

  it('reads every line', () => {
    // 45 smtpd lines. Skipped: the start notice, three mta lines, the cert-check, the 421
    // reply to the tempfail, and the message and envelope lines of the two sessions without
    // a login. One message line is malformed. The postfix/smtpd line is not offered.
    expect(countOutcomes(result.outcomes)).toEqual({
      used: 34,
      skipped: 10,
      unsupported: 0,
      malformed: 1,
    });
  });

  it('leaves Postfix smtpd lines alone', () => {
    expect(result.correlator.accepts('postfix/smtpd')).toBe(false);
    expect(result.correlator.accepts('postfix/submission/smtpd')).toBe(false);
    expect(result.correlator.accepts('smtpd')).toBe(true);
  });

  it('continues a split log from a checkpoint', () => {
    const lines = fixture('sessions-6.4.log').split('\n');
    // Cut between a failed login and its 535 reply, and inside a message's envelopes.
    for (const marker of ['user=bob result=permfail', 'to=<carol@example.com>']) {
      const cut = lines.findIndex((line) => line.includes(marker)) + 1;
      const first = run(lines.slice(0, cut).join('\n'));
      const saved = JSON.parse(JSON.stringify(first.correlator.snapshot())) as unknown;
      const second = run('');
      second.correlator.restore(saved);
      const rest = feedSyslog(second.correlator, second.events, lines.slice(cut).join('\n'));

      expect([...first.events, ...rest.events], marker).toEqual(result.events);
    }
  });
});

describe('opensmtpd correlation of older formats', () => {
  it('reports smtp-in lines of OpenSMTPD 5.x as unsupported', () => {
    const result = run(fixture('smtp-in-5.x.log'));
    expect(result.events).toEqual([]);
    expect(countOutcomes(result.outcomes)).toEqual({
      used: 0,
      skipped: 0,
      unsupported: 7,
      malformed: 0,
    });
  });
});

describe('opensmtpd checkpoint state', () => {
  it('rejects state it cannot read', () => {
    const { correlator } = run('');
    expect(() => correlator.restore(42)).toThrow(/invalid OpenSMTPD correlator state/);
  });
});
