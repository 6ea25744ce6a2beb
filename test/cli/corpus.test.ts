import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterAll, describe, expect, it } from 'vitest';

import { cli, testStore } from '../helpers/cli.js';
import { tempDir } from '../helpers/ingest.js';

/** Anonymised real Postfix logs from other projects' test suites and bug reports. */
const CASES = [
  { file: 'exporter-mixed.log', messages: 1, failures: 1, malformed: 0, unsupported: 0 },
  { file: 'sasl-failures.log', messages: 0, failures: 7, malformed: 14, unsupported: 0 },
  { file: 'content-filter.log', messages: 2, failures: 0, malformed: 0, unsupported: 4 },
  { file: 'lab-submission.log', messages: 18, failures: 8, malformed: 0, unsupported: 0 },
];

describe('real Postfix logs', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it.each(CASES)('$file ingests with exact counts', ({ file, ...expected }) => {
    const store = testStore(dir, file);
    const result = cli([
      'ingest',
      '--store',
      store,
      '--year',
      '2026',
      '--format',
      'json',
      path.resolve('test/fixtures/postfix', file),
    ]);
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout).files[0];
    expect(summary).toMatchObject(expected);
  });

  it('shows malformed lines with file and line number', () => {
    const store = testStore(dir, 'problems');
    const file = path.resolve('test/fixtures/postfix/sasl-failures.log');
    const result = cli(['ingest', '--store', store, file]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(
      `${file}:1: malformed: no syslog header (timestamp, host, tag): #1 Example`,
    );
  });

  it('does not count a lost connection to the SASL server as a failed login', () => {
    const store = testStore(dir, 'backend');
    const result = cli([
      'ingest',
      '--store',
      store,
      path.resolve('test/fixtures/postfix/sasl-failures.log'),
    ]);
    expect(result.stderr).toContain(
      '1 SASL failure was a lost connection to the authentication server',
    );
  });
});

describe('damaged and foreign input', () => {
  const { dir, cleanup } = tempDir();
  afterAll(() => cleanup());

  it('reads the other files when one compressed file is truncated', () => {
    const store = testStore(dir, 'truncated');
    const good = path.resolve('test/fixtures/postfix/lab-submission.log');
    const truncated = path.join(dir, 'mail.log.2.gz');
    writeFileSync(truncated, gzipSync(readFileSync(good)).subarray(0, 700));
    const result = cli([
      'ingest',
      '--store',
      store,
      '--year',
      '2026',
      '--format',
      'json',
      truncated,
      good,
    ]);
    expect(result.status).toBe(1);
    const files = JSON.parse(result.stdout).files as { path: string; error: string | null }[];
    const byPath = (file: string) => files.find((f) => f.path === file);
    expect(byPath(truncated)?.error).toContain('unexpected end of file');
    expect(byPath(good)).toMatchObject({ messages: 18, failures: 8, error: null });
  });

  it('warns when no line of a file can be read', () => {
    const store = testStore(dir, 'foreign');
    const other = path.join(dir, 'kern.log');
    writeFileSync(other, 'Dec  4 15:19:11 host kernel: [1.0] eth0: link up\n');
    const result = cli(['ingest', '--store', store, other]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('none of its 1 lines could be read as postfix');
  });

  it('does not let a log line drive the terminal', () => {
    const store = testStore(dir, 'escape');
    const hostile = path.join(dir, 'hostile.log');
    writeFileSync(hostile, 'garbage \u001b[2J\u001b]0;TITLE\u0007 line\n');
    const result = cli(['ingest', '--store', store, hostile]);
    expect(result.stderr).toContain('garbage ?[2J?]0;TITLE? line');
    expect(result.stderr).not.toContain('\u001b');
  });

  it('reads an unfinished last line of a file that no longer changes', () => {
    const store = testStore(dir, 'nonewline');
    const file = path.join(dir, 'nonewline.log');
    const text = readFileSync('test/fixtures/postfix/lab-submission.log', 'utf8').trimEnd();
    writeFileSync(file, text);
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(file, old, old);
    const result = cli(['ingest', '--store', store, '--year', '2026', '--format', 'json', file]);
    expect(JSON.parse(result.stdout).files[0]).toMatchObject({
      linesRead: 176,
      lastLineWaiting: false,
    });
  });
});
