import type { DuckDBStore, Row } from '../store/duckdb/store.js';
import type { SqlParams } from './rollup-source.js';

/** The rollup rows and the order that rank accounts for one page of a table. */
export interface AccountRanking {
  /** SQL rows with `account_id`, `messages` and the columns `key` and `measures` read. */
  rows: string;
  params: SqlParams;
  /**
   * The aggregate that orders the accounts, over their rows; null orders by name. Ties are
   * broken by name.
   */
  key: string | null;
  direction: 'ASC' | 'DESC';
  /** Accounts on the page; all of them without a limit. */
  limit?: number;
  offset: number;
  /**
   * More aggregates to compute for every account and return for the page. Worth it when the
   * rows are few (a filter), so that the page needs no second pass over them.
   */
  measures?: string;
  /**
   * Also return each page account's sorted sender addresses, client IPs and mechanisms
   * (`sender_addresses`, `client_ips`, `mechanisms`) from the same rows, which then need
   * `sender_id`, `client_ip_id` and `mechanism_id`. The rows are read once for both.
   */
  lists?: boolean;
}

/**
 * A page of ranked accounts in page order (`account_id`, `name`, and any `measures` and lists),
 * and the number of accounts in all pages.
 */
export interface RankedPage {
  total: number;
  accounts: Row[];
}

/**
 * Rank accounts by one aggregate and return one page. Only the key (and `measures`) is summed
 * over all accounts. The names that break ties are looked up only for accounts whose key
 * reaches the page's last key, not for all accounts.
 */
export async function rankAccounts(
  store: DuckDBStore,
  ranking: AccountRanking,
): Promise<RankedPage> {
  const { direction } = ranking;
  const key = ranking.key ?? 'NULL';
  const end = ranking.limit === undefined ? null : ranking.offset + ranking.limit;
  const page =
    ranking.limit === undefined
      ? `OFFSET ${ranking.offset}`
      : `LIMIT ${ranking.limit} OFFSET ${ranking.offset}`;
  const source = ranking.lists ? 'source' : `(${ranking.rows})`;

  // The page ends at the end-th key; every account before it has a key at least as far.
  const reaching =
    end === null || ranking.key === null
      ? 'true'
      : `NOT EXISTS (SELECT 1 FROM page_end)
         OR sort_key ${direction === 'DESC' ? '>=' : '<='} (SELECT sort_key FROM page_end)`;
  const order = ranking.key === null ? `name ${direction}` : `sort_key ${direction}, name`;

  const tables = [
    ...(ranking.lists ? [`source AS MATERIALIZED (${ranking.rows})`] : []),
    `ranked AS MATERIALIZED (
       SELECT account_id, ${key} AS sort_key${ranking.measures ? `, ${ranking.measures}` : ''}
       FROM ${source} GROUP BY account_id HAVING sum(messages) > 0)`,
    `page_end AS (
       SELECT sort_key FROM ranked ORDER BY sort_key ${direction}
       LIMIT 1 OFFSET ${Math.max(0, (end ?? 1) - 1)})`,
    `page AS MATERIALIZED (
       SELECT r.*, a.name, (SELECT count(*) FROM ranked) AS total
       FROM (SELECT * FROM ranked WHERE ${reaching}) r
       JOIN dict_accounts a ON a.id = r.account_id
       ORDER BY ${order} ${page})`,
    ...(ranking.lists ? pageListTables() : []),
  ];
  const rows = await ranking.params.run(
    store,
    `WITH ${tables.join(',\n')}
     SELECT page.* EXCLUDE (sort_key)${ranking.lists ? ', lists.* EXCLUDE (account_id)' : ''}
     FROM page ${ranking.lists ? 'LEFT JOIN lists USING (account_id)' : ''}
     ORDER BY ${order}`,
  );
  const total =
    rows.length > 0
      ? Number(rows[0].total)
      : await countRanked(store, ranking.rows, ranking.params);
  return { total, accounts: rows };
}

/**
 * Build the sorted lists of the page's accounts. The distinct ids come first, so that only
 * those are looked up by name.
 */
function pageListTables(): string[] {
  return [
    `keys AS MATERIALIZED (
       SELECT DISTINCT account_id, sender_id, client_ip_id, mechanism_id FROM source
       WHERE account_id IN (SELECT account_id FROM page))`,
    `lists AS (
       SELECT k.account_id,
              list_sort(list(DISTINCT s.address)) AS sender_addresses,
              list_sort(list(DISTINCT ip.address)) AS client_ips,
              list_sort(list(DISTINCT me.name)) AS mechanisms
       FROM keys k
       JOIN dict_senders s ON s.id = k.sender_id
       JOIN dict_client_ips ip ON ip.id = k.client_ip_id
       JOIN dict_mechanisms me ON me.id = k.mechanism_id
       GROUP BY k.account_id)`,
  ];
}

/** Count the accounts when the page is past the last one, so that no row carries the total. */
async function countRanked(store: DuckDBStore, rows: string, params: SqlParams): Promise<number> {
  const [row] = await params.run(
    store,
    `SELECT count(*) AS total FROM (
       SELECT account_id FROM (${rows}) GROUP BY account_id HAVING sum(messages) > 0)`,
  );
  return Number(row.total);
}
