/**
 * The Insights view and the failed-logins pivot in Chromium against the real server, over the
 * lab fixture plus the synthetic history of insights-log.ts. The default period is 28 Nov to
 * 4 Dec 2026, and its signals are exactly those of `smtp-auth-report insights` on that store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  browserRequired,
  chromiumMissingReason,
  launchBrowser,
  startReportServer,
  watchPage,
  type Browser,
  type PageProblems,
  type ReportServer,
} from './harness.js';
import { writeInsightsLog } from './insights-log.js';

const LAB_LOG = path.resolve('test/fixtures/postfix/lab-submission.log');

const missingBrowser = chromiumMissingReason();

/** The open signals, most severe first: severity, signal, account or client IP. */
const OPEN_SIGNALS = [
  ['critical', 'login-after-failures', 'user1@example.org'],
  ['high', 'volume-spike', 'user1@example.org'],
  ['medium', 'auth-without-tls', 'billing@example.net'],
  ['medium', 'auth-without-tls', 'printer'],
  ['medium', 'auth-without-tls', 'user1@example.org'],
  ['medium', 'foreign-sender', 'alerts@example.com'],
  ['medium', 'foreign-sender', 'scanner@example.org'],
  ['medium', 'foreign-sender', 'user1@example.org'],
  ['medium', 'password-spraying', '203.0.113.50'],
  ['low', 'legacy-tls', 'alerts@example.com'],
  ['low', 'legacy-tls', 'billing@example.net'],
  ['low', 'new-client-ip', 'user1@example.org'],
];

function listedSignals(page: Page): Promise<string[][]> {
  return page
    .getByTestId('signal')
    .evaluateAll((cards) =>
      cards.map((card) => [
        card.getAttribute('data-severity') ?? '',
        card.getAttribute('data-signal') ?? '',
        card.querySelector('[data-testid="signal-subject"]')?.textContent ?? '',
      ]),
    );
}

function tableRows(page: Page, testId: string): Promise<string[][]> {
  return page
    .getByTestId(testId)
    .locator('tbody tr')
    .evaluateAll((rows) =>
      rows.map((row) =>
        [...(row as HTMLTableRowElement).cells].map((cell) => cell.innerText.trim()),
      ),
    );
}

async function openInsights(page: Page, server: ReportServer): Promise<void> {
  await page.goto(`${server.url}/`);
  await page.getByTestId('pivot-insights').click();
  await page.getByTestId('signal').first().waitFor();
}

if (missingBrowser) {
  it('browser tests need Chromium', (context) => {
    if (browserRequired) throw new Error(`${missingBrowser} (CI=true requires the browser tests)`);
    context.skip(missingBrowser);
  });
}

describe.skipIf(missingBrowser !== null)('insights view on the lab log with history', () => {
  let dir: string;
  let server: ReportServer;
  let browser: Browser;
  let page: Page;
  let problems: PageProblems;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-insights-web-'));
    server = await startReportServer([writeInsightsLog(dir), LAB_LOG]);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    page = await browser.context.newPage();
    problems = watchPage(page);
  });

  afterEach(async () => {
    await page.close();
    expect(problems.errors).toEqual([]);
    expect(problems.dialogs).toEqual([]);
  });

  it('widget counts the open signals', async () => {
    await page.goto(`${server.url}/`);

    await expect.poll(() => page.getByTestId('widget-insights-count').textContent()).toBe('12');
    const widget = await page.getByTestId('widget-insights').innerText();
    expect(widget).toContain('open signals: 1 critical, 1 high, 7 medium, 3 low');
    expect(widget).toContain('Last 7 days: 28 Nov 2026 – 4 Dec 2026');
  });

  it('widget opens the insights view', async () => {
    await page.goto(`${server.url}/`);
    await page.getByTestId('widget-insights').click();

    await page.getByTestId('signal').first().waitFor();
    expect(await page.getByTestId('pivot-insights').getAttribute('aria-selected')).toBe('true');
  });

  it('lists the signals by severity', async () => {
    await openInsights(page, server);

    expect(await listedSignals(page)).toEqual(OPEN_SIGNALS);
    expect(await page.getByTestId('insights-count').textContent()).toBe('12 open signals');
  });

  it('shows the evidence of a guessed password', async () => {
    await openInsights(page, server);
    const guessed = page.locator('[data-testid="signal"][data-signal="login-after-failures"]');

    expect(await guessed.getByTestId('signal-client-ip').textContent()).toBe('203.0.113.9');
    expect(await guessed.getByTestId('signal-first-seen').textContent()).toBe(
      '3 Dec 2026, 10:00:00 UTC',
    );
    expect(await guessed.getByTestId('signal-last-seen').textContent()).toBe(
      '3 Dec 2026, 10:10:00 UTC',
    );
    expect(await guessed.getByTestId('signal-explanation').textContent()).toMatch(
      /^6 failed logins for user1@example\.org from 1 address, then the account sent mail/,
    );
    await guessed.locator('summary').click();
    const evidence = await guessed.locator('.evidence-list').innerText();
    expect(evidence).toContain('203.0.113.9');
  });

  it('links a spike to its highlighted day', async () => {
    await openInsights(page, server);
    const spike = page.locator('[data-testid="signal"][data-signal="volume-spike"]');
    await spike.getByTestId('signal-open').click();

    await page.getByTestId('account-detail').waitFor();
    const url = new URL(page.url());
    expect(decodeURIComponent(url.pathname)).toBe('/accounts/user1@example.org');
    expect(url.searchParams.get('from')).toBe('2026-11-28');
    expect(url.searchParams.get('to')).toBe('2026-12-04');
    expect(url.searchParams.get('evidence')).toBe('2026-12-02');
    expect(await page.getByTestId('evidence-highlight').textContent()).toBe(
      'Highlighted on the chart: Volume spike, 2 Dec 2026.',
    );

    // The shaded area and the pin with the day's 600 messages are drawn in the chart's SVG.
    const chart = page.getByTestId('account-chart');
    await chart.locator('svg').waitFor();
    await expect.poll(() => chart.locator('svg text').allTextContents()).toContain('600');
    const shaded = await chart
      .locator('svg path')
      .evaluateAll(
        (paths) =>
          paths.filter(
            (p) => p.getAttribute('fill') === 'rgb(196,49,75)' && p.getAttribute('fill-opacity'),
          ).length,
      );
    expect(shaded).toBe(1);
  });

  it('links a guessed password to its day', async () => {
    await openInsights(page, server);
    const guessed = page.locator('[data-testid="signal"][data-signal="login-after-failures"]');
    await guessed.getByTestId('signal-open').click();

    await page.getByTestId('account-detail').waitFor();
    expect(await page.getByTestId('evidence-highlight').textContent()).toBe(
      'Highlighted on the chart: Login after failed logins, 3 Dec 2026.',
    );
  });

  it('gives no chart link to an address alone', async () => {
    await openInsights(page, server);
    const spraying = page.locator('[data-testid="signal"][data-signal="password-spraying"]');

    expect(await spraying.getByTestId('signal-open').count()).toBe(0);
    expect(await spraying.getByTestId('signal-client-ip').textContent()).toBe('203.0.113.50');
  });

  it('failed-logins pivot ranks brute-force sources', async () => {
    await page.goto(`${server.url}/`);
    await page.getByTestId('pivot-failures').click();
    await page.getByTestId('failures-by-ip').click();

    await expect.poll(() => tableRows(page, 'failures-pivot-table')).toHaveLength(9);
    expect(await tableRows(page, 'failures-pivot-table')).toEqual([
      ['203.0.113.50', '12', '12', '1'],
      ['203.0.113.9', '6', '1', '1'],
      ['192.0.2.9', '2', '2', '1'],
      ['192.0.2.10', '1', '1', '1'],
      ['192.0.2.2', '1', '1', '1'],
      ['192.0.2.5', '1', '1', '1'],
      ['192.0.2.6', '1', '1', '1'],
      ['192.0.2.7', '1', '1', '1'],
      ['192.0.2.8', '1', '1', '1'],
    ]);
    expect(await page.getByTestId('failures-pivot-total').textContent()).toBe('9 client IPs');
  });

  it('failed-logins pivot by username and day', async () => {
    await page.goto(`${server.url}/`);
    await page.getByTestId('pivot-failures').click();
    await page.getByTestId('failures-by-username').click();

    await expect.poll(() => tableRows(page, 'failures-pivot-table')).toHaveLength(18);
    const byUsername = await tableRows(page, 'failures-pivot-table');
    expect(byUsername.slice(0, 3)).toEqual([
      ['user1@example.org', '7', '2', '2'],
      ['alerts@example.com', '2', '2', '1'],
      ['ghost@example.org', '2', '2', '1'],
    ]);

    await page.getByTestId('failures-by-day').click();
    await expect
      .poll(() => tableRows(page, 'failures-pivot-table'))
      .toEqual([
        ['3 Dec 2026', '18', '13', '2'],
        ['4 Dec 2026', '8', '6', '7'],
      ]);
  });

  // Last: the review changes the store for every later test.
  it('review removes the account and persists', async () => {
    await openInsights(page, server);
    const guessed = page.locator('[data-testid="signal"][data-signal="login-after-failures"]');
    await guessed.getByTestId('signal-review').click();
    await guessed.getByTestId('review-note').fill('password reset; phone re-configured');
    await guessed.getByTestId('review-submit').click();

    const remaining = OPEN_SIGNALS.filter(([, , subject]) => subject !== 'user1@example.org');
    await expect.poll(() => listedSignals(page)).toEqual(remaining);
    expect(await page.getByTestId('insights-count').textContent()).toBe(
      '7 open signals, 5 reviewed',
    );
    await expect.poll(() => page.getByTestId('widget-insights-count').textContent()).toBe('7');

    await page.reload();
    await page.getByTestId('pivot-insights').click();
    await expect.poll(() => listedSignals(page)).toEqual(remaining);

    await page.getByTestId('insights-show-reviewed').check();
    await expect.poll(() => page.getByTestId('signal-reviewed').count()).toBe(5);
    expect(await page.getByTestId('signal-reviewed').first().textContent()).toMatch(
      /: password reset; phone re-configured$/,
    );
  });
});
