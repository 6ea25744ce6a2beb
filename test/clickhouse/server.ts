import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

import { parseClickHouseUrl, type ClickHouseLocation } from '../../src/store/url.js';

const SCRIPT = path.resolve('scripts/clickhouse.sh');
const SERVER_BIN = '/usr/sbin/clickhouse-server';
/** Installing the package and starting the server, at most. */
const SCRIPT_TIMEOUT_MS = 660_000;

/**
 * Why the ClickHouse tests cannot run here, or null when they can: the server is installed,
 * or scripts/clickhouse.sh can install it (as root, with apt-get).
 */
export function clickHouseSkipReason(): string | null {
  if (existsSync(SERVER_BIN)) return null;
  if (process.getuid?.() !== 0) {
    return 'clickhouse-server is not installed and installing it needs root';
  }
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' });
  if (apt.status !== 0) return 'clickhouse-server is not installed and there is no apt-get';
  return null;
}

/** A ClickHouse server of one test file, started by scripts/clickhouse.sh on its own ports. */
export class TestServer {
  constructor(
    readonly name: string,
    readonly httpPort: number,
    readonly tcpPort: number,
  ) {}

  get dir(): string {
    return `/tmp/smtp-auth-report-clickhouse-${this.name}`;
  }

  /** Returns the store location of a database on this server. */
  location(database: string, credentials = ''): ClickHouseLocation {
    return parseClickHouseUrl(`clickhouse://${credentials}127.0.0.1:${this.httpPort}/${database}`);
  }

  /**
   * Start with no data. Tests do not empty tables with TRUNCATE: on ClickHouse 18.16, rows of
   * an earlier run came back after a TRUNCATE here (a merge that was running is the likely
   * cause).
   */
  startFresh(): void {
    this.script('stop');
    rmSync(this.dir, { recursive: true, force: true });
    this.script('start');
  }

  /** Start again on the data that is there. */
  start(): void {
    this.script('start');
  }

  stop(): void {
    this.script('stop');
  }

  /** Returns the pid the script recorded when it started the server. */
  pid(): number {
    return Number(readFileSync(path.join(this.dir, 'single', 'clickhouse-server.pid'), 'utf8'));
  }

  script(command: string): string {
    return runScript(command, {
      SMTP_AUTH_REPORT_CLICKHOUSE_DIR: this.dir,
      SMTP_AUTH_REPORT_CLICKHOUSE_HTTP_PORT: String(this.httpPort),
      SMTP_AUTH_REPORT_CLICKHOUSE_TCP_PORT: String(this.tcpPort),
    });
  }
}

export function runScript(command: string, env: NodeJS.ProcessEnv): string {
  const result = spawnSync('bash', [SCRIPT, command], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: SCRIPT_TIMEOUT_MS,
  });
  if (result.status !== 0) {
    throw new Error(
      `scripts/clickhouse.sh ${command} exited with ${result.status}: ${result.stderr}`,
    );
  }
  return result.stdout + result.stderr;
}

/** Run scripts/clickhouse.sh as runScript does, without blocking the test worker. */
export function runScriptAsync(command: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [SCRIPT, command],
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`scripts/clickhouse.sh ${command} failed: ${error.message}: ${stderr}`));
        } else {
          resolve(stdout + stderr);
        }
      },
    );
  });
}
