import type { FastifyReply } from 'fastify';

import { type AppError, invalidOption } from '../errors.js';
import { parseAnyStoreUrl, type ClickHouseLocation } from '../store/url.js';

/*
 * What a ClickHouse store cannot do yet. The insights engine, its reviews and the log follower
 * of `serve` run DuckDB SQL, so they stay on a DuckDB store. This module loads no Fastify code,
 * so that `insights` can use it.
 */

/** HTTP status of an endpoint that this store kind does not provide. */
export const NOT_IMPLEMENTED_STATUS = 501;

/** The reason a feature is missing on ClickHouse, and what to run instead. */
export const DUCKDB_ONLY_DETAIL =
  'insights and follow need a DuckDB store today; to follow logs into ClickHouse, run ' +
  '`smtp-auth-report ingest --follow --store clickhouse://...` on each mail server';

/** Returns the store URL without user name and password, for messages and logs. */
export function shownClickHouseUrl(location: ClickHouseLocation): string {
  const cluster = location.cluster ? `?cluster=${location.cluster}` : '';
  return `${location.url.replace(/^http:/, 'clickhouse:')}/${location.database}${cluster}`;
}

/**
 * Returns the error of an option that needs a DuckDB store, which makes the CLI exit with
 * status 2. `storeUrl` names the store when the option is not --store itself.
 */
export function duckdbOnlyOption(option: string, value: unknown, storeUrl?: string): AppError {
  const store = storeUrl ? `the store is ${storeUrl}, and ` : '';
  return invalidOption(option, value, `${store}${DUCKDB_ONLY_DETAIL}`);
}

/** Sends the 501 response of an endpoint that needs a DuckDB store, in the API's error shape. */
export function sendDuckDBOnly(reply: FastifyReply, endpoint: string): FastifyReply {
  const message = `${endpoint} is not available on a ClickHouse store: ${DUCKDB_ONLY_DETAIL}`;
  return reply
    .code(NOT_IMPLEMENTED_STATUS)
    .send({ error: { code: 'not-implemented', message, status: NOT_IMPLEMENTED_STATUS } });
}

/** Throws the exit-2 error of `duckdbOnlyOption` when the store URL names a ClickHouse store. */
export function requireDuckDBStore(storeUrl: string): void {
  const location = parseAnyStoreUrl(storeUrl);
  if (location.kind === 'clickhouse') {
    throw duckdbOnlyOption('--store', shownClickHouseUrl(location));
  }
}
