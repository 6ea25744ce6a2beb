import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { buildProgram } from '../../src/cli/main.js';
import { runMigrate } from '../../src/cli/migrate.js';
import { FORMATS, printReport, VIEWS, type Format, type View } from '../../src/cli/report.js';
import { queryAccountDetail } from '../../src/queries/account-detail.js';
import { ACCOUNT_SORTS, queryAccounts, type AccountPage } from '../../src/queries/accounts.js';
import { streamDetails, type DetailRow } from '../../src/queries/details.js';
import { queryDomains } from '../../src/queries/domains.js';
import { FAILURE_PIVOTS, queryFailurePivot, queryFailures } from '../../src/queries/failures.js';
import { resolvePeriod, type ReportFilter } from '../../src/queries/filters.js';
import { querySummary } from '../../src/queries/summary.js';
import {
  queryTls,
  queryTlsByAccount,
  queryTlsByDay,
  TLS_ACCOUNT_SORTS,
  type TlsAccountPage,
} from '../../src/queries/tls.js';
import { queryVolume } from '../../src/queries/volume.js';
import { sql, sqlIdentifier } from '../../src/store/clickhouse/sql.js';
import { ClickHouseStore, type InsertRow } from '../../src/store/clickhouse/store.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import type { ReportStore } from '../../src/store/report-store.js';
import { tempDir, writeLog } from '../helpers/ingest.js';
import { ingestFiles } from '../helpers/store.js';
import { clickHouseSkipReason, TestServer } from './server.js';

const FIXTURES = path.resolve('test/fixtures');
const LAB_LOG = path.join(FIXTURES, 'postfix/lab-submission.log');
const LAB_TRUTH = JSON.parse(
  readFileSync(path.join(FIXTURES, 'postfix/lab-submission.truth.json'), 'utf8'),
) as { totals: { messages: number; recipients: number; failures: number } };
const DATABASE = 'views_test';
const INGEST_HOST = 'mx9.example.org';
const ALL_TIME = { from: '1970-01-01', to: '2100-12-31' };

/**
 * Copies of the Postfix lab log moved to the edges of report days: local midnight in
 * Europe/Berlin on both DST days of 2026 and in Asia/Kathmandu (+05:45). The log spans 16
 * seconds, so each copy has messages on both sides of its midnight.
 */
const SHIFTED_COPIES = [
  { server: 'mx1.example.org', start: '2026-03-28T22:59:52Z' },
  { server: 'mx1.example.org', start: '2026-03-29T21:59:52Z' },
  { server: 'mx2.example.org', start: '2026-10-24T21:59:52Z' },
  { server: 'mx2.example.org', start: '2026-10-25T22:59:52Z' },
  { server: 'mx2.example.org', start: '2026-03-28T18:14:52Z' },
];
const NO_TLS_SERVER = 'notls.example.org';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const SYSLOG_TIME = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) /;

/** Moves every syslog timestamp of a 2026 log so that its first line is at `startIso`. */
function shiftLog(text: string, startIso: string): string {
  const lines = text.split('\n');
  const timeOf = (line: string) => {
    const m = SYSLOG_TIME.exec(line);
    if (!m) return null;
    return Date.UTC(2026, MONTHS.indexOf(m[1]), Number(m[2]), +m[3], +m[4], +m[5]);
  };
  const first = lines.map(timeOf).find((time) => time !== null)!;
  const delta = Date.parse(startIso) - first;
  return lines
    .map((line) => {
      const time = timeOf(line);
      if (time === null) return line;
      const d = new Date(time + delta);
      const pad = (n: number) => String(n).padStart(2, '0');
      const stamp = `${MONTHS[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} `;
      return line.replace(SYSLOG_TIME, stamp);
    })
    .join('\n');
}

function fixtureLogs(): string[] {
  return readdirSync(FIXTURES, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => path.join(FIXTURES, name));
}

/** Ingests every fixture, the shifted copies and a copy without TLS lines into one store. */
async function buildDuckDBStore(dir: string, storePath: string): Promise<void> {
  await ingestFiles(storePath, fixtureLogs());

  const lab = readFileSync(LAB_LOG, 'utf8');
  for (const [index, copy] of SHIFTED_COPIES.entries()) {
    const file = writeLog(dir, `shifted-${index}.log`, shiftLog(lab, copy.start));
    await ingestFiles(storePath, [file], { serverName: copy.server });
  }

  // smtpd_tls_loglevel = 0: Postfix logs no TLS line at all. The syslog host changes too,
  // because the correlator remembers per host that the copies above log TLS.
  const noTls = lab
    .split('\n')
    .filter((line) => !line.includes('TLS connection established'))
    .map((line) => line.replace(' mail postfix/', ' notls postfix/'))
    .join('\n');
  // The newest event of the fixtures is a failed login of 2028-04-12 (sasl-failures.log spans
  // years). This copy puts messages into the default period, the 7 days that end there.
  const file = writeLog(dir, 'no-tls.log', shiftLog(noTls, '2026-04-11T20:00:00Z'));
  await ingestFiles(storePath, [file], { serverName: NO_TLS_SERVER, year: 2028 });
}

/**
 * Inserts the first rows of each event table again, as a writer does that sends a batch a
 * second time, and returns how many copies there are. Merges are stopped first, so the copies
 * stay in their own parts and only the queries can collapse them.
 */
async function sendBatchAgain(store: ClickHouseStore): Promise<number> {
  await store.run('SYSTEM STOP MERGES');
  let copies = 0;
  for (const table of ['submitted_messages', 'auth_failures']) {
    const rows = await store.all(
      sql`SELECT * FROM ${sqlIdentifier(table)} ORDER BY line_offset LIMIT 40`,
    );
    await store.insertRows(table, rows as InsertRow[]);
    copies += rows.length;
  }
  return copies;
}

/** Runs `work` and returns what it wrote to standard output and standard error. */
async function captureOutput(work: () => Promise<unknown>): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
  try {
    await work();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return { out: out.join(''), err: err.join('') };
}

/** Reads the whole detailed download into one list. */
async function detailRows(store: ReportStore, filter: ReportFilter): Promise<DetailRow[]> {
  const { period, chunks } = await streamDetails(store, filter);
  const rows: DetailRow[] = [];
  for await (const chunk of chunks) rows.push(...chunk);
  expect(period).toBeDefined();
  return rows;
}

/** Queries every view of one filter, as the API and the CLI request them. */
async function allViews(store: ReportStore, filter: ReportFilter) {
  const accounts = await queryAccounts(store, filter);
  const someAccounts = accounts.rows.slice(0, 3).map((row) => row.account);
  return {
    period: await resolvePeriod(store, filter),
    summary: await querySummary(store, filter),
    domains: await queryDomains(store, filter),
    volume: await queryVolume(store, filter),
    tls: await queryTls(store, filter, { limit: 4, offset: 1 }),
    tlsByAccount: await queryTlsByAccount(store, filter),
    tlsByDay: await queryTlsByDay(store, filter),
    accounts,
    accountPage: await queryAccounts(store, filter, { limit: 2, offset: 1 }),
    details: await Promise.all(
      someAccounts.map((account) => queryAccountDetail(store, filter, account)),
    ),
    failures: await queryFailures(store, filter),
    failurePage: await queryFailures(store, filter, { limit: 5 }),
    pivots: await Promise.all(FAILURE_PIVOTS.map((by) => queryFailurePivot(store, filter, by))),
    pivotPages: await Promise.all(
      FAILURE_PIVOTS.map((by) => queryFailurePivot(store, filter, by, { limit: 3 })),
    ),
    // DuckDB's export queries every day from the first event to the last. Over the 27 years
    // of the fixtures that takes half a minute, so a test of its own covers long periods.
    export: filter.from === ALL_TIME.from ? [] : await detailRows(store, filter),
  };
}

const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Kathmandu'];
const PERIODS: { name: string; from?: string; to?: string }[] = [
  { name: 'default period' },
  { name: 'all time', ...ALL_TIME },
  { name: 'year 2026', from: '2026-01-01', to: '2026-12-31' },
  { name: 'spring DST days', from: '2026-03-28', to: '2026-03-30' },
  { name: 'autumn DST days', from: '2026-10-24', to: '2026-10-26' },
  { name: 'one DST day', from: '2026-10-25', to: '2026-10-25' },
  { name: 'only a start', from: '2026-03-29' },
  { name: 'empty period', from: '2030-01-01', to: '2030-01-07' },
];
const FILTERS: { name: string; filter: Partial<ReportFilter> }[] = [
  { name: 'domain', filter: { domain: 'Example.ORG' } },
  { name: 'search', filter: { search: 'Alert' } },
  { name: 'server', filter: { server: 'mx1.example.org' } },
  { name: 'domain and server', filter: { domain: 'example.com', server: 'mx2.example.org' } },
  { name: 'search with a quote', filter: { search: "o'brien" } },
  { name: 'unknown domain', filter: { domain: 'nowhere.example.net' } },
];

const CASES = [
  ...ZONES.flatMap((timeZone) =>
    PERIODS.map(({ name, from, to }) => ({
      title: `${timeZone}, ${name}`,
      filter: { timeZone, from, to } as ReportFilter,
    })),
  ),
  ...FILTERS.flatMap(({ name, filter }) =>
    (
      [
        { timeZone: 'UTC', ...ALL_TIME },
        { timeZone: 'Europe/Berlin', from: '2026-03-28', to: '2026-03-30' },
        { timeZone: 'Asia/Kathmandu' },
      ] as ReportFilter[]
    ).map((base) => ({
      title: `${name}, ${base.timeZone}, ${base.from ?? 'default'}`,
      filter: { ...base, ...filter } as ReportFilter,
    })),
  ),
];

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `report views on clickhouse${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const server = new TestServer('views', 18141, 19041);
    const work = tempDir('sar-views-');
    const duckdbPath = path.join(work.dir, 'store.duckdb');
    const target = `clickhouse://127.0.0.1:${server.httpPort}/${DATABASE}`;
    let duckdb: DuckDBStore;
    let clickhouse: ClickHouseStore;
    let copies = 0;

    beforeAll(async () => {
      server.startFresh();
      await buildDuckDBStore(work.dir, duckdbPath);
      await runMigrate(`duckdb:${duckdbPath}`, target, INGEST_HOST);
      clickhouse = await ClickHouseStore.open(server.location(DATABASE));
      copies = await sendBatchAgain(clickhouse);
      duckdb = await DuckDBStore.open(duckdbPath);
    }, 300_000);

    afterAll(async () => {
      duckdb?.close();
      await clickhouse?.close();
      server.stop();
      work.cleanup();
    });

    it('store holds a batch twice', async () => {
      const [stored] = await clickhouse.all(sql`SELECT count() AS n FROM submitted_messages`);
      const [counted] = await duckdb.all('SELECT count(*) AS n FROM submitted_messages');
      const [failures] = await clickhouse.all(sql`SELECT count() AS n FROM auth_failures`);
      const [failed] = await duckdb.all('SELECT count(*) AS n FROM auth_failures');
      expect(copies).toBe(80);
      expect(Number(stored.n) + Number(failures.n)).toBe(
        Number(counted.n) + Number(failed.n) + copies,
      );
    });

    it.each(CASES)('views equal duckdb: $title', async ({ filter }) => {
      const expected = await allViews(duckdb, filter);
      const actual = await allViews(clickhouse, filter);
      // The servers mx1 and mx2 have messages in March and October 2026 only.
      const empty =
        filter.from === '2030-01-01' ||
        filter.domain === 'nowhere.example.net' ||
        filter.search === "o'brien" ||
        (filter.server !== undefined && filter.from === undefined);
      expect(expected.summary.messages > 0, 'messages in the period').toBe(!empty);
      expect(actual.period).toEqual(expected.period);
      expect(actual.summary).toEqual(expected.summary);
      expect(actual.domains).toEqual(expected.domains);
      expect(actual.volume).toEqual(expected.volume);
      expect(actual.tls).toEqual(expected.tls);
      expect(actual.tlsByAccount).toEqual(expected.tlsByAccount);
      expect(actual.tlsByDay).toEqual(expected.tlsByDay);
      expect(actual.accounts).toEqual(expected.accounts);
      expect(actual.accountPage).toEqual(expected.accountPage);
      expect(actual.details).toEqual(expected.details);
      expect(actual.failures).toEqual(expected.failures);
      expect(actual.failurePage).toEqual(expected.failurePage);
      expect(actual.pivots).toEqual(expected.pivots);
      expect(actual.pivotPages).toEqual(expected.pivotPages);
      expect(actual.export).toEqual(expected.export);
    });

    const TLS_PAGES: TlsAccountPage[] = TLS_ACCOUNT_SORTS.flatMap((sort) =>
      (['asc', 'desc'] as const).flatMap((order) => [
        { sort, order, limit: 3 },
        { sort, order, limit: 4, offset: 2 },
        { sort, order, limit: 10, offset: 1000 },
      ]),
    );

    it.each(TLS_PAGES)('tls page equals duckdb: $sort $order $limit $offset', async (page) => {
      const filter = { timeZone: 'Europe/Berlin', ...ALL_TIME };
      const expected = await queryTlsByAccount(duckdb, filter, page);
      expect(await queryTlsByAccount(clickhouse, filter, page)).toEqual(expected);
      const searched = { ...filter, search: 'example.com' };
      expect(await queryTls(clickhouse, searched, page)).toEqual(
        await queryTls(duckdb, searched, page),
      );
    });

    const ACCOUNT_PAGES: AccountPage[] = ACCOUNT_SORTS.flatMap((sort) =>
      (['asc', 'desc'] as const).flatMap((order) => [
        { sort, order },
        { sort, order, limit: 3 },
        { sort, order, limit: 4, offset: 2 },
        { sort, order, limit: 10, offset: 1000 },
      ]),
    );

    it.each(ACCOUNT_PAGES)(
      'accounts page equals duckdb: $sort $order $limit $offset',
      async (page) => {
        const filter = { timeZone: 'UTC', ...ALL_TIME };
        expect(await queryAccounts(clickhouse, filter, page)).toEqual(
          await queryAccounts(duckdb, filter, page),
        );
        const domain = { ...filter, domain: 'example.com' };
        expect(await queryAccounts(clickhouse, domain, page)).toEqual(
          await queryAccounts(duckdb, domain, page),
        );
      },
    );

    it('export equals duckdb over all time', async () => {
      // From 2022 on, because DuckDB's export queries every day from the first event to the
      // last. The period is still longer than the day offsets cover.
      for (const timeZone of ['UTC', 'Asia/Kathmandu']) {
        const filter = { timeZone, from: '2022-01-01', to: ALL_TIME.to };
        const expected = await detailRows(duckdb, filter);
        expect(expected.length).toBeGreaterThan(100);
        expect(await detailRows(clickhouse, filter)).toEqual(expected);
      }
    }, 120_000);

    it('counts each shifted copy once', async () => {
      const filter = {
        timeZone: 'Europe/Berlin',
        from: '2026-03-28',
        to: '2026-03-30',
        server: 'mx1.example.org',
      };
      const summary = await querySummary(clickhouse, filter);
      expect(summary.messages).toBe(2 * LAB_TRUTH.totals.messages);
      expect(summary.recipients).toBe(2 * LAB_TRUTH.totals.recipients);
      expect(summary.failures).toBe(2 * LAB_TRUTH.totals.failures);

      // Each copy starts 8 seconds before local midnight, so both midnights split a copy.
      const { rows } = await queryVolume(clickhouse, filter);
      const days = [...new Set(rows.map((row) => row.day))];
      expect(days).toEqual(['2026-03-28', '2026-03-29', '2026-03-30']);
      expect(rows.reduce((sum, row) => sum + row.messages, 0)).toBe(36);
    });

    it('day cuts follow the +05:45 zone', async () => {
      const filter = { timeZone: 'Asia/Kathmandu', from: '2026-03-28', to: '2026-03-29' };
      const { rows } = await queryTlsByDay(clickhouse, filter);
      const perDay = new Map<string, number>();
      for (const row of rows) perDay.set(row.day, (perDay.get(row.day) ?? 0) + row.messages);
      // 18:15 UTC is midnight in Kathmandu: the copy at 18:14:52 UTC spans it, and the copy
      // at 22:59:52 UTC is on the 29th there.
      expect([...perDay.keys()]).toEqual(['2026-03-28', '2026-03-29']);
      expect(perDay.get('2026-03-28')! + perDay.get('2026-03-29')!).toBe(
        2 * LAB_TRUTH.totals.messages,
      );
    });

    it('notes the server that logs no TLS', async () => {
      const summary = await querySummary(clickhouse, { timeZone: 'UTC', server: NO_TLS_SERVER });
      expect(summary.tlsLoggingOff).toEqual([
        { server: NO_TLS_SERVER, messages: LAB_TRUTH.totals.messages },
      ]);
      expect(summary.tls.unknown).toBe(LAB_TRUTH.totals.messages);
    });

    it('report --store clickhouse notes TLS logging', async () => {
      const args = ['--view', 'summary', '--timezone', 'Asia/Kathmandu'];
      const actual = await captureOutput(() =>
        buildProgram().parseAsync([
          'node',
          'smtp-auth-report',
          'report',
          '--store',
          target,
          ...args,
        ]),
      );
      const expected = await captureOutput(() =>
        printReport(duckdb, { timeZone: 'Asia/Kathmandu' }, 'summary', 'text'),
      );
      expect(actual.err).toContain(
        `TLS version unknown for ${LAB_TRUTH.totals.messages} messages on ${NO_TLS_SERVER}`,
      );
      expect(actual).toEqual(expected);
    });

    const CLI_RUNS = VIEWS.flatMap((view) => FORMATS.map((format) => ({ view, format })));

    it.each(CLI_RUNS)('report --store clickhouse: $view as $format', async ({ view, format }) => {
      const args = ['--view', view, '--format', format, '--timezone', 'Europe/Berlin'];
      const period = ['--from', '2026-03-01', '--to', '2026-12-31'];
      const actual = await captureOutput(() =>
        buildProgram().parseAsync([
          'node',
          'smtp-auth-report',
          'report',
          '--store',
          target,
          ...args,
          ...period,
        ]),
      );
      const filter = { timeZone: 'Europe/Berlin', from: '2026-03-01', to: '2026-12-31' };
      const expected = await captureOutput(() =>
        printReport(duckdb, filter, view as View, format as Format),
      );
      expect(expected.out.length).toBeGreaterThan(100);
      expect(actual).toEqual(expected);
    });
  },
);
