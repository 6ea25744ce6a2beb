import { AppError } from '../errors.js';
import { isPlainIdentifier } from './clickhouse/sql.js';

export const DEFAULT_STORE_URL = 'duckdb:./data/smtp-auth-report.duckdb';

export type StoreLocation = { kind: 'duckdb'; path: string };

/** A ClickHouse server reached over HTTP, from `clickhouse://[user:password@]host:port/database`. */
export interface ClickHouseLocation {
  kind: 'clickhouse';
  /** The HTTP endpoint, without credentials: `http://host:port`. */
  url: string;
  database: string;
  username: string;
  password: string;
  /**
   * A cluster in the server's `remote_servers`, from `?cluster=NAME`: the store then keeps
   * local tables on each server and reads and writes through Distributed tables.
   */
  cluster?: string;
}

/** ClickHouse's HTTP port when the URL names none. */
const CLICKHOUSE_HTTP_PORT = 8123;

/**
 * Parse a store URL of either kind: `duckdb:PATH` or `clickhouse://`. Commands that can only
 * open a DuckDB store call parseStoreUrl instead.
 */
export function parseAnyStoreUrl(url: string): StoreLocation | ClickHouseLocation {
  if (/^clickhouse:/i.test(url)) return parseClickHouseUrl(url);
  return parseStoreUrl(url);
}

/**
 * Parse the URL of a ClickHouse store. User name and password may be percent-encoded; the
 * user is `default` with no password when the URL has none. The database must be a plain
 * name (letters, digits, underscores), which the store creates when it is missing. The one
 * query parameter is `cluster`.
 *
 * NOTE: the connection is plain HTTP, so a password crosses the network in the clear unless
 * the server is on the same host or behind a TLS proxy.
 */
export function parseClickHouseUrl(url: string): ClickHouseLocation {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw clickHouseUrlError(url, 'it is not a URL');
  }
  if (parsed.protocol !== 'clickhouse:') {
    throw clickHouseUrlError(url, 'the scheme is not clickhouse://');
  }
  if (parsed.hostname === '') throw clickHouseUrlError(url, 'the host is missing');
  const cluster = parsed.searchParams.get('cluster') ?? undefined;
  const unknown = [...parsed.searchParams.keys()].filter((key) => key !== 'cluster');
  if (unknown.length > 0 || parsed.hash !== '') {
    throw clickHouseUrlError(url, `only ?cluster=NAME may follow the database`);
  }
  if (cluster !== undefined && !isPlainIdentifier(cluster)) {
    throw clickHouseUrlError(url, `cluster ${cluster} is not a plain name (letters, digits, _)`);
  }

  const database = parsed.pathname.replace(/^\//, '');
  if (database === '') throw clickHouseUrlError(url, 'the database is missing; add /DATABASE');
  if (!isPlainIdentifier(database)) {
    throw clickHouseUrlError(url, `database ${database} is not a plain name (letters, digits, _)`);
  }

  const port = parsed.port === '' ? CLICKHOUSE_HTTP_PORT : Number(parsed.port);
  let username: string;
  let password: string;
  try {
    username = decodeURIComponent(parsed.username) || 'default';
    password = decodeURIComponent(parsed.password);
  } catch {
    throw clickHouseUrlError(url, 'the user or password has an invalid %-escape');
  }
  return {
    kind: 'clickhouse',
    url: `http://${parsed.hostname}:${port}`,
    database,
    username,
    password,
    ...(cluster === undefined ? {} : { cluster }),
  };
}

function clickHouseUrlError(url: string, detail: string): AppError {
  const shown = url.replace(/\/\/([^/@]*):[^/@]*@/, '//$1:***@');
  return new AppError('INVALID_STORE_URL', {
    value: shown,
    detail: `${detail}; use clickhouse://[user:password@]host:8123/database[?cluster=NAME]`,
  });
}

/**
 * Parse a store URL. `duckdb:PATH` is an embedded file; `clickhouse://` is reserved for the
 * scale-out store and rejected with a clear message until that store exists.
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (url.startsWith('duckdb:')) {
    const path = url.slice('duckdb:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0) {
      throw new AppError('INVALID_STORE_URL', {
        value: url,
        detail: `the path is empty; use duckdb:PATH, for example ${DEFAULT_STORE_URL}`,
      });
    }
    return { kind: 'duckdb', path };
  }

  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  if (scheme === 'clickhouse') {
    throw new AppError('STORE_KIND_UNSUPPORTED', { kind: scheme });
  }
  const problem = scheme ? `unknown scheme ${scheme}:` : 'no scheme';
  throw new AppError('INVALID_STORE_URL', {
    value: url,
    detail: `${problem}; use duckdb:PATH (for example ${DEFAULT_STORE_URL}) or clickhouse://HOST:8123/DATABASE`,
  });
}
