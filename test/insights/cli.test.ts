import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { SignalAlert } from '../../src/insights/monitor.js';
import type { Signal } from '../../src/insights/signal.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';
import { cli, type CliResult } from '../helpers/cli.js';
import { tempDir, writeLog } from '../helpers/ingest.js';
import { PostfixLog } from './postfix-log.js';
import { startReceiver } from './receiver.js';
import { applyReviewMigration } from './store.js';

const CLI = path.resolve('bin/smtp-auth-report.js');
const LAB_LOG = readFileSync('test/fixtures/postfix/lab-submission.log', 'utf8');

/** Run the built CLI without blocking, so that a receiver in this process can respond. */
function cliAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], {
      env: { ...process.env, SMTP_AUTH_REPORT_TIMEZONE: 'UTC', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('insights command', () => {
  const { dir, cleanup } = tempDir();
  const storePath = path.join(dir, 'store.duckdb');
  const store = `duckdb:${storePath}`;
  const insights = (...args: string[]) => cli(['insights', '--store', store, ...args]);

  beforeAll(async () => {
    // The lab log, then a password guessed an hour later: six failures from one address,
    // which then sends as the account.
    const guessed = new PostfixLog();
    for (let i = 0; i < 6; i++) {
      guessed.fail({
        at: Date.parse('2026-12-04T17:00:00Z') + i * 60_000,
        clientIp: '203.0.113.9',
        username: 'user1@example.org',
      });
    }
    guessed.submit({
      at: '2026-12-04T17:10:00Z',
      account: 'user1@example.org',
      clientIp: '203.0.113.9',
    });
    const file = writeLog(dir, 'mail.log', LAB_LOG + guessed.text());
    expect(cli(['ingest', '--store', store, '--year', '2026', file]).status).toBe(0);

    const opened = await DuckDBStore.open(storePath);
    await applyReviewMigration(opened);
    opened.close();
  });
  afterAll(() => cleanup());

  it('prints only a JSON array of signals', () => {
    const result = insights('--format', 'json');
    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    const signals = JSON.parse(result.stdout) as Signal[];
    expect(signals).toHaveLength(9);
    for (const signal of signals) {
      expect(Object.keys(signal)).toEqual([
        'id',
        'signal',
        'severity',
        'account',
        'clientIp',
        'firstSeen',
        'lastSeen',
        'evidence',
        'explanation',
        'reviewed',
      ]);
    }
    expect(signals[0]).toMatchObject({
      signal: 'login-after-failures',
      severity: 'critical',
      account: 'user1@example.org',
      clientIp: '203.0.113.9',
      firstSeen: '2026-12-04T17:00:00.000Z',
      lastSeen: '2026-12-04T17:10:00.000Z',
    });
  });

  it('prints a text listing with the period', () => {
    const result = insights('--min-severity', 'critical');
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n').slice(0, 4)).toEqual([
      'Insights, 2026-11-28 to 2026-12-04 (UTC): 1 open',
      '',
      'CRITICAL  login-after-failures  user1@example.org from 203.0.113.9',
      '          2026-12-04 17:00 to 2026-12-04 17:10',
    ]);
  });

  it('exits 3 when a signal reaches --fail-on', () => {
    expect(insights('--fail-on', 'critical').status).toBe(3);
    expect(insights('--fail-on', 'high', '--format', 'json').status).toBe(3);
  });

  it('exits 0 when nothing reaches --fail-on', () => {
    const result = insights('--fail-on', 'critical', '--to', '2026-12-03');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('No signals in this period.');
  });

  it('reads thresholds from a file', () => {
    const file = writeLog(
      dir,
      'thresholds.json',
      JSON.stringify({ loginAfterFailures: { minFailures: 7 } }),
    );
    const result = insights('--thresholds', file, '--fail-on', 'critical');
    expect(result.status).toBe(0);
  });

  it('rejects an unknown threshold', () => {
    const file = writeLog(dir, 'bad.json', JSON.stringify({ volumeSpike: { dailyExcess: 7 } }));
    const result = insights('--thresholds', file);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/Unrecognized key: "dailyExcess"/);
  });

  it('rejects an unknown severity', () => {
    const result = insights('--fail-on', 'urgent');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('expected one of low, medium, high, critical');
  });

  it('posts each open signal to the webhook, retrying', async () => {
    const receiver = await startReceiver([503, 200]);
    try {
      const result = await cliAsync(
        ['insights', '--store', store, '--min-severity', 'medium', '--format', 'json'],
        { SMTP_AUTH_REPORT_ALERT_WEBHOOK: receiver.url },
      );
      expect(result.status).toBe(0);
      const listed = JSON.parse(result.stdout) as Signal[];
      const bodies = receiver.received.map((r) => r.body as SignalAlert);
      // The first request failed and was sent again.
      expect(bodies).toHaveLength(listed.length + 1);
      expect(bodies.slice(1).map((b) => b.signal.id)).toEqual(listed.map((s) => s.id));
      expect(bodies.every((b) => b.event === 'open')).toBe(true);
    } finally {
      await receiver.close();
    }
  });

  it('exits 1 when the webhook rejects the alerts', async () => {
    const receiver = await startReceiver([404]);
    try {
      const result = await cliAsync([
        'insights',
        '--store',
        store,
        '--min-severity',
        'critical',
        '--alert-webhook',
        receiver.url,
      ]);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('1 of 1 alerts were not delivered to the webhook');
      expect(result.stderr).toContain('"status":404');
    } finally {
      await receiver.close();
    }
  });

  it('marks an account reviewed and hides it', () => {
    const review = cli([
      'insights',
      'review',
      'user1@example.org',
      '--store',
      store,
      '--note',
      'password reset; the user confirmed the new phone',
    ]);
    expect(review.status).toBe(0);
    expect(review.stdout).toBe(
      'reviewed account user1@example.org (all signals, activity up to ' +
        '2026-12-04T17:10:00.000Z): password reset; the user confirmed the new phone\n',
    );

    expect(insights('--fail-on', 'critical').status).toBe(0);
    const all = JSON.parse(insights('--format', 'json', '--all').stdout) as Signal[];
    const reviewed = all.filter((s) => s.reviewed !== null).map((s) => s.signal);
    expect(reviewed.sort()).toEqual(['auth-without-tls', 'foreign-sender', 'login-after-failures']);
  });

  it('rejects a review of an unknown account', () => {
    const result = cli([
      'insights',
      'review',
      'nobdy@example.org',
      '--store',
      store,
      '--note',
      'x',
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'smtp-auth-report: account "nobdy@example.org" with messages or failed logins in the ' +
        'store not found\n',
    );
  });

  it('report pivots failed logins by IP', () => {
    const result = cli(['report', '--store', store, '--view', 'failures', '--by', 'ip']);
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n').slice(0, 5)).toEqual([
      'Failed logins by ip, 2026-11-28 to 2026-12-04 (UTC)',
      'clientIp     failures  usernames  days',
      '-----------  --------  ---------  ----',
      '203.0.113.9         6          1     1',
      '192.0.2.9           2          2     1',
    ]);
  });

  it('report pivots failed logins by day as JSON', () => {
    const args = ['report', '--store', store, '--view', 'failures', '--by', 'day'];
    const result = cli([...args, '--format', 'json']);
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { day: '2026-12-04', failures: 14, usernames: 6, clientIps: 8 },
    ]);
  });

  it('report rejects --by without the failures view', () => {
    const result = cli(['report', '--store', store, '--by', 'ip']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      'smtp-auth-report: invalid value "ip" for --by: it applies to --view failures only; ' +
        'add --view failures\n',
    );
  });

  it('rejects a review without a subject', () => {
    const result = cli(['insights', 'review', '--store', store, '--note', 'checked']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('give the account to review, or --client-ip ADDRESS');
  });
});
