/**
 * Runs a real Sendmail 8.17 with Cyrus SASL and STARTTLS (sendmail-harness.sh), feeds the log
 * it wrote to SendmailCorrelator, and checks that the events match exactly what the harness
 * sent. Needs root, Debian's sendmail-bin unpacked under SENDMAIL_ROOT (default
 * /opt/sendmail-e2e) and the tools the harness lists. Without them the test is skipped,
 * unless CI=true, where it fails.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { SendmailCorrelator } from '../../src/correlate/sendmail.js';
import type { ReportEvent } from '../../src/events.js';
import { countOutcomes, feedSyslog, type FeedResult } from '../correlate/syslog-feed.js';
import {
  readTruth,
  repositoryRoot,
  sortAccepted,
  sortFailures,
  sumDetails,
  sumFailures,
  type DetailsRow,
  type FailuresRow,
  type Truth,
} from './helpers.js';

const HARNESS_TIMEOUT_MS = 180_000;
const harnessScript = path.join(repositoryRoot, 'test/e2e/sendmail-harness.sh');
const sendmailRoot = process.env.SENDMAIL_ROOT ?? '/opt/sendmail-e2e';

// Debian package that provides each command the harness runs.
const requiredCommands: Record<string, string> = {
  m4: 'm4',
  saslpasswd2: 'sasl2-bin',
  openssl: 'openssl',
  python3: 'python3',
  unshare: 'util-linux',
  ps: 'procps',
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findMissingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) {
    missing.push(`the harness must run as root (uid is ${process.getuid?.() ?? 'unknown'})`);
  }

  const directories = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
  for (const [command, debianPackage] of Object.entries(requiredCommands)) {
    if (!directories.some((directory) => isExecutable(path.join(directory, command)))) {
      missing.push(`${command} not found (Debian package ${debianPackage})`);
    }
  }
  const sendmail = path.join(sendmailRoot, 'usr/libexec/sendmail/sendmail');
  if (!isExecutable(sendmail)) {
    missing.push(`${sendmail} not found; run scripts/install-test-deps.sh as root`);
  }
  return missing;
}

function runHarness(outdir: string): void {
  const result = spawnSync('bash', [harnessScript, outdir], {
    encoding: 'utf8',
    timeout: HARNESS_TIMEOUT_MS,
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
  });
  if (result.error) throw new Error(`sendmail-harness.sh failed to run: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `sendmail-harness.sh exited with status ${result.status}:\n${result.stdout}${result.stderr}`,
    );
  }
}

/** Convert messages to rows of the details view, one message each. */
function detailsRows(feed: FeedResult): DetailsRow[] {
  return feed.messages.map((message) => ({
    day: '',
    account: message.account,
    senderAddress: message.senderAddress,
    senderDomain: '',
    clientIp: message.clientIp,
    tlsProtocol: message.tlsProtocol,
    saslMechanism: message.saslMethod,
    server: message.server,
    messages: 1,
    recipients: message.recipients,
  }));
}

/** Convert failures to rows of the failures view, one failed login each. */
function failuresRows(feed: FeedResult): FailuresRow[] {
  return feed.failures.map((failure) => ({
    day: '',
    attemptedUsername: failure.attemptedUsername,
    clientIp: failure.clientIp,
    saslMechanism: failure.saslMethod,
    tlsProtocol: failure.tlsProtocol,
    server: failure.server,
    failures: 1,
  }));
}

const missing = findMissingPrerequisites();
const inCi = process.env.CI === 'true';

if (missing.length > 0 && !inCi) {
  console.warn(`Sendmail end-to-end test skipped: ${missing.join('; ')}`);
}

describe('sendmail end-to-end', () => {
  test('prerequisites present, or the test may be skipped', () => {
    expect(inCi ? missing : [], 'the Sendmail end-to-end test needs these on CI').toEqual([]);
  });

  describe.skipIf(missing.length > 0)('real sendmail log', () => {
    let outdir = '';
    let truth: Truth;
    let feed: FeedResult;

    beforeAll(() => {
      outdir = mkdtempSync(path.join(os.tmpdir(), 'smtp-auth-report-sendmail-'));
      runHarness(outdir);
      truth = readTruth(path.join(outdir, 'truth.json'));

      const events: ReportEvent[] = [];
      const correlator = new SendmailCorrelator({
        emit: (event) => events.push(event),
        timeZone: 'UTC',
        serverName: 'unused',
      });
      const log = readFileSync(path.join(outdir, 'maillog'), 'utf8');
      feed = feedSyslog(correlator, events, log, { year: new Date().getUTCFullYear() });
    }, HARNESS_TIMEOUT_MS);

    afterAll(() => {
      if (outdir && process.env.E2E_KEEP_WORKDIR !== '1') {
        rmSync(outdir, { recursive: true, force: true });
      }
    });

    test('truth covers every TLS value', () => {
      const sent = new Set(truth.accepted.map((group) => group.tlsProtocol));
      expect([...sent].sort()).toEqual(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none']);
    });

    test('messages match truth', () => {
      expect(sumDetails(detailsRows(feed))).toEqual(sortAccepted(truth.accepted));
    });

    test('failures match truth', () => {
      expect(sumFailures(failuresRows(feed))).toEqual(sortFailures(truth.failures));
    });

    test('totals match truth', () => {
      const recipients = feed.messages.reduce((sum, message) => sum + message.recipients, 0);
      expect(feed.messages.length, 'messages').toBe(truth.totals.messages);
      expect(recipients, 'recipients').toBe(truth.totals.recipients);
      expect(feed.failures.length, 'failures').toBe(truth.totals.failures);
    });

    test('every TLS version comes from a STARTTLS line', () => {
      const evidence = new Set(feed.events.map((event) => event.tlsEvidence));
      expect([...evidence].sort()).toEqual(['line', 'no-line']);
    });

    test('no line is malformed', () => {
      expect(countOutcomes(feed.outcomes).malformed).toBe(0);
    });
  });
});
