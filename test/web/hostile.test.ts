/**
 * Log data an attacker controls (SASL usernames) must reach the page as text and the CSV with
 * formulas neutralised. The store also contains a server whose log has no TLS lines, which the
 * page must name in its notice.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  browserRequired,
  chromiumMissingReason,
  launchBrowser,
  parseCsv,
  startReportServer,
  watchPage,
  type Browser,
  type PageProblems,
  type ReportServer,
} from './harness.js';

const FIXTURES = [
  path.resolve('test/web/fixtures/hostile-names.log'),
  path.resolve('test/web/fixtures/no-tls-logging.log'),
];

const SCRIPT_NAME = '<script>alert(1)</script>';
const IMAGE_NAME = '"><img src=x onerror=alert(1)>';
const FORMULA_NAME = '=HYPERLINK("x")';
const FAILED_NAME = '<script>alert(2)</script>';

const missingBrowser = chromiumMissingReason();

/** Elements an injected name would have created if it had been parsed as HTML. */
function injectedElements(page: Page): Promise<number> {
  return page.evaluate(
    () => document.querySelectorAll('body script, img[src="x"], img[onerror], [onerror]').length,
  );
}

if (missingBrowser) {
  it('browser tests need Chromium', (context) => {
    if (browserRequired) throw new Error(`${missingBrowser} (CI=true requires the browser tests)`);
    context.skip(missingBrowser);
  });
}

describe.skipIf(missingBrowser !== null)('web report with hostile names', () => {
  let server: ReportServer;
  let browser: Browser;
  let page: Page;
  let problems: PageProblems;

  beforeAll(async () => {
    server = await startReportServer(FIXTURES);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  beforeEach(async () => {
    page = await browser.context.newPage();
    problems = watchPage(page);
    await page.goto(`${server.url}/`);
    await page.getByTestId('details-table').locator('tbody a').first().waitFor();
  });

  afterEach(async () => {
    await page.close();
    expect(problems.dialogs).toEqual([]);
    expect(problems.errors).toEqual([]);
  });

  it('accounts table shows names as text', async () => {
    const links = page.getByTestId('details-table').locator('tbody a.account-link');

    await expect
      .poll(async () => (await links.allTextContents()).sort())
      .toEqual([IMAGE_NAME, SCRIPT_NAME, FORMULA_NAME, 'copier@example.com'].sort());
    expect(await injectedElements(page)).toBe(0);
  });

  it('TLS and failures views show names as text', async () => {
    await page.getByTestId('pivot-tls').click();
    await expect
      .poll(() => page.getByTestId('details-table').locator('tbody a').allTextContents())
      .toContain(SCRIPT_NAME);

    await page.getByTestId('pivot-failures').click();
    const failures = page.getByTestId('failures-table').locator('tbody tr td:nth-child(2)');
    await expect.poll(() => failures.allTextContents()).toEqual([FAILED_NAME]);
    expect(await injectedElements(page)).toBe(0);
  });

  it('search for markup matches literally', async () => {
    await page.getByTestId('search').fill('<img');

    await expect
      .poll(() => page.getByTestId('details-table').locator('tbody a').allTextContents())
      .toEqual([IMAGE_NAME]);
    expect(await injectedElements(page)).toBe(0);
  });

  it('account page of a script name', async () => {
    await page
      .getByTestId('details-table')
      .getByRole('link', { name: SCRIPT_NAME, exact: true })
      .click();

    await expect.poll(() => page.getByTestId('account-messages').textContent()).toBe('1');
    expect(await page.locator('#account-title').textContent()).toBe(SCRIPT_NAME);
    expect(new URL(page.url()).pathname).toBe(`/accounts/${encodeURIComponent(SCRIPT_NAME)}`);

    await page.reload();
    await expect.poll(() => page.locator('#account-title').textContent()).toBe(SCRIPT_NAME);
    await page.getByTestId('account-messages').waitFor();
    expect(await injectedElements(page)).toBe(0);
  });

  it('account page of a quote name', async () => {
    await page
      .getByTestId('details-table')
      .getByRole('link', { name: IMAGE_NAME, exact: true })
      .click();

    await expect.poll(() => page.getByTestId('account-recipients').textContent()).toBe('2');
    expect(await page.locator('#account-title').textContent()).toBe(IMAGE_NAME);
    expect(await injectedElements(page)).toBe(0);
  });

  it('CSV neutralises the formula name', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('request-report').click(),
    ]);
    const text = readFileSync(await download.path(), 'utf8');
    const [, ...rows] = parseCsv(text);
    const accounts = rows.map((row) => row[1]);

    expect(text).toContain(`"'=HYPERLINK(""x"")"`);
    expect(accounts).toContain(`'${FORMULA_NAME}`);
    expect(accounts.filter((account) => account.startsWith('='))).toEqual([]);
    expect(accounts).toContain(SCRIPT_NAME);
    expect(accounts).toContain(IMAGE_NAME);
    expect(rows).toHaveLength(4);
  });

  it('notice names the server without TLS logging', async () => {
    const notice = page.getByTestId('tls-logging-off');

    await notice.waitFor();
    const text = await notice.innerText();
    expect(text).toContain('relay2: 2 messages');
    expect(text).toContain('smtpd_tls_loglevel = 1');
  });
});
