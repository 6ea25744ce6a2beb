import { sql } from '../../store/clickhouse/sql.js';
import type { ClickHouseStore } from '../../store/clickhouse/store.js';

/**
 * Returns the time of the newest event in milliseconds, or null for an empty store. A copy of
 * an event has the same time, so this needs no FINAL. max() of no rows is 0 in ClickHouse,
 * not NULL, so the row counts tell an empty table apart.
 */
export async function newestClickHouseEvent(store: ClickHouseStore): Promise<number | null> {
  const rows = await store.all(sql`
    SELECT max(newest) AS newest, sum(events) AS events FROM (
      SELECT max(toUInt64(ts) * 1000 + ts_ms) AS newest, count() AS events
      FROM submitted_messages
      UNION ALL
      SELECT max(toUInt64(ts) * 1000 + ts_ms), count() FROM auth_failures)`);
  const [row] = rows;
  return row && Number(row.events) > 0 ? Number(row.newest) : null;
}
