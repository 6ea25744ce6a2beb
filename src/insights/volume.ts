import type { Row } from '../store/duckdb/store.js';
import { formatCount, isoTime, makeSignal, plural, type Evidence, type Signal } from './signal.js';
import {
  DAY_MS,
  HOUR_MS,
  IN_HISTORY,
  IN_PERIOD,
  localDate,
  localHour,
  runQuery,
  type InsightContext,
} from './window.js';

/** MAD times this estimates the standard deviation of normally distributed counts. */
const MAD_TO_SIGMA = 1.4826;

/** One day or hour of the period that is far above the account's baseline. */
interface Spike {
  account: string;
  /** Local day or hour number. */
  bucket: number;
  messages: number;
  firstMs: number;
  lastMs: number;
  /** Days or active hours in the baseline. */
  baselineSize: number;
  median: number;
  mad: number;
}

/**
 * Volume spikes: days, and hours, with far more messages than the account's own baseline.
 * The daily baseline is the median and MAD of messages per day over the history, counting
 * silent days as zero from the account's first day in it. The hourly baseline uses the hours
 * in which the account sent anything, because most hours of most accounts are silent.
 */
export async function volumeSpikes(context: InsightContext): Promise<Signal[]> {
  const daily = await querySpikes(context, 'day');
  const hourly = await querySpikes(context, 'hour');

  const accounts = new Map<string, { days: Spike[]; hours: Spike[] }>();
  const entry = (account: string) => {
    let found = accounts.get(account);
    if (!found) accounts.set(account, (found = { days: [], hours: [] }));
    return found;
  };
  for (const spike of daily) entry(spike.account).days.push(spike);
  for (const spike of hourly) entry(spike.account).hours.push(spike);

  return [...accounts].map(([account, spikes]) =>
    spikeSignal(context, account, spikes.days, spikes.hours),
  );
}

async function querySpikes(context: InsightContext, unit: 'day' | 'hour'): Promise<Spike[]> {
  const { window, settings } = context;
  const thresholds = settings.volumeSpike;
  const minExcess = unit === 'day' ? thresholds.dailyMinExcess : thresholds.hourlyMinExcess;
  const minRatio = unit === 'day' ? thresholds.dailyMinRatio : thresholds.hourlyMinRatio;
  const size = unit === 'day' ? DAY_MS : HOUR_MS;
  const perDay = unit === 'day' ? 1 : 24;

  // Only accounts with a day (or hour) of at least the minimum excess can spike, so the
  // history is read for those alone.
  const rows = await runQuery(
    context,
    `WITH period_buckets AS (
       SELECT account, ${window.localMs} // ${size} AS bucket, count(*) AS messages,
              epoch_ms(min(ts)) AS first_ms, epoch_ms(max(ts)) AS last_ms
       FROM submitted_messages WHERE ${IN_PERIOD}
       GROUP BY ALL HAVING count(*) >= :minExcess
     ),
     history_buckets AS (
       SELECT account, ${window.localMs} // ${size} AS bucket, count(*) AS messages
       FROM submitted_messages
       WHERE ${IN_HISTORY} AND account IN (SELECT account FROM period_buckets)
       GROUP BY ALL
     ),
     starts AS (
       SELECT account, min(bucket) AS first_bucket FROM history_buckets
       GROUP BY account HAVING min(bucket) <= :historyDeadline
     ),
     ${unit === 'day' ? DAILY_BASELINE : HOURLY_BASELINE}
     SELECT p.account, p.bucket, p.messages, p.first_ms, p.last_ms,
            b.size AS baseline_size, b.median, b.mad
     FROM period_buckets p JOIN baseline b USING (account)
     WHERE p.messages - b.median >= greatest(:minExcess, :madFactor * ${MAD_TO_SIGMA} * b.mad)
       AND p.messages >= :minRatio * b.median
     ORDER BY p.account, p.bucket`,
    {
      minExcess,
      minRatio,
      madFactor: thresholds.madFactor,
      historyDeadline: window.historyDeadlineDay * perDay,
      periodStartBucket: window.periodStartDay * perDay,
    },
  );
  return rows.map(toSpike);
}

/** Every day from the account's first day in the history to the period, silent days as 0. */
const DAILY_BASELINE = `
  calendar AS (SELECT account, unnest(range(first_bucket, :periodStartBucket)) AS bucket FROM starts),
  baseline AS (
    SELECT c.account, count(*) AS size,
           median(coalesce(h.messages, 0)::DOUBLE) AS median,
           mad(coalesce(h.messages, 0)::DOUBLE) AS mad
    FROM calendar c LEFT JOIN history_buckets h USING (account, bucket)
    GROUP BY c.account
  )`;

/** The hours before the period in which the account sent anything. */
const HOURLY_BASELINE = `
  baseline AS (
    SELECT h.account, count(*) AS size, median(h.messages::DOUBLE) AS median,
           mad(h.messages::DOUBLE) AS mad
    FROM history_buckets h JOIN starts USING (account)
    WHERE h.bucket < :periodStartBucket
    GROUP BY h.account
  )`;

function toSpike(row: Row): Spike {
  return {
    account: String(row.account),
    bucket: Number(row.bucket),
    messages: Number(row.messages),
    firstMs: Number(row.first_ms),
    lastMs: Number(row.last_ms),
    baselineSize: Number(row.baseline_size),
    median: Number(row.median),
    mad: Number(row.mad),
  };
}

function spikeSignal(
  context: InsightContext,
  account: string,
  days: Spike[],
  hours: Spike[],
): Signal {
  const all = [...days, ...hours];
  const maxExcess = Math.max(...all.map((spike) => spike.messages - spike.median));
  const high = maxExcess >= context.settings.volumeSpike.highExcess;

  const evidence: Evidence = {
    maxExcess: round(maxExcess),
    historyDays: context.settings.historyDays,
    days: days.map((s) => ({ day: localDate(s.bucket), messages: s.messages })),
    hours: hours.map((s) => ({ hour: localHour(s.bucket), messages: s.messages })),
    dailyBaseline: days.length > 0 ? baseline(days[0]) : null,
    hourlyBaseline: hours.length > 0 ? baseline(hours[0]) : null,
  };
  return makeSignal({
    signal: 'volume-spike',
    severity: high ? 'high' : 'medium',
    account,
    clientIp: null,
    firstSeen: isoTime(Math.min(...all.map((s) => s.firstMs))),
    lastSeen: isoTime(Math.max(...all.map((s) => s.lastMs))),
    evidence,
    explanation: spikeExplanation(account, days, hours),
  });
}

function baseline(spike: Spike): Evidence {
  return { median: round(spike.median), mad: round(spike.mad), size: spike.baselineSize };
}

function spikeExplanation(account: string, days: Spike[], hours: Spike[]): string {
  const peak = (spikes: Spike[]) => spikes.reduce((a, b) => (b.messages > a.messages ? b : a));
  let summary: string;
  if (days.length > 0) {
    const day = peak(days);
    summary =
      `${account} sent ${plural(day.messages, 'message')} on ${localDate(day.bucket)}, ` +
      `against a median of ${formatCount(day.median)} a day in its history`;
    if (days.length > 1) summary += ` (${days.length} such days in the period)`;
  } else {
    const hour = peak(hours);
    summary =
      `${account} sent ${plural(hour.messages, 'message')} in the hour from ` +
      `${localHour(hour.bucket)}, against a median of ${formatCount(hour.median)} ` +
      'in the hours it usually sends';
  }
  return (
    `${summary}. A sudden burst usually means a stolen password or a script gone wrong: ` +
    'look at the messages and client addresses, and reset the password if they are not expected.'
  );
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
