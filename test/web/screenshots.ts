/**
 * Takes the screenshots in docs/screenshots from the real server over the lab fixture.
 * Run after `npm run build`: `npx tsx test/web/screenshots.ts`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { Page } from 'playwright-core';

import { chromiumMissingReason, launchBrowser, startReportServer } from './harness.js';
import { writeInsightsLog } from './insights-log.js';

const FIXTURE = path.resolve('test/fixtures/postfix/lab-submission.log');
const OUT_DIR = path.resolve('docs/screenshots');

/** Charts draw after their data arrives; this waits for the SVG and a settled layout. */
async function waitForChart(page: Page, testId: string): Promise<void> {
  await page.getByTestId(testId).locator('svg').waitFor();
  await page.waitForTimeout(300);
}

async function main(): Promise<void> {
  const missing = chromiumMissingReason();
  if (missing) throw new Error(missing);
  mkdirSync(OUT_DIR, { recursive: true });

  const server = await startReportServer([FIXTURE]);
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    const shot = (name: string, fullPage = true) =>
      page.screenshot({ path: path.join(OUT_DIR, name), fullPage });

    await page.goto(`${server.url}/`);
    await page.getByTestId('details-table').locator('tbody a').first().waitFor();
    await waitForChart(page, 'volume-chart');
    await page.getByTestId('widget-accounts').click();
    await page.getByTestId('flyout').waitFor();
    await shot('dashboard-flyout.png', false);
    await page.getByTestId('flyout-close').click();
    // The pointer would leave the widget in its hover style.
    await page.mouse.move(0, 0);

    await shot('sending-volume.png');

    await page.getByTestId('pivot-tls').click();
    await waitForChart(page, 'tls-chart');
    await shot('tls-usage.png');

    await page.getByTestId('pivot-failures').click();
    await page.getByTestId('failures-table').locator('tbody tr').nth(7).waitFor();
    await shot('failed-logins.png');

    await page.getByTestId('pivot-volume').click();
    await page
      .getByTestId('details-table')
      .getByRole('link', { name: 'user1@example.org' })
      .click();
    await waitForChart(page, 'account-chart');
    await shot('account-detail.png');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByTestId('back').click();
    await waitForChart(page, 'volume-chart');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.mouse.move(0, 0);
    await shot('phone.png');
  } finally {
    await browser.close();
    await server.stop();
  }
  await insightsScreenshots();
  process.stdout.write(`screenshots written to ${OUT_DIR}\n`);
}

/** Take the Insights tab and a signal's evidence on the account chart, over weeks of history. */
async function insightsScreenshots(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-screenshots-'));
  const server = await startReportServer([writeInsightsLog(dir), FIXTURE]);
  const browser = await launchBrowser();
  try {
    const page = await browser.context.newPage();
    await page.goto(`${server.url}/`);
    await page.getByTestId('pivot-insights').click();
    await page.getByTestId('signal').first().waitFor();
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(OUT_DIR, 'insights.png'), fullPage: true });

    const spike = page.locator('[data-testid="signal"][data-signal="volume-spike"]');
    await spike.getByTestId('signal-open').click();
    await waitForChart(page, 'account-chart');
    await page.screenshot({ path: path.join(OUT_DIR, 'insight-evidence.png'), fullPage: true });
  } finally {
    await browser.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
