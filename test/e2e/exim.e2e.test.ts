/**
 * Runs a real Exim 4.96 (exim-harness.sh), reads the main logs it wrote with EximCorrelator,
 * and checks that the events are exactly what the harness sent. Needs root and Debian's
 * apt-get, dpkg-deb and openssl (the harness downloads and unpacks Exim itself). Without them
 * the test is skipped, unless CI=true, where it fails.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import {
  EximCorrelator,
  type EximAuthFailure,
  type EximSubmittedMessage,
} from '../../src/correlate/exim.js';
import type { ReportEvent } from '../../src/events.js';
import type { LineOutcome } from '../../src/formats/correlator.js';
import type { EximTruth } from './exim-traffic.js';

const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const harnessScript = path.join(repositoryRoot, 'test/e2e/exim-harness.sh');
const HARNESS_TIMEOUT_MS = 180_000;

// Debian package of each command the harness runs.
const requiredCommands: Record<string, string> = {
  'apt-get': 'apt',
  'dpkg-deb': 'dpkg',
  'dpkg-query': 'dpkg',
  openssl: 'openssl',
};
const commandDirectories = [
  ...(process.env.PATH ?? '').split(path.delimiter),
  '/usr/sbin',
  '/sbin',
];

function hasCommand(name: string): boolean {
  return commandDirectories.filter(Boolean).some((directory) => {
    try {
      accessSync(path.join(directory, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function findMissingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) {
    missing.push(`the harness must run as root (uid is ${process.getuid?.() ?? 'unknown'})`);
  }
  for (const [command, debianPackage] of Object.entries(requiredCommands)) {
    if (!hasCommand(command))
      missing.push(`${command} not found (Debian package ${debianPackage})`);
  }
  return missing;
}

function runHarness(outdir: string): void {
  const result = spawnSync('bash', [harnessScript, outdir], {
    encoding: 'utf8',
    timeout: HARNESS_TIMEOUT_MS,
    env: { ...process.env, PATH: commandDirectories.join(path.delimiter) },
  });
  if (result.error) throw new Error(`exim-harness.sh failed to run: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`exim-harness.sh exited with status ${result.status}:\n${result.stderr}`);
  }
}

interface Reading {
  events: ReportEvent[];
  outcomes: LineOutcome[];
  correlator: EximCorrelator;
}

function read(lines: string[], timeZone: string): Reading {
  const events: ReportEvent[] = [];
  const correlator = new EximCorrelator({
    emit: (event) => events.push(event),
    timeZone,
    serverName: 'mx.e2e.example.com',
  });
  const outcomes = lines.map((line) => correlator.line(line));
  return { events, outcomes, correlator };
}

/** Read the lines in two parts, with a JSON round trip of the snapshot between them. */
function readSplit(lines: string[], cut: number, timeZone: string): ReportEvent[] {
  const first = read(lines.slice(0, cut), timeZone);
  const second = read([], timeZone);
  second.correlator.restore(JSON.parse(JSON.stringify(first.correlator.snapshot())));
  for (const line of lines.slice(cut)) second.correlator.line(line);
  return [...first.events, ...second.events];
}

function compareKeys(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

type AcceptedGroup = EximTruth['accepted'][number];
type FailureGroup = EximTruth['failures'][number];

function groupMessages(events: ReportEvent[]): AcceptedGroup[] {
  const groups = new Map<string, AcceptedGroup>();
  for (const event of events) {
    if (event.kind !== 'message') continue;
    const message = event as EximSubmittedMessage;
    const { account, saslMethod, senderAddress, tlsProtocol, clientIp } = message;
    const key = JSON.stringify([account, saslMethod, senderAddress, tlsProtocol, clientIp]);
    const group = groups.get(key) ?? {
      account,
      saslMethod,
      saslMechanism: message.saslMechanism,
      senderAddress,
      tlsProtocol,
      clientIp,
      messages: 0,
      recipients: 0,
    };
    group.messages += 1;
    group.recipients += message.recipients;
    groups.set(key, group);
  }
  return [...groups.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, group]) => group);
}

function groupFailures(events: ReportEvent[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const event of events) {
    if (event.kind !== 'failure') continue;
    const failure = event as EximAuthFailure;
    const { saslMethod, clientIp, tlsProtocol } = failure;
    // Exim logs set_id on every failure of the harness's authenticators, so null here would
    // be a parser error. The placeholder keeps it visible in the comparison.
    const attemptedUsername = failure.attemptedUsername ?? '(null)';
    const key = JSON.stringify([attemptedUsername, saslMethod, clientIp, tlsProtocol]);
    const group = groups.get(key) ?? {
      attemptedUsername,
      saslMethod,
      saslMechanism: failure.saslMechanism,
      clientIp,
      tlsProtocol,
      failures: 0,
    };
    group.failures += 1;
    groups.set(key, group);
  }
  return [...groups.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, group]) => group);
}

/** Events in a stable order, for comparing two readings of the same log. */
function canonical(events: ReportEvent[]): string[] {
  return events.map((event) => JSON.stringify(event)).sort();
}

const missing = findMissingPrerequisites();
const inCi = process.env.CI === 'true';

if (missing.length > 0 && !inCi) {
  console.warn(`Exim end-to-end test skipped: ${missing.join('; ')}`);
}

// Each phase runs Exim with other log settings (see exim-harness.sh). The pid phase's log
// carries its own offset (+0530), so a wrong zone given to the reader must not matter.
const phases = [
  {
    name: 'pid',
    timeZone: 'Pacific/Auckland',
    failureTls: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none'],
  },
  { name: 'default', timeZone: 'America/New_York', failureTls: ['unknown'] },
];

describe('exim end-to-end', () => {
  test('prerequisites present, or the test may be skipped', () => {
    // Outside CI a missing prerequisite only skips the test below, with the reason printed.
    expect(inCi ? missing : [], 'the Exim end-to-end test needs these on CI').toEqual([]);
  });

  describe.skipIf(missing.length > 0)('real exim log', () => {
    let outdir = '';

    beforeAll(() => {
      outdir = mkdtempSync(path.join(os.tmpdir(), 'smtp-auth-report-exim-e2e-'));
      runHarness(outdir);
    }, HARNESS_TIMEOUT_MS);

    afterAll(() => {
      if (outdir && process.env.E2E_KEEP_WORKDIR !== '1') {
        rmSync(outdir, { recursive: true, force: true });
      }
    });

    describe.each(phases)('$name phase', ({ name, timeZone, failureTls }) => {
      let truth: EximTruth;
      let lines: string[];
      let reading: Reading;

      beforeAll(() => {
        const directory = path.join(outdir, name);
        truth = JSON.parse(readFileSync(path.join(directory, 'truth.json'), 'utf8')) as EximTruth;
        lines = readFileSync(path.join(directory, 'mainlog'), 'utf8').split('\n');
        if (lines.at(-1) === '') lines.pop();
        reading = read(lines, timeZone);
      });

      test('truth covers every TLS value', () => {
        const sent = new Set(truth.accepted.map((group) => group.tlsProtocol));
        expect([...sent].sort()).toEqual(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3', 'none']);
        const failed = new Set(truth.failures.map((group) => group.tlsProtocol));
        expect([...failed].sort()).toEqual(failureTls);
      });

      test('every line reads', () => {
        const problems = reading.outcomes.flatMap((outcome, index) =>
          outcome === 'used' || outcome === 'skipped' ? [] : [`${index + 1}: ${lines[index]}`],
        );
        expect(problems).toEqual([]);
      });

      test('messages match truth', () => {
        expect(groupMessages(reading.events)).toEqual(truth.accepted);
      });

      test('failed logins match truth', () => {
        expect(groupFailures(reading.events)).toEqual(truth.failures);
      });

      test('totals match truth', () => {
        const messages = reading.events.filter((event) => event.kind === 'message');
        const recipients = messages.reduce((sum, message) => sum + message.recipients, 0);
        const failures = reading.events.filter((event) => event.kind === 'failure');

        expect(messages.length, 'messages').toBe(truth.totals.messages);
        expect(recipients, 'recipients').toBe(truth.totals.recipients);
        expect(failures.length, 'failures').toBe(truth.totals.failures);
        expect(reading.correlator.counters.authOnlySessions, 'auth-only sessions').toBe(
          truth.totals.authOnlySessions,
        );
      });

      test('each message counts once', () => {
        const ids = reading.events.flatMap((event) =>
          event.kind === 'message' ? [event.queueId] : [],
        );
        expect(new Set(ids).size).toBe(ids.length);
      });

      test('times lie in the run', () => {
        for (const event of reading.events) {
          expect(event.time, new Date(event.time).toISOString()).toBeGreaterThanOrEqual(
            truth.window.start,
          );
          expect(event.time, new Date(event.time).toISOString()).toBeLessThanOrEqual(
            truth.window.end,
          );
        }
      });

      test('nothing waits at the end', () => {
        const before = reading.events.length;
        reading.correlator.finish();
        expect(reading.events.length).toBe(before);
      });

      test('snapshot at any line gives the same events', () => {
        const whole = canonical(reading.events);
        for (let cut = 1; cut < lines.length; cut++) {
          expect(canonical(readSplit(lines, cut, timeZone)), `cut after line ${cut}`).toEqual(
            whole,
          );
        }
      });
    });
  });
});
