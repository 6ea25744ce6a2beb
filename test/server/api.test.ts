import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';

import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { printFailurePivot } from '../../src/cli/failures-pivot.js';
import { runMigrate } from '../../src/cli/migrate.js';
import { buildServer } from '../../src/server/app.js';
import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import type { ReportStore } from '../../src/store/report-store.js';
import { clickHouseSkipReason, TestServer } from '../clickhouse/server.js';
import { HOSTILE_LOG, ingestedStore, LAB_LOG } from './store.js';

const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
  "object-src 'none'; frame-ancestors 'none'";
const PERIOD = { from: '2026-11-28', to: '2026-12-04' };
const DAY = '2026-12-04';

/** The ClickHouse store is a copy of the DuckDB store of the lab log, made by `migrate`. */
const STORE_KINDS = ['duckdb', 'clickhouse'] as const;
const clickHouseSkip = clickHouseSkipReason();
const clickHouse = new TestServer('serve-api', 18171, 19071);
const DATABASE = 'serve_api_test';

interface LabStores {
  duckdb: DuckDBStore;
  clickhouse: ClickHouseStore | null;
  close(): Promise<void>;
}

let stores: LabStores;

/** Ingest the lab log into DuckDB and, where ClickHouse runs, copy it there. */
async function labStores(): Promise<LabStores> {
  const lab = await ingestedStore([LAB_LOG]);
  if (clickHouseSkip !== null) {
    return {
      duckdb: lab.store,
      clickhouse: null,
      close: async () => lab.close(),
    };
  }

  // The copy reads the file, which one process opens once at a time.
  lab.store.close();
  clickHouse.startFresh();
  await runMigrate(
    `duckdb:${lab.storePath}`,
    `clickhouse://127.0.0.1:${clickHouse.httpPort}/${DATABASE}`,
    'mx1.example.org',
  );
  const duckdb = await DuckDBStore.open(lab.storePath);
  const clickhouse = await ClickHouseStore.open(clickHouse.location(DATABASE));
  return {
    duckdb,
    clickhouse,
    async close() {
      duckdb.close();
      await clickhouse.close();
      clickHouse.stop();
      rmSync(lab.dir, { recursive: true, force: true });
    },
  };
}

beforeAll(async () => {
  stores = await labStores();
}, 300_000);

afterAll(async () => {
  await stores?.close();
});

function serverOn(store: ReportStore): FastifyInstance {
  return buildServer({ store, timeZone: 'UTC', webRoot: '/nonexistent' });
}

describe.each(STORE_KINDS)('api on %s', (kind) => {
  const skipped = kind === 'clickhouse' && clickHouseSkip !== null;
  let app: FastifyInstance;

  beforeAll(() => {
    if (skipped) return;
    app = serverOn(kind === 'duckdb' ? stores.duckdb : stores.clickhouse!);
  });

  afterAll(async () => {
    await app?.close();
  });

  async function getJson(url: string): Promise<{ status: number; body: unknown }> {
    const response = await app.inject({ url });
    return { status: response.statusCode, body: response.json() };
  }

  describe.skipIf(skipped)('report endpoints on the lab log', () => {
    it('healthz returns ok', async () => {
      expect(await getJson('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    });

    it('summary has the lab totals', async () => {
      const { status, body } = await getJson('/api/summary');

      expect(status).toBe(200);
      expect(body).toEqual({
        ...PERIOD,
        accounts: 5,
        messages: 18,
        recipients: 29,
        failures: 8,
        tls: { TLSv1: 1, 'TLSv1.1': 3, 'TLSv1.2': 4, 'TLSv1.3': 6, none: 4, unknown: 0 },
        tlsLoggingOff: [],
      });
    });

    it('summary takes explicit dates', async () => {
      const { body } = await getJson('/api/summary?from=2026-12-05&to=2026-12-06');

      expect(body).toMatchObject({
        from: '2026-12-05',
        to: '2026-12-06',
        messages: 0,
        accounts: 0,
      });
    });

    it('domains lists sender domains by messages', async () => {
      const { status, body } = await getJson('/api/domains');

      expect(status).toBe(200);
      expect(body).toEqual({
        ...PERIOD,
        domains: [
          { senderDomain: 'example.org', messages: 10 },
          { senderDomain: 'example.com', messages: 4 },
          { senderDomain: 'example.net', messages: 4 },
        ],
      });
    });

    it('domains ignores the domain filter', async () => {
      const { body } = await getJson('/api/domains?domain=example.net');

      expect((body as { domains: unknown[] }).domains).toHaveLength(3);
    });

    it('volume has messages per day and domain', async () => {
      const { status, body } = await getJson('/api/volume');

      expect(status).toBe(200);
      expect(body).toEqual({
        ...PERIOD,
        rows: [
          { day: DAY, senderDomain: 'example.com', messages: 4, recipients: 6 },
          { day: DAY, senderDomain: 'example.net', messages: 4, recipients: 8 },
          { day: DAY, senderDomain: 'example.org', messages: 10, recipients: 15 },
        ],
      });
    });

    it('volume applies the domain filter', async () => {
      const { body } = await getJson('/api/volume?domain=EXAMPLE.NET');

      expect((body as { rows: unknown[] }).rows).toEqual([
        { day: DAY, senderDomain: 'example.net', messages: 4, recipients: 8 },
      ]);
    });

    it('tls has versions per day and per account', async () => {
      const { status, body } = await getJson('/api/tls');
      const counts = (values: number[]) => ({
        TLSv1: values[0],
        'TLSv1.1': values[1],
        'TLSv1.2': values[2],
        'TLSv1.3': values[3],
        none: values[4],
        unknown: values[5],
      });

      expect(status).toBe(200);
      expect(body).toEqual({
        ...PERIOD,
        total: 5,
        byDay: [
          { day: DAY, tlsProtocol: 'TLSv1', messages: 1 },
          { day: DAY, tlsProtocol: 'TLSv1.1', messages: 3 },
          { day: DAY, tlsProtocol: 'TLSv1.2', messages: 4 },
          { day: DAY, tlsProtocol: 'TLSv1.3', messages: 6 },
          { day: DAY, tlsProtocol: 'none', messages: 4 },
        ],
        byAccount: [
          {
            account: 'user1@example.org',
            messages: 6,
            counts: counts([0, 0, 2, 2, 2, 0]),
            percents: counts([0, 0, 33.3, 33.3, 33.3, 0]),
            legacyPercent: 33.3,
          },
          {
            account: 'scanner@example.org',
            messages: 5,
            counts: counts([0, 0, 1, 4, 0, 0]),
            percents: counts([0, 0, 20, 80, 0, 0]),
            legacyPercent: 0,
          },
          {
            account: 'alerts@example.com',
            messages: 3,
            counts: counts([1, 1, 1, 0, 0, 0]),
            percents: counts([33.3, 33.3, 33.3, 0, 0, 0]),
            legacyPercent: 66.7,
          },
          {
            account: 'billing@example.net',
            messages: 3,
            counts: counts([0, 2, 0, 0, 1, 0]),
            percents: counts([0, 66.7, 0, 0, 33.3, 0]),
            legacyPercent: 100,
          },
          {
            account: 'printer',
            messages: 1,
            counts: counts([0, 0, 0, 0, 1, 0]),
            percents: counts([0, 0, 0, 0, 100, 0]),
            legacyPercent: 100,
          },
        ],
      });
    });

    it('tls pages accounts by a TLS version', async () => {
      const { body } = await getJson('/api/tls?sort=TLSv1.3&limit=2&offset=1');
      const page = body as { total: number; byDay: unknown[]; byAccount: { account: string }[] };

      expect(page.total).toBe(5);
      expect(page.byDay).toHaveLength(5);
      expect(page.byAccount.map((r) => r.account)).toEqual([
        'user1@example.org',
        'alerts@example.com',
      ]);
    });

    it('tls sorts by legacy share ascending', async () => {
      const { body } = await getJson('/api/tls?sort=legacyPercent&order=asc');
      const rows = (body as { byAccount: { account: string }[] }).byAccount;

      expect(rows.map((r) => r.account)).toEqual([
        'scanner@example.org',
        'user1@example.org',
        'alerts@example.com',
        'billing@example.net',
        'printer',
      ]);
    });

    it('tls page past the last account keeps the total', async () => {
      const { body } = await getJson('/api/tls?limit=10&offset=10');

      expect(body).toMatchObject({ total: 5, byAccount: [] });
    });

    it('accounts lists every account by messages', async () => {
      const { status, body } = await getJson('/api/accounts');
      const seen = (time: string) => `${DAY}T16:22:${time}.000Z`;

      expect(status).toBe(200);
      expect(body).toEqual({
        ...PERIOD,
        total: 5,
        rows: [
          {
            account: 'user1@example.org',
            messages: 6,
            recipients: 9,
            senderAddresses: ['user1@example.com', 'user1@example.org'],
            clientIps: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'],
            mechanisms: ['LOGIN', 'PLAIN'],
            legacyTlsPercent: 33.3,
            firstSeen: seen('19'),
            lastSeen: seen('26'),
          },
          {
            account: 'scanner@example.org',
            messages: 5,
            recipients: 9,
            senderAddresses: ['noreply@example.org', 'scanner@example.org', 'scans@example.com'],
            clientIps: ['192.0.2.1'],
            mechanisms: ['LOGIN', 'PLAIN'],
            legacyTlsPercent: 0,
            firstSeen: seen('19'),
            lastSeen: seen('19'),
          },
          {
            account: 'alerts@example.com',
            messages: 3,
            recipients: 5,
            senderAddresses: ['alerts@example.com', 'monitoring@example.net'],
            clientIps: ['192.0.2.2', '192.0.2.3'],
            mechanisms: ['LOGIN', 'PLAIN'],
            legacyTlsPercent: 66.7,
            firstSeen: seen('19'),
            lastSeen: seen('31'),
          },
          {
            account: 'billing@example.net',
            messages: 3,
            recipients: 5,
            senderAddresses: ['billing@example.net', 'invoices@example.net'],
            clientIps: ['192.0.2.3', '192.0.2.4'],
            mechanisms: ['LOGIN', 'PLAIN'],
            legacyTlsPercent: 100,
            firstSeen: seen('19'),
            lastSeen: seen('19'),
          },
          {
            account: 'printer',
            messages: 1,
            recipients: 1,
            senderAddresses: ['printer@example.org'],
            clientIps: ['192.0.2.4'],
            mechanisms: ['PLAIN'],
            legacyTlsPercent: 100,
            firstSeen: seen('19'),
            lastSeen: seen('19'),
          },
        ],
      });
    });

    it('accounts sorts and pages', async () => {
      const { body } = await getJson('/api/accounts?sort=account&limit=2&offset=1');
      const page = body as { total: number; rows: { account: string }[] };

      expect(page.total).toBe(5);
      expect(page.rows.map((r) => r.account)).toEqual(['billing@example.net', 'printer']);
    });

    it('accounts sorts by legacy TLS ascending', async () => {
      const { body } = await getJson('/api/accounts?sort=legacyTlsPercent&order=asc');
      const rows = (body as { rows: { account: string }[] }).rows;

      expect(rows.map((r) => r.account)).toEqual([
        'scanner@example.org',
        'user1@example.org',
        'alerts@example.com',
        'billing@example.net',
        'printer',
      ]);
    });

    it('accounts search matches sender addresses', async () => {
      const { body } = await getJson('/api/accounts?search=INVOICES');
      const page = body as { total: number; rows: { account: string; messages: number }[] };

      expect(page.total).toBe(1);
      expect(page.rows.map((r) => [r.account, r.messages])).toEqual([['billing@example.net', 1]]);
    });

    it('account detail has the whole account page', async () => {
      const { status, body } = await getJson(
        `/api/accounts/${encodeURIComponent('user1@example.org')}`,
      );
      const seen = (time: string) => `${DAY}T16:22:${time}.000Z`;

      expect(status).toBe(200);
      expect(body).toEqual({
        account: 'user1@example.org',
        ...PERIOD,
        messages: 6,
        recipients: 9,
        firstSeen: seen('19'),
        lastSeen: seen('26'),
        daily: [{ day: DAY, messages: 6, recipients: 9 }],
        tls: { TLSv1: 0, 'TLSv1.1': 0, 'TLSv1.2': 2, 'TLSv1.3': 2, none: 2, unknown: 0 },
        clientIps: [
          { clientIp: '192.0.2.3', messages: 2, firstSeen: seen('19'), lastSeen: seen('19') },
          { clientIp: '192.0.2.4', messages: 2, firstSeen: seen('19'), lastSeen: seen('19') },
          { clientIp: '192.0.2.1', messages: 1, firstSeen: seen('26'), lastSeen: seen('26') },
          { clientIp: '192.0.2.2', messages: 1, firstSeen: seen('25'), lastSeen: seen('25') },
        ],
        mechanisms: [
          { saslMechanism: 'LOGIN', messages: 3 },
          { saslMechanism: 'PLAIN', messages: 3 },
        ],
        senderAddresses: [
          { senderAddress: 'user1@example.org', messages: 5 },
          { senderAddress: 'user1@example.com', messages: 1 },
        ],
        heloNames: [],
        failures: [
          { day: DAY, attemptedUsername: 'user1@example.org', clientIp: '192.0.2.2', failures: 1 },
        ],
      });
    });

    it('account detail counts failed logins in any letter case', async () => {
      const { body } = await getJson('/api/accounts/alerts%40example.com');
      const detail = body as { messages: number; failures: unknown[] };

      expect(detail.messages).toBe(3);
      expect(detail.failures).toEqual([
        { day: DAY, attemptedUsername: 'alerts@example.com', clientIp: '192.0.2.10', failures: 1 },
        { day: DAY, attemptedUsername: 'alerts@example.com', clientIp: '192.0.2.8', failures: 1 },
      ]);
    });

    it('account detail applies the domain filter', async () => {
      const { body } = await getJson('/api/accounts/user1%40example.org?domain=example.com');
      const detail = body as { messages: number; senderAddresses: unknown[] };

      expect(detail.messages).toBe(1);
      expect(detail.senderAddresses).toEqual([{ senderAddress: 'user1@example.com', messages: 1 }]);
    });

    it('failures keeps the largest groups up to limit', async () => {
      const { status, body } = await getJson('/api/failures?limit=2');
      const page = body as { total: number; rows: unknown[] };

      expect(status).toBe(200);
      expect(page.total).toBe(8);
      expect(page.rows).toHaveLength(2);
    });

    it('failures lists every failed login', async () => {
      const { status, body } = await getJson('/api/failures');
      const row = (username: string, clientIp: string, mechanism: string, tls: string) => ({
        day: DAY,
        attemptedUsername: username,
        clientIp,
        saslMechanism: mechanism,
        tlsProtocol: tls,
        server: 'mail',
        failures: 1,
      });

      expect(status).toBe(200);
      expect(body).toEqual({
        ...PERIOD,
        total: 8,
        rows: [
          row('alerts@example.com', '192.0.2.10', 'PLAIN', 'TLSv1.2'),
          row('user1@example.org', '192.0.2.2', 'PLAIN', 'TLSv1.2'),
          row('scanner@example.org', '192.0.2.5', 'PLAIN', 'TLSv1.2'),
          row('ghost@example.org', '192.0.2.6', 'LOGIN', 'TLSv1.3'),
          row('admin', '192.0.2.7', 'LOGIN', 'none'),
          row('alerts@example.com', '192.0.2.8', 'LOGIN', 'TLSv1.3'),
          row('ghost@example.org', '192.0.2.9', 'LOGIN', 'TLSv1.3'),
          row('nosuch@example.com', '192.0.2.9', 'LOGIN', 'TLSv1.3'),
        ],
      });
    });

    it('openapi describes every endpoint', async () => {
      const { status, body } = await getJson('/api/openapi.json');
      const document = body as { openapi: string; paths: Record<string, unknown> };

      expect(status).toBe(200);
      expect(document.openapi).toBe('3.1.0');
      expect(Object.keys(document.paths).sort()).toEqual([
        '/api/accounts',
        '/api/accounts/{account}',
        '/api/domains',
        '/api/export.csv',
        '/api/failures',
        '/api/failures/pivot',
        '/api/insights',
        '/api/openapi.json',
        '/api/reviews',
        '/api/summary',
        '/api/tls',
        '/api/volume',
        '/healthz',
      ]);
    });
  });

  describe.skipIf(skipped)('headers', () => {
    it.each(['/api/summary', '/api/nothing-here', '/api/summary?from=bad', '/healthz', '/'])(
      'security headers on %s',
      async (url) => {
        const response = await app.inject({ url });

        expect(response.headers['content-security-policy']).toBe(CSP);
        expect(response.headers['x-content-type-options']).toBe('nosniff');
        expect(response.headers['referrer-policy']).toBe('no-referrer');
      },
    );

    it.each(['/api/summary', '/api/accounts/nobody', '/api/export.csv', '/api/tls?to=x'])(
      'no-store on %s',
      async (url) => {
        const response = await app.inject({ url });

        expect(response.headers['cache-control']).toBe('no-store');
      },
    );
  });

  describe.skipIf(skipped)('invalid requests', () => {
    const cases: [string, string][] = [
      [
        '/api/summary?from=2026-13-01',
        'invalid value "2026-13-01" for from: expected a date as YYYY-MM-DD, for example 2026-12-01',
      ],
      [
        '/api/volume?to=yesterday',
        'invalid value "yesterday" for to: expected a date as YYYY-MM-DD, for example 2026-12-01',
      ],
      [
        '/api/tls?from=2026-12-04&to=2026-12-01',
        'invalid value "2026-12-04" for from: it is after to "2026-12-01"; swap them',
      ],
      [
        '/api/accounts?sort=size',
        'invalid value "size" for sort: expected one of account, messages, recipients, legacyTlsPercent, lastSeen',
      ],
      [
        '/api/tls?sort=TLSv1.4',
        'invalid value "TLSv1.4" for sort: expected one of account, messages, legacyPercent, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3, none, unknown',
      ],
      [
        '/api/tls?limit=1001',
        'invalid value "1001" for limit: expected a whole number from 1 to 1000',
      ],
      ['/api/accounts?order=up', 'invalid value "up" for order: expected one of asc, desc'],
      [
        '/api/accounts?limit=0',
        'invalid value "0" for limit: expected a whole number from 1 to 1000',
      ],
      [
        '/api/accounts?limit=ten',
        'invalid value "ten" for limit: expected a whole number from 1 to 1000',
      ],
      [
        '/api/accounts?offset=-1',
        'invalid value "-1" for offset: expected a whole number from 0 to 1000000000',
      ],
      [
        '/api/failures?form=2026-12-01',
        'invalid value "2026-12-01" for form: unknown parameter; expected one of from, to, domain, server, search, limit',
      ],
      [
        '/api/summary?domain=a&domain=b',
        'invalid value ["a","b"] for domain: expected the parameter once, as text',
      ],
      [
        '/api/summary?sort=account',
        'invalid value "account" for sort: unknown parameter; expected one of from, to, domain, server, search',
      ],
      [
        '/api/export.csv?from=2026-02-30',
        'invalid value "2026-02-30" for from: expected a date as YYYY-MM-DD, for example 2026-12-01',
      ],
    ];

    it.each(cases)('%s is a 400', async (url, message) => {
      const response = await app.inject({ url });

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: { code: 'invalid-option', message, status: 400 } });
    });

    it('unknown account is a 404', async () => {
      const response = await app.inject({ url: '/api/accounts/nobody%40example.org' });

      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({
        error: {
          code: 'not-found',
          message:
            'account "nobody@example.org" with messages from 2026-11-28 to 2026-12-04 not found',
          status: 404,
        },
      });
    });

    it('account outside the period is a 404', async () => {
      const response = await app.inject({
        url: '/api/accounts/printer?from=2026-12-05&to=2026-12-05',
      });

      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('not-found');
    });

    it('unknown API path is a 404', async () => {
      const response = await app.inject({ url: '/api/nothing-here?x=1' });

      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({
        error: {
          code: 'not-found',
          message: 'endpoint GET /api/nothing-here not found',
          status: 404,
        },
      });
    });

    it('wrong method is a 404', async () => {
      const response = await app.inject({ method: 'DELETE', url: '/api/summary' });

      expect(response.statusCode).toBe(404);
      expect(response.json().error.message).toBe('endpoint DELETE /api/summary not found');
    });
  });
});

const SAME_ANSWER_URLS = [
  '/api/summary',
  '/api/summary?from=2026-12-01&to=2026-12-04&domain=example.org',
  '/api/domains',
  '/api/volume?server=mail',
  '/api/tls?sort=TLSv1.3&limit=2&offset=1',
  '/api/accounts?search=example.net&sort=account',
  '/api/accounts/user1%40example.org?domain=example.com',
  '/api/failures?limit=3',
  '/api/failures/pivot?by=day',
  '/api/failures/pivot?by=username',
  '/api/failures/pivot?by=ip&limit=2',
  '/api/export.csv',
  '/api/export.csv?search=billing',
];

describe.skipIf(clickHouseSkip !== null)('clickhouse and duckdb servers', () => {
  let duckdbApp: FastifyInstance;
  let clickHouseApp: FastifyInstance;

  beforeAll(() => {
    duckdbApp = serverOn(stores.duckdb);
    clickHouseApp = serverOn(stores.clickhouse!);
  });

  afterAll(async () => {
    await duckdbApp?.close();
    await clickHouseApp?.close();
  });

  it.each(SAME_ANSWER_URLS)('%s is the same on both', async (url) => {
    const expected = await duckdbApp.inject({ url });
    const actual = await clickHouseApp.inject({ url });

    expect(expected.statusCode).toBe(200);
    expect(actual.statusCode).toBe(200);
    expect(actual.headers['content-type']).toBe(expected.headers['content-type']);
    expect(actual.body).toBe(expected.body);
  });

  it('insights is a 501 on clickhouse', async () => {
    const response = await clickHouseApp.inject({ url: '/api/insights?from=2026-12-01' });

    expect(response.statusCode).toBe(501);
    expect(response.json()).toEqual({
      error: {
        code: 'not-implemented',
        message:
          'GET /api/insights is not available on a ClickHouse store: insights and follow need ' +
          'a DuckDB store today; to follow logs into ClickHouse, run `smtp-auth-report ingest ' +
          '--follow --store clickhouse://...` on each mail server',
        status: 501,
      },
    });
  });

  it('openapi lists the 501 responses', async () => {
    const response = await clickHouseApp.inject({ url: '/api/openapi.json' });
    const paths = response.json().paths;

    expect(paths['/api/insights'].get.responses['501']).toEqual({
      $ref: '#/components/responses/NeedsDuckDB',
    });
    expect(paths['/api/reviews'].post.responses['501']).toEqual({
      $ref: '#/components/responses/NeedsDuckDB',
    });
  });

  it('reviews is a 501 on clickhouse', async () => {
    const response = await clickHouseApp.inject({
      method: 'POST',
      url: '/api/reviews',
      payload: { account: 'printer', note: 'known device' },
    });

    expect(response.statusCode).toBe(501);
    expect(response.json().error.code).toBe('not-implemented');
    expect(response.json().error.message).toMatch(/^POST \/api\/reviews is not available/);
  });

  it('insights stays a 200 on duckdb', async () => {
    const response = await duckdbApp.inject({ url: '/api/insights' });

    expect(response.statusCode).toBe(200);
  });
});

const CLI_ENTRY = path.resolve('test/server/cli-entry.ts');
const CLI_TIMEOUT_MS = 60_000;

/** Run the CLI from source to its end. */
function runCliSync(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
    encoding: 'utf8',
    env: { ...process.env, SMTP_AUTH_REPORT_TOKEN: '' },
    timeout: CLI_TIMEOUT_MS,
  });
}

describe.skipIf(clickHouseSkip !== null)('cli on the clickhouse copy', () => {
  const clickHouseUrl = `clickhouse://127.0.0.1:${clickHouse.httpPort}/${DATABASE}`;

  it('report failures by ip matches duckdb', async () => {
    const args = [
      'report',
      '--view',
      'failures',
      '--by',
      'ip',
      '--format',
      'json',
      '--timezone',
      'UTC',
    ];
    const fromClickHouse = runCliSync([...args, '--store', clickHouseUrl]);
    // This test keeps the DuckDB file open, so the DuckDB side runs in this process.
    const write = vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    let fromDuckDB: string;
    try {
      await printFailurePivot(stores.duckdb, { timeZone: 'UTC' }, 'ip', 'json');
      fromDuckDB = write.mock.calls.map(([chunk]) => String(chunk)).join('');
    } finally {
      write.mockRestore();
    }

    expect(fromClickHouse.stderr).toBe('');
    expect(fromClickHouse.status).toBe(0);
    expect(JSON.parse(fromClickHouse.stdout)).toHaveLength(7);
    expect(fromClickHouse.stdout).toBe(fromDuckDB);
  });

  it('serve answers from clickhouse', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI_ENTRY, 'serve', '--store', clickHouseUrl, '--listen', '127.0.0.1:0'],
      { env: { ...process.env, SMTP_AUTH_REPORT_TOKEN: '' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));

    try {
      const url = await servingUrl(() => stderr, exited);
      const summary = await fetch(`${url}api/summary`);
      const insights = await fetch(`${url}api/insights`);

      expect(summary.status).toBe(200);
      expect(await summary.json()).toMatchObject({ ...PERIOD, messages: 18, failures: 8 });
      expect(insights.status).toBe(501);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);
});

/** Wait for the line that `serve` prints once it listens, and return its URL. */
async function servingUrl(stderr: () => string, exited: Promise<number | null>): Promise<string> {
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + CLI_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const url = /serving the report at (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(stderr())?.[1];
    if (url) return url;
    if (done) throw new Error(`serve exited early: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for the serving line: ${stderr()}`);
}

describe.skipIf(clickHouseSkip !== null)('clickhouse copy of hostile names', () => {
  let duckdb: DuckDBStore;
  let clickhouse: ClickHouseStore;
  let dir: string;

  beforeAll(async () => {
    const hostile = await ingestedStore([HOSTILE_LOG]);
    hostile.store.close();
    dir = hostile.dir;
    const database = 'serve_hostile_test';
    const target = `clickhouse://127.0.0.1:${clickHouse.httpPort}/${database}`;
    await runMigrate(`duckdb:${hostile.storePath}`, target, 'mx1.example.org');
    duckdb = await DuckDBStore.open(hostile.storePath);
    clickhouse = await ClickHouseStore.open(clickHouse.location(database));
  }, 120_000);

  afterAll(async () => {
    duckdb?.close();
    await clickhouse?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    '/api/export.csv',
    `/api/accounts/${encodeURIComponent('<script>alert(1)</script>')}`,
    '/api/accounts',
  ])('%s is the same on both', async (url) => {
    const duckdbApp = serverOn(duckdb);
    const clickHouseApp = serverOn(clickhouse);

    const expected = await duckdbApp.inject({ url });
    const actual = await clickHouseApp.inject({ url });

    expect(expected.statusCode).toBe(200);
    expect(actual.statusCode).toBe(200);
    expect(actual.body).toBe(expected.body);
    await duckdbApp.close();
    await clickHouseApp.close();
  });

  it('export neutralises formula cells', async () => {
    const app = serverOn(clickhouse);

    const response = await app.inject({ url: '/api/export.csv' });

    expect(response.body).toContain(`"'=HYPERLINK(""x"")",'+cmd@example.org,`);
    await app.close();
  });
});

describe.skipIf(clickHouseSkip !== null)('clickhouse export during other requests', () => {
  it('keeps every row', async () => {
    const app = serverOn(stores.clickhouse!);

    const exported = app.inject({ url: '/api/export.csv' });
    const summaries = Array.from({ length: 5 }, () => app.inject({ url: '/api/summary' }));
    const [csv, ...others] = await Promise.all([exported, ...summaries]);

    expect(csv.body.trimEnd().split('\n')).toHaveLength(16);
    for (const summary of others) expect(summary.json().messages).toBe(18);
    await app.close();
  });
});
