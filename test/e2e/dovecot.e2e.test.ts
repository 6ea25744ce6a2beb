/**
 * Runs a real Dovecot 2.3 submission service in front of a real Postfix 3.7
 * (dovecot-harness.sh) and reads the Dovecot log it wrote. The Dovecot reader must count
 * exactly what the harness sent, and no failed login may count in both logs. Needs root and the Debian packages postfix, dovecot-core,
 * dovecot-submissiond, dovecot-imapd, openssl and procps. Without them the test is skipped,
 * unless CI=true, where it fails.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { DovecotLogFileCorrelator } from '../../src/correlate/dovecot.js';
import type { AuthFailure, ReportEvent, SubmittedMessage } from '../../src/events.js';
import { correlate } from '../helpers/ingest.js';
import type { DovecotTruth } from './dovecot-traffic.js';
import { findMissingPrerequisites, repositoryRoot } from './helpers.js';

const HARNESS_TIMEOUT_MS = 300_000;
const harnessScript = path.join(repositoryRoot, 'test/e2e/dovecot-harness.sh');

// Debian package that provides each Dovecot service the harness starts.
const dovecotServices: Record<string, string> = {
  '/usr/lib/dovecot/submission-login': 'dovecot-submissiond',
  '/usr/lib/dovecot/imap-login': 'dovecot-imapd',
};

const missing = [
  ...findMissingPrerequisites(),
  ...Object.entries(dovecotServices)
    .filter(([file]) => !existsSync(file))
    .map(([file, debianPackage]) => `${file} not found (Debian package ${debianPackage})`),
];
const inCi = process.env.CI === 'true';

if (missing.length > 0 && !inCi) {
  console.warn(`Dovecot end-to-end test skipped: ${missing.join('; ')}`);
}

function runHarness(outdir: string): void {
  const result = spawnSync('bash', [harnessScript, outdir], {
    encoding: 'utf8',
    timeout: HARNESS_TIMEOUT_MS,
    env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` },
  });
  if (result.error) {
    throw new Error(`dovecot-harness.sh failed to run: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(
      `dovecot-harness.sh exited with status ${result.status}:\n${result.stdout}${result.stderr}`,
    );
  }
}

function readDovecotLog(file: string) {
  const events: ReportEvent[] = [];
  const correlator = new DovecotLogFileCorrelator({
    emit: (event) => events.push(event),
    timeZone: 'UTC',
    serverName: 'mx',
    referenceMs: Date.now(),
  });
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const outcome = correlator.line(line);
    if (typeof outcome !== 'string') throw new Error(`malformed: ${line}: ${outcome.malformed}`);
  }
  return {
    messages: events.filter((e): e is SubmittedMessage => e.kind === 'message'),
    failures: events.filter((e): e is AuthFailure => e.kind === 'failure'),
  };
}

const sorted = <T>(rows: T[]): T[] =>
  [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe('dovecot end-to-end', () => {
  test('prerequisites present, or the test may be skipped', () => {
    expect(inCi ? missing : [], 'the Dovecot end-to-end test needs these on CI').toEqual([]);
  });

  describe.skipIf(missing.length > 0)('real dovecot log', () => {
    let outdir = '';

    beforeAll(() => {
      outdir = mkdtempSync(path.join(os.tmpdir(), 'smtp-auth-report-dovecot-e2e-'));
      runHarness(outdir);
    }, HARNESS_TIMEOUT_MS);

    afterAll(() => {
      if (outdir) rmSync(outdir, { recursive: true, force: true });
    });

    const phase = (name: string) => {
      const truth: DovecotTruth = JSON.parse(
        readFileSync(path.join(outdir, name, 'truth.json'), 'utf8'),
      );
      return { truth, ...readDovecotLog(path.join(outdir, name, 'dovecot.log')) };
    };

    test('verbose: messages match truth', () => {
      const { truth, messages } = phase('verbose');
      const read = messages.map((m) => [
        m.account,
        m.saslMethod,
        m.senderAddress,
        m.clientIp,
        m.tlsProtocol,
        m.recipients,
      ]);
      const sent = truth.dovecotMessages.map((m) => [
        m.account,
        m.saslMethod,
        m.senderAddress,
        m.clientIp,
        m.tlsProtocol,
        m.rcptCommands,
      ]);
      expect(sorted(read)).toEqual(sorted(sent));
    });

    test('verbose: failures match truth', () => {
      const { truth, failures } = phase('verbose');
      const read = failures.map((f) => [
        f.attemptedUsername,
        f.saslMethod,
        f.clientIp,
        f.tlsProtocol,
      ]);
      const sent = truth.failures
        .filter((f) => f.countedBy === 'dovecot')
        .map((f) => [f.attemptedUsername, f.saslMethod, f.clientIp, f.tlsProtocol]);
      expect(sorted(read)).toEqual(sorted(sent));
    });

    test('verbose: each failed login counts in one log', () => {
      const { truth, failures } = phase('verbose');
      const postfix = correlate(readFileSync(path.join(outdir, 'verbose', 'maillog'), 'utf8'), {
        year: new Date().getUTCFullYear(),
      });
      const read = [...failures, ...postfix.failures].map((f) => [f.attemptedUsername, f.clientIp]);
      const sent = truth.failures.map((f) => [f.attemptedUsername, f.clientIp]);
      expect(sorted(read)).toEqual(sorted(sent));
    });

    test('default: TLS versions are unknown, never guessed', () => {
      const { truth, messages } = phase('default');
      const read = messages.map((m) => [m.account, m.clientIp, m.tlsProtocol]);
      const sent = truth.dovecotMessages.map((m) => [
        m.account,
        m.clientIp,
        m.tlsProtocol === 'none' ? 'none' : 'unknown',
      ]);
      expect(sorted(read)).toEqual(sorted(sent));
    });

    // Without auth_verbose a failure followed by a login in the same session leaves no line.
    test('default: failures of sessions without a login', () => {
      const { truth, failures } = phase('default');
      const loggedIn = new Set(truth.dovecotMessages.map((m) => m.session));
      const sent = truth.failures.filter(
        (f) => f.countedBy === 'dovecot' && !loggedIn.has(f.session),
      );
      expect(failures.map((f) => f.clientIp).sort()).toEqual(sent.map((f) => f.clientIp).sort());
    });
  });
});
