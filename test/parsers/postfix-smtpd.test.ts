import { describe, expect, it } from 'vitest';

import { hasSaslMethod, parseSmtpd, TlsLineReader } from '../../src/parsers/postfix/smtpd.js';
import { isMalformed, SKIPPED } from '../../src/parsers/result.js';

/** Parse an smtpd payload (the text after `postfix/smtpd[pid]: `). */
function parse(payload: string) {
  const bytes = Buffer.from(payload);
  return parseSmtpd({ text: bytes.toString('latin1'), bytes, base: 0 });
}

describe('postfix smtpd parser', () => {
  it.each([
    [
      'connect from unknown[192.0.2.1]',
      { type: 'connect', clientName: 'unknown', clientIp: '192.0.2.1' },
    ],
    [
      'connect from client.example.org[2001:db8::25]',
      { type: 'connect', clientName: 'client.example.org', clientIp: '2001:db8::25' },
    ],
    [
      'disconnect from unknown[192.0.2.1] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8',
      { type: 'disconnect', starttls: 1 },
    ],
    [
      'disconnect from unknown[192.0.2.1] ehlo=1 auth=0/1 rset=1 quit=1 commands=3/4',
      { type: 'disconnect', starttls: 0 },
    ],
    ['disconnect from unknown[192.0.2.1]', { type: 'disconnect', starttls: 0 }],
  ])('%s', (payload, expected) => {
    expect(parse(payload)).toEqual(expected);
  });

  it.each([
    [
      'Anonymous TLS connection established from unknown[192.0.2.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256',
      'TLSv1.3',
      'TLS_AES_256_GCM_SHA384',
    ],
    [
      'Anonymous TLS connection established from unknown[192.0.2.2]: TLSv1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)',
      'TLSv1',
      'ECDHE-RSA-AES256-SHA',
    ],
    [
      'Untrusted TLS connection established from host.example.org[192.0.2.3]: TLSv1.2 with cipher ADH-AES256-GCM-SHA384 (256/256 bits)',
      'TLSv1.2',
      'ADH-AES256-GCM-SHA384',
    ],
    [
      'Trusted TLS connection established from host.example.org[192.0.2.3]: TLSv1.1 with cipher ECDHE-RSA-AES256-SHA (256/256 bits)',
      'TLSv1.1',
      'ECDHE-RSA-AES256-SHA',
    ],
    [
      'Verified TLS connection established from host.example.org[2001:db8::3]: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)',
      'TLSv1.2',
      'ECDHE-RSA-AES256-GCM-SHA384',
    ],
    // Postfix before 2.5 wrote no trust prefix.
    [
      'TLS connection established from client.example.org[192.0.2.4]: TLSv1 with cipher DHE-RSA-AES256-SHA (256/256 bits)',
      'TLSv1',
      'DHE-RSA-AES256-SHA',
    ],
    [
      'Anonymous TLS connection established from unknown[192.0.2.5]: SSLv3 with cipher DHE-RSA-AES256-SHA (256/256 bits)',
      'unknown',
      'DHE-RSA-AES256-SHA',
    ],
  ])('%s', (payload, tlsProtocol, cipher) => {
    expect(parse(payload)).toEqual({ type: 'tls', tlsProtocol, cipher });
  });

  it.each([
    [
      '07C56160641: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=scanner@example.org',
      {
        queueId: '07C56160641',
        clientIp: '192.0.2.1',
        saslMethod: 'PLAIN',
        saslUsername: 'scanner@example.org',
      },
    ],
    [
      '838FC8A5F: client=unknown[2001:db8::1:2:3:4], sasl_method=PLAIN, sasl_username=out@example.org',
      {
        queueId: '838FC8A5F',
        clientIp: '2001:db8::1:2:3:4',
        saslMethod: 'PLAIN',
        saslUsername: 'out@example.org',
      },
    ],
    [
      'EFC962C4C1: client=host.example.com[192.0.2.9], sasl_method=LOGIN, sasl_username=user@example.com, sasl_sender=<id352ib@example.net>',
      {
        queueId: 'EFC962C4C1',
        clientIp: '192.0.2.9',
        saslMethod: 'LOGIN',
        saslUsername: 'user@example.com',
      },
    ],
    [
      '4dTq2B6Ghwz9vYW: client=unknown[192.0.2.7], sasl_method=XOAUTH2, sasl_username=jörg@example.org',
      {
        queueId: '4dTq2B6Ghwz9vYW',
        clientIp: '192.0.2.7',
        saslMethod: 'XOAUTH2',
        saslUsername: 'jörg@example.org',
      },
    ],
  ])('%s', (payload, expected) => {
    expect(parse(payload)).toMatchObject({ type: 'client', ...expected });
  });

  it.each([
    [
      'warning: unknown[192.0.2.152]: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin',
      'LOGIN',
      'admin',
      '(reason unavailable)',
    ],
    [
      'warning: host.example.net[192.0.2.3]: SASL CRAM-MD5 authentication failed: PDc3OTEwNTkyNTEyMzA2NDIuMTIyODI1MzA2MUBoZWw+',
      'CRAM-MD5',
      null,
      'PDc3OTEwNTkyNTEyMzA2NDIuMTIyODI1MzA2MUBoZWw+',
    ],
    [
      'warning: unknown[192.0.2.33]: SASL login authentication failed: UGFzc3dvcmQ6',
      'login',
      null,
      'UGFzc3dvcmQ6',
    ],
    ['warning: unknown[192.0.2.34]: SASL Plain authentication failed: ', 'Plain', null, ''],
    ['warning: unknown[192.0.2.35]: SASL PLAIN authentication failed:', 'PLAIN', null, ''],
    [
      'warning: laptop.example.org[192.0.2.2]: SASL PLAIN authentication failed: generic failure',
      'PLAIN',
      null,
      'generic failure',
    ],
    [
      'warning: unknown[192.0.2.36]: SASL LOGIN authentication failed: Password:',
      'LOGIN',
      null,
      'Password:',
    ],
  ])('%s', (payload, saslMethod, attemptedUsername, reason) => {
    expect(parse(payload)).toMatchObject({
      type: 'auth-failure',
      saslMethod,
      attemptedUsername,
      reason,
    });
  });

  it('treats a lost connection to the SASL back end as an outage, not a failed login', () => {
    const result = parse(
      'warning: unknown[192.0.2.1]: SASL LOGIN authentication failed: Connection lost to authentication server',
    );
    expect(result).toEqual({ type: 'auth-backend-error' });
  });

  it.each([
    'warning: SASL authentication failure: Password verification failed',
    'warning: SASL authentication failure: cannot connect to saslauthd server: Permission denied',
    'NOQUEUE: reject: RCPT from unknown[192.0.2.5]: 554 5.7.1 <victim@example.edu>: Relay access denied; from=<spoof@example.org> to=<victim@example.edu> proto=ESMTP helo=<client-5.example.org>',
    'lost connection after AUTH from unknown[192.0.2.9]',
    '1CF582025C: client=relay.example.org[192.0.2.8]',
    'warning: hostname example.org does not resolve to address 192.0.2.1',
  ])('skips %s', (payload) => {
    expect(parse(payload)).toBe(SKIPPED);
  });

  it('reports a client= line without an address as malformed', () => {
    const result = parse('07C56160641: client=unknown, sasl_method=PLAIN, sasl_username=x');
    expect(isMalformed(result)).toBe(true);
  });

  it.each([
    'Anonymous TLS connection established from unknown[192.0.2.1]',
    'Anonymous TLS connection established from unknown[192.0.2.1] TLSv1.3',
    'Anonymous TLS connection established from unknown[192.0.2.1]: TLSv1.3',
    'Anonymous TLS connection established from unknown 192.0.2.1: TLSv1.3 with cipher X y',
  ])('reports the unreadable TLS line %s as malformed', (payload) => {
    expect(isMalformed(parse(payload))).toBe(true);
  });

  it('reads a TLS line without a cipher', () => {
    const result = parse('TLS connection established from unknown[192.0.2.1]: TLSv1.2 ');
    expect(result).toEqual({ type: 'tls', tlsProtocol: 'TLSv1.2', cipher: '' });
  });
});

describe('TLS line reader', () => {
  const line = (cipher: string) =>
    Buffer.from(
      `Anonymous TLS connection established from unknown[192.0.2.1]: TLSv1.3 with cipher ${cipher} (256/256 bits)`,
    );

  it('decodes each cipher once', () => {
    const reader = new TlsLineReader();
    const first = line('TLS_AES_256_GCM_SHA384');
    expect(reader.read(first, 0, first.length)).toBe(true);
    const cipher = reader.cipher;
    const second = line('TLS_AES_256_GCM_SHA384');
    expect(reader.read(second, 0, second.length)).toBe(true);
    expect(reader.cipher).toBe(cipher);
    expect(reader.protocol).toBe('TLSv1.3');
  });

  it('reads a cipher with other bytes as UTF-8', () => {
    const reader = new TlsLineReader();
    const bytes = line('ÄES-256');
    expect(reader.read(bytes, 0, bytes.length)).toBe(true);
    expect(reader.cipher).toBe('ÄES-256');
  });

  it('reads a payload in the middle of a block', () => {
    const reader = new TlsLineReader();
    const payload = line('CHACHA20');
    const block = Buffer.concat([Buffer.from('before\n'), payload, Buffer.from('\nafter')]);
    expect(reader.read(block, 7, 7 + payload.length)).toBe(true);
    expect(reader.cipher).toBe('CHACHA20');
  });
});

describe('sasl_method check on bytes', () => {
  it.each([
    ['07C56160641: client=unknown[192.0.2.1], sasl_method=PLAIN, sasl_username=a', true],
    ['07C56160641: client=unknown[192.0.2.1]', false],
    ['07C56160641: client=unknown[192.0.2.1], sasl_method', false],
  ])('%s', (payload, expected) => {
    const bytes = Buffer.from(`${payload}\n07C56160642: x, sasl_method=PLAIN`);
    expect(hasSaslMethod(bytes, 0, Buffer.byteLength(payload))).toBe(expected);
  });
});
