import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  EximCorrelator,
  type EximAuthFailure,
  type EximSubmittedMessage,
} from '../../src/correlate/exim.js';
import type { ReportEvent } from '../../src/events.js';

const FIXTURES = path.resolve('test/fixtures/exim');

function correlator(timeZone = 'UTC') {
  const events: ReportEvent[] = [];
  const exim = new EximCorrelator({
    emit: (event) => events.push(event),
    timeZone,
    serverName: 'mx.example.com',
  });
  const feed = (...lines: string[]) => lines.map((line) => exim.line(line));
  const messages = () => events.filter((e): e is EximSubmittedMessage => e.kind === 'message');
  const failures = () => events.filter((e): e is EximAuthFailure => e.kind === 'failure');
  return { exim, events, feed, messages, failures };
}

function fixture(name: string): string[] {
  const lines = readFileSync(path.join(FIXTURES, name), 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Continue in a new correlator from a JSON copy of the snapshot, as a checkpoint does. */
function reopen(from: EximCorrelator, timeZone = 'UTC') {
  const next = correlator(timeZone);
  next.exim.restore(JSON.parse(JSON.stringify(from.snapshot())));
  return next;
}

const ID = '1xZYXC-0007t7-1X';
const ARRIVAL =
  `2026-12-04 19:01:30 [30325] ${ID} <= alerts@example.org H=(client-52.example.com) ` +
  '[192.0.2.52]:45957 I=[192.0.2.1]:14587 P=esmtpsa ' +
  'X=TLS1.2:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=no ' +
  'A=login_server:alerts@example.org S=506 id=deferred.1@example.com';
const DELIVERED = `2026-12-04 19:01:30 [30327] ${ID} => :blackhole: <oncall@example.org> R=discard_everything`;
const DEFERRED = `2026-12-04 19:01:30 [30327] ${ID} == report@later.example.net R=deliver_later defer (-1): held`;
const DELIVERED_LATER = `2026-12-04 19:01:31 [30353] ${ID} => :blackhole: <report@later.example.net> R=discard_everything`;
const COMPLETED = `2026-12-04 19:01:31 [30353] ${ID} Completed`;

const DEFERRED_MESSAGE: EximSubmittedMessage = {
  kind: 'message',
  time: Date.parse('2026-12-04T19:01:30Z'),
  server: 'mx.example.com',
  service: 'exim',
  queueId: ID,
  account: 'alerts@example.org',
  saslMethod: 'login_server',
  saslMechanism: 'LOGIN',
  senderAddress: 'alerts@example.org',
  clientIp: '192.0.2.52',
  clientName: 'unknown',
  helo: 'client-52.example.com',
  tlsProtocol: 'TLSv1.2',
  tlsEvidence: 'line',
  tlsCipher: 'ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM',
  recipients: 2,
  size: 506,
};

describe('exim messages', () => {
  it('reads fields after a quoted sender with spaces', () => {
    const sender = '"x H=[203.0.113.9] P=esmtpa A=plain_server:ceo@example.org"@example.org';
    const { feed, messages } = correlator();
    feed(ARRIVAL.replace('<= alerts@example.org', `<= ${sender}`), DELIVERED, COMPLETED);

    expect(messages()).toHaveLength(1);
    expect(messages()[0]).toMatchObject({
      senderAddress: sender,
      account: 'alerts@example.org',
      clientIp: '192.0.2.52',
      saslMethod: 'login_server',
    });
  });

  it('emits the message at Completed', () => {
    const { feed, events } = correlator();
    expect(feed(ARRIVAL, DELIVERED, DEFERRED)).toEqual(['used', 'used', 'used']);
    expect(events).toEqual([]);

    feed(DELIVERED_LATER, COMPLETED);
    expect(events).toEqual([DEFERRED_MESSAGE]);
  });

  it('counts a deferral as no recipient', () => {
    const { feed, messages } = correlator();
    feed(ARRIVAL, DELIVERED, DEFERRED, COMPLETED);
    expect(messages().map((m) => m.recipients)).toEqual([1]);
  });

  it('counts a failed recipient', () => {
    const { feed, messages } = correlator();
    feed(
      ARRIVAL,
      `2026-12-04 19:01:30 ${ID} => :blackhole: <friend@example.org> R=discard_everything`,
      `2026-12-04 19:01:30 ${ID} ** ghost@nowhere.example.net R=unknown_mailbox: no such mailbox`,
      `2026-12-04 19:01:30 1xZYXC-0007tG-1e <= <> R=${ID} U=Debian-exim P=local S=1754`,
      COMPLETED,
    );
    expect(messages().map((m) => m.recipients)).toEqual([2]);
  });

  it('counts each envelope recipient once', () => {
    const { feed, messages } = correlator();
    feed(
      ARRIVAL,
      `2026-12-04 19:01:30 ${ID} => alice <team@lists.example.org> R=batch_mailbox T=batch_file`,
      `2026-12-04 19:01:30 ${ID} -> bob <team@lists.example.org> R=batch_mailbox T=batch_file`,
      `2026-12-04 19:01:30 ${ID} -> carol <carol@batch.example.org> R=batch_mailbox T=batch_file`,
      `2026-12-04 19:01:30 ${ID} -> carol <Carol@Batch.Example.ORG> R=batch_mailbox T=batch_file`,
      `2026-12-04 19:01:30 ${ID} => :blackhole: <dup@example.org> R=discard_everything`,
      `2026-12-04 19:01:30 ${ID} => :blackhole: <dup@example.org> R=discard_everything`,
      COMPLETED,
    );
    expect(messages().map((m) => m.recipients)).toEqual([3]);
  });

  it('finishes a message in the next file', () => {
    const first = correlator();
    first.feed(ARRIVAL, DELIVERED, DEFERRED);
    expect(first.events).toEqual([]);

    const second = reopen(first.exim);
    expect(second.feed(DELIVERED_LATER, COMPLETED)).toEqual(['used', 'used']);
    expect(second.events).toEqual([DEFERRED_MESSAGE]);
  });

  it('ignores lines after Completed', () => {
    const { feed, messages } = correlator();
    feed(ARRIVAL, DELIVERED, COMPLETED, DELIVERED_LATER, COMPLETED);
    expect(messages()).toHaveLength(1);
  });

  it('emits at once with a recipient list', () => {
    const { feed, messages } = correlator('America/New_York');
    const results = feed(
      '2026-12-04 14:01:33 1xZYXF-0007vN-2A <= alerts@example.org H=(client-52.example.com) ' +
        '[192.0.2.52] P=esmtpsa X=TLS1.2:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=no ' +
        'A=plain_server:alerts@example.org S=447 id=smtps-duplicate-rcpt.2@e2e.example.com ' +
        'T="\\"Report\\" for smtps-duplicate-rcpt (2)" for oncall@example.org ops@example.org Oncall@example.org',
      '2026-12-04 14:01:33 1xZYXF-0007vN-2A => :blackhole: <oncall@example.org> R=discard_everything',
      '2026-12-04 14:01:33 1xZYXF-0007vN-2A Completed',
    );
    expect(results).toEqual(['used', 'skipped', 'skipped']);
    expect(messages()).toHaveLength(1);
    expect(messages()[0].recipients).toBe(2);
    expect(messages()[0].time).toBe(Date.parse('2026-12-04T19:01:33Z'));
  });

  it('reads cutthrough deliveries before the arrival', () => {
    const { feed, messages } = correlator();
    feed(
      `2026-12-04 19:01:30 [30325] ${ID} >> ops@example.org R=smarthost T=remote_smtp H=relay.example.net [192.0.2.99]`,
      ARRIVAL,
      COMPLETED,
    );
    expect(messages().map((m) => m.recipients)).toEqual([1]);
  });

  it('ignores outbound logins on deliveries', () => {
    const { feed, events } = correlator();
    const results = feed(
      '1999-03-02 09:44:33 10HmaX-0005vi-00 <= CALLER@mx.example.com U=CALLER P=local S=sss for nocache@example.com',
      '1999-03-02 09:44:33 10HmaX-0005vi-00 => nocache@example.com R=client T=smtp H=127.0.0.1 [127.0.0.1] ' +
        'X=TLS1.2:ke-RSA-AES256-SHA384:256 CV=no A=plain L C="250 OK id=10HmaY-0005vi-00"',
      '1999-03-02 09:44:33 10HmaX-0005vi-00 Completed',
    );
    expect(results).toEqual(['skipped', 'skipped', 'skipped']);
    expect(events).toEqual([]);
  });

  it('emits a message without Completed after a week', () => {
    const { feed, exim, messages } = correlator();
    feed(ARRIVAL, DELIVERED, DEFERRED);
    feed('2026-12-11 19:01:29 Start queue run: pid=1');
    expect(messages()).toEqual([]);

    // Stale state is looked at once a minute of log time.
    feed('2026-12-11 19:02:30 Start queue run: pid=2');
    expect(messages().map((m) => [m.queueId, m.recipients])).toEqual([[ID, 1]]);
    expect(exim.counters.evictedMessages).toBe(1);
  });

  it('emits what waits at finish', () => {
    const { feed, exim, messages, failures } = correlator();
    feed(
      ARRIVAL,
      DELIVERED,
      '2026-12-04 19:01:40 [40001] plain_server authenticator failed for (c) [192.0.2.61]:46213: ' +
        '535 Incorrect authentication data (set_id=scanner@example.com)',
    );
    exim.finish();
    expect(messages().map((m) => m.recipients)).toEqual([1]);
    expect(failures().map((f) => [f.attemptedUsername, f.tlsProtocol])).toEqual([
      ['scanner@example.com', 'unknown'],
    ]);
    expect(exim.counters.failuresWithoutTls).toBe(1);
  });

  it('reads the lab log exactly', () => {
    const { feed, messages, exim } = correlator();
    feed(...fixture('lab-submission.log'));

    const s11 = messages().filter((m) => m.queueId.startsWith('1xZYQd-0006MG-'));
    expect(s11).toEqual([
      {
        kind: 'message',
        time: Date.parse('2026-12-04T18:54:43Z'),
        server: 'mx.example.com',
        service: 'exim',
        queueId: '1xZYQd-0006MG-0T',
        account: 'user1@example.com',
        saslMethod: 'LOGIN',
        saslMechanism: 'LOGIN',
        senderAddress: 'user1@example.com',
        clientIp: '192.0.2.4',
        clientName: 'unknown',
        helo: 'client-4.example.com',
        tlsProtocol: 'none',
        tlsEvidence: 'no-line',
        tlsCipher: null,
        recipients: 2,
        size: 311,
      },
      {
        kind: 'message',
        time: Date.parse('2026-12-04T18:54:43Z'),
        server: 'mx.example.com',
        service: 'exim',
        queueId: '1xZYQd-0006MG-0l',
        account: 'user1@example.com',
        saslMethod: 'LOGIN',
        saslMechanism: 'LOGIN',
        senderAddress: 'user1@example.com',
        clientIp: '192.0.2.4',
        clientName: 'unknown',
        helo: 'client-4.example.com',
        tlsProtocol: 'none',
        tlsEvidence: 'no-line',
        tlsCipher: null,
        // dup, dup, other: two unique recipients.
        recipients: 2,
        size: 309,
      },
    ]);

    const tls = messages().map((m) => m.tlsProtocol);
    expect(tls.filter((t) => t === 'TLSv1')).toHaveLength(1);
    expect(tls.filter((t) => t === 'TLSv1.1')).toHaveLength(3);
    expect(tls.filter((t) => t === 'TLSv1.2')).toHaveLength(4);
    expect(tls.filter((t) => t === 'TLSv1.3')).toHaveLength(6);
    expect(tls.filter((t) => t === 'none')).toHaveLength(4);
    expect(exim.counters.authOnlySessions).toBe(1);
  });
});

const FAILURE_LINE = (pid: string, ip: string, user: string) =>
  `2026-12-04 19:01:30 ${pid}plain_server authenticator failed for (client.example.com) [${ip}]:46213 ` +
  `I=[192.0.2.1]:587: 535 Incorrect authentication data (set_id=${user})`;
const NO_MAIL_LINE = (pid: string, ip: string, time = '19:01:30') =>
  `2026-12-04 ${time} ${pid}no MAIL in SMTP connection from (client.example.com) [${ip}]:46213 ` +
  'I=[192.0.2.1]:587 D=0.005s X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no C=EHLO,STARTTLS,EHLO,AUTH,QUIT';
const CLOSED_LINE = (pid: string, ip: string, time = '19:01:30') =>
  `2026-12-04 ${time} ${pid}SMTP connection from (client.example.com) [${ip}]:46213 I=[192.0.2.1]:587 closed by QUIT`;

describe('exim failed logins', () => {
  it('emits at once without a pid', () => {
    const { feed, events } = correlator();
    feed(FAILURE_LINE('', '192.0.2.61', 'scanner@example.com'));
    expect(events).toEqual([
      {
        kind: 'failure',
        time: Date.parse('2026-12-04T19:01:30Z'),
        server: 'mx.example.com',
        service: 'exim',
        attemptedUsername: 'scanner@example.com',
        saslMethod: 'plain_server',
        saslMechanism: 'PLAIN',
        clientIp: '192.0.2.61',
        clientName: 'unknown',
        tlsProtocol: 'unknown',
        tlsEvidence: 'not-seen',
        reason: '535 Incorrect authentication data',
      },
    ]);
  });

  it('takes TLS from the no MAIL line of its session', () => {
    const { feed, failures, exim } = correlator();
    feed(
      FAILURE_LINE('[300] ', '192.0.2.64', 'ghost@example.com'),
      FAILURE_LINE('[300] ', '192.0.2.64', 'nosuch@example.org'),
      CLOSED_LINE('[300] ', '192.0.2.64'),
    );
    expect(failures()).toEqual([]);

    feed(NO_MAIL_LINE('[300] ', '192.0.2.64'));
    expect(failures().map((f) => [f.attemptedUsername, f.tlsProtocol, f.tlsEvidence])).toEqual([
      ['ghost@example.com', 'TLSv1.3', 'line'],
      ['nosuch@example.org', 'TLSv1.3', 'line'],
    ]);
    expect(exim.counters.failuresWithoutTls).toBe(0);
  });

  it('takes TLS from the arrival of its session', () => {
    const { feed, failures } = correlator();
    feed(FAILURE_LINE('[30325] ', '192.0.2.52', 'alerts@example.org'), ARRIVAL);
    expect(failures().map((f) => [f.tlsProtocol, f.tlsEvidence])).toEqual([['TLSv1.2', 'line']]);
  });

  it('takes no TLS from another client on a reused pid', () => {
    const { feed, failures } = correlator();
    feed(FAILURE_LINE('[30325] ', '192.0.2.99', 'alerts@example.org'), ARRIVAL);
    expect(failures().map((f) => f.tlsProtocol)).toEqual(['unknown']);
  });

  it('takes no TLS from an arrival after the session closed', () => {
    const { feed, failures } = correlator();
    feed(
      FAILURE_LINE('[30325] ', '192.0.2.52', 'alerts@example.org'),
      CLOSED_LINE('[30325] ', '192.0.2.52'),
      ARRIVAL,
    );
    expect(failures().map((f) => f.tlsProtocol)).toEqual(['unknown']);
  });

  it('gives up a minute after the session closed', () => {
    const { feed, failures, exim } = correlator();
    feed(
      FAILURE_LINE('[300] ', '192.0.2.64', 'ghost@example.com'),
      CLOSED_LINE('[300] ', '192.0.2.64'),
    );
    feed('2026-12-04 19:02:00 Start queue run: pid=1');
    expect(failures()).toEqual([]);

    feed('2026-12-04 19:02:31 Start queue run: pid=2');
    expect(failures().map((f) => f.tlsProtocol)).toEqual(['unknown']);
    expect(exim.counters.failuresWithoutTls).toBe(1);
  });

  it('gives up an open session after an hour', () => {
    const { feed, failures } = correlator();
    feed(FAILURE_LINE('[300] ', '192.0.2.64', 'ghost@example.com'));
    feed('2026-12-04 20:01:29 Start queue run: pid=1');
    expect(failures()).toEqual([]);
    // Stale state is looked at once a minute of log time.
    feed('2026-12-04 20:02:30 Start queue run: pid=2');
    expect(failures()).toHaveLength(1);
  });

  it('keeps a waiting failure in the snapshot', () => {
    const first = correlator();
    first.feed(FAILURE_LINE('[300] ', '192.0.2.64', 'ghost@example.com'));

    const second = reopen(first.exim);
    second.feed(NO_MAIL_LINE('[300] ', '192.0.2.64'));
    expect(first.events).toEqual([]);
    expect(second.failures().map((f) => [f.attemptedUsername, f.tlsProtocol])).toEqual([
      ['ghost@example.com', 'TLSv1.3'],
    ]);
  });

  it('counts no failed login for other replies', () => {
    const { feed, events, exim } = correlator();
    const results = feed(
      '2026-12-04 19:01:30 defer authenticator failed for (c) [192.0.2.1] U=CALLER: ' +
        '435 Unable to authenticate at present (set_id=userx): account suspended',
      '2026-12-04 19:01:30 login_server authenticator failed for (c) [192.0.2.69]:35273: 501 Authentication cancelled',
      '2026-12-04 19:01:30 plain authenticator failed for (c) [192.0.2.1]: 501 Invalid base64 data',
      '2026-12-04 19:01:30 [7513] SMTP protocol error in "AUTH LOGIN" H=(ylmf-pc) [192.0.2.24]:60723 ' +
        'I=[192.0.2.25]:587 AUTH command used when not advertised',
    );
    expect(results).toEqual(['used', 'used', 'used', 'skipped']);
    expect(events).toEqual([]);
    expect(exim.counters.authTemporaryErrors).toBe(1);
    expect(exim.counters.authAborted).toBe(2);
  });

  it('counts a session that only authenticated', () => {
    const { feed, events, exim } = correlator();
    const results = feed(
      '2026-12-04 19:01:30 [30319] no MAIL in SMTP connection from (c) [192.0.2.52]:39859 ' +
        'D=0.008s A=plain_server:alerts@example.org X=TLS1.2:c:256 CV=no C=EHLO,STARTTLS,EHLO,AUTH,QUIT',
      NO_MAIL_LINE('[30320] ', '192.0.2.53'),
    );
    expect(results).toEqual(['used', 'skipped']);
    expect(events).toEqual([]);
    expect(exim.counters.authOnlySessions).toBe(1);
  });
});

describe('exim state', () => {
  it('rejects a state it cannot read', () => {
    const { exim } = correlator();
    expect(() => exim.restore(null)).toThrow('invalid Exim correlator state');
    expect(() => exim.restore({ version: 2, pending: [], sessions: [], early: [] })).toThrow(
      'invalid Exim correlator state',
    );
  });

  it('restores an empty state', () => {
    const { exim } = correlator();
    exim.restore({ version: 1, newestTime: 0, pending: [], sessions: [], early: [] });
    expect(exim.snapshot()).toEqual({
      version: 1,
      newestTime: 0,
      pending: [],
      sessions: [],
      early: [],
    });
  });
});
