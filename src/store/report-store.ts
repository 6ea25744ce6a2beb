import { existsSync } from 'node:fs';

import { AppError } from '../errors.js';
import { openStore } from '../server/server-file.js';
import { ClickHouseStore } from './clickhouse/store.js';
import type { DuckDBStore } from './duckdb/store.js';
import { parseAnyStoreUrl } from './url.js';

/** A store the report views read: the embedded DuckDB file or a ClickHouse database. */
export type ReportStore = DuckDBStore | ClickHouseStore;

/**
 * Open the store of a URL of either kind for reading reports. A DuckDB file must exist, so
 * that a mistyped path is not taken for an empty store. A ClickHouse database is created when
 * it is missing, as for an ingest.
 */
export async function openReportStore(url: string): Promise<ReportStore> {
  const location = parseAnyStoreUrl(url);
  if (location.kind === 'clickhouse') return ClickHouseStore.open(location);

  if (!existsSync(location.path)) {
    throw new AppError('SOURCE_NOT_FOUND', {
      path: location.path,
      detail: 'no store there yet; run smtp-auth-report ingest first, or pass --store',
    });
  }
  return openStore(location.path);
}

/** Close a store that openReportStore opened. */
export async function closeReportStore(store: ReportStore): Promise<void> {
  if (store.kind === 'clickhouse') await store.close();
  else store.close();
}
