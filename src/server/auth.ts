import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

import type { FastifyInstance, FastifyRequest } from 'fastify';

import { AppError, invalidOption } from '../errors.js';
import { loginPage } from './pages.js';

export const SESSION_COOKIE = 'smtp_auth_report_session';

/** Shorter tokens can be guessed over the network. */
export const MIN_TOKEN_LENGTH = 16;

/** Paths served without a token: the health check, the login form and logout. */
const PUBLIC_PATHS = new Set(['/healthz', '/login', '/logout']);

/** Check a configured access token, naming where it came from in the error. */
export function checkToken(token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw invalidOption(
      source,
      `${token.length} characters`,
      `the access token must have at least ${MIN_TOKEN_LENGTH} characters; ` +
        'generate one with: openssl rand -hex 32',
    );
  }
  return token;
}

/** The configured access token. Comparisons take the same time whatever the candidate. */
export class AccessToken {
  private readonly digest: Buffer;
  private readonly session: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
    // The cookie contains a value derived from the token, so a leaked cookie does not reveal it.
    this.session = createHmac('sha256', token).update('smtp-auth-report session').digest();
  }

  /** The session cookie value that `POST /login` sets. */
  get sessionValue(): string {
    return this.session.toString('base64url');
  }

  matchesToken(candidate: string): boolean {
    return timingSafeEqual(this.digest, sha256(candidate));
  }

  matchesSession(candidate: string): boolean {
    return timingSafeEqual(sha256(this.sessionValue), sha256(candidate));
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Require the token on every request except the public paths: as `Authorization: Bearer`
 * or as the session cookie. API paths get a 401 error body, pages get the login form.
 */
export function registerAuth(app: FastifyInstance, token: string | undefined): void {
  const access = token === undefined ? undefined : new AccessToken(token);
  registerLoginRoutes(app, access);
  if (!access) return;

  app.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_PATHS.has(pathOf(request.url)) || isAuthorised(request, access)) return;

    if (pathOf(request.url).startsWith('/api/')) {
      reply.header('WWW-Authenticate', 'Bearer');
      throw new AppError('UNAUTHORIZED', {});
    }
    return reply
      .code(401)
      .type('text/html; charset=utf-8')
      .send(loginPage(localPath(request.url)));
  });
}

function isAuthorised(request: FastifyRequest, access: AccessToken): boolean {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
  if (bearer !== undefined) return access.matchesToken(bearer);

  const session = cookieValue(request.headers.cookie, SESSION_COOKIE);
  return session !== undefined && access.matchesSession(session);
}

function registerLoginRoutes(app: FastifyInstance, access: AccessToken | undefined): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 4096 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(String(body)))),
  );

  app.get('/login', async (request, reply) => {
    const next = localPath((request.query as Record<string, unknown>).next);

    if (!access) return reply.redirect(next, 303);
    return reply.type('text/html; charset=utf-8').send(loginPage(next));
  });

  app.post('/login', async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const next = localPath(form.next);

    if (!access) return reply.redirect(next, 303);
    if (typeof form.token !== 'string' || !access.matchesToken(form.token)) {
      request.log.warn({ clientIp: request.ip }, 'login failed');
      return reply
        .code(401)
        .type('text/html; charset=utf-8')
        .send(loginPage(next, 'Invalid access token.'));
    }

    reply.header('Set-Cookie', sessionCookie(request, access.sessionValue));
    return reply.redirect(next, 303);
  });

  app.post('/logout', async (request, reply) => {
    reply.header('Set-Cookie', sessionCookie(request, '', 0));
    return reply.redirect('/login', 303);
  });
}

function sessionCookie(request: FastifyRequest, value: string, maxAge?: number): string {
  const attributes = [`${SESSION_COOKIE}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (maxAge !== undefined) attributes.push(`Max-Age=${maxAge}`);
  if (request.protocol === 'https') attributes.push('Secure');
  return attributes.join('; ');
}

/** Characters of a path and query that are safe in a Location header. */
const SAFE_PATH = /^\/[\w\-.~!$&'()*+,;=:@%/?]*$/;

/**
 * The path to return to after login. Anything that could leave this server (`//host`,
 * `https:`, a backslash) or break the Location header becomes `/`.
 */
function localPath(value: unknown): string {
  if (typeof value !== 'string' || !SAFE_PATH.test(value) || value.startsWith('//')) return '/';
  if (pathOf(value) === '/login') return '/';
  return value;
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}
