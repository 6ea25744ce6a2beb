/**
 * The web report in Chromium against the real server, over the lab fixture. Its truth:
 * 5 accounts, 18 messages, 29 recipients, 8 failed logins; TLSv1 1, TLSv1.1 3, TLSv1.2 4,
 * TLSv1.3 6, none 4. The fixture's year is pinned to 2026, so the default period (the 7 days
 * ending at the newest event) is 28 Nov to 4 Dec 2026.
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

const FIXTURE = path.resolve('test/fixtures/postfix/lab-submission.log');
const CSV_HEADER =
  'day,account,senderAddress,senderDomain,clientIp,tlsProtocol,saslMechanism,server,messages,recipients';

const missingBrowser = chromiumMissingReason();

/** Cell texts of a table body, one array per row. */
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

function firstColumn(page: Page, testId: string): Promise<string[]> {
  return tableRows(page, testId).then((rows) => rows.map((row) => row[0]));
}

async function openReport(page: Page, server: ReportServer): Promise<void> {
  await page.goto(`${server.url}/`);
  await page.getByTestId('details-table').locator('tbody a').first().waitFor();
}

if (missingBrowser) {
  it('browser tests need Chromium', (context) => {
    if (browserRequired) throw new Error(`${missingBrowser} (CI=true requires the browser tests)`);
    context.skip(missingBrowser);
  });
}

describe.skipIf(missingBrowser !== null)('web report on the lab fixture', () => {
  let server: ReportServer;
  let browser: Browser;
  let page: Page;
  let problems: PageProblems;

  beforeAll(async () => {
    server = await startReportServer([FIXTURE]);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
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

  it('widget counts five accounts', async () => {
    await page.goto(`${server.url}/`);

    await expect.poll(() => page.getByTestId('widget-count').textContent()).toBe('5');
    const widget = page.getByTestId('widget-accounts');
    expect(await widget.innerText()).toContain('send 18 messages');
    expect(await widget.innerText()).toContain('Last 7 days: 28 Nov 2026 – 4 Dec 2026');
  });

  it('flyout shows the week and TLS mix', async () => {
    await openReport(page, server);
    await page.getByTestId('widget-accounts').click();

    const flyout = page.getByTestId('flyout');
    await flyout.waitFor();
    expect(await flyout.getByTestId('flyout-accounts').textContent()).toBe('5');
    expect(await flyout.getByTestId('flyout-messages').textContent()).toBe('18');
    expect(await flyout.getByTestId('flyout-recipients').textContent()).toBe('29');
    expect(await flyout.getByTestId('flyout-failures').textContent()).toBe('8');
    expect(await flyout.innerText()).toContain('28 Nov 2026 – 4 Dec 2026');

    const mix = await tableRows(page, 'flyout-tls');
    expect(mix.map((row) => row.slice(1, 3))).toEqual([
      ['1', '5.6%'],
      ['3', '16.7%'],
      ['4', '22.2%'],
      ['6', '33.3%'],
      ['4', '22.2%'],
      ['0', '0%'],
    ]);
    const legacyRows = await flyout
      .locator('tr.legacy')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-protocol')));
    expect(legacyRows).toEqual(['TLSv1', 'TLSv1.1', 'none']);
    expect(await flyout.getByTestId('flyout-legacy').innerText()).toContain(
      '8 of 18 messages (44.4%)',
    );
  });

  it('flyout leaves the page usable', async () => {
    await openReport(page, server);
    await page.getByTestId('widget-accounts').click();
    await page.getByTestId('flyout').waitFor();

    await page.getByTestId('pivot-tls').click();
    expect(await page.getByTestId('pivot-tls').getAttribute('aria-selected')).toBe('true');
    expect(await page.getByTestId('flyout').isVisible()).toBe(true);

    await page.keyboard.press('Escape');
    await page.getByTestId('flyout').waitFor({ state: 'detached' });

    await page.getByTestId('widget-accounts').click();
    await page.getByTestId('flyout-close').click();
    await page.getByTestId('flyout').waitFor({ state: 'detached' });
  });

  it('flyout link focuses the full report', async () => {
    await openReport(page, server);
    await page.getByTestId('widget-accounts').click();
    await page.getByTestId('view-full-report').click();

    await page.getByTestId('flyout').waitFor({ state: 'detached' });
    const focused = await page.evaluate(() => document.activeElement?.id);
    expect(focused).toBe('report-title');
  });

  it('sending volume shows chart and accounts', async () => {
    await openReport(page, server);

    expect(await page.getByTestId('period').textContent()).toBe('28 Nov 2026 – 4 Dec 2026');
    expect(await page.getByTestId('report-totals').innerText()).toBe(
      '18 messages from 5 accounts to 29 recipients, 8 failed logins',
    );
    const chartText = await page.getByTestId('volume-chart').locator('svg').innerHTML();
    for (const domain of ['example.org', 'example.com', 'example.net']) {
      expect(chartText).toContain(domain);
    }
    expect(await tableRows(page, 'details-table')).toEqual([
      ['user1@example.org', 'user1@example.com\nuser1@example.org', '6', '9'],
      [
        'scanner@example.org',
        'noreply@example.org\nscanner@example.org\nscans@example.com',
        '5',
        '9',
      ],
      ['alerts@example.com', 'alerts@example.com\nmonitoring@example.net', '3', '5'],
      ['billing@example.net', 'billing@example.net\ninvoices@example.net', '3', '5'],
      ['printer', 'printer@example.org', '1', '1'],
    ]);
    expect(await page.getByTestId('details-table-pager').innerText()).toContain('1–5 of 5');
  });

  it('view toggle hides chart or table', async () => {
    await openReport(page, server);

    await page.getByTestId('view-table').click();
    expect(await page.getByTestId('volume-chart').count()).toBe(0);
    expect(await page.getByTestId('details-table').count()).toBe(1);

    await page.getByTestId('view-chart').click();
    expect(await page.getByTestId('volume-chart').count()).toBe(1);
    expect(await page.getByTestId('details-table').count()).toBe(0);
  });

  it('sorts the accounts table', async () => {
    await openReport(page, server);
    const header = (column: string) =>
      page.getByTestId('details-table').locator(`button[data-column="${column}"]`);

    await header('account').click();
    await expect
      .poll(() => firstColumn(page, 'details-table'))
      .toEqual([
        'alerts@example.com',
        'billing@example.net',
        'printer',
        'scanner@example.org',
        'user1@example.org',
      ]);
    expect(await page.locator('th[aria-sort]').getAttribute('aria-sort')).toBe('ascending');

    await header('account').click();
    await expect
      .poll(() => firstColumn(page, 'details-table'))
      .toEqual([
        'user1@example.org',
        'scanner@example.org',
        'printer',
        'billing@example.net',
        'alerts@example.com',
      ]);

    await header('recipients').click();
    await expect
      .poll(() => tableRows(page, 'details-table').then((rows) => rows.map((r) => r[3])))
      .toEqual(['9', '9', '5', '5', '1']);
  });

  it('filters by sender domain', async () => {
    await openReport(page, server);
    // The list fills when /api/domains answers, which may be after the page first renders.
    await expect
      .poll(() => page.getByTestId('domain-select').locator('option').allTextContents())
      .toEqual(['All sender domains', 'example.org (10)', 'example.com (4)', 'example.net (4)']);

    await page.getByTestId('domain-select').selectOption('example.net');

    await expect
      .poll(() => tableRows(page, 'details-table'))
      .toEqual([
        ['billing@example.net', 'billing@example.net\ninvoices@example.net', '3', '5'],
        ['alerts@example.com', 'monitoring@example.net', '1', '3'],
      ]);
    await expect
      .poll(() => page.getByTestId('report-totals').innerText())
      .toBe('4 messages from 2 accounts to 8 recipients, 0 failed logins');
  });

  it('searches accounts and sender addresses', async () => {
    await openReport(page, server);

    await page.getByTestId('search').fill('scans@');

    await expect.poll(() => firstColumn(page, 'details-table')).toEqual(['scanner@example.org']);
    expect((await tableRows(page, 'details-table'))[0][2]).toBe('1');
  });

  it('TLS usage marks legacy versions', async () => {
    await openReport(page, server);
    await page.getByTestId('pivot-tls').click();
    await page.getByTestId('tls-chart').locator('svg').waitFor();

    await expect.poll(() => firstColumn(page, 'details-table')).toHaveLength(5);
    const rows = await tableRows(page, 'details-table');
    expect(rows[0]).toEqual([
      'user1@example.org',
      '0% (0)',
      '0% (0)',
      '33.3% (2)',
      '33.3% (2)',
      '33.3% (2)',
      '0% (0)',
      '6',
      '33.3%',
    ]);
    expect(rows[3]).toEqual([
      'billing@example.net',
      '0% (0)',
      '66.7% (2)',
      '0% (0)',
      '0% (0)',
      '33.3% (1)',
      '0% (0)',
      '3',
      '100%',
    ]);

    const legacyCells = page.getByTestId('details-table').locator('td.legacy');
    expect(await legacyCells.count()).toBe(6);
    expect(await legacyCells.allInnerTexts()).toEqual([
      '33.3% (2)',
      '33.3% (1)',
      '33.3% (1)',
      '66.7% (2)',
      '33.3% (1)',
      '100% (1)',
    ]);
    const background = await legacyCells
      .first()
      .evaluate((cell) => getComputedStyle(cell).backgroundColor);
    expect(background).not.toBe('rgba(0, 0, 0, 0)');
  });

  it('TLS table sorts by legacy share', async () => {
    await openReport(page, server);
    await page.getByTestId('pivot-tls').click();
    const legacyHeader = page
      .getByTestId('details-table')
      .locator('button[data-column="legacyPercent"]');
    await expect.poll(() => firstColumn(page, 'details-table')).toHaveLength(5);

    // The server sorts, so each order shows once its response has arrived.
    await legacyHeader.click();
    await expect
      .poll(() => firstColumn(page, 'details-table'))
      .toEqual([
        'billing@example.net',
        'printer',
        'alerts@example.com',
        'user1@example.org',
        'scanner@example.org',
      ]);

    await legacyHeader.click();
    await expect
      .poll(() => firstColumn(page, 'details-table'))
      .toEqual([
        'scanner@example.org',
        'user1@example.org',
        'alerts@example.com',
        'billing@example.net',
        'printer',
      ]);
  });

  it('TLS table pages on the server', async () => {
    await openReport(page, server);
    await page.getByTestId('pivot-tls').click();
    const table = page.getByTestId('details-table');
    const pager = page.getByTestId('details-table-pager');
    await expect.poll(() => firstColumn(page, 'details-table')).toHaveLength(5);

    await pager.locator('select').selectOption('10');
    await table.locator('button[data-column="TLSv1.3"]').click();
    await expect
      .poll(() => firstColumn(page, 'details-table'))
      .toEqual([
        'scanner@example.org',
        'user1@example.org',
        'alerts@example.com',
        'billing@example.net',
        'printer',
      ]);

    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await table.locator('button[data-column="account"]').click();
    await expect
      .poll(() => firstColumn(page, 'details-table'))
      .toEqual([
        'alerts@example.com',
        'billing@example.net',
        'printer',
        'scanner@example.org',
        'user1@example.org',
      ]);
    expect(await pager.innerText()).toContain('1–5 of 5');
    expect(requests.some((url) => url.includes('/api/tls?') && url.includes('sort=account'))).toBe(
      true,
    );
  });

  it('failed logins list each attempt', async () => {
    await openReport(page, server);
    await page.getByTestId('pivot-failures').click();

    await expect.poll(() => firstColumn(page, 'failures-table')).toHaveLength(8);
    expect(await page.getByTestId('failures-total').textContent()).toBe('8 failed logins');
    const rows = await tableRows(page, 'failures-table');
    const attempts = rows.map(([, username, clientIp, , , , count]) =>
      [username, clientIp, count].join(' '),
    );
    expect(attempts.sort()).toEqual([
      'admin 192.0.2.7 1',
      'alerts@example.com 192.0.2.10 1',
      'alerts@example.com 192.0.2.8 1',
      'ghost@example.org 192.0.2.6 1',
      'ghost@example.org 192.0.2.9 1',
      'nosuch@example.com 192.0.2.9 1',
      'scanner@example.org 192.0.2.5 1',
      'user1@example.org 192.0.2.2 1',
    ]);
  });

  it('account page shows its numbers', async () => {
    await openReport(page, server);
    await page
      .getByTestId('details-table')
      .getByRole('link', { name: 'user1@example.org' })
      .click();

    await page.getByTestId('account-messages').waitFor();
    expect(new URL(page.url()).pathname).toBe('/accounts/user1%40example.org');
    expect(await page.locator('#account-title').textContent()).toBe('user1@example.org');
    expect(await page.getByTestId('account-period').textContent()).toBe('28 Nov 2026 – 4 Dec 2026');
    expect(await page.getByTestId('account-messages').textContent()).toBe('6');
    expect(await page.getByTestId('account-recipients').textContent()).toBe('9');
    expect(await page.getByTestId('account-first-seen').textContent()).toBe(
      '4 Dec 2026, 16:22:19 UTC',
    );
    expect(await page.getByTestId('account-last-seen').textContent()).toBe(
      '4 Dec 2026, 16:22:26 UTC',
    );

    const tls = await tableRows(page, 'account-tls');
    expect(tls.map((row) => row.slice(1, 3))).toEqual([
      ['0', '0%'],
      ['0', '0%'],
      ['2', '33.3%'],
      ['2', '33.3%'],
      ['2', '33.3%'],
      ['0', '0%'],
    ]);
    const ips = await tableRows(page, 'account-client-ips');
    expect(ips.map((row) => `${row[0]} ${row[1]}`).sort()).toEqual([
      '192.0.2.1 1',
      '192.0.2.2 1',
      '192.0.2.3 2',
      '192.0.2.4 2',
    ]);
    expect(await tableRows(page, 'account-mechanisms')).toEqual([
      ['LOGIN', '3'],
      ['PLAIN', '3'],
    ]);
    const senders = await tableRows(page, 'account-senders');
    expect(senders.sort()).toEqual([
      ['user1@example.com', '1'],
      ['user1@example.org', '5'],
    ]);
    expect(await tableRows(page, 'account-failures')).toEqual([
      ['4 Dec 2026', 'user1@example.org', '192.0.2.2', '1'],
    ]);
    await page.getByTestId('account-chart').locator('svg').waitFor();

    await page.getByTestId('back').click();
    await page.getByTestId('details-table').waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
  });

  it('row click opens the account', async () => {
    await openReport(page, server);
    await page.getByTestId('details-table').locator('tbody tr').nth(1).locator('td').nth(2).click();

    await expect.poll(() => page.getByTestId('account-messages').textContent()).toBe('5');
    expect(await page.locator('#account-title').textContent()).toBe('scanner@example.org');
  });

  it('account URL loads directly', async () => {
    const url = `${server.url}/accounts/billing%40example.net?from=2026-11-28&to=2026-12-04`;
    await page.goto(url);

    await expect.poll(() => page.getByTestId('account-messages').textContent()).toBe('3');
    expect(await page.getByTestId('account-recipients').textContent()).toBe('5');

    await page.getByTestId('back').click();
    await page.getByTestId('details-table').locator('tbody a').first().waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
  });

  it('request report downloads the CSV', async () => {
    await openReport(page, server);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('request-report').click(),
    ]);
    expect(download.suggestedFilename()).toBe('smtp-auth-report-2026-11-28-2026-12-04.csv');
    const text = readFileSync(await download.path(), 'utf8');
    const [header, ...rows] = parseCsv(text);

    expect(header.join(',')).toBe(CSV_HEADER);
    expect(rows).toHaveLength(15);
    expect(rows.reduce((sum, row) => sum + Number(row[8]), 0)).toBe(18);
    expect(rows.reduce((sum, row) => sum + Number(row[9]), 0)).toBe(29);
  });

  it('CSV follows the domain filter', async () => {
    await openReport(page, server);
    await page.getByTestId('domain-select').selectOption('example.net');
    await expect.poll(() => firstColumn(page, 'details-table')).toHaveLength(2);

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByTestId('request-report').click(),
    ]);
    const [header, ...rows] = parseCsv(readFileSync(await download.path(), 'utf8'));

    expect(header.join(',')).toBe(CSV_HEADER);
    expect(rows).toHaveLength(3);
    expect(rows.map((row) => row[3])).toEqual(['example.net', 'example.net', 'example.net']);
    expect(rows.reduce((sum, row) => sum + Number(row[8]), 0)).toBe(4);
  });

  it('empty period offers all dates', async () => {
    await openReport(page, server);

    await page.getByTestId('date-from').fill('2026-01-01');
    await page.getByTestId('date-to').fill('2026-01-07');

    const empty = page.getByTestId('empty-state');
    await empty.waitFor();
    expect(await empty.innerText()).toContain('No data for 1 Jan 2026 – 7 Jan 2026');
    expect(await page.getByTestId('request-report').getAttribute('href')).toContain(
      'from=2026-01-01&to=2026-01-07',
    );

    await page.getByTestId('show-all').click();

    await expect
      .poll(() => page.getByTestId('report-totals').innerText())
      .toBe('18 messages from 5 accounts to 29 recipients, 8 failed logins');
    expect(await page.getByTestId('period').textContent()).toMatch(
      /^All data up to \d+ \w+ \d{4}$/,
    );
    expect(await page.getByTestId('preset-all').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('request-report').getAttribute('href')).toContain(
      'from=1970-01-01',
    );
  });

  it('presets set the date range', async () => {
    await openReport(page, server);

    await page.getByTestId('preset-30').click();
    await expect
      .poll(() => page.getByTestId('period').textContent())
      .toBe('5 Nov 2026 – 4 Dec 2026');
    expect(await page.getByTestId('date-from').inputValue()).toBe('2026-11-05');

    await page.getByTestId('preset-90').click();
    await expect
      .poll(() => page.getByTestId('period').textContent())
      .toBe('6 Sep 2026 – 4 Dec 2026');
    expect(await page.getByTestId('report-totals').innerText()).toContain('18 messages');
  });

  it('phone width needs no sideways scroll', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await openReport(page, server);
    const overflow = () =>
      page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

    expect(await overflow()).toBe(0);
    await page.getByTestId('pivot-tls').click();
    await expect.poll(() => firstColumn(page, 'details-table')).toHaveLength(5);
    expect(await overflow()).toBe(0);

    await page.getByTestId('widget-accounts').click();
    await page.getByTestId('flyout').waitFor();
    expect(await overflow()).toBe(0);
    await page.getByTestId('flyout-close').click();

    await page.getByTestId('details-table').getByRole('link', { name: 'printer' }).click();
    await page.getByTestId('account-messages').waitFor();
    expect(await overflow()).toBe(0);
  });
});
