import { listValue } from '@duckdb/node-api';

import type { Row } from '../store/duckdb/store.js';
import { isoTime, makeSignal, plural, type Signal } from './signal.js';
import { DAY_MS, HOUR_MS, IN_HISTORY, IN_PERIOD, runQuery, type InsightContext } from './window.js';

/**
 * Sending at unusual hours: messages in the period at hours of the day (in the report's
 * time zone) that are more than `marginHours` away from every hour the account used in its
 * history. Only accounts with `minHistoryMessages` in a history of at least
 * `minHistoryDays` take part, because a short history has not shown its hours yet.
 */
export async function unusualHours(context: InsightContext): Promise<Signal[]> {
  const { window, settings } = context;
  const thresholds = settings.unusualHour;
  const hourOfDay = `((${window.localMs} // ${HOUR_MS}) % 24)`;
  const rows = await runQuery(
    context,
    `WITH period_hours AS (
       SELECT account, ${hourOfDay} AS hour_of_day, count(*) AS messages,
              epoch_ms(min(ts)) AS first_ms, epoch_ms(max(ts)) AS last_ms
       FROM submitted_messages WHERE ${IN_PERIOD} GROUP BY ALL
     ),
     history AS (
       SELECT account, bit_or(1::BIGINT << ${hourOfDay}::INTEGER) AS used_hours,
              count(*) AS messages
       FROM submitted_messages
       WHERE ${IN_HISTORY} AND account IN (SELECT account FROM period_hours)
       GROUP BY account
       HAVING count(*) >= :minHistoryMessages
          AND min(${window.localMs} // ${DAY_MS}) <= :historyDeadline
     )
     SELECT p.*, h.used_hours, h.messages AS history_messages
     FROM period_hours p JOIN history h USING (account)
     WHERE h.used_hours & list_extract(:masks::BIGINT[], p.hour_of_day::INTEGER + 1) = 0
     ORDER BY p.account, p.hour_of_day`,
    {
      minHistoryMessages: thresholds.minHistoryMessages,
      historyDeadline: window.historyDeadlineDay,
      masks: listValue(neighbourhoodMasks(thresholds.marginHours)),
    },
  );

  const byAccount = new Map<string, Row[]>();
  for (const row of rows) {
    const account = String(row.account);
    byAccount.set(account, [...(byAccount.get(account) ?? []), row]);
  }
  const signals: Signal[] = [];
  for (const [account, hours] of byAccount) {
    const messages = hours.reduce((sum, row) => sum + Number(row.messages), 0);
    if (messages >= thresholds.minMessages) {
      signals.push(unusualHourSignal(context, account, hours, messages));
    }
  }
  return signals;
}

/** For each hour of the day, a bit mask of the hours within `margin` of it, wrapping at midnight. */
function neighbourhoodMasks(margin: number): bigint[] {
  return Array.from({ length: 24 }, (_, hour) => {
    let mask = 0n;
    for (let d = -margin; d <= margin; d++) mask |= 1n << BigInt((hour + d + 24) % 24);
    return mask;
  });
}

function unusualHourSignal(
  context: InsightContext,
  account: string,
  hours: Row[],
  messages: number,
): Signal {
  const thresholds = context.settings.unusualHour;
  const usedHours = hoursInMask(Number(hours[0].used_hours));
  const unusual = hours.map((row) => Number(row.hour_of_day));
  return makeSignal({
    signal: 'unusual-hour',
    severity: messages >= thresholds.mediumMessages ? 'medium' : 'low',
    account,
    clientIp: null,
    firstSeen: isoTime(Math.min(...hours.map((row) => Number(row.first_ms)))),
    lastSeen: isoTime(Math.max(...hours.map((row) => Number(row.last_ms)))),
    evidence: {
      messages,
      timeZone: context.window.timeZone,
      hours: hours.map((row) => ({
        hourOfDay: Number(row.hour_of_day),
        messages: Number(row.messages),
      })),
      usedHours,
      historyMessages: Number(hours[0].history_messages),
    },
    explanation:
      `${account} sent ${plural(messages, 'message')} at ${hourRanges(unusual)} ` +
      `(${context.window.timeZone}); in its history it sent only at ${hourRanges(usedHours)}. ` +
      'Mail at hours the user never works is a sign of someone else using the password; ' +
      'ask the user, and reset the password if it was not them.',
  });
}

function hoursInMask(mask: number): number[] {
  return Array.from({ length: 24 }, (_, hour) => hour).filter((hour) => (mask >> hour) & 1);
}

/** Hours of the day as ranges: [2, 3, 4, 9] becomes "02:00-04:59, 09:00-09:59". */
export function hourRanges(hours: number[]): string {
  const sorted = [...new Set(hours)].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const hour of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === hour - 1) last[1] = hour;
    else ranges.push([hour, hour]);
  }
  const pad = (hour: number) => String(hour).padStart(2, '0');
  return ranges.map(([from, to]) => `${pad(from)}:00-${pad(to)}:59`).join(', ');
}
