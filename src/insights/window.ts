import type { DuckDBValue } from '@duckdb/node-api';

import type { Period } from '../queries/filters.js';
import type { Row, StoreQuery } from '../store/duckdb/store.js';
import { addDays, ZoneConverter } from '../time.js';
import type { InsightSettings } from './settings.js';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
/** Longer spans convert each row through ICU: finding every offset change costs too much. */
const MAX_MAPPED_DAYS = 400;

/**
 * The time frame of one computation: the period the signals are about and the history
 * before it that forms each account's baseline. Queries name the instants :historyStart,
 * :periodStart and :periodEnd, in epoch milliseconds.
 */
export interface InsightWindow {
  period: Period;
  timeZone: string;
  historyStartMs: number;
  /** SQL for the local wall-clock time of `ts` in epoch milliseconds, in the report's zone. */
  localMs: string;
  /** Local day number (days since 1970-01-01) of the period's first day. */
  periodStartDay: number;
  /** Local day number before which an account must have started to have a history. */
  historyDeadlineDay: number;
  values: NamedValues;
}

export type NamedValues = Record<string, DuckDBValue>;

/** The context every signal family gets. */
export interface InsightContext {
  query: StoreQuery;
  window: InsightWindow;
  settings: InsightSettings;
}

/** SQL for the instant of a named epoch-milliseconds value. */
export function instant(name: string): string {
  return `to_timestamp(:${name}::DOUBLE / 1000)`;
}

/** SQL conditions on `ts` over the window's instants. */
export const IN_HISTORY = `ts >= ${instant('historyStart')} AND ts < ${instant('periodStart')}`;
export const IN_PERIOD = `ts >= ${instant('periodStart')} AND ts < ${instant('periodEnd')}`;
export const IN_HISTORY_OR_PERIOD = `ts >= ${instant('historyStart')} AND ts < ${instant('periodEnd')}`;

/** A `:name` placeholder; `::TYPE` casts are not one. */
const PLACEHOLDER = /(?<![:\w]):([A-Za-z]\w*)/g;

/**
 * Run SQL whose values are named (`:minIps`) instead of numbered: DuckDB rejects a statement
 * that leaves a number unused, and names keep each query readable. The window's instants
 * are always available.
 */
export async function runQuery(
  context: InsightContext,
  sql: string,
  values: NamedValues = {},
): Promise<Row[]> {
  const all = { ...context.window.values, ...values };
  const numbers = new Map<string, number>();
  const params: DuckDBValue[] = [];
  const numbered = sql.replace(PLACEHOLDER, (_, name: string) => {
    if (!(name in all)) throw new Error(`no value for :${name} in an insights query`);
    let number = numbers.get(name);
    if (number === undefined) {
      params.push(all[name]);
      numbers.set(name, (number = params.length));
    }
    return `$${number}`;
  });
  return context.query(numbered, params);
}

export function insightWindow(
  period: Period,
  timeZone: string,
  settings: InsightSettings,
): InsightWindow {
  const zone = new ZoneConverter(timeZone);
  const historyStartMs = zone.startOfDate(addDays(period.from, -settings.historyDays));
  const periodStartDay = localDayNumber(period.from);
  return {
    period,
    timeZone,
    historyStartMs,
    localMs: localTimeSql(zone, historyStartMs, period.endMs),
    periodStartDay,
    historyDeadlineDay: periodStartDay - settings.minHistoryDays,
    values: { historyStart: historyStartMs, periodStart: period.startMs, periodEnd: period.endMs },
  };
}

/** Count the days from 1970-01-01 to a YYYY-MM-DD date. */
export function localDayNumber(date: string): number {
  return Date.parse(`${date}T00:00:00Z`) / DAY_MS;
}

/** Format a local day number as YYYY-MM-DD. */
export function localDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Format a local hour number (hours since 1970-01-01 00:00 local time) as `YYYY-MM-DD HH:00`. */
export function localHour(hour: number): string {
  return localClock(hour * HOUR_MS);
}

/** Format local wall-clock milliseconds as `YYYY-MM-DD HH:MM`. */
export function localClock(localMs: number): string {
  return new Date(localMs).toISOString().slice(0, 16).replace('T', ' ');
}

/** Local wall-clock milliseconds at which window number `window` of `minutes` starts. */
export function windowStartMs(window: number, minutes: number): number {
  return window * minutes * MINUTE_MS;
}

/** SQL for the clock-aligned window of `minutes` that `ts` falls in, as a window number. */
export function windowNumberSql(window: InsightWindow, minutes: number): string {
  return `((${window.localMs}) // ${minutes * MINUTE_MS})`;
}

/**
 * SQL for local wall-clock milliseconds of `ts`: epoch milliseconds plus the zone's UTC
 * offset, with one offset per stretch between daylight saving changes. Per-row time zone
 * conversion through ICU is about ten times slower on millions of rows.
 */
function localTimeSql(zone: ZoneConverter, startMs: number, endMs: number): string {
  if ((endMs - startMs) / DAY_MS > MAX_MAPPED_DAYS) {
    // IANA zone names hold no quote; the escape keeps SQL intact should one ever appear.
    const name = `'${zone.timeZone.replace(/'/g, "''")}'`;
    return `epoch_ms(timezone(${name}, ts))`;
  }

  const segments = offsetSegments(zone, startMs, endMs);
  const last = segments[segments.length - 1].offset;
  const cases = segments
    .slice(0, -1)
    .map((segment) => `WHEN epoch_ms(ts) < ${segment.untilMs} THEN ${segment.offset}`)
    .join(' ');
  const offset = cases ? `(CASE ${cases} ELSE ${last} END)` : String(last);
  return `(epoch_ms(ts) + ${offset})`;
}

/** List the zone's UTC offsets from `startMs` to `endMs`; each applies until `untilMs`. */
function offsetSegments(
  zone: ZoneConverter,
  startMs: number,
  endMs: number,
): { untilMs: number; offset: number }[] {
  const segments: { untilMs: number; offset: number }[] = [];
  let offset = zone.offsetAt(startMs);
  for (let t = startMs; t < endMs; t += DAY_MS) {
    const next = Math.min(t + DAY_MS, endMs);
    const nextOffset = zone.offsetAt(next);
    if (nextOffset === offset) continue;

    segments.push({ untilMs: changeWithin(zone, t, next, offset), offset });
    offset = nextOffset;
  }
  segments.push({ untilMs: endMs, offset });
  return segments;
}

/** Find the first second in [from, to) whose offset differs from `offset`, by bisection. */
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
