import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MAX_NOTE_LENGTH } from '../../src/insights/reviews.js';
import { buildServer } from '../../src/server/app.js';
import { ingestedStore, LAB_LOG, type TestStore } from './store.js';

let lab: TestStore;
let app: FastifyInstance;

beforeAll(async () => {
  lab = await ingestedStore([LAB_LOG]);
  app = buildServer({ store: lab.store, timeZone: 'UTC', webRoot: '/nonexistent' });
});

afterAll(async () => {
  await app.close();
  lab.close();
});

async function get(url: string) {
  const response = await app.inject({ url });
  return { status: response.statusCode, body: response.json() };
}

async function post(url: string, payload: object) {
  const response = await app.inject({ method: 'POST', url, payload });
  return { status: response.statusCode, body: response.json() };
}

type Listed = { signal: string; account: string | null; evidenceDays: string[] };

describe('insights endpoints on the lab log', () => {
  it('lists the open signals ranked', async () => {
    const { status, body } = await get('/api/insights');

    expect(status).toBe(200);
    expect(body).toMatchObject({ from: '2026-11-28', to: '2026-12-04', timeZone: 'UTC' });
    expect(body.open).toBe(8);
    expect(body.reviewed).toBe(0);
    expect(body.signals.map((s: Listed) => [s.signal, s.account])).toEqual([
      ['auth-without-tls', 'billing@example.net'],
      ['auth-without-tls', 'printer'],
      ['auth-without-tls', 'user1@example.org'],
      ['foreign-sender', 'alerts@example.com'],
      ['foreign-sender', 'scanner@example.org'],
      ['foreign-sender', 'user1@example.org'],
      ['legacy-tls', 'alerts@example.com'],
      ['legacy-tls', 'billing@example.net'],
    ]);
    expect(body.signals[0].evidenceDays).toEqual(['2026-12-04']);
  });

  it('filters by minimum severity', async () => {
    const { body } = await get('/api/insights?minSeverity=medium');

    expect(body.signals).toHaveLength(6);
  });

  it('rejects an unknown severity', async () => {
    const { status, body } = await get('/api/insights?minSeverity=urgent');

    expect(status).toBe(400);
    expect(body.error.message).toBe(
      'invalid value "urgent" for minSeverity: expected one of low, medium, high, critical',
    );
  });

  it('has no signals before the log', async () => {
    const { body } = await get('/api/insights?from=2026-11-01&to=2026-11-07');

    expect(body).toMatchObject({ open: 0, reviewed: 0, signals: [] });
  });

  it('rejects a review of an unknown account', async () => {
    const { status, body } = await post('/api/reviews', {
      account: 'nobody@example.org',
      note: 'checked',
    });

    expect(status).toBe(404);
    expect(body.error).toEqual({
      code: 'not-found',
      message: 'account "nobody@example.org" with messages or failed logins in the store not found',
      status: 404,
    });
  });

  it('rejects a review without a note', async () => {
    const { status, body } = await post('/api/reviews', { account: 'printer', note: ' ' });

    expect(status).toBe(400);
    expect(body.error.message).toBe('invalid value " " for note: write what was checked or done');
  });

  it('rejects a review of a malformed client address', async () => {
    const { status, body } = await post('/api/reviews', { clientIp: '192.0.2', note: 'checked' });

    expect(status).toBe(400);
    expect(body.error.message).toBe(
      'invalid value "192.0.2" for clientIp: expected an IPv4 or IPv6 address',
    );
  });

  it('repeats only the start of a note that is too long', async () => {
    const note = 'n'.repeat(MAX_NOTE_LENGTH + 1);
    const { status, body } = await post('/api/reviews', { account: 'printer', note });

    expect(status).toBe(400);
    expect(body.error.message).toBe(
      `invalid value "${'n'.repeat(40)}..." for note: expected at most ${MAX_NOTE_LENGTH} characters`,
    );
  });

  it('counts an emoji in a note as one character', async () => {
    const note = '\u{1F600}'.repeat(MAX_NOTE_LENGTH);
    const { status, body } = await post('/api/reviews', { account: 'printer', note });

    expect(status).toBe(201);
    expect(body.note).toBe(note);
  });

  it('rejects a review of two subjects', async () => {
    const { status, body } = await post('/api/reviews', {
      account: 'printer',
      clientIp: '192.0.2.4',
      note: 'checked',
    });

    expect(status).toBe(400);
    expect(body.error.message).toBe(
      'invalid value "printer" for account: give either account or clientIp',
    );
  });

  it('review hides the account until reopened by activity', async () => {
    const review = await post('/api/reviews', { account: 'printer', note: 'old office printer' });

    expect(review.status).toBe(201);
    expect(review.body).toMatchObject({
      subjectKind: 'account',
      subject: 'printer',
      signal: null,
      note: 'old office printer',
      reviewedThrough: '2026-12-04T16:22:33.000Z',
    });

    const open = await get('/api/insights');
    expect(open.body.open).toBe(7);
    expect(open.body.reviewed).toBe(1);
    expect(open.body.signals.some((s: Listed) => s.account === 'printer')).toBe(false);

    const all = await get('/api/insights?reviewed=include');
    const printer = all.body.signals.find((s: Listed) => s.account === 'printer');
    expect(printer.reviewed.note).toBe('old office printer');
  });

  it('reviews a client address', async () => {
    const review = await post('/api/reviews', {
      clientIp: '192.0.2.2',
      signal: 'legacy-tls',
      note: 'scanner firmware update ordered',
    });

    expect(review.status).toBe(201);
    const { body } = await get('/api/insights');
    expect(body.signals.filter((s: Listed) => s.signal === 'legacy-tls')).toHaveLength(1);
  });
});

describe('failed-logins pivot endpoint', () => {
  it('ranks client IPs by failures', async () => {
    const { status, body } = await get('/api/failures/pivot?by=ip&limit=3');

    expect(status).toBe(200);
    expect(body).toEqual({
      from: '2026-11-28',
      to: '2026-12-04',
      by: 'ip',
      total: 7,
      rows: [
        { key: '192.0.2.9', failures: 2, usernames: 2, clientIps: 1, days: 1 },
        { key: '192.0.2.10', failures: 1, usernames: 1, clientIps: 1, days: 1 },
        { key: '192.0.2.2', failures: 1, usernames: 1, clientIps: 1, days: 1 },
      ],
    });
  });

  it('groups by username', async () => {
    const { body } = await get('/api/failures/pivot?by=username');

    expect(body.total).toBe(6);
    expect(body.rows.slice(0, 2)).toEqual([
      { key: 'alerts@example.com', failures: 2, usernames: 1, clientIps: 2, days: 1 },
      { key: 'ghost@example.org', failures: 2, usernames: 1, clientIps: 2, days: 1 },
    ]);
  });

  it('groups by day from the event rows too', async () => {
    // A server filter reads the event rows instead of the rollups.
    const rollups = await get('/api/failures/pivot?by=day');
    const events = await get('/api/failures/pivot?by=day&server=mail');

    const day = { key: '2026-12-04', failures: 8, usernames: 6, clientIps: 7, days: 1 };
    expect(rollups.body.rows).toEqual([day]);
    expect(events.body.rows).toEqual([day]);
  });

  it('rejects an unknown grouping', async () => {
    const { status, body } = await get('/api/failures/pivot?by=mechanism');

    expect(status).toBe(400);
    expect(body.error.message).toBe(
      'invalid value "mechanism" for by: expected one of day, username, ip',
    );
  });
});
