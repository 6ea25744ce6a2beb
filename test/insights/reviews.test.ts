import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addReview, listReviews, MAX_NOTE_LENGTH } from '../../src/insights/reviews.js';
import { Ingest } from '../../src/ingest/pipeline.js';
import { resolveSources } from '../../src/sources/files.js';
import type { StoreQuery } from '../../src/store/duckdb/store.js';
import { tempDir, writeLog } from '../helpers/ingest.js';
import { PostfixLog } from './postfix-log.js';
import { buildStore, type TestStore } from './store.js';

const LAB_LOG = readFileSync('test/fixtures/postfix/lab-submission.log', 'utf8');
const NEWEST_LAB_EVENT = '2026-12-04T16:22:33.000Z';

describe('review marks', () => {
  let store: TestStore;
  const query = (): StoreQuery => (sql, params) => store.store.all(sql, params);
  const open = async () => (await store.insights({}, { defaultPeriod: true })).signals;
  const ids = async () => (await open()).map((s) => s.id).sort();

  beforeAll(async () => {
    store = await buildStore(LAB_LOG);
  });
  afterAll(() => store.close());

  it('hides every signal of a reviewed account', async () => {
    expect((await ids()).filter((id) => id.includes('user1@example.org'))).toEqual([
      'auth-without-tls|user1@example.org|192.0.2.4',
      'foreign-sender|user1@example.org|',
    ]);

    const mark = await addReview(query(), {
      subjectKind: 'account',
      subject: 'user1@example.org',
      note: 'sends as the old domain on purpose; printer port fixed',
    });
    expect(mark.reviewedThrough).toBe(NEWEST_LAB_EVENT);
    expect(mark.signal).toBeNull();

    const result = await store.insights({}, { defaultPeriod: true });
    expect(result.signals.filter((s) => s.account === 'user1@example.org')).toEqual([]);
    expect(result.reviewed).toBe(2);
  });

  it('lists reviewed signals with their note on request', async () => {
    const all = (await store.insights({}, { defaultPeriod: true, includeReviewed: true })).signals;
    const reviewed = all.filter((s) => s.reviewed !== null);
    expect(reviewed.map((s) => s.id).sort()).toEqual([
      'auth-without-tls|user1@example.org|192.0.2.4',
      'foreign-sender|user1@example.org|',
    ]);
    expect(reviewed[0].reviewed).toMatchObject({
      note: 'sends as the old domain on purpose; printer port fixed',
      reviewedThrough: NEWEST_LAB_EVENT,
    });
  });

  it('hides only the named signal', async () => {
    await addReview(query(), {
      subjectKind: 'account',
      subject: 'alerts@example.com',
      signal: 'legacy-tls',
      note: 'monitoring box replaced next week',
    });
    const alerts = (await open()).filter((s) => s.account === 'alerts@example.com');
    expect(alerts.map((s) => s.signal)).toEqual(['foreign-sender']);
  });

  it('hides the signals of a reviewed client address', async () => {
    await addReview(query(), {
      subjectKind: 'client-ip',
      subject: '192.0.2.4',
      note: 'the lab printer port',
    });
    const remaining = (await open()).filter((s) => s.clientIp === '192.0.2.4');
    expect(remaining).toEqual([]);
  });

  it('keeps the newest mark per subject and signal', async () => {
    await addReview(query(), {
      subjectKind: 'client-ip',
      subject: '192.0.2.4',
      note: 'printer port, checked again',
    });
    const marks = await listReviews(query());
    const forAddress = marks.filter((m) => m.subject === '192.0.2.4');
    expect(forAddress.map((m) => m.note)).toEqual(['printer port, checked again']);
    expect(marks).toHaveLength(3);
  });

  it('opens a signal again after new activity', async () => {
    const log = new PostfixLog();
    log.submit({
      at: '2026-12-05T08:00:00Z',
      account: 'user1@example.org',
      clientIp: '203.0.113.5',
      sender: 'user1@example.com',
    });
    const { dir, cleanup } = tempDir();
    try {
      const ingest = new Ingest(store.store, { timeZone: 'UTC', year: 2026 });
      await ingest.run(await resolveSources([writeLog(dir, 'later.log', log.text())]));
    } finally {
      cleanup();
    }

    const user1 = (await open()).filter((s) => s.account === 'user1@example.org');
    expect(user1.map((s) => s.signal)).toEqual(['foreign-sender']);
    expect(user1[0].lastSeen).toBe('2026-12-05T08:00:00.000Z');
  });

  it('covers later activity with a permanent mark', async () => {
    await addReview(query(), {
      subjectKind: 'account',
      subject: 'user1@example.org',
      signal: 'foreign-sender',
      note: 'example.com is the old domain of the same company',
      permanent: true,
    });
    expect((await open()).filter((s) => s.account === 'user1@example.org')).toEqual([]);
    const [mark] = (await listReviews(query())).filter((m) => m.signal === 'foreign-sender');
    expect(mark.reviewedThrough).toBeNull();
  });

  it('rejects an empty note', async () => {
    const request = { subjectKind: 'account' as const, subject: 'printer', note: '  ' };
    await expect(addReview(query(), request)).rejects.toThrow(/--note.*write what was checked/);
  });

  it('rejects a note that is too long', async () => {
    const note = 'x'.repeat(MAX_NOTE_LENGTH + 1);
    const request = { subjectKind: 'account' as const, subject: 'printer', note };
    await expect(addReview(query(), request)).rejects.toThrow(/longer than 2000/);
  });
});
