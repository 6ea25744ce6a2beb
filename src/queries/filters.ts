import type { DuckDBValue } from '@duckdb/node-api';

import type { DuckDBStore } from '../store/duckdb/store.js';
import type { ReportStore } from '../store/report-store.js';
import { addDays, ZoneConverter } from '../time.js';
import { newestClickHouseEvent } from './clickhouse/newest.js';

/** Filters every report view takes. Dates are inclusive, in the report's time zone. */
export interface ReportFilter {
  from?: string;
  to?: string;
  /** Sender domain (messages) or the attempted username's domain (failures). */
  domain?: string;
  server?: string;
  /** Case-insensitive text searched in account and sender address (or attempted username). */
  search?: string;
  timeZone: string;
}

/** The period a report covers: inclusive dates and the UTC instants they span. */
export interface Period {
  from: string;
  to: string;
  startMs: number;
  endMs: number;
}

/** Days in the default period, as in the reference report's "last 7 days". */
export const DEFAULT_DAYS = 7;

/**
 * The period of a report: the given dates, or else the 7 days ending at the newest event in
 * the store, so that an old log never gives an empty report.
 */
export async function resolvePeriod(store: ReportStore, filter: ReportFilter): Promise<Period> {
  const zone = new ZoneConverter(filter.timeZone);
  let { from, to } = filter;

  if (!to) {
    const newest =
      store.kind === 'clickhouse'
        ? await newestClickHouseEvent(store)
        : await newestEventTime(store);
    to = zone.dateOf(newest ?? Date.now());
    if (from && from > to) to = addDays(from, DEFAULT_DAYS - 1);
  }
  if (!from) from = addDays(to, -(DEFAULT_DAYS - 1));

  return { from, to, startMs: zone.startOfDate(from), endMs: zone.startOfDate(addDays(to, 1)) };
}

async function newestEventTime(store: DuckDBStore): Promise<number | null> {
  const rows = await store.all(`
    SELECT epoch_ms(max(ts)) AS newest FROM (
      SELECT max(ts) AS ts FROM submitted_messages
      UNION ALL SELECT max(ts) FROM auth_failures)`);
  const newest = rows[0]?.newest;
  return newest === null || newest === undefined ? null : Number(newest);
}

/** A SQL condition and its bound parameters, numbered from $1. */
export interface Condition {
  where: string;
  params: DuckDBValue[];
  /** Next free parameter number. */
  next: number;
}

/** The WHERE clause shared by the views over submitted_messages. */
export function messageConditions(filter: ReportFilter, period: Period): Condition {
  const clauses = ['ts >= to_timestamp($1::DOUBLE / 1000)', 'ts < to_timestamp($2::DOUBLE / 1000)'];
  const params: DuckDBValue[] = [period.startMs, period.endMs];

  if (filter.domain) {
    params.push(filter.domain.toLowerCase());
    clauses.push(`sender_domain = $${params.length}`);
  }
  if (filter.server) {
    params.push(filter.server);
    clauses.push(`server = $${params.length}`);
  }
  if (filter.search) {
    params.push(filter.search.toLowerCase());
    const n = params.length;
    clauses.push(`(contains(lower(account), $${n}) OR contains(lower(sender_address), $${n}))`);
  }
  return { where: clauses.join(' AND '), params, next: params.length + 1 };
}

/** The WHERE clause for auth_failures; the domain is the attempted username's. */
export function failureConditions(filter: ReportFilter, period: Period): Condition {
  const clauses = ['ts >= to_timestamp($1::DOUBLE / 1000)', 'ts < to_timestamp($2::DOUBLE / 1000)'];
  const params: DuckDBValue[] = [period.startMs, period.endMs];

  if (filter.domain) {
    params.push(`@${filter.domain.toLowerCase()}`);
    clauses.push(`ends_with(lower(attempted_username), $${params.length})`);
  }
  if (filter.server) {
    params.push(filter.server);
    clauses.push(`server = $${params.length}`);
  }
  if (filter.search) {
    params.push(filter.search.toLowerCase());
    clauses.push(`contains(lower(coalesce(attempted_username, '')), $${params.length})`);
  }
  return { where: clauses.join(' AND '), params, next: params.length + 1 };
}

/**
 * Periods longer than this always take the per-row path: checking each day costs too much, and
 * the per-row CASE would get long.
 */
const MAX_CHECKED_DAYS = 400;
/** The maximum period in days whose offsets the rollups map: about 20 years, two CASE branches a year. */
export const MAX_ROLLUP_DAYS = 7400;
const DAY_MS = 86_400_000;

/**
 * Build the SQL that cuts rows into local days. `key` is a cheap group key computed per row,
 * and `day` turns a key (a column, or `key` itself) into `YYYY-MM-DD`, best once per group.
 * The key is integer arithmetic on the timestamp plus the zone's UTC offset, with one offset
 * per stretch between daylight saving changes. ICU's per-row time zone conversion is about
 * ten times slower on millions of rows, so it is used only for periods too long to map.
 */
export function dayGrouping(
  period: Period,
  timeZone: string,
): { key: string; day: (column: string) => string } {
  const segments = offsetSegments(period, timeZone);
  if (segments === null) {
    // IANA zone names hold no quote; the escape keeps SQL intact should one ever appear.
    const zone = `'${timeZone.replace(/'/g, "''")}'`;
    return { key: `strftime(timezone(${zone}, ts), '%Y-%m-%d')`, day: (column) => column };
  }

  const last = segments[segments.length - 1].offset;
  const cases = segments
    .slice(0, -1)
    .map((segment) => `WHEN epoch_ms(ts) < ${segment.untilMs} THEN ${segment.offset}`)
    .join(' ');
  const offset = cases ? `(CASE ${cases} ELSE ${last} END)` : String(last);
  // floor() and not `//`, which truncates towards zero and so misplaces days before 1970.
  return {
    key: `floor((epoch_ms(ts) + ${offset}) / ${DAY_MS})`,
    day: (column) => `strftime(DATE '1970-01-01' + CAST(${column} AS INTEGER), '%Y-%m-%d')`,
  };
}

/**
 * The zone's UTC offsets over the period: each applies until `untilMs` (the last one to
 * the end). Changes are found day by day, then to the second. Null for a period longer than
 * `maxDays`.
 */
export function offsetSegments(
  period: Period,
  timeZone: string,
  maxDays = MAX_CHECKED_DAYS,
): { untilMs: number; offset: number }[] | null {
  if ((period.endMs - period.startMs) / DAY_MS > maxDays) return null;
  const zone = new ZoneConverter(timeZone);
  const segments: { untilMs: number; offset: number }[] = [];
  let offset = zone.offsetAt(period.startMs);
  for (let t = period.startMs; t < period.endMs; t += DAY_MS) {
    const next = Math.min(t + DAY_MS, period.endMs);
    const nextOffset = zone.offsetAt(next);
    if (nextOffset === offset) continue;
    segments.push({ untilMs: changeWithin(zone, t, next, offset), offset });
    offset = nextOffset;
  }
  segments.push({ untilMs: period.endMs, offset });
  return segments;
}

/** The first second in [from, to) whose offset differs from `offset`, by bisection. */
function changeWithin(zone: ZoneConverter, from: number, to: number, offset: number): number {
  let low = from;
  let high = to;
  while (high - low > 1000) {
    const middle = low + Math.max(1000, Math.floor((high - low) / 2000) * 1000);
    if (zone.offsetAt(middle) === offset) low = middle;
    else high = middle;
  }
  return high;
}
