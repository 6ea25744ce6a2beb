import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { buildProgram } from '../../src/cli/main.js';
import { runMigrate } from '../../src/cli/migrate.js';
import { sql } from '../../src/store/clickhouse/sql.js';
import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import { ClickHouseWriter } from '../../src/store/clickhouse/writer.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { tempDir } from '../helpers/ingest.js';
import { ingestFiles, storeTotals } from '../helpers/store.js';
import { clickHouseSkipReason, TestServer } from './server.js';

const FIXTURES = new URL('../fixtures/postfix/', import.meta.url).pathname;
const LOGS = ['lab-submission.log', 'sasl-failures.log', 'exporter-mixed.log'].map((name) =>
  path.join(FIXTURES, name),
);
const INGEST_HOST = 'mx2.example.org';

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `migrate to clickhouse${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const server = new TestServer('migrate', 18133, 19033);
    const work = tempDir('sar-migrate-');
    const duckdbPath = path.join(work.dir, 'store.duckdb');
    const target = `clickhouse://127.0.0.1:${server.httpPort}/migrate_test`;
    let duckdbCounts: Record<string, number>;

    beforeAll(async () => {
      server.startFresh();
      await ingestFiles(duckdbPath, LOGS);
      duckdbCounts = await countDuckDB(duckdbPath);
    });

    afterAll(() => {
      server.stop();
      work.cleanup();
    });

    it('copies every row and counts both sides', async () => {
      const counts = await runMigrate(`duckdb:${duckdbPath}`, target, INGEST_HOST);
      expect(duckdbCounts.submitted_messages).toBeGreaterThan(0);
      expect(duckdbCounts.auth_failures).toBeGreaterThan(0);
      expect(counts).toEqual(
        Object.entries(duckdbCounts).map(([table, n]) => ({ table, source: n, target: n })),
      );
    });

    it('keeps the report totals', async () => {
      const expected = await storeTotals(duckdbPath);
      const store = await ClickHouseStore.open(server.location('migrate_test'));
      try {
        const accepted = await store.all(sql`
          SELECT account, sasl_mechanism AS saslMechanism, sender_address AS senderAddress,
                 tls_protocol AS tlsProtocol, client_ip AS clientIp,
                 count() AS messages, sum(recipients) AS recipients
          FROM submitted_messages FINAL
          GROUP BY account, saslMechanism, senderAddress, tlsProtocol, clientIp
          ORDER BY account, saslMechanism, senderAddress, tlsProtocol, clientIp`);
        const failures = await store.all(sql`
          SELECT attempted_username AS attemptedUsername, client_ip AS clientIp,
                 tls_protocol AS tlsProtocol, sasl_mechanism AS saslMechanism, count() AS failures
          FROM auth_failures FINAL
          GROUP BY attemptedUsername, clientIp, tlsProtocol, saslMechanism
          ORDER BY attemptedUsername, clientIp, tlsProtocol, saslMechanism`);
        expect(sortByJson(accepted)).toEqual(sortByJson(expected.accepted));
        expect(sortByJson(failures)).toEqual(sortByJson(expected.failures));
      } finally {
        await store.close();
      }
    });

    it('hands the checkpoints to the ingest host', async () => {
      const source = await DuckDBStore.open(duckdbPath);
      const expected = await source.checkpoints();
      const state = await source.loadState('postfix');
      source.close();

      const store = await ClickHouseStore.open(server.location('migrate_test'));
      const spool = tempDir('sar-spool-');
      const log = { info: () => {}, warn: () => {}, error: () => {} };
      const writer = await ClickHouseWriter.open(store, {
        ingestHost: INGEST_HOST,
        spoolDir: spool.dir,
        log,
      });
      try {
        const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;
        expect(writer.checkpoints().sort(byId)).toEqual(expected.sort(byId));
        expect(writer.loadState('postfix')).toBe(state);
      } finally {
        await writer.close();
        await store.close();
        spool.cleanup();
      }
    });

    it('command prints the same counts again', async () => {
      const output: string[] = [];
      const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        output.push(String(chunk));
        return true;
      });
      try {
        await buildProgram().parseAsync([
          'node',
          'smtp-auth-report',
          'migrate',
          '--source',
          `duckdb:${duckdbPath}`,
          '--target',
          target,
          '--ingest-host',
          INGEST_HOST,
        ]);
      } finally {
        write.mockRestore();
      }

      const lines = output.join('').trim().split('\n').slice(2);
      const printed = lines.map((line) => line.trim().split(/\s+/));
      expect(printed).toEqual(
        Object.entries(duckdbCounts).map(([table, n]) => [table, String(n), String(n)]),
      );
    });
  },
);

async function countDuckDB(file: string): Promise<Record<string, number>> {
  const store = await DuckDBStore.open(file);
  try {
    const counts: Record<string, number> = {};
    for (const table of ['submitted_messages', 'auth_failures', 'sources', 'correlator_state']) {
      counts[table] = Number((await store.all(`SELECT count(*) AS n FROM ${table}`))[0].n);
    }
    return counts;
  } finally {
    store.close();
  }
}

function sortByJson<T>(rows: T[]): T[] {
  return [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
