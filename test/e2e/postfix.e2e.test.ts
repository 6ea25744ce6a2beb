/**
 * Runs a real Postfix 3.7 with Dovecot SASL (postfix-harness.sh), ingests the log it wrote,
 * and checks that the reports count exactly what the harness sent. Needs root and the
 * Debian packages postfix, dovecot-core, openssl and procps. Without them the test is
 * skipped, unless CI=true, where it fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import {
  findMissingPrerequisites,
  readTruth,
  runCli,
  runHarness,
  sortAccepted,
  sortFailures,
  sumDetails,
  sumFailures,
  type DetailsRow,
  type FailuresRow,
  type Summary,
  type Truth,
} from './helpers.js';

const HARNESS_TIMEOUT_MS = 300_000;
const CLI_TIMEOUT_MS = 120_000;
const WHOLE_PERIOD = ['--from', '1970-01-01', '--to', '2100-12-31'];

const missing = findMissingPrerequisites();
const inCi = process.env.CI === 'true';

if (missing.length > 0 && !inCi) {
  console.warn(`Postfix end-to-end test skipped: ${missing.join('; ')}`);
}

// Each phase's log is ingested into its own store, because whether a session without a TLS
// line reports "none" or "unknown" depends on whether the log has TLS lines at all.
const phases = [
  {
    name: 'smtpd_tls_loglevel 1',
    directory: '.',
    tlsProtocols: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none'],
  },
  { name: 'smtpd_tls_loglevel 0', directory: 'tls-loglevel-0', tlsProtocols: ['unknown'] },
];

describe('postfix end-to-end', () => {
  test('prerequisites present, or the test may be skipped', () => {
    // Outside CI a missing prerequisite only skips the test below, with the reason printed.
    expect(inCi ? missing : [], 'the Postfix end-to-end test needs these on CI').toEqual([]);
  });

  describe.skipIf(missing.length > 0)('real postfix log', () => {
    let outdir = '';

    beforeAll(() => {
      outdir = mkdtempSync(path.join(os.tmpdir(), 'smtp-auth-report-e2e-'));
      runHarness(outdir);
    }, HARNESS_TIMEOUT_MS);

    afterAll(() => {
      if (outdir && process.env.E2E_KEEP_WORKDIR !== '1') {
        rmSync(outdir, { recursive: true, force: true });
      }
    });

    describe.each(phases)('$name', ({ directory, tlsProtocols }) => {
      let truth: Truth;
      let details: DetailsRow[];
      let failures: FailuresRow[];
      let summary: Summary;

      beforeAll(() => {
        const phaseDirectory = path.join(outdir, directory);
        const store = `duckdb:${path.join(phaseDirectory, 'store.duckdb')}`;
        truth = readTruth(path.join(phaseDirectory, 'truth.json'));

        runCli(['ingest', '--store', store, path.join(phaseDirectory, 'maillog')]);
        const report = (view: string): unknown =>
          JSON.parse(
            runCli([
              'report',
              '--store',
              store,
              '--view',
              view,
              '--format',
              'json',
              ...WHOLE_PERIOD,
            ]),
          );
        details = report('details') as DetailsRow[];
        failures = report('failures') as FailuresRow[];
        summary = report('summary') as Summary;
      }, CLI_TIMEOUT_MS);

      test('truth covers every TLS value', () => {
        const sent = new Set(truth.accepted.map((group) => group.tlsProtocol));
        expect([...sent].sort()).toEqual([...tlsProtocols].sort());
      });

      test('details match truth', () => {
        expect(sumDetails(details)).toEqual(sortAccepted(truth.accepted));
      });

      test('sender domain matches address', () => {
        for (const row of details.filter((detail) => detail.senderAddress !== '')) {
          expect(row.senderDomain, row.senderAddress).toBe(row.senderAddress.split('@')[1]);
        }
      });

      test('failures match truth', () => {
        expect(sumFailures(failures)).toEqual(sortFailures(truth.failures));
      });

      test('summary totals match truth', () => {
        expect(summary.messages, 'messages').toBe(truth.totals.messages);
        expect(summary.recipients, 'recipients').toBe(truth.totals.recipients);
        expect(summary.failures, 'failures').toBe(truth.totals.failures);
      });

      // The summary counts messages per TLS version, and accounts that sent a message.
      test('summary breakdown matches truth', () => {
        const accounts = new Set(truth.accepted.map((group) => group.account));
        const tls: Record<string, number> = {
          TLSv1: 0,
          'TLSv1.1': 0,
          'TLSv1.2': 0,
          'TLSv1.3': 0,
          none: 0,
          unknown: 0,
        };
        for (const group of truth.accepted) {
          tls[group.tlsProtocol] += group.messages;
        }

        expect(summary.accounts, 'accounts').toBe(accounts.size);
        expect(summary.tls, 'tls').toEqual(tls);
      });

      test('details totals match truth', () => {
        const messages = details.reduce((sum, row) => sum + row.messages, 0);
        const recipients = details.reduce((sum, row) => sum + row.recipients, 0);
        expect(messages, 'messages').toBe(truth.totals.messages);
        expect(recipients, 'recipients').toBe(truth.totals.recipients);
      });
    });
  });
});
