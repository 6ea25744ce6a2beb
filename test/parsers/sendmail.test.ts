import { describe, expect, it } from 'vitest';

import { SKIPPED } from '../../src/parsers/result.js';
import { parseRelay } from '../../src/parsers/sendmail/relay.js';
import { parseSendmail } from '../../src/parsers/sendmail/sm-mta.js';

describe('sendmail relay=', () => {
  it.each([
    ['[192.0.2.1]', { name: '', ip: '192.0.2.1' }],
    ['client.example.org [192.0.2.21]', { name: 'client.example.org', ip: '192.0.2.21' }],
    [
      'dsl.example.net [203.0.113.4] (may be forged)',
      { name: 'dsl.example.net', ip: '203.0.113.4' },
    ],
    ['[IPv6:2001:db8::bbbb]', { name: '', ip: '2001:db8::bbbb' }],
    ['ident@host.example.org [192.0.2.7]', { name: 'host.example.org', ip: '192.0.2.7' }],
    ['root@localhost', { name: 'localhost', ip: '' }],
  ])('%s', (value, expected) => {
    expect(parseRelay(value)).toEqual(expected);
  });
});

describe('sendmail daemon lines', () => {
  it.each([
    [
      'STARTTLS=server, relay=[192.0.2.11], version=TLSv1.2, verify=NOT, cipher=ECDHE-RSA-AES256-GCM-SHA384, bits=256/256',
      {
        type: 'starttls',
        relay: { name: '', ip: '192.0.2.11' },
        version: 'TLSv1.2',
        cipher: 'ECDHE-RSA-AES256-GCM-SHA384',
      },
    ],
    [
      '221820LG031423: STARTTLS=server, relay=client.example.org [192.0.2.21], version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256',
      {
        type: 'starttls',
        relay: { name: 'client.example.org', ip: '192.0.2.21' },
        version: 'TLSv1.3',
        cipher: 'TLS_AES_256_GCM_SHA384',
      },
    ],
    [
      'STARTTLS=server, relay=dsl.example.net [203.0.113.25], version=TLSv1/SSLv3, verify=NO, cipher=AES128-SHA, bits=128/128',
      {
        type: 'starttls',
        relay: { name: 'dsl.example.net', ip: '203.0.113.25' },
        version: 'TLSv1/SSLv3',
        cipher: 'AES128-SHA',
      },
    ],
    [
      'AUTH=server, relay=[192.0.2.11], authid=alice@example.com, mech=PLAIN, bits=0',
      {
        type: 'auth',
        relay: { name: '', ip: '192.0.2.11' },
        authid: 'alice@example.com',
        mechanism: 'PLAIN',
      },
    ],
    [
      'AUTH=server, relay=dsl.example.net [203.0.113.4] (may be forged), authid=user, mech=PLAIN, bits=0',
      {
        type: 'auth',
        relay: { name: 'dsl.example.net', ip: '203.0.113.4' },
        authid: 'user',
        mechanism: 'PLAIN',
      },
    ],
    [
      '6B4J7eZR003794: AUTH failure (PLAIN): authentication failure (-13) SASL(-13): authentication failure: Password verification failed, user=scanner@example.com, relay=[192.0.2.21]',
      {
        type: 'auth-failure',
        mechanism: 'PLAIN',
        reason: 'authentication failure',
        user: 'scanner@example.com',
        relay: { name: '', ip: '192.0.2.21' },
      },
    ],
    [
      '06I02CNi016765: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, user=criminal, relay=[192.0.2.100], relay=[192.0.2.4] (may be forged)',
      {
        type: 'auth-failure',
        mechanism: 'LOGIN',
        reason: 'authentication failure',
        user: 'criminal, relay=[192.0.2.100]',
        relay: { name: '', ip: '192.0.2.4' },
      },
    ],
    [
      'x2IKK1aa070001: AUTH failure (LOGIN): authentication failure (-13) SASL(-13): authentication failure: checkpass failed, relay=[192.0.2.70]',
      {
        type: 'auth-failure',
        mechanism: 'LOGIN',
        reason: 'authentication failure',
        user: null,
        relay: { name: '', ip: '192.0.2.70' },
      },
    ],
    [
      '14NNx65Q065815: AUTH failure (CRAM-MD5): user not found (-20) SASL(-13): user not found: user: scan@server.example.com property: userPassword not found in sasldb /usr/local/etc/sasldb2, user=scan, relay=[192.0.2.6]',
      {
        type: 'auth-failure',
        mechanism: 'CRAM-MD5',
        reason: 'user not found',
        user: 'scan',
        relay: { name: '', ip: '192.0.2.6' },
      },
    ],
    [
      '6B4J7dFW003698: from=<scanner@example.com>, size=193, class=0, nrcpts=1, msgid=<submission-tls13-plain.1@example.com>, proto=ESMTPSA, daemon=MSA, relay=[192.0.2.11]',
      {
        type: 'from',
        queueId: '6B4J7dFW003698',
        senderAddress: 'scanner@example.com',
        size: 193,
        recipients: 1,
        msgid: '<submission-tls13-plain.1@example.com>',
        proto: 'ESMTPSA',
        daemon: 'MSA',
        relay: { name: '', ip: '192.0.2.11' },
      },
    ],
    [
      '6B4J7etu003770: from=<>, size=251, class=0, nrcpts=1, msgid=<n.2@example.com>, bodytype=8BITMIME, proto=ESMTPSA, daemon=SMTPS, relay=[192.0.2.14]',
      {
        type: 'from',
        queueId: '6B4J7etu003770',
        senderAddress: '',
        size: 251,
        recipients: 1,
        msgid: '<n.2@example.com>',
        proto: 'ESMTPSA',
        daemon: 'SMTPS',
        relay: { name: '', ip: '192.0.2.14' },
      },
    ],
    [
      '6B4J7ets003770: from=<billing@example.net>, size=0, class=0, nrcpts=1, proto=ESMTPSA, daemon=SMTPS, relay=[192.0.2.14]',
      {
        type: 'from',
        queueId: '6B4J7ets003770',
        senderAddress: 'billing@example.net',
        size: 0,
        recipients: 1,
        msgid: null,
        proto: 'ESMTPSA',
        daemon: 'SMTPS',
        relay: { name: '', ip: '192.0.2.14' },
      },
    ],
    [
      'x2IKU0ab001233: from=root, size=200, class=0, nrcpts=1, msgid=<i9@shadow.example.org>, relay=root@localhost',
      {
        type: 'from',
        queueId: 'x2IKU0ab001233',
        senderAddress: 'root',
        size: 200,
        recipients: 1,
        msgid: '<i9@shadow.example.org>',
        proto: null,
        daemon: null,
        relay: { name: 'localhost', ip: '' },
      },
    ],
    [
      '6B4J1NsN029938: collect: premature EOM: unexpected close',
      { type: 'aborted', queueId: '6B4J1NsN029938' },
    ],
    [
      'x2IGo1ab050001: Milter: data, reject=550 5.7.1 Message rejected by policy',
      { type: 'aborted', queueId: 'x2IGo1ab050001' },
    ],
    [
      '6B4J7eJi003783: [192.0.2.12] did not issue MAIL/EXPN/VRFY/ETRN during connection to MSA',
      { type: 'session-end' },
    ],
    [
      'x3QDO5TG008911: u@host.example.org [198.51.100.33] (may be forged) did not issue MAIL/EXPN/VRFY/ETRN during connection to TLSMTA-v6',
      { type: 'session-end' },
    ],
    [
      '7B3E0001006001: from=<"x>, size=1, class=0, nrcpts=0, y"@example.org>, size=5000, class=0, nrcpts=500, msgid=<r1@example.org>, proto=ESMTPSA, daemon=MSA, relay=[192.0.2.70]',
      {
        type: 'from',
        queueId: '7B3E0001006001',
        senderAddress: '"x>, size=1, class=0, nrcpts=0, y"@example.org',
        size: 5000,
        recipients: 500,
        msgid: '<r1@example.org>',
        proto: 'ESMTPSA',
        daemon: 'MSA',
        relay: { name: '', ip: '192.0.2.70' },
      },
    ],
  ])('%s', (message, expected) => {
    expect(parseSendmail(message)).toEqual(expected);
  });

  it.each([
    'STARTTLS=client, relay=mx.example.net., version=TLSv1.3, verify=FAIL, cipher=TLS_AES_256_GCM_SHA384, bits=256/256',
    'AUTH=client, relay=mx.example.net., mech=PLAIN, bits=0',
    'STARTTLS=server, error: accept failed=-1, reason=unknown protocol, SSL_error=1, errno=0, retry=-1, relay=[192.0.2.9]',
    's1GNXHYB005133: [203.0.113.178]: possible SMTP attack: command=AUTH, count=5',
    'starting daemon (8.17.1.9): SMTP',
    '6B4J1e1l003805: ruleset=check_rcpt, arg1=<victim@example.net>, relay=[192.0.2.30], reject=550 5.7.1 <victim@example.net>... Relaying denied',
    '7B3C0002003002: <"a did not issue MAIL/EXPN/VRFY/ETRN during connection to b"@example.org>... User unknown',
    '7B3C0002003002: ruleset=check_rcpt, arg1=<"x] did not issue MAIL/EXPN/VRFY/ETRN during connection to y"@example.org>, relay=[192.0.2.30], reject=550 5.1.1 User unknown',
  ])('skips %s', (message) => {
    expect(parseSendmail(message)).toBe(SKIPPED);
  });

  it.each([
    ['x2IKe0aa080001: from=<broken@example.org> size=12', 'from= line without size='],
    ['AUTH=server, relay=[192.0.2.80]', 'AUTH=server line without relay=, authid= or mech='],
    ['x2IKK1aa070001: AUTH failure (LOGIN', 'AUTH failure line without a mechanism'],
  ])('reports %s as malformed', (message, reason) => {
    expect(parseSendmail(message)).toEqual({ malformed: reason });
  });
});
