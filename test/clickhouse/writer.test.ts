import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ReportEvent } from '../../src/events.js';
import { sql, sqlIdentifier } from '../../src/store/clickhouse/sql.js';
import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import {
  ClickHouseWriter,
  type EventBatch,
  type LocatedEvent,
  type WriterLog,
} from '../../src/store/clickhouse/writer.js';
import { correlate, tempDir } from '../helpers/ingest.js';
import { clickHouseSkipReason, TestServer } from './server.js';

const FIXTURE = new URL('../fixtures/postfix/lab-submission.log', import.meta.url).pathname;
const LAB_EVENTS = correlate(readFileSync(FIXTURE, 'utf8')).events;

const BATCHES = 120;
const EVENTS_PER_BATCH = 40;
const LINE_BYTES = 100;
const INGEST_HOST = 'mx1.example.org';
const SOURCE_ID = 4242;
/** Batch numbers at which the test acts on the stream. */
const KILL_AT = 30;
const REOPEN_AT = 90;
const RESEND = 10;

/** The lab's events over and over; every tenth event shares its line with the one before. */
function streamEvents(): LocatedEvent[] {
  const events: LocatedEvent[] = [];
  let offset = 0;
  for (let i = 0; i < BATCHES * EVENTS_PER_BATCH; i++) {
    if (i % 10 !== 9) offset += LINE_BYTES;
    const event: ReportEvent = {
      ...LAB_EVENTS[i % LAB_EVENTS.length],
      time: 1_780_000_000_123 + i,
    };
    events.push({ event, lineOffset: offset });
  }
  return events;
}

const STREAM = streamEvents();

function batch(index: number, runId: number): EventBatch {
  const events = STREAM.slice(index * EVENTS_PER_BATCH, (index + 1) * EVENTS_PER_BATCH);
  const end = events[events.length - 1].lineOffset + LINE_BYTES;
  return {
    sourceId: SOURCE_ID,
    runId,
    events,
    checkpoint: {
      id: SOURCE_ID,
      path: '/var/log/mail.log',
      fingerprint: 'f'.repeat(64),
      fingerprintBytes: 4096,
      byteOffset: end,
      lineCount: end / LINE_BYTES,
    },
    state: { format: 'postfix', json: JSON.stringify({ batch: index }) },
  };
}

/** A logger that keeps what it was given, by message. */
function recordingLog(): WriterLog & { messages: string[] } {
  const messages: string[] = [];
  const keep = (_fields: object, message: string) => void messages.push(message);
  return { messages, info: keep, warn: keep, error: keep };
}

async function pingFails(httpPort: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${httpPort}/ping`, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `clickhouse writer${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const server = new TestServer('writer', 18132, 19032);
    const spool = tempDir('sar-spool-');
    let store: ClickHouseStore;

    beforeAll(async () => {
      server.startFresh();
      store = await ClickHouseStore.open(server.location('writer_test'));
    });

    afterAll(async () => {
      await store?.close();
      server.stop();
      spool.cleanup();
    });

    it('loses and repeats nothing when the server is killed', { timeout: 180_000 }, async () => {
      const log = recordingLog();
      const options = {
        ingestHost: INGEST_HOST,
        spoolDir: spool.dir,
        maxSpoolBytes: 300_000,
        retryDelayMs: 50,
        maxRetryDelayMs: 400,
        log,
      };
      let writer = await ClickHouseWriter.open(store, options);
      const runId = await writer.startRun();
      let restarted: Promise<void> | undefined;

      for (let index = 0; index < BATCHES; index++) {
        if (index === KILL_AT) restarted = killAndRestart(server, 1500);
        if (index === REOPEN_AT) {
          await writer.close();
          writer = await ClickHouseWriter.open(store, options);
          expect(writer.checkpoints().map((c) => c.byteOffset)).toEqual([
            batch(REOPEN_AT - 1, runId).checkpoint?.byteOffset,
          ]);
          expect(writer.loadState('postfix')).toBe(JSON.stringify({ batch: REOPEN_AT - 1 }));
        }
        await writer.write(batch(index, runId));
      }
      // A batch sent again, as after a crash between its insert and its checkpoint.
      await writer.write({ ...batch(RESEND, runId), checkpoint: undefined, state: undefined });
      await restarted;
      await writer.flush();
      await writer.finishRun(runId);
      await writer.flush();
      await writer.close();

      expect(log.messages).toContain('clickhouse insert failed; retrying');
      expect(log.messages).toContain(
        'clickhouse spool full: log reading paused until clickhouse accepts the spooled batches',
      );
      expect(log.messages).toContain('clickhouse insert succeeded after retries');
      await expectExactlyTheStream(store);
    });

    it('keeps the last checkpoint and state', async () => {
      const sources = await store.all(sql`
        SELECT source_id, byte_offset, line_count FROM sources FINAL
        WHERE ingest_host = ${INGEST_HOST}`);
      const end = STREAM[STREAM.length - 1].lineOffset + LINE_BYTES;
      expect(sources).toEqual([
        { source_id: SOURCE_ID, byte_offset: end, line_count: end / LINE_BYTES },
      ]);

      const states = await store.all(sql`
        SELECT argMax(state, row_version) AS last_state FROM correlator_state
        WHERE ingest_host = ${INGEST_HOST} AND format = 'postfix'`);
      expect(states[0].last_state).toBe(JSON.stringify({ batch: BATCHES - 1 }));
    });

    it('restores checkpoints from the server without a spool', async () => {
      const fresh = tempDir('sar-spool-');
      const writer = await ClickHouseWriter.open(store, { ...defaults(), spoolDir: fresh.dir });
      try {
        const end = STREAM[STREAM.length - 1].lineOffset + LINE_BYTES;
        expect(writer.checkpoints()).toEqual([
          {
            id: SOURCE_ID,
            path: '/var/log/mail.log',
            fingerprint: 'f'.repeat(64),
            fingerprintBytes: 4096,
            byteOffset: end,
            lineCount: end / LINE_BYTES,
          },
        ]);
        expect(writer.loadState('postfix')).toBe(JSON.stringify({ batch: BATCHES - 1 }));
      } finally {
        await writer.close();
        fresh.cleanup();
      }
    });

    it('settles no-line TLS of unfinished runs only', async () => {
      const fresh = tempDir('sar-spool-');
      const writer = await ClickHouseWriter.open(store, { ...defaults(), spoolDir: fresh.dir });
      try {
        const server = 'settle.example.org';
        const noLine = { ...LAB_EVENTS[0], server, tlsProtocol: 'unknown', tlsEvidence: 'no-line' };
        const events = [0, 1].map((i) => ({
          event: { ...noLine, time: 1_780_000_000_000 + i } as ReportEvent,
          lineOffset: i,
        }));
        const finished = await writer.startRun();
        await writer.write({ sourceId: 7, runId: finished, events: [events[0]] });
        await writer.finishRun(finished);
        const open = await writer.startRun();
        await writer.write({ sourceId: 7, runId: open, events: [events[1]] });

        await writer.settleNoTlsLine([server]);

        const table = LAB_EVENTS[0].kind === 'message' ? 'submitted_messages' : 'auth_failures';
        const rows = await store.all(sql`
          SELECT line_offset, tls_protocol FROM ${sqlIdentifier(table)} FINAL
          WHERE server = ${server} ORDER BY line_offset`);
        expect(rows).toEqual([
          { line_offset: 0, tls_protocol: 'unknown' },
          { line_offset: 1, tls_protocol: 'none' },
        ]);
      } finally {
        await writer.close();
        fresh.cleanup();
      }
    });
  },
);

function defaults() {
  return { ingestHost: INGEST_HOST, log: recordingLog(), retryDelayMs: 50, maxRetryDelayMs: 400 };
}

/** SIGKILL the server by the pid its script recorded, then start it again after a pause. */
async function killAndRestart(server: TestServer, downMs: number): Promise<void> {
  process.kill(server.pid(), 'SIGKILL');
  await waitUntil(() => pingFails(server.httpPort), 10_000);
  await new Promise((resolve) => setTimeout(resolve, downMs));
  server.start();
}

/** Every event of the stream once, with the id it was written with and its own fields. */
async function expectExactlyTheStream(store: ClickHouseStore): Promise<void> {
  const expected = { messages: [] as string[], failures: [] as string[] };
  let previous = -1;
  let lineEvent = 0;
  for (const { event, lineOffset } of STREAM) {
    lineEvent = lineOffset === previous ? lineEvent + 1 : 0;
    previous = lineOffset;
    const key = `${lineOffset}/${lineEvent}/${event.time}`;
    (event.kind === 'message' ? expected.messages : expected.failures).push(key);
  }

  for (const [table, keys] of [
    ['submitted_messages', expected.messages],
    ['auth_failures', expected.failures],
  ] as const) {
    const rows = await store.all(sql`
      SELECT line_offset, line_event, toUnixTimestamp(ts) * 1000 + ts_ms AS time
      FROM ${sqlIdentifier(table)} FINAL
      WHERE ingest_host = ${INGEST_HOST} AND source_id = ${SOURCE_ID}
      ORDER BY line_offset, line_event`);
    const stored = rows.map((row) => `${row.line_offset}/${row.line_event}/${row.time}`);
    expect(stored.length, table).toBe(keys.length);
    expect(stored, table).toEqual(keys);
  }
}
