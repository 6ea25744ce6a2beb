import { describe, expect, it } from 'vitest';

import { recipientOfDelivery } from '../../src/parsers/exim/delivery.js';
import { parseEximLine, type EximRecord } from '../../src/parsers/exim/index.js';
import { SKIPPED, UNSUPPORTED } from '../../src/parsers/result.js';
import { ZoneConverter } from '../../src/time.js';

const utc = new ZoneConverter('UTC');
const T = '2026-12-04 15:19:11';

function record<K extends EximRecord['type']>(
  line: string,
  type: K,
): Extract<EximRecord, { type: K }> {
  const result = parseEximLine(line, utc);
  expect(typeof result === 'object' && 'type' in result ? result.type : result).toBe(type);
  return result as Extract<EximRecord, { type: K }>;
}

describe('exim arrival lines', () => {
  it('reads a GnuTLS arrival with port and interface', () => {
    const line =
      `${T}.636 +0530 [30271] 1xZYXB-0007sF-22 <= scanner@example.com ` +
      'H=(client-51.example.com) [192.0.2.51]:34089 I=[192.0.2.1]:14587 P=esmtpsa ' +
      'X=TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=no ' +
      'A=plain_server:scanner@example.com S=484 id=submission-tls13-plain.1@e2e.example.com';
    const { header, arrival } = record(line, 'arrival');

    expect(header).toEqual({
      time: Date.parse('2026-12-04T09:49:11.636Z'),
      pid: 30271,
      messageId: '1xZYXB-0007sF-22',
      bodyStart: 55,
    });
    expect(arrival).toEqual({
      senderAddress: 'scanner@example.com',
      host: { name: null, helo: 'client-51.example.com', ip: '192.0.2.51', port: 34089, end: 122 },
      protocol: 'esmtpsa',
      authenticator: 'plain_server',
      account: 'scanner@example.com',
      tls: {
        tlsProtocol: 'TLSv1.3',
        tlsEvidence: 'line',
        tlsCipher: 'ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM',
      },
      size: 484,
      recipients: null,
    });
  });

  it('reads an OpenSSL arrival with SNI and IPv6', () => {
    const line =
      `${T} 1vnYk1-0033BQ-1E <= user@example.com H=(smtpclient.example.com) [2001:db8::3] ` +
      'P=esmtpsa X=TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=no SNI=mail.example.com ' +
      'A=dovecot_plain:user@example.com S=3573121';
    const { arrival } = record(line, 'arrival');
    expect(arrival.host.ip).toBe('2001:db8::3');
    expect(arrival.tls.tlsProtocol).toBe('TLSv1.2');
    expect(arrival.authenticator).toBe('dovecot_plain');
    expect(arrival.account).toBe('user@example.com');
    expect(arrival.size).toBe(3573121);
  });

  it('reads an arrival without TLS', () => {
    const line =
      `${T} 1xZYXB-0007sb-2N <= printer@example.com H=(client-54.example.com) [192.0.2.54] ` +
      'P=esmtpa A=plain_server:printer S=416 id=a@example.com';
    const { arrival } = record(line, 'arrival');
    expect(arrival.tls).toEqual({ tlsProtocol: 'none', tlsEvidence: 'no-line', tlsCipher: null });
  });

  it('reads TLS without X= from the protocol', () => {
    const line = `${T} 1xZYXB-0007sb-2N <= a@example.com H=[192.0.2.54] P=esmtpsa A=p:a S=1`;
    const { arrival } = record(line, 'arrival');
    expect(arrival.tls).toEqual({
      tlsProtocol: 'unknown',
      tlsEvidence: 'starttls',
      tlsCipher: null,
    });
  });

  it('reads SMTPUTF8 and a fake reject', () => {
    const line =
      `${T} 1xZYXB-0007sb-2N (= a@example.com H=[192.0.2.54] P=utf8esmtpsa ` +
      'X=TLS1.2:c:128 A=login_server:ä@example.com S=1';
    const { arrival } = record(line, 'arrival');
    expect(arrival.protocol).toBe('utf8esmtpsa');
    expect(arrival.account).toBe('ä@example.com');
  });

  it('reads the extra fields of the test suite', () => {
    const line =
      '1999-03-02 09:44:33 10HmbC-0005vi-00 <= CALLER@mx.example.com H=localhost (mx.example.com) ' +
      '[127.0.0.1] P=esmtpsa L. X=TLS1.x:ke-RSA-AES256-SHAnnn:xxx CV=no A=plain:userx K S=sss ' +
      'id=E10HmbB-0005vi-00@mx.example.com for nocache@example.com';
    const { arrival } = record(line, 'arrival');
    expect(arrival.host.name).toBe('localhost');
    expect(arrival.account).toBe('userx');
    expect(arrival.tls.tlsProtocol).toBe('unknown');
    expect(arrival.size).toBe(0);
    expect(arrival.recipients).toEqual(['nocache@example.com']);
  });

  it('reads the null sender and the recipient list after a subject', () => {
    const line =
      `${T} 1xZYXF-0007vS-2E <= <> H=(c.example.com) [192.0.2.53] P=esmtpa ` +
      'A=login_server:alice@example.com S=421 id=x@example.com ' +
      'T="\\"Report\\" for plain (2)" for postmaster@example.org Postmaster@example.org';
    const { arrival } = record(line, 'arrival');
    expect(arrival.senderAddress).toBe('');
    expect(arrival.recipients).toEqual(['postmaster@example.org', 'Postmaster@example.org']);
  });

  it('drops a recipient list the log buffer may have cut', () => {
    const recipients = Array.from({ length: 600 }, (_, i) => `r${i}@example.org`).join(' ');
    const line = `${T} 1xZYXF-0007vS-2E <= a@example.com H=[192.0.2.1] P=esmtpa A=p:a S=1 for ${recipients}`;
    const { arrival } = record(line, 'arrival');
    expect(arrival.recipients).toBeNull();
  });

  it.each([
    `${T} 1xZYXB-0007sb-2N <= a@example.com H=[192.0.2.54] P=esmtp S=416`,
    `${T} 1xZYXB-0007sb-2N <= a@example.com H=[192.0.2.54] P=esmtps X=TLS1.3:c:256 S=416 T="A=x:y"`,
    `${T} 1xZYXC-0007tG-1e <= <> R=1xZYXC-0007tA-1a U=Debian-exim P=local S=1754`,
  ])('skips an arrival without AUTH: %s', (line) => {
    expect(parseEximLine(line, utc)).toBe(SKIPPED);
  });

  it.each([
    `${T} 10HmaZ-000000005vi-0000 <= u@example.org H=(c) [192.0.2.3] U=CALLER P=esmtpa A=mylogin S=1`,
    `${T} 10HmaZ-000000005vi-0000 <= u@example.org U=root P=local-esmtpa A=plain:root S=1`,
  ])('does not read an arrival without login or host: %s', (line) => {
    expect(parseEximLine(line, utc)).toBe(UNSUPPORTED);
  });

  it('reports an authenticated arrival without a host', () => {
    const line = `${T} 10HmaZ-000000005vi-0000 <= u@example.org P=esmtpa A=plain:u S=1`;
    expect(parseEximLine(line, utc)).toEqual({ malformed: 'arrival without H=[ip]' });
  });
});

describe('exim delivery lines', () => {
  it.each([
    ['=> :blackhole: <ops@example.org> R=discard_everything', 'ops@example.org'],
    ['=> alice <team@lists.example.org> R=batch_mailbox T=batch_file', 'team@lists.example.org'],
    ['-> carol <Carol@Batch.Example.ORG> R=batch_mailbox T=batch_file', 'carol@batch.example.org'],
    [
      '=> bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [192.0.2.25] C="250 <x@y> OK"',
      'bob@example.net',
    ],
    [
      '=> |/usr/bin/vacation a@example.org (a@example.org) <a@example.org> R=v T=pipe',
      'a@example.org',
    ],
    [
      '=> a++b@example.org (a++B@example.org, c@example.net) <c@example.net> F=<s@example.com> P=<> R=lmtp T=lmtp',
      'c@example.net',
    ],
    [
      '** ghost@nowhere.example.net R=unknown_mailbox: no such mailbox',
      'ghost@nowhere.example.net',
    ],
    ['** ghost@example.net: Unrouteable address', 'ghost@example.net'],
    ['** x <ghost@example.net>: Unrouteable address', 'ghost@example.net'],
    ['*> bob@example.net R=dnslookup T=remote_smtp', 'bob@example.net'],
    [
      '=> nocache@example.com R=client T=smtp H=127.0.0.1 [127.0.0.1] X=TLS1.2:c:1 CV=no A=plain L C="250 OK"',
      'nocache@example.com',
    ],
    ['=> blackhole (DATA ACL discarded recipients)', null],
    ['** ', null],
  ])('%s', (body, recipient) => {
    expect(recipientOfDelivery(body, 3)).toBe(recipient);
  });

  it('keeps the flag and where the address starts', () => {
    const line = `${T} 1xZYXC-0007t7-1X == report@later.example.net R=deliver_later defer (-1): held`;
    const delivery = record(line, 'delivery');
    expect(delivery.flag).toBe('==');
    expect(line.substring(delivery.addressStart)).toMatch(/^report@later/);
  });

  it.each([`${T} 1xZYXC-0007t7-1X Completed`, `${T} [42] 1xZYXC-0007t7-1X Completed QT=2s`])(
    'reads %s',
    (line) => {
      record(line, 'completed');
    },
  );

  it.each([
    `${T} 1xZYXC-0007t7-1X Completedly`,
    `${T} 1xZYXC-0007t7-1X removed by root`,
    `${T} 1xZYXC-0007t7-1X Message is frozen`,
    `${T} 1xZYXC-0007t7-1X **x`,
  ])('skips %s', (line) => {
    expect(parseEximLine(line, utc)).toBe(SKIPPED);
  });
});

describe('exim failed logins', () => {
  it.each([
    {
      line: `${T} [30331] plain_server authenticator failed for (client-61.example.com) [192.0.2.61]:46213 I=[192.0.2.1]:14587: 535 Incorrect authentication data (set_id=scanner@example.com)`,
      failure: {
        authenticator: 'plain_server',
        ip: '192.0.2.61',
        outcome: 'rejected',
        reason: '535 Incorrect authentication data',
        attemptedUsername: 'scanner@example.com',
      },
    },
    {
      line: `${T} login authenticator failed for host-1.example.net ([198.51.100.2]) [198.51.100.1]: 535 Incorrect authentication data (set_id=brian)`,
      failure: {
        authenticator: 'login',
        ip: '198.51.100.1',
        outcome: 'rejected',
        reason: '535 Incorrect authentication data',
        attemptedUsername: 'brian',
      },
    },
    {
      line: `${T} login authenticator failed for (ylmf-pc) [198.51.100.3]: 535 Incorrect authentication data: 1 Time(s)`,
      failure: {
        authenticator: 'login',
        ip: '198.51.100.3',
        outcome: 'rejected',
        reason: '535 Incorrect authentication data: 1 Time(s)',
        attemptedUsername: null,
      },
    },
    {
      line: `${T} plain authenticator failed for (client.example.net) [192.0.2.1] U=CALLER: 535 Incorrect authentication data (set_id=a (b)): 1 Time(s)`,
      failure: {
        authenticator: 'plain',
        ip: '192.0.2.1',
        outcome: 'rejected',
        reason: '535 Incorrect authentication data',
        attemptedUsername: 'a (b)',
      },
    },
    {
      line: `${T} defer authenticator failed for (client.example.net) [192.0.2.1] U=CALLER: 435 Unable to authenticate at present (set_id=userx): account suspended`,
      failure: {
        authenticator: 'defer',
        ip: '192.0.2.1',
        outcome: 'temporary-error',
        reason: '435 Unable to authenticate at present',
        attemptedUsername: 'userx',
      },
    },
    {
      line: `${T} login_server authenticator failed for (c) [2001:db8::69]:35273 I=[2001:db8::1]:587: 501 Authentication cancelled`,
      failure: {
        authenticator: 'login_server',
        ip: '2001:db8::69',
        outcome: 'aborted',
        reason: '501 Authentication cancelled',
        attemptedUsername: null,
      },
    },
    {
      line: `${T} plain authenticator failed for [192.0.2.1]: 535 Incorrect authentication data (set_id=)`,
      failure: {
        authenticator: 'plain',
        ip: '192.0.2.1',
        outcome: 'rejected',
        reason: '535 Incorrect authentication data',
        attemptedUsername: null,
      },
    },
  ])('$line', ({ line, failure }) => {
    const parsed = record(line, 'auth-failure').failure;
    expect({
      authenticator: parsed.authenticator,
      ip: parsed.host.ip,
      outcome: parsed.outcome,
      reason: parsed.reason,
      attemptedUsername: parsed.attemptedUsername,
    }).toEqual(failure);
  });

  it.each([
    `${T} [7513] SMTP protocol error in "AUTH LOGIN" H=(ylmf-pc) [198.51.100.24]:60723 I=[198.51.100.25]:587 AUTH command used when not advertised`,
    `${T} H=(client-70.example.com) [192.0.2.70] F=<a@example.com> rejected RCPT <v@example.net>: Relay access denied`,
    `${T} x authenticator failed for`,
  ])('skips %s', (line) => {
    expect(parseEximLine(line, utc)).toBe(SKIPPED);
  });

  it.each([
    [`${T} plain authenticator failed for nothing: 535 x`, 'authenticator failure without [ip]'],
    [
      `${T} plain authenticator failed for [192.0.2.1] 535 x`,
      'authenticator failure without a reply after the host',
    ],
  ])('reports %s', (line, reason) => {
    expect(parseEximLine(line, utc)).toEqual({ malformed: reason });
  });
});

describe('exim session lines', () => {
  it('reads an auth-only session', () => {
    const line =
      `${T} [30319] no MAIL in SMTP connection from (c.example.com) [192.0.2.52]:39859 ` +
      'I=[192.0.2.1]:14587 D=0.008s A=plain_server:alerts@example.org ' +
      'X=TLS1.2:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256 CV=no C=EHLO,STARTTLS,EHLO,AUTH,QUIT';
    const { noMail } = record(line, 'no-mail');
    expect(noMail.host.ip).toBe('192.0.2.52');
    expect(noMail.account).toBe('alerts@example.org');
    expect(noMail.tls.tlsProtocol).toBe('TLSv1.2');
  });

  it.each([
    ['D=21s C=EHLO,STARTTLS', 'unknown'],
    ['D=10s', 'none'],
    ['D=0.201s C=EHLO,AUTH,QUIT', 'none'],
  ])('reads TLS of a session without X= from %s', (fields, tlsProtocol) => {
    const line = `${T} [5718] no MAIL in TFO SMTP connection from h.example.net [192.0.2.27]:28890 ${fields}`;
    const { noMail } = record(line, 'no-mail');
    expect(noMail.account).toBeNull();
    expect(noMail.tls.tlsProtocol).toBe(tlsProtocol);
  });

  it.each([
    `${T} [30271] SMTP connection from (c.example.com) [192.0.2.51]:34089 I=[192.0.2.1]:14587 closed by QUIT`,
    `${T} [19591] SMTP call from h.example.net [192.0.2.12]:3767 I=[192.0.2.9]:25 dropped: too many nonmail commands (last was "RSET")`,
    `${T} [25874] 1ahr79-0006jK-G9 SMTP connection from (h.example.net) [192.0.2.29]:44884 I=[192.0.2.25]:25 closed by DROP in ACL`,
  ])('reads a session end: %s', (line) => {
    expect(record(line, 'session-end').host.ip).toMatch(/^192\.0\.2\./);
  });

  it.each([
    `${T} [30244] SMTP connection from [192.0.2.51]:34089 I=[192.0.2.1]:14587 (TCP/IP connection count = 1)`,
    `${T} SMTP connection from (c.example.com) [192.0.2.51]:34089 closed by QUIT`,
  ])('skips %s', (line) => {
    expect(parseEximLine(line, utc)).toBe(SKIPPED);
  });
});

describe('exim line framing', () => {
  it.each(['', '  continued entry', '\tcontinued entry'])('skips %j', (line) => {
    expect(parseEximLine(line, utc)).toBe(SKIPPED);
  });

  it('reports a line without a time stamp', () => {
    expect(parseEximLine('******** SERVER ********', utc)).toEqual({
      malformed: 'no Exim time stamp (YYYY-MM-DD HH:MM:SS) at the start',
    });
  });
});
