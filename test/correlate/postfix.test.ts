import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { PostfixCorrelator } from '../../src/correlate/postfix.js';
import type { ReportEvent } from '../../src/events.js';
import { LineReader } from '../../src/ingest/lines.js';
import { TimestampParser } from '../../src/parsers/syslog.js';
import { correlate } from '../helpers/ingest.js';

const SUB = 'mail postfix/submission/smtpd[100]';
const TLS13 =
  'Anonymous TLS connection established from unknown[192.0.2.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)';
const TLS1 =
  'Anonymous TLS connection established from unknown[192.0.2.2]: TLSv1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)';

function log(...lines: string[]): string {
  return lines
    .map((line, i) => `Dec  4 10:00:${String(i % 60).padStart(2, '0')} ${line}`)
    .join('\n');
}

describe('postfix correlation', () => {
  it('counts a message when qmgr queues it, with the session TLS version', () => {
    const { messages } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: ${TLS13}`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=user@example.org`,
        'mail postfix/cleanup[200]: AAAAAA1: message-id=<1@example.org>',
        `${SUB}: disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=2 data=1 quit=1 commands=9`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<sender@example.com>, size=400, nrcpt=2 (queue active)',
      ),
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      account: 'user@example.org',
      saslMethod: 'PLAIN',
      senderAddress: 'sender@example.com',
      clientIp: '192.0.2.1',
      tlsProtocol: 'TLSv1.3',
      tlsEvidence: 'line',
      recipients: 2,
      server: 'mail',
      service: 'postfix/submission/smtpd',
      time: Date.UTC(2026, 11, 4, 10, 0, 2),
    });
  });

  it('counts RSET after RCPT as no message', () => {
    const { messages } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: ${TLS13}`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=user@example.org`,
        `${SUB}: BBBBBB2: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=user@example.org`,
        'mail postfix/qmgr[300]: BBBBBB2: from=<user@example.org>, size=400, nrcpt=1 (queue active)',
        `${SUB}: disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 mail=2 rcpt=2 data=1 rset=1 quit=1 commands=11`,
      ),
    );
    expect(messages.map((m) => m.queueId)).toEqual(['BBBBBB2']);
  });

  it('counts a delivery retry once', () => {
    const { messages } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: ${TLS13}`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=LOGIN, sasl_username=user@example.org`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<user@example.org>, size=400, nrcpt=1 (queue active)',
        'mail postfix/smtp[400]: AAAAAA1: to=<x@example.net>, relay=none, delay=1, status=deferred (connect timed out)',
        'mail postfix/qmgr[300]: AAAAAA1: from=<user@example.org>, size=400, nrcpt=1 (queue active)',
        'mail postfix/qmgr[300]: AAAAAA1: removed',
      ),
    );
    expect(messages).toHaveLength(1);
  });

  it('gives each session of a reused smtpd process its own TLS state', () => {
    const { messages } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: ${TLS13}`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
        `${SUB}: disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8`,
        `${SUB}: connect from unknown[192.0.2.2]`,
        `${SUB}: ${TLS1}`,
        `${SUB}: BBBBBB2: client=unknown[192.0.2.2], sasl_method=PLAIN, sasl_username=b@example.org`,
        `${SUB}: disconnect from unknown[192.0.2.2] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8`,
        `${SUB}: connect from unknown[192.0.2.3]`,
        `${SUB}: CCCCCC3: client=unknown[192.0.2.3], sasl_method=PLAIN, sasl_username=c@example.org`,
        `${SUB}: disconnect from unknown[192.0.2.3] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=1 (queue active)',
        'mail postfix/qmgr[300]: BBBBBB2: from=<b@example.org>, size=1, nrcpt=1 (queue active)',
        'mail postfix/qmgr[300]: CCCCCC3: from=<c@example.org>, size=1, nrcpt=1 (queue active)',
      ),
    );
    expect(messages.map((m) => [m.account, m.tlsProtocol])).toEqual([
      ['a@example.org', 'TLSv1.3'],
      ['b@example.org', 'TLSv1'],
      ['c@example.org', 'none'],
    ]);
  });

  it('ignores the TLS of an ended session', () => {
    const { messages, correlator } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: ${TLS13}`,
        `${SUB}: disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 quit=1 commands=5`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=1 (queue active)',
        `${SUB}: connect from unknown[192.0.2.2]`,
        'mail postfix/smtpd[101]: connect from unknown[192.0.2.3]',
        'mail postfix/smtpd[101]: disconnect from unknown[192.0.2.3] ehlo=1 quit=1 commands=2',
      ),
    );
    expect(messages[0]).toMatchObject({ tlsProtocol: 'unknown', tlsEvidence: 'not-seen' });

    // Only the open session of pid 100 is saved; the ended one of pid 101 is not.
    const [server] = correlator.snapshot().servers;
    expect(server.sessions.map((session) => session.pid)).toEqual([100]);
    expect(server.sessions[0]).toEqual({
      pid: 100,
      start: Date.UTC(2026, 11, 4, 10, 0, 5),
      tlsProtocol: null,
      tlsCipher: null,
      waiting: [],
    });
  });

  it('evicts only sessions left open a day', () => {
    const { counters } = correlate(
      [
        `Dec  3 09:00:00 ${SUB}: connect from unknown[192.0.2.1]`,
        `Dec  3 09:00:01 ${SUB}: disconnect from unknown[192.0.2.1] ehlo=1 quit=1 commands=2`,
        'Dec  3 09:00:02 mail postfix/smtpd[101]: connect from unknown[192.0.2.2]',
        'Dec  4 10:00:00 mail postfix/smtpd[102]: connect from unknown[192.0.2.3]',
        'Dec  4 10:00:01 mail postfix/smtpd[102]: AAAAAA1: client=unknown[192.0.2.3], sasl_method=PLAIN, sasl_username=a@example.org',
      ].join('\n'),
    ).correlator;
    expect(counters.evictedSessions).toBe(1);
  });

  it('reports TLS as unknown, never none, when the log has no TLS lines', () => {
    const { messages } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=1 (queue active)',
        `${SUB}: disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8`,
        'mail postfix/smtps/smtpd[101]: connect from unknown[192.0.2.2]',
        'mail postfix/smtps/smtpd[101]: BBBBBB2: client=unknown[192.0.2.2], sasl_method=PLAIN, sasl_username=b@example.org',
        'mail postfix/smtps/smtpd[101]: disconnect from unknown[192.0.2.2] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6',
        'mail postfix/qmgr[300]: BBBBBB2: from=<b@example.org>, size=1, nrcpt=1 (queue active)',
      ),
    );
    expect(messages.map((m) => [m.account, m.tlsProtocol, m.tlsEvidence])).toEqual([
      ['a@example.org', 'unknown', 'starttls'],
      ['b@example.org', 'unknown', 'no-line'],
    ]);
  });

  it('reports a session that began before the log as unknown', () => {
    const { messages } = correlate(
      log(
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=1 (queue active)',
      ),
    );
    expect(messages[0]).toMatchObject({ tlsProtocol: 'unknown', tlsEvidence: 'not-seen' });
  });

  it('ignores outbound postfix/smtp TLS and SASL lines', () => {
    const { messages, failures } = correlate(
      log(
        'mail postfix/smtp[400]: Verified TLS connection established to mx.example.net[2001:db8::6]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)',
        'mail postfix/smtp[400]: D0F29603B4: SASL authentication failed; server relay.example.com[192.0.2.4] said: 535 5.7.8 Error: authentication failed',
        'mail postfix/smtp[400]: D0F29603B4: to=<x@example.net>, relay=mx.example.net[2001:db8::6]:25, delay=1, status=sent (250 ok)',
      ),
    );
    expect(messages).toHaveLength(0);
    expect(failures).toHaveLength(0);
  });

  it('records failed logins with the attempted name and the session TLS', () => {
    const { failures } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.9]`,
        `${SUB}: ${TLS13}`,
        `${SUB}: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=ghost@example.org`,
        `${SUB}: warning: unknown[192.0.2.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`,
        `${SUB}: disconnect from unknown[192.0.2.9] ehlo=2 starttls=1 auth=0/2 quit=1 commands=4/6`,
      ),
    );
    expect(
      failures.map((f) => [f.attemptedUsername, f.saslMethod, f.clientIp, f.tlsProtocol]),
    ).toEqual([
      ['ghost@example.org', 'LOGIN', '192.0.2.9', 'TLSv1.3'],
      [null, 'LOGIN', '192.0.2.9', 'TLSv1.3'],
    ]);
  });

  it('keeps sessions of two servers with the same pid apart', () => {
    const { messages } = correlate(
      log(
        'mx1 postfix/submission/smtpd[100]: connect from unknown[192.0.2.1]',
        'mx2 postfix/submission/smtpd[100]: connect from unknown[192.0.2.2]',
        `mx1 postfix/submission/smtpd[100]: ${TLS13}`,
        'mx2 postfix/submission/smtpd[100]: AAAAAA1: client=unknown[192.0.2.2], sasl_method=PLAIN, sasl_username=b@example.org',
        'mx2 postfix/qmgr[300]: AAAAAA1: from=<b@example.org>, size=1, nrcpt=1 (queue active)',
        'mx2 postfix/submission/smtpd[100]: disconnect from unknown[192.0.2.2] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6',
      ),
    );
    // mx2 never logged a TLS line, so its plain session is unknown, not TLSv1.3 from mx1.
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ server: 'mx2', tlsProtocol: 'unknown' });
  });

  it('counts a message through a content filter once, with the original login', () => {
    const text = readFileSync(
      new URL('../fixtures/postfix/content-filter.log', import.meta.url),
      'utf8',
    );
    const { messages, counts } = correlate(text, { year: 2020 });
    expect(
      messages.map((m) => [m.queueId, m.account, m.senderAddress, m.tlsProtocol, m.recipients]),
    ).toEqual([
      ['BA8F630001DA', 'sender@example.org', 'sender@example.org', 'TLSv1.3', 5],
      ['BABABABABA', 'sender@example.org', 'sender2@example.com', 'TLSv1.3', 5],
    ]);
    expect(counts.unsupported).toBe(4);
  });

  it('resumes a message split across two runs from saved state', () => {
    const first = log(
      `${SUB}: connect from unknown[192.0.2.1]`,
      `${SUB}: ${TLS13}`,
      `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
    );
    const second = log(
      `${SUB}: disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8`,
      'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=4 (queue active)',
    );

    const run1 = correlate(first);
    expect(run1.messages).toHaveLength(0);
    const state = JSON.parse(JSON.stringify(run1.correlator.snapshot()));

    const events: ReportEvent[] = [];
    const correlator = new PostfixCorrelator((event) => events.push(event));
    correlator.restore(state);
    const reader = new LineReader(
      correlator,
      new TimestampParser({ timeZone: 'UTC', year: 2026, referenceMs: 0 }),
      undefined,
      0,
    );
    const bytes = Buffer.from(second + '\n');
    reader.readBlock({ bytes, offset: 0, complete: true });

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'message',
      account: 'a@example.org',
      tlsProtocol: 'TLSv1.3',
      recipients: 4,
    });
  });

  it('waits for the disconnect when TLS logging is not yet known', () => {
    const { messages } = correlate(
      log(
        `${SUB}: connect from unknown[192.0.2.1]`,
        `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
        'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=1 (queue active)',
        'mail postfix/qmgr[300]: AAAAAA1: removed',
        `${SUB}: disconnect from unknown[192.0.2.1] ehlo=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=6`,
      ),
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ tlsProtocol: 'unknown', tlsEvidence: 'no-line' });
  });

  it('resumes from state saved by the version before, which kept the TLS line', () => {
    const first = log(
      `${SUB}: connect from unknown[192.0.2.1]`,
      `${SUB}: ${TLS1}`,
      `${SUB}: AAAAAA1: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
    );
    const run1 = correlate(first);
    const saved = run1.correlator.snapshot();
    expect(saved.version).toBe(4);
    const server = saved.servers[0];
    const older = {
      version: 3 as const,
      servers: [
        {
          ...server,
          sessions: server.sessions.map(({ pid, start, waiting }) => ({
            pid,
            start,
            waiting,
            tlsLine: TLS1,
          })),
        },
      ],
    };

    const events: ReportEvent[] = [];
    const correlator = new PostfixCorrelator((event) => events.push(event));
    correlator.restore(JSON.parse(JSON.stringify(older)));
    const reader = new LineReader(
      correlator,
      new TimestampParser({ timeZone: 'UTC', year: 2026, referenceMs: 0 }),
      undefined,
      0,
    );
    const second = log(
      `${SUB}: AAAAAA2: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a@example.org`,
      'mail postfix/qmgr[300]: AAAAAA1: from=<a@example.org>, size=1, nrcpt=1 (queue active)',
      'mail postfix/qmgr[300]: AAAAAA2: from=<a@example.org>, size=1, nrcpt=2 (queue active)',
    );
    reader.readBlock({ bytes: Buffer.from(second + '\n'), offset: 0, complete: true });

    expect(events).toHaveLength(2);
    for (const event of events) {
      expect(event).toMatchObject({
        tlsProtocol: 'TLSv1',
        tlsEvidence: 'line',
        tlsCipher: 'ECDHE-RSA-AES256-SHA',
      });
    }
  });
});
