/**
 * The pieces every ClickHouse report query shares: the event tables with duplicates collapsed,
 * the WHERE clauses of the report filters, and report days in the filter's time zone.
 */
import { TLS_PROTOCOLS, type TlsProtocol } from '../../events.js';
import { sql, SqlText } from '../../store/clickhouse/sql.js';
import type { ClickHouseRow } from '../../store/clickhouse/store.js';
import { MAX_ROLLUP_DAYS, offsetSegments, type Period, type ReportFilter } from '../filters.js';

/**
 * The event tables as the report reads them. FINAL merges the rows of one event id (a batch
 * sent twice, a row re-inserted to settle its TLS version) into the one with the highest
 * row_version, so each event counts once before ClickHouse merges the parts itself. On a
 * cluster these are the Distributed tables, which pass FINAL to each shard, and every copy
 * of an event is on the shard of its id.
 */
export const MESSAGES = sql`submitted_messages FINAL`;
export const FAILURES = sql`auth_failures FINAL`;

/**
 * submitted_messages with every copy of an event, for queries that copies cannot change:
 * distinct values of columns other than tls_protocol, and earliest or latest times. A copy
 * repeats its event's values, and settling a TLS version (ClickHouseWriter.settleNoTlsLine)
 * changes tls_protocol alone. Such queries skip FINAL, which made one scan of 10 million
 * messages about five times slower (3.3 s against 0.6 s, ClickHouse 18.16, 2 vCPUs).
 */
export const MESSAGE_COPIES = sql`submitted_messages`;

/** An event's time in milliseconds since 1970. DateTime stores whole seconds and ts_ms the rest. */
export const TIME_MS = sql`(toUInt64(ts) * 1000 + ts_ms)`;

/** The maximum DateTime (UInt32) in seconds, 2106-02-07 06:28:15 UTC. */
const MAX_DATETIME_SECONDS = 2 ** 32 - 1;
const DAY_SECONDS = 86_400;
const DAY_MS = DAY_SECONDS * 1000;

/** Joins pieces of safe SQL with a separator. */
export function joinSql(parts: readonly SqlText[], separator: string): SqlText {
  return new SqlText(parts.map((part) => part.text).join(separator));
}

/**
 * Builds the condition that keeps the period's events. A DateTime counts seconds from 1970 to
 * 2106, so a bound outside that range is left out. A period wholly outside it keeps nothing.
 */
export function periodCondition(period: Period): SqlText {
  const start = Math.ceil(period.startMs / 1000);
  const end = Math.ceil(period.endMs / 1000);
  if (end <= 0 || start > MAX_DATETIME_SECONDS) return sql`0`;

  const clauses: SqlText[] = [];
  if (start > 0) clauses.push(sql`ts >= ${dateTime(start)}`);
  if (end <= MAX_DATETIME_SECONDS) clauses.push(sql`ts < ${dateTime(end)}`);
  return clauses.length > 0 ? joinSql(clauses, ' AND ') : sql`1`;
}

/** Converts whole seconds to a Date for sqlValue, clamped to the range of a DateTime. */
function dateTime(seconds: number): Date {
  return new Date(Math.min(Math.max(seconds, 0), MAX_DATETIME_SECONDS) * 1000);
}

/**
 * Builds the WHERE clause of the views over submitted_messages, as messageConditions does for
 * DuckDB. Searches use lowerUTF8, because lower changes ASCII letters only.
 */
export function messageWhere(filter: ReportFilter, period: Period): SqlText {
  const clauses = [periodCondition(period)];
  if (filter.domain) clauses.push(sql`sender_domain = ${filter.domain.toLowerCase()}`);
  if (filter.server) clauses.push(sql`server = ${filter.server}`);
  if (filter.search) {
    const search = filter.search.toLowerCase();
    clauses.push(
      sql`(position(lowerUTF8(account), ${search}) > 0
           OR position(lowerUTF8(sender_address), ${search}) > 0)`,
    );
  }
  return joinSql(clauses, ' AND ');
}

/** Builds the WHERE clause for auth_failures, as failureConditions does for DuckDB. */
export function failureWhere(filter: ReportFilter, period: Period): SqlText {
  const clauses = [periodCondition(period)];
  if (filter.domain) {
    clauses.push(
      sql`endsWith(lowerUTF8(attempted_username), ${`@${filter.domain.toLowerCase()}`})`,
    );
  }
  if (filter.server) clauses.push(sql`server = ${filter.server}`);
  if (filter.search) {
    const search = filter.search.toLowerCase();
    clauses.push(sql`position(lowerUTF8(ifNull(attempted_username, '')), ${search}) > 0`);
  }
  return joinSql(clauses, ' AND ');
}

/**
 * Builds the report day of each row as a day number (days since 1970-01-01 in the zone).
 * The zone's offsets over the period come from the same table as DuckDB's (offsetSegments),
 * so both stores cut days alike, DST changes and offsets such as +05:45 included. Only a
 * period longer than the rollups map (about 20 years) falls back to ClickHouse's own zone data.
 */
export function dayKey(period: Period, timeZone: string): SqlText {
  const segments = offsetSegments(period, timeZone, MAX_ROLLUP_DAYS);
  if (segments === null) return sql`toUInt32(toDate(ts, ${timeZone}))`;

  const seconds = (ms: number) => Math.ceil(ms / 1000);
  const last = segments[segments.length - 1].offset;
  const cases = segments
    .slice(0, -1)
    .map((segment) => sql`ts < ${dateTime(seconds(segment.untilMs))}, ${seconds(segment.offset)}`);
  const offset =
    cases.length > 0
      ? sql`multiIf(${joinSql(cases, ', ')}, ${seconds(last)})`
      : sql`${seconds(last)}`;
  // One day added and taken off again keeps the dividend positive for negative offsets near
  // 1970, because intDiv truncates towards zero.
  return sql`(intDiv(toInt64(ts) + ${offset} + ${DAY_SECONDS}, ${DAY_SECONDS}) - 1)`;
}

/** The maximum row count of a ClickHouse LIMIT, for an offset without a limit. */
const ALL_ROWS = BigInt('18446744073709551615');

/** LIMIT of a page of rows, or nothing for all of them. An offset applies without a limit too. */
export function pageClause(limit: number | undefined, offset = 0): SqlText {
  const skip = Math.max(0, Math.trunc(offset));
  if (limit !== undefined) return sql`LIMIT ${skip}, ${Math.max(0, Math.trunc(limit))}`;
  return skip > 0 ? sql`LIMIT ${skip}, ${ALL_ROWS}` : sql``;
}

/** Formats a day number of dayKey as `YYYY-MM-DD`. */
export function dayOfKey(key: unknown): string {
  return new Date(Number(key) * DAY_MS).toISOString().slice(0, 10);
}

/** Formats a TIME_MS value as DuckDB returns a timestamp: ISO 8601 in UTC, with milliseconds. */
export function isoOfMs(ms: unknown): string {
  return new Date(Number(ms)).toISOString();
}

/** A TLS version as a quoted column name. The versions are constants of letters, digits and dots. */
export function tlsColumn(protocol: TlsProtocol): SqlText {
  return new SqlText(`\`${protocol}\``);
}

/** One count of messages per TLS version, each named after its version. */
export const TLS_COUNTS: SqlText = joinSql(
  TLS_PROTOCOLS.map(
    (protocol) => sql`countIf(tls_protocol = ${protocol}) AS ${tlsColumn(protocol)}`,
  ),
  ', ',
);

/** Reads the counts of TLS_COUNTS from a row. */
export function tlsCounts(row: ClickHouseRow): Record<TlsProtocol, number> {
  const counts = TLS_PROTOCOLS.map((protocol) => [protocol, Number(row[protocol] ?? 0)]);
  return Object.fromEntries(counts) as Record<TlsProtocol, number>;
}
