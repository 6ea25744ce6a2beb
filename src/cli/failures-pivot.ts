import { queryFailurePivot, type FailurePivot, type FailurePivotRow } from '../queries/failures.js';
import type { ReportFilter } from '../queries/filters.js';
import type { ReportStore } from '../store/report-store.js';
import { csvLine, textTable, type Cell } from './format.js';
import type { Format } from './report.js';

/**
 * `report --view failures --by day|username|ip`: failed logins per day, attempted username or
 * client IP, with the distinct values on the other sides. Each pivot names its key column as
 * `--view failures` does and leaves out the count that is always 1 (the IPs of one IP).
 */
const PIVOT_COLUMNS: Record<FailurePivot, { key: string; counts: (keyof FailurePivotRow)[] }> = {
  day: { key: 'day', counts: ['failures', 'usernames', 'clientIps'] },
  username: { key: 'attemptedUsername', counts: ['failures', 'clientIps', 'days'] },
  ip: { key: 'clientIp', counts: ['failures', 'usernames', 'days'] },
};

/** Print one failed-logins pivot. Only data goes to standard output in json and csv. */
export async function printFailurePivot(
  store: ReportStore,
  filter: ReportFilter,
  by: FailurePivot,
  format: Format,
): Promise<void> {
  const { period, rows } = await queryFailurePivot(store, filter, by);
  const { key, counts } = PIVOT_COLUMNS[by];
  const headers = [key, ...counts];
  const cells: Cell[][] = rows.map((row) => [row.key, ...counts.map((count) => row[count])]);

  if (format === 'json') {
    const objects = cells.map((row) => Object.fromEntries(headers.map((h, i) => [h, row[i]])));
    process.stdout.write(JSON.stringify(objects, null, 2) + '\n');
    return;
  }
  if (format === 'csv') {
    process.stdout.write(csvLine(headers) + cells.map(csvLine).join(''));
    return;
  }

  const scope = [
    filter.domain && `domain ${filter.domain}`,
    filter.server && `server ${filter.server}`,
    filter.search && `search "${filter.search}"`,
  ].filter(Boolean);
  const heading =
    `Failed logins by ${by}, ${period.from} to ${period.to} (${filter.timeZone})` +
    scope.map((part) => `, ${part}`).join('');
  const body = cells.length > 0 ? textTable(headers, cells) : 'No failed logins in this period.\n';
  process.stdout.write(`${heading}\n${body}`);
}
