import { readFileSync, rmSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ReportEvent } from '../../src/events.js';
import { sql, sqlIdentifier } from '../../src/store/clickhouse/sql.js';
import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import { ClickHouseWriter, type EventBatch } from '../../src/store/clickhouse/writer.js';
import { parseClickHouseUrl } from '../../src/store/url.js';
import { correlate, tempDir } from '../helpers/ingest.js';
import { clickHouseSkipReason, runScript, TestServer } from './server.js';

const FIXTURE = new URL('../fixtures/postfix/lab-submission.log', import.meta.url).pathname;
const LAB_EVENTS = correlate(readFileSync(FIXTURE, 'utf8')).events;

const CLUSTER_DIR = '/tmp/smtp-auth-report-clickhouse-cluster';
/** HTTP ports of the two shards that `scripts/clickhouse.sh start-cluster` starts. */
const SHARD_PORTS = [18124, 18125];
const BATCHES = 25;
const EVENTS_PER_BATCH = 40;
const SOURCE_ID = 77;

function batch(index: number): EventBatch {
  const events = Array.from({ length: EVENTS_PER_BATCH }, (_, i) => {
    const n = index * EVENTS_PER_BATCH + i;
    const event: ReportEvent = {
      ...LAB_EVENTS[n % LAB_EVENTS.length],
      time: 1_780_000_000_000 + n,
    };
    return { event, lineOffset: n * 120 };
  });
  return { sourceId: SOURCE_ID, runId: 1, events };
}

function clusterScript(command: string): void {
  runScript(command, { SMTP_AUTH_REPORT_CLICKHOUSE_DIR: CLUSTER_DIR });
}

/** Write the batches, one of them twice, and wait until the store has them. */
async function writeAll(store: ClickHouseStore, ingestHost: string): Promise<void> {
  const spool = tempDir('sar-spool-');
  const log = { info: () => {}, warn: () => {}, error: () => {} };
  const writer = await ClickHouseWriter.open(store, { ingestHost, spoolDir: spool.dir, log });
  try {
    for (let index = 0; index < BATCHES; index++) await writer.write(batch(index));
    await writer.write(batch(3));
    await writer.flush();
  } finally {
    await writer.close();
    spool.cleanup();
  }
}

async function count(store: ClickHouseStore, table: string): Promise<number> {
  const rows = await store.all(sql`SELECT count() AS n FROM ${sqlIdentifier(table)} FINAL`);
  return Number(rows[0].n);
}

/** Messages per account, sender and TLS version, as the report groups them. */
async function totals(store: ClickHouseStore) {
  return store.all(sql`
    SELECT account, sender_address, tls_protocol, count() AS messages, sum(recipients) AS recipients
    FROM submitted_messages FINAL
    GROUP BY account, sender_address, tls_protocol
    ORDER BY account, sender_address, tls_protocol`);
}

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `two-shard clickhouse cluster${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const single = new TestServer('cluster-single', 18134, 19034);
    let shards: ClickHouseStore[] = [];
    let singleStore: ClickHouseStore;

    beforeAll(async () => {
      clusterScript('stop-cluster');
      rmSync(CLUSTER_DIR, { recursive: true, force: true });
      clusterScript('start-cluster');
      single.startFresh();

      // Each server gets its local tables and a Distributed table over both shards.
      shards = [];
      for (const port of SHARD_PORTS) {
        const url = `clickhouse://127.0.0.1:${port}/cluster_test?cluster=sar_cluster`;
        shards.push(await ClickHouseStore.open(parseClickHouseUrl(url)));
      }
      singleStore = await ClickHouseStore.open(single.location('cluster_test'));

      await writeAll(shards[0], 'mx3.example.org');
      await writeAll(singleStore, 'mx3.example.org');
    });

    afterAll(async () => {
      for (const store of shards) await store.close();
      await singleStore?.close();
      clusterScript('stop-cluster');
      single.stop();
    });

    it('splits the events over both shards', async () => {
      const expectedMessages = batchEvents().filter((event) => event.kind === 'message').length;
      const perShard = [];
      for (const shard of shards) perShard.push(await count(shard, 'submitted_messages_local'));

      expect(perShard[0]).toBeGreaterThan(0);
      expect(perShard[1]).toBeGreaterThan(0);
      expect(perShard[0] + perShard[1]).toBe(expectedMessages);
    });

    it('totals equal the single server', async () => {
      const written = batchEvents();
      for (const [table, kind] of [
        ['submitted_messages', 'message'],
        ['auth_failures', 'failure'],
      ] as const) {
        const expected = written.filter((event) => event.kind === kind).length;
        expect(await count(singleStore, table), table).toBe(expected);
        expect(await count(shards[0], table), table).toBe(expected);
        expect(await count(shards[1], table), table).toBe(expected);

        const local = await Promise.all(shards.map((s) => count(s, `${table}_local`)));
        expect(local[0] + local[1], table).toBe(expected);
      }
    });

    it('gives the single server report', async () => {
      const expected = await totals(singleStore);
      expect(expected.length).toBeGreaterThan(0);
      expect(await totals(shards[0])).toEqual(expected);
      expect(await totals(shards[1])).toEqual(expected);
    });
  },
);

/** Returns every event written, each once (the batch written twice counts once). */
function batchEvents(): ReportEvent[] {
  return Array.from({ length: BATCHES }, (_, index) => batch(index).events).flatMap((events) =>
    events.map((located) => located.event),
  );
}
