import { invalidOption } from './errors.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** The machine's IANA time zone, the default for reading and reporting. */
export function machineTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Check an IANA time zone name, with the fix in the error. */
export function checkTimeZone(timeZone: string, option = '--timezone'): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return timeZone;
  } catch {
    throw invalidOption(
      option,
      timeZone,
      'not an IANA time zone; use a name such as UTC or Europe/Berlin',
    );
  }
}

/**
 * Converts wall-clock times in one zone to UTC. Offsets are cached per hour of wall time,
 * because a log has millions of lines and only a few thousand distinct hours.
 */
export class ZoneConverter {
  private readonly format: Intl.DateTimeFormat;
  private readonly offsets = new Map<number, number>();

  constructor(readonly timeZone: string) {
    this.format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** UTC milliseconds of a wall-clock time (month 0-11). */
  toUtc(
    year: number,
    month: number,
    day: number,
    hour: number,
    minute: number,
    second: number,
  ): number {
    return this.wallToUtc(Date.UTC(year, month, day, hour, minute, second));
  }

  /** UTC milliseconds of a wall-clock time given as if it were UTC. */
  wallToUtc(wall: number): number {
    const hourKey = Math.floor(wall / HOUR_MS);
    let offset = this.offsets.get(hourKey);
    if (offset === undefined) {
      offset = this.offsetForWall(hourKey * HOUR_MS);
      this.offsets.set(hourKey, offset);
    }
    return wall - offset;
  }

  /** Offset (local minus UTC) in force at a wall-clock time; in a DST gap, the later one. */
  private offsetForWall(wall: number): number {
    const first = this.offsetAt(wall);
    const second = this.offsetAt(wall - first);
    return second;
  }

  /** Offset (local minus UTC) at a UTC instant. */
  offsetAt(utc: number): number {
    const parts = this.format.formatToParts(new Date(utc));
    const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
    const local = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    return local - Math.floor(utc / 1000) * 1000;
  }

  /** The local calendar date (YYYY-MM-DD) of a UTC instant. */
  dateOf(utc: number): string {
    return new Date(utc + this.offsetAt(utc)).toISOString().slice(0, 10);
  }

  /** UTC milliseconds of local midnight starting a YYYY-MM-DD date. */
  startOfDate(date: string): number {
    const [year, month, day] = date.split('-').map(Number);
    return this.toUtc(year, month - 1, day, 0, 0, 0);
  }
}

/** The dates a report can cover; wide enough for any log, narrow enough for date arithmetic. */
export const FIRST_DATE = '1900-01-01';
export const LAST_DATE = '9998-12-31';

/** Check a YYYY-MM-DD date option. */
export function checkDate(value: string, option: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const time = match ? Date.UTC(+match[1], +match[2] - 1, +match[3]) : NaN;
  if (!match || Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== value) {
    throw invalidOption(option, value, 'expected a date as YYYY-MM-DD, for example 2026-12-01');
  }
  if (value < FIRST_DATE || value > LAST_DATE) {
    throw invalidOption(option, value, `expected a date from ${FIRST_DATE} to ${LAST_DATE}`);
  }
  return value;
}

/** The date `days` after a YYYY-MM-DD date (negative for before). */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}
