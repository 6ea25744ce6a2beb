import { describe, expect, it } from 'vitest';

import { parseDovecotMessage } from '../../src/parsers/dovecot/line.js';
import { SKIPPED } from '../../src/parsers/result.js';

const TLS_12 = {
  tlsProtocol: 'TLSv1.2',
  tlsEvidence: 'line',
  tlsCipher: 'ECDHE-RSA-AES256-GCM-SHA384',
  marker: true,
};

describe('dovecot login lines', () => {
  it.each([
    {
      line: 'submission-login: Info: Login: user=<alice@example.org>, method=PLAIN, rip=203.0.113.2, lip=192.0.2.25, mpid=27866, TLS, TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits), session=<CRJodNNhv5R/AAAC>',
      expected: {
        type: 'login',
        protocol: 'submission',
        user: 'alice@example.org',
        method: 'PLAIN',
        clientIp: '203.0.113.2',
        session: 'CRJodNNhv5R/AAAC',
        tls: TLS_12,
      },
    },
    {
      line: 'submission-login: Login: user=<bob@example.org>, method=LOGIN, rip=2001:db8::7, lip=2001:db8::25, mpid=28343, TLS, session=<DYucddNhnYx/AAAD>',
      expected: {
        type: 'login',
        protocol: 'submission',
        user: 'bob@example.org',
        method: 'LOGIN',
        clientIp: '2001:db8::7',
        session: 'DYucddNhnYx/AAAD',
        tls: { tlsProtocol: 'unknown', tlsEvidence: 'starttls', tlsCipher: null, marker: true },
      },
    },
    {
      line: 'imap-login: Login: user=<carol@example.org>, method=PLAIN, rip=192.0.2.9, lip=192.0.2.9, mpid=17301, secured, session=<DA631X4hKgB/AAAB>',
      expected: {
        type: 'login',
        protocol: 'imap',
        user: 'carol@example.org',
        method: 'PLAIN',
        clientIp: '192.0.2.9',
        session: 'DA631X4hKgB/AAAB',
        tls: { tlsProtocol: 'none', tlsEvidence: 'no-line', tlsCipher: null, marker: true },
      },
    },
    {
      line: 'submission-login: Info: Login: user=<alice@example.org>, method=PLAIN, rip=203.0.113.4, lip=192.0.2.25, mpid=27874, session=<IHBpdNNhY5h/AAAE>',
      expected: {
        type: 'login',
        protocol: 'submission',
        user: 'alice@example.org',
        method: 'PLAIN',
        clientIp: '203.0.113.4',
        session: 'IHBpdNNhY5h/AAAE',
        tls: { tlsProtocol: 'none', tlsEvidence: 'no-line', tlsCipher: null, marker: false },
      },
    },
  ])('$line', ({ line, expected }) => {
    expect(parseDovecotMessage(line)).toEqual(expected);
  });

  it.each([
    {
      line: 'submission-login: Info: Disconnected: Aborted login by logging out (auth failed, 2 attempts in 5 secs): user=<nobody@example.org>, method=LOGIN, rip=203.0.113.9, lip=192.0.2.25, session=<Hgi/dNNhQaR/AAAJ>',
      attempts: 2,
      user: 'nobody@example.org',
      method: 'LOGIN',
      session: 'Hgi/dNNhQaR/AAAJ',
    },
    {
      line: 'imap-login: Disconnected (auth failed, 1 attempts): method=PLAIN, rip=198.51.100.11, lip=198.51.100.10, TLS: Disconnected',
      attempts: 1,
      user: null,
      method: 'PLAIN',
      session: null,
    },
    {
      line: 'pop3-login: Info: Disconnected: Disconnected: Too many bad commands (auth failed, 2 attempts in 0 secs): user=<test@example.net>, rip=198.51.100.3, lip=198.51.100.4, session=<02qW3CnO5tWsEQAB>',
      attempts: 2,
      user: 'test@example.net',
      method: null,
      session: '02qW3CnO5tWsEQAB',
    },
  ])('$line', ({ line, attempts, user, method, session }) => {
    const record = parseDovecotMessage(line);
    expect(record).toMatchObject({ type: 'login-failed', attempts, user, method, session });
  });

  it('reads the real rip after a forged one in the user name', () => {
    const record = parseDovecotMessage(
      'submission-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=192.0.2.66, lip=192.0.2.1>, method=LOGIN, rip=203.0.113.5, lip=192.0.2.25, TLS, session=<a1>',
    );
    expect(record).toMatchObject({
      type: 'login-failed',
      user: 'x>, method=PLAIN, rip=192.0.2.66, lip=192.0.2.1',
      method: 'LOGIN',
      clientIp: '203.0.113.5',
      session: 'a1',
    });
  });

  it.each([
    'submission-login: Info: Disconnected (no auth attempts in 0 secs): user=<>, rip=203.0.113.9, lip=192.0.2.25, TLS handshaking: SSL_accept() failed: error:0A00010B:SSL routines::wrong version number, session=<voPdYPd+ER2sbYCD>',
    'pop3-login: Aborted login (tried to use disabled plaintext auth): rip=198.51.100.7, lip=198.51.100.8',
    'master: Info: Dovecot v2.3.19.1 (9b53102964) starting up for submission, imap (core dumps disabled)',
    'imap(carol@example.org): Disconnected: Logged out in=175 out=1335',
  ])('skips %s', (line) => {
    expect(parseDovecotMessage(line)).toBe(SKIPPED);
  });
});

describe('dovecot submission lines', () => {
  it('reads a relayed message', () => {
    const record = parseDovecotMessage(
      "submission(bob@example.org)<27876><FvppdNNhr6l/AAAC>: Info: Successfully relayed message: from=<>, size=56, id=JvvmFTcNE2vkbAAAg+zDdQ:T2, nrcpt=1, reply=`250 2.0.0 Ok: 245 bytes queued as 5BF8D2440D5'",
    );
    expect(record).toEqual({
      type: 'relayed',
      user: 'bob@example.org',
      session: 'FvppdNNhr6l/AAAC',
      senderAddress: '',
      size: 56,
      id: 'JvvmFTcNE2vkbAAAg+zDdQ:T2',
      recipients: 1,
    });
  });

  it('reads the end of a session', () => {
    const record = parseDovecotMessage(
      'submission(alice@example.org)<27866><CRJodNNhv5R/AAAC>: Info: Disconnected: Logged out (state=READY) in=144 out=134',
    );
    expect(record).toEqual({ type: 'logout', session: 'CRJodNNhv5R/AAAC' });
  });

  it('skips a panic of the submission process', () => {
    const record = parseDovecotMessage(
      'submission(alice@example.org)<26359><xnB9btNh66J/AAAI>: Panic: file smtp-client-transaction.c: line 989 (smtp_client_transaction_start): assertion failed: (mail != NULL)',
    );
    expect(record).toBe(SKIPPED);
  });
});

describe('dovecot auth lines', () => {
  it.each([
    {
      line: 'auth: Info: passwd-file(alice@example.org,203.0.113.5,<4pFqdNNhmZl/AAAF>): Password mismatch',
      expected: {
        source: 'passwd-file',
        user: 'alice@example.org',
        clientIp: '203.0.113.5',
        session: '4pFqdNNhmZl/AAAF',
        reason: 'Password mismatch',
      },
    },
    {
      line: 'auth: Info: passwd-file(alice@example.org,203.0.113.10): Password mismatch',
      expected: {
        source: 'passwd-file',
        user: 'alice@example.org',
        clientIp: '203.0.113.10',
        session: null,
        reason: 'Password mismatch',
      },
    },
    {
      line: 'auth-worker(24058): pam(toto,198.51.100.1,<youpi>): pam_authenticate() failed: Authentication failure (password mismatch?)',
      expected: {
        source: 'pam',
        user: 'toto',
        clientIp: '198.51.100.1',
        session: 'youpi',
        reason: 'pam_authenticate() failed: Authentication failure (password mismatch?)',
      },
    },
    {
      line: 'auth-worker(14864): conn unix:auth-worker (pid=14830,uid=109): auth-worker<6>: pam(caliph@example.com,198.51.100.5): pam_authenticate() failed: Authentication failure (Password mismatch?)',
      expected: {
        source: 'pam',
        user: 'caliph@example.com',
        clientIp: '198.51.100.5',
        session: null,
        reason: 'pam_authenticate() failed: Authentication failure (Password mismatch?)',
      },
    },
    {
      line: 'auth: Info: plain(?,2001:db8::9,<bAsE64x/AAAA>): Invalid base64 data in continued response',
      expected: {
        source: 'plain',
        user: null,
        clientIp: '2001:db8::9',
        session: 'bAsE64x/AAAA',
        reason: 'Invalid base64 data in continued response',
      },
    },
    {
      line: 'auth: Info: passwd-file(a): b,c,203.0.113.8,master,<s1>): unknown user',
      expected: {
        source: 'passwd-file',
        user: 'a): b,c',
        clientIp: '203.0.113.8',
        session: 's1',
        reason: 'unknown user',
      },
    },
  ])('$line', ({ line, expected }) => {
    expect(parseDovecotMessage(line)).toEqual({ type: 'auth-failure', ...expected });
  });

  it('drops the password that auth_verbose_passwords logs', () => {
    const record = parseDovecotMessage(
      'auth-worker(10377): conn unix:auth-worker (pid=919,uid=112): auth-worker<1>: sql(testing@example.com,198.51.100.8): unknown user (given password: Password123$)',
    );
    expect(record).toMatchObject({ type: 'auth-failure', reason: 'unknown user' });
    expect(JSON.stringify(record)).not.toContain('Password123$');
  });

  it.each([
    'auth: Error: sql(alice@example.org,203.0.113.5,<s2>): Password query failed: Not connected to database',
    'auth: Debug: client in: AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=192.0.2.25\trip=203.0.113.10',
    'auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=web rhost=198.51.100.3',
    'auth: Info: passwd-file(alice@example.org): unknown user',
  ])('skips %s', (line) => {
    expect(parseDovecotMessage(line)).toBe(SKIPPED);
  });

  it('reads the old auth(default) form with its dovecot prefix', () => {
    const record = parseDovecotMessage(
      'dovecot: auth(default): pam(account@example.com,198.51.100.18): pam_authenticate() failed: User not known to the underlying authentication module: 2 Time(s)',
    );
    expect(record).toMatchObject({
      type: 'auth-failure',
      user: 'account@example.com',
      clientIp: '198.51.100.18',
      session: null,
    });
  });
});
