import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { ExchangeCorrelator } from '../../src/correlate/exchange.js';
import type { AuthFailure, ReportEvent, SubmittedMessage } from '../../src/events.js';
import type { LineOutcome } from '../../src/formats/correlator.js';

const FIXTURES = 'test/fixtures/exchange';

function readLines(file: string): string[] {
  return readFileSync(`${FIXTURES}/${file}`, 'utf8').split(/\r?\n/).filter(Boolean);
}

function newCorrelator(events: ReportEvent[]): ExchangeCorrelator {
  return new ExchangeCorrelator({
    emit: (event) => events.push(event),
    timeZone: 'Europe/Berlin',
    serverName: 'fallback-name',
  });
}

function read(lines: string[]) {
  const events: ReportEvent[] = [];
  const correlator = newCorrelator(events);
  const outcomes: Record<string, number> = {};
  for (const line of lines) {
    const outcome: LineOutcome = correlator.line(line);
    const key = typeof outcome === 'string' ? outcome : 'malformed';
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  return {
    correlator,
    events,
    messages: events.filter((e): e is SubmittedMessage => e.kind === 'message'),
    failures: events.filter((e): e is AuthFailure => e.kind === 'failure'),
    outcomes,
  };
}

describe('exchange client submission', () => {
  const run = read(readLines('client-submission.log'));

  it('counts queued messages of authenticated sessions', () => {
    expect(
      run.messages.map((m) => [
        m.account,
        m.saslMethod,
        m.senderAddress,
        m.clientIp,
        m.tlsProtocol,
        m.tlsEvidence,
        m.recipients,
        m.queueId,
      ]),
    ).toEqual([
      [
        'alice@example.org',
        'LOGIN',
        'alice@example.org',
        '203.0.113.10',
        'TLSv1.2',
        'line',
        2,
        '1234567890001',
      ],
      [
        'alice@example.org',
        'LOGIN',
        'alice@example.org',
        '203.0.113.10',
        'TLSv1.2',
        'line',
        1,
        '1234567890002',
      ],
      [
        'EXAMPLE\\scanner',
        'NTLM',
        'scanner@example.org',
        '203.0.113.30',
        'none',
        'no-line',
        1,
        '08DD14B2A0000003;2026-12-04T15:00:05.032Z;1',
      ],
      [
        'frank@example.org',
        'LOGIN',
        'copier@example.org',
        '203.0.113.70',
        'unknown',
        'line',
        1,
        '1234567890007',
      ],
      ['heidi@example.org', 'LOGIN', '', '2001:db8::50', 'unknown', 'not-seen', 1, '1234567890008'],
    ]);
  });

  it('fills the message fields', () => {
    expect(run.messages[0]).toEqual({
      kind: 'message',
      time: Date.UTC(2026, 11, 4, 15, 0, 2, 301),
      server: 'EX01',
      service: 'Client Frontend EX01',
      queueId: '1234567890001',
      account: 'alice@example.org',
      saslMethod: 'LOGIN',
      senderAddress: 'alice@example.org',
      clientIp: '203.0.113.10',
      clientName: '',
      helo: 'laptop01',
      tlsProtocol: 'TLSv1.2',
      tlsEvidence: 'line',
      tlsCipher: 'CALG_AES_256',
      recipients: 2,
      size: 0,
    });
  });

  it('counts each failed AUTH once', () => {
    expect(run.failures).toEqual([
      {
        kind: 'failure',
        time: Date.UTC(2026, 11, 4, 15, 0, 2, 291),
        server: 'EX01',
        service: 'Client Frontend EX01',
        attemptedUsername: 'mallory@example.org',
        saslMethod: 'LOGIN',
        clientIp: '203.0.113.20',
        clientName: '',
        tlsProtocol: 'TLSv1',
        tlsEvidence: 'line',
        reason: 'LogonDenied',
      },
      {
        kind: 'failure',
        time: Date.UTC(2026, 11, 4, 15, 0, 2, 410),
        server: 'EX01',
        service: 'Client Frontend EX01',
        attemptedUsername: null,
        saslMethod: 'LOGIN',
        clientIp: '203.0.113.20',
        clientName: '',
        tlsProtocol: 'TLSv1',
        tlsEvidence: 'line',
        reason: 'LogonDenied',
      },
    ]);
  });

  it('leaves anonymous and server-to-server mail out', () => {
    expect(run.messages.some((m) => m.senderAddress === 'news@example.net')).toBe(false);
    expect(run.correlator.counters.interServerMessages).toBe(1);
  });

  it('closes every session it saw end', () => {
    expect(run.correlator.snapshot().sessions).toEqual([]);
  });

  it('counts line outcomes', () => {
    expect(run.outcomes).toEqual({ used: 115, skipped: 51 });
  });
});

describe('exchange files', () => {
  it('reads rows without a header in the default column order', () => {
    const withHeader = read(readLines('client-submission.log')).events;
    const withoutHeader = read(
      readLines('client-submission.log').filter((l) => !l.startsWith('#')),
    );
    expect(withoutHeader.events).toEqual(withHeader);
  });

  it('reads CRLF line ends and a field order from #Fields', () => {
    const lines = [
      '#Fields: event,date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,data,context',
      '+,2026-12-04T15:00:00.000Z,EX01\\Client Frontend EX01,08DD00000000000A,0,192.0.2.25:587,203.0.113.90:1,,',
      '<,2026-12-04T15:00:00.100Z,EX01\\Client Frontend EX01,08DD00000000000A,1,192.0.2.25:587,203.0.113.90:1,AUTH LOGIN,',
      '*,2026-12-04T15:00:00.150Z,EX01\\Client Frontend EX01,08DD00000000000A,2,192.0.2.25:587,203.0.113.90:1,,User Name: judy@example.org',
      '>,2026-12-04T15:00:00.200Z,EX01\\Client Frontend EX01,08DD00000000000A,3,192.0.2.25:587,203.0.113.90:1,535 5.7.3 Authentication unsuccessful,',
    ];
    const run = read(lines.map((line) => `${line}\r`));
    expect(run.failures.map((f) => [f.attemptedUsername, f.clientIp, f.tlsProtocol])).toEqual([
      ['judy@example.org', '203.0.113.90', 'none'],
    ]);
  });

  it('carries a session across two hourly files', () => {
    const lines = readLines('client-submission.log');
    const whole = read(lines).events;

    for (const cut of [20, 45, 60, 150]) {
      const events: ReportEvent[] = [];
      const first = newCorrelator(events);
      for (const line of lines.slice(0, cut)) first.line(line);
      const state = JSON.parse(JSON.stringify(first.snapshot()));

      const second = newCorrelator(events);
      second.restore(state);
      for (const line of lines.slice(cut)) second.line(line);
      expect(events, `cut at line ${cut}`).toEqual(whole);
    }
  });

  it('reports a malformed row and goes on', () => {
    const lines = readLines('client-submission.log');
    lines.splice(30, 0, '2026-12-04T15:00:00.262Z,EX01\\Client Frontend EX01,"broken');
    const run = read(lines);
    expect(run.outcomes.malformed).toBe(1);
    expect(run.messages.length).toBe(5);
  });

  it('rejects a snapshot it cannot read', () => {
    const correlator = newCorrelator([]);
    expect(() => correlator.restore({ version: 2, sessions: [] })).toThrow(/invalid Exchange/);
  });

  it('drops a session without a disconnect after a day', () => {
    const run = read([
      '2026-12-04T15:00:00.000Z,EX01\\Client Frontend EX01,08DD00000000000B,0,192.0.2.25:587,203.0.113.91:1,+,,',
      '2026-12-04T15:00:00.100Z,EX01\\Client Frontend EX01,08DD00000000000B,1,192.0.2.25:587,203.0.113.91:1,<,AUTH LOGIN,',
      '2026-12-04T15:00:01.000Z,EX01\\Client Frontend EX01,08DD00000000000B,2,192.0.2.25:587,203.0.113.91:1,*,,Inbound AUTH LOGIN failed because of LogonDenied',
      '2026-12-05T16:00:00.000Z,EX01\\Client Frontend EX01,08DD00000000000C,0,192.0.2.25:587,203.0.113.92:1,+,,',
    ]);
    expect(run.correlator.counters.evictedSessions).toBe(1);
    expect(run.failures.map((f) => [f.clientIp, f.reason])).toEqual([
      ['203.0.113.91', 'LogonDenied'],
    ]);
  });
});

describe('real exchange logs', () => {
  it('crowdsec-auth-unsuccessful.log has one failed login', () => {
    const run = read(readLines('crowdsec-auth-unsuccessful.log'));
    expect(run.failures).toEqual([
      {
        kind: 'failure',
        time: Date.parse('2022-07-20T21:12:06.270Z'),
        server: 'EX01',
        service: 'Default Frontend EX01',
        attemptedUsername: null,
        saslMethod: 'unknown',
        clientIp: '198.51.100.2',
        clientName: '',
        tlsProtocol: 'unknown',
        tlsEvidence: 'not-seen',
        reason: '5.7.3 Authentication unsuccessful',
      },
    ]);
    expect(run.messages).toEqual([]);
    expect(run.outcomes).toEqual({ used: 1 });
  });
});
