import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildServer } from '../../src/server/app.js';
import { HOSTILE_LOG, ingestedStore, LAB_LOG, type TestStore } from './store.js';

const HEADER =
  'day,account,senderAddress,senderDomain,clientIp,tlsProtocol,saslMechanism,server,messages,recipients';

describe('CSV export of the lab log', () => {
  let lab: TestStore;

  beforeAll(async () => {
    lab = await ingestedStore([LAB_LOG]);
  });
  afterAll(() => lab.close());

  it('streams the header and one row per combination', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot: '/nonexistent' });

    const response = await app.inject({ url: '/api/export.csv' });
    const lines = response.body.trimEnd().split('\n');

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toBe(
      'attachment; filename="smtp-auth-report-2026-11-28-2026-12-04.csv"',
    );
    expect(lines[0]).toBe(HEADER);
    expect(lines).toHaveLength(16);
    expect(lines).toContain(
      '2026-12-04,user1@example.org,user1@example.org,example.org,192.0.2.4,none,LOGIN,mail,2,4',
    );
    await app.close();
  });

  it('names the requested period in the file name', async () => {
    const app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot: '/nonexistent' });

    const response = await app.inject({
      url: '/api/export.csv?from=2026-12-01&to=2026-12-03&domain=example.org',
    });

    expect(response.headers['content-disposition']).toBe(
      'attachment; filename="smtp-auth-report-2026-12-01-2026-12-03.csv"',
    );
    expect(response.body).toBe(`${HEADER}\n`);
    await app.close();
  });
});

describe('CSV export of hostile account names', () => {
  let hostile: TestStore;

  beforeAll(async () => {
    hostile = await ingestedStore([HOSTILE_LOG]);
  });
  afterAll(() => hostile.close());

  it('neutralises cells a spreadsheet would run', async () => {
    const app = buildServer({ store: hostile.store, timeZone: 'UTC', webRoot: '/nonexistent' });

    const response = await app.inject({ url: '/api/export.csv' });

    expect(response.body).toBe(
      `${HEADER}\n` +
        "2026-12-03,<script>alert(1)</script>,'@example.com,example.com,192.0.2.51,TLSv1.3,LOGIN,mail,1,2\n" +
        `2026-12-03,"'=HYPERLINK(""x"")",'+cmd@example.org,example.org,192.0.2.50,TLSv1.2,PLAIN,mail,1,1\n`,
    );
    await app.close();
  });

  it('returns hostile names as JSON strings', async () => {
    const app = buildServer({ store: hostile.store, timeZone: 'UTC', webRoot: '/nonexistent' });

    const response = await app.inject({
      url: `/api/accounts/${encodeURIComponent('<script>alert(1)</script>')}`,
    });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.json().account).toBe('<script>alert(1)</script>');
    await app.close();
  });
});

/** Generate a Postfix log of `count` sessions, each a message from its own account. */
function manyAccountsLog(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const pid = 5000 + (i % 50);
    const queueId = (0x10000000 + i).toString(16).toUpperCase();
    const ip = `192.0.2.${1 + (i % 200)}`;
    const prefix = `Dec 04 10:${String(Math.floor(i / 600) % 60).padStart(2, '0')}:${String(Math.floor(i / 10) % 60).padStart(2, '0')} mail`;
    lines.push(
      `${prefix} postfix/submission/smtpd[${pid}]: connect from unknown[${ip}]`,
      `${prefix} postfix/submission/smtpd[${pid}]: Anonymous TLS connection established from unknown[${ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`,
      `${prefix} postfix/submission/smtpd[${pid}]: ${queueId}: client=unknown[${ip}], sasl_method=PLAIN, sasl_username=user${i}@example.org`,
      `${prefix} postfix/qmgr[4000]: ${queueId}: from=<user${i}@example.org>, size=300, nrcpt=1 (queue active)`,
      `${prefix} postfix/submission/smtpd[${pid}]: disconnect from unknown[${ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8`,
    );
  }
  return lines.join('\n') + '\n';
}

describe('CSV export during other requests', () => {
  const ACCOUNTS = 6000;
  let many: TestStore;
  let logDir: string;

  beforeAll(async () => {
    logDir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-many-'));
    const log = path.join(logDir, 'many.log');
    writeFileSync(log, manyAccountsLog(ACCOUNTS));
    many = await ingestedStore([log]);
  });
  afterAll(() => {
    many.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  // DuckDB ends a streamed result early when another query runs on its connection.
  it('keeps every row while other requests run', async () => {
    const app = buildServer({ store: many.store, timeZone: 'UTC', webRoot: '/nonexistent' });

    const exported = app.inject({ url: '/api/export.csv' });
    const summaries = Array.from({ length: 5 }, () => app.inject({ url: '/api/summary' }));
    const [csv, ...others] = await Promise.all([exported, ...summaries]);

    expect(csv.body.trimEnd().split('\n')).toHaveLength(ACCOUNTS + 1);
    for (const summary of others) expect(summary.json().messages).toBe(ACCOUNTS);
    await app.close();
  });
});
