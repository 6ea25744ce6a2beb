/**
 * The start of every Exim main log line (Exim 4, `log_file_path` pointing at files):
 *
 *   2026-12-04 16:22:19 1xZV43-00077U-2d <= ...
 *   2026-12-04 16:22:19.123 +0100 [4242] 1xZV43-00077U-2d <= ...
 *
 * The time stamp is local time; `log_selector = +millisec` adds `.mmm`, `log_timezone = true`
 * adds the offset, and `log_selector = +pid` adds the process id in brackets. A message id
 * follows when the line belongs to a message: `1xZV43-00077U-2d` (16 characters) or, since
 * Exim 4.97, `1xZV43-000000077U-0002` (23 characters).
 */
import { ZoneConverter } from '../../time.js';

export interface EximHeader {
  /** Milliseconds since the epoch, UTC. */
  time: number;
  /** The `[pid]` after the time stamp; -1 without `log_selector = +pid`. */
  pid: number;
  messageId: string | null;
  /** Index of the text after the time stamp, pid and message id. */
  bodyStart: number;
}

const ZERO = 48;
const SPACE = 32;
const DASH = 45;

/** True when `text[start, start + length)` are ASCII digits. */
function digitsAt(text: string, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) {
    const code = text.charCodeAt(i);
    if (code < ZERO || code > ZERO + 9) return false;
  }
  return true;
}

function numberAt(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) value = value * 10 + text.charCodeAt(i) - ZERO;
  return value;
}

/** True for `YYYY-MM-DD HH:MM:SS` at the start of the line. */
export function hasEximTimestamp(text: string): boolean {
  return (
    text.length >= 20 &&
    digitsAt(text, 0, 4) &&
    text[4] === '-' &&
    digitsAt(text, 5, 2) &&
    text[7] === '-' &&
    digitsAt(text, 8, 2) &&
    text[10] === ' ' &&
    digitsAt(text, 11, 2) &&
    text[13] === ':' &&
    digitsAt(text, 14, 2) &&
    text[16] === ':' &&
    digitsAt(text, 17, 2)
  );
}

function isBase62(code: number): boolean {
  return (
    (code >= ZERO && code <= ZERO + 9) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122)
  );
}

function base62Run(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (!isBase62(text.charCodeAt(i))) return false;
  return true;
}

/** Length of the message id at `start` (16 or 23), or 0 when there is none. */
export function messageIdLength(text: string, start: number): number {
  if (text.charCodeAt(start + 6) !== DASH) return 0;

  // 4.96 and older: 6-6-2. 4.97 and newer: 6-11-4.
  for (const [middle, length] of [
    [13, 16],
    [18, 23],
  ]) {
    if (
      text.charCodeAt(start + middle) === DASH &&
      text.charCodeAt(start + length) === SPACE &&
      base62Run(text, start, start + 6) &&
      base62Run(text, start + 7, start + middle) &&
      base62Run(text, start + middle + 1, start + length)
    ) {
      return length;
    }
  }
  return 0;
}

/**
 * Read the time stamp, pid and message id of a line; null when the line does not start with
 * an Exim time stamp. `zone` converts time stamps that carry no offset.
 */
export function parseEximHeader(
  text: string,
  zone: ZoneConverter,
  last: LastStamp = { text: '', wall: 0, zoned: 0 },
): EximHeader | null {
  if (!startsWithStamp(text, last)) return null;

  let index = 19;
  let millisecond = 0;
  if (text[index] === '.' && digitsAt(text, index + 1, 3)) {
    millisecond = numberAt(text, index + 1, 3);
    index += 4;
  }

  let offsetMinutes: number | null = null;
  const sign = text[index + 1];
  if (
    text.charCodeAt(index) === SPACE &&
    (sign === '+' || sign === '-') &&
    digitsAt(text, index + 2, 4) &&
    text.charCodeAt(index + 6) === SPACE
  ) {
    const minutes = numberAt(text, index + 2, 2) * 60 + numberAt(text, index + 4, 2);
    offsetMinutes = sign === '-' ? -minutes : minutes;
    index += 6;
  }

  if (text.charCodeAt(index) !== SPACE) return null;
  index += 1;
  const time =
    (offsetMinutes === null ? zonedTime(last, zone) : last.wall - offsetMinutes * 60_000) +
    millisecond;

  let pid = -1;
  if (text[index] === '[') {
    const close = text.indexOf('] ', index);
    if (close > index + 1 && digitsAt(text, index + 1, close - index - 1)) {
      pid = numberAt(text, index + 1, close - index - 1);
      index = close + 2;
    }
  }

  let messageId: string | null = null;
  const idLength = messageIdLength(text, index);
  if (idLength > 0) {
    messageId = text.substring(index, index + idLength);
    index += idLength + 1;
  }
  return { time, pid, messageId, bodyStart: index };
}

/**
 * The time stamp of the line before, so that the lines of one second, which a busy log has
 * dozens of, are compared with it rather than read digit by digit.
 */
export interface LastStamp {
  /** `YYYY-MM-DD HH:MM:SS`, or '' before the first line. */
  text: string;
  /** The stamp read as UTC. */
  wall: number;
  /** The stamp converted from the zone, or NaN until a line without an offset needs it. */
  zoned: number;
}

/** Check that the line starts with a time stamp, and keep that stamp in `last`. */
function startsWithStamp(text: string, last: LastStamp): boolean {
  if (last.text !== '' && text.startsWith(last.text)) return true;
  if (!hasEximTimestamp(text)) return false;

  last.text = text.substring(0, 19);
  last.wall = Date.UTC(
    numberAt(text, 0, 4),
    numberAt(text, 5, 2) - 1,
    numberAt(text, 8, 2),
    numberAt(text, 11, 2),
    numberAt(text, 14, 2),
    numberAt(text, 17, 2),
  );
  last.zoned = NaN;
  return true;
}

function zonedTime(last: LastStamp, zone: ZoneConverter): number {
  if (Number.isNaN(last.zoned)) last.zoned = zone.wallToUtc(last.wall);
  return last.zoned;
}

/** Line bodies that only Exim writes, after the time stamp, pid and message id. */
const EXIM_BODY =
  /^(?:(?:<=|\(=|=>|->|>>|\*>|\*\*|==) |Completed(?: |$)|\S+ authenticator failed for |no MAIL in |SMTP connection from |exim \S+ daemon started|Start queue run|End queue run)/;

/**
 * Detects an Exim main log: most lines start with an Exim time stamp, and at least one has a
 * line body that only Exim writes. Other logs with ISO time stamps (an RFC 3339 syslog has a
 * `T` between date and time) do not match.
 */
export function looksLikeEximMainLog(firstLines: string[]): boolean {
  let stamped = 0;
  let considered = 0;
  let marked = false;

  for (const line of firstLines) {
    // Comment lines (test files, annotated excerpts) tell nothing about the format.
    if (line.trim() === '' || line.startsWith('#')) continue;
    considered++;
    if (!hasEximTimestamp(line)) continue;
    stamped++;
    if (!marked) marked = EXIM_BODY.test(bodyOf(line));
  }
  return marked && stamped * 2 > considered;
}

/** Detection reads no instants, so any zone will do. */
const DETECTION_ZONE = new ZoneConverter('UTC');

function bodyOf(line: string): string {
  const header = parseEximHeader(line, DETECTION_ZONE);
  return header === null ? '' : line.substring(header.bodyStart);
}
