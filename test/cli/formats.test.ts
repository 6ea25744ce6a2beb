import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, describe, expect, it } from 'vitest';

import { journalToolsMissing, writeJournal } from '../formats/journal-helpers.js';
import { ALL_TIME, cli, TEST_STORE_KIND, testStore } from '../helpers/cli.js';
import { tempDir } from '../helpers/ingest.js';

const FIXTURES = path.resolve('test/fixtures');

/** One file per format, with the counts the format readers' own tests establish. */
const CASES = [
  { file: 'exim/lab-submission.log', format: 'exim', messages: 18, failures: 8 },
  { file: 'sendmail/lab-8.17.log', format: 'sendmail', messages: 17, failures: 8 },
  { file: 'dovecot/submission-verbose.log', format: 'dovecot', messages: 6, failures: 5 },
  { file: 'dovecot/syslog-submission.log', format: 'postfix+dovecot', messages: 7, failures: 7 },
  { file: 'exchange/client-submission.log', format: 'exchange', messages: 5, failures: 2 },
];

function ingest(store: string, files: string[], extra: string[] = []) {
  const result = cli([
    'ingest',
    '--store',
    store,
    '--timezone',
    'UTC',
    '--year',
    '2026',
    '--server-name',
    'mx1',
    '--format',
    'json',
    ...extra,
    ...files,
  ]);
  expect(result.stderr).not.toMatch(/Error|at .*\.js/);
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout).files as Array<Record<string, unknown>>;
}

describe('log format detection', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it.each(CASES)('$file is read as $format', ({ file, format, messages, failures }) => {
    const store = testStore(dir, `${format}-${path.basename(file)}`);
    const [summary] = ingest(store, [path.join(FIXTURES, file)]);

    expect(summary.format).toBe(format);
    expect(summary.messages).toBe(messages);
    expect(summary.failures).toBe(failures);
  });

  it('counts each message once when a file is ingested again', () => {
    const store = testStore(dir, 'again');
    const file = path.join(FIXTURES, 'exim/lab-submission.log');
    ingest(store, [file]);
    const [second] = ingest(store, [file]);
    expect(second.messages).toBe(0);

    const report = cli([
      'report',
      '--store',
      store,
      '--timezone',
      'UTC',
      '--format',
      'json',
      ...ALL_TIME,
    ]);
    expect(JSON.parse(report.stdout).messages).toBe(18);
  });

  it('counts Exim messages from standard input', () => {
    const log = readFileSync(path.join(FIXTURES, 'exim/harness-default.log'), 'utf8');
    const store = testStore(dir, 'stdin');
    const result = cli(
      ['ingest', '--store', store, '--server-name', 'mx1', '--format', 'json', '-'],
      { input: log },
    );
    expect(result.status).toBe(0);
    const [summary] = JSON.parse(result.stdout).files;
    expect(summary.format).toBe('exim');
    expect(summary.messages).toBe(22);
    expect(summary.failures).toBe(8);
  });

  it('keeps the mechanism Exim names by its authenticator', () => {
    const store = testStore(dir, 'mechanism');
    ingest(store, [path.join(FIXTURES, 'exim/harness-pid.log')]);
    const details = cli([
      'report',
      '--store',
      store,
      '--view',
      'details',
      '--format',
      'json',
      '--timezone',
      'UTC',
      ...ALL_TIME,
    ]);
    const rows = JSON.parse(details.stdout) as Array<{ saslMechanism: string }>;
    const mechanisms = new Set(rows.map((row) => row.saslMechanism));
    expect([...mechanisms].sort()).toEqual(['CRAM-MD5', 'LOGIN', 'PLAIN']);
  });

  it('reads a folder of Exchange receive logs', () => {
    const folder = path.join(dir, 'SmtpReceive');
    mkdirSync(folder);
    copyFileSync(
      path.join(FIXTURES, 'exchange/client-submission.log'),
      path.join(folder, 'RECV2026120410-1.LOG'),
    );
    writeFileSync(path.join(folder, 'notes.txt'), 'not a log\n');
    const files = ingest(testStore(dir, 'folder'), [folder]);

    expect(files.map((file) => path.basename(String(file.path)))).toEqual(['RECV2026120410-1.LOG']);
    expect(files[0].messages).toBe(5);
  });

  it('rejects a folder without receive logs', () => {
    const folder = path.join(dir, 'empty-folder');
    mkdirSync(folder);
    const result = cli(['ingest', '--store', testStore(dir, 'none'), folder]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('without Exchange RECV*.LOG files');
  });

  it('reads every file as the format named by --log-format', () => {
    const store = testStore(dir, 'forced');
    const [summary] = ingest(
      store,
      [path.join(FIXTURES, 'dovecot/syslog-submission.log')],
      ['--log-format', 'dovecot'],
    );
    // Postfix lines are still Postfix lines; the other syslog readers are off.
    expect(summary.format).toBe('postfix+dovecot');
  });

  it('rejects an unknown --log-format', () => {
    const result = cli(['ingest', '--log-format', 'qmail', 'x.log']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('qmail');
  });
});

// `ingest --journal` keeps its cursor in a folder beside the DuckDB file, so the ClickHouse
// pass leaves it out.
const journalSkipped = journalToolsMissing() !== null || TEST_STORE_KIND !== 'duckdb';

describe.skipIf(journalSkipped)('ingest --journal', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it('reads the journal once, from its saved cursor', () => {
    const journals = path.join(dir, 'journal');
    mkdirSync(journals);
    const lines = readFileSync('samples/postfix/mail.log', 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^Dec 04 ([\d:]+)/, '2026-12-04T$1Z'));
    writeJournal(journals, 'mail', lines);
    const store = testStore(dir, 'journal');
    const args = ['--journal', '--journal-directory', journals];

    const [first] = ingest(store, [], args);
    expect(first.messages).toBe(18);
    expect(first.failures).toBe(8);
    expect(ingest(store, [], args)).toEqual([]);

    const report = cli([
      'report',
      '--store',
      store,
      '--timezone',
      'UTC',
      '--format',
      'json',
      ...ALL_TIME,
    ]);
    expect(JSON.parse(report.stdout).messages).toBe(18);
  });
});

describe.skipIf(journalToolsMissing() !== null)('journalctl -o json on standard input', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it('reads the entries as syslog lines', () => {
    const journals = path.join(dir, 'piped');
    mkdirSync(journals);
    const lines = readFileSync('samples/postfix/mail.log', 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.replace(/^Dec 04 ([\d:]+)/, '2026-12-04T$1Z'));
    writeJournal(journals, 'mail', lines);
    const json = execFileSync('journalctl', ['--directory', journals, '-o', 'json'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const store = testStore(dir, 'piped');
    const result = cli(['ingest', '--store', store, '--format', 'json', '-'], { input: json });

    expect(result.status).toBe(0);
    const [summary] = JSON.parse(result.stdout).files;
    expect(summary.malformed).toBe(0);
    expect(summary.messages).toBe(18);
    expect(summary.failures).toBe(8);
  });
});

describe('files that cannot be read', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it('reads the other files and exits 1', () => {
    const store = testStore(dir, 'missing');
    const missing = path.join(dir, 'missing.log');
    const args = ['--year', '2026', '--format', 'json', 'samples/postfix/mail.log', missing];
    const result = cli(['ingest', '--store', store, ...args]);

    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`cannot read ${missing}`);
    const files = JSON.parse(result.stdout).files;
    expect(files).toHaveLength(1);
    expect(files[0].messages).toBe(18);
  });

  it('stores the lines of a short .gz without its trailer', () => {
    // Under 4 KiB decompressed: the whole file is the head that identifies it.
    const lines = readFileSync('samples/postfix/mail.log', 'utf8').split('\n').slice(0, 25);
    const text = lines.join('\n') + '\n';
    const gz = gzipSync(text);
    const cut = path.join(dir, 'short.log.gz');
    writeFileSync(cut, gz.subarray(0, gz.length - 8));
    const store = testStore(dir, 'short-gz');

    const result = cli(['ingest', '--store', store, '--year', '2026', '--format', 'json', cut]);
    expect(result.status).toBe(1);
    const [file] = JSON.parse(result.stdout).files;
    expect(file.linesRead).toBe(25);
    expect(file.bytesRead).toBe(Buffer.byteLength(text));
    expect(file.error).toContain('unexpected end of file');
  });

  it('stores a truncated .gz once and credits it to that file', () => {
    const log = readFileSync('samples/postfix/mail.log');
    const gz = gzipSync(Buffer.concat(Array.from({ length: 400 }, () => log)));
    const truncated = path.join(dir, 'mail.log.1.gz');
    writeFileSync(truncated, gz.subarray(0, Math.floor(gz.length / 2)));
    const other = path.join(dir, 'other.log');
    writeFileSync(other, 'Dec  4 16:00:00 mail kernel: link up\n');
    const store = testStore(dir, 'truncated');
    const args = [
      'ingest',
      '--store',
      store,
      '--year',
      '2026',
      '--format',
      'json',
      truncated,
      other,
    ];
    const totals = () =>
      JSON.parse(cli(['report', '--store', store, '--format', 'json', ...ALL_TIME]).stdout)
        .messages;

    const first = cli(args);
    expect(first.status).toBe(1);
    const stored = totals();
    expect(stored).toBeGreaterThan(0);

    // The summary gives what was stored before the damage, and the file's TLS lines count.
    const [damaged] = JSON.parse(first.stdout).files;
    expect(damaged.error).toContain('unexpected end of file');
    expect(damaged.messages).toBe(stored);
    expect(damaged.linesRead).toBeGreaterThan(0);
    expect(first.stderr).not.toContain('has no TLS lines');

    // The daily case: the other file grew, and the damaged one is read again.
    writeFileSync(other, 'Dec  4 16:00:00 mail kernel: link up\nDec  4 16:00:01 mail kernel: x\n');
    expect(cli(args).status).toBe(1);
    expect(totals()).toBe(stored);
  });
});
