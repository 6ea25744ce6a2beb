/**
 * Browser test harness: the real server over a store ingested from a fixture log, and Debian's
 * Chromium driven by playwright-core.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

const CLI = path.resolve('bin/smtp-auth-report.js');
const WEB_INDEX = path.resolve('web/dist/index.html');
const SERVER_BUILD = path.resolve('dist/cli/serve.js');

/** The fixtures carry no year; the tests pin it so that report dates are fixed. */
export const FIXTURE_YEAR = '2026';

const SERVER_START_MS = 30_000;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Why the browser tests cannot run here, or null when Chromium is installed. */
export function chromiumMissingReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  return `Chromium is not installed at ${CHROMIUM_PATH}; install it with apt-get install chromium`;
}

/** In CI a missing browser fails the run instead of skipping the browser tests. */
export const browserRequired = process.env.CI === 'true';

function checkBuilt(): void {
  for (const file of [SERVER_BUILD, WEB_INDEX]) {
    if (!existsSync(file)) {
      throw new Error(`${file} is missing; run npm run build before the browser tests`);
    }
  }
}

export interface ReportServer {
  /** Base URL without the trailing slash, such as http://127.0.0.1:40123. */
  url: string;
  stop: () => Promise<void>;
}

/** Ingests the fixture logs into a new store and serves it on a free loopback port. */
export async function startReportServer(fixtures: string[]): Promise<ReportServer> {
  checkBuilt();
  const dir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-web-'));
  const store = `duckdb:${path.join(dir, 'store.duckdb')}`;

  const ingest = spawnSync(
    'node',
    [CLI, 'ingest', '--store', store, '--year', FIXTURE_YEAR, '--timezone', 'UTC', ...fixtures],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (ingest.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const files = fixtures.join(' ');
    throw new Error(`ingest of ${files} exited with ${ingest.status}: ${ingest.stderr}`);
  }

  const child = spawn(
    'node',
    [CLI, 'serve', '--store', store, '--listen', '127.0.0.1:0', '--timezone', 'UTC'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SMTP_AUTH_REPORT_TOKEN: '' } },
  );
  const url = await waitForServerUrl(child).catch((error: unknown) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });

  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, stop };
}

/** Reads the server's stderr until it prints the URL it serves on (port 0 picks a free port). */
function waitForServerUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(
      () => reject(new Error(`serve printed no URL within ${SERVER_START_MS} ms: ${stderr}`)),
      SERVER_START_MS,
    );

    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr += chunk;
      const match = /serving the report at (http:\/\/\S+?)\/?\s/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening: ${stderr}`));
    });
  });
}

export interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** Launches headless Chromium with its own temporary profile. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    timezoneId: 'UTC',
    locale: 'en-GB',
  });
  context.setDefaultTimeout(15_000);

  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** Problems a page reports while a test drives it. */
export interface PageProblems {
  /** Messages of alert, confirm and prompt dialogs; a script injected from log data opens one. */
  dialogs: string[];
  /** Console errors (CSP violations among them) and uncaught exceptions. */
  errors: string[];
}

export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { dialogs: [], errors: [] };

  page.on('dialog', (dialog) => {
    problems.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.errors.push(message.text());
  });
  page.on('pageerror', (error) => problems.errors.push(error.message));
  return problems;
}

/** Parses RFC 4180 CSV: quoted cells may hold commas, doubled quotes and line breaks. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;

  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (char === '"') {
        quoted = false;
      } else {
        cell += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(cell);
      cell = '';
    } else if (char === '\n') {
      row.push(cell.replace(/\r$/, ''));
      rows.push(row);
      row = [];
      cell = '';
    } else {
      cell += char;
    }
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}
