import { ZoneConverter } from '../time.js';

/**
 * Positions of the parts of one syslog line, as indexes into the block's bytes. One object
 * is reused for every line, because a log has millions of lines.
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
const HYPHEN = 45;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/** Fill `h` from the line bytes[start, end); false when the line has no syslog header. */
export function parseHeader(bytes: Buffer, start: number, end: number, h: SyslogHeader): boolean {
  h.lineStart = start;
  h.lineEnd = end;

  const hostStart = timestampEnd(bytes, start, end, h);
  if (hostStart < 0) return false;

  const hostEnd = indexOfByte(bytes, SPACE, hostStart, end);
  if (hostEnd < 0 || hostEnd === hostStart) return false;

  const tagStart = hostEnd + 1;
  const tagEnd = indexOfColonSpace(bytes, tagStart, end);
  if (tagEnd < 0) return false;

  const bracket = lastIndexOfByte(bytes, OPEN_BRACKET, tagStart, tagEnd);
  h.hostStart = hostStart;
  h.hostEnd = hostEnd;
  h.tagStart = tagStart;
  h.tagNameEnd = bracket > tagStart ? bracket : tagEnd;
  h.tagEnd = tagEnd;
  h.payloadStart = tagEnd + 2;
  return true;
}

/** Find where the host starts after the timestamp and set the timestamp form in `h`; else -1. */
function timestampEnd(bytes: Buffer, start: number, end: number, h: SyslogHeader): number {
  h.rfc3339 = false;
  h.classicVariant = false;
  if (isClassicTimestamp(bytes, start, end)) return start + 16;

  if (isRfc3339Start(bytes, start, end)) {
    h.rfc3339 = true;
    const space = indexOfByte(bytes, SPACE, start, end);
    return space < 0 ? -1 : space + 1;
  }

  const head = bytes.toString('latin1', start, Math.min(end, start + 40));
  const variant = CLASSIC_VARIANT.exec(head);
  if (!variant) return -1;
  h.classicVariant = true;
  return start + variant[0].length;
}

/** The process id of the tag's `[pid]`, or -1 when the tag has none. */
export function pidOf(bytes: Buffer, h: SyslogHeader): number {
  const start = h.tagNameEnd + 1;
  const tagEnd = h.tagEnd;
  if (h.tagNameEnd === tagEnd || bytes[tagEnd - 1] !== CLOSE_BRACKET || tagEnd - 1 === start) {
    return -1;
  }
  let pid = 0;
  for (let i = start; i < tagEnd - 1; i++) {
    const digit = bytes[i] - 48;
    if (digit < 0 || digit > 9) return -1;
    pid = pid * 10 + digit;
  }
  return pid;
}

/** Index of the first `value` in bytes[start, end), or -1. */
export function indexOfByte(bytes: Buffer, value: number, start: number, end: number): number {
  for (let i = start; i < end; i++) {
    if (bytes[i] === value) return i;
  }
  return -1;
}

/** Index of the last `value` in bytes[start, end), or -1. */
export function lastIndexOfByte(bytes: Buffer, value: number, start: number, end: number): number {
  for (let i = end - 1; i >= start; i--) {
    if (bytes[i] === value) return i;
  }
  return -1;
}

/**
 * Index of the first `: ` in bytes[start, end), or -1. Buffer.indexOf finds each colon with
 * memchr, faster than a loop over the 20 to 30 bytes of a tag.
 */
function indexOfColonSpace(bytes: Buffer, start: number, end: number): number {
  let i = start;
  for (;;) {
    i = bytes.indexOf(COLON, i);
    if (i < 0 || i >= end - 1) return -1;
    if (bytes[i + 1] === SPACE) return i;
    i++;
  }
}

/** `Dec 4 16:22:19 ` and `Dec  4 16:22:19.123456 `: month, day, time, optional fraction. */
const CLASSIC_VARIANT = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})? /;

function isClassicTimestamp(bytes: Buffer, i: number, end: number): boolean {
  return (
    i + 15 < end &&
    bytes[i + 3] === SPACE &&
    bytes[i + 6] === SPACE &&
    bytes[i + 9] === COLON &&
    bytes[i + 12] === COLON &&
    bytes[i + 15] === SPACE
  );
}

function isRfc3339Start(bytes: Buffer, i: number, end: number): boolean {
  return i + 10 < end && bytes[i + 4] === HYPHEN && bytes[i + 7] === HYPHEN && bytes[i + 10] === 84;
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
  private readonly lastMinuteKey = Buffer.alloc(12);
  private minuteKnown = false;
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
  parse(bytes: Buffer, h: SyslogHeader): number {
    if (h.rfc3339) return parseRfc3339(bytes.toString('latin1', h.lineStart, h.hostStart - 1));
    if (h.classicVariant)
      return this.parseVariant(bytes.toString('latin1', h.lineStart, h.hostStart));
    return this.parseClassic(bytes, h.lineStart);
  }

  private parseVariant(timestamp: string): number {
    const match = CLASSIC_VARIANT.exec(timestamp);
    if (!match) return NaN;
    const [, monthName, day, hour, minute, second] = match;
    const minuteMs = this.minuteFrom(MONTHS[monthName], +day, +hour, +minute);
    return minuteMs + Number(second) * 1000;
  }

  private parseClassic(bytes: Buffer, i: number): number {
    const seconds = twoDigits(bytes, i + 13);
    // Consecutive lines share their minute: compare bytes rather than read the fields again.
    if (!this.sameMinute(bytes, i)) {
      this.lastMinuteMs = this.minuteOf(bytes, i);
      bytes.copy(this.lastMinuteKey, 0, i, i + 12);
      this.minuteKnown = true;
    }
    return this.lastMinuteMs + seconds * 1000;
  }

  /** Check whether bytes[i, i + 12), such as `Dec  4 16:22`, is the minute read last. */
  private sameMinute(bytes: Buffer, i: number): boolean {
    if (!this.minuteKnown) return false;
    const key = this.lastMinuteKey;
    for (let k = 11; k >= 0; k--) {
      if (bytes[i + k] !== key[k]) return false;
    }
    return true;
  }

  private minuteOf(bytes: Buffer, i: number): number {
    const month = MONTHS[bytes.toString('latin1', i, i + 3)];
    const dayTens = bytes[i + 4] === SPACE ? 0 : bytes[i + 4] - 48;
    const day = dayTens * 10 + (bytes[i + 5] - 48);
    return this.minuteFrom(month, day, twoDigits(bytes, i + 7), twoDigits(bytes, i + 10));
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

function twoDigits(bytes: Buffer, i: number): number {
  return (bytes[i] - 48) * 10 + (bytes[i + 1] - 48);
}

/** RFC 3339 with optional fraction and a `Z` or `+hh:mm` offset. */
function parseRfc3339(value: string): number {
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
