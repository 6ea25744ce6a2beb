import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../../src/server/app.js';
import { ingestedStore, LAB_LOG, type TestStore } from './store.js';

const INDEX = '<!doctype html><title>report</title><div id="root"></div>\n';
const SCRIPT = 'console.log("report");\n';

let lab: TestStore;
let webRoot: string;

beforeAll(async () => {
  lab = await ingestedStore([LAB_LOG]);
  webRoot = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-web-'));
  mkdirSync(path.join(webRoot, 'assets'));
  writeFileSync(path.join(webRoot, 'index.html'), INDEX);
  writeFileSync(path.join(webRoot, 'assets', 'index-abc123.js'), SCRIPT);
});

afterAll(() => {
  lab.close();
  rmSync(webRoot, { recursive: true, force: true });
});

describe('built web UI', () => {
  it('serves index.html at /', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot });

    const response = await app.inject({ url: '/' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toBe(INDEX);
    await app.close();
  });

  it('serves asset files', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot });

    const response = await app.inject({ url: '/assets/index-abc123.js' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(response.body).toBe(SCRIPT);
    await app.close();
  });

  it.each(['/accounts', '/accounts/user1@example.org', '/tls?from=2026-12-01'])(
    'falls back to index.html for %s',
    async (url) => {
      const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot });

      const response = await app.inject({ url });

      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.body).toBe(INDEX);
      await app.close();
    },
  );

  it('keeps API 404s as JSON', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot });

    const response = await app.inject({ url: '/api/accounts/a/b' });

    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('not-found');
    await app.close();
  });

  it('does not serve files outside the web root', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot });

    const response = await app.inject({ url: '/..%2f..%2fetc%2fpasswd' });

    expect(response.body).not.toContain('root:');
    await app.close();
  });
});

describe('web UI not built', () => {
  it('says how to build it', async () => {
    const missing = path.join(webRoot, 'missing');
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot: missing });

    const response = await app.inject({ url: '/' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.body).toContain('The web UI is not built');
    expect(response.body).toContain('<code>npm run build</code>');
    await app.close();
  });

  it('still answers the API', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot: '/nonexistent' });

    const response = await app.inject({ url: '/api/summary' });

    expect(response.json().messages).toBe(18);
    await app.close();
  });
});
