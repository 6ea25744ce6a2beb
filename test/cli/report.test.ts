import { readFileSync } from 'node:fs';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ALL_TIME, cli, testStore } from '../helpers/cli.js';
import { tempDir } from '../helpers/ingest.js';
import { sortRows } from '../helpers/store.js';

const FIXTURE = path.resolve('test/fixtures/postfix/lab-submission.log');
const TRUTH = JSON.parse(readFileSync('test/fixtures/postfix/lab-submission.truth.json', 'utf8'));
const DETAIL_KEYS = [
  'day',
  'account',
  'senderAddress',
  'senderDomain',
  'clientIp',
  'tlsProtocol',
  'saslMechanism',
  'server',
  'messages',
  'recipients',
];

describe('report command on the real Postfix lab log', () => {
  const { dir, cleanup } = tempDir();
  const store = testStore(dir, 'store');
  const report = (...args: string[]) => cli(['report', '--store', store, ...args]);

  beforeAll(() => {
    const ingest = cli(['ingest', '--store', store, '--year', '2026', FIXTURE]);
    expect(ingest.status).toBe(0);
  });
  afterAll(() => cleanup());

  it('details equal the known truth per account, mechanism, sender, TLS and client IP', () => {
    const result = report('--view', 'details', '--format', 'json', ...ALL_TIME);
    expect(result.status).toBe(0);
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(Object.keys(rows[0])).toEqual(DETAIL_KEYS);

    const grouped = new Map<string, Record<string, unknown>>();
    for (const row of rows) {
      const key = [
        row.account,
        row.saslMechanism,
        row.senderAddress,
        row.tlsProtocol,
        row.clientIp,
      ].join('|');
      const entry = grouped.get(key) ?? {
        account: row.account,
        saslMechanism: row.saslMechanism,
        senderAddress: row.senderAddress,
        tlsProtocol: row.tlsProtocol,
        clientIp: row.clientIp,
        messages: 0,
        recipients: 0,
      };
      entry.messages = Number(entry.messages) + Number(row.messages);
      entry.recipients = Number(entry.recipients) + Number(row.recipients);
      grouped.set(key, entry);
    }
    expect(sortRows([...grouped.values()])).toEqual(sortRows(TRUTH.accepted));
  });

  it('failed logins equal the known truth per username, client IP, TLS and mechanism', () => {
    const result = report('--view', 'failures', '--format', 'json', ...ALL_TIME);
    const rows = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(Object.keys(rows[0])).toEqual([
      'day',
      'attemptedUsername',
      'clientIp',
      'saslMechanism',
      'tlsProtocol',
      'server',
      'failures',
    ]);
    const actual = rows.map((r) => ({
      attemptedUsername: r.attemptedUsername,
      clientIp: r.clientIp,
      tlsProtocol: r.tlsProtocol,
      saslMechanism: r.saslMechanism,
      failures: r.failures,
    }));
    expect(sortRows(actual)).toEqual(sortRows(TRUTH.failures));
  });

  it('summary counts accounts, messages, recipients, failures and TLS versions', () => {
    const summary = JSON.parse(report('--format', 'json').stdout);
    expect(summary).toMatchObject({
      from: '2026-11-28',
      to: '2026-12-04',
      accounts: 5,
      messages: TRUTH.totals.messages,
      recipients: TRUTH.totals.recipients,
      failures: TRUTH.totals.failures,
      tls: { TLSv1: 1, 'TLSv1.1': 3, 'TLSv1.2': 4, 'TLSv1.3': 6, none: 4, unknown: 0 },
      tlsLoggingOff: [],
    });
  });

  it('volume gives messages per day per sender domain', () => {
    const rows = JSON.parse(report('--view', 'volume', '--format', 'json').stdout);
    expect(rows).toEqual([
      { day: '2026-12-04', senderDomain: 'example.com', messages: 4, recipients: 6 },
      { day: '2026-12-04', senderDomain: 'example.net', messages: 4, recipients: 8 },
      { day: '2026-12-04', senderDomain: 'example.org', messages: 10, recipients: 15 },
    ]);
  });

  it('tls gives counts and percents per account', () => {
    const rows = JSON.parse(report('--view', 'tls', '--format', 'json').stdout);
    const alerts = rows.find((r: { account: string }) => r.account === 'alerts@example.com');
    expect(alerts).toEqual({
      account: 'alerts@example.com',
      messages: 3,
      counts: { TLSv1: 1, 'TLSv1.1': 1, 'TLSv1.2': 1, 'TLSv1.3': 0, none: 0, unknown: 0 },
      percents: {
        TLSv1: 33.3,
        'TLSv1.1': 33.3,
        'TLSv1.2': 33.3,
        'TLSv1.3': 0,
        none: 0,
        unknown: 0,
      },
      legacyPercent: 66.7,
    });
  });

  it('accounts lists senders, client IPs and mechanisms', () => {
    const rows = JSON.parse(report('--view', 'accounts', '--format', 'json').stdout);
    const user1 = rows.find((r: { account: string }) => r.account === 'user1@example.org');
    expect(user1).toMatchObject({
      messages: 6,
      recipients: 9,
      senderAddresses: ['user1@example.com', 'user1@example.org'],
      clientIps: ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'],
      mechanisms: ['LOGIN', 'PLAIN'],
    });
  });

  it('filters by sender domain and search text', () => {
    const byDomain = JSON.parse(report('--format', 'json', '--domain', 'EXAMPLE.NET').stdout);
    expect(byDomain.messages).toBe(4);
    const bySearch = JSON.parse(report('--format', 'json', '--search', 'billing').stdout);
    expect(bySearch.messages).toBe(3);
  });

  it('writes CSV with the details header', () => {
    const lines = report('--view', 'details', '--format', 'csv', ...ALL_TIME)
      .stdout.trim()
      .split('\n');
    expect(lines[0]).toBe(DETAIL_KEYS.join(','));
    expect(lines).toHaveLength(16);
  });

  it('prints [] and a header line for an empty period', () => {
    const empty = ['--from', '2001-01-01', '--to', '2001-01-31'];
    expect(report('--view', 'details', '--format', 'json', ...empty).stdout).toBe('[]\n');
    expect(report('--view', 'failures', '--format', 'json', ...empty).stdout).toBe('[]\n');
    expect(report('--view', 'details', '--format', 'csv', ...empty).stdout).toBe(
      DETAIL_KEYS.join(',') + '\n',
    );
  });

  it('prints aligned text tables', () => {
    const text = report('--view', 'tls').stdout;
    expect(text).toContain('SMTP AUTH clients, 2026-11-28 to 2026-12-04 (UTC)');
    expect(text).toMatch(/alerts@example\.com\s+3\s+1\s+33\.3/);
  });

  it('cuts days in the report time zone', () => {
    const rows = JSON.parse(
      report(
        '--view',
        'volume',
        '--format',
        'json',
        '--timezone',
        'Pacific/Kiritimati',
        ...ALL_TIME,
      ).stdout,
    );
    expect(rows.map((r: { day: string }) => r.day)).toEqual([
      '2026-12-05',
      '2026-12-05',
      '2026-12-05',
    ]);
  });
});

describe('report and ingest errors', () => {
  const { dir, cleanup } = tempDir();
  const store = testStore(dir, 'store');
  afterAll(() => cleanup());

  it.each([
    [
      ['--view', 'bogus'],
      'invalid value "bogus" for --view: expected one of summary, volume, tls, accounts, failures, details',
    ],
    [['--format', 'xml'], 'invalid value "xml" for --format'],
    [
      ['--from', '2026-13-01'],
      'invalid value "2026-13-01" for --from: expected a date as YYYY-MM-DD',
    ],
    [['--from', '2026-12-05', '--to', '2026-12-01'], 'it is after --to 2026-12-01'],
    [['--timezone', 'Mars/Base'], 'invalid value "Mars/Base" for --timezone'],
  ])('rejects %j with a message naming the value', (args, message) => {
    const result = cli(['report', '--store', store, ...args]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('rejects an unknown store scheme', () => {
    const result = cli(['report', '--store', 'postgres://x']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'invalid store URL postgres://x from --store: unknown scheme postgres:',
    );
    expect(result.stderr).toContain('use duckdb:PATH');
    expect(result.stderr).toContain('or clickhouse://HOST:8123/DATABASE');
  });

  it('names the variable that set a bad store URL', () => {
    const result = cli(['report'], { env: { SMTP_AUTH_REPORT_STORE: 'foo' } });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('invalid store URL foo from SMTP_AUTH_REPORT_STORE: no scheme');
  });

  it('gives one hint for a bad ClickHouse URL', () => {
    const result = cli(['report', '--store', 'clickhouse://127.0.0.1:8123/bad-name']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('use clickhouse://');
    expect(result.stderr).not.toContain('duckdb:PATH');
  });

  it('fails with the path when a log file is missing', () => {
    const result = cli(['ingest', '--store', store, path.join(dir, 'missing.log')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('missing.log: no such file (ENOENT)');
  });

  it('rejects a bad --year', () => {
    const result = cli(['ingest', '--store', store, '--year', '26', FIXTURE]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('invalid value "26" for --year');
  });

  it('reads standard input', () => {
    const result = cli(['ingest', '--store', store, '--year', '2026', '--format', 'json', '-'], {
      input: readFileSync(FIXTURE, 'utf8'),
    });
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.files[0]).toMatchObject({ path: '-', messages: 18, failures: 8, malformed: 0 });
  });
});
