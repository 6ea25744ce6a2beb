/**
 * Ingests real fixture logs of every format through the Distributed tables of a two-shard
 * ClickHouse cluster with the CLI, and checks that every report view, in every format, prints
 * exactly what the same logs give in a DuckDB store.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FAILURE_PIVOTS } from '../../src/queries/failures.js';
import { FORMATS, VIEWS } from '../../src/cli/report.js';
import { sql, sqlIdentifier } from '../../src/store/clickhouse/sql.js';
import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import { parseClickHouseUrl } from '../../src/store/url.js';
import { ALL_TIME, cliAsync, type CliResult } from '../helpers/cli.js';
import { tempDir } from '../helpers/ingest.js';
import { clickHouseSkipReason, runScript, runScriptAsync } from './server.js';

const FIXTURES = path.resolve('test/fixtures');
const LOGS = [
  'postfix/lab-submission.log',
  'exim/lab-submission.log',
  'sendmail/lab-8.17.log',
  'dovecot/submission-verbose.log',
  'dovecot/syslog-submission.log',
  'exchange/client-submission.log',
].map((file) => path.join(FIXTURES, file));

const CLUSTER_DIR = '/tmp/smtp-auth-report-clickhouse-cluster-report';
/** HTTP and native ports of the two shards, apart from the other ClickHouse tests' ports. */
const SHARDS = [
  { http: 18201, tcp: 19201 },
  { http: 18202, tcp: 19202 },
];
const DATABASE = 'cluster_report';

/**
 * Period, filter and time zone arguments that every view is printed with as JSON; the whole
 * period is printed in every format too.
 */
const FILTERS: string[][] = [
  [],
  [...ALL_TIME, '--domain', 'example.net'],
  [...ALL_TIME, '--search', 'user1'],
  [...ALL_TIME, '--timezone', 'Pacific/Kiritimati'],
];

const CLUSTER_ENV = {
  SMTP_AUTH_REPORT_CLICKHOUSE_DIR: CLUSTER_DIR,
  SMTP_AUTH_REPORT_CLICKHOUSE_SHARD1_HTTP_PORT: String(SHARDS[0].http),
  SMTP_AUTH_REPORT_CLICKHOUSE_SHARD1_TCP_PORT: String(SHARDS[0].tcp),
  SMTP_AUTH_REPORT_CLICKHOUSE_SHARD2_HTTP_PORT: String(SHARDS[1].http),
  SMTP_AUTH_REPORT_CLICKHOUSE_SHARD2_TCP_PORT: String(SHARDS[1].tcp),
};

function shardUrl(index: number): string {
  return `clickhouse://127.0.0.1:${SHARDS[index].http}/${DATABASE}?cluster=sar_cluster`;
}

function ingest(store: string, extra: string[] = []): Promise<CliResult> {
  return cliAsync(['ingest', '--store', store, '--year', '2026', ...extra, ...LOGS]);
}

/** Runs `report`; the notes on standard error are part of what the stores must agree on. */
function report(store: string, args: string[]): Promise<CliResult> {
  return cliAsync(['report', '--store', store, ...args]);
}

async function localRows(index: number, table: string): Promise<number> {
  const store = await ClickHouseStore.open(parseClickHouseUrl(shardUrl(index)));
  try {
    const rows = await store.all(sql`SELECT count() AS n FROM ${sqlIdentifier(`${table}_local`)}`);
    return Number(rows[0].n);
  } finally {
    await store.close();
  }
}

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `report on a two-shard cluster${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const { dir, cleanup } = tempDir();
    const duckdb = `duckdb:${path.join(dir, 'store.duckdb')}`;
    let ingested: Record<'cluster' | 'duckdb', CliResult>;

    beforeAll(async () => {
      await runScriptAsync('stop-cluster', CLUSTER_ENV);
      rmSync(CLUSTER_DIR, { recursive: true, force: true });
      await runScriptAsync('start-cluster', CLUSTER_ENV);

      // The store creates its local and Distributed tables on the server it opens, so each
      // shard is opened once before the ingest writes through the first one.
      for (const index of [0, 1]) {
        await (await ClickHouseStore.open(parseClickHouseUrl(shardUrl(index)))).close();
      }
      // A spool of this run: the default one under ./data would outlive the cluster.
      const cluster = await ingest(shardUrl(0), ['--spool-dir', path.join(dir, 'spool')]);
      ingested = { cluster, duckdb: await ingest(duckdb) };
    }, 300_000);

    afterAll(() => {
      runScript('stop-cluster', CLUSTER_ENV);
      rmSync(CLUSTER_DIR, { recursive: true, force: true });
      cleanup();
    });

    it('ingests without errors', () => {
      for (const [store, result] of Object.entries(ingested)) {
        // Standard error contains the per-file summary and nothing else.
        expect(result.stderr, store).toContain('lab-submission.log');
        expect(result.stderr, store).not.toMatch(/error|warning|settling/i);
        expect(result.status, store).toBe(0);
      }
    });

    it('stores events on both shards', async () => {
      for (const table of ['submitted_messages', 'auth_failures']) {
        expect(await localRows(0, table), `${table} on shard 1`).toBeGreaterThan(0);
        expect(await localRows(1, table), `${table} on shard 2`).toBeGreaterThan(0);
      }
    });

    const cases = VIEWS.flatMap((view) => [
      ...FORMATS.map((format) => ['--view', view, '--format', format, ...ALL_TIME]),
      ...FILTERS.map((filter) => ['--view', view, '--format', 'json', ...filter]),
    ]);

    it.each(cases.map((args) => [args.join(' '), args] as const))(
      'report %s equals duckdb',
      async (_name, args) => {
        const expected = await report(duckdb, args);
        expect(expected.status).toBe(0);
        expect(expected.stdout.length).toBeGreaterThan(0);
        expect(await report(shardUrl(0), args)).toEqual(expected);
        expect(await report(shardUrl(1), args)).toEqual(expected);
      },
    );

    const pivots = FAILURE_PIVOTS.flatMap((by) =>
      FORMATS.map((format) => ['--view', 'failures', '--by', by, '--format', format, ...ALL_TIME]),
    );

    it.each(pivots.map((args) => [args.join(' '), args] as const))(
      'report %s equals duckdb',
      async (_name, args) => {
        const expected = await report(duckdb, args);
        expect(expected.status).toBe(0);
        expect(expected.stdout.length).toBeGreaterThan(0);
        expect(await report(shardUrl(0), args)).toEqual(expected);
        expect(await report(shardUrl(1), args)).toEqual(expected);
      },
    );
  },
);
