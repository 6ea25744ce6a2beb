import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Ingest } from '../../src/ingest/pipeline.js';
import { resolveSources } from '../../src/sources/files.js';
import { DuckDBStore, type IngestBatch } from '../../src/store/duckdb/store.js';
import { tempDir } from '../helpers/ingest.js';
import { ingestFiles, storeTotals } from '../helpers/store.js';

const FIXTURE = new URL('../fixtures/postfix/lab-submission.log', import.meta.url).pathname;
const LINES = readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);

/** The first line index at which a client= line has been read but not its qmgr line. */
function splitInsideMessage(): number {
  const client = LINES.findIndex(
    (line) => line.includes('client=') && line.includes('sasl_username'),
  );
  return client + 1;
}

/** Many copies of the lab traffic, each with its own queue ids and pids. */
function writeBigLog(file: string, copies: number): void {
  const body = LINES.join('\n') + '\n';
  writeFileSync(file, '');
  for (let i = 0; i < copies; i++) {
    appendFileSync(
      file,
      body.replace(/([0-9A-F]{9,11}):/g, `$1X${i}:`).replace(/\[(\d+)\]:/g, `[$1${i}]:`),
    );
  }
}

describe('ingest checkpoints', () => {
  let dir: string;
  let cleanup: () => void;
  let expected: Awaited<ReturnType<typeof storeTotals>>;

  beforeEach(async () => {
    ({ dir, cleanup } = tempDir());
    const reference = path.join(dir, 'reference.duckdb');
    await ingestFiles(reference, [FIXTURE]);
    expected = await storeTotals(reference);
  });
  afterEach(() => cleanup());

  it('reads the lab log exactly', () => {
    const messages = expected.accepted.reduce((sum, row) => sum + Number(row.messages), 0);
    const failures = expected.failures.reduce((sum, row) => sum + Number(row.failures), 0);
    expect(messages).toBe(18);
    expect(failures).toBe(8);
  });

  it('adds nothing when the same file is ingested twice', async () => {
    const store = path.join(dir, 'twice.duckdb');
    await ingestFiles(store, [FIXTURE]);
    const second = await ingestFiles(store, [FIXTURE]);
    expect(second[0].alreadyRead).toBe(true);
    expect(second[0].messages).toBe(0);
    expect(await storeTotals(store)).toEqual(expected);
  });

  it('adds exactly the new lines of a grown file, with a message split across runs', async () => {
    const store = path.join(dir, 'grown.duckdb');
    const log = path.join(dir, 'mail.log');
    const split = splitInsideMessage();
    writeFileSync(log, LINES.slice(0, split).join('\n') + '\n');
    const first = await ingestFiles(store, [log]);
    expect(first[0].messages).toBe(0);

    appendFileSync(log, LINES.slice(split).join('\n') + '\n');
    const second = await ingestFiles(store, [log]);
    expect(second[0].resumedAtLine).toBe(split);
    expect(second[0].linesRead).toBe(LINES.length - split);
    expect(await storeTotals(store)).toEqual(expected);
  });

  it('leaves an unfinished last line for the next run', async () => {
    const store = path.join(dir, 'partial.duckdb');
    const log = path.join(dir, 'mail.log');
    const split = splitInsideMessage();
    const head = LINES.slice(0, split).join('\n') + '\n';
    const partial = LINES[split].slice(0, 20);
    writeFileSync(log, head + partial);
    await ingestFiles(store, [log]);

    writeFileSync(log, head + LINES.slice(split).join('\n') + '\n');
    await ingestFiles(store, [log]);
    expect(await storeTotals(store)).toEqual(expected);
  });

  it('recognises a rotated and compressed file and reads the rest of it', async () => {
    const store = path.join(dir, 'rotated.duckdb');
    const log = path.join(dir, 'mail.log');
    const third = Math.floor(LINES.length / 3);
    writeFileSync(log, LINES.slice(0, third).join('\n') + '\n');
    await ingestFiles(store, [log]);

    // The file grew after that run, then logrotate renamed and compressed it.
    appendFileSync(log, LINES.slice(third, 2 * third).join('\n') + '\n');
    writeFileSync(`${log}.1.gz`, gzipSync(readFileSync(log)));
    renameSync(log, path.join(dir, 'old-copy'));
    writeFileSync(log, LINES.slice(2 * third).join('\n') + '\n');

    const summaries = await ingestFiles(store, [path.join(dir, 'mail.log*')]);
    expect(summaries.map((s) => path.basename(s.path))).toEqual(['mail.log.1.gz', 'mail.log']);
    expect(summaries[0].resumedAtLine).toBe(third);
    expect(await storeTotals(store)).toEqual(expected);
  });

  it('reads gzip-compressed files', async () => {
    const store = path.join(dir, 'gzip.duckdb');
    const gz = path.join(dir, 'mail.log.2.gz');
    writeFileSync(gz, gzipSync(readFileSync(FIXTURE)));
    await ingestFiles(store, [gz]);
    expect(await storeTotals(store)).toEqual(expected);
  });

  it('loses nothing and counts nothing twice after a failed commit', async () => {
    const storePath = path.join(dir, 'interrupted.duckdb');
    const big = path.join(dir, 'big.log');
    // Three 4 MiB read blocks, so the third commit fails after two succeeded.
    const copies = 400;
    writeBigLog(big, copies);
    const store = await DuckDBStore.open(storePath);
    let writes = 0;
    const realWrite = store.writeBatch.bind(store);
    // A crash between two commits: DuckDB rolls back the open transaction.
    store.writeBatch = async (batch: IngestBatch) => {
      writes++;
      if (writes === 3) throw new Error('simulated crash');
      return realWrite(batch);
    };
    const ingest = new Ingest(store, { timeZone: 'UTC', year: 2026, batchBytes: 2048 });
    await expect(ingest.run(await resolveSources([big]))).rejects.toThrow('simulated crash');
    store.close();
    const partial = await storeTotals(storePath);
    expect(partial.accepted.length).toBeGreaterThan(0);

    await ingestFiles(storePath, [big], { batchBytes: 2048 });
    const totals = await storeTotals(storePath);
    expect(totals.accepted.reduce((sum, row) => sum + Number(row.messages), 0)).toBe(18 * copies);
    expect(totals.failures.reduce((sum, row) => sum + Number(row.failures), 0)).toBe(8 * copies);
  });

  it('resumes exactly after the ingest process is killed', async () => {
    const storePath = path.join(dir, 'killed.duckdb');
    const big = path.join(dir, 'big.log');
    const copies = 200;
    writeBigLog(big, copies);

    const cli = path.resolve('bin/smtp-auth-report.js');
    const args = [
      cli,
      'ingest',
      '--store',
      `duckdb:${storePath}`,
      '--timezone',
      'UTC',
      '--year',
      '2026',
      big,
    ];
    const env = { ...process.env, SMTP_AUTH_REPORT_BATCH_BYTES: '65536' };
    try {
      execFileSync('node', args, { env, timeout: 1500, killSignal: 'SIGKILL', stdio: 'ignore' });
    } catch {
      // Killed part-way, as intended; on a fast machine it may also have finished.
    }
    execFileSync('node', args, { env, stdio: 'ignore' });

    const totals = await storeTotals(storePath);
    const messages = totals.accepted.reduce((sum, row) => sum + Number(row.messages), 0);
    const failures = totals.failures.reduce((sum, row) => sum + Number(row.failures), 0);
    expect(messages).toBe(18 * copies);
    expect(failures).toBe(8 * copies);
  });
});
