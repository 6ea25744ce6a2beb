import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';

import { AppError } from '../errors.js';
import type { ReportStore } from '../store/report-store.js';
import { registerAuth } from './auth.js';
import { registerApiRoutes } from './routes.js';
import { DEFAULT_WEB_ROOT, registerWebUi } from './web.js';

export interface ServerOptions {
  store: ReportStore;
  /** The IANA time zone of report days. */
  timeZone: string;
  /** The access token; without one, every request is allowed (loopback use only). */
  token?: string;
  /** The built web UI; default web/dist in the package. */
  webRoot?: string;
  /** The pino logger for requests and errors; none logs nothing. */
  logger?: FastifyBaseLogger;
}

/** Headers on every response. The UI loads nothing from elsewhere and runs no inline script. */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
    "object-src 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * Sockets idle this long are closed. It bounds how long a client that stops reading a CSV
 * export can hold the store's connection, which every other request waits for.
 */
const IDLE_SOCKET_MS = 120_000;

/** Account names come from logs and can be long; Fastify's default limit is 100 characters. */
const MAX_PARAM_LENGTH = 2048;

/** Build the HTTP server: the API, the login form and the web UI. */
export function buildServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    connectionTimeout: IDLE_SOCKET_MS,
    // Stopping the server ends open requests too, so a stalled export cannot delay shutdown.
    forceCloseConnections: true,
  });

  // Files of the web UI replace Cache-Control with their own (public, max-age=0).
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers({ ...SECURITY_HEADERS, 'Cache-Control': 'no-store' });
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    if (isApiPath(request.url) || (request.method !== 'GET' && request.method !== 'HEAD')) {
      throw new AppError('NOT_FOUND', {
        what: 'endpoint',
        value: `${request.method} ${request.url.split('?')[0]}`,
      });
    }
    return reply.sendUiIndex();
  });

  registerAuth(app, options.token);
  app.get('/healthz', async () => ({ status: 'ok' }));
  registerApiRoutes(app, { store: options.store, timeZone: options.timeZone });
  registerWebUi(app, options.webRoot ?? DEFAULT_WEB_ROOT);
  return app;
}

function isApiPath(url: string): boolean {
  return url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');
}

/** Send every error as `{ error: { code, message, status } }` and log server faults. */
function handleError(err: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof AppError) {
    if (err.status >= 500) request.log.error({ err }, 'request failed');
    return reply.code(err.status).send(err.toJSON());
  }

  // Errors raised by Fastify itself, such as a body that is not valid JSON.
  const status = err.statusCode ?? 500;
  if (status < 500) {
    const body = new AppError('INVALID_REQUEST', { detail: err.message }).toJSON();
    body.error.status = status;
    return reply.code(status).send(body);
  }
  request.log.error({ err }, 'request failed');
  return reply.code(500).send(new AppError('INTERNAL_ERROR', {}).toJSON());
}
