import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateLog } from '../../bench/generate.js';
import type { Truth } from '../../bench/generator/truth.js';
import { SqlText } from '../../src/store/clickhouse/sql.js';
import { ClickHouseStore } from '../../src/store/clickhouse/store.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { tempDir } from '../helpers/ingest.js';
import {
  accountTotals,
  countEvents,
  optimizeFinal,
  rawCount,
  startCli,
  waitUntil,
  type RunningCli,
} from './ingest-cli.js';
import { clickHouseSkipReason, TestServer } from './server.js';

/** Lines of each generated log: a few hundred messages, read in a few seconds. */
const LOG_LINES = 20_000;
const POLL_SECONDS = '0.2';
const APPEND_EVERY_MS = 100;

interface GeneratedLog {
  bytes: Buffer;
  truth: Truth;
}

async function generate(dir: string, seed: string): Promise<GeneratedLog> {
  const out = path.join(dir, `${seed}.generated.log`);
  const truth = await generateLog({ lines: LOG_LINES, out, seed, days: 2 });
  return { bytes: readFileSync(out), truth };
}

/** The truth's per-account totals as accountTotals prints them, for the server `server`. */
function truthTotals(truth: Truth, server: string): string[] {
  const sums = new Map<string, { n: number; r: number }>();
  for (const row of truth.messages) {
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

/** Split `bytes` into `count` pieces cut anywhere, mid-line included. */
function pieces(bytes: Buffer, count: number): Buffer[] {
  const result: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const start = Math.floor((bytes.length * i) / count);
    const end = Math.floor((bytes.length * (i + 1)) / count);
    result.push(bytes.subarray(start, end));
  }
  return result;
}

/** The offset just after the line end nearest to `share` of the log. */
function lineEndNear(bytes: Buffer, share: number): number {
  return bytes.indexOf(10, Math.floor(bytes.length * share)) + 1;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function appendSlowly(file: string, parts: Buffer[]): Promise<void> {
  for (const part of parts) {
    appendFileSync(file, part);
    await pause(APPEND_EVERY_MS);
  }
}

/** Stop a follower with SIGTERM and return its exit status. */
async function stop(cli: RunningCli): Promise<number | null> {
  cli.child.kill('SIGTERM');
  return cli.exited;
}

async function pingFails(httpPort: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${httpPort}/ping`, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

/** Lines that a follower logged as read, from its JSON log lines. */
function linesLogged(cli: RunningCli): number {
  let lines = 0;
  for (const text of cli.stderr().split('\n')) {
    if (!text.includes('"msg":"ingested new log lines"')) continue;
    lines += (JSON.parse(text) as { lines: number }).lines;
  }
  return lines;
}

const skipReason = clickHouseSkipReason();

describe.skipIf(skipReason !== null)(
  `ingest --follow into clickhouse${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    const server = new TestServer('follow', 18158, 19058);
    const work = tempDir('sar-ch-follow-');
    const url = (database: string) => `clickhouse://127.0.0.1:${server.httpPort}/${database}`;
    const running: RunningCli[] = [];
    let logs: GeneratedLog[];

    /** Start `ingest --follow` of one log as the mail server `name`, with its own spool. */
    function follow(database: string, name: string, file: string): RunningCli {
      const cli = startCli([
        'ingest',
        '--follow',
        '--poll-interval',
        POLL_SECONDS,
        '--store',
        url(database),
        '--server-name',
        name,
        '--spool-dir',
        path.join(work.dir, `spool-${database}-${name}`),
        '--year',
        String(logs[0].truth.generator.year),
        file,
      ]);
      running.push(cli);
      return cli;
    }

    /** Wait until ClickHouse contains the truth's counts for `name`; throws on a follower exit. */
    async function arrived(store: ClickHouseStore, name: string, truth: Truth, cli: RunningCli) {
      const where = `server = '${name}'`;
      await waitUntil(
        `all events of ${name}`,
        async () => {
          if (cli.child.exitCode !== null) throw new Error(`follower exited: ${cli.stderr()}`);
          const counts = await countEvents(store, where);
          return (
            counts.messages === truth.totals.messages && counts.failures === truth.totals.failures
          );
        },
        120_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${cli.stderr().slice(-3000)}`);
      });
    }

    /** Every count of `name` equals the truth: with FINAL, by event id, and merged. */
    async function expectExact(store: ClickHouseStore, name: string, truth: Truth) {
      const where = `server = '${name}'`;
      const counts = await countEvents(store, where);
      expect(counts).toEqual({
        messages: truth.totals.messages,
        failures: truth.totals.failures,
        messageIds: truth.totals.messages,
        failureIds: truth.totals.failures,
      });
      expect(await accountTotals(store, where)).toEqual(truthTotals(truth, name));
      await optimizeFinal(store);
      expect(await rawCount(store, 'submitted_messages', where)).toBe(truth.totals.messages);
      expect(await rawCount(store, 'auth_failures', where)).toBe(truth.totals.failures);
    }

    beforeAll(async () => {
      server.startFresh();
      logs = [
        await generate(work.dir, 'follow-a'),
        await generate(work.dir, 'follow-b'),
        await generate(work.dir, 'follow-c'),
      ];
    }, 300_000);

    afterAll(async () => {
      for (const cli of running) if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      server.stop();
      work.cleanup();
    });

    it('ships two servers at once, appends and a rotation', { timeout: 300_000 }, async () => {
      const [a, b] = logs;
      const folders = ['mx1', 'mx2'].map((name) => path.join(work.dir, name));
      for (const folder of folders) mkdirSync(folder);
      const fileA = path.join(folders[0], 'mail.log');
      const fileB = path.join(folders[1], 'mail.log');

      // mx1: a first part, then appends, then a rotation with lines still written to the old
      // file after the rename, then the new file. Rotation cuts fall on line ends, as syslog
      // writes whole lines.
      const rotateAt = lineEndNear(a.bytes, 0.6);
      const newFileAt = lineEndNear(a.bytes, 0.7);
      writeFileSync(fileA, a.bytes.subarray(0, a.bytes.length / 5));
      writeFileSync(fileB, b.bytes.subarray(0, b.bytes.length / 5));
      const mx1 = follow('shipping', 'mx1.example.org', fileA);
      const mx2 = follow('shipping', 'mx2.example.org', fileB);
      // A file rotated before the follower first sees it is not followed: wait for that.
      const polled = (cli: RunningCli) => cli.stderr().includes('ingested new log lines');
      await waitUntil('the first polls', () => polled(mx1) && polled(mx2));

      const appendA = (async () => {
        await appendSlowly(fileA, pieces(a.bytes.subarray(a.bytes.length / 5, rotateAt), 20));
        const old = openSync(fileA, 'a');
        renameSync(fileA, `${fileA}.1`);
        await pause(500);
        writeSync(old, a.bytes.subarray(rotateAt, newFileAt));
        closeSync(old);
        writeFileSync(fileA, '');
        await appendSlowly(fileA, pieces(a.bytes.subarray(newFileAt), 20));
      })();
      const appendB = appendSlowly(fileB, pieces(b.bytes.subarray(b.bytes.length / 5), 30));
      await Promise.all([appendA, appendB]);

      const store = await ClickHouseStore.open(server.location('shipping'));
      try {
        await arrived(store, 'mx1.example.org', a.truth, mx1);
        await arrived(store, 'mx2.example.org', b.truth, mx2);
        expect(await stop(mx1)).toBe(0);
        expect(await stop(mx2)).toBe(0);
        expect(mx1.stderr()).toContain('log file rotated; finishing the old file');

        await expectExact(store, 'mx1.example.org', a.truth);
        await expectExact(store, 'mx2.example.org', b.truth);
        const hosts = await store.all(
          new SqlText('SELECT DISTINCT ingest_host AS host FROM sources ORDER BY host'),
        );
        expect(hosts.map((row) => row.host)).toEqual(['mx1.example.org', 'mx2.example.org']);
      } finally {
        await store.close();
      }
    });

    it('loses and doubles nothing when clickhouse dies', { timeout: 300_000 }, async () => {
      const c = logs[2];
      const folder = path.join(work.dir, 'mx3');
      mkdirSync(folder);
      const file = path.join(folder, 'mail.log');
      const parts = pieces(c.bytes, 60);
      writeFileSync(file, parts[0]);
      let cli = follow('outage', 'mx3.example.org', file);

      await appendSlowly(file, parts.slice(1, 15));
      await waitUntil('the first poll', () => cli.stderr().includes('ingested new log lines'));
      process.kill(server.pid(), 'SIGKILL');
      await waitUntil('clickhouse down', () => pingFails(server.httpPort), 10_000);
      await appendSlowly(file, parts.slice(15, 30));
      await waitUntil(
        'the spool warning',
        () => cli.stderr().includes('clickhouse unreachable; batches are kept in the spool'),
        30_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n${cli.stderr().slice(-3000)}`);
      });

      // The shipper dies too, with batches in its spool, and starts again after ClickHouse.
      cli.child.kill('SIGKILL');
      await cli.exited;
      const spoolDir = path.join(work.dir, 'spool-outage-mx3.example.org');
      const spooled = readdirSync(spoolDir).filter((name) => name.startsWith('batch-'));
      expect(spooled.length).toBeGreaterThan(0);
      await appendSlowly(file, parts.slice(30, 40));
      server.start();
      cli = follow('outage', 'mx3.example.org', file);
      await appendSlowly(file, parts.slice(40));

      const store = await ClickHouseStore.open(server.location('outage'));
      try {
        await arrived(store, 'mx3.example.org', c.truth, cli);
        expect(await stop(cli)).toBe(0);
        expect(cli.stderr()).toContain('"msg":"stopped"');
        await expectExact(store, 'mx3.example.org', c.truth);
      } finally {
        await store.close();
      }
    });

    it('follows into duckdb too', { timeout: 300_000 }, async () => {
      const b = logs[1];
      const folder = path.join(work.dir, 'duckdb');
      mkdirSync(folder);
      const file = path.join(folder, 'mail.log');
      const storePath = path.join(folder, 'store.duckdb');
      const parts = pieces(b.bytes, 20);
      writeFileSync(file, parts[0]);
      const cli = startCli([
        'ingest',
        '--follow',
        '--poll-interval',
        POLL_SECONDS,
        '--store',
        `duckdb:${storePath}`,
        '--year',
        String(b.truth.generator.year),
        file,
      ]);
      running.push(cli);
      await appendSlowly(file, parts.slice(1));
      await waitUntil('every line read', () => linesLogged(cli) === b.truth.log.lines, 120_000);
      expect(await stop(cli)).toBe(0);

      const store = await DuckDBStore.open(storePath);
      try {
        const messages = await store.all('SELECT count(*) AS n FROM submitted_messages');
        const failures = await store.all('SELECT count(*) AS n FROM auth_failures');
        expect(Number(messages[0].n)).toBe(b.truth.totals.messages);
        expect(Number(failures[0].n)).toBe(b.truth.totals.failures);
      } finally {
        store.close();
      }
    });
  },
);
