import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Ingest } from '../../src/ingest/pipeline.js';
import { resolveSources } from '../../src/sources/files.js';
import { DuckDBStore } from '../../src/store/duckdb/store.js';

export const FIXTURES = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../fixtures/postfix',
);
export const LAB_LOG = path.join(FIXTURES, 'lab-submission.log');
export const HOSTILE_LOG = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  'fixtures/hostile-account-names.log',
);

/** The fixtures' classic syslog timestamps have no year; 2026 keeps the expected days fixed. */
export const FIXTURE_YEAR = 2026;

export interface TestStore {
  store: DuckDBStore;
  dir: string;
  storePath: string;
  close(): void;
}

/** Create a DuckDB store in a fresh temporary directory, filled by ingesting the given logs. */
export async function ingestedStore(logs: string[]): Promise<TestStore> {
  const dir = mkdtempSync(path.join(tmpdir(), 'smtp-auth-report-server-'));
  const storePath = path.join(dir, 'report.duckdb');
  const store = await DuckDBStore.open(storePath);
  await new Ingest(store, { timeZone: 'UTC', year: FIXTURE_YEAR }).run(await resolveSources(logs));

  return {
    store,
    dir,
    storePath,
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
