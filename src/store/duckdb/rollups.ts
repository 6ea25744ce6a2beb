/**
 * Rollups: the event tables summed per quarter hour or per aligned block of UTC days, keyed by
 * small integer ids from dictionary tables. A report over 90 days of 10 million messages then
 * reads a few hundred thousand rows instead of all of them.
 *
 * The rollups hold exactly the event rows whose rowid is below `rollup_progress.rows_done`.
 * Event rows are appended and never deleted, so rowids count up from 0 and the rows still to
 * add are those at or above that mark. A refresh adds them a chunk at a time, each chunk in
 * one transaction with the new mark, so an interrupted refresh keeps what it committed and
 * repeats nothing. Ingest does not refresh, which keeps its speed and memory as they were:
 * `serve` refreshes when it starts and after every followed batch, and every report query
 * refreshes first (`ensureRollups`), which costs one query when there is nothing to add.
 * Ingest updates rows only to settle TLS versions, and `settleRollups` changes the rollups of
 * the rows they hold in the same transaction.
 *
 * Each refresh appends its sums as new rows, so a key can have several rows in a bucket until
 * the bucket is merged back into one row per key. Readers always sum, so the extra rows cost
 * time, not exactness. A bucket is merged once it has grown by half, and always in the failure
 * day rollup, whose readers rely on one row per key.
 */
import os from 'node:os';

import { listValue, type DuckDBValue } from '@duckdb/node-api';

import { TLS_PROTOCOLS } from '../../events.js';
import type { Row } from './store.js';

/** The store methods that a refresh calls, which `DuckDBStore` implements. */
export interface RollupStore {
  all(sql: string, params?: DuckDBValue[]): Promise<Row[]>;
  transaction<T>(work: () => Promise<T>): Promise<T>;
}

export const QUARTER_MS = 900_000;
export const DAY_MS = 86_400_000;

/** A rollup level: quarter hours, or blocks of `days` UTC days starting at multiples of it. */
export interface RollupLevel {
  name: string;
  /** Days per block; null for quarter hours. */
  days: number | null;
}

const QUARTER: RollupLevel = { name: 'q', days: null };
const dayLevels = (...sizes: number[]): RollupLevel[] =>
  sizes.map((days) => ({ name: `d${days}`, days }));

/** The measures of a message rollup row. `tls_unlogged` exists in the domain rollup only. */
export const TLS_COUNT_COLUMNS = [
  'tlsv1_0',
  'tlsv1_1',
  'tlsv1_2',
  'tlsv1_3',
  'no_tls',
  'tls_unknown',
] as const;

/** The TLS count column of each TLS version, in TLS_PROTOCOLS order. */
export const TLS_COLUMN_OF = Object.fromEntries(
  TLS_PROTOCOLS.map((protocol, i) => [protocol, TLS_COUNT_COLUMNS[i]]),
) as Record<(typeof TLS_PROTOCOLS)[number], (typeof TLS_COUNT_COLUMNS)[number]>;

/** How rows of one key combine: `union` joins lists of ids without repeats. */
type Aggregate = 'sum' | 'min' | 'max' | 'union';

/** SQL that combines a measure over the rows of one key. */
function mergeSql(measure: Measure): string {
  if (measure.merge === 'union') return `list_distinct(flatten(list(${measure.column})))`;
  return `${measure.merge}(${measure.column})`;
}

interface Measure {
  column: string;
  /** The aggregate that combines rows of the same key. */
  merge: Aggregate;
  /** The aggregate over the coded event rows of a refresh chunk. */
  fromEvents: string;
  /** The value in the rows that `settleNoTlsLine` adds: the change per settled event. */
  settled: string;
}

/** A family of rollup tables with the same key and measures, one table per level. */
export interface RollupFamily {
  name: 'domain' | 'account' | 'client' | 'failure';
  source: 'messages' | 'failures';
  levels: RollupLevel[];
  keys: string[];
  measures: Measure[];
  /** The measure that is zero when a key has nothing left, such as `messages`. */
  count: string;
  /** Every bucket is merged after each refresh, so each key has one row per bucket. */
  oneRowPerKey: boolean;
  /**
   * The family whose quarter-hour rows contain this one's measures and keys, for a family
   * without a quarter-hour level of its own.
   */
  quarters?: RollupFamily;
}

const tlsMeasures: Measure[] = TLS_PROTOCOLS.map((protocol) => {
  const column = TLS_COLUMN_OF[protocol];
  const settled = { none: 'count(*)', unknown: '-count(*)' }[protocol as string] ?? '0';
  return {
    column,
    merge: 'sum',
    fromEvents: `count(*) FILTER (WHERE tls_protocol = '${protocol}')`,
    settled,
  };
});

const messageMeasures: Measure[] = [
  { column: 'messages', merge: 'sum', fromEvents: 'count(*)', settled: '0' },
  { column: 'recipients', merge: 'sum', fromEvents: 'sum(recipients)', settled: '0' },
  ...tlsMeasures,
];

const seenMeasures: Measure[] = [
  { column: 'first_seen', merge: 'min', fromEvents: 'min(ts)', settled: 'NULL::TIMESTAMPTZ' },
  { column: 'last_seen', merge: 'max', fromEvents: 'max(ts)', settled: 'NULL::TIMESTAMPTZ' },
];

export const DOMAIN_ROLLUP: RollupFamily = {
  name: 'domain',
  source: 'messages',
  levels: [QUARTER, ...dayLevels(1)],
  keys: ['domain_id', 'server_id'],
  measures: [
    ...messageMeasures,
    {
      column: 'tls_unlogged',
      merge: 'sum',
      fromEvents: 'count(*) FILTER (WHERE tls_unlogged)',
      settled: '-count(*)',
    },
  ],
  count: 'messages',
  oneRowPerKey: false,
};

export const CLIENT_ROLLUP: RollupFamily = {
  name: 'client',
  source: 'messages',
  levels: [QUARTER, ...dayLevels(1, 4, 16, 64)],
  keys: ['account_id', 'sender_id', 'domain_id', 'client_ip_id', 'mechanism_id', 'helo_id'],
  measures: [...messageMeasures, ...seenMeasures],
  count: 'messages',
  oneRowPerKey: false,
};

/**
 * The ids of the sender addresses, client IPs and mechanisms that a key used, so that the
 * accounts table lists them for a page of accounts from the narrow account rollup.
 */
const listMeasures: Measure[] = ['sender_id', 'client_ip_id', 'mechanism_id'].map((id) => ({
  column: `${id}s`,
  merge: 'union',
  fromEvents: `list(DISTINCT ${id})`,
  settled: '[]::INTEGER[]',
}));

/** Per account only; the hours at a period's ends come from CLIENT_ROLLUP's quarter hours. */
export const ACCOUNT_ROLLUP: RollupFamily = {
  name: 'account',
  source: 'messages',
  levels: dayLevels(1, 2, 4, 8, 16, 32, 64),
  keys: ['account_id'],
  measures: [...messageMeasures, ...seenMeasures, ...listMeasures],
  count: 'messages',
  oneRowPerKey: false,
  quarters: CLIENT_ROLLUP,
};

/** Failures per key; `tls_code` is the 1-based position in TLS_PROTOCOLS. */
export const FAILURE_ROLLUP: RollupFamily = {
  name: 'failure',
  source: 'failures',
  levels: [QUARTER, ...dayLevels(1)],
  keys: ['username_id', 'client_ip_id', 'mechanism_id', 'tls_code', 'server_id'],
  measures: [{ column: 'failures', merge: 'sum', fromEvents: 'count(*)', settled: '0' }],
  count: 'failures',
  oneRowPerKey: true,
};

export const ROLLUP_FAMILIES = [DOMAIN_ROLLUP, ACCOUNT_ROLLUP, CLIENT_ROLLUP, FAILURE_ROLLUP];

export function rollupTable(family: RollupFamily, level: RollupLevel): string {
  return `rollup_${family.name}_${level.name}`;
}

/** SQL for floor(value / divisor) on integers; DuckDB's `//` truncates towards zero. */
export function floorDiv(value: string, divisor: number): string {
  return `((${value}) - ((((${value}) % ${divisor}) + ${divisor}) % ${divisor})) // ${divisor}`;
}

/** SQL for the largest multiple of `size` at or below an integer value. */
function floorTo(value: string, size: number): string {
  return `((${value}) - ((((${value}) % ${size}) + ${size}) % ${size}))`;
}

export const TLS_CODE_SQL = `list_position(['${TLS_PROTOCOLS.join("', '")}'], tls_protocol)`;

/**
 * Chunk size and merge threshold of a refresh. The defaults suit any store, and tests pass
 * small values so that a small store takes every path.
 */
export interface RefreshOptions {
  /** Event rows per transaction: bounds the memory of the coded rows and the group-bys. */
  chunkRows?: number;
  /** A bucket is merged once its rows exceed 1.5 times its merged rows plus this many. */
  mergeSlack?: number;
}

const CHUNK_ROWS = 500_000;
const MERGE_GROWTH = 1.5;
const MERGE_SLACK = 4096;
/** Rows merged in one transaction, at most, unless one bucket alone has more. */
const MERGE_GROUP_ROWS = 1_000_000;

// Dictionaries --------------------------------------------------------------------------------

/** A dictionary filled from one column of an event table; NULL names get no entry. */
interface Dictionary {
  table: string;
  sequence: string;
  column: string;
  /** The dictionary stores lower(name) as `search_name` for the search filter. */
  searched?: boolean;
}

const MESSAGE_DICTIONARIES: Dictionary[] = [
  { table: 'dict_accounts', sequence: 'dict_account_ids', column: 'account', searched: true },
  { table: 'dict_sender_domains', sequence: 'dict_sender_domain_ids', column: 'sender_domain' },
  { table: 'dict_client_ips', sequence: 'dict_client_ip_ids', column: 'client_ip' },
  { table: 'dict_mechanisms', sequence: 'dict_mechanism_ids', column: 'sasl_mechanism' },
  { table: 'dict_servers', sequence: 'dict_server_ids', column: 'server' },
  { table: 'dict_helos', sequence: 'dict_helo_ids', column: 'helo' },
];

const FAILURE_DICTIONARIES: Dictionary[] = [
  {
    table: 'dict_usernames',
    sequence: 'dict_username_ids',
    column: 'attempted_username',
    searched: true,
  },
  { table: 'dict_client_ips', sequence: 'dict_client_ip_ids', column: 'client_ip' },
  { table: 'dict_mechanisms', sequence: 'dict_mechanism_ids', column: 'sasl_mechanism' },
  { table: 'dict_servers', sequence: 'dict_server_ids', column: 'server' },
];

/** The dictionaries' name column: `address` for client IPs, `name` elsewhere. */
const nameColumn = (table: string) => (table === 'dict_client_ips' ? 'address' : 'name');

/** Rows `$1 <= rowid < $2` of an event table, with an optional alias. */
const rowRange = (alias = '') => `${alias}rowid >= $1 AND ${alias}rowid < $2`;

async function addNames(
  store: RollupStore,
  source: string,
  dictionary: Dictionary,
  range: DuckDBValue[],
): Promise<void> {
  const name = nameColumn(dictionary.table);
  const search = dictionary.searched ? ', search_name' : '';
  const searchValue = dictionary.searched ? ', lower(seen.value)' : '';
  await store.all(
    `INSERT INTO ${dictionary.table} (id, ${name}${search})
     SELECT nextval('${dictionary.sequence}'), seen.value${searchValue}
     FROM (SELECT DISTINCT ${dictionary.column} AS value FROM ${source}
           WHERE ${rowRange()} AND ${dictionary.column} IS NOT NULL) AS seen
     WHERE NOT EXISTS (SELECT 1 FROM ${dictionary.table} d WHERE d.${name} = seen.value)`,
    range,
  );
}

/** Sender addresses are keyed with their domain, so that the domain filter needs no parsing. */
async function addSenders(store: RollupStore, range: DuckDBValue[]): Promise<void> {
  await store.all(
    `INSERT INTO dict_senders (id, address, domain_id, search_name)
     SELECT nextval('dict_sender_ids'), seen.address, domain.id, lower(seen.address)
     FROM (SELECT DISTINCT sender_address AS address, sender_domain AS domain
           FROM submitted_messages WHERE ${rowRange()}) AS seen
     JOIN dict_sender_domains domain ON domain.name = seen.domain
     WHERE NOT EXISTS (
       SELECT 1 FROM dict_senders s WHERE s.address = seen.address AND s.domain_id = domain.id)`,
    range,
  );
}

// Coded event rows ----------------------------------------------------------------------------

const CODED_MESSAGES = 'rollup_coded_messages';
const CODED_FAILURES = 'rollup_coded_failures';

/**
 * Messages with ids in place of names, into a temporary table, from `submitted_messages`
 * rows that match `where` (on alias m). Every such row must find its ids.
 */
async function codeMessages(
  store: RollupStore,
  where: string,
  params: DuckDBValue[],
): Promise<number> {
  await store.all(
    `CREATE OR REPLACE TEMP TABLE ${CODED_MESSAGES} AS
     SELECT m.ts,
            ${floorDiv('epoch_ms(m.ts)', QUARTER_MS)} AS quarter,
            ${floorDiv('epoch_ms(m.ts)', DAY_MS)} AS day,
            a.id AS account_id, s.id AS sender_id, s.domain_id, ip.id AS client_ip_id,
            me.id AS mechanism_id, h.id AS helo_id, sv.id AS server_id,
            m.recipients, m.tls_protocol,
            m.tls_protocol = 'unknown' AND m.tls_evidence IN ('no-line', 'starttls')
              AS tls_unlogged
     FROM submitted_messages m
     JOIN dict_accounts a ON a.name = m.account
     JOIN dict_sender_domains sd ON sd.name = m.sender_domain
     JOIN dict_senders s ON s.address = m.sender_address AND s.domain_id = sd.id
     JOIN dict_client_ips ip ON ip.address = m.client_ip
     JOIN dict_mechanisms me ON me.name = m.sasl_mechanism
     JOIN dict_servers sv ON sv.name = m.server
     LEFT JOIN dict_helos h ON h.name = m.helo
     WHERE ${where}`,
    params,
  );
  return countRows(store, CODED_MESSAGES);
}

async function codeFailures(
  store: RollupStore,
  where: string,
  params: DuckDBValue[],
): Promise<number> {
  await store.all(
    `CREATE OR REPLACE TEMP TABLE ${CODED_FAILURES} AS
     SELECT f.ts,
            ${floorDiv('epoch_ms(f.ts)', QUARTER_MS)} AS quarter,
            ${floorDiv('epoch_ms(f.ts)', DAY_MS)} AS day,
            u.id AS username_id, ip.id AS client_ip_id, me.id AS mechanism_id,
            ${TLS_CODE_SQL.replace('tls_protocol', 'f.tls_protocol')} AS tls_code,
            sv.id AS server_id
     FROM auth_failures f
     LEFT JOIN dict_usernames u ON u.name = f.attempted_username
     JOIN dict_client_ips ip ON ip.address = f.client_ip
     JOIN dict_mechanisms me ON me.name = f.sasl_mechanism
     JOIN dict_servers sv ON sv.name = f.server
     WHERE ${where}`,
    params,
  );
  return countRows(store, CODED_FAILURES);
}

async function countRows(store: RollupStore, table: string): Promise<number> {
  const [row] = await store.all(`SELECT count(*) AS n FROM ${table}`);
  return Number(row.n);
}

// Appending sums ------------------------------------------------------------------------------

/**
 * Sum the coded rows into every level of a family and append the sums. Quarter hours and the
 * first day level sum the coded rows; a larger block sums the level below, which has fewer
 * rows. `value` picks the measure expression: the event sums, or the settled changes.
 */
async function appendFamily(
  store: RollupStore,
  family: RollupFamily,
  coded: string,
  value: (measure: Measure) => string,
): Promise<void> {
  const keys = family.keys.join(', ');
  const columns = ['bucket', ...family.keys, ...family.measures.map((m) => m.column)].join(', ');
  let finer: string | null = null;

  for (const level of family.levels) {
    const delta = `rollup_delta_${level.name}`;
    let select: string;
    if (level.days === null || finer === null) {
      const bucket = level.days === null ? 'quarter' : floorTo('day', level.days);
      const measures = family.measures.map((m) => `${value(m)} AS ${m.column}`).join(', ');
      select = `SELECT ${bucket} AS bucket, ${keys}, ${measures} FROM ${coded} GROUP BY ALL`;
    } else {
      const measures = family.measures.map((m) => `${mergeSql(m)} AS ${m.column}`);
      select = `SELECT ${floorTo('bucket', level.days)} AS bucket, ${keys}, ${measures.join(', ')}
                FROM ${finer} GROUP BY ALL`;
    }

    await store.all(`CREATE OR REPLACE TEMP TABLE ${delta} AS ${select}`);
    const table = rollupTable(family, level);
    await store.all(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${delta}`);
    await countGeneration(store, table, delta);

    if (finer !== null) await store.all(`DROP TABLE ${finer}`);
    if (level.days === null) await store.all(`DROP TABLE ${delta}`);
    else finer = delta;
  }
  if (finer !== null) await store.all(`DROP TABLE ${finer}`);
}

async function countGeneration(store: RollupStore, table: string, delta: string): Promise<void> {
  await store.all(
    `INSERT INTO rollup_buckets (rollup, bucket, merged_rows, generations)
     SELECT '${table}', bucket, 0, 1 FROM (SELECT DISTINCT bucket FROM ${delta})
     ON CONFLICT (rollup, bucket) DO UPDATE SET generations = generations + 1`,
  );
}

// Merging -------------------------------------------------------------------------------------

/**
 * Merge the buckets that have grown, so that readers see about one row per key. Each group of
 * buckets is merged in a transaction of its own, which bounds its memory; a merge changes no
 * sum, so a merge that is interrupted loses nothing.
 */
async function mergeBuckets(
  store: RollupStore,
  families: RollupFamily[],
  slack: number,
): Promise<void> {
  for (const family of families) {
    for (const level of family.levels) {
      const table = rollupTable(family, level);
      for (const group of await grownBuckets(store, family, table, slack)) {
        await store.transaction(() => mergeTable(store, family, table, group));
      }
    }
  }
}

/**
 * Buckets with more than one append since their last merge whose rows grew enough, in groups
 * of about MERGE_GROUP_ROWS rows.
 */
async function grownBuckets(
  store: RollupStore,
  family: RollupFamily,
  table: string,
  slack: number,
): Promise<number[][]> {
  const appended = await store.all(
    `SELECT bucket, merged_rows FROM rollup_buckets WHERE rollup = $1 AND generations > 1`,
    [table],
  );
  if (appended.length === 0) return [];

  const merged = new Map(appended.map((r) => [Number(r.bucket), Number(r.merged_rows)]));
  const counts = await store.all(
    `SELECT bucket, count(*) AS n FROM ${table}
     WHERE bucket IN (${[...merged.keys()].join(', ')}) GROUP BY bucket ORDER BY bucket`,
  );
  const grown = counts.filter(
    (r) =>
      family.oneRowPerKey || Number(r.n) > merged.get(Number(r.bucket))! * MERGE_GROWTH + slack,
  );

  const groups: number[][] = [];
  let rows = Infinity;
  for (const r of grown) {
    if (rows + Number(r.n) > MERGE_GROUP_ROWS) {
      groups.push([]);
      rows = 0;
    }
    groups[groups.length - 1].push(Number(r.bucket));
    rows += Number(r.n);
  }
  return groups;
}

const MERGED = 'rollup_merged';

async function mergeTable(
  store: RollupStore,
  family: RollupFamily,
  table: string,
  buckets: number[],
): Promise<void> {
  const keys = family.keys.join(', ');
  const measures = family.measures.map((m) => `${mergeSql(m)} AS ${m.column}`).join(', ');
  const columns = ['bucket', ...family.keys, ...family.measures.map((m) => m.column)].join(', ');
  const inBuckets = `bucket IN (${buckets.join(', ')})`;

  // Keys whose changes cancel out (a settled TLS version moved away) leave no row.
  await store.all(
    `CREATE OR REPLACE TEMP TABLE ${MERGED} AS
     SELECT bucket, ${keys}, ${measures} FROM ${table} WHERE ${inBuckets}
     GROUP BY ALL HAVING sum(${family.count}) <> 0`,
  );
  await store.all(`DELETE FROM ${table} WHERE ${inBuckets}`);
  await store.all(`INSERT INTO ${table} (${columns}) SELECT ${columns} FROM ${MERGED}`);

  await store.all(
    `UPDATE rollup_buckets SET generations = 1, merged_rows = coalesce(
       (SELECT count(*) FROM ${MERGED} m WHERE m.bucket = rollup_buckets.bucket), 0)
     WHERE rollup = $1 AND ${inBuckets}`,
    [table],
  );
  await store.all(`DROP TABLE ${MERGED}`);
}

// Refresh -------------------------------------------------------------------------------------

interface Progress {
  messages: { done: number; total: number };
  failures: { done: number; total: number };
  /** Buckets that must hold one row per key but have not been merged since an append. */
  unmerged: number;
}

/** Tables whose readers rely on one row per key and bucket. */
const ONE_ROW_TABLES = ROLLUP_FAMILIES.filter((f) => f.oneRowPerKey).flatMap((f) =>
  f.levels.map((level) => `'${rollupTable(f, level)}'`),
);

async function readProgress(store: RollupStore): Promise<Progress> {
  const [row] = await store.all(
    `SELECT (SELECT rows_done FROM rollup_progress WHERE source = 'submitted_messages') AS m_done,
            (SELECT count(*) FROM submitted_messages) AS m_total,
            (SELECT rows_done FROM rollup_progress WHERE source = 'auth_failures') AS f_done,
            (SELECT count(*) FROM auth_failures) AS f_total,
            (SELECT count(*) FROM rollup_buckets
             WHERE generations > 1 AND rollup IN (${ONE_ROW_TABLES.join(', ')})) AS unmerged`,
  );
  return {
    messages: { done: Number(row.m_done), total: Number(row.m_total) },
    failures: { done: Number(row.f_done), total: Number(row.f_total) },
    unmerged: Number(row.unmerged),
  };
}

const isCurrent = (progress: Progress) =>
  progress.messages.done === progress.messages.total &&
  progress.failures.done === progress.failures.total &&
  progress.unmerged === 0;

/**
 * Bring the rollups up to date with the event tables. Each chunk of event rows is added in a
 * transaction of its own together with the new progress mark, so an interrupted refresh
 * keeps the chunks before and repeats none. Cheap when the rollups are current: one query.
 */
export async function ensureRollups(
  store: RollupStore,
  options: RefreshOptions = {},
): Promise<RefreshCounts> {
  const progress = await readProgress(store);
  const added = {
    messages: progress.messages.total - progress.messages.done,
    failures: progress.failures.total - progress.failures.done,
  };
  if (isCurrent(progress)) return added;

  await withMemoryLimit(store, REFRESH_MEMORY_MIB, () => refresh(store, progress, options));
  return added;
}

/** Event rows a refresh added to the rollups. */
export interface RefreshCounts {
  messages: number;
  failures: number;
}

/**
 * DuckDB's memory limit in MiB while a refresh runs. Merging a bucket of a 64-day block sums
 * up to about 4 million rows into 0.9 million keys (10 million messages, 50,000 accounts),
 * which fails with the 128 MB that ingest uses and worked with 1 GiB. A machine with less
 * than 4 GiB of RAM gets a quarter of its RAM.
 */
export const REFRESH_MEMORY_MIB = Math.min(1024, Math.floor(os.totalmem() / 4 / 2 ** 20));

/** Run `work` with DuckDB's memory limit raised to at least `mib`, then restore it. */
async function withMemoryLimit<T>(
  store: RollupStore,
  mib: number,
  work: () => Promise<T>,
): Promise<T> {
  const previous = await raiseMemoryLimit(store, mib);
  if (previous === null) return work();
  try {
    return await work();
  } finally {
    await store.all(`SET memory_limit = '${previous}'`);
  }
}

/**
 * Raise DuckDB's memory limit to at least `mib` and return the limit before, or null when it
 * was that high already.
 */
export async function raiseMemoryLimit(store: RollupStore, mib: number): Promise<string | null> {
  if ((raisedTo.get(store) ?? 0) >= mib) return null;
  const [row] = await store.all("SELECT current_setting('memory_limit') AS memory_limit");
  const previous = String(row.memory_limit);
  if (mebibytes(previous) >= mib) return null;

  await store.all(`SET memory_limit = '${mib}MiB'`);
  return previous;
}

/**
 * The limit each store was raised to for good, so that a report query does not ask DuckDB
 * again. `withMemoryLimit` restores its raise, so it leaves no entry.
 */
const raisedTo = new WeakMap<RollupStore, number>();

/** Raise DuckDB's memory limit to at least `mib` for the rest of the store's life. */
export async function keepMemoryLimit(store: RollupStore, mib: number): Promise<void> {
  await raiseMemoryLimit(store, mib);
  raisedTo.set(store, Math.max(mib, raisedTo.get(store) ?? 0));
}

const UNITS: Record<string, number> = {
  bytes: 2 ** -20,
  KiB: 2 ** -10,
  MiB: 1,
  GiB: 2 ** 10,
  TiB: 2 ** 20,
};

/** A memory size as DuckDB shows it (`122.0 MiB`), in MiB; Infinity when it cannot be read. */
function mebibytes(text: string): number {
  const match = /^([\d.]+)\s*(bytes|KiB|MiB|GiB|TiB)$/.exec(text.trim());
  return match ? Number(match[1]) * UNITS[match[2]] : Infinity;
}

async function refresh(
  store: RollupStore,
  progress: Progress,
  options: RefreshOptions,
): Promise<void> {
  const { messages, failures } = progress;
  const chunk = options.chunkRows ?? CHUNK_ROWS;
  for (let from = messages.done; from < messages.total; from += chunk) {
    const range = [from, Math.min(from + chunk, messages.total)];
    await store.transaction(() => addMessageChunk(store, range));
  }
  for (let from = failures.done; from < failures.total; from += chunk) {
    const range = [from, Math.min(from + chunk, failures.total)];
    await store.transaction(() => addFailureChunk(store, range));
  }

  // Merging once after all chunks, not after each, merges a bucket of a long refresh once.
  await mergeBuckets(store, ROLLUP_FAMILIES, options.mergeSlack ?? MERGE_SLACK);
}

const MESSAGE_FAMILIES = ROLLUP_FAMILIES.filter((f) => f.source === 'messages');

async function addMessageChunk(store: RollupStore, range: number[]): Promise<void> {
  for (const dictionary of MESSAGE_DICTIONARIES) {
    await addNames(store, 'submitted_messages', dictionary, range);
  }
  await addSenders(store, range);

  const coded = await codeMessages(store, rowRange('m.'), range);
  checkCoded('submitted_messages', coded, range);
  for (const family of MESSAGE_FAMILIES) {
    await appendFamily(store, family, CODED_MESSAGES, (m) => m.fromEvents);
  }

  await saveProgress(store, 'submitted_messages', range[1]);
  await store.all(`DROP TABLE ${CODED_MESSAGES}`);
}

async function addFailureChunk(store: RollupStore, range: number[]): Promise<void> {
  for (const dictionary of FAILURE_DICTIONARIES) {
    await addNames(store, 'auth_failures', dictionary, range);
  }

  const coded = await codeFailures(store, rowRange('f.'), range);
  checkCoded('auth_failures', coded, range);
  await appendFamily(store, FAILURE_ROLLUP, CODED_FAILURES, (m) => m.fromEvents);

  await saveProgress(store, 'auth_failures', range[1]);
  await store.all(`DROP TABLE ${CODED_FAILURES}`);
}

async function saveProgress(store: RollupStore, source: string, rows: number): Promise<void> {
  await store.all('UPDATE rollup_progress SET rows_done = $2 WHERE source = $1', [source, rows]);
}

/** A row that found no id would be missing from every report, so it stops the refresh. */
function checkCoded(table: string, coded: number, range: number[]): void {
  const expected = range[1] - range[0];
  if (coded !== expected) {
    throw new Error(
      `rollup refresh coded ${coded} of the ${expected} ${table} rows from rowid ${range[0]}; ` +
        'a dictionary lacks a name',
    );
  }
}

// Settling TLS versions -----------------------------------------------------------------------

/** The rows `settleNoTlsLine` changes: `unknown` without a TLS line, in unfinished runs. */
function settledRows(alias: string): string {
  return `${alias}.tls_evidence = 'no-line' AND ${alias}.tls_protocol = 'unknown'
    AND list_contains($1::VARCHAR[], ${alias}.server)
    AND ${alias}.ingest_run IN (SELECT id FROM ingest_runs WHERE finished_at IS NULL)`;
}

/**
 * Settle the TLS version of events without a TLS line from `unknown` to `none` for the given
 * servers, in the event tables and in the rollups of the rows they hold, in one transaction.
 * `DuckDBStore.settleNoTlsLine` calls this first, so its own updates then find nothing left;
 * the condition in `settledRows` must stay the same as there.
 */
export async function settleRollups(store: RollupStore, servers: string[]): Promise<void> {
  if (servers.length === 0) return;

  const params = [listValue(servers)];
  await store.transaction(async () => {
    const { messages, failures } = await readProgress(store);
    const heldMessages = `${settledRows('m')} AND m.rowid < ${messages.done}`;
    if ((await codeMessages(store, heldMessages, params)) > 0) {
      for (const family of MESSAGE_FAMILIES) {
        await appendFamily(store, family, CODED_MESSAGES, (m) => m.settled);
      }
    }
    const heldFailures = `${settledRows('f')} AND f.rowid < ${failures.done}`;
    if ((await codeFailures(store, heldFailures, params)) > 0) await settleFailures(store);

    for (const [table, alias] of [
      ['submitted_messages', 'm'],
      ['auth_failures', 'f'],
    ]) {
      await store.all(
        `UPDATE ${table} AS ${alias} SET tls_protocol = 'none' WHERE ${settledRows(alias)}`,
        params,
      );
    }
  });
  // Only what readers need at once; the next refresh merges the rest.
  await mergeBuckets(
    store,
    ROLLUP_FAMILIES.filter((f) => f.oneRowPerKey),
    MERGE_SLACK,
  );
}

/** A failure's TLS version is part of its key: the old key loses it, the new one gains it. */
async function settleFailures(store: RollupStore): Promise<void> {
  const none = TLS_PROTOCOLS.indexOf('none') + 1;
  const moved = `${CODED_FAILURES}_moved`;
  await store.all(
    `CREATE OR REPLACE TEMP TABLE ${moved} AS
     SELECT quarter, day, username_id, client_ip_id, mechanism_id, tls_code, server_id, -1 AS n
     FROM ${CODED_FAILURES}
     UNION ALL
     SELECT quarter, day, username_id, client_ip_id, mechanism_id, ${none}, server_id, 1
     FROM ${CODED_FAILURES}`,
  );
  await appendFamily(store, FAILURE_ROLLUP, moved, () => 'sum(n)');
  await store.all(`DROP TABLE ${moved}`);
}
