import { ZoneConverter } from '../time.js';

/**
 * Positions of the parts of one syslog line, as indexes into the block text. One object is
 * reused for every line, because a log has millions of lines.
 *
 * Two header forms occur: the classic BSD form `Dec  4 16:22:19 host tag[pid]: payload`
 * (no year, no zone) and the RFC 3339 form `2026-12-04T16:22:19.123456+01:00 host tag[pid]:
 * payload` that rsyslog and journald exports write.
 */
export interface SyslogHeader {
  lineStart: number;
  lineEnd: number;
  rfc3339: boolean;
  /**
   * A classic timestamp in a less common spelling: an unpadded day (`Dec 4`) or fractional
   * seconds (`journalctl -o short-precise`). Read through the slower general path.
   */
  classicVariant: boolean;
  hostStart: number;
  hostEnd: number;
  tagStart: number;
  /** Index of `[` before the pid, or of the colon when the tag has no pid. */
  tagNameEnd: number;
  /** Index of the colon that ends the tag. */
  tagEnd: number;
  payloadStart: number;
}

export function newHeader(): SyslogHeader {
  return {
    lineStart: 0,
    lineEnd: 0,
    rfc3339: false,
    classicVariant: false,
    hostStart: 0,
    hostEnd: 0,
    tagStart: 0,
    tagNameEnd: 0,
    tagEnd: 0,
    payloadStart: 0,
  };
}

const SPACE = 32;
const COLON = 58;

/** Fill `h` from the line text[start, end); false when the line has no syslog header. */
export function parseHeader(text: string, start: number, end: number, h: SyslogHeader): boolean {
  h.lineStart = start;
  h.lineEnd = end;

  let hostStart: number;
  h.rfc3339 = false;
  h.classicVariant = false;
  if (isClassicTimestamp(text, start)) {
    hostStart = start + 16;
  } else if (isRfc3339Start(text, start)) {
    h.rfc3339 = true;
    const space = text.indexOf(' ', start);
    if (space < 0 || space >= end) return false;
    hostStart = space + 1;
  } else {
    const variant = CLASSIC_VARIANT.exec(text.substring(start, Math.min(end, start + 40)));
    if (!variant) return false;
    h.classicVariant = true;
    hostStart = start + variant[0].length;
  }

  const hostEnd = text.indexOf(' ', hostStart);
  if (hostEnd < 0 || hostEnd >= end || hostEnd === hostStart) return false;

  const tagStart = hostEnd + 1;
  const tagEnd = text.indexOf(': ', tagStart);
  if (tagEnd < 0 || tagEnd >= end) return false;

  const bracket = text.lastIndexOf('[', tagEnd);
  h.hostStart = hostStart;
  h.hostEnd = hostEnd;
  h.tagStart = tagStart;
  h.tagNameEnd = bracket > tagStart ? bracket : tagEnd;
  h.tagEnd = tagEnd;
  h.payloadStart = tagEnd + 2;
  return true;
}

/** The process id of the tag's `[pid]`, or -1 when the tag has none. */
export function pidOf(text: string, h: SyslogHeader): number {
  const start = h.tagNameEnd + 1;
  const tagEnd = h.tagEnd;
  if (h.tagNameEnd === tagEnd || text.charCodeAt(tagEnd - 1) !== 93 || tagEnd - 1 === start) {
    return -1;
  }
  let pid = 0;
  for (let i = start; i < tagEnd - 1; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    pid = pid * 10 + digit;
  }
  return pid;
}

/** `Dec 4 16:22:19 ` and `Dec  4 16:22:19.123456 `: month, day, time, optional fraction. */
const CLASSIC_VARIANT = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})? /;

function isClassicTimestamp(text: string, i: number): boolean {
  return (
    text.charCodeAt(i + 3) === SPACE &&
    text.charCodeAt(i + 6) === SPACE &&
    text.charCodeAt(i + 9) === COLON &&
    text.charCodeAt(i + 12) === COLON &&
    text.charCodeAt(i + 15) === SPACE
  );
}

function isRfc3339Start(text: string, i: number): boolean {
  return (
    text.charCodeAt(i + 4) === 45 && text.charCodeAt(i + 7) === 45 && text.charCodeAt(i + 10) === 84
  );
}

const MONTHS: Record<string, number> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

export interface TimestampOptions {
  timeZone: string;
  /** The year of the file's first line, from `--year`. */
  year?: number;
  /** No line is later than this (the file's modification time), for inferring the year. */
  referenceMs: number;
}

/** Slack for clocks and zones when comparing a line with the file's modification time. */
const FUTURE_SLACK_MS = 86_400_000;

/**
 * Turns syslog timestamps into UTC milliseconds. Classic timestamps carry no year: with
 * `--year` the first line has that year and the year advances when the month wraps from
 * December to January; otherwise each line gets the year that keeps it no later than the
 * file's modification time, which also places December lines of a file rotated in January
 * in the year before.
 */
export class TimestampParser {
  private readonly zone: ZoneConverter;
  private readonly referenceYear: number;
  private lastMinuteKey = '';
  private lastMinuteMs = 0;
  private explicitYear: number | undefined;
  private lastMonth = -1;

  constructor(private readonly options: TimestampOptions) {
    this.zone = new ZoneConverter(options.timeZone);
    this.explicitYear = options.year;
    const reference = options.referenceMs + this.zone.offsetAt(options.referenceMs);
    this.referenceYear = new Date(reference).getUTCFullYear();
  }

  /** UTC milliseconds of the line's timestamp, or NaN when it cannot be read. */
  parse(text: string, h: SyslogHeader): number {
    if (h.rfc3339) return parseRfc3339(text, h.lineStart, h.hostStart - 1);
    if (h.classicVariant) return this.parseVariant(text.substring(h.lineStart, h.hostStart));
    return this.parseClassic(text, h.lineStart);
  }

  private parseVariant(timestamp: string): number {
    const match = CLASSIC_VARIANT.exec(timestamp);
    if (!match) return NaN;
    const [, monthName, day, hour, minute, second] = match;
    const minuteMs = this.minuteFrom(MONTHS[monthName], +day, +hour, +minute);
    return minuteMs + Number(second) * 1000;
  }

  private parseClassic(text: string, i: number): number {
    const seconds = twoDigits(text, i + 13);
    // Consecutive lines share their minute: compare in place rather than cut a substring.
    if (this.lastMinuteKey.length !== 12 || !text.startsWith(this.lastMinuteKey, i)) {
      this.lastMinuteMs = this.minuteOf(text, i);
      this.lastMinuteKey = text.substring(i, i + 12);
    }
    return this.lastMinuteMs + seconds * 1000;
  }

  private minuteOf(text: string, i: number): number {
    const month = MONTHS[text.substring(i, i + 3)];
    const dayTens = text.charCodeAt(i + 4) === SPACE ? 0 : text.charCodeAt(i + 4) - 48;
    const day = dayTens * 10 + (text.charCodeAt(i + 5) - 48);
    return this.minuteFrom(month, day, twoDigits(text, i + 7), twoDigits(text, i + 10));
  }

  private minuteFrom(month: number | undefined, day: number, hour: number, minute: number): number {
    if (month === undefined || !(day >= 1 && day <= 31) || !(hour <= 23) || !(minute <= 59)) {
      return NaN;
    }

    const year = this.yearFor(month, day, hour, minute);
    return this.zone.toUtc(year, month, day, hour, minute, 0);
  }

  private yearFor(month: number, day: number, hour: number, minute: number): number {
    if (this.explicitYear !== undefined) {
      // A jump back of more than half a year is a wrap from December to January.
      if (this.lastMonth >= 0 && month < this.lastMonth - 6) this.explicitYear += 1;
      this.lastMonth = month;
      return this.explicitYear;
    }

    const year = this.referenceYear;
    const time = this.zone.toUtc(year, month, day, hour, minute, 0);
    return time > this.options.referenceMs + FUTURE_SLACK_MS ? year - 1 : year;
  }
}

function twoDigits(text: string, i: number): number {
  return (text.charCodeAt(i) - 48) * 10 + (text.charCodeAt(i + 1) - 48);
}

/** RFC 3339 with optional fraction and a `Z` or `+hh:mm` offset. */
function parseRfc3339(text: string, start: number, end: number): number {
  const value = text.substring(start, end);
  const match =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(value);
  if (!match) return NaN;

  const [, y, mo, d, hh, mi, ss, fraction, zone] = match;
  const millis = fraction ? Math.floor(Number(fraction) * 1000) : 0;
  const wall = Date.UTC(+y, +mo - 1, +d, +hh, +mi, +ss, millis);
  if (zone === 'Z') return wall;

  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2));
  return wall - sign * offsetMinutes * 60_000;
}
