import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Truth } from './traffic.js';

export type { Truth };

export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const harnessScript = path.join(repositoryRoot, 'test/e2e/postfix-harness.sh');
const cliScript = path.join(repositoryRoot, 'bin/smtp-auth-report.js');

// Debian package that provides each command the harness runs.
const requiredCommands: Record<string, string> = {
  postfix: 'postfix',
  postconf: 'postfix',
  postqueue: 'postfix',
  dovecot: 'dovecot-core',
  doveconf: 'dovecot-core',
  openssl: 'openssl',
  ps: 'procps',
};

// Root's PATH has the sbin directories, but a test started through sudo may not.
const extraCommandDirectories = ['/usr/sbin', '/sbin'];

const HARNESS_TIMEOUT_MS = 300_000;

function findCommand(name: string): string | undefined {
  const directories = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    ...extraCommandDirectories,
  ];
  for (const directory of directories.filter(Boolean)) {
    const candidate = path.join(directory, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Returns the reasons why the harness cannot run here, or an empty list when it can. */
export function findMissingPrerequisites(): string[] {
  const missing: string[] = [];

  if (process.getuid?.() !== 0) {
    missing.push(`the harness must run as root (uid is ${process.getuid?.() ?? 'unknown'})`);
  }
  for (const [command, debianPackage] of Object.entries(requiredCommands)) {
    if (!findCommand(command)) {
      missing.push(`${command} not found (Debian package ${debianPackage})`);
    }
  }
  return missing;
}

/** Runs postfix-harness.sh into `outdir` and throws with its output when it fails. */
export function runHarness(outdir: string): void {
  const result = spawnSync('bash', [harnessScript, outdir], {
    encoding: 'utf8',
    timeout: HARNESS_TIMEOUT_MS,
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${extraCommandDirectories.join(':')}` },
  });

  if (result.error) {
    throw new Error(`postfix-harness.sh failed to run: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(
      `postfix-harness.sh exited with status ${result.status}:\n${result.stdout}${result.stderr}`,
    );
  }
}

/** Runs the CLI and returns its stdout. Throws with stderr when the exit code is not 0. */
export function runCli(args: string[]): string {
  const result = spawnSync(process.execPath, [cliScript, ...args], {
    cwd: repositoryRoot,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });

  if (result.error) {
    throw new Error(`smtp-auth-report ${args.join(' ')} failed to run: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(
      `smtp-auth-report ${args.join(' ')} exited with status ${result.status}:\n${result.stderr}`,
    );
  }
  return result.stdout;
}

export function readTruth(file: string): Truth {
  return JSON.parse(readFileSync(file, 'utf8')) as Truth;
}

/** A row of `report --view details --format json`. */
export interface DetailsRow {
  day: string;
  account: string;
  senderAddress: string;
  senderDomain: string;
  clientIp: string;
  tlsProtocol: string;
  saslMechanism: string;
  server: string;
  messages: number;
  recipients: number;
}

/** A row of `report --view failures --format json`. */
export interface FailuresRow {
  day: string;
  attemptedUsername: string | null;
  clientIp: string;
  saslMechanism: string;
  tlsProtocol: string;
  server: string;
  failures: number;
}

/** The object of `report --view summary --format json`. */
export interface Summary {
  from: string;
  to: string;
  accounts: number;
  messages: number;
  recipients: number;
  failures: number;
  tls: Record<string, number>;
}

type AcceptedGroup = Truth['accepted'][number];
type FailureGroup = Truth['failures'][number];

function compareKeys(a: string, b: string): number {
  if (a < b) {
    return -1;
  }
  return a > b ? 1 : 0;
}

function sortByKey<T>(groups: Map<string, T>): T[] {
  return [...groups.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, group]) => group);
}

/** Orders truth groups the same way as the sums below, so toEqual compares like with like. */
export function sortAccepted(groups: AcceptedGroup[]): AcceptedGroup[] {
  return sumDetails(groups.map((group) => ({ ...group, day: '', senderDomain: '', server: '' })));
}

export function sortFailures(groups: FailureGroup[]): FailureGroup[] {
  return sumFailures(groups.map((group) => ({ ...group, day: '', server: '' })));
}

/** Sums details rows over day and server into the groups of the truth file. */
export function sumDetails(rows: DetailsRow[]): AcceptedGroup[] {
  const groups = new Map<string, AcceptedGroup>();

  for (const row of rows) {
    const { account, saslMechanism, senderAddress, tlsProtocol, clientIp } = row;
    const key = JSON.stringify([account, saslMechanism, senderAddress, tlsProtocol, clientIp]);
    const group = groups.get(key) ?? {
      account,
      saslMechanism,
      senderAddress,
      tlsProtocol: tlsProtocol as AcceptedGroup['tlsProtocol'],
      clientIp,
      messages: 0,
      recipients: 0,
    };
    group.messages += row.messages;
    group.recipients += row.recipients;
    groups.set(key, group);
  }
  return sortByKey(groups);
}

/** Sums failures rows over day and server into the groups of the truth file. */
export function sumFailures(rows: FailuresRow[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();

  for (const row of rows) {
    const { clientIp, saslMechanism } = row;
    // Postfix 3.7 with Dovecot logs sasl_username on every failed login, so null here would
    // be a parser error. The placeholder keeps it visible in the comparison.
    const attemptedUsername = row.attemptedUsername ?? '(null)';
    const tlsProtocol = row.tlsProtocol as FailureGroup['tlsProtocol'];
    const key = JSON.stringify([attemptedUsername, clientIp, tlsProtocol, saslMechanism]);
    const group = groups.get(key) ?? {
      attemptedUsername,
      clientIp,
      tlsProtocol,
      saslMechanism,
      failures: 0,
    };
    group.failures += row.failures;
    groups.set(key, group);
  }
  return sortByKey(groups);
}
