import { AppError } from '../errors.js';

export const DEFAULT_STORE_URL = 'duckdb:./data/smtp-auth-report.duckdb';

export type StoreLocation = { kind: 'duckdb'; path: string };

/**
 * Parse a store URL. `duckdb:PATH` is an embedded file; `clickhouse://` is reserved for the
 * scale-out store and rejected with a clear message until that store exists.
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (url.startsWith('duckdb:')) {
    const path = url.slice('duckdb:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0) {
      throw new AppError('INVALID_STORE_URL', { value: url, detail: 'the path is empty' });
    }
    return { kind: 'duckdb', path };
  }

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  if (scheme === 'clickhouse') {
    throw new AppError('STORE_KIND_UNSUPPORTED', { kind: scheme });
  }
  throw new AppError('INVALID_STORE_URL', {
    value: url,
    detail: scheme ? `unknown scheme ${scheme}:` : 'no scheme',
  });
}
