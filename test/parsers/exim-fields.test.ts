import { describe, expect, it } from 'vitest';

import {
  parseAuthField,
  parseTlsField,
  readFields,
  readFullHost,
} from '../../src/parsers/exim/fields.js';
import { mechanismOfAuthenticator } from '../../src/parsers/exim/mechanism.js';

describe('exim host field', () => {
  it.each([
    {
      text: '(client-51.example.com) [192.0.2.51]:34089 I=[192.0.2.1]:587',
      host: { name: null, helo: 'client-51.example.com', ip: '192.0.2.51', port: 34089 },
      rest: ' I=[192.0.2.1]:587',
    },
    {
      text: 'mail.example.org (helo.example.org) [192.0.2.7] P=esmtpa',
      host: { name: 'mail.example.org', helo: 'helo.example.org', ip: '192.0.2.7', port: null },
      rest: ' P=esmtpa',
    },
    {
      text: 'mail.example.org [192.0.2.7]: 535 x',
      host: { name: 'mail.example.org', helo: null, ip: '192.0.2.7', port: null },
      rest: ': 535 x',
    },
    {
      text: '([192.0.2.102]) [198.51.100.18]: 535 x',
      host: { name: null, helo: '[192.0.2.102]', ip: '198.51.100.18', port: null },
      rest: ': 535 x',
    },
    {
      text: 'host-1.example.net ([127.0.0.1]) [192.0.2.4]:51451: 535',
      host: { name: 'host-1.example.net', helo: '[127.0.0.1]', ip: '192.0.2.4', port: 51451 },
      rest: ': 535',
    },
    {
      text: '(client.example.com) [2001:db8::25]:2525 P=esmtpsa',
      host: { name: null, helo: 'client.example.com', ip: '2001:db8::25', port: 2525 },
      rest: ' P=esmtpsa',
    },
    {
      text: '[2001:db8::1] D=1s',
      host: { name: null, helo: null, ip: '2001:db8::1', port: null },
      rest: ' D=1s',
    },
    {
      text: '(my (odd) helo) [192.0.2.9] U=CALLER',
      host: { name: null, helo: 'my (odd) helo', ip: '192.0.2.9', port: null },
      rest: ' U=CALLER',
    },
  ])('$text', ({ text, host, rest }) => {
    const parsed = readFullHost(text, 0);
    expect(parsed).not.toBeNull();
    const { end, ...fields } = parsed!;
    expect(fields).toEqual(host);
    expect(text.substring(end)).toBe(rest);
  });

  it.each(['(helo only)', 'name-only', 'mail.example.org (helo) 192.0.2.1', '[192.0.2.1'])(
    'rejects %j',
    (text) => {
      expect(readFullHost(text, 0)).toBeNull();
    },
  );
});

describe('exim fields', () => {
  it('reads quoted values with escapes and spaces', () => {
    const text =
      'H=(c.example.com) [192.0.2.1] P=esmtpsa A=plain_server:a@example.com S=473 ' +
      'T="\\"Report\\" for x (1) A=fake" DN="CN=client, O=Example" for ops@example.org it@example.com';
    const fields = readFields(text, 0);
    expect(fields.host?.ip).toBe('192.0.2.1');
    expect(fields.values.get('T')).toBe('"Report" for x (1) A=fake');
    expect(fields.values.get('DN')).toBe('CN=client, O=Example');
    expect(fields.values.get('A')).toBe('plain_server:a@example.com');
    expect(fields.values.get('S')).toBe('473');
    expect(fields.recipients).toEqual(['ops@example.org', 'it@example.com']);
  });

  it('skips the raw sender before the recipients', () => {
    const fields = readFields('P=esmtpa A=x:y S=1 from <b@example.com> for a@example.org', 0);
    expect(fields.values.has('from')).toBe(false);
    expect(fields.recipients).toEqual(['a@example.org']);
  });

  it('keeps the first of repeated keys', () => {
    const fields = readFields('P=esmtpsa L. X=TLS1.2:c:128 CV=no A=plain:u K S=9 X=other', 0);
    expect(fields.values.get('X')).toBe('TLS1.2:c:128');
    expect(fields.values.get('A')).toBe('plain:u');
    expect(fields.recipients).toBeNull();
  });

  it('reads an unterminated quote to the end', () => {
    const fields = readFields('S=1 T="cut off for a', 0);
    expect(fields.values.get('T')).toBe('"cut off for a');
    expect(fields.recipients).toBeNull();
  });
});

describe('exim TLS field', () => {
  it.each([
    [
      'TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256',
      'TLSv1.3',
      'ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM',
    ],
    [
      'TLS1.2:ECDHE_SECP256R1__RSA_SHA256__AES_128_GCM:128',
      'TLSv1.2',
      'ECDHE_SECP256R1__RSA_SHA256__AES_128_GCM',
    ],
    [
      'TLS1.1:ECDHE_X25519__RSA_SHA1__AES_256_CBC__SHA1:256',
      'TLSv1.1',
      'ECDHE_X25519__RSA_SHA1__AES_256_CBC__SHA1',
    ],
    [
      'TLS1.0:ECDHE_X25519__RSA_SHA1__AES_256_CBC__SHA1:256',
      'TLSv1',
      'ECDHE_X25519__RSA_SHA1__AES_256_CBC__SHA1',
    ],
    ['TLSv1.3:TLS_AES_256_GCM_SHA384:256', 'TLSv1.3', 'TLS_AES_256_GCM_SHA384'],
    ['TLSv1.2:ECDHE-RSA-AES256-GCM-SHA384:256', 'TLSv1.2', 'ECDHE-RSA-AES256-GCM-SHA384'],
    ['TLSv1.1:ECDHE-RSA-AES256-SHA:256', 'TLSv1.1', 'ECDHE-RSA-AES256-SHA'],
    ['TLSv1:DHE-RSA-AES256-SHA:256', 'TLSv1', 'DHE-RSA-AES256-SHA'],
    ['SSLv3:DES-CBC3-SHA:168', 'unknown', 'DES-CBC3-SHA'],
    ['TLS1.x:ke-RSA-AES256-SHAnnn:xxx', 'unknown', 'ke-RSA-AES256-SHAnnn'],
    ['TLS1.2', 'TLSv1.2', null],
  ])('%s', (value, tlsProtocol, tlsCipher) => {
    expect(parseTlsField(value)).toEqual({ tlsProtocol, tlsEvidence: 'line', tlsCipher });
  });
});

describe('exim A= field', () => {
  it.each([
    ['plain_server:scanner@example.com', 'plain_server', 'scanner@example.com'],
    ['dovecot_login:user@example.com', 'dovecot_login', 'user@example.com'],
    ['PLAIN:printer', 'PLAIN', 'printer'],
    ['mylogin', 'mylogin', null],
    ['plain:userx:sender@example.org', 'plain', 'userx'],
    ['plain:userx:<>', 'plain', 'userx'],
    ['plain:domain:user', 'plain', 'domain:user'],
    ['tls:server2.example.org', 'tls', 'server2.example.org'],
  ])('%s', (value, authenticator, id) => {
    expect(parseAuthField(value)).toEqual({ authenticator, id });
  });
});

describe('exim authenticator names', () => {
  it.each([
    ['plain_server', 'PLAIN'],
    ['login_server', 'LOGIN'],
    ['cram_md5_server', 'CRAM-MD5'],
    ['plain_saslauthd_server', 'PLAIN'],
    ['login_saslauthd_server', 'LOGIN'],
    ['dovecot_plain', 'PLAIN'],
    ['dovecot_login', 'LOGIN'],
    ['auth_plain', 'PLAIN'],
    ['auth_login', 'LOGIN'],
    ['fixed_plain', 'PLAIN'],
    ['expanded_prompt_plain', 'PLAIN'],
    ['PLAIN', 'PLAIN'],
    ['LOGIN', 'LOGIN'],
    ['plain', 'PLAIN'],
    ['CRAM-MD5', 'CRAM-MD5'],
    ['cram_md5', 'CRAM-MD5'],
    ['crammd5', 'CRAM-MD5'],
    ['digest_md5_server', 'DIGEST-MD5'],
    ['spa_server', 'NTLM'],
    ['heimdal_gssapi_server', 'GSSAPI'],
    ['scram_sha_256_server', 'SCRAM-SHA-256'],
    ['dovecot_xoauth2', 'XOAUTH2'],
    ['mylogin', 'MYLOGIN'],
    ['plain_or_login', 'PLAIN_OR_LOGIN'],
    ['defer', 'DEFER'],
  ])('%s is %s', (name, mechanism) => {
    expect(mechanismOfAuthenticator(name)).toBe(mechanism);
  });
});
