import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LocatedCollector } from '../../src/ingest/collectors.js';
import { CorrelatingReader, type ReadBatch, type ReadJob } from '../../src/ingest/file-reader.js';
import type { LocatedEvent } from '../../src/store/clickhouse/writer.js';

import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { tempDir } from '../helpers/ingest.js';
import {
  accountTotals,
  countEvents,
  optimizeFinal,
  rawCount,
  runCli,
  type CliRun,
} from './ingest-cli.js';
import { clickHouseSkipReason, TestServer } from './server.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
/** Real logs of every syslog and file format the ingest reads, and an Exchange folder. */
const LOGS = [
  'postfix/lab-submission.log',
  'postfix/sasl-failures.log',
  'postfix/exporter-mixed.log',
  'postfix/content-filter.log',
  'dovecot/submission-verbose.log',
  'exim/lab-submission.log',
  'exim/harness-default.log',
  'sendmail/lab-8.17.log',
  'opensmtpd/sessions-6.4.log',
  'exchange/client-submission.log',
].map((name) => path.join(FIXTURES, name));
const LAB_LOG = path.join(FIXTURES, 'postfix/lab-submission.log');

interface LabTruth {
  accepted: { account: string; messages: number; recipients: number }[];
}
const LAB_TRUTH = JSON.parse(
  readFileSync(path.join(FIXTURES, 'postfix/lab-submission.truth.json'), 'utf8'),
) as LabTruth;

const skipReason = clickHouseSkipReason();

/** A log of many copies of the lab traffic, each with queue ids and pids of its own. */
function bigLab(dir: string, copies: number): string {
  const body = readFileSync(LAB_LOG, 'utf8');
  let text = '';
  for (let i = 0; i < copies; i++) {
    text += body.replace(/([0-9A-F]{9,11}):/g, `$1X${i}:`).replace(/\[(\d+)\]:/g, `[$1${i}]:`);
  }
  const file = path.join(dir, `lab-${copies}.log`);
  writeFileSync(file, text);
  return file;
}

function jobFrom(file: string, batch?: ReadBatch<LocatedEvent[]>): ReadJob {
  const { mtimeMs, size } = statSync(file);
  return {
    source: { path: file, gzip: false, mtimeMs, size, device: 0, inode: 0 },
    startOffset: batch?.byteOffset ?? 0,
    startLines: batch?.lineCount ?? 0,
    checkpointed: true,
    timeZone: 'UTC',
    year: 2026,
    batchBytes: 64 * 1024,
  };
}

/** Read a job with located events; returns its batches. */
async function readLocated(
  job: ReadJob,
  from?: ReadBatch<LocatedEvent[]>,
): Promise<ReadBatch<LocatedEvent[]>[]> {
  const state = from?.state ? JSON.parse(from.state) : null;
  const others = from?.otherState ? JSON.parse(from.otherState) : null;
  const reader = new CorrelatingReader(state, others, new LocatedCollector());
  const batches: ReadBatch<LocatedEvent[]>[] = [];
  await reader.read(
    job,
    async (batch) => void batches.push(batch),
    () => {},
  );
  return batches;
}

describe('event locations', () => {
  const work = tempDir('sar-located-');
  afterAll(() => work.cleanup());

  it('places events at their completing line', async () => {
    const file = bigLab(work.dir, 3);
    const bytes = readFileSync(file);
    const events = (await readLocated(jobFrom(file))).flatMap((batch) => batch.events);

    expect(events.length).toBe((18 + 8) * 3);
    for (const { event, lineOffset } of events) {
      expect(lineOffset === 0 || bytes[lineOffset - 1] === 10).toBe(true);
      const line = bytes.toString('utf8', lineOffset, bytes.indexOf(10, lineOffset));
      if (event.kind === 'message') expect(line).toContain(event.queueId);
      else expect(line).toContain(event.clientIp);
    }
  });

  it('gives the same locations from a checkpoint', async () => {
    const file = bigLab(work.dir, 250);
    const whole = await readLocated(jobFrom(file));
    expect(whole.length).toBeGreaterThan(3);

    const checkpoint = whole[2];
    const resumed = (await readLocated(jobFrom(file, checkpoint), checkpoint)).flatMap(
      (batch) => batch.events,
    );
    const after = whole.slice(3).flatMap((batch) => batch.events);
    expect(resumed.length).toBe(after.length);
    expect(resumed.map((entry) => entry.lineOffset)).toEqual(after.map((e) => e.lineOffset));
    expect(resumed).toEqual(after);
  });
});

function expectSuccess(run: CliRun): void {
  expect(run.stderr).not.toContain('unexpected error');
  expect(run.status, run.stderr).toBe(0);
}

/** Per-account messages and recipients in a DuckDB store, in the form of accountTotals. */
async function duckdbAccountTotals(file: string): Promise<string[]> {
  const store = await DuckDBStore.open(file);
  try {
    const rows = await store.all(`
      SELECT server, account, count(*) AS n, sum(recipients) AS r FROM submitted_messages
      GROUP BY server, account ORDER BY server, account`);
    return rows.map((row) => `${row.server} ${row.account}: ${row.n}/${row.r}`);
  } finally {
    store.close();
  }
}

async function duckdbCounts(file: string): Promise<{ messages: number; failures: number }> {
  const store = await DuckDBStore.open(file);
  try {
    const messages = await store.all('SELECT count(*) AS n FROM submitted_messages');
    const failures = await store.all('SELECT count(*) AS n FROM auth_failures');
    return { messages: Number(messages[0].n), failures: Number(failures[0].n) };
  } finally {
    store.close();
  }
}

/** The lab truth as accountTotals prints it, for the server name `server`. */
function labTotals(server: string): string[] {
  const sums = new Map<string, { n: number; r: number }>();
  for (const row of LAB_TRUTH.accepted) {
    const sum = sums.get(row.account) ?? { n: 0, r: 0 };
    sum.n += row.messages;
    sum.r += row.recipients;
    sums.set(row.account, sum);
  }
  return [...sums.keys()].sort().map((account) => {
    const { n, r } = sums.get(account)!;
    return `${server} ${account}: ${n}/${r}`;
  });
}

/**
 * Split the lab log after the `client=` line of a message with a login, so that its queue
 * id opens in one run and its `from=` line comes in the next.
 */
function splitInsideMessage(text: string): [string, string] {
  const lines = text.split('\n');
  const at = lines.findIndex((line, index) => index > 40 && line.includes('sasl_username='));
  expect(at).toBeGreaterThan(40);
  return [lines.slice(0, at + 1).join('\n') + '\n', lines.slice(at + 1).join('\n')];
}

describe.skipIf(skipReason !== null)(
  `ingest into clickhouse${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const server = new TestServer('ingest', 18157, 19057);
    const work = tempDir('sar-ch-ingest-');
    const url = (database: string) => `clickhouse://127.0.0.1:${server.httpPort}/${database}`;
    let store: ClickHouseStore;

    /** Ingest into the database `database` with its own spool, as host `host`. */
    function ingest(database: string, files: string[], extra: string[] = []): CliRun {
      const spool = path.join(work.dir, `spool-${database}`);
      const args = ['ingest', '--store', url(database), '--year', '2026', '--spool-dir', spool];
      return runCli([...args, '--ingest-host', 'mx1.example.org', ...extra, ...files]);
    }

    beforeAll(async () => {
      server.startFresh();
      // Creates the databases' tables before the tests open them.
      expectSuccess(ingest('fixtures', LOGS));
      store = await ClickHouseStore.open(server.location('fixtures'));
    }, 180_000);

    afterAll(async () => {
      await store?.close();
      server.stop();
      work.cleanup();
    });

    it('matches duckdb row counts and account totals', { timeout: 120_000 }, async () => {
      const duckdb = path.join(work.dir, 'fixtures.duckdb');
      expectSuccess(runCli(['ingest', '--store', `duckdb:${duckdb}`, '--year', '2026', ...LOGS]));
      const expected = await duckdbCounts(duckdb);

      const counts = await countEvents(store);
      expect(expected.messages).toBeGreaterThan(20);
      expect(counts.messages).toBe(expected.messages);
      expect(counts.failures).toBe(expected.failures);
      expect(counts.messageIds).toBe(expected.messages);
      expect(counts.failureIds).toBe(expected.failures);
      expect(await accountTotals(store)).toEqual(await duckdbAccountTotals(duckdb));
    });

    it('stores the same fields as duckdb', { timeout: 120_000 }, async () => {
      const duckdb = `duckdb:${path.join(work.dir, 'fields.duckdb')}`;
      expectSuccess(runCli(['ingest', '--store', duckdb, '--year', '2026', ...LOGS]));
      const report = (storeUrl: string, view: string) => {
        const period = ['--from', '1900-01-01', '--to', '9998-12-31', '--timezone', 'UTC'];
        const run = runCli([
          'report',
          '--store',
          storeUrl,
          '--view',
          view,
          '--format',
          'json',
          ...period,
        ]);
        expectSuccess(run);
        return JSON.parse(run.stdout) as Array<Record<string, unknown>>;
      };

      // Exim logs the authenticator's name (plain_server); both stores keep the mapped PLAIN.
      const details = report(url('fixtures'), 'details');
      expect(details.map((row) => row.saslMechanism)).toContain('PLAIN');
      expect(details.map((row) => row.saslMechanism)).not.toContain('PLAIN_SERVER');
      expect(details).toEqual(report(duckdb, 'details'));
      expect(report(url('fixtures'), 'failures')).toEqual(report(duckdb, 'failures'));
    });

    it('adds nothing when run again', { timeout: 120_000 }, async () => {
      const before = await rawCount(store, 'submitted_messages');
      const failuresBefore = await rawCount(store, 'auth_failures');

      const again = ingest('fixtures', LOGS);
      expectSuccess(again);
      expect(again.stderr).toContain('already read');
      expect(await rawCount(store, 'submitted_messages')).toBe(before);
      expect(await rawCount(store, 'auth_failures')).toBe(failuresBefore);
    });

    it('adds exactly the new lines of a grown file', { timeout: 120_000 }, async () => {
      const [head, tail] = splitInsideMessage(readFileSync(LAB_LOG, 'utf8'));
      const log = path.join(work.dir, 'grown', 'mail.log');
      writeLog(log, head);
      expectSuccess(ingest('grown', [log], ['--server-name', 'mx1.example.org']));
      const grown = await ClickHouseStore.open(server.location('grown'));
      try {
        const first = await countEvents(grown);
        expect(first.messages).toBeLessThan(18);

        appendFileSync(log, tail);
        expectSuccess(ingest('grown', [log], ['--server-name', 'mx1.example.org']));
        expect(await accountTotals(grown)).toEqual(labTotals('mx1.example.org'));
        const counts = await countEvents(grown);
        expect(counts.messages).toBe(18);
        expect(counts.messageIds).toBe(18);
        expect(counts.failures).toBe(8);
        await optimizeFinal(grown);
        expect(await rawCount(grown, 'submitted_messages')).toBe(18);
      } finally {
        await grown.close();
      }
    });

    it('reads a rotated gzip family once', { timeout: 120_000 }, async () => {
      const [head, tail] = splitInsideMessage(readFileSync(LAB_LOG, 'utf8'));
      const folder = path.join(work.dir, 'rotated');
      const log = path.join(folder, 'mail.log');
      writeLog(log, head);
      expectSuccess(ingest('rotated', [log], ['--server-name', 'mx1.example.org']));

      // logrotate: mail.log becomes mail.log.1.gz, and the rest goes to a new mail.log.
      writeFileSync(`${log}.1.gz`, gzipSync(readFileSync(log)));
      renameSync(log, path.join(folder, 'old-copy'));
      writeLog(log, tail);
      const family = [path.join(folder, 'mail.log*')];
      expectSuccess(ingest('rotated', family, ['--server-name', 'mx1.example.org']));

      const rotated = await ClickHouseStore.open(server.location('rotated'));
      try {
        expect(await accountTotals(rotated)).toEqual(labTotals('mx1.example.org'));
        expect((await countEvents(rotated)).messageIds).toBe(18);
      } finally {
        await rotated.close();
      }
    });

    it('reads standard input', { timeout: 120_000 }, async () => {
      const spool = path.join(work.dir, 'spool-stdin');
      const run = runCli(
        ['ingest', '--store', url('stdin'), '--year', '2026', '--spool-dir', spool, '-'],
        { input: readFileSync(LAB_LOG, 'utf8') },
      );
      expectSuccess(run);
      const stdin = await ClickHouseStore.open(server.location('stdin'));
      try {
        const counts = await countEvents(stdin);
        expect(counts.messages).toBe(18);
        expect(counts.failures).toBe(8);
      } finally {
        await stdin.close();
      }
    });
  },
);

function writeLog(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}
