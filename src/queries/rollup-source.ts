/**
 * The rollup rows that the report views read for a period. They are the largest aligned blocks
 * of whole UTC days inside the period, plus quarter-hour rows for the hours at its edges that
 * are not whole UTC days, which report days in a zone other than UTC have.
 */
import type { DuckDBValue } from '@duckdb/node-api';

import {
  DAY_MS,
  ensureRollups,
  QUARTER_MS,
  floorDiv,
  keepMemoryLimit,
  REFRESH_MEMORY_MIB,
  type RollupFamily,
  type RollupLevel,
  rollupTable,
} from '../store/duckdb/rollups.js';
import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import { MAX_ROLLUP_DAYS, offsetSegments, type Period, type ReportFilter } from './filters.js';

/**
 * Bound parameters of a query under construction, numbered from $1, and the common table
 * expressions that its filters need.
 */
export class SqlParams {
  readonly values: DuckDBValue[] = [];
  private readonly tables = new Map<string, string>();

  /** Add a value and return its placeholder. */
  add(value: DuckDBValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }

  /**
   * Define a table that each statement computes once, however many of its UNION ALL parts
   * read it, and return its name.
   */
  table(name: string, sql: string): string {
    if (!this.tables.has(name)) this.tables.set(name, sql);
    return name;
  }

  /** Run a statement with these parameters and tables. */
  run(store: DuckDBStore, body: string): Promise<Row[]> {
    return store.all(this.statement(body), this.values);
  }

  /** Return the statement with the tables defined in front of it. */
  statement(body: string): string {
    if (this.tables.size === 0) return body;
    const tables = [...this.tables].map(([name, sql]) => `${name} AS MATERIALIZED (${sql})`);
    const trimmed = body.trimStart();
    if (/^WITH\s/i.test(trimmed)) return `WITH ${tables.join(', ')}, ${trimmed.slice(5)}`;
    return `WITH ${tables.join(', ')} ${trimmed}`;
  }
}

/**
 * Return whether the rollups have the rows for a filter. They have no server key, so a server
 * filter reads the event tables. So does a period whose edges are not on a quarter hour, which happens only
 * with the historical offsets of some zones before 1980 (Europe/Amsterdam +00:19:32 until 1937).
 */
export function rollupsAnswer(filter: ReportFilter, period: Period): boolean {
  if (filter.server) return false;
  return period.startMs % QUARTER_MS === 0 && period.endMs % QUARTER_MS === 0;
}

const ceilDiv = (value: number, divisor: number) => -Math.floor(-value / divisor);

/** A run of buckets of one level: the blocks starting at days [from, to). */
interface BlockRun {
  level: RollupLevel;
  from: number;
  to: number;
}

/**
 * Cover the days [from, to) with the largest blocks that fit: at each day, the largest level
 * whose blocks start there and end by `to`. A period of n days takes about 2 log2(n) blocks.
 */
export function coverDays(levels: RollupLevel[], from: number, to: number): BlockRun[] {
  const sizes = levels.filter((l) => l.days !== null).sort((a, b) => b.days! - a.days!);
  const runs: BlockRun[] = [];
  let day = from;
  while (day < to) {
    const level = sizes.find((l) => mod(day, l.days!) === 0 && day + l.days! <= to)!;
    const last = runs[runs.length - 1];
    if (last && last.level === level && last.to === day) last.to += level.days!;
    else runs.push({ level, from: day, to: day + level.days! });
    day += level.days!;
  }
  return runs;
}

const mod = (value: number, divisor: number) => ((value % divisor) + divisor) % divisor;

/** Split a period into its whole UTC days and the millisecond ranges before and after them. */
function splitPeriod(period: Period): { days: [number, number]; edges: [number, number][] } {
  const firstDay = ceilDiv(period.startMs, DAY_MS);
  const endDay = Math.floor(period.endMs / DAY_MS);
  if (firstDay >= endDay) return { days: [0, 0], edges: [[period.startMs, period.endMs]] };

  const edges: [number, number][] = [];
  if (period.startMs < firstDay * DAY_MS) edges.push([period.startMs, firstDay * DAY_MS]);
  if (endDay * DAY_MS < period.endMs) edges.push([endDay * DAY_MS, period.endMs]);
  return { days: [firstDay, endDay], edges };
}

/**
 * SQL for a family's rows in a period, with the given columns and condition: a UNION ALL of
 * one SELECT per run of blocks and per edge. Edges read quarter-hour rows, of the family or of
 * the family that contains its quarter hours, with `quarterColumns` when those differ.
 */
export function periodRows(
  family: RollupFamily,
  period: Period,
  columns: string,
  where = 'true',
  quarterColumns = columns,
): string {
  const { days, edges } = splitPeriod(period);
  const parts = coverDays(family.levels, days[0], days[1]).map(
    (run) =>
      `SELECT ${columns} FROM ${rollupTable(family, run.level)}
       WHERE bucket >= ${run.from} AND bucket < ${run.to} AND ${where}`,
  );

  const quarters = family.levels.some((l) => l.days === null) ? family : family.quarters!;
  const quarter = rollupTable(
    quarters,
    quarters.levels.find((l) => l.days === null)!,
  );
  for (const [startMs, endMs] of edges) {
    parts.push(`SELECT ${quarterColumns} FROM ${quarter}
      WHERE bucket >= ${startMs / QUARTER_MS} AND bucket < ${endMs / QUARTER_MS} AND ${where}`);
  }
  if (parts.length > 0) return parts.join('\nUNION ALL\n');
  return `SELECT ${columns} FROM ${rollupTable(family, family.levels[0])} WHERE false`;
}

/** SQL for rollup rows per report day, and whether they are the single-day buckets. */
export interface DayRows {
  sql: string;
  /** The rows are single-day buckets, which in FAILURE_ROLLUP hold one row per key. */
  days: boolean;
}

/**
 * SQL for a family's rows per report day: `day_key` (days since 1970-01-01 in the report's
 * zone) and the given columns. Where every day of the period is a UTC day, the day buckets are
 * the days. Otherwise the zone's offset at each quarter hour places its bucket in a day. Null
 * when the family has no level for that or an offset is not whole quarter hours, in which case
 * the view reads the event tables.
 */
export function dayRows(
  family: RollupFamily,
  period: Period,
  timeZone: string,
  columns: string,
  where = 'true',
): DayRows | null {
  const segments = offsetSegments(period, timeZone, MAX_ROLLUP_DAYS);
  if (segments === null) return null;

  const dayLevel = family.levels.find((l) => l.days === 1);
  if (dayLevel && segments.every((s) => s.offset === 0)) {
    const from = period.startMs / DAY_MS;
    const to = period.endMs / DAY_MS;
    const sql = `SELECT bucket AS day_key, ${columns} FROM ${rollupTable(family, dayLevel)}
                 WHERE bucket >= ${from} AND bucket < ${to} AND ${where}`;
    return { sql, days: true };
  }

  const quarter = family.levels.find((l) => l.days === null);
  const aligned = segments.every(
    (s) => s.offset % QUARTER_MS === 0 && s.untilMs % QUARTER_MS === 0,
  );
  if (!quarter || !aligned) return null;

  const last = segments[segments.length - 1].offset;
  const cases = segments
    .slice(0, -1)
    .map((s) => `WHEN bucket < ${s.untilMs / QUARTER_MS} THEN ${s.offset}`)
    .join(' ');
  const offset = cases ? `(CASE ${cases} ELSE ${last} END)` : String(last);
  const dayKey = floorDiv(`bucket::BIGINT * ${QUARTER_MS} + ${offset}`, DAY_MS);
  const sql = `SELECT ${dayKey} AS day_key, ${columns} FROM ${rollupTable(family, quarter)}
               WHERE bucket >= ${period.startMs / QUARTER_MS}
                 AND bucket < ${period.endMs / QUARTER_MS} AND ${where}`;
  return { sql, days: false };
}

/** `YYYY-MM-DD` of a day key. */
export function dayText(dayKey: string): string {
  return `strftime(DATE '1970-01-01' + CAST(${dayKey} AS INTEGER), '%Y-%m-%d')`;
}

// Filters as conditions on dictionary ids -----------------------------------------------------

/** A report filter whose sender domain has been looked up in the dictionary. */
export interface RollupFilter extends ReportFilter {
  /** The id of `domain`; null when no message has that domain. */
  domainId?: number | null;
}

/**
 * Bring the rollups up to date and look up the id of the filter's sender domain, so that the
 * rollups compare it as a constant, which DuckDB tests while scanning instead of joining.
 *
 * It also raises DuckDB's memory limit for good, because a rollup query runs a dozen hash joins
 * and aggregates at once. Their buffers exceeded the 128 MB that a store opens with for ingest
 * (a store of 200,000 messages, Europe/Berlin). Only `report` and `serve` query rollups, and
 * `serve` opens the store with this limit already.
 */
export async function prepareRollups(
  store: DuckDBStore,
  filter: ReportFilter,
): Promise<RollupFilter> {
  await keepMemoryLimit(store, REFRESH_MEMORY_MIB);
  await ensureRollups(store);
  return withDomainId(store, filter);
}

async function withDomainId(store: DuckDBStore, filter: ReportFilter): Promise<RollupFilter> {
  if (!filter.domain) return filter;
  const [row] = await store.all('SELECT id FROM dict_sender_domains WHERE name = $1', [
    filter.domain.toLowerCase(),
  ]);
  return { ...filter, domainId: row ? Number(row.id) : null };
}

/** Build the condition of the sender domain filter on rows with a `domain_id`. */
export function domainIdCondition(filter: RollupFilter): string {
  if (!filter.domain) return 'true';
  if (filter.domainId === undefined) throw new Error('pass the filter from prepareRollups');
  return filter.domainId === null ? 'false' : `domain_id = ${filter.domainId}`;
}

/**
 * Build the conditions of the domain and search filters on rows with `account_id`, `sender_id`
 * and `domain_id`. They make the tests of `messageConditions` once per dictionary entry and
 * statement instead of once per event.
 */
export function senderCondition(filter: RollupFilter, params: SqlParams): string {
  const clauses: string[] = [];
  if (filter.domain) clauses.push(domainIdCondition(filter));
  if (filter.search) {
    const search = params.add(filter.search.toLowerCase());
    const accounts = params.table(
      'searched_accounts',
      `SELECT id FROM dict_accounts WHERE contains(search_name, ${search})`,
    );
    const senders = params.table(
      'searched_senders',
      `SELECT id FROM dict_senders WHERE contains(search_name, ${search})`,
    );
    clauses.push(`(account_id IN (SELECT id FROM ${accounts})
      OR sender_id IN (SELECT id FROM ${senders}))`);
  }
  return clauses.length > 0 ? clauses.join(' AND ') : 'true';
}

/** Build the condition of the domain and search filters of failed logins on `username_id`. */
export function usernameCondition(filter: ReportFilter, params: SqlParams): string {
  const tests: string[] = [];
  if (filter.domain)
    tests.push(`ends_with(search_name, ${params.add(`@${filter.domain.toLowerCase()}`)})`);
  if (filter.search)
    tests.push(`contains(search_name, ${params.add(filter.search.toLowerCase())})`);
  if (tests.length === 0) return 'true';

  const usernames = params.table(
    'filtered_usernames',
    `SELECT id FROM dict_usernames WHERE ${tests.join(' AND ')}`,
  );
  return `username_id IN (SELECT id FROM ${usernames})`;
}
