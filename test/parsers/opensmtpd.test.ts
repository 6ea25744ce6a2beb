import { describe, expect, it } from 'vitest';

import { parseOpenSmtpd } from '../../src/parsers/opensmtpd/smtp.js';
import { SKIPPED, UNSUPPORTED } from '../../src/parsers/result.js';

const ID = 'f7a2e6aa567530c9';

describe('opensmtpd smtp lines', () => {
  it.each([
    [
      `${ID} smtp connected address=[::1] host=localhost`,
      { type: 'connected', session: ID, address: '::1', host: 'localhost' },
    ],
    [
      `${ID} smtp connected address=192.0.2.10 host=<unknown>`,
      { type: 'connected', session: ID, address: '192.0.2.10', host: '' },
    ],
    [
      `${ID} smtp tls ciphers=TLSv1.3:TLS_AES_256_GCM_SHA384:256`,
      {
        type: 'tls',
        session: ID,
        version: 'TLSv1.3',
        cipher: 'TLS_AES_256_GCM_SHA384',
        cipherVersion: false,
      },
    ],
    [
      `${ID} smtp tls ciphers=version=TLSv1/SSLv3, cipher=ECDHE-RSA-AES256-SHA, bits=256`,
      {
        type: 'tls',
        session: ID,
        version: 'TLSv1/SSLv3',
        cipher: 'ECDHE-RSA-AES256-SHA',
        cipherVersion: true,
      },
    ],
    [
      `${ID} smtp authentication user=bar result=ok`,
      { type: 'authentication', session: ID, user: 'bar', result: 'ok' },
    ],
    [
      `${ID} smtp authentication user=Bob\\040Smith\\\\x result=permfail`,
      { type: 'authentication', session: ID, user: 'Bob Smith\\x', result: 'permfail' },
    ],
    [
      `${ID} smtp failed-command command="AUTH PLAIN (...)" result="535 Authentication failed"`,
      { type: 'auth-reply', session: ID, mechanism: 'PLAIN' },
    ],
    [
      `${ID} smtp failed-command command="AUTH LOGIN (password)" result="535 Authentication failed"`,
      { type: 'auth-reply', session: ID, mechanism: 'LOGIN' },
    ],
    [
      `${ID} smtp message msgid=78e5c402 size=1118 nrcpt=1 proto=ESMTP`,
      { type: 'message', session: ID, msgid: '78e5c402', size: 1118, recipients: 1 },
    ],
    [
      `${ID} smtp envelope evpid=78e5c402920bcc4f from=<a@example.com> to=<b@example.org>`,
      {
        type: 'envelope',
        session: ID,
        senderAddress: 'a@example.com',
        recipient: 'b@example.org',
      },
    ],
    [
      `${ID} smtp envelope evpid=78e5c402920bcc4f from=<> to=<b@example.org>`,
      { type: 'envelope', session: ID, senderAddress: '', recipient: 'b@example.org' },
    ],
    [`${ID} smtp disconnected reason=quit`, { type: 'disconnected', session: ID }],
    [
      `${ID} smtp disconnected reason="io-error: Connection reset"`,
      { type: 'disconnected', session: ID },
    ],
  ])('%s', (message, expected) => {
    expect(parseOpenSmtpd(message)).toEqual(expected);
  });

  it.each([
    `${ID} smtp failed-command command="RCPT TO:<x@example.net>" result="550 Invalid recipient"`,
    `${ID} smtp cert-check result="unchecked" fingerprint="SHA256:00"`,
    `${ID} mta connecting address=smtp://198.51.100.25:25 host=mx.example.net`,
    'info: OpenSMTPD 7.0.0 starting',
  ])('skips %s', (message) => {
    expect(parseOpenSmtpd(message)).toBe(SKIPPED);
  });

  it.each([
    'smtp-in: Started TLS on session 427e749c2e46f809: version=TLSv1.2, cipher=EDH-RSA-DES-CBC3-SHA, bits=112',
    `${ID} smtp event=authentication user=test address=192.0.2.100 host=host.example.com result=permfail`,
    'smtp event=authentication user=test address=192.0.2.100 host=host.example.com result=permfail',
  ])('reports the older format of %s as unsupported', (message) => {
    expect(parseOpenSmtpd(message)).toBe(UNSUPPORTED);
  });

  it.each([
    [
      `${ID} smtp message msgid=7a size=x nrcpt=1 proto=ESMTP`,
      'smtp message line without msgid=, size= or nrcpt=',
    ],
    [
      `${ID} smtp envelope evpid=1 from=<a@example.com>`,
      'smtp envelope line without from=<...> to=<...>',
    ],
    [`${ID} smtp authentication result=ok`, 'smtp authentication line without user= or result='],
    [`${ID} smtp connected host=localhost`, 'smtp connected line without address='],
  ])('reports %s as malformed', (message, reason) => {
    expect(parseOpenSmtpd(message)).toEqual({ malformed: reason });
  });
});
