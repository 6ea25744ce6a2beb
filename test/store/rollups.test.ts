/**
 * The report views read rollups. Every view must return exactly what the same view counted
 * from the event tables returns, for every time zone and filter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { accountDetailFromEvents, queryAccountDetail } from '../../src/queries/account-detail.js';
import {
  ACCOUNT_SORTS,
  accountsFromEvents,
  queryAccounts,
  type AccountPage,
} from '../../src/queries/accounts.js';
import { domainsFromEvents, queryDomains } from '../../src/queries/domains.js';
import { failuresFromEvents, queryFailures } from '../../src/queries/failures.js';
import type { ReportFilter } from '../../src/queries/filters.js';
import { querySummary, summaryFromEvents } from '../../src/queries/summary.js';
import {
  queryTlsByAccount,
  queryTlsByDay,
  TLS_ACCOUNT_SORTS,
  tlsByAccountFromEvents,
  tlsByDayFromEvents,
  type TlsAccountPage,
} from '../../src/queries/tls.js';
import { queryVolume, volumeFromEvents } from '../../src/queries/volume.js';
import { ensureRollups } from '../../src/store/duckdb/rollups.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { tempDir } from '../helpers/ingest.js';
import { buildEvents, insertPhase, type EventRows } from './rollup-events.js';

/** Small chunks and eager merging, so that a small store takes every refresh path. */
const REFRESH = { chunkRows: 700, mergeSlack: 0 };

const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Kolkata', 'America/St_Johns', 'Asia/Kathmandu'];

/** Filters without the zone; the events span 2026-10-20 to 2026-11-08. */
const FILTERS: Omit<ReportFilter, 'timeZone'>[] = [
  {},
  { from: '2026-10-19', to: '2026-11-09' },
  { from: '2026-10-24', to: '2026-10-26' },
  { from: '2026-11-02', to: '2026-11-02' },
  { from: '2026-10-19', to: '2026-11-09', domain: 'example.com' },
  { from: '2026-10-19', to: '2026-11-09', search: 'ann' },
  { from: '2026-10-19', to: '2026-11-09', search: 'EXAMPLE.NET' },
  { from: '2026-10-22', to: '2026-11-05', domain: 'example.org', search: 'info' },
  { from: '2026-10-19', to: '2026-11-09', search: 'no such text' },
  { from: '2026-10-19', to: '2026-11-09', domain: 'absent.example' },
  { from: '2026-10-19', to: '2026-11-09', server: 'mail1' },
];

let dir: { dir: string; cleanup: () => void };
let store: DuckDBStore;
let events: EventRows;

/** Whether the last call read a rollup table, so that a comparison cannot pass by falling back. */
let readRollups = false;

beforeAll(async () => {
  dir = tempDir('sar-rollups-');
  store = await DuckDBStore.open(`${dir.dir}/store.duckdb`);
  events = buildEvents();

  // Three ingests with refreshes between them; the last one adds older events, out of order.
  for (const phase of [1, 2, 3]) {
    await insertPhase(store, events, phase);
    await ensureRollups(store, REFRESH);
  }

  // The run that stored mail2's events without a TLS line is unfinished; settling them to
  // `none` must move their counts in the rollups too.
  await store.settleNoTlsLine(['mail2']);

  const all = store.all.bind(store);
  store.all = async (sql, params) => {
    if (/\brollup_\w+_(q|d\d+)\b/.test(sql)) readRollups = true;
    return all(sql, params);
  };
}, 120_000);

afterAll(() => {
  store.close();
  dir.cleanup();
});

/** Run the rollup view and note whether it read rollups. */
async function viaRollups<T>(query: () => Promise<T>): Promise<{ result: T; read: boolean }> {
  readRollups = false;
  const result = await query();
  return { result, read: readRollups };
}

describe('rollup store', () => {
  it('settles TLS versions of unfinished runs', async () => {
    const [row] = await store.all(
      `SELECT count(*) FILTER (WHERE tls_protocol = 'unknown') AS unknown,
              count(*) FILTER (WHERE tls_protocol = 'none') AS none
       FROM submitted_messages
       WHERE server = 'mail2' AND tls_evidence = 'no-line' AND ingest_run = 2`,
    );

    expect(events.settledMessages).toBeGreaterThan(0);
    expect(row.unknown).toBe(0);
    expect(row.none).toBe(events.noLineMessages);
  });

  it('holds every event row', async () => {
    const [row] = await store.all(
      `SELECT (SELECT sum(messages) FROM rollup_account_d1) AS messages,
              (SELECT sum(failures) FROM rollup_failure_d1) AS failures,
              (SELECT sum(messages) FROM rollup_domain_q) AS quarters`,
    );

    expect(row.messages).toBe(events.messages.length);
    expect(row.failures).toBe(events.failures.length);
    expect(row.quarters).toBe(events.messages.length);
  });

  it('keeps one failure row per key and day', async () => {
    const [row] = await store.all(
      `SELECT count(*) AS rows, count(DISTINCT (bucket, username_id, client_ip_id,
              mechanism_id, tls_code, server_id)) AS keys FROM rollup_failure_d1`,
    );

    expect(row.rows).toBe(row.keys);
  });
});

describe('interrupted refresh', () => {
  it('adds every event once when run again', async () => {
    const other = tempDir('sar-rollups-failed-');
    const failing = await DuckDBStore.open(`${other.dir}/store.duckdb`);
    try {
      for (const phase of [1, 2, 3]) await insertPhase(failing, events, phase);

      // Fail the fourth chunk's first rollup insert, after three chunks have committed.
      const all = failing.all.bind(failing);
      let inserts = 0;
      failing.all = async (sql, params) => {
        if (sql.includes('INSERT INTO rollup_domain_q') && ++inserts === 4) {
          throw new Error('disk full');
        }
        return all(sql, params);
      };
      await expect(ensureRollups(failing, REFRESH)).rejects.toThrow('disk full');
      const [partial] = await all(
        "SELECT rows_done FROM rollup_progress WHERE source = 'submitted_messages'",
      );
      expect(partial.rows_done).toBe(3 * REFRESH.chunkRows);

      failing.all = all;
      await ensureRollups(failing, REFRESH);
      const filter = { from: '2026-10-19', to: '2026-11-09', timeZone: 'Europe/Berlin' };
      expect(await querySummary(failing, filter)).toEqual(await summaryFromEvents(failing, filter));
      const page = { sort: 'messages' as const, limit: 1000 };
      expect(await queryAccounts(failing, filter, page)).toEqual(
        await accountsFromEvents(failing, filter, page),
      );
    } finally {
      failing.close();
      other.cleanup();
    }
  });
});

describe.each(ZONES)('views in %s equal the event counts', (timeZone) => {
  const filters = FILTERS.map((f) => ({ ...f, timeZone }));
  const usesRollups = (filter: ReportFilter) => !filter.server;

  it.each(filters)('summary for %o', async (filter) => {
    const { result, read } = await viaRollups(() => querySummary(store, filter));

    expect(result).toEqual(await summaryFromEvents(store, filter));
    expect(read).toBe(usesRollups(filter));
  });

  it.each(filters)('domains for %o', async (filter) => {
    const { result, read } = await viaRollups(() => queryDomains(store, filter));

    expect(result).toEqual(await domainsFromEvents(store, filter));
    expect(read).toBe(usesRollups(filter));
  });

  it.each(filters)('volume for %o', async (filter) => {
    const { result } = await viaRollups(() => queryVolume(store, filter));

    expect(result).toEqual(await volumeFromEvents(store, filter));
  });

  it.each(filters)('TLS per day for %o', async (filter) => {
    const { result } = await viaRollups(() => queryTlsByDay(store, filter));

    expect(result).toEqual(await tlsByDayFromEvents(store, filter));
  });

  it.each(filters)('failures for %o', async (filter) => {
    for (const options of [{ limit: 7 }, {}, { limit: 100_000 }]) {
      const { result } = await viaRollups(() => queryFailures(store, filter, options));

      expect(result).toEqual(await failuresFromEvents(store, filter, options));
    }
  });

  it.each(filters)('account pages for %o', async (filter) => {
    for (const page of accountPages(timeZone)) {
      const { result, read } = await viaRollups(() => queryAccounts(store, filter, page));

      expect(result).toEqual(await accountsFromEvents(store, filter, page));
      expect(read).toBe(usesRollups(filter));
    }
  });

  it.each(filters)('TLS account pages for %o', async (filter) => {
    for (const page of tlsPages(timeZone)) {
      const { result, read } = await viaRollups(() => queryTlsByAccount(store, filter, page));

      expect(result).toEqual(await tlsByAccountFromEvents(store, filter, page));
      expect(read).toBe(usesRollups(filter));
    }
  });

  it.each(filters)('account details for %o', async (filter) => {
    for (const account of [...events.detailAccounts, 'nobody@example.org']) {
      const { result } = await viaRollups(() => queryAccountDetail(store, filter, account));

      expect(result).toEqual(await accountDetailFromEvents(store, filter, account));
    }
  });
});

describe('rollups in UTC', () => {
  it('answer the default views without the event rows', async () => {
    const filter = { from: '2026-10-19', to: '2026-11-09', timeZone: 'UTC' };
    const seen: string[] = [];
    const all = store.all;
    store.all = async (sql, params) => {
      seen.push(sql);
      return all(sql, params);
    };
    try {
      await queryVolume(store, filter);
      await queryTlsByDay(store, filter);
      await queryFailures(store, filter, { limit: 10 });
      await queryAccounts(store, { ...filter, search: 'ann' }, { limit: 5 });
    } finally {
      store.all = all;
    }

    // Only the newest event and the rollup progress read the event tables.
    const reads = seen.filter((sql) => /FROM (submitted_messages|auth_failures)\b/.test(sql));
    const allowed = /max\(ts\) FROM submitted_messages|count\(\*\) FROM submitted_messages/;
    expect(reads.filter((sql) => !allowed.test(sql))).toEqual([]);
  });
});

/**
 * Return every sort in both orders in UTC, and a few pages elsewhere, because the zone changes
 * which rows are summed, not how they are ranked.
 */
function accountPages(timeZone: string): AccountPage[] {
  if (timeZone !== 'UTC') {
    return [{}, { sort: 'legacyTlsPercent', order: 'asc', limit: 4, offset: 1 }];
  }
  const pages: AccountPage[] = [];
  for (const sort of ACCOUNT_SORTS) {
    for (const order of ['asc', 'desc'] as const) pages.push({ sort, order, limit: 4, offset: 0 });
  }
  pages.push({ sort: 'messages', order: 'desc', limit: 3, offset: 5 });
  pages.push({ sort: 'lastSeen', order: 'asc', limit: 1000, offset: 0 });
  pages.push({ sort: 'messages', order: 'desc', limit: 10, offset: 10_000 });
  pages.push({});
  return pages;
}

function tlsPages(timeZone: string): TlsAccountPage[] {
  if (timeZone !== 'UTC') return [{}, { sort: 'TLSv1.2', order: 'desc', limit: 3, offset: 2 }];
  const pages: TlsAccountPage[] = [];
  for (const sort of TLS_ACCOUNT_SORTS) {
    for (const order of ['asc', 'desc'] as const) pages.push({ sort, order, limit: 4, offset: 2 });
  }
  pages.push({ limit: 10, offset: 10_000 });
  pages.push({});
  return pages;
}
