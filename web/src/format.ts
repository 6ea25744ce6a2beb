/** Date and number formatting. Report dates are calendar days (YYYY-MM-DD) with no time zone. */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const DAY_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

const numberFormat = new Intl.NumberFormat('en-US');

/** Reads a YYYY-MM-DD day as a UTC midnight instant, or null when it is not one. */
function parseDay(day: string): Date | null {
  const match = DAY_PATTERN.exec(day);
  if (!match) return null;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return Number.isNaN(date.getTime()) ? null : date;
}

function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export function isDay(text: string): boolean {
  return parseDay(text) !== null;
}

export function addDays(day: string, count: number): string {
  const date = parseDay(day);
  if (!date) return day;
  date.setUTCDate(date.getUTCDate() + count);
  return dayOf(date);
}

/** Days from `from` to `to`, both included; empty when `to` is before `from`. */
export function daysBetween(from: string, to: string): string[] {
  const start = parseDay(from);
  const end = parseDay(to);
  if (!start || !end) return [];

  const days: string[] = [];
  for (let time = start.getTime(); time <= end.getTime(); time += 86_400_000) {
    days.push(dayOf(new Date(time)));
  }
  return days;
}

/** Returns the browser's local calendar date. */
export function today(): string {
  const now = new Date();
  const month = String(now.getMonth() + 1).padStart(2, '0');
  const day = String(now.getDate()).padStart(2, '0');
  return `${now.getFullYear()}-${month}-${day}`;
}

/** "4 Dec 2026"; text that is not a day is returned unchanged. */
export function formatDay(day: string): string {
  const date = parseDay(day);
  if (!date) return day;
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
}

/** "4 Dec" for chart axes. */
export function formatShortDay(day: string): string {
  const date = parseDay(day);
  if (!date) return day;
  return `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]}`;
}

export function formatPeriod(from: string, to: string): string {
  return `${formatDay(from)} – ${formatDay(to)}`;
}

/**
 * "4 Dec 2026, 16:22:19 UTC". The API sends instants in UTC; they are shown in UTC because the
 * browser's zone may differ from the server's report zone.
 */
export function formatInstant(text: string): string {
  const date = new Date(text);
  if (!text || Number.isNaN(date.getTime())) return text;
  const time = date.toISOString().slice(11, 19);
  return `${formatDay(dayOf(date))}, ${time} UTC`;
}

export function formatCount(value: number): string {
  return numberFormat.format(value);
}

/** Formats a percentage with one decimal and no trailing ".0": 33.3%, 100%. */
export function formatPercent(value: number): string {
  return `${Math.round(value * 10) / 10}%`;
}

export function percentOf(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.round((part * 1000) / whole) / 10;
}
