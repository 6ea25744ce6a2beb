import { spawnSync } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve('bin/smtp-auth-report.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI, as a user would, with a fixed time zone unless one is given. */
export function cli(
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): CliResult {
  const result = spawnSync('node', [CLI, ...args], {
    input: options.input,
    encoding: 'utf8',
    env: { ...process.env, SMTP_AUTH_REPORT_TIMEZONE: 'UTC', ...options.env },
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Everything, whatever the store holds. */
export const ALL_TIME = ['--from', '1970-01-01', '--to', '2100-12-31'];
