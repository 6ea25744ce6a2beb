import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cli } from '../helpers/cli.js';
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
    const store = `duckdb:${path.join(dir, `${file}.duckdb`)}`;
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
    const store = `duckdb:${path.join(dir, 'problems.duckdb')}`;
    const file = path.resolve('test/fixtures/postfix/sasl-failures.log');
    const result = cli(['ingest', '--store', store, file]);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain(
      `${file}:1: malformed: no syslog header (timestamp, host, tag): #1 Example`,
    );
  });

  it('does not count a lost connection to the SASL server as a failed login', () => {
    const store = `duckdb:${path.join(dir, 'backend.duckdb')}`;
    const result = cli([
      'ingest',
      '--store',
      store,
      path.resolve('test/fixtures/postfix/sasl-failures.log'),
    ]);
    expect(result.stderr).toContain(
      '1 SASL failures were lost connections to the authentication server',
    );
  });
});
