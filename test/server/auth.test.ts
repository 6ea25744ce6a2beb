import { Writable } from 'node:stream';

import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { AppError } from '../../src/errors.js';
import { buildServer } from '../../src/server/app.js';
import { checkToken, SESSION_COOKIE } from '../../src/server/auth.js';
import { checkListenAllowed, isLoopbackHost, parseListen } from '../../src/server/listen.js';
import { ingestedStore, LAB_LOG, type TestStore } from './store.js';

const TOKEN = 'test-token-3f9a1c77e2b04d58';

let lab: TestStore;
let app: FastifyInstance;
let logText = '';

beforeAll(async () => {
  lab = await ingestedStore([LAB_LOG]);
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logText += String(chunk);
      done();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  app = buildServer({
    store: lab.store,
    timeZone: 'UTC',
    token: TOKEN,
    webRoot: '/nonexistent',
    logger,
  });
});

afterAll(async () => {
  await app.close();
  lab.close();
});

/** Log in and return the session cookie. */
async function login(): Promise<string> {
  const response = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token: TOKEN, next: '/accounts' }).toString(),
  });
  return String(response.headers['set-cookie']).split(';')[0];
}

describe('token enforcement', () => {
  it('API without token is a 401', async () => {
    const response = await app.inject({ url: '/api/summary' });

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.json()).toEqual({
      error: {
        code: 'unauthorized',
        message: 'missing or invalid access token; send Authorization: Bearer TOKEN',
        status: 401,
      },
    });
  });

  it('API with a wrong Bearer token is a 401', async () => {
    const response = await app.inject({
      url: '/api/summary',
      headers: { authorization: `Bearer ${TOKEN}x` },
    });

    expect(response.statusCode).toBe(401);
  });

  it('API with the Bearer token answers', async () => {
    const response = await app.inject({
      url: '/api/summary',
      headers: { authorization: `Bearer ${TOKEN}` },
    });

    expect(response.statusCode).toBe(200);
    expect(response.json().messages).toBe(18);
  });

  it('healthz needs no token', async () => {
    const response = await app.inject({ url: '/healthz' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('page without token gets the login form', async () => {
    const response = await app.inject({ url: '/accounts/printer' });

    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('<form method="post" action="/login">');
    expect(response.body).toContain('<input type="hidden" name="next" value="/accounts/printer">');
  });

  it('unknown path without token is a 401, not a 404', async () => {
    const response = await app.inject({ url: '/api/nothing-here' });

    expect(response.statusCode).toBe(401);
  });
});

describe('cookie login', () => {
  it('login form answers without a token', async () => {
    const response = await app.inject({ url: '/login' });

    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('name="token" type="password"');
  });

  it('wrong token shows the form again', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=wrong-token-0000000000',
    });

    expect(response.statusCode).toBe(401);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(response.body).toContain('Invalid access token.');
  });

  it('right token sets an HttpOnly SameSite=Strict cookie', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ token: TOKEN, next: '/accounts' }).toString(),
    });
    const cookie = String(response.headers['set-cookie']);

    expect(response.statusCode).toBe(303);
    expect(response.headers.location).toBe('/accounts');
    expect(cookie).toMatch(
      new RegExp(`^${SESSION_COOKIE}=[\\w-]{43}; Path=/; HttpOnly; SameSite=Strict$`),
    );
    expect(cookie).not.toContain(TOKEN);
  });

  it('cookie opens the API', async () => {
    const cookie = await login();

    const response = await app.inject({ url: '/api/summary', headers: { cookie } });

    expect(response.statusCode).toBe(200);
    expect(response.json().accounts).toBe(5);
  });

  it('forged cookie is a 401', async () => {
    const response = await app.inject({
      url: '/api/summary',
      headers: { cookie: `${SESSION_COOKIE}=${TOKEN}` },
    });

    expect(response.statusCode).toBe(401);
  });

  it.each(['//example.com/', 'https://example.com/', '/\\example.com', '/a\r\nSet-Cookie: x=1'])(
    'login does not redirect to %j',
    async (next) => {
      const response = await app.inject({
        method: 'POST',
        url: '/login',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ token: TOKEN, next }).toString(),
      });

      expect(response.statusCode).toBe(303);
      expect(response.headers.location).toBe('/');
    },
  );

  it('oversized login form is a 413', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `token=${'x'.repeat(5000)}`,
    });

    expect(response.statusCode).toBe(413);
    expect(response.json().error).toMatchObject({ code: 'invalid-request', status: 413 });
  });

  it('logout clears the cookie', async () => {
    const response = await app.inject({ method: 'POST', url: '/logout' });

    expect(response.statusCode).toBe(303);
    expect(response.headers['set-cookie']).toBe(
      `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`,
    );
  });

  it('token never reaches the log', async () => {
    await login();
    await app.inject({ url: '/api/summary', headers: { authorization: `Bearer ${TOKEN}` } });

    expect(logText).toContain('request completed');
    expect(logText).not.toContain(TOKEN);
  });
});

describe('listen address', () => {
  it.each([
    ['127.0.0.1:8025', { host: '127.0.0.1', port: 8025 }],
    ['[::1]:0', { host: '::1', port: 0 }],
    ['localhost:80', { host: 'localhost', port: 80 }],
    ['0.0.0.0:8025', { host: '0.0.0.0', port: 8025 }],
  ])('parses %s', (value, expected) => {
    expect(parseListen(value)).toEqual(expected);
  });

  it.each(['8025', '127.0.0.1', '127.0.0.1:65536', '::1:8025', 'host:port'])(
    'rejects %s',
    (value) => {
      expect(() => parseListen(value)).toThrow(
        `invalid value ${JSON.stringify(value)} for --listen: expected HOST:PORT`,
      );
    },
  );

  it.each(['127.0.0.1', '127.45.6.7', '::1', 'localhost', 'LOCALHOST'])(
    '%s is loopback',
    (host) => {
      expect(isLoopbackHost(host)).toBe(true);
    },
  );

  it.each(['0.0.0.0', '::', '192.0.2.1', '128.0.0.1', '2001:db8::1', 'mail.example.org'])(
    '%s is not loopback',
    (host) => {
      expect(isLoopbackHost(host)).toBe(false);
    },
  );

  it('non-loopback without a token is rejected', () => {
    let error: unknown;
    try {
      checkListenAllowed({ host: '0.0.0.0', port: 8025 }, undefined);
    } catch (err) {
      error = err;
    }

    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_OPTION');
    expect((error as AppError).message).toBe(
      'invalid value "0.0.0.0:8025" for --listen: it is not a loopback address and no access ' +
        'token is configured; set SMTP_AUTH_REPORT_TOKEN (or pass --token) to a random secret ' +
        'of at least 16 characters, or listen on 127.0.0.1',
    );
  });

  it('IPv6 address is named in brackets', () => {
    expect(() => checkListenAllowed({ host: '2001:db8::1', port: 80 }, undefined)).toThrow(
      'invalid value "[2001:db8::1]:80" for --listen',
    );
  });

  it('non-loopback with a token is allowed', () => {
    expect(() => checkListenAllowed({ host: '0.0.0.0', port: 8025 }, TOKEN)).not.toThrow();
  });

  it('loopback without a token is allowed', () => {
    expect(() => checkListenAllowed({ host: '127.0.0.1', port: 0 }, undefined)).not.toThrow();
  });

  it('short token is rejected without showing it', () => {
    expect(() => checkToken('secret', '--token')).toThrow(
      'invalid value "6 characters" for --token: the access token must have at least 16 characters',
    );
  });
});
