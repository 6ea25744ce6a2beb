import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { querySummary } from '../../src/queries/summary.js';
import { LogFollower } from '../../src/server/follow.js';
import { Mutex } from '../../src/server/mutex.js';
import { FIXTURE_YEAR, ingestedStore, LAB_LOG, type TestStore } from './store.js';

const ALL_DAYS = { from: '1970-01-01', to: '2100-12-31', timeZone: 'UTC' };
const silent = pino({ level: 'silent' });

/** Event rows that the rollups do not hold yet. */
async function rollupLag(test: TestStore): Promise<{ messages: number; failures: number }> {
  const [row] = await test.store.all(
    `SELECT (SELECT count(*) FROM submitted_messages)
              - (SELECT rows_done FROM rollup_progress WHERE source = 'submitted_messages') AS m,
            (SELECT count(*) FROM auth_failures)
              - (SELECT rows_done FROM rollup_progress WHERE source = 'auth_failures') AS f`,
  );
  return { messages: Number(row.m), failures: Number(row.f) };
}

describe('log follower', () => {
  let empty: TestStore;
  let log: string;
  let lines: string[];

  beforeEach(async () => {
    empty = await ingestedStore([]);
    log = path.join(empty.dir, 'mail.log');
    lines = readFileSync(LAB_LOG, 'utf8').trimEnd().split('\n');
  });
  afterEach(() => empty.close());

  function follower(): LogFollower {
    return new LogFollower(empty.store, [log], { timeZone: 'UTC', year: FIXTURE_YEAR }, silent);
  }

  it('reads lines appended between polls', async () => {
    // Line 94 ends inside an smtpd session whose message still waits for its qmgr line: the
    // correlator state saved with the checkpoint must carry both over.
    writeFileSync(log, lines.slice(0, 94).join('\n') + '\n');
    const logFollower = follower();

    const first = await logFollower.poll();
    const unchanged = await logFollower.poll();
    appendFileSync(log, lines.slice(94).join('\n') + '\n');
    const second = await logFollower.poll();

    expect(first?.[0].linesRead).toBe(94);
    expect(unchanged).toBeNull();
    expect(second?.[0].linesRead).toBe(lines.length - 94);
    expect(second?.[0].resumedAtLine).toBe(94);
    // Each poll adds its events to the rollups, so that no request has to.
    expect(await rollupLag(empty)).toEqual({ messages: 0, failures: 0 });
    expect(await querySummary(empty.store, ALL_DAYS)).toMatchObject({
      accounts: 5,
      messages: 18,
      recipients: 29,
      failures: 8,
      tls: { TLSv1: 1, 'TLSv1.1': 3, 'TLSv1.2': 4, 'TLSv1.3': 6, none: 4, unknown: 0 },
    });
  });

  it('reads a rotated file to its end through a glob', async () => {
    writeFileSync(log, lines.slice(0, 94).join('\n') + '\n');
    const logFollower = new LogFollower(
      empty.store,
      [`${log}*`],
      { timeZone: 'UTC', year: FIXTURE_YEAR },
      silent,
    );

    await logFollower.poll();
    appendFileSync(log, lines.slice(94, 120).join('\n') + '\n');
    renameSync(log, `${log}.1`);
    writeFileSync(log, lines.slice(120).join('\n') + '\n');
    const rotated = await logFollower.poll();

    expect(rotated?.map((file) => [path.basename(file.path), file.linesRead])).toEqual([
      ['mail.log.1', 26],
      ['mail.log', lines.length - 120],
    ]);
    expect(await querySummary(empty.store, ALL_DAYS)).toMatchObject({
      messages: 18,
      recipients: 29,
      failures: 8,
    });
  });

  it('leaves a half-written last line for the next poll', async () => {
    const last = lines.length - 1;
    writeFileSync(log, lines.slice(0, last).join('\n') + '\n' + lines[last].slice(0, 20));
    const logFollower = follower();

    const first = await logFollower.poll();
    appendFileSync(log, lines[last].slice(20) + '\n');
    const second = await logFollower.poll();

    expect(first?.[0].linesRead).toBe(last);
    expect(second?.[0].linesRead).toBe(1);
    expect((await querySummary(empty.store, ALL_DAYS)).messages).toBe(18);
  });

  it('keeps polling after a missing file', async () => {
    const logFollower = follower();

    const missing = await logFollower.poll();
    writeFileSync(log, lines.join('\n') + '\n');
    const found = await logFollower.poll();

    expect(missing).toBeNull();
    expect(found?.[0].messages).toBe(18);
  });

  it('start polls until stopped', async () => {
    writeFileSync(log, lines.join('\n') + '\n');
    const logFollower = new LogFollower(
      empty.store,
      [log],
      { timeZone: 'UTC', year: FIXTURE_YEAR },
      silent,
      20,
    );

    logFollower.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await logFollower.stop();

    expect((await querySummary(empty.store, ALL_DAYS)).messages).toBe(18);
  });
});

describe('mutex', () => {
  it('runs work one at a time in request order', async () => {
    const mutex = new Mutex();
    const events: string[] = [];
    const work = (name: string, ms: number) =>
      mutex.run(async () => {
        events.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        events.push(`${name} end`);
      });

    await Promise.all([work('a', 30), work('b', 1), work('c', 10)]);

    expect(events).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
  });

  it('releases the lock when work fails', async () => {
    const mutex = new Mutex();

    await expect(mutex.run(async () => Promise.reject(new Error('query failed')))).rejects.toThrow(
      'query failed',
    );

    expect(await mutex.run(async () => 'next')).toBe('next');
  });
});
