import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { FIXTURE_YEAR, LAB_LOG } from './store.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(ROOT, 'test/server/cli-entry.ts');
const LAB_SUMMARY = {
  from: '2026-11-28',
  to: '2026-12-04',
  accounts: 5,
  messages: 18,
  recipients: 29,
  failures: 8,
  tls: { TLSv1: 1, 'TLSv1.1': 3, 'TLSv1.2': 4, 'TLSv1.3': 6, none: 4, unknown: 0 },
  tlsLoggingOff: [],
};

interface Cli {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

const started: ChildProcess[] = [];

function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], {
    cwd: ROOT,
    env: { ...process.env, SMTP_AUTH_REPORT_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk) => (stderr += String(chunk)));
  child.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, stderr: () => stderr, exited };
}

/** Run a CLI command to its end. */
async function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const cli = startCli(args, env);
  const status = await cli.exited;
  return { status, stderr: cli.stderr() };
}

async function until<T>(
  description: string,
  probe: () => Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${description}`);
}

/** The URL the CLI prints once it listens. */
function servingUrl(cli: Cli): Promise<string> {
  return until('the serving line', async () => {
    if (cli.child.exitCode !== null) throw new Error(`CLI exited early: ${cli.stderr()}`);
    return /smtp-auth-report: serving the report at (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(
      cli.stderr(),
    )?.[1];
  });
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  return response.json();
}

let dir: string;
let storePath: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-cli-'));
  storePath = path.join(dir, 'report.duckdb');
});

afterEach(() => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      process.kill(child.pid, 'SIGKILL');
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('run and serve', () => {
  it('run ingests, serves and stops on SIGTERM', async () => {
    const cli = startCli([
      'run',
      `--store=duckdb:${storePath}`,
      '--timezone=UTC',
      `--year=${FIXTURE_YEAR}`,
      '--listen=127.0.0.1:0',
      LAB_LOG,
    ]);
    const url = await servingUrl(cli);

    expect(await getJson(`${url}healthz`)).toEqual({ status: 'ok' });
    expect(await getJson(`${url}api/summary`)).toEqual(LAB_SUMMARY);
    expect(JSON.parse(readFileSync(`${storePath}.server.json`, 'utf8'))).toEqual({
      pid: cli.child.pid,
      url,
    });

    process.kill(cli.child.pid!, 'SIGTERM');

    expect(await cli.exited).toBe(0);
    expect(existsSync(`${storePath}.server.json`)).toBe(false);
  });

  it('report names the server that holds the store', async () => {
    const store = `--store=duckdb:${storePath}`;
    await runCli(['ingest', store, '--timezone=UTC', `--year=${FIXTURE_YEAR}`, LAB_LOG]);
    const server = startCli(['serve', store, '--timezone=UTC', '--listen=127.0.0.1:0']);
    const url = await servingUrl(server);
    const lockedMessage =
      `smtp-auth-report: the store ${storePath} is held by another process ` +
      `(smtp-auth-report serve at ${url}, PID ${server.child.pid}); ` +
      'stop it, or query it through the server that holds it\n';

    const report = await runCli(['report', store, '--timezone=UTC']);
    const ingest = await runCli(['ingest', store, '--timezone=UTC', LAB_LOG]);

    expect(report).toEqual({ status: 1, stderr: lockedMessage });
    expect(ingest).toEqual({ status: 1, stderr: lockedMessage });

    process.kill(server.child.pid!, 'SIGINT');
    expect(await server.exited).toBe(0);
    expect((await runCli(['report', store, '--timezone=UTC'])).status).toBe(0);
  });

  it('serve --follow reads a log as it grows', async () => {
    const log = path.join(dir, 'mail.log');
    const lines = readFileSync(LAB_LOG, 'utf8').trimEnd().split('\n');
    writeFileSync(log, lines.slice(0, 40).join('\n') + '\n');
    const cli = startCli([
      'serve',
      `--store=duckdb:${storePath}`,
      '--timezone=UTC',
      `--year=${FIXTURE_YEAR}`,
      '--listen=127.0.0.1:0',
      '--follow',
      log,
    ]);
    const url = await servingUrl(cli);

    const partial = await until('the first lines', async () => {
      const summary = (await getJson(`${url}api/summary`)) as { messages: number };
      return summary.messages > 0 ? summary : undefined;
    });
    appendFileSync(log, lines.slice(40).join('\n') + '\n');
    const complete = await until('the appended lines', async () => {
      const summary = (await getJson(`${url}api/summary`)) as { failures: number };
      return summary.failures === 8 ? summary : undefined;
    });

    expect(partial).toMatchObject({ messages: 4, failures: 0 });
    expect(complete).toEqual(LAB_SUMMARY);
    expect(cli.stderr()).toContain('"msg":"ingested new log lines"');
    process.kill(cli.child.pid!, 'SIGTERM');
    expect(await cli.exited).toBe(0);
  });
});

describe('serve refuses to start', () => {
  it('without a store', async () => {
    const result = await runCli(['serve', `--store=duckdb:${storePath}`, '--listen=127.0.0.1:0']);

    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `smtp-auth-report: cannot read ${storePath}: no store there yet; run ` +
        'smtp-auth-report ingest first, pass --store, or add --follow LOG\n',
    );
  });

  // 192.0.2.1 is TEST-NET-1, assigned to no interface here, so nothing can be bound even if
  // the check failed.
  it('on a non-loopback address without a token', async () => {
    const result = await runCli(['serve', `--store=duckdb:${storePath}`, '--listen=192.0.2.1:0']);

    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'invalid value "192.0.2.1:0" for --listen: it is not a loopback address and no access token is configured',
    );
  });

  it('with a short token from the environment', async () => {
    const result = await runCli(['serve', `--store=duckdb:${storePath}`], {
      SMTP_AUTH_REPORT_TOKEN: 'short',
    });

    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      'smtp-auth-report: invalid value "5 characters" for SMTP_AUTH_REPORT_TOKEN: the access ' +
        'token must have at least 16 characters; generate one with: openssl rand -hex 32\n',
    );
  });
});

describe('duckdb-only options on a clickhouse store', () => {
  const store = 'clickhouse://reader:secret@127.0.0.1:18171/serve_cli';
  const detail =
    'insights and follow need a DuckDB store today; to follow logs into ClickHouse, run ' +
    '`smtp-auth-report ingest --follow --store clickhouse://...` on each mail server';

  it('serve --follow exits 2', async () => {
    const { status, stderr } = await runCli(['serve', '--store', store, '--follow', LAB_LOG]);

    expect(status).toBe(2);
    expect(stderr).toBe(
      `smtp-auth-report: invalid value ${JSON.stringify([LAB_LOG])} for --follow: the store is ` +
        `clickhouse://127.0.0.1:18171/serve_cli, and ${detail}\n`,
    );
  });

  it('serve --alert-webhook exits 2', async () => {
    const { status, stderr } = await runCli([
      'serve',
      '--store',
      store,
      '--alert-webhook',
      'http://127.0.0.1:9/hook',
    ]);

    expect(status).toBe(2);
    expect(stderr).toBe(
      'smtp-auth-report: invalid value "http://127.0.0.1:9" for --alert-webhook: the store is ' +
        `clickhouse://127.0.0.1:18171/serve_cli, and ${detail}\n`,
    );
  });

  it('insights exits 2', async () => {
    const { status, stderr } = await runCli(['insights', '--store', store]);

    expect(status).toBe(2);
    expect(stderr).toBe(
      'smtp-auth-report: invalid value "clickhouse://127.0.0.1:18171/serve_cli" for --store: ' +
        `${detail}\n`,
    );
  });

  it('insights review exits 2', async () => {
    const { status, stderr } = await runCli([
      'insights',
      '--store',
      store,
      'review',
      'printer',
      '--note',
      'known device',
    ]);

    expect(status).toBe(2);
    expect(stderr).toContain(`for --store: ${detail}`);
  });
});
