import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve('bin/smtp-auth-report.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the built CLI, as a user would, with a fixed time zone unless one is given. An ingest
 * into a ClickHouse store of testStore gets a spool folder in that test's folder.
 */
export function cli(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): CliResult {
  const result = spawnSync('node', [CLI, ...withSpoolDir(args)], {
    input: options.input,
    encoding: 'utf8',
    env: cliEnvironment(options.env),
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Run the built CLI as cli() does, without blocking the test worker: a long ingest that
 * blocks it makes Vitest's calls to the worker time out.
 */
export function cliAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...withSpoolDir(args)], {
      env: cliEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Return the CLI's environment: this process's, with a fixed time zone unless one is given. */
function cliEnvironment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, SMTP_AUTH_REPORT_TIMEZONE: 'UTC', ...extra };
}

/** Everything, whatever the store contains. */
export const ALL_TIME = ['--from', '1970-01-01', '--to', '2100-12-31'];

/** Which store the CLI tests write to: `clickhouse` when SMTP_AUTH_REPORT_TEST_STORE is set to it. */
export const TEST_STORE_KIND: 'duckdb' | 'clickhouse' = testStoreKind(
  process.env.SMTP_AUTH_REPORT_TEST_STORE,
);

/** HTTP port of the ClickHouse server of the ClickHouse pass; scripts/test.sh starts it. */
const TEST_CLICKHOUSE_PORT = Number(process.env.SMTP_AUTH_REPORT_TEST_CLICKHOUSE_PORT ?? 18181);

/** Makes database names unique across test files and runs against one server. */
const RUN_TAG = `${process.pid}_${Date.now().toString(36)}`;
let storeCount = 0;

/** Spool folder of each ClickHouse store URL that testStore returned. */
const spoolDirs = new Map<string, string>();

function testStoreKind(value: string | undefined): 'duckdb' | 'clickhouse' {
  if (value === undefined || value === '' || value === 'duckdb') return 'duckdb';
  if (value === 'clickhouse') return 'clickhouse';
  throw new Error(
    `invalid SMTP_AUTH_REPORT_TEST_STORE=${value}: expected duckdb or clickhouse (or unset)`,
  );
}

/**
 * Returns the store URL for one test store: a DuckDB file in `dir`, or in the ClickHouse pass a
 * new database on the test server, so no two stores share data.
 */
export function testStore(dir: string, name: string): string {
  if (TEST_STORE_KIND === 'duckdb') return `duckdb:${path.join(dir, `${name}.duckdb`)}`;

  storeCount += 1;
  const label = name.replace(/[^A-Za-z0-9]+/g, '_').slice(0, 40);
  const database = `test_${RUN_TAG}_${storeCount}_${label}`;
  const url = `clickhouse://127.0.0.1:${TEST_CLICKHOUSE_PORT}/${database}`;
  spoolDirs.set(url, path.join(dir, `${database}.spool`));
  return url;
}

/**
 * Adds `--spool-dir` to an ingest into a ClickHouse store of testStore. Without it the CLI
 * spools under ./data of the repository, and a spool left there by an earlier run is sent to
 * the next database of the same name.
 */
function withSpoolDir(args: string[]): string[] {
  if (args[0] !== 'ingest' || args.includes('--spool-dir')) return args;

  const spoolDir = spoolDirs.get(args[args.indexOf('--store') + 1]);
  return spoolDir === undefined ? args : [...args, '--spool-dir', spoolDir];
}
