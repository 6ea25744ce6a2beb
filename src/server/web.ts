import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

import { uiNotBuiltPage } from './pages.js';

/** The web UI directory that `npm run build` writes. */
export const DEFAULT_WEB_ROOT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../web/dist',
);

/**
 * Serve the built web UI. Paths that are not files are single-page app routes and get
 * index.html (see `sendUiIndex`). Without a build, pages explain how to build it.
 */
export function registerWebUi(app: FastifyInstance, webRoot: string): void {
  if (!existsSync(path.join(webRoot, 'index.html'))) {
    app.log.warn({ webRoot }, 'web UI not built; run npm run build');
    app.decorateReply('sendUiIndex', function (this: FastifyReply) {
      return this.type('text/html; charset=utf-8').send(uiNotBuiltPage(webRoot));
    });
    app.get('/', (_request, reply) => reply.sendUiIndex());
    return;
  }

  app.register(fastifyStatic, { root: webRoot, wildcard: true, index: 'index.html' });
  app.decorateReply('sendUiIndex', function (this: FastifyReply) {
    // index.html names the hashed asset files of the current build, so it must not be cached.
    return this.header('Cache-Control', 'no-cache').sendFile('index.html', { cacheControl: false });
  });
}

declare module 'fastify' {
  interface FastifyReply {
    /** Send the web UI's index.html, or the page saying it is not built. */
    sendUiIndex(): FastifyReply;
  }
}
