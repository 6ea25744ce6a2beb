import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { sql, SqlText } from '../../src/store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../src/store/clickhouse/store.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** Runs the CLI from source, so that the tests need no build of dist/. */
const ENTRY = path.join(ROOT, 'test/server/cli-entry.ts');
const CLI_TIMEOUT_MS = 120_000;

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to its end, in UTC. */
export function runCli(args: string[], options: { input?: string; cwd?: string } = {}): CliRun {
  const result = spawnSync(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: options.cwd ?? ROOT,
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, SMTP_AUTH_REPORT_TIMEZONE: 'UTC' },
    timeout: CLI_TIMEOUT_MS,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A CLI process that runs until it is stopped, such as `ingest --follow`. */
export interface RunningCli {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

export function startCli(args: string[]): RunningCli {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: ROOT,
    env: { ...process.env, SMTP_AUTH_REPORT_TIMEZONE: 'UTC' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, stderr: () => stderr, exited };
}

/** Poll `check` every 100 ms until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  description: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.resolve(check()).catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Row counts of both event tables, with duplicates collapsed by FINAL and by event id. */
export interface EventCounts {
  messages: number;
  failures: number;
  /** Distinct event ids; equal to the counts when no id was stored with other values. */
  messageIds: number;
  failureIds: number;
}

export async function countEvents(store: ClickHouseStore, where = '1'): Promise<EventCounts> {
  // `where` is a constant of the calling test, never a value from a log.
  const condition = new SqlText(where);
  const messages = await store.all(sql`
    SELECT count() AS n FROM submitted_messages FINAL WHERE ${condition}`);
  const failures = await store.all(sql`
    SELECT count() AS n FROM auth_failures FINAL WHERE ${condition}`);
  const messageIds = await store.all(sql`
    SELECT uniqExact(ingest_host, source_id, line_offset, line_event) AS n
    FROM submitted_messages WHERE ${condition}`);
  const failureIds = await store.all(sql`
    SELECT uniqExact(ingest_host, source_id, line_offset, line_event) AS n
    FROM auth_failures WHERE ${condition}`);
  return {
    messages: Number(messages[0].n),
    failures: Number(failures[0].n),
    messageIds: Number(messageIds[0].n),
    failureIds: Number(failureIds[0].n),
  };
}

/** Per-account messages and recipients, as `account: messages/recipients`, sorted. */
export async function accountTotals(store: ClickHouseStore, where = '1'): Promise<string[]> {
  const rows = await store.all(sql`
    SELECT server AS host, account AS login, count() AS n, sum(recipients) AS r
    FROM submitted_messages FINAL WHERE ${new SqlText(where)}
    GROUP BY server, account ORDER BY server, account`);
  return rows.map((row) => `${row.host} ${row.login}: ${row.n}/${row.r}`);
}

/** Merge every part, so that copies with one id are one row even without FINAL. */
export async function optimizeFinal(store: ClickHouseStore): Promise<void> {
  for (const table of ['submitted_messages', 'auth_failures']) {
    await store.run(`OPTIMIZE TABLE ${table} FINAL`);
  }
}

/** Rows as stored, without FINAL: after optimizeFinal, copies are gone. */
export async function rawCount(store: ClickHouseStore, table: string, where = '1') {
  const rows = await store.all(new SqlText(`SELECT count() AS n FROM ${table} WHERE ${where}`));
  return Number(rows[0].n);
}
