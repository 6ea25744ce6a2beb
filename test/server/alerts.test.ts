import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, describe, expect, it } from 'vitest';

import type { OpenSignalsAlert, SignalAlert } from '../../src/insights/monitor.js';
import { PostfixLog } from '../insights/postfix-log.js';
import { startReceiver } from '../insights/receiver.js';
import { FIXTURE_YEAR, LAB_LOG } from './store.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(ROOT, 'test/server/cli-entry.ts');

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until<T>(description: string, probe: () => T | undefined, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${description}`);
}

function startServe(args: string[]): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'serve', ...args], {
    cwd: ROOT,
    env: { ...process.env, SMTP_AUTH_REPORT_TOKEN: '', SMTP_AUTH_REPORT_ALERT_WEBHOOK: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => stderr };
}

/** Six failed logins as user1 from a new address, then mail from it: a guessed password. */
function guessedPassword(): string {
  const log = new PostfixLog();
  for (let i = 0; i < 6; i++) {
    log.fail({
      at: Date.parse('2026-12-04T17:00:00Z') + i * 60_000,
      clientIp: '203.0.113.9',
      username: 'user1@example.org',
    });
  }
  log.submit({ at: '2026-12-04T17:10:00Z', account: 'user1@example.org', clientIp: '203.0.113.9' });
  return log.text();
}

describe('serve --alert-webhook', () => {
  it('posts the open signals once, then new ones', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-alerts-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const receiver = await startReceiver([200]);
    cleanups.push(receiver.close);
    const log = path.join(dir, 'mail.log');
    writeFileSync(log, readFileSync(LAB_LOG, 'utf8'));

    const serve = startServe([
      `--store=duckdb:${path.join(dir, 'store.duckdb')}`,
      '--timezone=UTC',
      `--year=${FIXTURE_YEAR}`,
      '--listen=127.0.0.1:0',
      '--alert-webhook',
      receiver.url,
      '--alert-min-severity',
      'medium',
      '--alert-interval',
      '1',
      '--follow',
      log,
    ]);

    await until('the first alert', () => (receiver.received.length > 0 ? true : undefined));
    const first = receiver.received[0].body as OpenSignalsAlert;
    expect(receiver.received[0].contentType).toBe('application/json');
    expect(first.event).toBe('open-signals');
    expect(first.signals.map((s) => [s.signal, s.account])).toEqual([
      ['auth-without-tls', 'billing@example.net'],
      ['auth-without-tls', 'printer'],
      ['auth-without-tls', 'user1@example.org'],
      ['foreign-sender', 'alerts@example.com'],
      ['foreign-sender', 'scanner@example.org'],
      ['foreign-sender', 'user1@example.org'],
    ]);

    appendFileSync(log, guessedPassword());
    await until('the new signal', () => (receiver.received.length > 1 ? true : undefined));
    // Give a wrong second request time to arrive before counting.
    await new Promise((resolve) => setTimeout(resolve, 3000));

    const later = receiver.received.slice(1).map((r) => r.body as SignalAlert);
    expect(later.map((a) => [a.event, a.signal.signal, a.signal.severity])).toEqual([
      ['new', 'login-after-failures', 'critical'],
    ]);

    serve.child.kill('SIGTERM');
    await new Promise((resolve) => serve.child.once('exit', resolve));
    expect(serve.child.exitCode).toBe(0);
    expect(serve.stderr()).toContain('"msg":"sending insights alerts"');
    expect(serve.stderr()).toContain('"sent":2');
  }, 90_000);

  it('rejects --alert-interval without a webhook', async () => {
    const serve = startServe(['--store=duckdb:/nonexistent/store.duckdb', '--alert-interval', '5']);

    const status = await new Promise((resolve) => serve.child.once('exit', resolve));
    expect(status).toBe(2);
    expect(serve.stderr()).toBe(
      'smtp-auth-report: invalid value "5" for --alert-interval: it needs --alert-webhook URL\n',
    );
  });
});
