import { Readable } from 'node:stream';

import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

import { csvLine } from '../cli/format.js';
import { AppError } from '../errors.js';
import { queryAccountDetail } from '../queries/account-detail.js';
import { queryAccounts } from '../queries/accounts.js';
import { DETAIL_COLUMNS, streamDetails } from '../queries/details.js';
import { queryDomains } from '../queries/domains.js';
import { queryFailurePivot, queryFailures } from '../queries/failures.js';
import { resolvePeriod, type ReportFilter } from '../queries/filters.js';
import { querySummary } from '../queries/summary.js';
import { queryTls } from '../queries/tls.js';
import { queryVolume } from '../queries/volume.js';
import type { ReportStore } from '../store/report-store.js';
import { registerInsightRoutes, registerInsightsUnavailable } from './insights-routes.js';
import { storeRunner } from './mutex.js';
import { OPENAPI_DOCUMENT } from './openapi.js';
import {
  accountsQuery,
  DEFAULT_FAILURE_ROWS,
  failurePivotQuery,
  failuresQuery,
  filterQuery,
  parseQuery,
  tlsQuery,
  toFilter,
  toPage,
  toTlsPage,
} from './params.js';

export interface ApiContext {
  store: ReportStore;
  /** The IANA time zone of report days. */
  timeZone: string;
}

/** Register the report endpoints under /api. Each handler validates, filters, queries, responds. */
export function registerApiRoutes(app: FastifyInstance, { store, timeZone }: ApiContext): void {
  const serial = storeRunner(store);

  app.get('/api/openapi.json', async () => OPENAPI_DOCUMENT);

  app.get('/api/summary', async (request) => {
    const filter = toFilter(parseQuery(filterQuery, request.query), timeZone);

    const summary = await serial(() => querySummary(store, filter));

    return summary;
  });

  app.get('/api/domains', async (request) => {
    const filter = toFilter(parseQuery(filterQuery, request.query), timeZone);

    const { period, rows } = await serial(() => queryDomains(store, filter));

    return { from: period.from, to: period.to, domains: rows };
  });

  app.get('/api/volume', async (request) => {
    const filter = toFilter(parseQuery(filterQuery, request.query), timeZone);

    const { period, rows } = await serial(() => queryVolume(store, filter));

    return { from: period.from, to: period.to, rows };
  });

  app.get('/api/tls', async (request) => {
    const query = parseQuery(tlsQuery, request.query);
    const filter = toFilter(query, timeZone);

    const { period, byDay, total, byAccount } = await serial(() =>
      queryTls(store, filter, toTlsPage(query)),
    );

    return { from: period.from, to: period.to, byDay, total, byAccount };
  });

  app.get('/api/accounts', async (request) => {
    const query = parseQuery(accountsQuery, request.query);
    const filter = toFilter(query, timeZone);

    const { period, total, rows } = await serial(() => queryAccounts(store, filter, toPage(query)));

    return { from: period.from, to: period.to, total, rows };
  });

  app.get<{ Params: { account: string } }>('/api/accounts/:account', async (request) => {
    const filter = toFilter(parseQuery(filterQuery, request.query), timeZone);
    const { account } = request.params;

    const { period, detail } = await serial(() => queryAccountDetail(store, filter, account));

    if (detail) return detail;
    throw new AppError('NOT_FOUND', {
      what: 'account',
      value: `${JSON.stringify(account)} with messages from ${period.from} to ${period.to}`,
    });
  });

  app.get('/api/failures', async (request) => {
    const query = parseQuery(failuresQuery, request.query);
    const filter = toFilter(query, timeZone);
    const limit = query.limit ?? DEFAULT_FAILURE_ROWS;

    const { period, total, rows } = await serial(() => queryFailures(store, filter, { limit }));

    return { from: period.from, to: period.to, total, rows };
  });

  app.get('/api/failures/pivot', async (request) => {
    const query = parseQuery(failurePivotQuery, request.query);
    const filter = toFilter(query, timeZone);
    const by = query.by ?? 'ip';
    const limit = query.limit ?? DEFAULT_FAILURE_ROWS;

    const { period, total, rows } = await serial(() =>
      queryFailurePivot(store, filter, by, { limit }),
    );

    return { from: period.from, to: period.to, by, total, rows };
  });

  if (store.kind === 'clickhouse') registerInsightsUnavailable(app);
  else registerInsightRoutes(app, { store, timeZone });

  app.get('/api/export.csv', async (request, reply) => {
    const filter = toFilter(parseQuery(filterQuery, request.query), timeZone);

    // Resolve the period once, so that the file name and the rows cover the same days.
    const period = await serial(() => resolvePeriod(store, filter));
    const pinned = { ...filter, from: period.from, to: period.to };

    const filename = `smtp-auth-report-${period.from}-${period.to}.csv`;
    return reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="${filename}"`)
      .send(Readable.from(detailCsv(store, pinned, request.log), { objectMode: false }));
  });
}

/**
 * The detailed download as CSV text, one string per chunk of rows. On DuckDB only the period
 * lookup takes the shared connection, and the rows stream on a connection of their own, so
 * other requests go on while a large export downloads.
 */
async function* detailCsv(
  store: ReportStore,
  filter: ReportFilter,
  log: FastifyBaseLogger,
): AsyncGenerator<string> {
  const { chunks } = await storeRunner(store)(() => streamDetails(store, filter));
  let rowCount = 0;
  let complete = false;
  try {
    yield csvLine([...DETAIL_COLUMNS]);

    for await (const rows of chunks) {
      rowCount += rows.length;
      yield rows.map((row) => csvLine(DETAIL_COLUMNS.map((key) => row[key]))).join('');
    }
    complete = true;
  } finally {
    if (complete) log.info({ rows: rowCount }, 'csv export finished');
    else log.warn({ rows: rowCount }, 'csv export ended before the last row');
  }
}
